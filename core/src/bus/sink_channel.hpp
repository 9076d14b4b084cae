// A sink channel: everything between the router and one sink plugin instance. Its queue (memory
// or spool), the batching, the dispatcher thread, retries, the dead-letter hand-off, the
// accounting, and the plugin instance itself. A runtime creates it (or adopts one another
// runtime released, see Runtime::release), pushes routed events into it, and stops it.
//
// Lock discipline (one mutex, m_):
//   - Every member below marked (m) is read and written under m_ only; the queue (SinkQueue) is
//     called under m_ only (its contract: no locking of its own needed).
//   - m_ is never held across a call into the plugin (deliver, stop, destroy), into the
//     dead-letter writer, or into the logger: those can block or call back (complete_batch
//     from inside deliver takes m_). The one exception is the queue: a spool's write runs
//     under m_, once per push() call, not once per event; its fdatasync (fsync: batch) runs
//     after push() released m_ (SinkQueue::push_batch_wait), shared by concurrent pushes, and
//     its outcome is claimed under m_ again (push_batch_claim). deferred_pushes_ counts the
//     pushes between the two; drain() and settle() wait for none to be left.
//   - Three condition variables, all on m_: work_ (the dispatcher waits for events, the batch
//     delay or a retry), space_ (emitters blocked on a full queue), idle_ (drain() and
//     join_dispatcher() wait for an empty channel or the dispatcher's end).
//   - Lock order: the runtime's lifecycle mutex, then m_, then Instance::metrics_mutex; the
//     spool's own mutex is taken inside the queue, under m_. No other lock is taken under m_.
//   - Flags read without m_ (stopping_, abort_, deadline_ns_) are atomics.
#pragma once

#include "instance.hpp"

#include <sluice/backoff.hpp>
#include <sluice/core/config.hpp>
#include <sluice/core/counters.hpp>
#include <sluice/core/delivery_hooks.hpp>
#include <sluice/core/owned_event.hpp>

#include <condition_variable>
#include <random>
#include <span>
#include <vector>

namespace sluice::core {

// One batch handed to the sink: the events it owns, their views, the ABI struct.
struct Batch {
  enum class State { at_sink, waiting, failed };
  uint64_t id = 0;
  std::vector<EventPtr> events;
  std::vector<sluice_event> views;
  sluice_batch abi{};
  State state = State::at_sink;
  uint32_t attempt = 1;
  Backoff backoff;
  Clock::time_point first_try;
  Clock::time_point sent;  // this attempt handed to the sink (the batch latency histogram)
  Clock::time_point due;
  std::string reason;
  int32_t status = 0;

  // `seed` for the retry jitter, from the channel's generator (SinkChannel::next_seed_): a
  // std::random_device per batch (RDRAND or the entropy source) cost ~2% of the daemon's CPU
  // into null (bench/e2e README).
  Batch(const BackoffPolicy& policy, uint64_t seed) : backoff(policy, seed) {}
  // The views (and abi.events / abi.count) of `events`, after they were filled or shrunk.
  void point_views();
};

class SinkChannel final : public Instance {
 public:
  // `queue` and `dead_letter` are the sink's; the plugin instance is created by the runtime
  // into the Instance fields (handle, plugin) and started before start_dispatcher().
  SinkChannel(SinkConfig config, Logger& log, std::unique_ptr<SinkQueue> queue,
              std::unique_ptr<DeadLetter> dead_letter);
  // A channel nobody stopped (released and never adopted): halts the dispatcher, stops and
  // destroys the plugin instance, and counts what is left as at a stop with no time to drain.
  ~SinkChannel() override;

  const SinkConfig& config() const { return config_; }
  bool durable() const;

  // ---- the data path --------------------------------------------------------------------
  // Routed events (moved from). Applies the queue policy; with a spool, all of them are
  // appended in one write (and one fdatasync with `fsync: batch`). Blocks on a full queue with
  // policy block (until there is room; while stopping, until the drain deadline).
  void push(std::span<EventPtr> events);
  // host_api.complete_batch: a whole-batch or per-event (ABI 1.1) answer.
  void on_complete(uint64_t batch_id, const sluice_delivery_result* result) override;

