#include <sluice/core/runtime.hpp>

#include <sluice/backoff.hpp>
#include <sluice/core/glob.hpp>
#include <sluice/core/owned_event.hpp>
#include <sluice/event.hpp>
#include <sluice/format.hpp>
#include <sluice/framework_events.hpp>
#include <sluice/json_check.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <functional>
#include <mutex>
#include <sstream>
#include <system_error>
#include <thread>

// The opaque handle of plugin.h: every instance the runtime creates is one.
struct sluice_host_context {
  virtual ~sluice_host_context() = default;
};

namespace sluice::core {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr std::string_view kSourceAttribute = "sluice-source";

int64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

const char* state_name(int s) {
  switch (s) {
    case SLUICE_STATE_CONNECTING:
      return "connecting";
    case SLUICE_STATE_UP:
      return "up";
    case SLUICE_STATE_DEGRADED:
      return "degraded";
    case SLUICE_STATE_DOWN:
      return "down";
    default:
      return "";
  }
}

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

std::string format_accounting(const Metrics& m) {
  std::ostringstream out;
  char line[256];
  snprintf(
      line, sizeof line, "%-16s %10s %9s %10s %8s %8s %8s %8s %8s %8s %8s %8s %8s %8s %8s %8s\n",
      "sink", "received", "recovered", "delivered", "queued", "inflight", "spooled", "deadlet",
      "abandon", "d.newest", "d.oldest", "d.reject", "d.shutdn", "d.spool", "lost", "balanced");
  out << line;
  for (const auto& s : m.sinks) {
    snprintf(line, sizeof line,
             "%-16s %10llu %9llu %10llu %8llu %8llu %8llu %8llu %8llu %8llu %8llu %8llu %8llu "
             "%8llu %8llu "
             "%8s\n",
             s.name.c_str(), (unsigned long long)s.received, (unsigned long long)s.recovered,
             (unsigned long long)s.delivered, (unsigned long long)s.queued,
             (unsigned long long)s.in_flight, (unsigned long long)s.spooled,
             (unsigned long long)s.dead_lettered, (unsigned long long)s.abandoned,
             (unsigned long long)s.dropped_newest, (unsigned long long)s.dropped_oldest,
             (unsigned long long)s.dropped_rejected, (unsigned long long)s.dropped_shutdown,
             (unsigned long long)s.dropped_spool_error, (unsigned long long)s.spool_lost,
             s.balanced() ? "yes" : "NO");
    out << line;
  }
  snprintf(line, sizeof line, "%-16s %10s %12s %10s %8s %8s\n", "source", "emitted", "parse_errors",
           "violations", "unrouted", "refused");
  out << line;
  for (const auto& s : m.sources) {
    snprintf(line, sizeof line, "%-16s %10llu %12llu %10llu %8llu %8llu\n", s.name.c_str(),
             (unsigned long long)s.emitted, (unsigned long long)s.parse_errors,
             (unsigned long long)s.contract_violations, (unsigned long long)s.unrouted,
             (unsigned long long)s.refused);
    out << line;
  }
  std::string text = out.str();
  if (!text.empty()) text.pop_back();
  return text;
}

struct CompiledRoute {
  std::string name;
  GlobList types;
  GlobList subjects;
  std::vector<std::pair<std::string, GlobList>> attributes;
  std::vector<uint32_t> sinks;  // indices into Impl::sinks
  bool filtered = false;

  bool matches(const sluice_event& e) const {
    if (!filtered) return true;
    if (!types.empty() && !types.match(to_view(e.type))) return false;
    if (!subjects.empty() && (!e.subject.data || !subjects.match(to_view(e.subject)))) return false;
    for (const auto& [key, globs] : attributes) {
      bool any = false;
      for (size_t i = 0; i < e.attribute_count && !any; ++i)
        any = to_view(e.attributes[i].key) == key && globs.match(to_view(e.attributes[i].value));
      if (!any) return false;
    }
    return true;
  }
};

}  // namespace

struct Instance : sluice_host_context {
  Runtime::Impl* rt = nullptr;
  std::string name;
  std::shared_ptr<const LoadedPlugin> plugin;
  void* handle = nullptr;
  bool started = false;
  std::atomic<int> state{-1};
  std::mutex metrics_mutex;
  std::map<std::string, int64_t> metrics;

  // Shutdown: the lifecycle call (stop, destroy) runs on a thread of its own so that a plugin
  // that never returns cannot hold the process. A call still running at its deadline stays
  // here, joined by the reaper if it ever returns.
  std::thread call_thread;
  bool stop_stuck = false;
  bool destroy_stuck = false;

  const sluice_plugin_descriptor& d() const { return plugin->descriptor(); }
};

struct Sink;

struct Source : Instance {
  SourceConfig config;
  std::vector<const CompiledRoute*> routes;
  std::atomic<bool> accepting{false};
  std::atomic<uint64_t> emitted{0}, parse_errors{0}, violations{0}, unrouted{0}, refused{0};
  RateLimit violation_log;
  sluice::EventIds ids;  // ids the core makes up for this source's events (random per process)
};

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
  Clock::time_point due;
  std::string reason;
  int32_t status = 0;

  explicit Batch(const BackoffPolicy& policy) : backoff(policy) {}
  // The views (and abi.events / abi.count) of `events`, after they were filled or shrunk.
  void point_views() {
    views.clear();
    views.reserve(events.size());
    for (const auto& e : events)
      views.push_back(e.view());
    abi.events = views.data();
    abi.count = views.size();
  }
};

struct Sink : Instance {
  SinkConfig config;
  std::unique_ptr<SinkQueue> queue;
  std::unique_ptr<DeadLetter> dead_letter;
  uint32_t max_in_flight = 1;

