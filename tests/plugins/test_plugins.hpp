// Purpose-built plugins for the core's tests. Each is compiled into its own .so (see
// CMakeLists.txt) and, in the unit tests, registered as a built-in so a test can steer it and
// look inside through the static members.
#pragma once

#include <sluice/sdk.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace sluice_test {

// Answers batches from a script: `answers` is a list of "ok", "retry", "retry:<ms>", "reject",
// one per deliver call in order, then `then` for every later call. Per-event answers (plugin
// API 1.1): "events:<a>,<b>,..." answers event i with element i % n, each "ok", "retry",
// "retry:<ms>", "reject" or "reject:<status>" (reason "scripted reject <status>");
// "events-bad-count" and "events-bad-size" break the contract (one answer too few; elements
// of the wrong struct_size). `delay_ms` makes it slow,
// `async` answers from its own thread, `max_in_flight` lets it hold several batches.
class ScriptedSink : public sluice::Sink {
 public:
  struct Call {
    uint64_t batch_id;
    uint32_t attempt;
    std::vector<std::string> ids;
    std::string answer;
    std::vector<std::string> event_answers;  // "events:...": ok / retry / reject per event
  };
  // What every ScriptedSink in this process was handed (tests read it).
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  static std::vector<Call>& calls() {
    static std::vector<Call> c;
    return c;
  }
  static std::condition_variable& changed() {
    static std::condition_variable cv;
    return cv;
  }
  // While closed, deliver() waits (a sink that is stuck); tests open it again.
  static bool& gate_closed() {
    static bool closed = false;
    return closed;
  }
  static void set_gate(bool closed) {
    {
      std::lock_guard lock(mutex());
      gate_closed() = closed;
    }
    changed().notify_all();
  }
  static void reset() {
    std::lock_guard lock(mutex());
    calls().clear();
    gate_closed() = false;
  }
  // Instances destroyed so far (a test waits for a stuck one to be cleaned up).
  static std::atomic<int>& destroyed() {
    static std::atomic<int> n{0};
    return n;
  }
  static size_t delivered_events() {
    std::lock_guard lock(mutex());
    size_t n = 0;
    for (const auto& c : calls()) {
      if (c.answer == "ok") n += c.ids.size();
      for (const auto& a : c.event_answers)
        n += a == "ok";
    }
    return n;
  }

  ScriptedSink(sluice::Host host, const nlohmann::json& options)
      : sluice::Sink(host),
        answers_(options.value("answers", std::vector<std::string>{})),
        then_(options.value("then", std::string("ok"))),
        delay_(options.value("delay_ms", 0)),
        async_(options.value("async", false)),
        in_flight_(options.value("max_in_flight", 1u)),
        hang_(options.value("hang", std::string())),
        reason_(options.value("reason", std::string())) {
    if (options.value("fail_create", false)) throw std::runtime_error("told to fail in create");
    if (options.value("gate_closed", false)) set_gate(true);
  }
  ~ScriptedSink() override {
    join();
    ++destroyed();
  }

  // Releases a deliver() stuck at the closed gate, as a real sink's stop aborts its I/O.
  // hang "deliver": stop() leaves it stuck (a write() that nothing interrupts); hang "stop":
  // stop() itself waits for the gate (a plugin that joins a thread stuck in write()).
  void stop() override {
    if (hang_ == "deliver") return;
    if (hang_ == "stop") {
      std::unique_lock lock(mutex());
      changed().wait(lock, [] { return !gate_closed(); });
    }
    {
      std::lock_guard lock(mutex());
      stopping_ = true;
    }
    changed().notify_all();
    join();
  }
  uint32_t max_in_flight() const override { return in_flight_; }

