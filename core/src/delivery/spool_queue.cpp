// The spool behind the runtime's SinkQueue hook. See spool.hpp for the acknowledgement rule.
#include <sluice/core/owned_event.hpp>
#include <sluice/core/spool.hpp>

#include <algorithm>
#include <deque>
#include <vector>

namespace sluice::core {

namespace {

EventPtr to_event_ptr(const Event& e) {
  EventViews views(&e, &e + 1);
  const sluice_event& v = views.data()[0];
  EventParts parts;
  parts.id = v.id;
  parts.source = v.source;
  parts.type = v.type;
  parts.subject = v.subject;
  parts.time_unix_ns = v.time_unix_ns;
  parts.attributes = v.attributes;
  parts.attribute_count = v.attribute_count;
  parts.data = v.data;
  return EventPtr::make(parts);
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
  size_t spooled() const override { return events(); }
  bool full(uint64_t bytes) const override {
    return spool_.stats().bytes + bytes + 64 > max_bytes_;
  }
  void push(EventPtr event) override {
    acknowledge_done();
    const SpoolAppendResult r = spool_.append(&event.view(), 1);
    if (r.dropped) report_("spool: an event larger than the spool's max_bytes was dropped");
  }
  EventPtr pop() override {
    acknowledge_done();
    if (ready_.empty()) read();
    if (ready_.empty()) return {};
    EventPtr e = std::move(ready_.front());
    ready_.pop_front();
    return e;
  }
  bool durable() const override { return true; }

  void set_max_bytes(uint64_t b) { max_bytes_ = b; }

 private:
  struct Held {
    uint64_t id;
    std::vector<EventPtr> events;  // our references; the dispatcher's batch holds the others
  };

  void read() {
    auto batch = spool_.next_batch(read_ahead_);
    for (const auto& m : spool_.take_messages())
      report_(m);
    if (!batch) return;
    Held h{batch->id, {}};
    h.events.reserve(batch->events.size());
    for (const auto& e : batch->events) {
      h.events.push_back(to_event_ptr(e));
      ready_.push_back(h.events.back());
    }
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
      std::min<uint64_t>(16ull << 20, std::max<uint64_t>(sink.spool.max_bytes / 8, 4096));
  // The runtime applies the overflow policy (a full spool drops the newest, counted), so the
  // spool itself never blocks under the sink's lock.
  o.overflow = SpoolOverflow::drop_newest;
  // Every push is written before it returns (survives kill -9); fdatasync at most once a second
  // bounds what a power loss can take.
  o.fsync = SpoolFsync::interval;
  o.fsync_interval = std::chrono::milliseconds(1000);
  return o;
}

std::unique_ptr<SinkQueue> make_spool_queue(const SinkConfig& sink, SpoolOptions options,
                                            std::function<void(const std::string&)> report) {
  const uint64_t max_bytes = options.max_bytes;
  auto q = std::make_unique<SpoolQueue>(
      std::move(options), std::max<uint64_t>(1, sink.batch.max_events), std::move(report));
  q->set_max_bytes(max_bytes);
  return q;
}

}  // namespace sluice::core
