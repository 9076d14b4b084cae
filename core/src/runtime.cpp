// Building, starting and stopping a pipeline. What runs in between lives in core/src/bus/:
// sink_channel (one per sink), router (emit path), host_api (the plugin-facing trampolines),
// counters (the readers of the counter tables).
#include <sluice/core/runtime.hpp>

#include "bus/router.hpp"
#include "bus/sink_channel.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <sstream>
#include <system_error>
#include <thread>

namespace sluice::core {

using std::chrono::milliseconds;

namespace {

// Failed batches go here when no dead-letter file is configured.
class LogDeadLetter final : public DeadLetter {
 public:
  explicit LogDeadLetter(Logger& log) : log_(log) {}
  bool write(const sluice_event*, size_t count, std::string_view reason, int32_t status,
             uint32_t attempts, std::string_view sink) override {
    std::string m = "dropped " + std::to_string(count) + " events after " +
                    std::to_string(attempts) + " attempt(s): " + std::string(reason);
    if (status) m += " (status " + std::to_string(status) + ")";
    m += "; no dead-letter file is configured (dead_letter.path)";
    log_.error(sink, m);
    return false;
  }

 private:
  Logger& log_;
};

// What an adopted channel was built from must be what this pipeline says for the sink.
std::string channel_config_differs(const SinkConfig& a, const SinkConfig& b) {
  if (a.plugin != b.plugin) return "plugin";
  if (a.options != b.options) return "options";
  if (a.queue.max_events != b.queue.max_events || a.queue.max_bytes != b.queue.max_bytes ||
      a.queue.policy != b.queue.policy)
    return "queue";
  if (a.batch.max_events != b.batch.max_events || a.batch.max_bytes != b.batch.max_bytes ||
      a.batch.max_delay != b.batch.max_delay)
    return "batch";
  const auto &ra = a.retry, &rb = b.retry;
  if (ra.max_attempts != rb.max_attempts || ra.max_elapsed != rb.max_elapsed ||
      ra.backoff.initial != rb.backoff.initial || ra.backoff.max != rb.backoff.max ||
      ra.backoff.multiplier != rb.backoff.multiplier || ra.backoff.jitter != rb.backoff.jitter)
    return "retry";
  const auto &sa = a.spool, &sb = b.spool;
  if (sa.directory != sb.directory || sa.max_bytes != sb.max_bytes || sa.fsync != sb.fsync ||
      sa.fsync_interval != sb.fsync_interval || sa.segment_bytes != sb.segment_bytes ||
      sa.overflow != sb.overflow)
    return "spool";
  if (a.dead_letter.path != b.dead_letter.path) return "dead_letter";
  return {};
}

// How long past the drain deadline shutdown waits for plugins that do not return: sources'
// stop(), then sinks' stop() and their deliver(), then destroy(). All within the documented
// drain_timeout + 1 s.
constexpr milliseconds kSourceStopGrace{250};
constexpr milliseconds kSinkStopGrace{700};
constexpr milliseconds kDestroyGrace{900};

}  // namespace

struct Runtime::Impl : std::enable_shared_from_this<Runtime::Impl> {
  PipelineConfig pipeline;
  PluginHost& plugins;
  Logger& log;
  RuntimeOptions options;

  std::vector<std::unique_ptr<Source>> sources;
  // The channels, in pipeline order; shared with a runtime they are handed to (release).
  std::vector<std::shared_ptr<SinkChannel>> sinks;
  std::deque<std::atomic<bool>> released;  // per sink: handed to another runtime
  std::vector<bool> adopted;               // per sink: taken over from another runtime
  std::vector<std::shared_ptr<SinkChannel>> to_adopt;
  std::unique_ptr<Router> router;

  std::atomic<bool> stuck{false};  // stop() abandoned a plugin call
  bool running = false;
  bool started_ok = false;
  bool stopped = false;
  bool sources_stopped = false;
  std::mutex lifecycle;