  void deliver_async(const sluice::Batch& batch, sluice::Completion done) override {
    std::string answer;
    Call call{batch.id(), batch.attempt(), {}, {}, {}};
    for (size_t i = 0; i < batch.size(); ++i)
      call.ids.emplace_back(batch[i].id());
    {
      std::unique_lock lock(mutex());
      changed().wait(lock, [this] { return !gate_closed() || (stopping_ && hang_.empty()); });
      answer = stopping_ ? "retry" : next_ < answers_.size() ? answers_[next_] : then_;
      ++next_;
    }
    host().metric("batches");
    host().metric("events", static_cast<int64_t>(batch.size()));
    auto finish = [this, answer, call, done]() mutable {
      if (delay_) std::this_thread::sleep_for(std::chrono::milliseconds(delay_));
      call.answer = answer.substr(0, answer.find(':'));
      std::vector<sluice::Delivery> per_event;
      if (call.answer == "events") {
        std::vector<std::string> script;
        std::string rest = answer.substr(7);
        for (size_t pos = 0; pos <= rest.size();) {
          const size_t comma = std::min(rest.find(',', pos), rest.size());
          script.push_back(rest.substr(pos, comma - pos));
          pos = comma + 1;
        }
        for (size_t i = 0; i < call.ids.size(); ++i) {
          const std::string& a = script[i % script.size()];
          const std::string kind = a.substr(0, a.find(':'));
          const std::string arg = a.find(':') == std::string::npos ? "" : a.substr(a.find(':') + 1);
          call.event_answers.push_back(kind);
          if (kind == "ok")
            per_event.push_back(sluice::Delivery::ok());
          else if (kind == "retry")
            per_event.push_back(sluice::Delivery::retry(
                "scripted retry", arg.empty() ? 0 : static_cast<uint32_t>(std::stoul(arg)), 503));
          else
            per_event.push_back(sluice::Delivery::reject(
                "scripted reject " + (arg.empty() ? std::string("400") : arg),
                arg.empty() ? 400 : std::stoi(arg)));
        }
      }
      {
        std::lock_guard lock(mutex());
        calls().push_back(call);
      }
      changed().notify_all();
      if (call.answer == "events") {
        done(sluice::Delivery::per_event(std::move(per_event)));
      } else if (call.answer == "events-bad-count" || call.answer == "events-bad-size") {
        // Raw, past the SDK (which always writes the frozen size), as a broken plugin would.
        std::vector<sluice_event_result> results(call.ids.size());
        for (auto& x : results) {
          x.struct_size = call.answer == "events-bad-size" ? SLUICE_EVENT_RESULT_SIZE + 8
                                                           : SLUICE_EVENT_RESULT_SIZE;
          x.code = SLUICE_DELIVERY_OK;
        }
        sluice_delivery_result r{};
        r.struct_size = sizeof r;
        r.code = SLUICE_DELIVERY_OK;
        r.event_results = results.data();
        r.event_result_count =
            call.answer == "events-bad-count" ? results.size() - 1 : results.size();
        host().api()->complete_batch(host().context(), call.batch_id, &r);
      } else if (answer == "ok") {
        done(sluice::Delivery::ok());
      } else if (answer.rfind("retry", 0) == 0) {
        uint32_t after = answer.size() > 6 ? std::stoul(answer.substr(6)) : 0;
        done(sluice::Delivery::retry("scripted retry", after, 503));
      } else {
        done(sluice::Delivery::reject(reason_.empty() ? "scripted reject" : reason_, 400));
      }
    };
    if (!async_) return finish();
    std::lock_guard lock(threads_mutex_);
    threads_.emplace_back(std::move(finish));
  }

 private:
  void join() {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(threads_mutex_);
      threads.swap(threads_);
    }
    for (auto& t : threads)
      t.join();
  }

  std::vector<std::string> answers_;
  std::string then_;
  int delay_;
  bool async_;
  uint32_t in_flight_;
  std::string hang_;
  std::string reason_;
  size_t next_ = 0;
  bool stopping_ = false;  // under mutex()
  std::mutex threads_mutex_;
  std::vector<std::thread> threads_;
};

