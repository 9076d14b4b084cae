// Handing events to the host off the io threads: a bounded queue per instance (EmitPump) served
// by a small pool of emitter threads shared by the plugin's instances (EmitPool).
//
// Why: Host::emit may block (a full queue with `policy: block`, a full spool with
// `overflow: block`). Called on an io thread it would stop heart-beats, timeouts and every other
// instance on that thread. The io side queues instead and goes on; when the queue is full it
// stops reading its socket (the back-pressure reaches the peer through TCP) until an emitter has
// taken the queue.
//
// The `block` policy and the shared emitters: an instance whose emit blocks holds one emitter
// thread, and only one (an instance's batches go out one at a time, in order). The pool starts
// with `base` threads; when an instance has events waiting and every emitter thread has been
// busy for `stall_after`, the pool adds a thread, up to `max` (spare threads end after
// `spare_idle` without work). So up to max - 1 instances can be blocked at the same time
// without stalling the others; beyond that, the others wait until a blocked emit returns (the
// host unblocks every emit when it stops). Threads stay bounded whatever the number of sources.
#pragma once

#include <sluice/net/io_pool.hpp>
#include <sluice/packed_events.hpp>
#include <sluice/sdk.hpp>

#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sluice::net {

struct EmitPoolOptions {
  size_t base = 2;  // threads started with the pool
  size_t max = 8;   // with spares added while emits block
  std::chrono::milliseconds stall_after{200};
  std::chrono::milliseconds spare_idle{5000};
};

class EmitPump;

class EmitPool : public std::enable_shared_from_this<EmitPool> {
 public:
  // `io` runs the stall check (a timer); the pool keeps it alive.
  EmitPool(std::shared_ptr<IoPool> io, EmitPoolOptions o = {})
      : io_(std::move(io)), options_(o), stall_timer_(io_->context()) {
    options_.base = std::max<size_t>(1, options_.base);
    options_.max = std::max(options_.max, options_.base);
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < options_.base; ++i)
      spawn();
  }
  ~EmitPool() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    stall_timer_.cancel();
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mutex_);
      threads.swap(threads_);
      for (auto& t : finished_)
        threads.push_back(std::move(t));
      finished_.clear();
    }
    for (auto& t : threads) {
      if (t.get_id() == std::this_thread::get_id())
        t.detach();
      else if (t.joinable())
        t.join();
    }
  }
  EmitPool(const EmitPool&) = delete;
  EmitPool& operator=(const EmitPool&) = delete;

  // The emitters of this plugin module on `io` (see IoPool::shared): one pool while anyone
  // holds it.
  static std::shared_ptr<EmitPool> shared(std::shared_ptr<IoPool> io, EmitPoolOptions o = {}) {
    static std::mutex mutex;
    static std::weak_ptr<EmitPool> current;
    std::lock_guard lock(mutex);
    auto pool = current.lock();
    if (!pool || pool->io_ != io) {
      pool = std::make_shared<EmitPool>(std::move(io), o);
      current = pool;
    }
    return pool;
  }

  size_t threads() {
    std::lock_guard lock(mutex_);
    return threads_.size();
  }

 private:
  friend class EmitPump;
  using Clock = std::chrono::steady_clock;

  struct Queue {
    explicit Queue(Host h) : host(h) {}
    Host host;
    PackedEvents waiting;          // for the next emit, in order
    std::function<void()> resume;  // set while the io side is paused for this queue
    bool ready = false;            // in ready_
    bool running = false;          // an emitter is emitting this queue's batch
    bool closed = false;
    const char* emitted_metric = nullptr;
    const char* refused_metric = nullptr;
    std::string log_prefix;
    std::condition_variable idle;  // running went false
  };

  // Under mutex_.
  void make_ready(const std::shared_ptr<Queue>& q) {
    if (q->ready || q->running || q->waiting.empty()) return;
    q->ready = true;
    ready_.push_back(q);
    if (idle_ > 0)
      wake_.notify_one();
    else
      arm_stall_check();
  }

  // Under mutex_: checks after stall_after whether queues still wait behind busy threads.
  void arm_stall_check() {
    if (stall_armed_ || threads_.size() >= options_.max) return;
    stall_armed_ = true;
    stall_timer_.expires_after(options_.stall_after);
    stall_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->check_stall();
    });
  }

  void check_stall() {
    std::lock_guard lock(mutex_);
    stall_armed_ = false;
    if (stopping_ || ready_.empty() || idle_ > 0 || threads_.size() >= options_.max) return;
    const auto now = Clock::now();
    // Every thread busy for stall_after: a spare serves the queues that wait.
    if (busy_since_.empty()) return;
    for (auto& [id, since] : busy_since_)
      if (now - since < options_.stall_after) return arm_stall_check();
    spawn();
    // The spare takes one waiting queue; queues behind it are checked again (they are in ready_
    // already, so make_ready will not arm the check for them).
    if (ready_.size() > 1) arm_stall_check();
  }

  // Under mutex_.
  void spawn() {
    threads_.emplace_back([this] {
      name_this_thread("sluice-emit");
      work();
    });
  }

  void work() {
    PackedEvents batch;
    std::unique_lock lock(mutex_);
    for (;;) {
      while (ready_.empty() && !stopping_) {
        ++idle_;
        const bool woken = wake_.wait_for(lock, options_.spare_idle,
                                          [this] { return stopping_ || !ready_.empty(); });
        --idle_;
        if (!woken && threads_.size() > options_.base) return retire();
      }
      if (stopping_) return;
      std::shared_ptr<Queue> q = std::move(ready_.front());
      ready_.pop_front();
      q->ready = false;
      if (q->closed) continue;
      q->running = true;
      batch.clear();
      std::swap(batch, q->waiting);  // the queue gets the emitted batch's storage back
      std::function<void()> resume = std::move(q->resume);
      q->resume = nullptr;
      busy_since_[std::this_thread::get_id()] = Clock::now();
      lock.unlock();
      // The queue is empty again: reading may go on while this batch is emitted.
      if (resume) resume();
      emit(*q, batch);
      lock.lock();
      busy_since_.erase(std::this_thread::get_id());
      q->running = false;
      q->idle.notify_all();
      if (!q->closed) make_ready(q);
    }
  }

  static void emit(Queue& q, PackedEvents& batch) {
    const auto n = static_cast<int64_t>(batch.size());
    try {
      if (q.host.emit(batch)) {
        if (q.emitted_metric) q.host.metric(q.emitted_metric, n);
      } else if (q.refused_metric) {
        q.host.metric(q.refused_metric, n);
      }
    } catch (const std::exception& e) {  // never std::terminate: log it and go on
      q.host.error(q.log_prefix + "internal error (emitter): " + e.what());
    }
  }

  // Under mutex_: this spare thread ends; the pool joins it later.
  void retire() {
    auto me = std::this_thread::get_id();
    for (auto it = threads_.begin(); it != threads_.end(); ++it)
      if (it->get_id() == me) {
        finished_.push_back(std::move(*it));
        threads_.erase(it);
        break;
      }
    // Threads that ended before: joined here, they are gone or about to be.
    for (auto it = finished_.begin(); it != finished_.end();) {
      if (it->get_id() != me) {
        it->join();
        it = finished_.erase(it);
      } else {
        ++it;
      }
    }
  }

  std::shared_ptr<IoPool> io_;
  EmitPoolOptions options_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Queue>> ready_;
  std::vector<std::thread> threads_;
  std::vector<std::thread> finished_;
  struct IdHash {
    size_t operator()(std::thread::id id) const { return std::hash<std::thread::id>()(id); }
  };
  std::unordered_map<std::thread::id, Clock::time_point, IdHash> busy_since_;
  boost::asio::steady_timer stall_timer_;
  size_t idle_ = 0;
  bool stall_armed_ = false;
  bool stopping_ = false;
};

