// The smallest useful source: emits `count` greetings, one every `interval`, then idles.
// It builds inside the sluice tree and, unchanged, as its own project against an installed SDK.
#include <sluice/sdk.hpp>
#include <sluice/units.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

class Hello : public sluice::Source {
 public:
  Hello(sluice::Host host, const nlohmann::json& options)
      : sluice::Source(host),
        greeting_(options.value("greeting", std::string("hello"))),
        count_(options.value("count", 3)),
        interval_(sluice::duration_option(options.value("interval", nlohmann::json(100)))) {}

  void start() override {
    worker_ = std::thread([this] { run(); });
  }

  void stop() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (worker_.joinable()) worker_.join();
  }

 private:
  void run() {
    host().state(sluice::State::up);
    for (int i = 0; i < count_; ++i) {
      sluice::Event e;
      e.id = std::to_string(i + 1);
      e.source = "hello://example";
      e.type = "example.greeting";
      e.data = "{\"text\":\"" + greeting_ + "\"}";  // greeting_ is schema-checked: no quotes
      if (!host().emit(e)) return;
      std::unique_lock lock(mutex_);
      if (wake_.wait_for(lock, interval_, [this] { return stopping_; })) return;
    }
  }

  std::string greeting_;
  int count_;
  std::chrono::milliseconds interval_;
  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
};

SLUICE_PLUGIN(Hello, "hello", "1.0.0", "Example source: emits a few greetings", R"({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "greeting": {"type": "string", "pattern": "^[A-Za-z ,!]*$", "default": "hello", "description": "what to say"},
    "count": {"type": "integer", "minimum": 0, "default": 3, "description": "how many greetings"},
    "interval": {"type": ["integer", "string"], "default": "100ms", "description": "time between greetings"}
  }
})")
