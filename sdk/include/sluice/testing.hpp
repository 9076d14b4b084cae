// Plugin test harness: runs one plugin against an in-memory host, so a plugin's tests can
// look at what it emitted, logged, reported and counted, or hand a sink batches directly.
//
//   sluice::testing::Harness h("path/to/sluice_generator.so");   // or Harness(descriptor)
//   auto& inst = h.create(R"({"count": 3})");
//   inst.start();
//   REQUIRE(h.wait_for_events(3));
//   CHECK(h.events()[0].type == "hmc.os-message");
//
// Options are passed as given: the harness does not validate them against the schema nor fill
// in defaults (the sluice host does both); plugins must cope with absent optional keys.
//
// Also here for plugin tests: TempDir (a directory removed afterwards) and read_file.
#pragma once

#include <sluice/plugin.h>
#include <sluice/event.hpp>
#include <sluice/sdk.hpp>

#include <dlfcn.h>
#include <stdlib.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace sluice::testing {

// A fresh directory for one test (under $TMPDIR, else /tmp), removed with everything in it when
// this goes away.
struct TempDir {
  std::filesystem::path path;

  explicit TempDir(const std::string& prefix = "sluice-test") {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/" + prefix + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr)
      throw std::runtime_error("cannot create a directory from " + tmpl + ": " +
                               std::strerror(errno));
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // The path of `name` inside the directory (not created).
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// A whole file as it is on disk ("" when it cannot be read).
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct LogLine {
  sluice_log_level level;
  std::string message;
};

struct StateChange {
  sluice_state state;
  std::string detail;
};

class Harness;

// One plugin instance created by the harness. Stops and destroys itself when it goes away.
class Instance {
 public:
  Instance(const sluice_plugin_descriptor* d, void* handle) : d_(d), handle_(handle) {}
  ~Instance() {
    stop();
    if (handle_) d_->destroy(handle_);
  }
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  void start() {
    const char* error = nullptr;
    if (d_->start(handle_, &error) != SLUICE_OK)
      throw std::runtime_error(std::string("start failed: ") + (error ? error : "?"));
    started_ = true;
  }
  void stop() {
    if (started_) d_->stop(handle_);
    started_ = false;
  }
  void reopen() {
    const char* error = nullptr;
    if (d_->reopen && d_->reopen(handle_, &error) != SLUICE_OK)
      throw std::runtime_error(std::string("reopen failed: ") + (error ? error : "?"));
  }
  uint32_t max_in_flight() const { return d_->max_in_flight ? d_->max_in_flight(handle_) : 1; }
  void* handle() const { return handle_; }
  const sluice_plugin_descriptor* descriptor() const { return d_; }

 private:
  friend class Harness;
  const sluice_plugin_descriptor* d_;
  void* handle_;
  bool started_ = false;
};

class Harness {
 public:
  explicit Harness(const sluice_plugin_descriptor* d) : d_(d) { init_api(); }

  explicit Harness(const std::string& library_path) {
    lib_ = dlopen(library_path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib_) throw std::runtime_error(std::string("dlopen: ") + dlerror());
    auto entry = reinterpret_cast<sluice_plugin_entry_fn>(dlsym(lib_, SLUICE_PLUGIN_ENTRY_SYMBOL));
    if (!entry) throw std::runtime_error("no entry symbol in " + library_path);
    d_ = entry();
    init_api();
  }

  ~Harness() {
    instances_.clear();
    if (lib_) dlclose(lib_);
  }
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  const sluice_plugin_descriptor& descriptor() const { return *d_; }

  // Create an instance; throws with the plugin's error text on failure.
  Instance& create(const std::string& options_json = "{}") {
    void* handle = nullptr;
    const char* error = nullptr;
    if (d_->create(&api_, reinterpret_cast<sluice_host_context*>(this), options_json.c_str(),
                   &handle, &error) != SLUICE_OK)
      throw std::runtime_error(error ? error : "create failed");
    instances_.push_back(std::make_unique<Instance>(d_, handle));
    return *instances_.back();
  }

  // Check options as the host does before create() (ABI 1.1 check_options): the problems, none
  // when the options are fine. Throws when the plugin has no check_options entry or the check
  // itself failed (SLUICE_ERROR, with the plugin's text).
  OptionProblems check(const std::string& options_json = "{}") const {
    if (!SLUICE_HAS_FIELD(d_, sluice_plugin_descriptor, check_options) || !d_->check_options)
      throw std::runtime_error(std::string("plugin ") + (d_->name ? d_->name : "?") +
                               " has no check_options");
    const char* problems = nullptr;
    sluice_status status = d_->check_options(options_json.c_str(), &problems);
    if (status == SLUICE_OK) return {};
    if (status != SLUICE_INVALID)
      throw std::runtime_error(std::string("check_options failed: ") + (problems ? problems : "?"));
    return problems_from_json(problems ? problems : "");
  }

  // Hand a batch to a sink and wait for its answer (sync or async). Per-event answers (1.1) are
  // read as the sluice host reads them and come back in Delivery::events, one per event; when
  // they break the contract (not one per event, an element not of the frozen size) the answer
  // is a rejection saying why, as the host dead-letters such a batch.
  Delivery deliver(Instance& sink, const std::vector<Event>& events, uint32_t attempt = 1,
                   std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    EventViews views(events);
    sluice_batch b{};
    b.struct_size = sizeof b;
    uint64_t id;
    {
      std::lock_guard lock(mutex_);
      id = ++next_batch_;
      pending_[id] = std::nullopt;
      batch_sizes_[id] = views.size();
    }
    b.id = id;
    b.events = views.data();
    b.count = views.size();
    b.attempt = attempt;
    d_->deliver(sink.handle(), &b);
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, timeout, [&] { return pending_[id].has_value(); }))
      throw std::runtime_error("sink did not complete the batch in time");
    Delivery d = std::move(*pending_[id]);
    pending_.erase(id);
    batch_sizes_.erase(id);
    return d;
  }