  std::mutex m;
  std::condition_variable work;                 // the dispatcher waits here
  std::condition_variable space;                // emitters blocked on a full queue wait here
  std::condition_variable idle;                 // stop() waits here for the drain
  std::vector<std::unique_ptr<Batch>> batches;  // handed out, waiting for a retry, or failed
  uint64_t next_batch_id = 1;
  Clock::time_point pending_since{};
  bool dispatcher_waiting = false;
  uint32_t blocked_emitters = 0;
  bool draining = false;  // flush partial batches at once
  bool halt = false;      // the dispatcher ends
  bool dispatcher_done = false;
  bool deliver_stuck = false;   // stop(): the dispatcher did not come back from deliver() in time
  bool abandoned_flag = false;  // stop() gave up on this sink: late completions are ignored
  std::thread dispatcher;
  // Batches a stuck sink still held when stop() gave up; kept (never freed before the plugin
  // lets go of them) because the plugin may still read them.
  std::vector<std::unique_ptr<Batch>> abandoned_batches;

  // Accounting (under m).
  uint64_t received = 0, delivered = 0, in_flight = 0, dead_lettered = 0;
  uint64_t dropped_newest = 0, dropped_oldest = 0, dropped_rejected = 0, dropped_shutdown = 0;
  uint64_t dropped_spool_error = 0;
  uint64_t abandoned = 0;
  uint64_t recovered = 0;        // the queue's backlog from an earlier run, found at start
  uint64_t spooled_at_stop = 0;  // batches in flight at stop that stay in the spool
  uint64_t spool_errors_unlogged = 0;
  RateLimit spool_error_log;
  uint64_t batch_count = 0, retries = 0;
  uint64_t drops_unlogged = 0;
  RateLimit drop_log;
  RateLimit retry_log;
  RateLimit contract_log;

  Batch* find_batch(uint64_t id) {
    for (auto& b : batches)
      if (b->id == id) return b.get();
    return nullptr;
  }
  void remove_batch(Batch* b) {
    in_flight -= b->events.size();
    batches.erase(
        std::find_if(batches.begin(), batches.end(), [&](const auto& p) { return p.get() == b; }));
    // A spool frees room once a batch's events are released: a blocked emitter may go on.
    if (blocked_emitters) space.notify_all();
  }
};

struct Runtime::Impl : std::enable_shared_from_this<Runtime::Impl> {
  PipelineConfig pipeline;
  PluginHost& plugins;
  Logger& log;
  RuntimeOptions options;
  sluice_host_api api{};

  std::vector<std::unique_ptr<Source>> sources;
  std::vector<std::unique_ptr<Sink>> sinks;
  std::vector<std::unique_ptr<CompiledRoute>> routes;

  std::atomic<bool> stopping{false};
  std::atomic<bool> stuck{false};  // stop() abandoned a plugin call
  std::atomic<bool> abort_now{false};
  std::atomic<int64_t> drain_deadline_ns{0};  // steady clock, valid while stopping
  bool running = false;
  bool started_ok = false;
  bool stopped = false;
  std::mutex lifecycle;

  std::thread metrics_thread;
  std::mutex metrics_mutex;
  std::condition_variable metrics_cv;
  bool metrics_stop = false;

  Impl(PipelineConfig p, PluginHost& h, Logger& l, RuntimeOptions o)
      : pipeline(std::move(p)), plugins(h), log(l), options(std::move(o)) {
    api.struct_size = sizeof api;
    api.api_major = plugins.api().major;
    api.api_minor = plugins.api().minor;
    api.log = &host_log;
    api.emit = &host_emit;
    api.report_state = &host_report_state;
    api.count_metric = &host_count_metric;
    api.complete_batch = &host_complete_batch;
    api.instance_name = &host_instance_name;
  }

  Clock::time_point drain_deadline() const {
    return Clock::time_point(Clock::duration(drain_deadline_ns.load()));
  }

  // ---- host API -------------------------------------------------------------------------
  static Instance* self(sluice_host_context* ctx) { return static_cast<Instance*>(ctx); }

  // Nothing thrown here may reach the plugin (plugin.h: no exception crosses the boundary);
  // what is caught is reported as well as a failing logger or allocator still allows.
  template <typename F>
  static void guarded(Instance* in, const char* call, F&& f) noexcept {
    try {
      f();
    } catch (const std::exception& e) {
      try {
        in->rt->log.error(in->name, std::string(call) + " failed in the host: " + e.what());
      } catch (...) {
      }
    } catch (...) {
      try {
        in->rt->log.error(in->name, std::string(call) + " failed in the host");
      } catch (...) {
      }
    }
  }

  static void host_log(sluice_host_context* ctx, sluice_log_level level, const char* message) {
    if (!ctx) return;
    Instance* in = self(ctx);
    guarded(in, "log", [&] {
      int l = std::clamp(static_cast<int>(level), 0, 4);
      in->rt->log.log(static_cast<LogLevel>(l), in->name, message ? message : "");
    });
  }

  static void host_report_state(sluice_host_context* ctx, sluice_state state, const char* detail) {
    if (!ctx) return;
    Instance* in = self(ctx);
    guarded(in, "report_state", [&] {
      int old = in->state.exchange(static_cast<int>(state));
      if (old == static_cast<int>(state)) return;
      std::string m = std::string("state: ") + state_name(state);
      if (detail && *detail) m += std::string(" (") + detail + ")";
      bool bad = state == SLUICE_STATE_DEGRADED || state == SLUICE_STATE_DOWN;
      in->rt->log.log(bad ? LogLevel::warn : LogLevel::info, in->name, m);
    });
  }

  static void host_count_metric(sluice_host_context* ctx, const char* name, int64_t delta) {
    if (!ctx || !name) return;
    Instance* in = self(ctx);
    guarded(in, "count_metric", [&] {
      std::lock_guard lock(in->metrics_mutex);
      in->metrics[name] += delta;
    });
  }

  static sluice_status host_emit(sluice_host_context* ctx, const sluice_event* events,
                                 size_t count) {
    if (!ctx) return SLUICE_INVALID;
    Instance* in = self(ctx);
    auto* src = dynamic_cast<Source*>(in);
    if (!src) {
      guarded(in, "emit", [&] { in->rt->log.error(in->name, "a sink called emit(); ignored"); });
      return SLUICE_INVALID;
    }
    if (count && !events) return SLUICE_INVALID;
    // Queue I/O errors are counted inside (dropped_spool_error); this is the last resort (out
    // of memory, say).
    sluice_status status = SLUICE_ERROR;
    guarded(in, "emit", [&] { status = in->rt->emit(*src, events, count); });
    return status;
  }

