// The generator source: synthetic events from templates, or events replayed from a file the
// file sink wrote, at a set rate or as fast as the host takes them. One thread per instance
// emits in batches; the batch's Event objects are reused, so the hot path allocates nothing
// once their strings have grown.
#include "replay.hpp"
#include "templates.hpp"

#include <sluice/format.hpp>
#include <sluice/framework_events.hpp>
#include <sluice/readable.hpp>
#include <sluice/sdk.hpp>
#include <sluice/units.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using sluice::generator::Template;

int64_t wall_clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<int64_t> fixed_time_option(const nlohmann::json& v) {
  if (v.is_null()) return std::nullopt;
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_string()) {
    auto t = sluice::generator::parse_rfc3339(v.get<std::string>());
    if (!t)
      throw std::invalid_argument("'" + v.get<std::string>() +
                                  "' is not an RFC 3339 date-time such as 2024-01-02T03:04:05Z");
    return t;
  }
  throw std::invalid_argument("an RFC 3339 string or integer nanoseconds");
}

// The options as the generator uses them. One code path for the constructor and check_options:
// every bad value is a problem at its option.
struct Settings {
  Template template_ = Template::mixed;
  double rate = 10.0;
  uint64_t count = 0;
  uint64_t seed = 1;
  std::optional<int64_t> fixed_time;
  size_t batch = 256;
  std::string source;
  std::string id_prefix;
  std::string replay;
  bool replay_loop = false;

  static Settings read(const nlohmann::json& o, sluice::OptionProblems& problems) {
    using sluice::read_option;
    Settings s;
    auto at = [&](const char* key) {
      auto it = o.find(key);
      return it == o.end() ? nlohmann::json() : *it;
    };
    try {  // parse_template names the option itself
      s.template_ = sluice::generator::parse_template(o.value("template", "mixed"));
    } catch (const std::exception& e) {
      problems.push_back({"/template", e.what()});
    }
    if (o.contains("rate"))
      s.rate = read_option(
          problems, "/rate", [&] { return sluice::rate_option(o["rate"]); }, 10.0);
    if (o.contains("count"))
      s.count = read_option(problems, "/count", [&] { return sluice::count_option(o["count"]); });
    if (o.contains("seed"))
      s.seed = read_option(
          problems, "/seed", [&] { return sluice::count_option(o["seed"]); }, 1);
    s.fixed_time =
        read_option(problems, "/fixed_time", [&] { return fixed_time_option(at("fixed_time")); });
    if (o.contains("batch")) {
      const size_t batch = read_option(
          problems, "/batch", [&] { return static_cast<size_t>(sluice::count_option(o["batch"])); },
          s.batch);
      if (batch < 1 || batch > 65536)
        problems.push_back({"/batch", "batch: must be 1 to 65536"});
      else
        s.batch = batch;
    }
    s.source = o.value("source_uri", std::string());
    s.id_prefix = o.value("id_prefix", std::string());
    s.replay = o.value("replay", std::string());
    s.replay_loop = o.value("replay_loop", false);
    if (!s.replay.empty())
      if (std::string why = sluice::unreadable_reason(s.replay); !why.empty())
        problems.push_back({"/replay", "replay: cannot open '" + s.replay + "': " + why});
    return s;
  }
};

// Reads the replay file line by line, turning each line into an event or a parse error.
class Replay {
 public:
  Replay(std::string path, bool loop) : path_(std::move(path)), loop_(loop) {}

  void open() {
    in_ = std::ifstream(path_, std::ios::binary);
    if (!in_)
      throw std::runtime_error("replay: cannot open '" + path_ + "': " + std::strerror(errno));
    line_number_ = 0;
  }

  enum class Next { event, parse_error, end };

  // The next line as an event in `e` (its id kept from the recording; a later pass of a loop
  // appends "#<pass>" so ids stay unique), or a parse error described in `error`/`raw()`.
  Next next(sluice::Event& e, std::string& error) {
    while (true) {
      if (!std::getline(in_, line_)) {
        if (!loop_ || events_this_pass_ == 0) return Next::end;  // an empty file would spin
        ++pass_;
        events_this_pass_ = 0;
        in_.clear();
        in_.seekg(0);
        line_number_ = 0;
        continue;
      }
      ++line_number_;
      if (!line_.empty() && line_.back() == '\r') line_.pop_back();
      if (line_.find_first_not_of(" \t") == std::string::npos) continue;  // blank line
      ++events_this_pass_;
      if (!sluice::generator::parse_replay_line(line_, e, error)) return Next::parse_error;
      if (pass_ > 1) {
        e.id.push_back('#');
        e.id += std::to_string(pass_);
      }
      return Next::event;
    }
  }