// Emits `count` events in calls of `per_emit` (id "1".."count", type `type`, data `data` or
// {"n":i}), then reports state up and idles. With count 0 it emits nothing: a unit test then
// emits through last_host() itself.
class CountingSource : public sluice::Source {
 public:
  static sluice::Host& last_host() {
    static sluice::Host h;
    return h;
  }

  // While closed, a source created with hang_stop does not return from stop().
  static std::mutex& gate_mutex() {
    static std::mutex m;
    return m;
  }
  static std::condition_variable& gate_changed() {
    static std::condition_variable cv;
    return cv;
  }
  static bool& stop_gate_closed() {
    static bool closed = false;
    return closed;
  }
  static void set_stop_gate(bool closed) {
    {
      std::lock_guard lock(gate_mutex());
      stop_gate_closed() = closed;
    }
    gate_changed().notify_all();
  }
  static std::atomic<int>& destroyed() {
    static std::atomic<int> n{0};
    return n;
  }

  CountingSource(sluice::Host host, const nlohmann::json& options)
      : sluice::Source(host),
        count_(options.value("count", 0)),
        per_emit_(std::max(1, options.value("per_emit", 1))),
        type_(options.value("type", std::string("test.count"))),
        data_(options.value("data", std::string())),
        log_(options.value("log", std::string())),
        hang_stop_(options.value("hang_stop", false)) {
    last_host() = host;
  }
  ~CountingSource() override { ++destroyed(); }
  void start() override {
    if (!log_.empty()) host().info(log_);
    worker_ = std::thread([this] { run(); });
  }
  void stop() override {
    if (hang_stop_) {
      std::unique_lock lock(gate_mutex());
      gate_changed().wait(lock, [] { return !stop_gate_closed(); });
    }
    stopping_ = true;
    if (worker_.joinable()) worker_.join();
  }

 private:
  void run() {
    host().state(sluice::State::up, "counting");
    std::vector<sluice::Event> events;
    for (int i = 1; i <= count_ && !stopping_; ++i) {
      sluice::Event e;
      e.id = std::to_string(i);
      e.source = "test://counting";
      e.type = type_;
      e.data = data_.empty() ? "{\"n\":" + std::to_string(i) + "}" : data_;
      events.push_back(std::move(e));
      if (static_cast<int>(events.size()) == per_emit_ || i == count_) {
        if (!host().emit(events)) return;
        events.clear();
      }
    }
  }

  int count_;
  int per_emit_;
  std::string type_;
  std::string data_;
  std::string log_;
  bool hang_stop_;
  std::atomic<bool> stopping_{false};
  std::thread worker_;
};

inline const char* kScriptedSinkSchema = R"json({"type":"object","properties":{
  "answers":{"type":"array","items":{"type":"string"},"description":"answer per batch, in order"},
  "then":{"type":"string","default":"ok","description":"answer after the list"},
  "delay_ms":{"type":"integer","default":0},
  "async":{"type":"boolean","default":false},
  "max_in_flight":{"type":"integer","default":1},
  "fail_create":{"type":"boolean","default":false},
  "hang":{"type":"string","enum":["","deliver","stop"],"default":"","description":"stuck sink: stop() does not release deliver(), or blocks itself"},
  "gate_closed":{"type":"boolean","default":false,"description":"deliver() waits from the start"},
  "reason":{"type":"string","description":"reject reason (echo tests)"},
  "token":{"type":"string","writeOnly":true,"description":"a secret option (redaction tests)"}}})json";

inline const char* kCountingSourceSchema = R"json({"type":"object","properties":{
  "count":{"type":"integer","default":0},
  "per_emit":{"type":"integer","default":1},
  "type":{"type":"string","default":"test.count"},
  "data":{"type":"string","description":"data of every event (JSON text)"},
  "log":{"type":"string","description":"logged at start (redaction tests)"},
  "password":{"type":"string","writeOnly":true,"description":"a secret option (redaction tests)"},
  "hang_stop":{"type":"boolean","default":false,"description":"stop() waits for the test's gate"}}})json";

}  // namespace sluice_test
