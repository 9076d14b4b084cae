// The run loop of a plugin's io thread.
#pragma once

#include <boost/asio/io_context.hpp>

#include <exception>
#include <string>

namespace sluice {

// Runs `io` until it runs out of work or is stopped. An exception out of a handler would end
// the whole daemon in std::terminate if it left the thread; instead it goes to
// `recover(what)`, which logs it and restarts what the handler was doing, and the loop goes on.
template <class Recover>
void run_io_context(boost::asio::io_context& io, Recover&& recover) {
  for (;;) {
    try {
      io.run();
      return;
    } catch (const std::exception& e) {
      recover(std::string(e.what()));
    } catch (...) {
      recover(std::string("unknown exception"));
    }
  }
}

}  // namespace sluice