  const std::string& raw() const { return line_; }
  uint64_t line_number() const { return line_number_; }
  uint64_t pass() const { return pass_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool loop_;
  std::ifstream in_;
  std::string line_;
  uint64_t line_number_ = 0;
  uint64_t pass_ = 1;
  uint64_t events_this_pass_ = 0;
};

class Generator : public sluice::Source {
 public:
  static sluice::OptionProblems check_options(const nlohmann::json& options) {
    return sluice::problems_of<Settings>(options);
  }

  Generator(sluice::Host host, const nlohmann::json& options)
      : Generator(host, sluice::read_settings<Settings>(options)) {}

  ~Generator() override { stop(); }

 private:
  Generator(sluice::Host host, const Settings& s)
      : sluice::Source(host),
        template_(s.template_),
        rate_(s.rate),
        count_(s.count),
        seed_(s.seed),
        fixed_time_(s.fixed_time),
        batch_(s.batch),
        source_(s.source),
        id_prefix_(s.id_prefix) {
    if (source_.empty()) {
      const std::string name = host.instance_name();
      source_ = "generator://" + (name.empty() ? std::string("generator") : name);
    }
    if (!s.replay.empty())
      replay_ = std::make_unique<Replay>(s.replay, s.replay_loop);
    else
      filler_ = std::make_unique<sluice::generator::TemplateFiller>(template_, seed_, source_);
    events_.resize(batch_);
  }

 public:
  void start() override {
    if (replay_) replay_->open();  // a missing file stops the start with its name
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
  // Sleeps until `deadline` or stop(); false when stopping.
  bool sleep_until(Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    return !wake_.wait_until(lock, deadline, [this] { return stopping_; });
  }
  bool stopping() {
    std::lock_guard lock(mutex_);
    return stopping_;
  }

  void run() {
    host().state(sluice::State::up, replay_ ? "replaying " + replay_->path() : "generating");
    uint64_t emitted = 0;
    Clock::time_point epoch = Clock::now();
    bool host_stopping = false;
    while (!stopping()) {
      if (count_ && emitted >= count_) break;
      size_t want = batch_;
      if (count_) want = static_cast<size_t>(std::min<uint64_t>(want, count_ - emitted));
      if (rate_ > 0) {
        double elapsed = std::chrono::duration<double>(Clock::now() - epoch).count();
        double due = std::floor(elapsed * rate_) - static_cast<double>(emitted);
        if (due > rate_) {
          // More than a second behind (emit was blocked): do not burst to catch up.
          epoch = Clock::now() - std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(emitted / rate_));
          due = 1;
        }
        if (due < 1) {
          auto next = epoch + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>((emitted + 1) / rate_));
          if (!sleep_until(next)) break;
          continue;
        }
        want = std::min(want, static_cast<size_t>(due));
      }
      size_t n = 0;
      try {
        n = fill(want, emitted);
      } catch (const std::exception& e) {
        // Not std::terminate: report, wait a second, go on with the next events.
        host().error(std::string("generator: internal error: ") + e.what() + "; retrying in 1s");
        host().metric("internal_errors");
        host().state(sluice::State::degraded, std::string("internal error: ") + e.what());
        if (!sleep_until(Clock::now() + std::chrono::seconds(1))) break;
        host().state(sluice::State::up, replay_ ? "replaying " + replay_->path() : "generating");
        continue;
      }
      if (n == 0) break;  // the replay file is done
      views_.assign(events_.begin(), events_.begin() + static_cast<ptrdiff_t>(n));
      host().metric("generated", static_cast<int64_t>(n));
      if (!host().emit(views_.data(), views_.size())) {
        host_stopping = true;
        break;
      }
      emitted += n;
    }
    if (host_stopping) {
      host().info("generator: the host is stopping; " + std::to_string(emitted) +
                  " events emitted");
    } else if (!stopping()) {
      host().state(sluice::State::up, "finished: " + std::to_string(emitted) + " events emitted");
    }
    // Idle until stop(): a source that finished is still a healthy source.
    std::unique_lock lock(mutex_);
    wake_.wait(lock, [this] { return stopping_; });
  }

