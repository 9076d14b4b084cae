// Names the calling thread, so `top -H`, `ps -L`, gdb and /proc/PID/task/*/comm tell a sink's
// dispatcher from an io thread or an emitter. Linux keeps at most 15 bytes; longer names are cut.
#pragma once

#include <pthread.h>

#include <string>
#include <string_view>

namespace sluice {

inline void name_this_thread(std::string_view name) {
  const std::string cut(name.substr(0, 15));
  pthread_setname_np(pthread_self(), cut.c_str());
}

}  // namespace sluice