  // The name never changes while the instance lives, so the pointer stays valid that long.
  static const char* host_instance_name(sluice_host_context* ctx) {
    return ctx ? self(ctx)->name.c_str() : "";
  }

  static void host_complete_batch(sluice_host_context* ctx, uint64_t batch_id,
                                  const sluice_delivery_result* result) {
    if (!ctx) return;
    Instance* in = self(ctx);
    auto* sink = dynamic_cast<Sink*>(in);
    if (!sink) return;
    guarded(in, "complete_batch", [&] { in->rt->complete(*sink, batch_id, result); });
  }

  // ---- emit path ------------------------------------------------------------------------
  sluice_status emit(Source& src, const sluice_event* events, size_t count);
  EventPtr convert(Source& src, const sluice_event& e, int64_t now_ns);
  void push(Sink& sink, std::vector<EventPtr>& events);

  // ---- delivery -------------------------------------------------------------------------
  void dispatch(Sink& sink);
  void deliver(Sink& sink, Batch& b);
  void complete(Sink& sink, uint64_t id, const sluice_delivery_result* r);
  void complete_per_event(Sink& sink, Batch* b, const sluice_delivery_result& r);  // under s.m
  void fail(Sink& sink, std::unique_ptr<Batch> b);  // dead-letter; call without the lock
  bool batch_ready(const Sink& s, Clock::time_point now) const {
    return s.queue->events() >= s.config.batch.max_events ||
           s.queue->bytes() >= s.config.batch.max_bytes || s.draining || s.blocked_emitters ||
           now >= s.pending_since + s.config.batch.max_delay;
  }

  // ---- lifecycle ------------------------------------------------------------------------
  void build();
  void create(Instance& in, const std::string& plugin, const nlohmann::json& options,
              bool want_sink, const char* what);
  void start();
  void stop();
  void teardown(Clock::time_point until);
  void reap();

  // A plugin lifecycle call on a thread of its own (Instance::call_thread).
  struct Call {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
  };
  std::shared_ptr<Call> begin_call(Instance& in, std::function<void()> fn);
  // Waits for the call until `until`; false when it is still running (then abandoned).
  static bool wait_call(Instance& in, Call* call, Clock::time_point until);
  // Joins the sink's dispatcher if it finishes by `until`, else marks its deliver stuck.
  static void join_dispatcher(Sink& s, Clock::time_point until);
  void metrics_loop();
  Metrics metrics() const;
};

// ==== emit ===================================================================================

EventPtr Runtime::Impl::convert(Source& src, const sluice_event& e, int64_t now_ns) {
  const sluice_attribute source_attr{to_str(kSourceAttribute), to_str(src.config.name)};
  EventParts p;
  p.id = e.id;
  p.source = e.source;
  p.type = e.type;
  p.subject = e.subject;
  p.time_unix_ns = e.time_unix_ns ? e.time_unix_ns : now_ns;
  p.attributes = e.attributes;
  p.attribute_count = e.attributes ? e.attribute_count : 0;
  p.skip_key = kSourceAttribute;
  p.data = e.data;
  p.extra_attributes = &source_attr;
  p.extra_attribute_count = 1;

  const char* missing = !e.id.data       ? "id"
                        : !e.source.data ? "source"
                        : !e.type.data   ? "type"
                                         : nullptr;
  if (!missing) {
    if (!e.data.data || json_valid(to_view(e.data))) return EventPtr::make(p);
  }

  // Never dropped: the event becomes sluice.parse-error carrying the raw data as text.
  src.parse_errors.fetch_add(1, std::memory_order_relaxed);
  std::string error;
  std::string fallback_id, fallback_source;
  if (missing) {
    src.violations.fetch_add(1, std::memory_order_relaxed);
    error = std::string("event without ") + missing + " (plugin contract violation)";
    uint64_t suppressed = 0;
    if (src.violation_log.allow(&suppressed))
      log.error(src.name, "emitted an " + error + "; delivered as sluice.parse-error" +
                              (suppressed ? " (" + std::to_string(suppressed) +
                                                " more since the last message)"
                                          : std::string()));
    if (!e.id.data) {
      fallback_id = src.ids.next("sluice-" + src.name);
      p.id = to_str(fallback_id);
    }
    if (!e.source.data) {
      fallback_source = "sluice://" + src.name;
      p.source = to_str(fallback_source);
    }
  } else {
    error = "data is not valid JSON";
  }
  // The one shape of sluice.parse-error (sdk framework_events.hpp); bad UTF-8 -> U+FFFD.
  const std::string data = sluice::framework_events::parse_error_data(error, to_view(e.data));
  p.data = to_str(data);
  const std::string original_type = e.type.data ? std::string(to_view(e.type)) : std::string();
  const sluice_attribute extra[] = {
      source_attr,
      {to_str("sluice-error"), to_str(error)},
      {to_str("sluice-original-type"), to_str(original_type)},
  };
  p.extra_attributes = extra;
  p.extra_attribute_count = e.type.data ? 3 : 2;
  p.type = to_str(sluice::event_types::parse_error);
  return EventPtr::make(p);
}

