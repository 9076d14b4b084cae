// Header-only C++ layer over the sluice C ABI: write a class, add one macro, get a plugin.
//
//   class Hello : public sluice::Source {
//    public:
//     Hello(sluice::Host host, const nlohmann::json& options);
//     void start() override;  // start your threads, emit with host().emit(...)
//     void stop() override;   // return when no thread of yours calls the host any more
//   };
//   SLUICE_PLUGIN(Hello, "hello", "1.0.0", "Says hello", R"({"type":"object"})")
//
// Optional (ABI 1.1): a class that declares
//     static sluice::OptionProblems check_options(const nlohmann::json& options);
// gets the descriptor's check_options entry, which `sluice validate` and `sluice run` call before
// any create(). It must refuse (one OptionProblem per problem, with the JSON pointer of the
// option) everything the constructor refuses from the options alone, with the same message:
// let the constructor and the check share one code path. Without it the entry is NULL.
//
// Exceptions thrown by a plugin never cross the boundary: the layer catches them and turns
// them into errors (create/start), a logged error (stop/destroy) or a retried batch (deliver).
#pragma once

#include <sluice/plugin.h>
#include <sluice/event.hpp>
#include <sluice/option_problem.hpp>
#include <sluice/packed_events.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice {

enum class LogLevel { trace = SLUICE_LOG_TRACE, debug, info, warn, error };
enum class State { connecting = SLUICE_STATE_CONNECTING, up, degraded, down };

// The host as a plugin instance sees it. Cheap to copy; every call is thread-safe.
class Host {
 public:
  Host() = default;
  Host(const sluice_host_api* api, sluice_host_context* ctx) : api_(api), ctx_(ctx) {}

  void log(LogLevel level, const std::string& message) const {
    api_->log(ctx_, static_cast<sluice_log_level>(level), message.c_str());
  }
  void trace(const std::string& m) const { log(LogLevel::trace, m); }
  void debug(const std::string& m) const { log(LogLevel::debug, m); }
  void info(const std::string& m) const { log(LogLevel::info, m); }
  void warn(const std::string& m) const { log(LogLevel::warn, m); }
  void error(const std::string& m) const { log(LogLevel::error, m); }

  // Hand events to the bus; may block (back-pressure). False once the host is stopping.
  bool emit(const sluice_event* events, size_t count) const {
    return api_->emit(ctx_, events, count) == SLUICE_OK;
  }
  bool emit(const std::vector<Event>& events) const {
    EventViews views(events);
    return emit(views.data(), views.size());
  }
  bool emit(const Event& event) const {
    EventViews views(&event, &event + 1);
    return emit(views.data(), views.size());
  }
  bool emit(PackedEvents& events) const { return emit(events.views(), events.size()); }

  void state(State s, const std::string& detail = {}) const {
    api_->report_state(ctx_, static_cast<sluice_state>(s),
                       detail.empty() ? nullptr : detail.c_str());
  }
  void metric(const char* name, int64_t delta = 1) const { api_->count_metric(ctx_, name, delta); }

  // The instance's name in the pipeline (1.1); "" from a 1.0 host, which cannot tell.
  std::string instance_name() const {
    if (!SLUICE_HAS_FIELD(api_, sluice_host_api, instance_name) || !api_->instance_name) return {};
    const char* name = api_->instance_name(ctx_);
    return name ? name : "";
  }

  const sluice_host_api* api() const { return api_; }
  sluice_host_context* context() const { return ctx_; }

 private:
  const sluice_host_api* api_ = nullptr;
  sluice_host_context* ctx_ = nullptr;
};

// A sink's answer to one batch, or (plugin API 1.1) to each of its events:
//   done(Delivery::per_event({Delivery::ok(), Delivery::reject("bad subject", 400), ...}));
// one answer per event, in batch order. A 1.1 host then retries only the RETRY events,
// dead-letters only the REJECT ones and counts the rest delivered; a 1.0 host gets the summary
// in `code` (RETRY if any event needs a retry, else REJECT if any was rejected, else OK).
struct Delivery {
  sluice_delivery_code code = SLUICE_DELIVERY_OK;
  uint32_t retry_after_ms = 0;
  std::string reason;
  int32_t status = 0;
  // Per-event answers (their own `events` are not used); empty: this answers the whole batch.
  std::vector<Delivery> events;

