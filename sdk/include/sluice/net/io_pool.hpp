// The network kit's threads: one io pool per plugin, shared by all its instances, and a strand
// per instance on it (net::Strand) whose handlers cannot end the daemon with an exception and
// stop running once the instance closes it.
//
// Threads do not grow with instances: IoPool::shared() hands every instance of a plugin (one
// loaded module: plugins are built with hidden symbols, so each module has its own pool) the
// same pool, sized to the cores, and the pool's threads end when the last instance lets go.
#pragma once

#include <sluice/thread_name.hpp>

#include <boost/asio/execution.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace sluice::net {

// A fixed set of threads running one io_context. Handlers should reach it through a Strand;
// an exception that still escapes one is counted and the thread goes on (never std::terminate).
class IoPool {
 public:
  // threads 0: one per core (at least one).
  explicit IoPool(size_t threads = 0) : core_(std::make_shared<Core>()) {
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    threads_.reserve(threads);
    for (size_t i = 0; i < threads; ++i)
      threads_.emplace_back([core = core_] {
        name_this_thread("sluice-io");
        run(*core);
      });
  }
  ~IoPool() {
    core_->work.reset();
    core_->io.stop();
    for (auto& t : threads_) {
      // The last reference may go inside a handler: that thread cannot join itself. It holds
      // the io_context (Core) itself, so the handler returns into a live scheduler, and the
      // context goes when that thread's run() has returned.
      if (t.get_id() == std::this_thread::get_id())
        t.detach();
      else
        t.join();
    }
  }
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  boost::asio::io_context& context() { return core_->io; }
  size_t threads() const { return threads_.size(); }
  // Exceptions that escaped a handler not run through a Strand.
  uint64_t escaped() const { return core_->escaped.load(); }

  // The pool of this plugin module: made on the first call, shared by every caller while one
  // of them holds it; its threads end when the last holder lets go.
  static std::shared_ptr<IoPool> shared(size_t threads = 0) {
    static std::mutex mutex;
    static std::weak_ptr<IoPool> current;
    std::lock_guard lock(mutex);
    auto pool = current.lock();
    if (!pool) {
      pool = std::make_shared<IoPool>(threads);
      current = pool;
    }
    return pool;
  }

 private:
  // What the threads use: shared with each of them, so it outlives a pool destroyed on one.
  struct Core {
    boost::asio::io_context io;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{
        io.get_executor()};
    std::atomic<uint64_t> escaped{0};
  };

  static void run(Core& core) {
    for (;;) {
      try {
        core.io.run();
        return;
      } catch (...) {
        ++core.escaped;
      }
    }
  }

  std::shared_ptr<Core> core_;
  std::vector<std::thread> threads_;
};

// What a Strand's handlers share: where an exception goes, and whether they may still run.
class StrandGate {
 public:
  using Recover = std::function<void(const std::string& what)>;
  explicit StrandGate(Recover recover) : recover_(std::move(recover)) {}

  // Runs f unless closed; an exception out of f goes to recover (on the same strand).
  template <class F>
  void run(F& f) {
    if (closed_.load()) return;
    std::lock_guard lock(mutex_);  // recursive: a handler may run another inline
    if (closed_.load()) return;
    try {
      f();
    } catch (const std::exception& e) {
      fail(e.what());
    } catch (...) {
      fail("unknown exception");
    }
  }
  // Waits for a handler that is running, then lets none run again.
  void close() {
    closed_ = true;  // first: handlers queued behind the running one see it
    std::lock_guard lock(mutex_);
  }
  bool closed() const { return closed_.load(); }

 private:
  void fail(const std::string& what) {
    if (!recover_) return;
    try {
      recover_(what);
    } catch (...) {
      // recover's own failure has nowhere left to go
    }
  }

  Recover recover_;
  std::recursive_mutex mutex_;
  std::atomic<bool> closed_{false};
};

// An executor that runs each function through a StrandGate on an inner executor (a strand).
// Usable wherever Asio takes an executor (it converts to any_io_executor), so sockets, timers
// and coroutines made with it run their handlers guarded.
template <class Inner>
class GuardedExecutor {
 public:
  GuardedExecutor(Inner inner, std::shared_ptr<StrandGate> gate) noexcept
      : inner_(std::move(inner)), gate_(std::move(gate)) {}

  template <class P>
  auto query(const P& p) const
      noexcept(noexcept(boost::asio::query(std::declval<const Inner&>(), p)))
          -> decltype(boost::asio::query(std::declval<const Inner&>(), p)) {
    return boost::asio::query(inner_, p);
  }
  template <class P>
  auto require(const P& p) const -> GuardedExecutor<
      std::decay_t<decltype(boost::asio::require(std::declval<const Inner&>(), p))>> {
    return {boost::asio::require(inner_, p), gate_};
  }
  template <class P>
  auto prefer(const P& p) const -> GuardedExecutor<
      std::decay_t<decltype(boost::asio::prefer(std::declval<const Inner&>(), p))>> {
    return {boost::asio::prefer(inner_, p), gate_};
  }

  template <class F>
  void execute(F&& f) const {
    boost::asio::execution::execute(
        inner_,
        [gate = gate_, fn = std::decay_t<F>(std::forward<F>(f))]() mutable { gate->run(fn); });
  }

  const Inner& inner() const noexcept { return inner_; }
  friend bool operator==(const GuardedExecutor& a, const GuardedExecutor& b) noexcept {
    return a.inner_ == b.inner_ && a.gate_ == b.gate_;
  }
  friend bool operator!=(const GuardedExecutor& a, const GuardedExecutor& b) noexcept {
    return !(a == b);
  }

 private:
  template <class>
  friend class GuardedExecutor;
  Inner inner_;
  std::shared_ptr<StrandGate> gate_;
};

// One instance's serial executor on a shared IoPool: its handlers never run at the same time
// (the code of a connection is written as if single-threaded, as on an io thread of its own),
// an exception out of one goes to `recover` (log it, report it, replace the connection) on the
// strand, and after close() none runs again: a plugin's stop() closes its strand so that
// nothing of the instance calls the host after stop returns.
class Strand {
 public:
  using Inner = boost::asio::strand<boost::asio::io_context::executor_type>;
  using Executor = GuardedExecutor<Inner>;

  Strand(std::shared_ptr<IoPool> pool, StrandGate::Recover recover)
      : pool_(std::move(pool)),
        gate_(std::make_shared<StrandGate>(std::move(recover))),
        executor_(Inner(pool_->context().get_executor()), gate_) {}
  ~Strand() { close(); }
  Strand(const Strand&) = delete;
  Strand& operator=(const Strand&) = delete;

  const Executor& executor() const { return executor_; }
  IoPool& pool() { return *pool_; }
  const std::shared_ptr<IoPool>& shared_pool() const { return pool_; }
  template <class F>
  void post(F&& f) const {
    boost::asio::post(executor_, std::forward<F>(f));
  }
  // True when called from a handler of this strand.
  bool inside() const { return executor_.inner().running_in_this_thread(); }
  // Waits for the handler running (unless called from it), then no handler runs again; the
  // ones queued are dropped when they come up (their captures are released on a pool thread).
  void close() { gate_->close(); }
  bool closed() const { return gate_->closed(); }

 private:
  std::shared_ptr<IoPool> pool_;
  std::shared_ptr<StrandGate> gate_;
  Executor executor_;
};

}  // namespace sluice::net
