// Bus benchmark: generator -> sink through the real Runtime (plugins loaded from their .so),
// events/s and delivery latency percentiles, beside a baseline measured in the same run (a
// plain mutex + condvar queue handing std::string events between two threads), and the two JSON
// validators the emit path could use, on HMC-shaped bodies.
//
// The spool policy with fsync (`queue: {policy: spool}`, `spool: {fsync: batch}`) is measured
// beside a baseline of its own from the same run: the raw spool appending one event per call
// (one write and one fdatasync per event, what a per-event push costs).
//
// Route filters (a type glob, a data pointer with a regular expression, an all/any/not mix) are
// measured against the unfiltered run of the same template, and each alone on one event.
//
//   bus_bench [--events N] [--spool-events N] [--plugins DIR]
#include <sluice/core/filter.hpp>
#include <sluice/core/json_check.hpp>
#include <sluice/core/log.hpp>
#include <sluice/core/plugin_host.hpp>
#include <sluice/core/runtime.hpp>
#include <sluice/core/spool.hpp>
#include <sluice/json_check.hpp>
#include <sluice/sdk.hpp>
#include <sluice/testing.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

int64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// ---- baseline: mutex + condvar queue of std::string ------------------------------------------
double baseline_events_per_s(size_t n, const std::string& payload) {
  std::mutex m;
  std::condition_variable cv;
  std::deque<std::string> q;
  bool done = false;
  size_t consumed = 0;
  auto start = Clock::now();
  std::thread consumer([&] {
    std::unique_lock lock(m);
    for (;;) {
      cv.wait(lock, [&] { return !q.empty() || done; });
      while (!q.empty()) {
        std::string s = std::move(q.front());
        q.pop_front();
        consumed += !s.empty();
      }
      if (done) return;
    }
  });
  for (size_t i = 0; i < n; ++i) {
    std::string s = payload;  // an event copied into the queue, as a naive bus would
    {
      std::lock_guard lock(m);
      q.push_back(std::move(s));
    }
    cv.notify_one();
  }
  {
    std::lock_guard lock(m);
    done = true;
  }
  cv.notify_one();
  consumer.join();
  return static_cast<double>(consumed) / seconds_since(start);
}

// ---- JSON validators -------------------------------------------------------------------------
const char* kOsMessage =
    R"({"os-messages":[{"sequence-number":12,"message-id":"IEE252I","message-text":"IEE252I MEMBER CTIEZB00 FOUND IN SYS1.PARMLIB\n","timestamp":1700000123000,"sound-alarm":false,"is-priority":false,"is-held":false,"prompt-text":"","os-name":"ZOS1","is-refresh":false}]})";
const char* kPropertyChange =
    R"({"change-reports":[{"property-name":"status","old-value":"operating","new-value":"not-operating"},{"property-name":"acceptable-status","old-value":["operating"],"new-value":["operating","not-operating"]}]})";

template <typename F>
double ns_per_call(F f, const std::string& text, size_t iterations) {
  size_t ok = 0;
  auto start = Clock::now();
  for (size_t i = 0; i < iterations; ++i)
    ok += f(text);
  double s = seconds_since(start);
  if (ok != iterations) fprintf(stderr, "validator rejected valid JSON!\n");
  return s * 1e9 / static_cast<double>(iterations);
}

// ---- a probe sink that measures event time -> delivery -----------------------------------------
struct Probe {
  static std::vector<int64_t>& latencies() {
    static std::vector<int64_t> v;
    return v;
  }
  static std::mutex& m() {
    static std::mutex x;
    return x;
  }
};
class ProbeSink : public sluice::Sink {
 public:
  ProbeSink(sluice::Host host, const nlohmann::json&) : sluice::Sink(host) {}
  sluice::Delivery deliver(const sluice::Batch& b) override {
    const int64_t now = realtime_ns();
    std::lock_guard lock(Probe::m());
    for (size_t i = 0; i < b.size(); ++i)
      Probe::latencies().push_back(now - b.events()[i].time_unix_ns);
    return sluice::Delivery::ok();
  }
};

struct RunResult {
  double events_per_s = 0;
  uint64_t delivered = 0;
  bool balanced = false;
};

