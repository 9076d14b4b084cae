// The null sink: counts each batch and discards it. With `delay` it plays a slow sink, with
// `answer: retry|reject` a failing one, so the core's back-pressure, retry and dead-letter paths
// can be exercised without a network peer.
#include <sluice/sdk.hpp>
#include <sluice/units.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>

namespace {

// The options as the sink uses them; every bad value is a problem at its option.
struct Settings {
  std::chrono::milliseconds delay{0};
  std::chrono::milliseconds retry_after{0};
  sluice_delivery_code answer = SLUICE_DELIVERY_OK;

  static sluice_delivery_code parse_answer(const std::string& a) {
    if (a == "ok") return SLUICE_DELIVERY_OK;
    if (a == "retry") return SLUICE_DELIVERY_RETRY;
    if (a == "reject") return SLUICE_DELIVERY_REJECT;
    throw std::invalid_argument("'" + a + "' is not one of ok, retry, reject");
  }

  static Settings read(const nlohmann::json& o, sluice::OptionProblems& problems) {
    using sluice::read_option;
    Settings s;
    s.delay = read_option(problems, "/delay", [&] {
      return sluice::duration_option(o.value("delay", nlohmann::json(0)));
    });
    s.retry_after = read_option(problems, "/retry_after", [&] {
      return sluice::duration_option(o.value("retry_after", nlohmann::json(0)));
    });
    s.answer = read_option(
        problems, "/answer", [&] { return parse_answer(o.value("answer", std::string("ok"))); },
        SLUICE_DELIVERY_OK);
    return s;
  }
};

class NullSink : public sluice::Sink {
 public:
  static sluice::OptionProblems check_options(const nlohmann::json& options) {
    return sluice::problems_of<Settings>(options);
  }

  NullSink(sluice::Host host, const nlohmann::json& options)
      : sluice::Sink(host), settings_(sluice::read_settings<Settings>(options)) {}

  void stop() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
  }

  sluice::Delivery deliver(const sluice::Batch& batch) override {
    host().metric("batches");
    host().metric("events", static_cast<int64_t>(batch.size()));
    if (settings_.delay.count() > 0) {
      // Interruptible, so a stopping host is not held up by a long delay.
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, settings_.delay, [this] { return stopping_; });
    }
    switch (settings_.answer) {
      case SLUICE_DELIVERY_RETRY:
        host().metric("answered.retry");
        return sluice::Delivery::retry("null sink configured with answer: retry",
                                       static_cast<uint32_t>(settings_.retry_after.count()));
      case SLUICE_DELIVERY_REJECT:
        host().metric("answered.reject");
        return sluice::Delivery::reject("null sink configured with answer: reject");
      default:
        host().metric("answered.ok");
        return sluice::Delivery::ok();
    }
  }

 private:
  const Settings settings_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
};

}  // namespace

// Same defaults as the constructor: the host fills them in, the test harness does not.
constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "delay": {"type": ["integer", "string"], "pattern": "^[0-9.]+ ?(ms|s|m|min|h)?$", "default": 0,
              "description": "time to wait in each batch before answering, to play a slow sink; integer milliseconds or a duration such as 250ms, 2s"},
    "answer": {"type": "string", "enum": ["ok", "retry", "reject"], "default": "ok",
               "description": "how every batch is answered: ok (delivered), retry (transient failure, the host retries), reject (permanent failure, the host dead-letters)"},
    "retry_after": {"type": ["integer", "string"], "pattern": "^[0-9.]+ ?(ms|s|m|min|h)?$", "default": 0,
                    "description": "with answer retry: the delay asked of the host before it retries; 0 lets the host's back-off decide"}
  }
})json";

SLUICE_PLUGIN(NullSink, "null", "1.0.0",
              "Sink that counts and discards batches (benchmarks, tests of retry and dead-letter)",
              kSchema)