  std::thread metrics_thread;
  std::mutex metrics_mutex;
  std::condition_variable metrics_cv;
  bool metrics_stop = false;

  Impl(PipelineConfig p, PluginHost& h, Logger& l, RuntimeOptions o)
      : pipeline(std::move(p)), plugins(h), log(l), options(std::move(o)) {}

  // The channels this runtime still owns (not released), for a loop over them.
  template <typename F>
  void each_sink(F&& f) const {
    for (size_t i = 0; i < sinks.size(); ++i)
      if (!released[i].load()) f(*sinks[i]);
  }

  void build();
  void create(Instance& in, const std::string& plugin, const nlohmann::json& options,
              bool want_sink, const char* what);
  void start();
  void stop_sources(Clock::time_point deadline);
  void stop();
  void teardown(Clock::time_point until);
  void reap();
  std::shared_ptr<SinkChannel> release(const std::string& name);

  // A plugin lifecycle call on a thread of its own (Instance::call_thread).
  struct Call {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
  };
  std::shared_ptr<Call> begin_call(Instance& in, std::function<void()> fn);
  // Waits for the call until `until`; false when it is still running (then abandoned).
  static bool wait_call(Instance& in, Call* call, Clock::time_point until);
  void metrics_loop();
  Metrics metrics() const;
};

// ==== building ===============================================================================

void Runtime::Impl::create(Instance& in, const std::string& plugin_name, const nlohmann::json& opts,
                           bool want_sink, const char* what) {
  try {
    in.plugin = plugins.load(plugin_name, pipeline.plugin_paths);
  } catch (const std::exception& e) {
    throw StartError(std::string(what) + " '" + in.name + "': " + e.what());
  }
  if (in.plugin->is_sink() != want_sink)
    throw StartError(std::string(what) + " '" + in.name + "': plugin '" + plugin_name + "' is a " +
                     (in.plugin->is_sink() ? "sink" : "source") + ", not a " +
                     (want_sink ? "sink" : "source"));
  in.init_host_api(plugins.api().major, plugins.api().minor);
  const std::string options_json = opts.dump();
  const char* error = nullptr;
  void* handle = nullptr;
  sluice_status st = in.d().create(&in.api, &in, options_json.c_str(), &handle, &error);
  if (st != SLUICE_OK || !handle)
    throw StartError(std::string(what) + " '" + in.name + "' (plugin " + plugin_name +
                     "): create failed: " +
                     (error             ? error
                      : st == SLUICE_OK ? "no instance returned"
                                        : "no reason given"));
  in.handle = handle;
}

void Runtime::Impl::build() {
  for (const auto& sc : pipeline.sinks) {
    auto taken = std::find_if(to_adopt.begin(), to_adopt.end(),
                              [&](const auto& c) { return c->name == sc.name; });
    if (taken != to_adopt.end()) {  // adopt() checked the configuration
      sinks.push_back(std::move(*taken));
      to_adopt.erase(taken);
      released.emplace_back(false);
      adopted.push_back(true);
      continue;
    }
    std::unique_ptr<SinkQueue> queue;
    if (sc.queue.policy == QueuePolicy::spool) {
      if (!options.spool_queue_factory)
        throw StartError("sink '" + sc.name +
                         "': queue policy 'spool' is not available in this build yet; use "
                         "block, drop_newest or drop_oldest");
      queue = options.spool_queue_factory(sc);
    } else {
      queue = std::make_unique<MemoryQueue>(sc.queue.max_events, sc.queue.max_bytes);
    }
    std::unique_ptr<DeadLetter> dead_letter;
    if (!sc.dead_letter.path.empty() && options.dead_letter_factory)
      dead_letter = options.dead_letter_factory(sc);
    if (!dead_letter) {
      if (!sc.dead_letter.path.empty())
        log.warn(sc.name,
                 "dead_letter.path is set but this build has no dead-letter writer; "
                 "failed batches are logged and counted as dropped_rejected");
      dead_letter = std::make_unique<LogDeadLetter>(log);
    }
    sinks.push_back(
        std::make_shared<SinkChannel>(sc, log, std::move(queue), std::move(dead_letter)));
    released.emplace_back(false);
    adopted.push_back(false);
  }
  for (const auto& sc : pipeline.sources) {
    auto s = std::make_unique<Source>();
    s->log = &log;
    s->name = sc.name;
    s->config = sc;
    sources.push_back(std::move(s));
  }
  std::vector<Source*> source_ptrs;
  for (auto& s : sources)
    source_ptrs.push_back(s.get());
  std::vector<SinkChannel*> sink_ptrs;
  for (auto& s : sinks)
    sink_ptrs.push_back(s.get());
  router = std::make_unique<Router>(pipeline.routes, std::move(source_ptrs), std::move(sink_ptrs));
  for (size_t i = 0; i < sinks.size(); ++i)
    if (!adopted[i])
      create(*sinks[i], sinks[i]->config().plugin, sinks[i]->config().options, true, "sink");
  for (auto& s : sources)
    create(*s, s->config.plugin, s->config.options, false, "source");
  for (const auto& s : sources)
    if (s->routes.empty()) log.warn(s->name, "no route takes events from this source");
  if (log.enabled(LogLevel::debug, "core"))
    for (const auto& r : pipeline.routes) {
      auto list = [](const std::vector<std::string>& v) {
        std::string out;
        for (const auto& x : v)
          out += (out.empty() ? "" : ",") + x;
        return out;
      };
      std::string filter;
      if (!r.filter.types.empty()) filter += " types " + list(r.filter.types);
      if (!r.filter.subjects.empty()) filter += " subjects " + list(r.filter.subjects);
      for (const auto& [key, globs] : r.filter.attributes)
        filter += " " + key + " " + list(globs);
      log.debug("core", "route" + (r.name.empty() ? std::string() : " '" + r.name + "'") +
                            ": from " + list(r.from) + " to " + list(r.to) +
                            (filter.empty() ? std::string(", every event") : ", only" + filter));
    }
}

// ==== starting ===============================================================================

void Runtime::Impl::start() {
  std::unique_lock guard(lifecycle);
  if (running || stopped) throw StartError("the runtime can start only once");
  running = true;
  try {
    build();
    for (size_t i = 0; i < sinks.size(); ++i) {
      if (adopted[i]) continue;  // running already
      SinkChannel& s = *sinks[i];
      if (log.enabled(LogLevel::debug, "core"))
        log.debug("core", "starting sink '" + s.name + "' (plugin " + s.config().plugin +
                              ", queue " + std::to_string(s.config().queue.max_events) +
                              " events, batch " + std::to_string(s.config().batch.max_events) +
                              " events / " + std::to_string(s.config().batch.max_delay.count()) +
                              " ms" +
                              (s.config().dead_letter.path.empty()
                                   ? std::string(", no dead-letter file")
                                   : ", dead-letter " + s.config().dead_letter.path) +
                              ")");
      const char* error = nullptr;
      if (s.d().start(s.handle, &error) != SLUICE_OK)
        throw StartError("sink '" + s.name + "' (plugin " + s.config().plugin +
                         "): start failed: " + (error ? error : "no reason given"));
      s.started = true;
      s.start_dispatcher();
    }
    for (auto& s : sources) {
      s->accepting = true;
      if (log.enabled(LogLevel::debug, "core"))
        log.debug("core", "starting source '" + s->name + "' (plugin " + s->config.plugin + ")");
      const char* error = nullptr;
      if (s->d().start(s->handle, &error) != SLUICE_OK) {
        s->accepting = false;
        throw StartError("source '" + s->name + "' (plugin " + s->config.plugin +
                         "): start failed: " + (error ? error : "no reason given"));
      }
      s->started = true;
    }
  } catch (...) {
    guard.unlock();
    stop();  // takes down whatever was created or started
    throw;
  }
  started_ok = true;
  log.info("core", "started: " + std::to_string(sources.size()) + " source(s), " +
                       std::to_string(sinks.size()) + " sink(s), " +
                       std::to_string(router->route_count()) + " route(s)");
  if (pipeline.metrics.interval.count() > 0)
    metrics_thread = std::thread([this] { metrics_loop(); });
}

std::shared_ptr<Runtime::Impl::Call> Runtime::Impl::begin_call(Instance& in,
                                                               std::function<void()> fn) {
  auto call = std::make_shared<Call>();
  try {
    in.call_thread = std::thread([call, fn] {
      fn();
      {
        std::lock_guard lock(call->m);
        call->done = true;
      }
      call->cv.notify_all();
    });
  } catch (const std::system_error&) {
    fn();  // no thread to spare: call it here, unbounded, rather than not at all
    call->done = true;
  }
  return call;
}

bool Runtime::Impl::wait_call(Instance& in, Call* call, Clock::time_point until) {
  if (!call) return true;
  std::unique_lock lock(call->m);
  if (!call->cv.wait_until(lock, until, [call] { return call->done; })) return false;
  lock.unlock();
  if (in.call_thread.joinable()) in.call_thread.join();
  return true;
}

// ==== stopping ===============================================================================

// Sources, all at once: stop() returns when they no longer call the host. One that does not
// return in time is abandoned; what it emits from now on is refused and counted. Under
// `lifecycle`.
void Runtime::Impl::stop_sources(Clock::time_point deadline) {
  if (std::exchange(sources_stopped, true)) return;
  if (router) router->set_stopping();
  std::vector<std::pair<Source*, std::shared_ptr<Call>>> calls;
  for (auto& s : sources)
    if (s->started)
      calls.emplace_back(s.get(), begin_call(*s, [src = s.get()] { src->d().stop(src->handle); }));
  for (auto& [src, call] : calls) {
    if (!wait_call(*src, call.get(), deadline + kSourceStopGrace)) {
      src->stop_stuck = true;
      log.error(src->name,
                "source did not return from stop() within drain_timeout; abandoned (its thread "
                "still runs; what it emits from now on is refused and counted as refused)");
    }
  }
  for (auto& s : sources)
    s->accepting = false;
}

void Runtime::Impl::stop() {
  std::lock_guard guard(lifecycle);
  if (stopped) return;
  if (!running) {
    // Never started: only channels adopted for a start that did not come are ours to stop.
    if (to_adopt.empty()) return;
    sinks = std::move(to_adopt);
    to_adopt.clear();
    for (size_t i = 0; i < sinks.size(); ++i) {
      released.emplace_back(false);
      adopted.push_back(true);
    }
    running = true;
  }
  stopped = true;
  const auto deadline = Clock::now() + pipeline.drain_timeout;
  {
    std::lock_guard lock(metrics_mutex);
    metrics_stop = true;
  }
  metrics_cv.notify_all();
  if (metrics_thread.joinable()) metrics_thread.join();

  // Emitters blocked on a full queue now wait only until the drain deadline.
  each_sink([&](SinkChannel& s) { s.begin_stop(deadline); });
  const bool debug = log.enabled(LogLevel::debug, "core");
  // 1. Sources (unless release() stopped them already).
  if (debug) log.debug("core", "stopping: sources first");
  stop_sources(deadline);
  // 2. Drain: flush partial batches, wait until every queue is empty or the deadline passes.
  if (debug)
    log.debug("core", "stopping: draining the sinks' queues (drain_timeout " +
                          std::to_string(pipeline.drain_timeout.count()) + " ms)");
  each_sink([&](SinkChannel& s) { s.drain(deadline); });
  if (debug) log.debug("core", "stopping: the sinks");
  // 3. Sinks: the dispatchers hand out nothing more; stop the plugins, all at once (which also
  //    ends a deliver() still running, and after which they call us no more); end the
  //    dispatchers. A sink whose stop() or deliver() does not return in time is abandoned.
  const auto sinks_until = deadline + kSinkStopGrace;
  {
    std::vector<std::pair<SinkChannel*, std::shared_ptr<Call>>> calls;
    each_sink([&](SinkChannel& s) {
      s.halt();
      if (s.started)
        calls.emplace_back(&s, begin_call(s, [sink = &s] { sink->d().stop(sink->handle); }));
    });
    for (auto& [sink, call] : calls)
      sink->stop_stuck = !wait_call(*sink, call.get(), sinks_until);
    each_sink([&](SinkChannel& s) { s.join_dispatcher(sinks_until); });
  }
  // 4. Count what is left. Failed batches still go to the dead-letter writer. What a stuck
  //    sink holds is counted as abandoned (or stays in the spool): it may yet be delivered.
  each_sink([&](SinkChannel& s) { s.settle(); });
  if (debug) log.debug("core", "stopping: destroying the plugin instances");
  teardown(deadline + kDestroyGrace);
  if (started_ok) {
    // One record per row: the logger keeps every record on one line.
    log.info("core", "stopped; accounting:");
    std::istringstream table(format_accounting(metrics()));
    for (std::string row; std::getline(table, row);)
      log.info("core", row);
  }
  bool any_stuck = false;
  for (auto& s : sources)
    any_stuck = any_stuck || s->stop_stuck || s->destroy_stuck;
  each_sink([&](SinkChannel& s) {
    any_stuck = any_stuck || s.stop_stuck || s.deliver_stuck() || s.destroy_stuck;
  });
  if (any_stuck) {
    stuck = true;
    // The stuck threads use this Impl (host calls, the dispatcher): it lives until they end.
    try {
      std::thread([self = shared_from_this()] { self->reap(); }).detach();
    } catch (const std::system_error&) {
      // No reaper: the stuck calls and what they hold stay for the life of the process.
      new std::shared_ptr<Impl>(shared_from_this());
    }
  }
}

void Runtime::Impl::teardown(Clock::time_point until) {
  each_sink([&](SinkChannel& s) {
    if (s.dispatching() && !s.deliver_stuck()) {  // start failed half-way
      s.halt();
      s.join_dispatcher(until);
    }
  });
  // destroy() of every instance that is not stuck, all at once, bounded like stop().
  std::vector<std::pair<Instance*, std::shared_ptr<Call>>> calls;
  auto destroy = [&](Instance& in, bool stuck_now) {
    if (!in.handle || stuck_now) return;
    void* handle = std::exchange(in.handle, nullptr);
    calls.emplace_back(&in, begin_call(in, [d = &in.d(), handle] { d->destroy(handle); }));
  };
  for (auto& s : sources)
    destroy(*s, s->stop_stuck);
  each_sink([&](SinkChannel& s) { destroy(s, s.stop_stuck || s.deliver_stuck()); });
  for (auto& [in, call] : calls) {
    if (!wait_call(*in, call.get(), until)) {
      in->destroy_stuck = true;
      log.error(in->name, "did not return from destroy() in time; abandoned");
    }
  }
}

// After stop() abandoned plugin calls: waits for them (for ever, if need be), then finishes the
// teardown of those instances. Runs on a detached thread that keeps the Impl alive.
void Runtime::Impl::reap() {
  auto finish = [](Instance& in) {
    if (in.call_thread.joinable()) in.call_thread.join();
  };
  for (auto& s : sources) {
    finish(*s);
    if (s->handle) s->d().destroy(std::exchange(s->handle, nullptr));
  }
  each_sink([&](SinkChannel& s) {
    finish(s);
    s.join_dispatcher(Clock::time_point::max());
    if (s.handle) s.d().destroy(std::exchange(s.handle, nullptr));
  });
}

std::shared_ptr<SinkChannel> Runtime::Impl::release(const std::string& name) {
  std::lock_guard guard(lifecycle);
  if (!started_ok || stopped) return nullptr;
  for (size_t i = 0; i < sinks.size(); ++i) {
    if (sinks[i]->name != name || released[i].load()) continue;
    stop_sources(Clock::now() + pipeline.drain_timeout);
    released[i] = true;
    log.info(name, "handed over with its queue, batches in flight and counters");
    return sinks[i];
  }
  return nullptr;
}

// ==== metrics ================================================================================

void Runtime::Impl::metrics_loop() {
  std::unique_lock lock(metrics_mutex);
  while (!metrics_cv.wait_for(lock, pipeline.metrics.interval, [this] { return metrics_stop; })) {
    lock.unlock();
    log.info("core", format_metrics_line(metrics()));
    lock.lock();
  }
}

Metrics Runtime::Impl::metrics() const {
  Metrics m;
  for (const auto& s : sources)
    m.sources.push_back(s->counters());
  each_sink([&](const SinkChannel& s) { m.sinks.push_back(s.counters()); });
  auto add_plugin = [&](Instance& in) {
    std::lock_guard lock(in.metrics_mutex);
    for (const auto& [k, v] : in.metrics)
      m.plugin[in.name + "." + k] = v;
  };
  for (const auto& s : sources)
    add_plugin(*s);
  each_sink([&](SinkChannel& s) { add_plugin(s); });
  return m;
}

// ==== public face ============================================================================

Runtime::Runtime(PipelineConfig pipeline, PluginHost& plugins, Logger& log, RuntimeOptions options)
    : impl_(std::make_shared<Impl>(std::move(pipeline), plugins, log, std::move(options))) {}

Runtime::~Runtime() {
  stop();
}

void Runtime::start() {
  impl_->start();
}

void Runtime::stop() {
  impl_->stop();
}

bool Runtime::stuck() const {
  return impl_->stuck.load();
}

void Runtime::abort_drain() {
  impl_->each_sink([](SinkChannel& s) { s.abort_drain(); });
}

void Runtime::reopen() {
  // Not while starting or stopping (a SIGHUP during shutdown must not race the teardown).
  std::lock_guard guard(impl_->lifecycle);
  if (!impl_->running || impl_->stopped) return;
  impl_->each_sink([](SinkChannel& s) { s.reopen(); });
}

Metrics Runtime::metrics() const {
  return impl_->metrics();
}

std::string Runtime::accounting_table() const {
  return format_accounting(metrics());
}

std::shared_ptr<SinkChannel> Runtime::release(const std::string& sink) {
  return impl_->release(sink);
}

void Runtime::adopt(const std::shared_ptr<SinkChannel>& channel) {
  if (!channel) return;
  std::lock_guard guard(impl_->lifecycle);
  if (impl_->running || impl_->stopped)
    throw StartError("sink '" + channel->name + "': adopt() comes before start()");
  const auto& sinks = impl_->pipeline.sinks;
  auto sc = std::find_if(sinks.begin(), sinks.end(),
                         [&](const SinkConfig& c) { return c.name == channel->name; });
  if (sc == sinks.end())
    throw StartError("sink '" + channel->name +
                     "': cannot adopt its channel: this pipeline has no sink of that name");
  if (std::string what = channel_config_differs(channel->config(), *sc); !what.empty())
    throw StartError("sink '" + channel->name + "': cannot adopt its channel: its " + what +
                     " differ from this pipeline's");
  for (const auto& c : impl_->to_adopt)
    if (c->name == channel->name)
      throw StartError("sink '" + channel->name + "': a channel of that name is adopted already");
  impl_->to_adopt.push_back(channel);
}

}  // namespace sluice::core
