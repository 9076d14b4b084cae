// A sink channel: queue, batching, dispatch, retry, dead-letter and spool hand-off of one sink.
// The lock discipline is at the top of sink_channel.hpp.
#include "sink_channel.hpp"

#include <sluice/core/plugin_host.hpp>
#include <sluice/event.hpp>
#include <sluice/thread_name.hpp>

#include <algorithm>
#include <optional>
#include <sstream>
#include <utility>

namespace sluice::core {

using std::chrono::milliseconds;

namespace {

const char* policy_name(QueuePolicy p) {
  switch (p) {
    case QueuePolicy::block:
      return "block";
    case QueuePolicy::drop_newest:
      return "drop_newest";
    case QueuePolicy::drop_oldest:
      return "drop_oldest";
    case QueuePolicy::spool:
      return "spool";
  }
  return "?";
}

}  // namespace

void Batch::point_views() {
  views.clear();
  views.reserve(events.size());
  for (const auto& e : events)
    views.push_back(e.view());
  abi.events = views.data();
  abi.count = views.size();
}

SinkChannel::SinkChannel(SinkConfig config, Logger& logger, std::unique_ptr<SinkQueue> queue,
                         std::unique_ptr<DeadLetter> dead_letter)
    : config_(std::move(config)), queue_(std::move(queue)), dead_letter_(std::move(dead_letter)) {
  log = &logger;
  name = config_.name;
  c_.name = config_.name;
  c_.recovered = queue_->recovered();
}

SinkChannel::~SinkChannel() {
  if (!dispatcher_.joinable() && !handle) return;
  // Released by one runtime and adopted by none: stop it here, without a drain.
  try {
    begin_stop(Clock::now());
    halt();
    if (handle && started) d().stop(handle);
    if (dispatcher_.joinable()) dispatcher_.join();
    settle();
    if (handle) d().destroy(std::exchange(handle, nullptr));
  } catch (...) {
  }
}

bool SinkChannel::durable() const {
  std::lock_guard lock(m_);
  return queue_->durable();
}

Clock::time_point SinkChannel::stop_deadline() const {
  return Clock::time_point(Clock::duration(deadline_ns_.load()));
}

// ==== push ===================================================================================

std::unique_ptr<SinkQueue::PendingPush> SinkChannel::append_run(std::vector<EventPtr>& run,
                                                                bool& wake, uint64_t& newly_dropped,
                                                                uint64_t& spool_errors_to_log,
                                                                std::string& spool_error_text,
                                                                bool defer) {
  if (run.empty()) return nullptr;
  if (queue_->events() == 0) {
    pending_since_ = Clock::now();
    wake = true;
  }
  std::unique_ptr<SinkQueue::PendingPush> pending;
  if (defer)
    pending = queue_->push_batch_begin(run);
  else
    queue_->push_batch(run);
  run.clear();
  count_losses(newly_dropped, spool_errors_to_log, spool_error_text);
  return pending;
}

void SinkChannel::count_losses(uint64_t& newly_dropped, uint64_t& spool_errors_to_log,
                               std::string& spool_error_text) {
  SinkQueue::Losses lost = queue_->take_losses();
  c_.dropped_newest += lost.dropped_newest;
  c_.dropped_oldest += lost.dropped_oldest;
  newly_dropped += lost.dropped_newest + lost.dropped_oldest;
  if (lost.spool_error) {
    c_.dropped_spool_error += lost.spool_error;
    spool_errors_unlogged_ += lost.spool_error;
    if (spool_error_log_.allow()) {
      spool_error_text = lost.error;
      spool_errors_to_log += std::exchange(spool_errors_unlogged_, 0);
    }
  }
}

void SinkChannel::push(std::span<EventPtr> events) {
  uint64_t newly_dropped = 0;
  uint64_t spool_errors_to_log = 0;
  std::string spool_error_text;
  QueuePolicy policy = config_.queue.policy;
  // A full spool: its own `overflow` says what happens (drop_oldest is done by the spool).
  if (policy == QueuePolicy::spool)
    policy = config_.spool.overflow == SpoolOverflow::block ? QueuePolicy::block
                                                            : QueuePolicy::drop_newest;
  std::unique_lock lock(m_);
  c_.received += events.size();
  if (closed_) {
    // Stopped and counted already (settle): an emit that was still under way on the old
    // routes of a reload (Runtime::hand_over) can arrive here. Nothing drains this queue any
    // more: count them as dropped at shutdown instead of leaving them uncounted in it.
    c_.dropped_shutdown += events.size();
    lock.unlock();
    log->warn(name, "stopped already: dropped " + std::to_string(events.size()) +
                        " events routed to it late, counted as dropped_shutdown");
    return;
  }
  bool wake = false;
  // Events go to the queue in runs: as many as fit, in one push_batch (a spool: one write, one
  // fdatasync). When the next one does not fit, the run so far goes first, then the policy
  // decides for that one against the queue as it is then.
  std::vector<EventPtr>& run = run_;
  uint64_t run_bytes = 0;
  for (EventPtr& ev : events) {
    const uint64_t bytes = ev.bytes();
    if (!run.empty() && queue_->full_after(bytes, run.size(), run_bytes)) {
      append_run(run, wake, newly_dropped, spool_errors_to_log, spool_error_text, false);
      run_bytes = 0;
    }
    if (run.empty() && queue_->full(bytes)) {
      if (policy == QueuePolicy::block) {
        // Back-pressure: wait for room. While stopping, only until the drain deadline.
        ++blocked_emitters_;
        while (queue_->full(bytes) && !abort_.load()) {
          if (dispatcher_waiting_) work_.notify_one();
          if (stopping_.load())
            space_.wait_until(lock, stop_deadline());
          else
            space_.wait(lock);
          if (stopping_.load() && Clock::now() >= stop_deadline()) break;
        }
        --blocked_emitters_;
        if (queue_->full(bytes)) {
          ++c_.dropped_shutdown;  // the drain deadline passed with the queue still full
          continue;
        }
      } else if (policy == QueuePolicy::drop_oldest) {
        while (queue_->full(bytes) && queue_->pop()) {
          ++c_.dropped_oldest;
          ++newly_dropped;
        }
      } else {  // drop_newest (and a spool that is full)
        ++c_.dropped_newest;
        ++newly_dropped;
        continue;
      }
    }
    run.push_back(std::move(ev));
    run_bytes += bytes;
  }
  // The last run (usually the whole push): a spool writes it now and waits for its fdatasync
  // without m_, so that the dispatcher goes on meanwhile and other sources' pushes share the
  // sync (group commit). Its outcome is claimed under m_ again: until then the events count
  // as spooled, so counters() balances at every moment. drain() and settle() wait for it.
  if (auto pending =
          append_run(run, wake, newly_dropped, spool_errors_to_log, spool_error_text, true)) {
    ++deferred_pushes_;
    lock.unlock();
    queue_->push_batch_wait(*pending);
    lock.lock();
    queue_->push_batch_claim(std::move(pending));
    count_losses(newly_dropped, spool_errors_to_log, spool_error_text);
    if (--deferred_pushes_ == 0) idle_.notify_all();
    // Readable only now: a dispatcher that found the queue empty meanwhile waits with no
    // deadline and must be woken.
    wake = true;
  }
  if (dispatcher_waiting_ && (wake || queue_->events() >= config_.batch.max_events ||
                              queue_->bytes() >= config_.batch.max_bytes))
    work_.notify_one();
  if (spool_errors_to_log) {
    lock.unlock();
    log->error(name, "spool write failed (" + spool_error_text + "): dropped " +
                         std::to_string(spool_errors_to_log) +
                         " events since the last message, counted as dropped_spool_error");
    lock.lock();
  }
  if (!newly_dropped) return;
  drops_unlogged_ += newly_dropped;
  if (!drop_log_.allow()) return;
  uint64_t n = std::exchange(drops_unlogged_, 0);
  lock.unlock();
  if (config_.queue.policy == QueuePolicy::spool) {
    const SpoolOverflow o = config_.spool.overflow;
    log->warn(name, "spool full (" + std::to_string(config_.spool.max_bytes) +
                        " bytes), overflow " +
                        (o == SpoolOverflow::drop_oldest ? "drop_oldest"
                         : o == SpoolOverflow::block     ? "block"
                                                         : "drop_newest") +
                        ": dropped " + std::to_string(n) + " events since the last message");
    return;
  }
  log->warn(name, "queue full (" + std::to_string(config_.queue.max_events) + " events / " +
                      std::to_string(config_.queue.max_bytes) + " bytes), policy " +
                      policy_name(policy) + ": dropped " + std::to_string(n) +
                      " events since the last message");
}

// ==== delivery ===============================================================================

Batch* SinkChannel::find_batch(uint64_t id) {
  for (auto& b : batches_)
    if (b->id == id) return b.get();
  return nullptr;
}

void SinkChannel::remove_batch(Batch* b) {
  c_.in_flight -= b->events.size();
  batches_.erase(
      std::find_if(batches_.begin(), batches_.end(), [&](const auto& p) { return p.get() == b; }));
  queue_->release_done();
  // A spool frees room once a batch's events are released: a blocked emitter may go on.
  if (blocked_emitters_) space_.notify_all();
}

bool SinkChannel::batch_ready(Clock::time_point now) const {
  return queue_->events() >= config_.batch.max_events ||
         queue_->bytes() >= config_.batch.max_bytes || draining_ || blocked_emitters_ ||
         now >= pending_since_ + config_.batch.max_delay;
}

void SinkChannel::deliver(Batch& b) {
  b.abi.attempt = b.attempt;
  b.sent = Clock::now();
  if (log->enabled(LogLevel::trace, name))
    log->trace(name, "batch " + std::to_string(b.id) + ": " + std::to_string(b.events.size()) +
                         " events to the sink (attempt " + std::to_string(b.attempt) + ")");
  d().deliver(handle, &b.abi);  // may complete the batch (and free it) before returning
}

void SinkChannel::start_dispatcher() {
  max_in_flight_ = d().max_in_flight ? std::max(1u, d().max_in_flight(handle)) : 1;
  dispatcher_ = std::thread([this] {
    name_this_thread("sink " + name);
    dispatch();
  });
}

void SinkChannel::dispatch() {
  std::unique_lock lock(m_);
  for (;;) {
    const auto now = Clock::now();
    // 1. Failed batches go to the dead-letter writer (outside the lock: it does I/O).
    auto failed = std::find_if(batches_.begin(), batches_.end(),
                               [](const auto& b) { return b->state == Batch::State::failed; });
    if (failed != batches_.end()) {
      // Its events stay counted in_flight until fail() has counted them elsewhere.
      std::unique_ptr<Batch> b = std::move(*failed);
      batches_.erase(failed);
      lock.unlock();
      fail(std::move(b));
      lock.lock();
      continue;
    }
    if (halt_) break;
    // 2. Retries that are due.
    Batch* retry = nullptr;
    Clock::time_point next_due = Clock::time_point::max();
    for (auto& b : batches_) {
      if (b->state != Batch::State::waiting) continue;
      if (b->due <= now) {
        retry = b.get();
        break;
      }
      next_due = std::min(next_due, b->due);
    }
    if (retry) {
      retry->state = Batch::State::at_sink;
      ++retry->attempt;
      ++c_.retries;
      lock.unlock();
      deliver(*retry);
      lock.lock();
      continue;
    }
    // 3. A new batch.
    const bool slot = batches_.size() < max_in_flight_;
    if (slot && queue_->events() && batch_ready(now)) {
      auto b = std::make_unique<Batch>(config_.retry.backoff, next_seed_());
      b->id = next_batch_id_++;
      uint64_t bytes = 0;
      const auto max_events = std::max<uint64_t>(1, config_.batch.max_events);
      while (b->events.size() < max_events && queue_->events()) {
        EventPtr e = queue_->pop();
        bytes += e.bytes();
        b->events.push_back(std::move(e));
        if (bytes >= config_.batch.max_bytes) break;
      }
      b->abi.struct_size = sizeof(sluice_batch);
      b->abi.id = b->id;
      b->point_views();
      b->first_try = now;
      c_.in_flight += b->events.size();
      ++c_.batches;
      if (queue_->events()) pending_since_ = now;
      if (blocked_emitters_) space_.notify_all();
      Batch* raw = b.get();
      batches_.push_back(std::move(b));
      lock.unlock();
      deliver(*raw);
      lock.lock();
      continue;
    }
    // 4. Nothing to do now: wait for work, the batch delay, or the next retry.
    if (queue_->events() == 0 && batches_.empty()) idle_.notify_all();
    Clock::time_point until = next_due;
    if (slot && queue_->events()) until = std::min(until, pending_since_ + config_.batch.max_delay);
    dispatcher_waiting_ = true;
    if (until == Clock::time_point::max())
      work_.wait(lock);
    else
      work_.wait_until(lock, until);
    dispatcher_waiting_ = false;
  }
  dispatcher_done_ = true;
  idle_.notify_all();
}

namespace {
// "batch 7 (500 events, attempt 2, 12 ms): answered retry, status 503, reason 'busy'"
std::string batch_summary(const Batch& b, sluice_delivery_code code, int32_t status,
                          const std::string& reason) {
  std::string s = "batch " + std::to_string(b.id) + " (" + std::to_string(b.events.size()) +
                  " events, attempt " + std::to_string(b.attempt);
  if (b.sent != Clock::time_point{})
    s += ", " +
         std::to_string(std::chrono::duration_cast<milliseconds>(Clock::now() - b.sent).count()) +
         " ms";
  s += "): answered ";
  s += code == SLUICE_DELIVERY_OK       ? "ok"
       : code == SLUICE_DELIVERY_RETRY  ? "retry"
       : code == SLUICE_DELIVERY_REJECT ? "reject"
                                        : "?";
  if (status) s += ", status " + std::to_string(status);
  if (!reason.empty()) s += ", reason '" + reason + "'";
  return s;
}
}  // namespace

void SinkChannel::on_complete(uint64_t id, const sluice_delivery_result* r) {
  std::unique_lock lock(m_);
  Batch* b = find_batch(id);
  if (!b && abandoned_flag_) return;  // counted as abandoned already; too late to count again
  if (!b || b->state != Batch::State::at_sink) {
    if (contract_log_.allow())
      log->error(name, "completed batch " + std::to_string(id) +
                           ", which it does not hold (completed twice?); ignored");
    return;
  }
  c_.batch_latency.observe(std::chrono::duration<double>(Clock::now() - b->sent).count());
  // struct_size first (plugin.h); an unreadable answer dead-letters the batch, saying why. So
  // do per-event answers (1.1) that are not one per event or not of the frozen size.
  std::string unreadable;
  std::optional<sluice_delivery_result> answer = read_delivery_result(r, &unreadable);
  if (answer) {
    unreadable = check_event_results(*answer, b->events.size());
    if (!unreadable.empty()) answer.reset();
  }
  r = answer ? &*answer : nullptr;
  if (r && r->event_results) {
    complete_per_event(b, *r);
    work_.notify_one();
    return;
  }
  sluice_delivery_code code = r ? r->code : SLUICE_DELIVERY_REJECT;
  // A peer's answer may echo what it was sent (an Authorization header): the reason goes to
  // the log and the dead-letter file only with the secrets hidden.
  std::string reason = r && r->reason.data ? log->redact(to_view(r->reason)) : std::string();
  if (!r) {
    if (contract_log_.allow())
      log->error(name, "answered batch " + std::to_string(id) + " with " + unreadable +
                           " (plugin contract violation); dead-lettered");
    reason = "invalid delivery result: " + unreadable;
  }
  const bool debug = log->enabled(LogLevel::debug, name);
  std::string said;  // the batch's answer, for the debug line
  if (debug) said = batch_summary(*b, code, r ? r->status : 0, reason);
  if (code == SLUICE_DELIVERY_OK) {
    if (debug) log->debug(name, said + "; delivered");
    c_.delivered += b->events.size();
    remove_batch(b);
  } else if (code == SLUICE_DELIVERY_RETRY) {
    const auto now = Clock::now();
    const auto& retry = config_.retry;
    const bool out_of_attempts = retry.max_attempts && b->attempt >= retry.max_attempts;
    const bool out_of_time = retry.max_elapsed.count() && now - b->first_try >= retry.max_elapsed;
    if (out_of_attempts || out_of_time) {
      b->state = Batch::State::failed;
      b->reason = "gave up after " + std::to_string(b->attempt) + " attempt(s)" +
                  (reason.empty() ? std::string() : ": " + reason);
      b->status = r->status;
      if (debug)
        log->debug(name, said + "; giving up (" +
                             (out_of_attempts ? "retry.max_attempts" : "retry.max_elapsed") +
                             " reached): to the dead-letter writer");
    } else {
      milliseconds delay = r->retry_after_ms ? milliseconds(r->retry_after_ms) : b->backoff.next();
      if (debug)
        log->debug(name, said + "; retry: attempt " + std::to_string(b->attempt + 1) + " in " +
                             std::to_string(delay.count()) + " ms (" +
                             (r->retry_after_ms ? "the sink's retry_after" : "back-off") + ")");
      b->state = Batch::State::waiting;
      b->due = now + delay;
      if (retry_log_.allow())
        log->warn(name, "batch of " + std::to_string(b->events.size()) + " events failed (" +
                            (reason.empty() ? std::string("no reason given") : reason) +
                            "); attempt " + std::to_string(b->attempt + 1) + " in " +
                            std::to_string(delay.count()) + " ms");
    }
  } else {
    b->state = Batch::State::failed;
    b->reason = code == SLUICE_DELIVERY_REJECT
                    ? (reason.empty() ? std::string("rejected") : "rejected: " + reason)
                    : "invalid delivery code " + std::to_string(static_cast<int>(code));
    b->status = r ? r->status : 0;
    if (debug) log->debug(name, said + ": to the dead-letter writer");
  }
  work_.notify_one();
}

// Per-event answers (1.1, checked): OK events are delivered and released at once; REJECT ones,
// and RETRY ones once the retry limits are reached, go to the dead-letter writer in batches of
// one reason and status each; the batch shrinks to the RETRY ones, retried after the longest
// retry_after_ms among them or the back-off.
void SinkChannel::complete_per_event(Batch* b, const sluice_delivery_result& r) {
  const auto now = Clock::now();
  const auto& retry = config_.retry;
  const bool out_of_attempts = retry.max_attempts && b->attempt >= retry.max_attempts;
  const bool out_of_time = retry.max_elapsed.count() && now - b->first_try >= retry.max_elapsed;
  const bool give_up = out_of_attempts || out_of_time;
  const size_t n = b->events.size();
  // Two phases, so that running out of memory half-way loses nothing: first every decision and
  // every allocation (the batch untouched: a throw leaves it at the sink, counted in flight),
  // then only moves into reserved room, which cannot throw.
  constexpr size_t kDelivered = SIZE_MAX, kAgain = SIZE_MAX - 1;
  std::vector<size_t> where(n);                // per event: kDelivered, kAgain or a failed group
  std::vector<std::unique_ptr<Batch>> failed;  // one per reason + status
  std::vector<size_t> failed_size;             // how many events each will hold
  size_t again_count = 0;
  uint64_t delivered = 0;
  uint32_t retry_after_ms = 0;
  std::string retry_reason;  // the first RETRY's, for the log
  for (size_t i = 0; i < n; ++i) {
    const sluice_event_result& e = r.event_results[i];
    if (e.code == SLUICE_DELIVERY_OK) {
      where[i] = kDelivered;
      ++delivered;
      continue;
    }
    // As for a whole batch: the reason may echo a secret the peer was sent.
    const std::string reason = e.reason.data ? log->redact(to_view(e.reason)) : std::string();
    if (e.code == SLUICE_DELIVERY_RETRY && !give_up) {
      if (again_count == 0) retry_reason = reason;
      retry_after_ms = std::max(retry_after_ms, e.retry_after_ms);
      where[i] = kAgain;
      ++again_count;
      continue;
    }
    std::string why;
    if (e.code == SLUICE_DELIVERY_RETRY)
      why = "gave up after " + std::to_string(b->attempt) + " attempt(s)" +
            (reason.empty() ? std::string() : ": " + reason);
    else if (e.code == SLUICE_DELIVERY_REJECT)
      why = reason.empty() ? std::string("rejected") : "rejected: " + reason;
    else
      why = "invalid delivery code " + std::to_string(static_cast<int>(e.code));
    auto group = std::find_if(failed.begin(), failed.end(), [&](const auto& f) {
      return f->reason == why && f->status == e.status;
    });
    if (group == failed.end()) {
      auto f = std::make_unique<Batch>(config_.retry.backoff, next_seed_());
      f->id = next_batch_id_++;
      f->state = Batch::State::failed;
      f->attempt = b->attempt;
      f->first_try = b->first_try;
      f->reason = std::move(why);
      f->status = e.status;
      failed.push_back(std::move(f));
      failed_size.push_back(0);
      group = std::prev(failed.end());
    }
    where[i] = static_cast<size_t>(group - failed.begin());
    ++failed_size[where[i]];
  }
  std::vector<EventPtr> again;  // answered RETRY: this batch, smaller
  again.reserve(again_count);
  for (size_t g = 0; g < failed.size(); ++g) {
    failed[g]->events.reserve(failed_size[g]);
    failed[g]->views.reserve(failed_size[g]);
  }
  batches_.reserve(batches_.size() + failed.size());
  // Phase two: moves only.
  for (size_t i = 0; i < n; ++i) {
    if (where[i] == kAgain)
      again.push_back(std::move(b->events[i]));
    else if (where[i] != kDelivered)
      failed[where[i]]->events.push_back(std::move(b->events[i]));
  }
  c_.delivered += delivered;
  c_.in_flight -= delivered;
  // The failed ones stay counted in_flight until fail() has counted them elsewhere.
  for (auto& f : failed) {
    f->point_views();
    batches_.push_back(std::move(f));
  }
  // Releases the delivered events (a spool acknowledges its records once all are released).
  b->events = std::move(again);
  if (delivered && blocked_emitters_) space_.notify_all();
  if (b->events.empty()) {
    if (log->enabled(LogLevel::debug, name))
      log->debug(name, "batch " + std::to_string(b->id) + " (attempt " +
                           std::to_string(b->attempt) +
                           "): answered per event: " + std::to_string(delivered) + " ok, " +
                           std::to_string(n - delivered) + " to the dead-letter writer");
    remove_batch(b);
    return;
  }
  b->point_views();
  const milliseconds delay = retry_after_ms ? milliseconds(retry_after_ms) : b->backoff.next();
  if (log->enabled(LogLevel::debug, name))
    log->debug(name, "batch " + std::to_string(b->id) + " (attempt " + std::to_string(b->attempt) +
                         "): answered per event: " + std::to_string(delivered) + " ok, " +
                         std::to_string(b->events.size()) + " retry, " +
                         std::to_string(n - delivered - b->events.size()) +
                         " to the dead-letter writer; retry in " + std::to_string(delay.count()) +
                         " ms (" + (retry_after_ms ? "the sink's retry_after" : "back-off") + ")");
  b->state = Batch::State::waiting;
  b->due = now + delay;
  if (retry_log_.allow())
    log->warn(name, std::to_string(b->events.size()) + " of " + std::to_string(n) +
                        " events of a batch failed (" +
                        (retry_reason.empty() ? std::string("no reason given") : retry_reason) +
                        "); attempt " + std::to_string(b->attempt + 1) + " for those in " +
                        std::to_string(delay.count()) + " ms");
}

void SinkChannel::fail(std::unique_ptr<Batch> b) {
  bool stored = false;
  try {
    stored = dead_letter_->write(b->views.data(), b->views.size(), b->reason, b->status, b->attempt,
                                 name);
  } catch (const std::exception& e) {
    log->error(name, std::string("dead-letter write failed: ") + e.what());
  }
  const uint64_t n = b->events.size();
  if (log->enabled(LogLevel::debug, name))
    log->debug(name,
               std::to_string(n) + " events of batch " + std::to_string(b->id) + " " +
                   (stored ? "written to the dead-letter file" : "dropped (no dead-letter file)") +
                   ": " + b->reason);
  b.reset();  // release the events before waking anyone (a spool acknowledges them then)
  std::lock_guard lock(m_);
  c_.in_flight -= n;
  (stored ? c_.dead_lettered : c_.dropped_rejected) += n;
  queue_->release_done();
  if (blocked_emitters_) space_.notify_all();
  work_.notify_one();
}

// ==== lifecycle ==============================================================================

void SinkChannel::begin_stop(Clock::time_point deadline) {
  deadline_ns_ = deadline.time_since_epoch().count();
  stopping_ = true;
  std::lock_guard lock(m_);
  space_.notify_all();
}

void SinkChannel::abort_drain() {
  abort_ = true;
  std::lock_guard lock(m_);
  space_.notify_all();
  idle_.notify_all();
}

bool SinkChannel::drain(Clock::time_point deadline) {
  std::unique_lock lock(m_);
  draining_ = true;
  work_.notify_one();
  while (!abort_ && (queue_->events() || !batches_.empty() || deferred_pushes_) &&
         dispatcher_.joinable()) {
    if (idle_.wait_until(lock, std::min(deadline, Clock::now() + milliseconds(100))) ==
            std::cv_status::timeout &&
        Clock::now() >= deadline)
      break;
  }
  return !queue_->events() && batches_.empty() && !deferred_pushes_;
}

void SinkChannel::halt() {
  {
    std::lock_guard lock(m_);
    halt_ = true;
    space_.notify_all();
  }
  work_.notify_one();
}

bool SinkChannel::join_dispatcher(Clock::time_point until) {
  if (!dispatcher_.joinable()) return true;
  std::unique_lock lock(m_);
  const bool done = idle_.wait_until(lock, until, [&] { return dispatcher_done_; });
  lock.unlock();
  if (done)
    dispatcher_.join();
  else
    deliver_stuck_ = true;
  return done;
}

void SinkChannel::settle() {
  if (std::exchange(settled_, true)) return;
  std::vector<std::unique_ptr<Batch>> failed;
  uint64_t left_queue = 0, left_flight = 0, left_spool = 0, held = 0;
  const bool sink_stuck = stop_stuck || deliver_stuck_;
  bool is_durable = false;
  {
    std::unique_lock lock(m_);
    // Pushes waiting for their fdatasync (without m_) finish first: their events are counted
    // by their claim, and the queue must not be closed under them. One sync at most.
    idle_.wait(lock, [&] { return deferred_pushes_ == 0; });
    closed_ = true;
    if (sink_stuck) abandoned_flag_ = true;
    for (auto& b : batches_) {
      const uint64_t n = b->events.size();
      if (b->state == Batch::State::failed) {
        failed.push_back(std::move(b));
      } else if (sink_stuck && b->state == Batch::State::at_sink) {
        held += n;
        c_.in_flight -= n;
        abandoned_batches_.push_back(std::move(b));
      } else {
        left_flight += n;
        c_.in_flight -= n;
      }
    }
    batches_.clear();
    is_durable = queue_->durable();
    if (is_durable) {
      // Batches in flight were not acknowledged: they stay on disk and are sent again at the
      // next start, like what is still queued (a stuck sink's too).
      spooled_at_stop_ += left_flight + held;
      left_spool = queue_->events() + left_flight + held;
      left_flight = 0;
    } else {
      while (queue_->pop())
        ++left_queue;
      c_.abandoned += held;
    }
    c_.dropped_shutdown += left_queue + left_flight;
  }
  for (auto& b : failed)
    fail(std::move(b));
  {
    // Everything is counted and acknowledged: a spool lets go of its directory now (a
    // reloaded pipeline may open it next), not when this channel is freed. A stuck sink's too:
    // what it holds was never acknowledged, so it stays on disk for the next opener, and its
    // late answer (the dispatcher goes on under m_) meets a closed spool that writes nothing.
    std::lock_guard lock(m_);
    queue_->close();
  }
  if (sink_stuck) {
    const char* where = stop_stuck && deliver_stuck_ ? "stop() and deliver()"
                        : stop_stuck                 ? "stop()"
                                                     : "deliver()";
    log->error(name, std::string("sink is stuck: it did not return from ") + where +
                         " within drain_timeout; abandoned with " + std::to_string(held) +
                         " events it held" +
                         (is_durable ? " (they stay in the spool)"
                                     : " (counted as abandoned: they may or may not "
                                       "have been delivered)"));
  }
  if (left_queue + left_flight)
    log->warn(name, "stopped with " + std::to_string(left_queue + left_flight) +
                        " events undelivered (" + std::to_string(left_queue) + " queued, " +
                        std::to_string(left_flight) + " in flight); counted as dropped_shutdown");
  if (left_spool)
    log->info(name, std::to_string(left_spool) + " events stay in the spool for the next run");
}

void SinkChannel::reopen() {
  if (handle && d().reopen) {
    const char* error = nullptr;
    if (d().reopen(handle, &error) != SLUICE_OK)
      log->error(name, std::string("reopen failed: ") + (error ? error : "?"));
    else
      log->info(name, "reopened");
  }
  dead_letter_->reopen();
}

SinkMetrics SinkChannel::counters() const {
  SinkMetrics x;
  {
    std::lock_guard lock(m_);
    x = c_;
    x.spooled = queue_->spooled();
    // A spool's events waiting for their sync are spooled and not (yet) in events().
    x.queued = queue_->events() - std::min<size_t>(queue_->events(), x.spooled);
    // A spool's bytes are its files on disk; a memory queue's, the events it holds.
    (queue_->durable() ? x.spool_bytes : x.queued_bytes) = queue_->bytes();
    x.spooled += spooled_at_stop_;
    x.spool_lost = queue_->lost();
  }
  x.state = state_name(state.load());
  return x;
}

}  // namespace sluice::core
