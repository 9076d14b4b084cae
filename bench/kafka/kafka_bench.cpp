// Events/s into librdkafka's mock cluster (three brokers on loopback, kafka_mock_cluster), as
// ratios against a baseline measured in the same run:
//   baseline        `kcat -P` producing N JSON lines (the events in CloudEvents structured JSON,
//                   prepared beforehand) into its own topic, idempotent, acks=all, linger 5 ms
//   sluice struct.  `sluice run`: the generator (template minimal, rate 0, count N) into the
//                   kafka sink, mode structured (the same JSON as the baseline's lines)
//   sluice binary   the same in binary mode (ce_* headers, data as the value)
// Each run is timed from its process's start until the topic holds N records (the sum of the
// partitions' high watermarks, asked every 20 ms), so both include their start-up.
// Usage: kafka_bench [events=200000]

#include <sluice/event.hpp>
#include <sluice/format.hpp>
#include <sluice/testing.hpp>
#include <sluice/testing_child.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using sluice::testing::Child;

namespace {

struct Cluster {
  Child child;
  std::string bootstrap;
  explicit Cluster(const fs::path& log) : child(MOCK_CLUSTER, {}, log, true) {
    const std::string first = child.line();
    if (first.rfind("bootstrap ", 0) != 0) throw std::runtime_error("mock cluster: " + first);
    bootstrap = first.substr(10);
  }
  void command(const std::string& cmd) {
    child.say(cmd);
    const std::string answer = child.line();
    if (answer != "ok") throw std::runtime_error(cmd + ": " + answer);
  }
  long long count(const std::string& topic) {
    child.say("count " + topic);
    const std::string line = child.line();
    if (line.rfind("records ", 0) != 0) throw std::runtime_error("count: " + line);
    const long long n = std::stoll(line.substr(8));
    if (child.line() != "ok") throw std::runtime_error("count: no ok");
    return n;
  }
  ~Cluster() {
    try {
      child.say("quit");
      child.wait(std::chrono::seconds(10));
    } catch (...) {
    }
  }
};

// Seconds from `run`'s start until `topic` holds n records (or -1 after `limit`).
template <typename Start>
double timed(Cluster& cluster, const std::string& topic, long long n, Start run,
             std::chrono::seconds limit = std::chrono::seconds(600)) {
  const auto start = Clock::now();
  [[maybe_unused]] auto process = run();  // (kcat: kept running while timed)
  while (Clock::now() - start < limit) {
    if (cluster.count(topic) >= n)
      return std::chrono::duration<double>(Clock::now() - start).count();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

std::string pipeline(const fs::path& state, const std::string& bootstrap, const std::string& topic,
                     const std::string& mode, long long n) {
  return "version: 1\n"
         "log: {level: warn}\n"
         "state_dir: " +
         state.string() +
         "\n"
         "sources:\n"
         "  gen:\n"
         "    plugin: generator\n"
         "    options: {template: minimal, rate: 0, batch: 1000, count: " +
         std::to_string(n) +
         ", id_prefix: \"b-\", source_uri: \"bench://gen\"}\n"
         "sinks:\n"
         "  bus:\n"
         "    plugin: kafka\n"
         "    options: {brokers: \"" +
         bootstrap + "\", topic: " + topic + ", mode: " + mode +
         ", key: \"{id}\"}\n"
         "    batch: {max_events: 1000, max_delay: 20ms}\n"
         "routes:\n"
         "  - from: gen\n"
         "    to: bus\n";
}

}  // namespace

int main(int argc, char** argv) {
  const long long n = argc > 1 ? std::atoll(argv[1]) : 200000;
  sluice::testing::TempDir dir;
  Cluster cluster(dir.path / "cluster.log");
  for (const char* topic : {"kcat", "structured", "binary"})
    cluster.command(std::string("create ") + topic + " 6 3");

  // The baseline's input: the events the generator makes, as structured CloudEvents JSON lines.
  const fs::path lines = dir.path / "events.jsonl";
  {
    std::ofstream out(lines);
    std::string buf;
    for (long long i = 1; i <= n; ++i) {
      sluice::Event e;
      e.id = "b-" + std::to_string(i);
      e.source = "bench://gen";
      e.type = "generator.minimal";
      e.time_unix_ns = 1763701432123000000;
      e.data = "{\"n\":" + std::to_string(i) + "}";
      sluice::EventViews v(&e, &e + 1);
      buf.clear();
      sluice::append_cloudevent(buf, v.data()[0]);
      buf.push_back('\n');
      out << buf;
    }
  }
  const fs::path log = dir.path / "bench.log";
  const double kcat = timed(cluster, "kcat", n, [&] {
    return std::make_unique<Child>(
        "/usr/bin/kcat",
        std::vector<std::string>{"-P", "-b", cluster.bootstrap, "-t", "kcat", "-l", "-X",
                                 "enable.idempotence=true", "-X", "linger.ms=5", lines.string()},
        log, false);
  });
  auto run_sluice = [&](const std::string& topic, const std::string& mode) {
    const fs::path p = dir.path / (topic + ".yaml");
    std::ofstream(p) << pipeline(dir.path / ("state-" + topic), cluster.bootstrap, topic, mode, n);
    std::unique_ptr<Child> process;
    const double s = timed(cluster, topic, n, [&] {
      process = std::make_unique<Child>(SLUICE_EXECUTABLE,
                                        std::vector<std::string>{"run", p.string()}, log, false);
      return 0;
    });
    process->signal(SIGTERM);
    if (process->wait(std::chrono::seconds(60)) != 0)
      std::fprintf(stderr, "sluice did not stop cleanly\n");
    return s;
  };
  const double structured = run_sluice("structured", "structured");
  const double binary = run_sluice("binary", "binary");
  if (kcat <= 0 || structured <= 0 || binary <= 0) {
    std::fprintf(stderr, "a run did not reach %lld records; log:\n%s\n", n,
                 sluice::testing::read_file(log).c_str());
    return 1;
  }
  auto rate = [&](double s) { return n / s; };
  std::printf(
      "kafka bench: %lld events into the mock cluster (3 brokers, 6 partitions, acks=all)\n", n);
  std::printf("  %-28s %12.0f events/s  1.00\n", "kcat -P (baseline)", rate(kcat));
  std::printf("  %-28s %12.0f events/s  %.2f\n", "sluice, structured mode", rate(structured),
              rate(structured) / rate(kcat));
  std::printf("  %-28s %12.0f events/s  %.2f\n", "sluice, binary mode", rate(binary),
              rate(binary) / rate(kcat));
  return 0;
}