sluice_status Runtime::Impl::emit(Source& src, const sluice_event* events, size_t count) {
  if (!src.accepting.load(std::memory_order_acquire)) {
    src.refused.fetch_add(count, std::memory_order_relaxed);
    return SLUICE_STOPPED;
  }
  // Frozen array (plugin.h): a struct_size other than the 1.0 size means the plugin steps the
  // array differently from the host; nothing in it can be read safely.
  if (std::string bad = check_event_array(events, count); !bad.empty()) {
    src.violations.fetch_add(count, std::memory_order_relaxed);
    uint64_t suppressed = 0;
    if (src.violation_log.allow(&suppressed))
      log.error(src.name, "emit refused (plugin contract violation): " + bad +
                              (suppressed ? " (" + std::to_string(suppressed) +
                                                " more since the last message)"
                                          : std::string()));
    return SLUICE_INVALID;
  }
  // Per-thread scratch: one list per sink, so each sink's lock is taken once per call.
  thread_local std::vector<std::vector<EventPtr>> per_sink;
  thread_local std::vector<uint32_t> targets;
  if (per_sink.size() < sinks.size()) per_sink.resize(sinks.size());

  const int64_t now_ns = realtime_ns();
  uint64_t unrouted = 0;
  for (size_t i = 0; i < count; ++i) {
    EventPtr ev = convert(src, events[i], now_ns);
    targets.clear();
    for (const CompiledRoute* r : src.routes) {
      if (!r->matches(ev.view())) continue;
      for (uint32_t s : r->sinks)
        if (std::find(targets.begin(), targets.end(), s) == targets.end()) targets.push_back(s);
    }
    if (targets.empty()) {
      ++unrouted;
      continue;
    }
    for (size_t t = 0; t + 1 < targets.size(); ++t)
      per_sink[targets[t]].push_back(ev);
    per_sink[targets.back()].push_back(std::move(ev));
  }
  src.emitted.fetch_add(count, std::memory_order_relaxed);
  if (unrouted) src.unrouted.fetch_add(unrouted, std::memory_order_relaxed);
  for (size_t s = 0; s < sinks.size(); ++s) {
    if (per_sink[s].empty()) continue;
    push(*sinks[s], per_sink[s]);
    per_sink[s].clear();
  }
  return stopping.load(std::memory_order_relaxed) ? SLUICE_STOPPED : SLUICE_OK;
}

void Runtime::Impl::push(Sink& s, std::vector<EventPtr>& events) {
  uint64_t newly_dropped = 0;
  uint64_t spool_errors_to_log = 0;
  std::string spool_error_text;
  QueuePolicy policy = s.config.queue.policy;
  // A full spool: its own `overflow` says what happens (drop_oldest is done by the spool).
  if (policy == QueuePolicy::spool)
    policy = s.config.spool.overflow == SpoolOverflow::block ? QueuePolicy::block
                                                             : QueuePolicy::drop_newest;
  std::unique_lock lock(s.m);
  s.received += events.size();
  bool wake = false;
  for (EventPtr& ev : events) {
    if (s.queue->full(ev.bytes())) {
      if (policy == QueuePolicy::block) {
        // Back-pressure: wait for room. While stopping, only until the drain deadline.
        ++s.blocked_emitters;
        while (s.queue->full(ev.bytes()) && !abort_now.load()) {
          if (s.dispatcher_waiting) s.work.notify_one();
          if (stopping.load())
            s.space.wait_until(lock, drain_deadline());
          else
            s.space.wait(lock);
          if (stopping.load() && Clock::now() >= drain_deadline()) break;
        }
        --s.blocked_emitters;
        if (s.queue->full(ev.bytes())) {
          ++s.dropped_shutdown;  // the drain deadline passed with the queue still full
          continue;
        }
      } else if (policy == QueuePolicy::drop_oldest) {
        while (s.queue->full(ev.bytes()) && s.queue->pop()) {
          ++s.dropped_oldest;
          ++newly_dropped;
        }
      } else {  // drop_newest (and a spool that is full)
        ++s.dropped_newest;
        ++newly_dropped;
        continue;
      }
    }
    if (s.queue->events() == 0) {
      s.pending_since = Clock::now();
      wake = true;
    }
    s.queue->push(std::move(ev));
    SinkQueue::Losses lost = s.queue->take_losses();
    s.dropped_newest += lost.dropped_newest;
    s.dropped_oldest += lost.dropped_oldest;
    newly_dropped += lost.dropped_newest + lost.dropped_oldest;
    if (lost.spool_error) {
      s.dropped_spool_error += lost.spool_error;
      s.spool_errors_unlogged += lost.spool_error;
      if (s.spool_error_log.allow()) {
        const uint64_t n = std::exchange(s.spool_errors_unlogged, 0);
        spool_error_text = lost.error;
        spool_errors_to_log += n;
      }
    }
  }
  if (s.dispatcher_waiting && (wake || s.queue->events() >= s.config.batch.max_events ||
                               s.queue->bytes() >= s.config.batch.max_bytes))
    s.work.notify_one();
  if (spool_errors_to_log) {
    lock.unlock();
    log.error(s.name, "spool write failed (" + spool_error_text + "): dropped " +
                          std::to_string(spool_errors_to_log) +
                          " events since the last message, counted as dropped_spool_error");
    lock.lock();
  }
  if (!newly_dropped) return;
  s.drops_unlogged += newly_dropped;
  if (!s.drop_log.allow()) return;
  uint64_t n = std::exchange(s.drops_unlogged, 0);
  lock.unlock();
  if (s.config.queue.policy == QueuePolicy::spool) {
    const SpoolOverflow o = s.config.spool.overflow;
    log.warn(s.name, "spool full (" + std::to_string(s.config.spool.max_bytes) +
                         " bytes), overflow " +
                         (o == SpoolOverflow::drop_oldest ? "drop_oldest"
                          : o == SpoolOverflow::block     ? "block"
                                                          : "drop_newest") +
                         ": dropped " + std::to_string(n) + " events since the last message");
    return;
  }
  log.warn(s.name, "queue full (" + std::to_string(s.config.queue.max_events) + " events / " +
                       std::to_string(s.config.queue.max_bytes) + " bytes), policy " +
                       policy_name(policy) + ": dropped " + std::to_string(n) +
                       " events since the last message");
}

// ==== delivery ===============================================================================

void Runtime::Impl::deliver(Sink& s, Batch& b) {
  b.abi.attempt = b.attempt;
  s.d().deliver(s.handle, &b.abi);  // may complete the batch (and free it) before returning
}