RunResult run_pipeline(sluice::core::PluginHost& host, const std::string& plugin_dir,
                       const std::string& sink_plugin, const std::string& templ, size_t n,
                       double rate = 0, const std::string& spool_dir = "",
                       const nlohmann::json& filter = nullptr, size_t sources = 1) {
  sluice::core::Logger log;
  log.set_level(sluice::core::LogLevel::warn);
  sluice::core::PipelineConfig p;
  p.plugin_paths = {plugin_dir};
  sluice::core::SourceConfig src;
  src.name = "gen";
  src.plugin = "generator";
  src.options = {{"template", templ},   {"rate", rate},    {"count", n},
                 {"batch", 256},        {"seed", 1},       {"fixed_time", nullptr},
                 {"source_uri", ""},    {"id_prefix", ""}, {"replay", ""},
                 {"replay_loop", false}};
  sluice::core::SinkConfig sink;
  sink.name = "out";
  sink.plugin = sink_plugin;
  sink.options = nlohmann::json::object();
  sink.queue.max_events = 65536;
  sink.batch.max_events = 1024;
  sink.batch.max_delay = std::chrono::milliseconds(5);
  sluice::core::RuntimeOptions options;
  if (!spool_dir.empty()) {
    sink.queue.policy = sluice::core::QueuePolicy::spool;
    sink.spool.directory = spool_dir;
    sink.spool.fsync = sluice::core::SpoolFsync::batch;
    sink.spool.max_bytes = 1ull << 30;
    options.spool_queue_factory = [](const sluice::core::SinkConfig& s) {
      return sluice::core::make_spool_queue(s, sluice::core::spool_options_for(s),
                                            [](const std::string&) {});
    };
  }
  sluice::core::RouteConfig r;
  r.name = "all";
  r.to = {"out"};
  r.filter.spec = filter;
  // `sources` generators share the n events (the spool case: pushes that share fdatasyncs).
  for (size_t i = 0; i < sources; ++i) {
    sluice::core::SourceConfig s = src;
    if (sources > 1) {
      s.name = "gen" + std::to_string(i);
      s.options["count"] = n / sources + (i < n % sources ? 1 : 0);
      s.options["seed"] = i + 1;
    }
    r.from.push_back(s.name);
    p.sources.push_back(s);
  }
  p.sinks = {sink};
  p.routes = {r};

  sluice::core::Runtime rt(p, host, log, options);
  auto start = Clock::now();
  rt.start();
  RunResult result;
  for (;;) {
    auto m = rt.metrics();
    if (m.sinks[0].delivered >= n) {
      result.events_per_s = static_cast<double>(n) / seconds_since(start);
      break;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  rt.stop();
  auto m = rt.metrics();
  result.delivered = m.sinks[0].delivered;
  result.balanced = m.sinks[0].balanced();
  return result;
}

// The raw spool with fsync: batch, `per_append` events per append() (one write and one
// fdatasync each), no runtime around it. With 1 it is the baseline: a per-event push under the
// sink's lock, as before group commit. With the generator's batch (256) it is the disk's ceiling
// for one source's pushes: what the runtime could reach if routing, queueing and delivery were
// free.
double raw_spool_rate(size_t n, const std::string& dir, size_t per_append) {
  sluice::core::SpoolOptions o;
  o.directory = dir;
  o.fsync = sluice::core::SpoolFsync::batch;
  sluice::core::Spool spool(o);
  std::vector<sluice::Event> events(per_append);
  for (size_t i = 0; i < per_append; ++i) {
    events[i].id = std::to_string(i + 1);
    events[i].source = "bench";
    events[i].type = "hmc.os-message";
    events[i].data = kOsMessage;
  }
  sluice::EventViews views(events.data(), events.data() + events.size());
  auto start = Clock::now();
  size_t done = 0;  // n rounded up to whole appends
  for (; done < n; done += per_append)
    spool.append(views.data(), per_append);
  return static_cast<double>(done) / seconds_since(start);
}

// ---- route filters: each passes every event of the hmc-os-message template, so a run still
// delivers all of them; the difference to the unfiltered run is the filter's cost. ----------
struct FilterCase {
  const char* name;
  const char* spec;
};
const FilterCase kFilterCases[] = {
    {"type glob", R"({"type": "hmc.os-*"})"},
    {"data pointer + regex",
     R"f({"data": {"/os-messages/0/message-text":
                   {"regex": "(STARTED|MATCHED|FOUND|Session|device)"}}})f"},
    {"all/any/not with data and attributes",
     R"({"all": [{"type": "hmc.*"}, {"not": {"attributes": {"class": "cpc"}}},
                 {"any": [{"data": {"/os-messages/0/sequence-number": {"lt": 0}}},
                          {"attributes": {"name": "*"}}]}]})"},
};

// The filter alone on one event, ns per evaluation (a fresh FilterEvent each time, as per event
// on the emit path: data conditions read the data once per evaluation).
double filter_ns(const nlohmann::json& spec, const sluice_event& e, size_t iterations) {
  sluice::core::DataPointers pointers;
  std::vector<sluice::core::FilterError> errors;
  sluice::core::Filter f = sluice::core::Filter::compile(spec, pointers, &errors);
  size_t passed = 0;
  auto start = Clock::now();
  for (size_t i = 0; i < iterations; ++i) {
    sluice::core::FilterEvent fe(e, &pointers);
    passed += f.matches(fe);
  }
  double s = seconds_since(start);
  if (passed != iterations || !errors.empty()) fprintf(stderr, "filter did not pass the event!\n");
  return s * 1e9 / static_cast<double>(iterations);
}

