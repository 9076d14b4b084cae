// The spool behind the runtime's SinkQueue hook. See spool.hpp for the acknowledgement rule.
#include <sluice/core/owned_event.hpp>
#include <sluice/core/spool.hpp>

#include <algorithm>
#include <deque>
#include <utility>
#include <vector>

namespace sluice::core {

namespace {

EventPtr to_event_ptr(const sluice_event& v) {
  return EventPtr::make(EventParts::of(v));
}

class SpoolQueue final : public SinkQueue {
 public:
  SpoolQueue(SpoolOptions options, uint64_t read_ahead,
             std::function<void(const std::string&)> report)
      : spool_(std::move(options)),
        read_ahead_(std::max<uint64_t>(1, read_ahead)),
        report_(std::move(report)) {
    for (const auto& m : spool_.recovery().messages)
      report_(m);
    if (spool_.recovery().pending_events)
      report_("spool: " + std::to_string(spool_.recovery().pending_events) +
              " events from an earlier run are waiting and are sent first");
  }

  const Spool& spool() const { return spool_; }

  size_t events() const override {
    // Everything not yet popped: read ahead in memory, or not read yet.
    return static_cast<size_t>(spool_.stats().pending - held_) + ready_.size();
  }
  uint64_t bytes() const override { return spool_.stats().bytes; }
  // Events of pushes waiting for their fdatasync, or failed and not claimed yet, count as
  // spooled too: they were received and are in no other term until push_batch_claim. One
  // stats() snapshot, so that a sync settling meanwhile does not count them twice.
  size_t spooled() const override {
    const SpoolStats s = spool_.stats();
    return static_cast<size_t>(s.pending - held_ + s.unsettled) + ready_.size();
  }
  bool full(uint64_t bytes) const override { return full_after(bytes, 0, 0); }
  bool full_after(uint64_t bytes, size_t pending_events, uint64_t pending_bytes) const override {
    // drop_oldest: the spool makes room itself by evicting the oldest unread events.
    if (evicts_) return false;
    // Batches the dispatcher has let go of free their room first (a blocked emitter asks here;
    // the runtime calls every SinkQueue method under the sink's lock).
    const_cast<SpoolQueue*>(this)->acknowledge_done();
    return spool_.stats().bytes + pending_bytes + kRecordOverhead * pending_events + bytes +
               kRecordOverhead >
           max_bytes_;
  }
  void push(EventPtr event) override { append(&event.view(), 1); }
  void push_batch(std::vector<EventPtr>& events) override {
    views_.clear();
    views_.reserve(events.size());
    for (const EventPtr& e : events)
      views_.push_back(e.view());
    append(views_.data(), views_.size());
    views_.clear();
  }
  std::unique_ptr<PendingPush> push_batch_begin(std::vector<EventPtr>& events) override {
    acknowledge_done();
    views_.clear();
    views_.reserve(events.size());
    for (const EventPtr& e : events)
      views_.push_back(e.view());
    auto pending = std::make_unique<Pending>();
    try {
      pending->append = spool_.begin_append(views_.data(), views_.size());
    } catch (const std::exception& e) {
      // Nothing of them was written (ENOSPC, EIO...). The runtime counts them as spool_error.
      losses_.spool_error += views_.size();
      losses_.error = e.what();
      views_.clear();
      return nullptr;
    }
    views_.clear();
    // Overflow losses are known now; sync failures at the claim.
    const SpoolAppendResult& r = pending->append.result;
    losses_.dropped_newest += r.dropped;
    losses_.dropped_oldest += r.dropped_oldest;
    if (r.failed) {
      losses_.spool_error += r.failed;
      losses_.error = r.error;
    }
    if (pending->append.tickets.empty()) return nullptr;  // nothing waits (fsync: never...)
    return pending;
  }
  // Without the channel's lock: touches only the spool (thread-safe) and `p`.
  void push_batch_wait(PendingPush& p) override {
    spool_.wait_synced(static_cast<Pending&>(p).append);
  }
  void push_batch_claim(std::unique_ptr<PendingPush> p) override {
    auto* pending = static_cast<Pending*>(p.get());
    const SpoolAppendResult before = pending->append.result;
    try {
      const SpoolAppendResult r = spool_.claim_append(pending->append);
      if (r.failed > before.failed) {
        losses_.spool_error += r.failed - before.failed;
        losses_.error = r.error;
      }
    } catch (const std::exception& e) {
      // Nothing of the call is accepted (a failed fdatasync cut it off again).
      losses_.spool_error += before.accepted;
      losses_.error = e.what();
    }
  }
  // No acknowledge_done() here: batches settle() let go of without delivering them (in flight
  // at the stop) must stay unacknowledged, to be sent again at the next start.
  void close() override { spool_.shutdown(); }
  Losses take_losses() override { return std::exchange(losses_, Losses{}); }
  EventPtr pop() override {
    acknowledge_done();
    if (ready_.empty()) read();
    if (ready_.empty()) return {};
    EventPtr e = std::move(ready_.front());
    ready_.pop_front();
    return e;
  }
  void release_done() override { acknowledge_done(); }
  bool durable() const override { return true; }
  uint64_t recovered() const override { return recovered_; }
  uint64_t lost() const override { return spool_.stats().lost; }