void Runtime::Impl::dispatch(Sink& s) {
  std::unique_lock lock(s.m);
  for (;;) {
    const auto now = Clock::now();
    // 1. Failed batches go to the dead-letter writer (outside the lock: it does I/O).
    auto failed = std::find_if(s.batches.begin(), s.batches.end(),
                               [](const auto& b) { return b->state == Batch::State::failed; });
    if (failed != s.batches.end()) {
      // Its events stay counted in_flight until fail() has counted them elsewhere.
      std::unique_ptr<Batch> b = std::move(*failed);
      s.batches.erase(failed);
      lock.unlock();
      fail(s, std::move(b));
      lock.lock();
      continue;
    }
    if (s.halt) break;
    // 2. Retries that are due.
    Batch* retry = nullptr;
    Clock::time_point next_due = Clock::time_point::max();
    for (auto& b : s.batches) {
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
      ++s.retries;
      lock.unlock();
      deliver(s, *retry);
      lock.lock();
      continue;
    }
    // 3. A new batch.
    const bool slot = s.batches.size() < s.max_in_flight;
    if (slot && s.queue->events() && batch_ready(s, now)) {
      auto b = std::make_unique<Batch>(s.config.retry.backoff);
      b->id = s.next_batch_id++;
      uint64_t bytes = 0;
      const auto max_events = std::max<uint64_t>(1, s.config.batch.max_events);
      while (b->events.size() < max_events && s.queue->events()) {
        EventPtr e = s.queue->pop();
        bytes += e.bytes();
        b->events.push_back(std::move(e));
        if (bytes >= s.config.batch.max_bytes) break;
      }
      b->abi.struct_size = sizeof(sluice_batch);
      b->abi.id = b->id;
      b->point_views();
      b->first_try = now;
      s.in_flight += b->events.size();
      ++s.batch_count;
      if (s.queue->events()) s.pending_since = now;
      if (s.blocked_emitters) s.space.notify_all();
      Batch* raw = b.get();
      s.batches.push_back(std::move(b));
      lock.unlock();
      deliver(s, *raw);
      lock.lock();
      continue;
    }
    // 4. Nothing to do now: wait for work, the batch delay, or the next retry.
    if (s.queue->events() == 0 && s.batches.empty()) s.idle.notify_all();
    Clock::time_point until = next_due;
    if (slot && s.queue->events())
      until = std::min(until, s.pending_since + s.config.batch.max_delay);
    s.dispatcher_waiting = true;
    if (until == Clock::time_point::max())
      s.work.wait(lock);
    else
      s.work.wait_until(lock, until);
    s.dispatcher_waiting = false;
  }
  s.dispatcher_done = true;
  s.idle.notify_all();
}

void Runtime::Impl::complete(Sink& s, uint64_t id, const sluice_delivery_result* r) {
  std::unique_lock lock(s.m);
  Batch* b = s.find_batch(id);
  if (!b && s.abandoned_flag) return;  // counted as abandoned already; too late to count again
  if (!b || b->state != Batch::State::at_sink) {
    if (s.contract_log.allow())
      log.error(s.name, "completed batch " + std::to_string(id) +
                            ", which it does not hold (completed twice?); ignored");
    return;
  }
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
    complete_per_event(s, b, *r);
    s.work.notify_one();
    return;
  }
  sluice_delivery_code code = r ? r->code : SLUICE_DELIVERY_REJECT;
  // A peer's answer may echo what it was sent (an Authorization header): the reason goes to
  // the log and the dead-letter file only with the secrets hidden.
  std::string reason = r && r->reason.data ? log.redact(to_view(r->reason)) : std::string();
  if (!r) {
    if (s.contract_log.allow())
      log.error(s.name, "answered batch " + std::to_string(id) + " with " + unreadable +
                            " (plugin contract violation); dead-lettered");
    reason = "invalid delivery result: " + unreadable;
  }
  if (code == SLUICE_DELIVERY_OK) {
    s.delivered += b->events.size();
    s.remove_batch(b);
  } else if (code == SLUICE_DELIVERY_RETRY) {
    const auto now = Clock::now();
    const auto& retry = s.config.retry;
    const bool out_of_attempts = retry.max_attempts && b->attempt >= retry.max_attempts;
    const bool out_of_time = retry.max_elapsed.count() && now - b->first_try >= retry.max_elapsed;
    if (out_of_attempts || out_of_time) {
      b->state = Batch::State::failed;
      b->reason = "gave up after " + std::to_string(b->attempt) + " attempt(s)" +
                  (reason.empty() ? std::string() : ": " + reason);
      b->status = r->status;
    } else {
      milliseconds delay = r->retry_after_ms ? milliseconds(r->retry_after_ms) : b->backoff.next();
      b->state = Batch::State::waiting;
      b->due = now + delay;
      if (s.retry_log.allow())
        log.warn(s.name, "batch of " + std::to_string(b->events.size()) + " events failed (" +
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
  }
  s.work.notify_one();
}

// Per-event answers (1.1, checked): OK events are delivered and released at once; REJECT ones,
// and RETRY ones once the retry limits are reached, go to the dead-letter writer in batches of
// one reason and status each; the batch shrinks to the RETRY ones, retried after the longest
// retry_after_ms among them or the back-off.
void Runtime::Impl::complete_per_event(Sink& s, Batch* b, const sluice_delivery_result& r) {
  const auto now = Clock::now();
  const auto& retry = s.config.retry;
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
    const std::string reason = e.reason.data ? log.redact(to_view(e.reason)) : std::string();
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
      auto f = std::make_unique<Batch>(s.config.retry.backoff);
      f->id = s.next_batch_id++;
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
  s.batches.reserve(s.batches.size() + failed.size());
  // Phase two: moves only.
  for (size_t i = 0; i < n; ++i) {
    if (where[i] == kAgain)
      again.push_back(std::move(b->events[i]));
    else if (where[i] != kDelivered)
      failed[where[i]]->events.push_back(std::move(b->events[i]));
  }
  s.delivered += delivered;
  s.in_flight -= delivered;
  // The failed ones stay counted in_flight until fail() has counted them elsewhere.
  for (auto& f : failed) {
    f->point_views();
    s.batches.push_back(std::move(f));
  }
  // Releases the delivered events (a spool acknowledges its records once all are released).
  b->events = std::move(again);
  if (delivered && s.blocked_emitters) s.space.notify_all();
  if (b->events.empty()) {
    s.remove_batch(b);
    return;
  }
  b->point_views();
  const milliseconds delay = retry_after_ms ? milliseconds(retry_after_ms) : b->backoff.next();
  b->state = Batch::State::waiting;
  b->due = now + delay;
  if (s.retry_log.allow())
    log.warn(s.name, std::to_string(b->events.size()) + " of " + std::to_string(n) +
                         " events of a batch failed (" +
                         (retry_reason.empty() ? std::string("no reason given") : retry_reason) +
                         "); attempt " + std::to_string(b->attempt + 1) + " for those in " +
                         std::to_string(delay.count()) + " ms");
}

void Runtime::Impl::fail(Sink& s, std::unique_ptr<Batch> b) {
  bool stored = false;
  try {
    stored = s.dead_letter->write(b->views.data(), b->views.size(), b->reason, b->status,
                                  b->attempt, s.name);
  } catch (const std::exception& e) {
    log.error(s.name, std::string("dead-letter write failed: ") + e.what());
  }
  const uint64_t n = b->events.size();
  b.reset();  // release the events before waking anyone (a spool acknowledges them then)
  std::lock_guard lock(s.m);
  s.in_flight -= n;
  (stored ? s.dead_lettered : s.dropped_rejected) += n;
  if (s.blocked_emitters) s.space.notify_all();
  s.work.notify_one();
}

// ==== lifecycle ==============================================================================

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
  const std::string options_json = opts.dump();
  const char* error = nullptr;
  void* handle = nullptr;
  sluice_status st = in.d().create(&api, &in, options_json.c_str(), &handle, &error);
  if (st != SLUICE_OK || !handle)
    throw StartError(std::string(what) + " '" + in.name + "' (plugin " + plugin_name +
                     "): create failed: " +
                     (error             ? error
                      : st == SLUICE_OK ? "no instance returned"
                                        : "no reason given"));
  in.handle = handle;
}