int64_t percentile(std::vector<int64_t>& v, double q) {
  if (v.empty()) return 0;
  size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  size_t n = 2000000;
  size_t spool_n = 0;  // default: n / 4
  std::string plugin_dir = SLUICE_BENCH_PLUGIN_DIR;
  bool spool_only = false;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--events") && i + 1 < argc)
      n = std::stoull(argv[++i]);
    else if (!strcmp(argv[i], "--spool-events") && i + 1 < argc)
      spool_n = std::stoull(argv[++i]);
    else if (!strcmp(argv[i], "--plugins") && i + 1 < argc)
      plugin_dir = argv[++i];
    else if (!strcmp(argv[i], "--spool-only"))
      spool_only = true;
    else {
      fprintf(stderr,
              "usage: bus_bench [--events N] [--spool-events N] [--plugins DIR] "
              "[--spool-only]\n");
      return 2;
    }
  }

  printf("sluice bus benchmark: %zu events, hmc-os-message events (%zu-byte data)\n\n", n,
         strlen(kOsMessage));

  sluice::core::PluginHost host("");
  // The spool policy with fsync: one generator, four and sixteen (group commit), beside the raw
  // spool.
  auto spool_cases = [&]() -> bool {
    // The spool policy with fsync, on the file system of TMPDIR (or /tmp).
    if (!spool_n) spool_n = std::max<size_t>(1000, n / 4);
    double spool_base = 0, spool_ceiling = 0;
    RunResult spool_run, spool_run4, spool_run16;
    {
      sluice::testing::TempDir dir("sluice-bus-bench");
      spool_base =
          raw_spool_rate(std::max<size_t>(100, spool_n / 20), (dir.path / "raw").string(), 1);
      spool_ceiling = raw_spool_rate(spool_n, (dir.path / "raw256").string(), 256);
      try {
        spool_run = run_pipeline(host, plugin_dir, "null", "hmc-os-message", spool_n, 0,
                                 (dir.path / "out").string());
        spool_run4 = run_pipeline(host, plugin_dir, "null", "hmc-os-message", spool_n, 0,
                                  (dir.path / "out4").string(), nullptr, 4);
        spool_run16 = run_pipeline(host, plugin_dir, "null", "hmc-os-message", spool_n, 0,
                                   (dir.path / "out16").string(), nullptr, 16);
      } catch (const std::exception& e) {
        fprintf(stderr, "cannot run generator -> null through a spool: %s\n", e.what());
        return false;
      }
    }

    printf("\n%-52s %12s %8s\n", "spool policy, fsync: batch", "events/s", "vs base");
    printf("%-52s %12.0f %8s\n", "baseline: raw spool, one append+fdatasync per event", spool_base,
           "1.00x");
    printf("%-52s %12.0f %7.2fx  (the disk's ceiling for 256-event pushes)\n",
           "raw spool, one append+fdatasync per 256 events", spool_ceiling,
           spool_ceiling / spool_base);
    printf("%-52s %12.0f %7.2fx  (delivered %llu, balanced %s)\n",
           "runtime: generator.so(hmc-os-message) -> spool -> null", spool_run.events_per_s,
           spool_run.events_per_s / spool_base, (unsigned long long)spool_run.delivered,
           spool_run.balanced ? "yes" : "NO");
    printf("%-52s %12.0f %7.2fx  (delivered %llu, balanced %s)\n",
           "runtime: 4 x generator.so(hmc-os-message) -> spool", spool_run4.events_per_s,
           spool_run4.events_per_s / spool_base, (unsigned long long)spool_run4.delivered,
           spool_run4.balanced ? "yes" : "NO");
    printf("%-52s %12.0f %7.2fx  (delivered %llu, balanced %s)\n",
           "runtime: 16 x generator.so(hmc-os-message) -> spool", spool_run16.events_per_s,
           spool_run16.events_per_s / spool_base, (unsigned long long)spool_run16.delivered,
           spool_run16.balanced ? "yes" : "NO");

    return spool_run.balanced && spool_run4.balanced && spool_run16.balanced;
  };
  if (spool_only) return spool_cases() ? 0 : 1;

  // JSON validation on the emit path.
  const size_t iters = std::max<size_t>(1000, n / 4);
  for (auto [name, body] :
       {std::pair{"os-message", kOsMessage}, std::pair{"property-change", kPropertyChange}}) {
    double host = ns_per_call(sluice::json_valid, body, iters);
    double rj = ns_per_call(sluice::core::json_valid_rapidjson, body, iters);
    double nl = ns_per_call(sluice::core::json_valid_nlohmann, body, iters);
    printf(
        "json validate %-16s host (sluice::json_valid) %5.0f ns | rapidjson with "
        "its utf8 flag %5.0f ns | nlohmann::accept %5.0f ns\n",
        name, host, rj, nl);
  }

  std::string payload =
      std::string("{\"id\":\"1\",\"type\":\"hmc.os-message\",\"data\":") + kOsMessage + "}";
  double base = baseline_events_per_s(n, payload);

  static const sluice_plugin_descriptor probe = sluice::detail::Adapter<ProbeSink>::make(
      "probe", "1.0.0", "latency probe", R"({"type":"object"})");
  host.add_builtin(&probe);

  RunResult null_min, null_os;
  try {
    null_min = run_pipeline(host, plugin_dir, "null", "minimal", n);
    null_os = run_pipeline(host, plugin_dir, "null", "hmc-os-message", n);
  } catch (const std::exception& e) {
    fprintf(stderr, "cannot run generator -> null: %s\n", e.what());
    return 1;
  }
  Probe::latencies().reserve(n);
  RunResult probe_run = run_pipeline(host, plugin_dir, "probe", "minimal", n);
  auto& lat = Probe::latencies();
  std::vector<int64_t> saturated = lat;
  lat.clear();
  const size_t paced_n = std::max<size_t>(100, n / 20);
  run_pipeline(host, plugin_dir, "probe", "minimal", paced_n, 100000);
  std::vector<int64_t> paced = lat;

  bool filters_ok = true;
  printf("\n%-52s %12s %8s\n", "", "events/s", "vs base");
  printf("%-52s %12.0f %8s\n", "baseline: mutex+condvar queue of std::string", base, "1.00x");
  auto row = [&](const char* name, const RunResult& r) {
    printf("%-52s %12.0f %7.2fx  (delivered %llu, balanced %s)\n", name, r.events_per_s,
           r.events_per_s / base, (unsigned long long)r.delivered, r.balanced ? "yes" : "NO");
  };
  row("runtime: generator.so(minimal) -> null.so", null_min);
  row("runtime: generator.so(hmc-os-message) -> null.so", null_os);
  row("runtime: generator.so(minimal) -> in-process probe", probe_run);
  const bool spool_ok = spool_cases();

  // Route filters: the pipeline with each filter on its route, against the unfiltered run of
  // the same template in this process (null_os), and each filter alone on one event.
  printf("\n%-52s %12s %8s %14s\n", "route filters (hmc-os-message -> null)", "events/s", "vs none",
         "filter alone");
  printf("%-52s %12.0f %8s\n", "no filter (the run above)", null_os.events_per_s, "1.00x");
  {
    sluice::Event e;
    e.id = "IEE252I";
    e.source = "hmc://bench";
    e.type = "hmc.os-message";
    e.subject = "/api/partitions/p1";
    e.attribute("class", "partition").attribute("name", "PROD1");
    e.data = kOsMessage;
    sluice::EventViews views(&e, &e + 1);
    for (const auto& c : kFilterCases) {
      const nlohmann::json spec = nlohmann::json::parse(c.spec);
      const double alone = filter_ns(spec, views.data()[0], std::max<size_t>(1000, n / 4));
      RunResult r = run_pipeline(host, plugin_dir, "null", "hmc-os-message", n, 0, "", spec);
      printf("%-52s %12.0f %7.2fx %11.0f ns  (delivered %llu, balanced %s)\n", c.name,
             r.events_per_s, r.events_per_s / null_os.events_per_s, alone,
             (unsigned long long)r.delivered, r.balanced ? "yes" : "NO");
      filters_ok = filters_ok && r.balanced;
    }
  }

  printf("\nlatency event time -> delivery (batch max_delay 5ms, queue 65536):\n");
  printf("  saturated (%zu events as fast as possible): p50 %.1f us  p99 %.1f us  p999 %.1f us\n",
         saturated.size(), percentile(saturated, 0.50) / 1e3, percentile(saturated, 0.99) / 1e3,
         percentile(saturated, 0.999) / 1e3);
  printf("  paced (%zu events at 100000/s):             p50 %.1f us  p99 %.1f us  p999 %.1f us\n",
         paced.size(), percentile(paced, 0.50) / 1e3, percentile(paced, 0.99) / 1e3,
         percentile(paced, 0.999) / 1e3);
  return null_min.balanced && null_os.balanced && probe_run.balanced && spool_ok && filters_ok ? 0
                                                                                               : 1;
}