// One instance's bounded queue of events for the host. Thread-safe; submit is meant for the
// instance's strand.
class EmitPump {
 public:
  struct Options {
    size_t max_events = 4096;  // queued events at which submit says "full"
    size_t max_bytes = 1u << 20;
    const char* emitted_metric = nullptr;  // counted with the events the host took
    const char* refused_metric = nullptr;  // counted when emit said the host is stopping
    std::string log_prefix;                // before the emitter's error messages
  };

  EmitPump(Host host, std::shared_ptr<EmitPool> pool, Options o)
      : pool_(std::move(pool)), q_(std::make_shared<EmitPool::Queue>(host)), options_(o) {
    q_->emitted_metric = o.emitted_metric;
    q_->refused_metric = o.refused_metric;
    q_->log_prefix = o.log_prefix;
  }
  ~EmitPump() { stop(); }
  EmitPump(const EmitPump&) = delete;
  EmitPump& operator=(const EmitPump&) = delete;

  // Queues `events` (left empty, with storage to reuse) behind what waits. Returns true when
  // the queue is full: the caller stops reading, and `resume` is called (on an emitter thread:
  // post it to the strand) once an emitter has taken the queue. After stop(), the events go to
  // the host at once on the caller's thread.
  bool submit(PackedEvents& events, std::function<void()> resume = {}) {
    if (events.empty()) return false;
    std::unique_lock lock(pool_->mutex_);
    if (q_->closed) {
      lock.unlock();
      EmitPool::emit(*q_, events);
      events.clear();
      return false;
    }
    if (q_->waiting.empty())
      std::swap(q_->waiting, events);
    else
      q_->waiting.append(events);
    events.clear();
    bool full = false;
    if (q_->waiting.size() >= options_.max_events || q_->waiting.bytes() >= options_.max_bytes) {
      full = static_cast<bool>(resume);
      if (full) q_->resume = std::move(resume);
    }
    pool_->make_ready(q_);
    return full;
  }
  bool submit(const std::vector<Event>& events) {
    PackedEvents packed;
    for (const auto& e : events)
      packed.add(e);
    return submit(packed);
  }

  // Events queued and not yet taken by an emitter.
  size_t queued() const {
    std::lock_guard lock(pool_->mutex_);
    return q_->waiting.size();
  }

  // Waits for the batch being emitted, then emits what is queued on this thread; afterwards no
  // emitter touches this instance, and submit emits at once.
  void stop() {
    PackedEvents rest;
    {
      std::unique_lock lock(pool_->mutex_);
      if (q_->closed) return;
      q_->closed = true;
      q_->idle.wait(lock, [this] { return !q_->running; });
      std::swap(rest, q_->waiting);
      q_->resume = nullptr;
    }
    if (!rest.empty()) EmitPool::emit(*q_, rest);
  }

 private:
  std::shared_ptr<EmitPool> pool_;
  std::shared_ptr<EmitPool::Queue> q_;
  Options options_;
};

}  // namespace sluice::net
