// A host for the network kit's tests: records what an instance tells it; emit can be held.
#pragma once

#include <sluice/sdk.hpp>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace nettest {

struct TestHost {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> logs;
  std::vector<std::pair<sluice_state, std::string>> states;
  std::vector<std::string> event_ids;  // in emit order
  std::vector<std::thread::id> emit_threads;
  std::map<std::string, int64_t> metrics;
  bool hold = false;  // emit waits while true
  size_t emits_in_progress = 0;
  sluice_host_api api{};

  TestHost() {
    api.struct_size = sizeof api;
    api.log = [](sluice_host_context* c, sluice_log_level, const char* m) {
      auto* h = self(c);
      std::lock_guard lock(h->mutex);
      h->logs.emplace_back(m);
      h->changed.notify_all();
    };
    api.emit = [](sluice_host_context* c, const sluice_event* events, size_t n) {
      auto* h = self(c);
      std::unique_lock lock(h->mutex);
      ++h->emits_in_progress;
      h->changed.notify_all();
      h->changed.wait(lock, [h] { return !h->hold; });
      --h->emits_in_progress;
      for (size_t i = 0; i < n; ++i)
        h->event_ids.emplace_back(events[i].id.data, events[i].id.size);
      h->emit_threads.push_back(std::this_thread::get_id());
      h->changed.notify_all();
      return SLUICE_OK;
    };
    api.report_state = [](sluice_host_context* c, sluice_state s, const char* d) {
      auto* h = self(c);
      std::lock_guard lock(h->mutex);
      h->states.emplace_back(s, d ? d : "");
      h->changed.notify_all();
    };
    api.count_metric = [](sluice_host_context* c, const char* name, int64_t delta) {
      auto* h = self(c);
      std::lock_guard lock(h->mutex);
      h->metrics[name] += delta;
    };
  }
  static TestHost* self(sluice_host_context* c) { return reinterpret_cast<TestHost*>(c); }
  sluice::Host host() { return sluice::Host(&api, reinterpret_cast<sluice_host_context*>(this)); }

  void set_hold(bool h) {
    std::lock_guard lock(mutex);
    hold = h;
    changed.notify_all();
  }
  // Waits (bounded) until pred() holds, pred called under the lock.
  bool wait(const std::function<bool()>& pred,
            std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, timeout, pred);
  }
  bool logged(const std::string& part) {
    std::lock_guard lock(mutex);
    for (const auto& l : logs)
      if (l.find(part) != std::string::npos) return true;
    return false;
  }
};

inline size_t thread_count() {
  // ThreadSanitizer starts a background thread of its own when the process creates its first
  // thread: one created (and joined) here makes sure it exists before anything is counted.
  static const bool sanitizer_thread_started = [] {
    std::thread([] {}).join();
    return true;
  }();
  (void)sanitizer_thread_started;
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    (void)e;
    ++n;
  }
  return n;
}

}  // namespace nettest