  // --- what the plugin did -------------------------------------------------------------
  std::vector<Event> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }
  size_t event_count() const {
    std::lock_guard lock(mutex_);
    return events_.size();
  }
  void clear_events() {
    std::lock_guard lock(mutex_);
    events_.clear();
  }
  bool wait_for_events(size_t n,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return events_.size() >= n; });
  }
  // Wait until pred(events) holds; pred runs under the harness lock.
  template <typename Pred>
  bool wait_until(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return pred(events_); });
  }
  std::vector<LogLine> logs() const {
    std::lock_guard lock(mutex_);
    return logs_;
  }
  bool logged(const std::string& needle) const {
    std::lock_guard lock(mutex_);
    for (const auto& l : logs_)
      if (l.message.find(needle) != std::string::npos) return true;
    return false;
  }
  std::vector<StateChange> states() const {
    std::lock_guard lock(mutex_);
    return states_;
  }
  std::optional<sluice_state> last_state() const {
    std::lock_guard lock(mutex_);
    if (states_.empty()) return std::nullopt;
    return states_.back().state;
  }
  bool wait_for_state(sluice_state s,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout,
                             [&] { return !states_.empty() && states_.back().state == s; });
  }
  int64_t metric(const std::string& name) const {
    std::lock_guard lock(mutex_);
    auto it = metrics_.find(name);
    return it == metrics_.end() ? 0 : it->second;
  }

  // --- steering the host ------------------------------------------------------------------
  // While blocked, emit() waits (as a full sink with policy `block` would make it).
  void block_emit(bool blocked) {
    {
      std::lock_guard lock(mutex_);
      emit_blocked_ = blocked;
    }
    changed_.notify_all();
  }
  // After this, emit() returns SLUICE_STOPPED (as the host does while shutting down).
  void refuse_emit(bool refused) {
    std::lock_guard lock(mutex_);
    emit_refused_ = refused;
  }
  // The pipeline name host->instance_name gives this harness's instances ("test" unless set);
  // set it before create().
  void set_instance_name(std::string name) { instance_name_ = std::move(name); }
  // Print log lines to stderr as they come (handy when a test fails).
  void echo_logs(bool on) { echo_logs_ = on; }
  // Fault injection: the next log line or metric name that contains `needle` makes that host
  // call throw std::runtime_error("injected fault") once, after recording it. It stands for a
  // bug in whatever handler of the plugin made the call: a test can check that the plugin's
  // thread survives it (no std::terminate) and that the plugin recovers.
  void throw_once_on(std::string needle) {
    std::lock_guard lock(mutex_);
    throw_on_ = std::move(needle);
  }

 private:
  static Harness* self(sluice_host_context* ctx) { return reinterpret_cast<Harness*>(ctx); }

  void init_api() {
    api_.struct_size = sizeof api_;
    api_.api_major = SLUICE_API_VERSION_MAJOR;
    api_.api_minor = SLUICE_API_VERSION_MINOR;
    api_.log = [](sluice_host_context* ctx, sluice_log_level level, const char* message) {
      Harness* h = self(ctx);
      if (h->echo_logs_) fprintf(stderr, "[plugin %d] %s\n", static_cast<int>(level), message);
      std::lock_guard lock(h->mutex_);
      h->logs_.push_back({level, message ? message : ""});
      h->maybe_throw(h->logs_.back().message);
    };
    api_.emit = [](sluice_host_context* ctx, const sluice_event* events, size_t count) {
      Harness* h = self(ctx);
      // As the sluice host: events are a frozen array (plugin.h), any other struct_size is
      // refused before anything is read.
      for (size_t i = 0; i < count; ++i)
        if (events[i].struct_size != SLUICE_EVENT_SIZE) return SLUICE_INVALID;
      std::unique_lock lock(h->mutex_);
      h->changed_.wait(lock, [&] { return !h->emit_blocked_; });
      if (h->emit_refused_) return SLUICE_STOPPED;
      for (size_t i = 0; i < count; ++i)
        h->events_.push_back(Event::copy_of(events[i]));
      lock.unlock();
      h->changed_.notify_all();
      return SLUICE_OK;
    };
    api_.report_state = [](sluice_host_context* ctx, sluice_state state, const char* detail) {
      Harness* h = self(ctx);
      {
        std::lock_guard lock(h->mutex_);
        h->states_.push_back({state, detail ? detail : ""});
      }
      h->changed_.notify_all();
    };
    api_.count_metric = [](sluice_host_context* ctx, const char* name, int64_t delta) {
      Harness* h = self(ctx);
      std::lock_guard lock(h->mutex_);
      h->metrics_[name] += delta;
      h->maybe_throw(name);
    };
    api_.instance_name = [](sluice_host_context* ctx) { return self(ctx)->instance_name_.c_str(); };
    api_.complete_batch = [](sluice_host_context* ctx, uint64_t batch_id,
                             const sluice_delivery_result* r) {
      Harness* h = self(ctx);
      {
        std::lock_guard lock(h->mutex_);
        Delivery d;
        // As the sluice host: struct_size first; a result too short for 1.0 is not believed.
        if (!r || r->struct_size < SLUICE_DELIVERY_RESULT_MIN_SIZE_1_0) {
          d = Delivery::reject("invalid delivery result: struct_size " +
                               std::to_string(r ? r->struct_size : 0) + " below API 1.0's " +
                               std::to_string(SLUICE_DELIVERY_RESULT_MIN_SIZE_1_0));
        } else {
          d.code = r->code;
          d.retry_after_ms = r->retry_after_ms;
          d.reason = std::string(to_view(r->reason));
          d.status = r->status;
          h->read_event_results(*r, h->batch_sizes_[batch_id], d);
        }
        h->pending_[batch_id] = std::move(d);
      }
      h->changed_.notify_all();
    };
  }

  // As the sluice host (core plugin_host.cpp): 1.1 fields only where struct_size covers them;
  // one answer per event, each of the frozen size, else the batch is rejected saying why.
  static void read_event_results(const sluice_delivery_result& r, size_t batch_count, Delivery& d) {
    const sluice_event_result* results =
        SLUICE_HAS_FIELD(&r, sluice_delivery_result, event_results) ? r.event_results : nullptr;
    const size_t count =
        SLUICE_HAS_FIELD(&r, sluice_delivery_result, event_result_count) ? r.event_result_count : 0;
    if (!results) return;
    std::string why;
    if (count != batch_count) {
      why = std::to_string(count) + " per-event answers (event_result_count) for a batch of " +
            std::to_string(batch_count) + " events";
    } else {
      for (size_t i = 0; i < count && why.empty(); ++i)
        if (results[i].struct_size != SLUICE_EVENT_RESULT_SIZE)
          why = "per-event answer " + std::to_string(i) + " of " + std::to_string(count) +
                " has struct_size " + std::to_string(results[i].struct_size) +
                "; sluice_event_result is frozen at " + std::to_string(SLUICE_EVENT_RESULT_SIZE) +
                " bytes";
    }
    if (!why.empty()) {
      d = Delivery::reject("invalid delivery result: " + why);
      return;
    }
    for (size_t i = 0; i < count; ++i) {
      Delivery e;
      e.code = results[i].code;
      e.retry_after_ms = results[i].retry_after_ms;
      e.reason = std::string(to_view(results[i].reason));
      e.status = results[i].status;
      d.events.push_back(std::move(e));
    }
  }

  // Called with mutex_ held; the lock_guard releases it while the exception unwinds.
  void maybe_throw(const std::string& text) {
    if (throw_on_.empty() || text.find(throw_on_) == std::string::npos) return;
    throw_on_.clear();
    throw std::runtime_error("injected fault");
  }

  const sluice_plugin_descriptor* d_ = nullptr;
  void* lib_ = nullptr;
  sluice_host_api api_{};
  std::vector<std::unique_ptr<Instance>> instances_;

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<Event> events_;
  std::vector<LogLine> logs_;
  std::vector<StateChange> states_;
  std::map<std::string, int64_t> metrics_;
  std::map<uint64_t, std::optional<Delivery>> pending_;
  std::map<uint64_t, size_t> batch_sizes_;  // events in each pending batch
  uint64_t next_batch_ = 0;
  bool emit_blocked_ = false;
  bool emit_refused_ = false;
  std::string throw_on_;
  std::string instance_name_ = "test";
  std::atomic<bool> echo_logs_{false};
};

}  // namespace sluice::testing