  static Delivery ok() { return {}; }
  static Delivery retry(std::string reason, uint32_t after_ms = 0, int32_t status = 0) {
    return {SLUICE_DELIVERY_RETRY, after_ms, std::move(reason), status, {}};
  }
  static Delivery reject(std::string reason, int32_t status = 0) {
    return {SLUICE_DELIVERY_REJECT, 0, std::move(reason), status, {}};
  }
  // One answer per event of the batch, in its order. code, reason, status and retry_after_ms
  // become the summary a 1.0 host reads: those of the first RETRY answer (with the longest
  // retry_after_ms of them all), else of the first REJECT, else OK.
  static Delivery per_event(std::vector<Delivery> answers) {
    Delivery d = summary_of(answers);
    d.events = std::move(answers);
    return d;
  }
  static Delivery summary_of(const std::vector<Delivery>& answers) {
    const Delivery* first_retry = nullptr;
    const Delivery* first_reject = nullptr;
    uint32_t after = 0;
    for (const auto& a : answers) {
      if (a.code == SLUICE_DELIVERY_RETRY) {
        if (!first_retry) first_retry = &a;
        after = std::max(after, a.retry_after_ms);
      } else if (a.code != SLUICE_DELIVERY_OK && !first_reject) {
        first_reject = &a;
      }
    }
    if (first_retry) return retry(first_retry->reason, after, first_retry->status);
    if (first_reject) return reject(first_reject->reason, first_reject->status);
    return ok();
  }
};

// A batch handed to a sink: random access to borrowed events.
class Batch {
 public:
  explicit Batch(const sluice_batch& b) : b_(&b) {}
  size_t size() const { return b_->count; }
  bool empty() const { return b_->count == 0; }
  EventRef operator[](size_t i) const { return EventRef(b_->events[i]); }
  const sluice_event* events() const { return b_->events; }
  uint64_t id() const { return b_->id; }
  uint32_t attempt() const { return b_->attempt; }

 private:
  const sluice_batch* b_;
};

// Completes one batch exactly once; later calls are ignored. Copyable, callable from any thread.
class Completion {
 public:
  Completion(Host host, uint64_t batch_id) : state_(std::make_shared<Shared>()) {
    state_->host = host;
    state_->batch_id = batch_id;
  }

  void operator()(const Delivery& d) const {
    if (state_->done.load()) return;
    // Everything that allocates comes before the batch is marked done: should it throw, the
    // answer becomes a plain RETRY (no allocation), never no answer at all.
    sluice_delivery_result r{};
    r.struct_size = sizeof r;
    Delivery summary;
    std::vector<sluice_event_result> results;
    try {
      // With per-event answers the summary is always derived from them (plugin.h: what a 1.0
      // host, which reads only `code`, should do with the whole batch).
      if (!d.events.empty()) summary = Delivery::summary_of(d.events);
      const Delivery& top = d.events.empty() ? d : summary;
      r.code = top.code;
      r.retry_after_ms = top.retry_after_ms;
      r.reason = top.reason.empty() ? absent_str() : to_str(top.reason);
      r.status = top.status;
      if (!d.events.empty()) {
        results.resize(d.events.size());
        for (size_t i = 0; i < d.events.size(); ++i) {
          const Delivery& e = d.events[i];
          sluice_event_result& x = results[i];
          x.struct_size = SLUICE_EVENT_RESULT_SIZE;
          x.code = e.code;
          x.retry_after_ms = e.retry_after_ms;
          x.status = e.status;
          x.reason = e.reason.empty() ? absent_str() : to_str(e.reason);
        }
        r.event_results = results.data();
        r.event_result_count = results.size();
      }
    } catch (...) {
      static const char kNoMemory[] = "the sink could not build its answer (out of memory)";
      r = sluice_delivery_result{};
      r.struct_size = sizeof r;
      r.code = SLUICE_DELIVERY_RETRY;
      r.reason = sluice_str{kNoMemory, sizeof kNoMemory - 1};
    }
    if (state_->done.exchange(true)) return;
    state_->host.api()->complete_batch(state_->host.context(), state_->batch_id, &r);
  }
  bool done() const { return state_->done.load(); }
  uint64_t batch_id() const { return state_->batch_id; }

 private:
  struct Shared {
    Host host;
    uint64_t batch_id = 0;
    std::atomic<bool> done{false};
  };
  std::shared_ptr<Shared> state_;
};

class Plugin {
 public:
  explicit Plugin(Host host) : host_(host) {}
  virtual ~Plugin() = default;
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;

  virtual void start() {}
  virtual void stop() {}
  // Optional: a class that declares reopen() gets the descriptor's reopen entry; else it is NULL.
  virtual void reopen() {}

  const Host& host() const { return host_; }