void Runtime::Impl::build() {
  std::map<std::string, uint32_t> sink_index;
  for (const auto& sc : pipeline.sinks) {
    auto s = std::make_unique<Sink>();
    s->rt = this;
    s->name = sc.name;
    s->config = sc;
    if (sc.queue.policy == QueuePolicy::spool) {
      if (!options.spool_queue_factory)
        throw StartError("sink '" + sc.name +
                         "': queue policy 'spool' is not available in this build yet; use "
                         "block, drop_newest or drop_oldest");
      s->queue = options.spool_queue_factory(sc);
      s->recovered = s->queue->recovered();
    } else {
      s->queue = std::make_unique<MemoryQueue>(sc.queue.max_events, sc.queue.max_bytes);
    }
    if (!sc.dead_letter.path.empty() && options.dead_letter_factory)
      s->dead_letter = options.dead_letter_factory(sc);
    if (!s->dead_letter) {
      if (!sc.dead_letter.path.empty())
        log.warn(sc.name,
                 "dead_letter.path is set but this build has no dead-letter writer; "
                 "failed batches are logged and counted as dropped_rejected");
      s->dead_letter = std::make_unique<LogDeadLetter>(log);
    }
    sink_index[sc.name] = static_cast<uint32_t>(sinks.size());
    sinks.push_back(std::move(s));
  }
  std::map<std::string, Source*> source_index;
  for (const auto& sc : pipeline.sources) {
    auto s = std::make_unique<Source>();
    s->rt = this;
    s->name = sc.name;
    s->config = sc;
    source_index[sc.name] = s.get();
    sources.push_back(std::move(s));
  }
  for (const auto& rc : pipeline.routes) {
    auto r = std::make_unique<CompiledRoute>();
    r->name = rc.name;
    r->types = GlobList(rc.filter.types);
    r->subjects = GlobList(rc.filter.subjects);
    for (const auto& [k, v] : rc.filter.attributes)
      r->attributes.emplace_back(k, GlobList(v));
    r->filtered = !rc.filter.empty();
    for (const auto& to : rc.to) {
      auto it = sink_index.find(to);
      if (it == sink_index.end())
        throw StartError("route '" + rc.name + "': no sink named '" + to + "'");
      r->sinks.push_back(it->second);
    }
    for (const auto& from : rc.from) {
      auto it = source_index.find(from);
      if (it == source_index.end())
        throw StartError("route '" + rc.name + "': no source named '" + from + "'");
      it->second->routes.push_back(r.get());
    }
    routes.push_back(std::move(r));
  }
  for (auto& s : sinks)
    create(*s, s->config.plugin, s->config.options, true, "sink");
  for (auto& s : sources)
    create(*s, s->config.plugin, s->config.options, false, "source");
  for (const auto& s : sources)
    if (s->routes.empty()) log.warn(s->name, "no route takes events from this source");
}