  void set_max_bytes(uint64_t b) { max_bytes_ = b; }
  void set_evicts(bool e) { evicts_ = e; }

 private:
  struct Pending final : PendingPush {
    SpoolPendingAppend append;
  };
  struct Held {
    uint64_t id;
    std::vector<EventPtr> events;  // our references; the dispatcher's batch holds the others
  };

  // About what a record adds to an event's bytes on disk (header, checksum, lengths).
  static constexpr uint64_t kRecordOverhead = 64;

  // One Spool::append for all of them: one write, one fdatasync (fsync: batch).
  void append(const sluice_event* views, size_t count) {
    acknowledge_done();
    SpoolAppendResult r;
    try {
      r = spool_.append(views, count);
    } catch (const std::exception& e) {
      // ENOSPC, EIO...: none of them is on disk. The runtime counts them as spool_error.
      losses_.spool_error += count;
      losses_.error = e.what();
      return;
    }
    losses_.dropped_newest += r.dropped;
    losses_.dropped_oldest += r.dropped_oldest;
    if (r.failed) {
      losses_.spool_error += r.failed;
      losses_.error = r.error;
    }
  }

  void read() {
    Held h{0, {}};
    const auto id = spool_.next_batch(read_ahead_, UINT64_MAX, [&h](const sluice_event& e) {
      h.events.push_back(to_event_ptr(e));
    });
    for (const auto& m : spool_.take_messages())
      report_(m);
    if (!id) return;
    h.id = *id;
    for (const EventPtr& e : h.events)
      ready_.push_back(e);
    held_ += h.events.size();
    held_batches_.push_back(std::move(h));
  }

  // A spool batch is done when none of its events is still ready to pop or in a batch of the
  // dispatcher: only our own reference is left.
  void acknowledge_done() {
    while (!held_batches_.empty()) {
      Held& h = held_batches_.front();
      const bool done = std::all_of(h.events.begin(), h.events.end(),
                                    [](const EventPtr& e) { return e.use_count() == 1; });
      if (!done) return;
      spool_.ack(h.id);
      held_ -= h.events.size();
      held_batches_.pop_front();
    }
  }

  Spool spool_;
  uint64_t read_ahead_;
  uint64_t max_bytes_ = UINT64_MAX;
  bool evicts_ = false;
  // What the spool held at open: readable or not (the unreadable ones are lost() from the start).
  uint64_t recovered_ = spool_.recovery().pending_events + spool_.recovery().lost_events;
  Losses losses_;
  std::vector<sluice_event> views_;  // push_batch(): the views of one append
  std::deque<EventPtr> ready_;
  std::deque<Held> held_batches_;
  uint64_t held_ = 0;  // events read from the spool and not yet acknowledged
  std::function<void(const std::string&)> report_;
};

}  // namespace

SpoolOptions spool_options_for(const SinkConfig& sink) {
  SpoolOptions o;
  o.directory = sink.spool.directory;
  o.max_bytes = sink.spool.max_bytes;
  o.segment_bytes =
      sink.spool.segment_bytes
          ? sink.spool.segment_bytes
          : std::min<uint64_t>(16ull << 20, std::max<uint64_t>(sink.spool.max_bytes / 8, 4096));
  // drop_newest: the runtime counts what a full spool refuses. drop_oldest: the spool evicts the
  // oldest events not yet read and the queue reports them. block: the runtime waits for room
  // (never the spool itself: that would wait under the sink's lock, which the acks need).
  o.overflow = sink.spool.overflow == SpoolOverflow::drop_oldest ? SpoolOverflow::drop_oldest
                                                                 : SpoolOverflow::drop_newest;
  // never: the kernel writes back when it likes; batch: fdatasync before every push returns;
  // interval: every push is written before it returns (survives kill -9), fdatasync at most
  // once per fsync_interval bounds what a power loss can take.
  o.fsync = sink.spool.fsync;
  o.fsync_interval = sink.spool.fsync_interval;
  return o;
}

std::unique_ptr<SinkQueue> make_spool_queue(const SinkConfig& sink, SpoolOptions options,
                                            std::function<void(const std::string&)> report) {
  const uint64_t max_bytes = options.max_bytes;
  const SpoolOverflow overflow = options.overflow;
  auto q = std::make_unique<SpoolQueue>(
      std::move(options), std::max<uint64_t>(1, sink.batch.max_events), std::move(report));
  q->set_max_bytes(max_bytes);
  q->set_evicts(overflow == SpoolOverflow::drop_oldest);
  return q;
}

}  // namespace sluice::core