 private:
  Host host_;
};

class Source : public Plugin {
 public:
  using Plugin::Plugin;
};

class Sink : public Plugin {
 public:
  using Plugin::Plugin;
  // Synchronous sinks override this.
  virtual Delivery deliver(const Batch& batch) {
    (void)batch;
    return Delivery::reject("sink implements neither deliver nor deliver_async");
  }
  // Asynchronous sinks override this and call done(...) once per batch, from any thread.
  // The batch's memory stays valid until done is called.
  virtual void deliver_async(const Batch& batch, Completion done) { done(deliver(batch)); }
  // How many batches may be in flight at once (only > 1 for deliver_async sinks). Optional: a
  // class that declares it gets the descriptor's max_in_flight entry; else it is NULL (1).
  // A sink class that defines neither deliver nor deliver_async does not compile.
  virtual uint32_t max_in_flight() const { return 1; }
};

namespace detail {

inline const char* keep_error(const std::string& text) {
  thread_local std::string last_error;
  last_error = text;
  return last_error.c_str();
}

inline const char* current_exception_text() {
  try {
    throw;
  } catch (const std::exception& e) {
    return keep_error(e.what());
  } catch (...) {
    return keep_error("unknown exception");
  }
}

struct Instance {
  Host host;
  std::unique_ptr<Plugin> plugin;
};

// Optional capabilities, seen at compile time: a class "has" reopen / max_in_flight / deliver
// when it (or a base between it and sluice::Plugin / sluice::Sink) declares the function; the
// defaults in Plugin and Sink do not count. (&T::f names the class that declared f.)
template <typename T>
constexpr bool declares_reopen() {
  return !std::is_same_v<decltype(&T::reopen), void (Plugin::*)()>;
}
template <typename T>
constexpr bool declares_max_in_flight() {
  if constexpr (std::is_base_of_v<Sink, T>)
    return !std::is_same_v<decltype(&T::max_in_flight), uint32_t (Sink::*)() const>;
  return false;
}
template <typename T>
constexpr bool declares_deliver() {
  if constexpr (std::is_base_of_v<Sink, T>)
    return !std::is_same_v<decltype(&T::deliver), Delivery (Sink::*)(const Batch&)> ||
           !std::is_same_v<decltype(&T::deliver_async), void (Sink::*)(const Batch&, Completion)>;
  return false;
}

// The oldest host minor the plugin needs: T::sluice_min_host_minor if the class states it
// (it then checks SLUICE_HAS_FIELD before using anything newer), else the header's minor.
// C++17 detection (the public headers stay C++17: no `requires`).
template <typename T, typename = void>
struct states_min_host_minor : std::false_type {};
template <typename T>
struct states_min_host_minor<T, std::void_t<decltype(T::sluice_min_host_minor)>> : std::true_type {
};

template <typename T>
constexpr uint16_t min_host_minor() {
  if constexpr (states_min_host_minor<T>::value) {
    static_assert(
        T::sluice_min_host_minor <= SLUICE_API_VERSION_MINOR,
        "sluice_min_host_minor cannot be newer than the sluice/plugin.h it is built with");
    return static_cast<uint16_t>(T::sluice_min_host_minor);
  } else {
    return SLUICE_API_VERSION_MINOR;
  }
}

// T::check_options(const nlohmann::json&) -> OptionProblems, if the class declares it (1.1).
template <typename T, typename = void>
struct declares_check_options : std::false_type {};
template <typename T>
struct declares_check_options<
    T, std::void_t<decltype(T::check_options(std::declval<const nlohmann::json&>()))>>
    : std::true_type {
  static_assert(std::is_same_v<decltype(T::check_options(std::declval<const nlohmann::json&>())),
                               OptionProblems>,
                "a sluice plugin's check_options returns sluice::OptionProblems");
};

template <typename T>
struct Adapter {
  static_assert(std::is_base_of_v<Source, T> || std::is_base_of_v<Sink, T>,
                "a sluice plugin class derives from sluice::Source or sluice::Sink");
  static constexpr bool is_sink = std::is_base_of_v<Sink, T>;
  static_assert(!is_sink || declares_deliver<T>(),
                "a sluice sink class must define deliver(const sluice::Batch&) or "
                "deliver_async(const sluice::Batch&, sluice::Completion)");