void Runtime::Impl::start() {
  std::unique_lock guard(lifecycle);
  if (running || stopped) throw StartError("the runtime can start only once");
  running = true;
  try {
    build();
    for (auto& s : sinks) {
      const char* error = nullptr;
      if (s->d().start(s->handle, &error) != SLUICE_OK)
        throw StartError("sink '" + s->name + "' (plugin " + s->config.plugin +
                         "): start failed: " + (error ? error : "no reason given"));
      s->started = true;
      s->max_in_flight = s->d().max_in_flight ? std::max(1u, s->d().max_in_flight(s->handle)) : 1;
      s->dispatcher = std::thread([this, sink = s.get()] { dispatch(*sink); });
    }
    for (auto& s : sources) {
      s->accepting = true;
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
                       std::to_string(sinks.size()) + " sink(s), " + std::to_string(routes.size()) +
                       " route(s)");
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

void Runtime::Impl::join_dispatcher(Sink& s, Clock::time_point until) {
  std::unique_lock lock(s.m);
  const bool done = s.idle.wait_until(lock, until, [&] { return s.dispatcher_done; });
  lock.unlock();
  if (done)
    s.dispatcher.join();
  else
    s.deliver_stuck = true;
}

bool Runtime::Impl::wait_call(Instance& in, Call* call, Clock::time_point until) {
  if (!call) return true;
  std::unique_lock lock(call->m);
  if (!call->cv.wait_until(lock, until, [call] { return call->done; })) return false;
  lock.unlock();
  if (in.call_thread.joinable()) in.call_thread.join();
  return true;
}

namespace {
// How long past the drain deadline shutdown waits for plugins that do not return: sources'
// stop(), then sinks' stop() and their deliver(), then destroy(). All within the documented
// drain_timeout + 1 s.
constexpr milliseconds kSourceStopGrace{250};
constexpr milliseconds kSinkStopGrace{700};
constexpr milliseconds kDestroyGrace{900};
}  // namespace

void Runtime::Impl::stop() {
  std::lock_guard guard(lifecycle);
  if (!running || stopped) return;
  stopped = true;
  const auto deadline = Clock::now() + pipeline.drain_timeout;
  drain_deadline_ns = deadline.time_since_epoch().count();
  stopping = true;
  {
    std::lock_guard lock(metrics_mutex);
    metrics_stop = true;
  }
  metrics_cv.notify_all();
  if (metrics_thread.joinable()) metrics_thread.join();

  // Emitters blocked on a full queue now wait only until the drain deadline.
  for (auto& s : sinks) {
    std::lock_guard lock(s->m);
    s->space.notify_all();
  }
  // 1. Sources, all at once: stop() returns when they no longer call the host. One that does
  //    not return in time is abandoned; what it emits from now on is refused and counted.
  {
    std::vector<std::pair<Source*, std::shared_ptr<Call>>> calls;
    for (auto& s : sources)
      if (s->started)
        calls.emplace_back(s.get(),
                           begin_call(*s, [src = s.get()] { src->d().stop(src->handle); }));
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
  // 2. Drain: flush partial batches, wait until every queue is empty or the deadline passes.
  for (auto& s : sinks) {
    std::unique_lock lock(s->m);
    s->draining = true;
    s->work.notify_one();
    while (!abort_now && (s->queue->events() || !s->batches.empty()) && s->dispatcher.joinable()) {
      if (s->idle.wait_until(lock, std::min(deadline, Clock::now() + milliseconds(100))) ==
              std::cv_status::timeout &&
          Clock::now() >= deadline)
        break;
    }
  }
  // 3. Sinks: the dispatchers hand out nothing more; stop the plugins, all at once (which also
  //    ends a deliver() still running, and after which they call us no more); end the
  //    dispatchers. A sink whose stop() or deliver() does not return in time is abandoned.
  const auto sinks_until = deadline + kSinkStopGrace;
  {
    std::vector<std::pair<Sink*, std::shared_ptr<Call>>> calls;
    for (auto& s : sinks) {
      {
        std::lock_guard lock(s->m);
        s->halt = true;
        s->space.notify_all();
      }
      s->work.notify_one();
      if (s->started)
        calls.emplace_back(s.get(),
                           begin_call(*s, [sink = s.get()] { sink->d().stop(sink->handle); }));
    }
    for (auto& [sink, call] : calls)
      sink->stop_stuck = !wait_call(*sink, call.get(), sinks_until);
    for (auto& s : sinks) {
      if (s->dispatcher.joinable()) join_dispatcher(*s, sinks_until);
    }
  }
  // 4. Count what is left. Failed batches still go to the dead-letter writer. What a stuck
  //    sink holds is counted as abandoned (or stays in the spool): it may yet be delivered.
  for (auto& s : sinks) {
    std::vector<std::unique_ptr<Batch>> failed;
    uint64_t left_queue = 0, left_flight = 0, left_spool = 0, held = 0;
    const bool sink_stuck = s->stop_stuck || s->deliver_stuck;
    {
      std::lock_guard lock(s->m);
      if (sink_stuck) s->abandoned_flag = true;
      for (auto& b : s->batches) {
        const uint64_t n = b->events.size();
        if (b->state == Batch::State::failed) {
          failed.push_back(std::move(b));
        } else if (sink_stuck && b->state == Batch::State::at_sink) {
          held += n;
          s->in_flight -= n;
          s->abandoned_batches.push_back(std::move(b));
        } else {
          left_flight += n;
          s->in_flight -= n;
        }
      }
      s->batches.clear();
      if (s->queue->durable()) {
        // Batches in flight were not acknowledged: they stay on disk and are sent again at the
        // next start, like what is still queued (a stuck sink's too).
        s->spooled_at_stop += left_flight + held;
        left_spool = s->queue->events() + left_flight + held;
        left_flight = 0;
      } else {
        while (s->queue->pop())
          ++left_queue;
        s->abandoned += held;
      }
      s->dropped_shutdown += left_queue + left_flight;
    }
    for (auto& b : failed)
      fail(*s, std::move(b));
    if (sink_stuck) {
      const char* where = s->stop_stuck && s->deliver_stuck ? "stop() and deliver()"
                          : s->stop_stuck                   ? "stop()"
                                                            : "deliver()";
      log.error(s->name, std::string("sink is stuck: it did not return from ") + where +
                             " within drain_timeout; abandoned with " + std::to_string(held) +
                             " events it held" +
                             (s->queue->durable() ? " (they stay in the spool)"
                                                  : " (counted as abandoned: they may or may not "
                                                    "have been delivered)"));
    }
    if (left_queue + left_flight)
      log.warn(s->name, "stopped with " + std::to_string(left_queue + left_flight) +
                            " events undelivered (" + std::to_string(left_queue) + " queued, " +
                            std::to_string(left_flight) +
                            " in flight); counted as dropped_shutdown");
    if (left_spool)
      log.info(s->name, std::to_string(left_spool) + " events stay in the spool for the next run");
  }
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
  for (auto& s : sinks)
    any_stuck = any_stuck || s->stop_stuck || s->deliver_stuck || s->destroy_stuck;
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
  for (auto& s : sinks) {
    if (s->dispatcher.joinable() && !s->deliver_stuck) {  // start failed half-way
      {
        std::lock_guard lock(s->m);
        s->halt = true;
      }
      s->work.notify_one();
      join_dispatcher(*s, until);
    }
  }
  // destroy() of every instance that is not stuck, all at once, bounded like stop().
  std::vector<std::pair<Instance*, std::shared_ptr<Call>>> calls;
  auto destroy = [&](Instance& in, bool stuck_now) {
    if (!in.handle || stuck_now) return;
    void* handle = std::exchange(in.handle, nullptr);
    calls.emplace_back(&in, begin_call(in, [d = &in.d(), handle] { d->destroy(handle); }));
  };
  for (auto& s : sources)
    destroy(*s, s->stop_stuck);
  for (auto& s : sinks)
    destroy(*s, s->stop_stuck || s->deliver_stuck);
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
  for (auto& s : sinks) {
    finish(*s);
    if (s->dispatcher.joinable()) s->dispatcher.join();
    if (s->handle) s->d().destroy(std::exchange(s->handle, nullptr));
  }
}

void Runtime::Impl::metrics_loop() {
  std::unique_lock lock(metrics_mutex);
  while (!metrics_cv.wait_for(lock, pipeline.metrics.interval, [this] { return metrics_stop; })) {
    lock.unlock();
    Metrics m = metrics();
    std::string line = "metrics:";
    for (const auto& s : m.sources)
      line += " source " + s.name + " emitted=" + std::to_string(s.emitted) +
              " parse_errors=" + std::to_string(s.parse_errors) + ";";
    for (const auto& s : m.sinks)
      line += " sink " + s.name + " received=" + std::to_string(s.received) +
              " recovered=" + std::to_string(s.recovered) +
              " delivered=" + std::to_string(s.delivered) +
              " queued=" + std::to_string(s.queued + s.in_flight) +
              " spooled=" + std::to_string(s.spooled) +
              " dead_lettered=" + std::to_string(s.dead_lettered) +
              " dropped=" + std::to_string(s.dropped()) +
              (s.spool_lost ? " spool_lost=" + std::to_string(s.spool_lost) : std::string()) + ";";
    if (!line.empty() && line.back() == ';') line.pop_back();
    log.info("core", line);
    lock.lock();
  }
}

Metrics Runtime::Impl::metrics() const {
  Metrics m;
  for (const auto& s : sources) {
    SourceMetrics x;
    x.name = s->name;
    x.emitted = s->emitted.load();
    x.parse_errors = s->parse_errors.load();
    x.contract_violations = s->violations.load();
    x.unrouted = s->unrouted.load();
    x.refused = s->refused.load();
    x.state = state_name(s->state.load());
    m.sources.push_back(std::move(x));
  }
  for (const auto& s : sinks) {
    SinkMetrics x;
    x.name = s->name;
    {
      std::lock_guard lock(s->m);
      x.received = s->received;
      x.delivered = s->delivered;
      x.recovered = s->recovered;
      x.spooled = s->queue->spooled();
      x.queued = s->queue->events() - x.spooled;
      x.spooled += s->spooled_at_stop;
      x.in_flight = s->in_flight;
      x.dead_lettered = s->dead_lettered;
      x.abandoned = s->abandoned;
      x.dropped_newest = s->dropped_newest;
      x.dropped_oldest = s->dropped_oldest;
      x.dropped_rejected = s->dropped_rejected;
      x.dropped_shutdown = s->dropped_shutdown;
      x.dropped_spool_error = s->dropped_spool_error;
      x.spool_lost = s->queue->lost();
      x.batches = s->batch_count;
      x.retries = s->retries;
    }
    x.state = state_name(s->state.load());
    m.sinks.push_back(std::move(x));
  }
  auto add_plugin = [&](Instance& in) {
    std::lock_guard lock(in.metrics_mutex);
    for (const auto& [k, v] : in.metrics)
      m.plugin[in.name + "." + k] = v;
  };
  for (const auto& s : sources)
    add_plugin(*s);
  for (const auto& s : sinks)
    add_plugin(*s);
  return m;
}

// ==== public face ============================================================================

std::map<std::string, int64_t> Metrics::flat() const {
  std::map<std::string, int64_t> out;
  for (const auto& s : sources) {
    const std::string p = "source." + s.name + ".";
    out[p + "emitted"] = s.emitted;
    out[p + "parse_errors"] = s.parse_errors;
    out[p + "contract_violations"] = s.contract_violations;
    out[p + "unrouted"] = s.unrouted;
    out[p + "refused"] = s.refused;
  }
  for (const auto& s : sinks) {
    const std::string p = "sink." + s.name + ".";
    out[p + "received"] = s.received;
    out[p + "recovered"] = s.recovered;
    out[p + "delivered"] = s.delivered;
    out[p + "queued"] = s.queued;
    out[p + "in_flight"] = s.in_flight;
    out[p + "spooled"] = s.spooled;
    out[p + "dead_lettered"] = s.dead_lettered;
    out[p + "abandoned"] = s.abandoned;
    out[p + "dropped.newest"] = s.dropped_newest;
    out[p + "dropped.oldest"] = s.dropped_oldest;
    out[p + "dropped.rejected"] = s.dropped_rejected;
    out[p + "dropped.shutdown"] = s.dropped_shutdown;
    out[p + "dropped.spool_error"] = s.dropped_spool_error;
    out[p + "spool_lost"] = s.spool_lost;
    out[p + "batches"] = s.batches;
    out[p + "retries"] = s.retries;
  }
  for (const auto& [k, v] : plugin)
    out["plugin." + k] = v;
  return out;
}

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
  impl_->abort_now = true;
  for (auto& s : impl_->sinks) {
    std::lock_guard lock(s->m);
    s->space.notify_all();
    s->idle.notify_all();
  }
}

void Runtime::reopen() {
  // Not while starting or stopping (a SIGHUP during shutdown must not race the teardown).
  std::lock_guard guard(impl_->lifecycle);
  if (!impl_->running || impl_->stopped) return;
  for (auto& s : impl_->sinks) {
    if (s->handle && s->d().reopen) {
      const char* error = nullptr;
      if (s->d().reopen(s->handle, &error) != SLUICE_OK)
        impl_->log.error(s->name, std::string("reopen failed: ") + (error ? error : "?"));
      else
        impl_->log.info(s->name, "reopened");
    }
    s->dead_letter->reopen();
  }
}

Metrics Runtime::metrics() const {
  return impl_->metrics();
}

std::string Runtime::accounting_table() const {
  return format_accounting(metrics());
}

}  // namespace sluice::core
