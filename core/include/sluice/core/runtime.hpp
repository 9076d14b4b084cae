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
// A source's plugin instance and counters (core/src/bus/router.hpp). Opaque here; see
// Runtime::release_source / adopt_source.
struct Source;
class Tap;

struct RuntimeOptions {
  // Makes the dead-letter writer for a sink with dead_letter.path set. Unset, or for a sink
  // without a path: failed batches are logged as errors and counted as dropped_rejected.
  std::function<std::unique_ptr<DeadLetter>(const SinkConfig&)> dead_letter_factory;
  // Makes the queue for a sink with `policy: spool`. Unset: such a pipeline is refused at start.
  std::function<std::unique_ptr<SinkQueue>(const SinkConfig&)> spool_queue_factory;
  // The live tap (sluice/core/tap.hpp) the router offers events to; none when null. Shared by
  // every runtime of a `sluice run`, so that tap clients stay attached across reloads.
  std::shared_ptr<Tap> tap;
};

// What Runtime::hand_over did, by instance name, in pipeline order.
struct HandOverResult {
  std::vector<std::string> kept_sources, started_sources, stopped_sources;
  std::vector<std::string> kept_sinks, started_sinks, stopped_sinks;
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

  // ---- reload without loss ------------------------------------------------------------------
  // Puts `next` (built from the new pipeline, not started) in this running runtime's place,
  // applying only the difference:
  //   - every source and sink whose configuration is the same in both (name, plugin, resolved
  //     options; for a sink also queue, batch, retry, spool and dead letter) goes over running:
  //     a source keeps its plugin instance, connection and counters; a sink its queue or
  //     spool, batches in flight and counters (release/adopt below);
  //   - the kept sources' emits wait (as on a full `block` queue) while this runtime stops
  //     the rest: its other sources stop, its other sinks are drained and stopped as by
  //     stop(), and their accounting is logged;
  //   - `next` starts: new and changed sinks, then the kept sources switch to its routes at
  //     once (the waiting emits go there), then new and changed sources start.
  // Every event is routed exactly once, by the old routes or the new. Throws StartError when
  // `next` fails to start: both runtimes are then stopped (what went over included) and the
  // caller starts the previous pipeline again.
  HandOverResult hand_over(Runtime& next);

  // ---- handing a sink channel to the next pipeline ----------------------------------------
  // Releases the running sink `sink` with everything it holds: plugin instance, queue or spool,
  // batches in flight (the plugin keeps working on them), dispatcher and counters. From then on
  // this runtime neither counts, drains, stops nor destroys it; its routes still push to it
  // until its sources stop or switch (hand_over). nullptr when no running sink has that name
  // (or it was released already).
  std::shared_ptr<SinkChannel> release(const std::string& sink);
  // Before start(): the sink of the channel's name in this pipeline is the channel, not a new
  // instance; start() re-attaches it to this pipeline's routes and leaves it running. Throws
  // StartError (the channel stays the caller's) when no sink here has its name or that sink's
  // configuration is not the one the channel was built from (plugin, options, queue, batch,
  // retry, spool, dead letter). From here on this runtime stops it as its own, also when
  // start() fails or never comes.
  void adopt(const std::shared_ptr<SinkChannel>& channel);

  // ---- handing a source to the next pipeline ------------------------------------------------
  // Releases the running source `source`: its plugin instance goes on emitting, through this
  // runtime's routes until a runtime that adopted it starts (which switches it to its own),
  // and this runtime neither counts, stops nor destroys it. nullptr when no running source has
  // that name (or it was released already).
  std::shared_ptr<Source> release_source(const std::string& source);
  // Before start(): the source of that name in this pipeline is this running instance; start()
  // switches its emits to this pipeline's routes at once. Throws StartError (the source stays
  // the caller's) when no source here has its name, plugin and options. From here on this
  // runtime stops it as its own, also when start() fails or never comes.
  void adopt_source(const std::shared_ptr<Source>& source);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;  // shared with the threads of abandoned plugin calls
};

}  // namespace sluice::core
