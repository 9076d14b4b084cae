// The running pipeline: plugin instances, routes, one bounded queue and dispatcher per sink,
// retries, dead letters, accounting, and the orderly shutdown.
#pragma once

#include <sluice/core/config.hpp>
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

// Every term of a sink's accounting. At any moment:
//   received + recovered == delivered + queued + in_flight + spooled + dead_lettered + abandoned
//                           + dropped() + spool_lost
struct SinkMetrics {
  std::string name;
  uint64_t received = 0;             // events routed to this sink
  uint64_t recovered = 0;            // found in the spool at start (received in an earlier run)
  uint64_t delivered = 0;            // answered OK (the batch, or the event: plugin API 1.1)
  uint64_t queued = 0;               // waiting in the queue (in memory)
  uint64_t in_flight = 0;            // in batches handed to the sink or waiting for a retry
  uint64_t spooled = 0;              // waiting in the queue, on disk
  uint64_t dead_lettered = 0;        // written to the dead-letter file
  uint64_t abandoned = 0;            // held by a sink stuck at shutdown (deliver/stop did not
                                     // return in time): fate unknown, maybe delivered
  uint64_t dropped_newest = 0;       // queue full, policy drop_newest
  uint64_t dropped_oldest = 0;       // queue full, policy drop_oldest (the evicted ones)
  uint64_t dropped_rejected = 0;     // rejected or out of retries, no dead-letter file took them
  uint64_t dropped_shutdown = 0;     // still undelivered when the drain deadline passed
  uint64_t dropped_spool_error = 0;  // the spool could not store them (ENOSPC, EIO, ...)
  uint64_t spool_lost = 0;           // stored, but damaged on disk: could not be read back
  uint64_t batches = 0;              // batches handed to the sink (first attempts)
  uint64_t retries = 0;              // batches handed again after RETRY
  std::string state;                 // the plugin's last reported state ("" if none)

  uint64_t dropped() const {
    return dropped_newest + dropped_oldest + dropped_rejected + dropped_shutdown +
           dropped_spool_error;
  }
  bool balanced() const {
    return received + recovered == delivered + queued + in_flight + spooled + dead_lettered +
                                       abandoned + dropped() + spool_lost;
  }
};

struct SourceMetrics {
  std::string name;
  uint64_t emitted = 0;              // events the plugin handed to emit()
  uint64_t parse_errors = 0;         // of those, turned into sluice.parse-error (bad JSON data)
  uint64_t contract_violations = 0;  // of those, missing id/source/type (also parse errors)
  uint64_t unrouted = 0;             // matched no route
  uint64_t refused = 0;              // emitted after the source was stopped: not accepted
  std::string state;
};

struct Metrics {
  std::vector<SourceMetrics> sources;
  std::vector<SinkMetrics> sinks;
  std::map<std::string, int64_t> plugin;  // "<instance>.<name>" from count_metric

  // Every counter as "source.<n>.<term>", "sink.<n>.<term>", "plugin.<instance>.<name>".
  std::map<std::string, int64_t> flat() const;
};

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

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;  // shared with the threads of abandoned plugin calls
};

}  // namespace sluice::core
