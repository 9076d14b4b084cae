// Builds small pipelines in code (no YAML) around the built-in test plugins, with a logger that
// captures its lines, for the runtime's unit tests.
#pragma once

#include <sluice/core/delivery_hooks.hpp>
#include <sluice/core/log.hpp>
#include <sluice/core/plugin_host.hpp>
#include <sluice/core/runtime.hpp>
#include <sluice/core/spool.hpp>

#include "test_plugins.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fixture {

// Runtime options under which a sink with `queue: {policy: spool}` gets the real spool queue;
// `fail_write` and `fail_sync` (optional) are the spool's write- and sync-fault hooks (an errno,
// 0 for none).
inline sluice::core::RuntimeOptions spool_options(std::function<int()> fail_write = nullptr,
                                                  std::function<int()> fail_sync = nullptr) {
  sluice::core::RuntimeOptions o;
  o.spool_queue_factory =
      [fail_write, fail_sync](
          const sluice::core::SinkConfig& sink) -> std::unique_ptr<sluice::core::SinkQueue> {
    auto options = sluice::core::spool_options_for(sink);
    options.fail_write = fail_write;
    options.fail_sync = fail_sync;
    return sluice::core::make_spool_queue(sink, options, [](const std::string&) {});
  };
  return o;
}

inline const sluice_plugin_descriptor* scripted_descriptor() {
  static const sluice_plugin_descriptor d =
      sluice::detail::Adapter<sluice_test::ScriptedSink>::make(
          "scripted", "1.0.0", "built-in scripted sink", sluice_test::kScriptedSinkSchema);
  return &d;
}
inline const sluice_plugin_descriptor* counting_descriptor() {
  static const sluice_plugin_descriptor d =
      sluice::detail::Adapter<sluice_test::CountingSource>::make(
          "counting", "1.0.0", "built-in counting source", sluice_test::kCountingSourceSchema);
  return &d;
}

// Collects log lines in memory.
struct CapturedLog {
  sluice::core::Logger logger;
  std::mutex m;
  std::vector<std::string> lines;

  CapturedLog() {
    logger.set_level(sluice::core::LogLevel::debug);
    logger.set_writer([this](std::string_view line) {
      std::lock_guard lock(m);
      lines.emplace_back(line);
    });
  }
  bool contains(const std::string& needle) {
    std::lock_guard lock(m);
    for (const auto& l : lines)
      if (l.find(needle) != std::string::npos) return true;
    return false;
  }
  std::string all() {
    std::lock_guard lock(m);
    std::string out;
    for (const auto& l : lines)
      out += l;
    return out;
  }
};

inline sluice::core::SinkConfig sink(const std::string& name, nlohmann::json options = {}) {
  sluice::core::SinkConfig s;
  s.name = name;
  s.plugin = "scripted";
  s.options = options.is_null() ? nlohmann::json::object() : options;
  s.batch.max_delay = std::chrono::milliseconds(5);
  s.retry.backoff.initial = std::chrono::milliseconds(1);
  s.retry.backoff.max = std::chrono::milliseconds(5);
  return s;
}

inline sluice::core::SourceConfig source(const std::string& name, nlohmann::json options = {}) {
  sluice::core::SourceConfig s;
  s.name = name;
  s.plugin = "counting";
  s.options = options.is_null() ? nlohmann::json::object() : options;
  return s;
}

inline sluice::core::RouteConfig route(std::vector<std::string> from, std::vector<std::string> to) {
  sluice::core::RouteConfig r;
  r.name = "route";
  r.from = std::move(from);
  r.to = std::move(to);
  return r;
}

// One source "in" (emitting through the test: count 0) to one scripted sink "out".
inline sluice::core::PipelineConfig simple(const sluice::core::SinkConfig& out) {
  sluice::core::PipelineConfig p;
  p.path = "<test>";
  p.drain_timeout = std::chrono::seconds(5);
  p.sources.push_back(source("in"));
  p.sinks.push_back(out);
  p.routes.push_back(route({"in"}, {out.name}));
  return p;
}

inline sluice::core::PluginHost& host() {
  static sluice::core::PluginHost h("");
  static bool once = [] {
    h.add_builtin(scripted_descriptor());
    h.add_builtin(counting_descriptor());
    return true;
  }();
  (void)once;
  return h;
}

// Events as a test writes them: ids "1".."n" (or given), valid JSON data.
inline std::vector<sluice::Event> events(int n, int first = 1) {
  std::vector<sluice::Event> out;
  for (int i = first; i < first + n; ++i) {
    sluice::Event e;
    e.id = std::to_string(i);
    e.source = "test://unit";
    e.type = "test.event";
    e.data = "{\"n\":" + std::to_string(i) + "}";
    out.push_back(std::move(e));
  }
  return out;
}

// Emits through the source the runtime created (the built-in counting source's host).
inline bool emit(const std::vector<sluice::Event>& evs) {
  return sluice_test::CountingSource::last_host().emit(evs);
}

// The scripted sink's deliver calls so far, copied under its lock.
inline std::vector<sluice_test::ScriptedSink::Call> calls() {
  std::lock_guard lock(sluice_test::ScriptedSink::mutex());
  return sluice_test::ScriptedSink::calls();
}

// How often each event id was answered OK, by every scripted sink instance together.
inline std::map<std::string, int> delivered_id_counts() {
  std::lock_guard lock(sluice_test::ScriptedSink::mutex());
  std::map<std::string, int> out;
  for (const auto& c : sluice_test::ScriptedSink::calls())
    if (c.answer == "ok")
      for (const auto& id : c.ids)
        ++out[id];
  return out;
}

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

inline const sluice::core::SinkMetrics& sink_metrics(const sluice::core::Metrics& m,
                                                     const std::string& name) {
  for (const auto& s : m.sinks)
    if (s.name == name) return s;
  throw std::runtime_error("no sink " + name);
}

// What reaches the dead-letter hook: one entry per write, with the ids of its events. Copies
// share what they record (the runtime owns the copy a dead_letter_factory hands it).
struct RecordingDeadLetter : sluice::core::DeadLetter {
  struct Entry {
    std::vector<std::string> ids;
    std::string reason;
    int32_t status;
    uint32_t attempts;
    std::string sink;
  };
  std::shared_ptr<std::vector<Entry>> entries = std::make_shared<std::vector<Entry>>();
  std::shared_ptr<std::mutex> m = std::make_shared<std::mutex>();
  bool write(const sluice_event* events, size_t count, std::string_view reason, int32_t status,
             uint32_t attempts, std::string_view sink) override {
    Entry e{{}, std::string(reason), status, attempts, std::string(sink)};
    for (size_t i = 0; i < count; ++i)
      e.ids.emplace_back(sluice::to_view(events[i].id));
    std::lock_guard lock(*m);
    entries->push_back(std::move(e));
    return true;
  }
  std::vector<Entry> snapshot() const {
    std::lock_guard lock(*m);
    return *entries;
  }
};

}  // namespace fixture
