// The running pipeline: builds, starts and stops it. The parts live in core/src/bus/: one sink
// channel per sink (queue, batching, dispatch, retries, dead letters, spool, counters), the
// router (normalisation, filters, routes), the host-API trampolines; the counters' one table is
// sluice/core/counters.hpp.
#pragma once

#include <sluice/core/config.hpp>
#include <sluice/core/counters.hpp>
#include <sluice/core/delivery_hooks.hpp>
#include <sluice/core/log.hpp>
#include <sluice/core/plugin_host.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace sluice::core {

// A sink's channel (core/src/bus/sink_channel.hpp): its plugin instance, queue or spool,
// batches in flight, dispatcher and counters. Opaque here; see Runtime::release / adopt.
class SinkChannel;

struct RuntimeOptions {
  // Makes the dead-letter writer for a sink with dead_letter.path set. Unset, or for a sink
  // without a path: failed batches are logged as errors and counted as dropped_rejected.
  std::function<std::unique_ptr<DeadLetter>(const SinkConfig&)> dead_letter_factory;
  // Makes the queue for a sink with `policy: spool`. Unset: such a pipeline is refused at start.
  std::function<std::unique_ptr<SinkQueue>(const SinkConfig&)> spool_queue_factory;
};

// A pipeline that cannot start: what() names the instance and the reason.
class StartError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Runtime {
 public:
  Runtime(PipelineConfig pipeline, PluginHost& plugins, Logger& log, RuntimeOptions options = {});
  ~Runtime();  // stops first if still running
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Loads and creates every instance, starts the sinks, then the sources. Throws StartError;
  // whatever was created by then is stopped and destroyed again.
  void start();

  // Stops the sources, drains the queues within drain_timeout, stops the sinks, counts what is
  // left as dropped_shutdown and logs the accounting table. Idempotent.
  //
  // Returns within drain_timeout + 1 s whatever a plugin does: a plugin whose stop(), deliver()
  // or destroy() does not return in time is abandoned (logged by instance name, what it held
  // counted as `abandoned`); its thread keeps running and is cleaned up if it ever returns.
  // The Logger must then outlive that thread; stuck() says whether there is one.
  void stop();

  // True after a stop() that abandoned a stuck plugin call (`sluice run` then exits at once).
  bool stuck() const;

  // Makes a stop() in progress give up draining now (a second SIGINT).
  void abort_drain();

  // SIGHUP: reopen on every sink (and dead-letter writer).
  void reopen();

  Metrics metrics() const;
  // The accounting of every sink and source as an aligned table (logged at shutdown).
  std::string accounting_table() const;

  // ---- handing a sink channel to the next pipeline (reload without loss) ------------------
  // Releases the running sink `sink` with everything it holds: plugin instance, queue or spool,
  // batches in flight (the plugin keeps working on them), dispatcher and counters. First stops
  // this runtime's sources (as stop() does; idempotent), so nothing more is routed to it from
  // here. From then on this runtime neither counts, drains, stops nor destroys it. nullptr when
  // no running sink has that name (or it was released already).
  std::shared_ptr<SinkChannel> release(const std::string& sink);
  // Before start(): the sink of the channel's name in this pipeline is the channel, not a new
  // instance; start() re-attaches it to this pipeline's routes and leaves it running. Throws
  // StartError (the channel stays the caller's) when no sink here has its name or that sink's
  // configuration is not the one the channel was built from (plugin, options, queue, batch,
  // retry, spool, dead letter). From here on this runtime stops it as its own, also when
  // start() fails or never comes.
  void adopt(const std::shared_ptr<SinkChannel>& channel);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;  // shared with the threads of abandoned plugin calls
};

}  // namespace sluice::core