  // ---- lifecycle --------------------------------------------------------------------------
  // After the plugin's start(): asks max_in_flight, starts the dispatcher thread.
  void start_dispatcher();
  bool dispatching() const { return dispatcher_.joinable(); }
  // Stopping begins: emitters blocked on a full queue wait only until `deadline` from now on.
  void begin_stop(Clock::time_point deadline);
  // A second SIGINT: drain() and blocked emitters give up now.
  void abort_drain();
  // Flushes partial batches and waits until the queue and the batches are empty, the deadline
  // passes, or abort_drain(). True when empty.
  bool drain(Clock::time_point deadline);
  // The dispatcher hands out nothing more (what it is delivering, it finishes) and ends.
  void halt();
  // Joins the dispatcher if it ends by `until`; else marks its deliver() stuck (false).
  bool join_dispatcher(Clock::time_point until);
  bool deliver_stuck() const { return deliver_stuck_; }
  // After halt() and the plugin's stop(): counts what is left (dead-letters failed batches,
  // drops or keeps in the spool the rest, or, for a stuck sink, abandons what it holds) and
  // logs it. Call once.
  void settle();
  // SIGHUP: the plugin's reopen, then the dead-letter writer's.
  void reopen();

  // ---- counters -----------------------------------------------------------------------------
  SinkMetrics counters() const;

 private:
  void dispatch();
  void deliver(Batch& b);
  void complete_per_event(Batch* b, const sluice_delivery_result& r);  // under m_
  void fail(std::unique_ptr<Batch> b);  // dead-letter; call without m_
  bool batch_ready(Clock::time_point now) const;
  Batch* find_batch(uint64_t id);
  void remove_batch(Batch* b);
  // push(): appends `run` (events that fit) in one push_batch; under m_. `defer`: with
  // push_batch_begin, returning what the caller waits for without m_ and claims under it.
  std::unique_ptr<SinkQueue::PendingPush> append_run(std::vector<EventPtr>& run, bool& wake,
                                                     uint64_t& newly_dropped,
                                                     uint64_t& spool_errors_to_log,
                                                     std::string& spool_error_text, bool defer);
  // The queue's losses since the last call into the counters; under m_.
  void count_losses(uint64_t& newly_dropped, uint64_t& spool_errors_to_log,
                    std::string& spool_error_text);
  Clock::time_point stop_deadline() const;

  const SinkConfig config_;
  std::unique_ptr<SinkQueue> queue_;         // (m)
  std::unique_ptr<DeadLetter> dead_letter_;  // dispatcher and settle() only, never under m_
  uint32_t max_in_flight_ = 1;

  mutable std::mutex m_;
  std::condition_variable work_;
  std::condition_variable space_;
  std::condition_variable idle_;
  std::vector<std::unique_ptr<Batch>> batches_;  // (m) handed out, waiting for a retry, or failed
  uint64_t next_batch_id_ = 1;                   // (m)
  Clock::time_point pending_since_{};            // (m)
  bool dispatcher_waiting_ = false;              // (m)
  uint32_t blocked_emitters_ = 0;                // (m)
  bool draining_ = false;                        // (m) flush partial batches at once
  bool halt_ = false;                            // (m) the dispatcher ends
  bool dispatcher_done_ = false;                 // (m)
  bool abandoned_flag_ = false;  // (m) settle() gave up on this sink: late completions ignored
  bool deliver_stuck_ = false;   // join_dispatcher() gave up waiting
  bool settled_ = false;
  bool closed_ = false;  // (m) settle() counted what was left: push() drops what comes later
  uint32_t deferred_pushes_ = 0;  // (m) pushes waiting for their spool sync without m_
  std::thread dispatcher_;
  // (m) The seeds of the batches' retry jitter (Batch::Batch); seeded once.
  std::mt19937_64 next_seed_{std::random_device{}()};
  // Batches a stuck sink still held when stop() gave up; kept (never freed before the plugin
  // lets go of them) because the plugin may still read them.
  std::vector<std::unique_ptr<Batch>> abandoned_batches_;  // (m)

  std::atomic<bool> stopping_{false};
  std::atomic<bool> abort_{false};
  std::atomic<int64_t> deadline_ns_{0};  // steady clock, valid while stopping_

  // The counted terms of the accounting (m); queued, spooled and spool_lost are the queue's,
  // read when counters() is asked.
  SinkMetrics c_;
  uint64_t spooled_at_stop_ = 0;  // (m) batches in flight at stop that stay in the spool
  std::vector<EventPtr> run_;     // (m) push(): the events of one push_batch

  uint64_t spool_errors_unlogged_ = 0;  // (m)
  uint64_t drops_unlogged_ = 0;         // (m)
  RateLimit spool_error_log_;
  RateLimit drop_log_;
  RateLimit retry_log_;
  RateLimit contract_log_;
};

}  // namespace sluice::core