  static sluice_status create(const sluice_host_api* api, sluice_host_context* ctx,
                              const char* options_json, void** instance, const char** error) {
    try {
      Host host(api, ctx);
      nlohmann::json options = options_json && *options_json ? nlohmann::json::parse(options_json)
                                                             : nlohmann::json::object();
      auto inst = std::make_unique<Instance>();
      inst->host = host;
      inst->plugin = std::make_unique<T>(host, options);
      *instance = inst.release();
      return SLUICE_OK;
    } catch (...) {
      *error = current_exception_text();
      return SLUICE_ERROR;
    }
  }

  static sluice_status start(void* instance, const char** error) {
    try {
      static_cast<Instance*>(instance)->plugin->start();
      return SLUICE_OK;
    } catch (...) {
      *error = current_exception_text();
      return SLUICE_ERROR;
    }
  }

  static void stop(void* instance) {
    auto* inst = static_cast<Instance*>(instance);
    try {
      inst->plugin->stop();
    } catch (...) {
      inst->host.error(std::string("stop failed: ") + current_exception_text());
    }
  }

  static void destroy(void* instance) {
    auto* inst = static_cast<Instance*>(instance);
    Host host = inst->host;
    try {
      delete inst;
    } catch (...) {
      host.error(std::string("destroy failed: ") + current_exception_text());
    }
  }

  static sluice_status reopen(void* instance, const char** error) {
    try {
      static_cast<Instance*>(instance)->plugin->reopen();
      return SLUICE_OK;
    } catch (...) {
      *error = current_exception_text();
      return SLUICE_ERROR;
    }
  }

  static void deliver(void* instance, const sluice_batch* batch) {
    auto* inst = static_cast<Instance*>(instance);
    Completion done(inst->host, batch->id);
    try {
      if constexpr (is_sink)
        static_cast<T*>(inst->plugin.get())->deliver_async(Batch(*batch), done);
    } catch (...) {
      // A throwing sink is treated like a transient failure; the host's retry limit ends it.
      done(Delivery::retry(std::string("sink threw: ") + current_exception_text()));
    }
    if constexpr (!is_sink) done(Delivery::reject("not a sink"));
  }

  static uint32_t max_in_flight(void* instance) {
    if constexpr (is_sink) {
      uint32_t n = static_cast<T*>(static_cast<Instance*>(instance)->plugin.get())->max_in_flight();
      return n ? n : 1;
    }
    return 1;
  }

  static sluice_status check_options(const char* options_json, const char** problems_json) {
    try {
      if constexpr (declares_check_options<T>::value) {
        nlohmann::json options = options_json && *options_json ? nlohmann::json::parse(options_json)
                                                               : nlohmann::json::object();
        OptionProblems problems = T::check_options(options);
        if (problems.empty()) return SLUICE_OK;
        *problems_json = keep_error(problems_to_json(problems));
        return SLUICE_INVALID;
      } else {
        (void)options_json;
        *problems_json = keep_error("no check_options");
        return SLUICE_ERROR;
      }
    } catch (...) {
      *problems_json = current_exception_text();
      return SLUICE_ERROR;
    }
  }

  static sluice_plugin_descriptor make(const char* name, const char* version,
                                       const char* description, const char* schema) {
    sluice_plugin_descriptor d{};
    d.struct_size = sizeof d;
    d.api_major = SLUICE_API_VERSION_MAJOR;
    d.api_minor = min_host_minor<T>();
    d.name = name;
    d.version = version;
    d.description = description;
    d.kind = is_sink ? SLUICE_KIND_SINK : SLUICE_KIND_SOURCE;
    d.options_schema = schema;
    d.create = &create;
    d.start = &start;
    d.stop = &stop;
    d.destroy = &destroy;
    d.deliver = is_sink ? &deliver : nullptr;
    // NULL unless the class has them: the host then knows there is nothing to call.
    d.reopen = declares_reopen<T>() ? &reopen : nullptr;
    d.max_in_flight = declares_max_in_flight<T>() ? &max_in_flight : nullptr;
    d.check_options = declares_check_options<T>::value ? &check_options : nullptr;
    return d;
  }
};

}  // namespace detail
}  // namespace sluice

// Exports the entry symbol for plugin class CLASS. SCHEMA is the JSON Schema of its options.
#define SLUICE_PLUGIN(CLASS, NAME, VERSION, DESCRIPTION, SCHEMA)                              \
  extern "C" SLUICE_PLUGIN_EXPORT const sluice_plugin_descriptor* sluice_plugin_entry(void) { \
    static const sluice_plugin_descriptor descriptor =                                        \
        ::sluice::detail::Adapter<CLASS>::make(NAME, VERSION, DESCRIPTION, SCHEMA);           \
    return &descriptor;                                                                       \
  }