  // Fills up to `want` events of the batch; returns how many.
  size_t fill(size_t want, uint64_t emitted) {
    const int64_t now = fixed_time_ ? *fixed_time_ : wall_clock_ns();
    size_t n = 0;
    for (; n < want; ++n) {
      sluice::Event& e = events_[n];
      const uint64_t seq = ++sequence_;
      id_.assign(id_prefix_);
      char buf[24];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, seq);
      (void)ec;
      id_.append(buf, end);
      if (!replay_) {
        filler_->fill(e, id_, emitted + n + 1, now);
        continue;
      }
      std::string error;
      auto next = replay_->next(e, error);
      if (next == Replay::Next::end) break;
      if (next == Replay::Next::parse_error) {
        parse_error(e, error, now);
      } else if (fixed_time_) {
        e.time_unix_ns = *fixed_time_;
      }
    }
    return n;
  }

  // A line that is not an event: say so with the raw text and its place, and go on.
  void parse_error(sluice::Event& e, const std::string& error, int64_t now) {
    host().metric("parse_errors");
    e.id = id_;
    e.source = source_;
    e.type = sluice::event_types::parse_error;
    e.subject = replay_->path();
    e.time_unix_ns = now;
    e.attributes.clear();
    e.attribute("replay-file", replay_->path());
    e.attribute("replay-line", std::to_string(replay_->line_number()));
    // The one shape of sluice.parse-error (framework_events.hpp); file and line are attributes.
    e.data = sluice::framework_events::parse_error_data(error, replay_->raw());
  }

  Template template_;
  double rate_;
  uint64_t count_;
  uint64_t seed_;
  std::optional<int64_t> fixed_time_;
  size_t batch_;
  std::string source_;
  std::string id_prefix_;
  std::unique_ptr<sluice::generator::TemplateFiller> filler_;
  std::unique_ptr<Replay> replay_;

  std::vector<sluice::Event> events_;  // the batch, reused
  sluice::EventViews views_;
  std::string id_;
  uint64_t sequence_ = 0;

  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
};

// Same defaults as the constructor: the host fills them in, the test harness does not.
constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "template": {"type": "string",
                 "enum": ["hmc-os-message", "hmc-property-change", "hmc-status-change", "hmc-job-completion", "hmc-inventory-change",
                          "ldm-domain", "ldm-resource", "ldm-hardware", "ldm-progress", "mixed", "minimal"],
                 "default": "mixed",
                 "description": "shape of the generated events: hmc-* as the hmc_stomp source emits them, ldm-* as the ldm_xml source emits them, mixed (all of those, picked at random), minimal (a tiny event for benchmarks); ignored with replay"},
    "rate": {"type": "number", "minimum": 0, "maximum": 1e9, "default": 10,
             "description": "events per second, 0 or from 1e-06 to 1e9; 0 emits as fast as the host takes them"},
    "count": {"type": "integer", "minimum": 0, "default": 0,
              "description": "events to emit before the source idles (state stays up); 0 is no limit"},
    "seed": {"type": "integer", "minimum": 0, "default": 1,
             "description": "seed of the random choices: the same seed gives the same events (with fixed_time, byte for byte)"},
    "fixed_time": {"type": ["string", "integer", "null"], "default": null,
                   "description": "time given to every event, as an RFC 3339 string (2024-01-02T03:04:05Z) or integer nanoseconds since the epoch, for reproducible output; null uses the clock (replay: the recorded time)"},
    "batch": {"type": "integer", "minimum": 1, "maximum": 65536, "default": 256,
              "description": "events handed to the host per emit call; large batches are how a benchmark reaches millions of events per second"},
    "source_uri": {"type": "string", "default": "",
                   "description": "the events' source; empty: generator://<name>, name being the instance's name in the pipeline"},
    "id_prefix": {"type": "string", "default": "",
                  "description": "text put before the event number (1, 2, ...) to form each event's id; ids are unique and increasing per instance"},
    "replay": {"type": "string", "default": "", "x-sluice-path": true,
               "description": "file of JSON lines in sluice's JSON form (what the file sink's json format writes) to emit instead of generated events, relative to the pipeline file's folder; empty: generate from template"},
    "replay_loop": {"type": "boolean", "default": false,
                    "description": "with replay: start the file again at its end; the ids of later passes get #2, #3, ..."}
  }
})json";

}  // namespace

SLUICE_PLUGIN(Generator, "generator", "1.0.0",
              "Source of synthetic HMC/LDoms-shaped events, or events replayed from a file",
              kSchema)
