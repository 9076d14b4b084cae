// Where delivery can be extended without touching the dispatcher: the dead-letter writer a
// sink's failed batches go to, and the queue a sink's pending events wait in (a spool-backed
// queue plugs in here for `policy: spool`).
#pragma once

#include <sluice/plugin.h>
#include <sluice/core/owned_event.hpp>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::core {

// Receives the events of a batch the sink rejected or that ran out of retries. Called from the
// sink's dispatcher thread (or the thread stopping the runtime), never under a core lock.
class DeadLetter {
 public:
  virtual ~DeadLetter() = default;
  // True when the events were stored (counted as dead_lettered); false when they could not be
  // (counted as dropped_rejected; the implementation says why in the log).
  virtual bool write(const sluice_event* events, size_t count, std::string_view reason,
                     int32_t status, uint32_t attempts, std::string_view sink) = 0;
  // SIGHUP: reopen files after log rotation.
  virtual void reopen() {}
};

// A sink's pending events, oldest first. The sink channel calls it under its own lock, so
// implementations need no locking of their own (push_batch_wait excepted, see there); they must
// not block for long (a spool's fdatasync waits in push_batch_wait, without that lock).
class SinkQueue {
 public:
  virtual ~SinkQueue() = default;
  // Events waiting (in memory and, for a spool, on disk) and their bytes.
  virtual size_t events() const = 0;
  virtual uint64_t bytes() const = 0;
  // Of events(), how many sit on disk (the `spooled` term of the accounting).
  virtual size_t spooled() const { return 0; }
  // Whether one more event of `bytes` must wait (the sink then applies its policy).
  virtual bool full(uint64_t bytes) const = 0;
  // The same, were `pending_events` more events of `pending_bytes` pushed first (the run the
  // sink is assembling for push_batch). The default cannot tell: it says full whenever
  // something is pending, so the sink pushes the run first and asks again.
  virtual bool full_after(uint64_t bytes, size_t pending_events, uint64_t pending_bytes) const {
    return pending_events ? true : full(bytes + pending_bytes);
  }
  virtual void push(EventPtr event) = 0;
  // Several events at once, in order (moved from; the vector is left for the caller to clear).
  // A spool appends them in one write and one sync. Losses as for push().
  virtual void push_batch(std::vector<EventPtr>& events) {
    for (EventPtr& e : events)
      push(std::move(e));
  }
  // The oldest event; empty EventPtr when there is none.
  virtual EventPtr pop() = 0;
  // The sink let go of events (delivered or dead-lettered): a spool acknowledges the ones it
  // handed out that nobody holds any more, now rather than at its next push or pop (else the
  // last batches of a run would stay unacknowledged and be sent again at the next start).
  virtual void release_done() {}
  // True when what is left at shutdown survives a restart (it is then counted as spooled,
  // not dropped).
  virtual bool durable() const { return false; }

  // Events the queue itself lost in push(): a spool's own overflow policy, an I/O error while
  // appending. The runtime takes them after every push() and adds them to its accounting;
  // `error` is the last I/O error's text (empty when there was none).
  struct Losses {
    uint64_t dropped_newest = 0;
    uint64_t dropped_oldest = 0;
    uint64_t spool_error = 0;
    std::string error;
  };
  virtual Losses take_losses() { return {}; }
  // push_batch() in three steps, so that the wait for the disk (a spool's fdatasync) happens
  // without the sink channel's lock and pushes from several sources share one sync:
  //   push_batch_begin  under the lock, like push_batch; returns a pending push, or nullptr
  //                     when all is done already (the default: push_batch).
  //   push_batch_wait   WITHOUT the lock; thread-safe; waits for the disk.
  //   push_batch_claim  under the lock again: the outcome, into take_losses(). Until then the
  //                     pending events count in spooled(), so the accounting balances at
  //                     every moment someone holds the lock.
  struct PendingPush {
    virtual ~PendingPush() = default;
  };
  virtual std::unique_ptr<PendingPush> push_batch_begin(std::vector<EventPtr>& events) {
    push_batch(events);
    return nullptr;
  }
  virtual void push_batch_wait(PendingPush&) {}
  virtual void push_batch_claim(std::unique_ptr<PendingPush>) {}
  // The sink is settled (stopped, everything counted): let go of files and locks (a spool's
  // directory, so that a reloaded pipeline can open it). Only the counting methods (events,
  // spooled, bytes, lost, recovered, durable) are called afterwards.
  virtual void close() {}
  // Events found in the queue when it was opened (a spool's backlog from an earlier run): the
  // `recovered` term of the accounting.
  virtual uint64_t recovered() const { return 0; }
  // Events the queue could not give back since it was opened: a spool's damaged records, at
  // recovery (those are part of recovered() too) or while reading. The `spool_lost` term.
  virtual uint64_t lost() const { return 0; }
};

// The in-memory queue: bounded in events and bytes. An empty queue takes any one event, so an
// event larger than max_bytes still gets through instead of blocking forever.
class MemoryQueue final : public SinkQueue {
 public:
  MemoryQueue(uint64_t max_events, uint64_t max_bytes)
      : max_events_(max_events ? max_events : 1), max_bytes_(max_bytes) {}
  size_t events() const override { return q_.size(); }
  uint64_t bytes() const override { return bytes_; }
  bool full(uint64_t bytes) const override { return full_after(bytes, 0, 0); }
  bool full_after(uint64_t bytes, size_t pending_events, uint64_t pending_bytes) const override {
    const uint64_t n = q_.size() + pending_events;
    return n >= max_events_ || (n > 0 && bytes_ + pending_bytes + bytes > max_bytes_);
  }
  void push(EventPtr event) override {
    bytes_ += event.bytes();
    q_.push_back(std::move(event));
  }
  EventPtr pop() override {
    if (q_.empty()) return {};
    EventPtr e = std::move(q_.front());
    q_.pop_front();
    bytes_ -= e.bytes();
    return e;
  }

 private:
  uint64_t max_events_;
  uint64_t max_bytes_;
  uint64_t bytes_ = 0;
  std::deque<EventPtr> q_;
};

}  // namespace sluice::core
