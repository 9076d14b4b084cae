// HMC notification throughput: the fake HMC (its own process, sluice-fake-hmc) publishes N small
// notifications as fast as it can over loopback TLS, read by
//   0. a raw TLS reader that only counts frames (the fake's ceiling: proves it is not the limit),
//   A. the hmc_stomp plugin in a minimal in-memory host that counts events,
//   B. a stomp.py subscriber (the transport zhmcclient uses), the baseline.
// Prints rates, CPU seconds per notification (getrusage of this process = sluice's side only)
// and the ratio A/B. Never asserts on time: exit 0 unless something did not complete at all.
#include "activemq_broker.hpp"
#include "fake_hmc_bench.hpp"

#include <sluice/plugin.h>

#include <dlfcn.h>
#include <spawn.h>
#include <sys/resource.h>

#include <atomic>
#include <condition_variable>
#include <iostream>
#include <mutex>

using namespace fake_hmc_bench;
using namespace std::chrono_literals;

namespace {

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

// ---- A: the plugin in a counting host ---------------------------------------------------------
struct CountingHost {
  std::atomic<uint64_t> events{0};
  std::mutex m;
  std::condition_variable cv;
  uint64_t target = 0;
  std::atomic<int> state{-1};
};

CountingHost* host_of(sluice_host_context* c) {
  return reinterpret_cast<CountingHost*>(c);
}

struct PluginResult {
  double rate = 0, cpu_per = 0;
  bool ok = false;
  uint64_t received = 0;
};

// Loads the plugin with `options`, waits for `ready`, then runs `publish_n` and counts events.
template <typename Ready, typename Publish>
PluginResult run_plugin_with(const std::string& plugin_path, const json& options, uint64_t n,
                             Ready ready, Publish publish_n);

PluginResult run_plugin(const FakeProcess& f, const std::string& plugin_path, uint64_t n) {
  json options = {{"host", "127.0.0.1"},      {"stomp_port", f.stomp_port},
                  {"api_port", f.api_port},   {"tls", {{"ca_file", f.ca_file}}},
                  {"userid", "hmcuser"},      {"password", "hmcpassword"},
                  {"topics", {"bench.topic"}}};
  PluginResult r = run_plugin_with(
      plugin_path, options, n, [&](CountingHost&) { return wait_subscribers(f, 1); },
      [&] { publish(f, n); });
  wait_subscribers(f, 0);
  return r;
}

template <typename Ready, typename Publish>
PluginResult run_plugin_with(const std::string& plugin_path, const json& options, uint64_t n,
                             Ready ready, Publish publish_n) {
  void* lib = dlopen(plugin_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) throw std::runtime_error(std::string("dlopen: ") + dlerror());
  auto entry = reinterpret_cast<sluice_plugin_entry_fn>(dlsym(lib, SLUICE_PLUGIN_ENTRY_SYMBOL));
  const sluice_plugin_descriptor* d = entry();
  CountingHost host;
  sluice_host_api api{};
  api.struct_size = sizeof api;
  api.api_major = SLUICE_API_VERSION_MAJOR;
  api.api_minor = SLUICE_API_VERSION_MINOR;
  api.log = [](sluice_host_context*, sluice_log_level level, const char* msg) {
    if (level >= SLUICE_LOG_WARN) std::fprintf(stderr, "plugin: %s\n", msg);
  };
  api.emit = [](sluice_host_context* c, const sluice_event*, size_t count) {
    CountingHost* h = host_of(c);
    uint64_t now = h->events.fetch_add(count) + count;
    if (now >= h->target) {
      std::lock_guard lock(h->m);
      h->cv.notify_all();
    }
    return SLUICE_OK;
  };
  api.report_state = [](sluice_host_context* c, sluice_state s, const char*) {
    host_of(c)->state = s;
  };
  api.count_metric = [](sluice_host_context*, const char*, int64_t) {};
  api.complete_batch = [](sluice_host_context*, uint64_t, const sluice_delivery_result*) {};

  void* inst = nullptr;
  const char* error = nullptr;
  if (d->create(&api, reinterpret_cast<sluice_host_context*>(&host), options.dump().c_str(), &inst,
                &error) != SLUICE_OK)
    throw std::runtime_error(std::string("create: ") + (error ? error : "?"));
  if (d->start(inst, &error) != SLUICE_OK)
    throw std::runtime_error(std::string("start: ") + (error ? error : "?"));
  PluginResult r;
  if (ready(host)) {
    host.target = n;
    const double cpu0 = cpu_seconds();
    const auto t0 = Clock::now();
    publish_n();
    {
      std::unique_lock lock(host.m);
      r.ok = host.cv.wait_for(lock, 600s, [&] { return host.events.load() >= n; });
    }
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    r.rate = n / secs;
    r.cpu_per = (cpu_seconds() - cpu0) / n;
  }
  r.received = host.events.load();
  d->stop(inst);
  d->destroy(inst);
  dlclose(lib);
  return r;
}

// ---- C: a real ActiveMQ broker (the HMC's own) in between --------------------------------------
// Publishes n SENDs over plain TCP STOMP, the last with a receipt, and waits for it.
// The first argument that makes this program the publisher of the ActiveMQ round.
constexpr const char* kPublishCommand = "--publish-to-activemq";

void activemq_publish(uint16_t port, uint64_t n) {
  asio::io_context io;
  tcp::socket s(io);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  auto await_nul = [&] {
    char c = 1;
    while (c != '\0')
      asio::read(s, asio::buffer(&c, 1));
  };
  const std::string connect = std::string("CONNECT\naccept-version:1.2\nhost:localhost\n\n") + '\0';
  asio::write(s, asio::buffer(connect));
  await_nul();  // CONNECTED
  const std::string body =
      R"({"os-messages":[{"sequence-number":12,"message-id":"IEE252I","message-text":"IEE252I MEMBER CTIEZB00 FOUND IN SYS1.PARMLIB\n"}]})";
  std::string batch;
  for (uint64_t i = 1; i <= n; ++i) {
    batch +=
        "SEND\ndestination:/topic/bench.topic\nnotification-type:os-message\n"
        "session-sequence-nr:" +
        std::to_string(i) + "\nobject-uri:/api/logical-partitions/p1\n";
    if (i == n) batch += "receipt:done\n";
    batch += "content-length:" + std::to_string(body.size()) + "\n\n" + body;
    batch.push_back('\0');
    if (batch.size() > (1 << 20) || i == n) {
      asio::write(s, asio::buffer(batch));
      batch.clear();
    }
  }
  await_nul();  // RECEIPT
}

PluginResult run_activemq(const std::string& plugin_path, uint64_t n) {
  hmc_test::ActiveMqBroker broker({.name = "sluice-bench", .max_heap = "512m"});
  broker.start();
  const uint16_t stomp_port = broker.stomp_port, ssl_port = broker.ssl_port;
  json options = {
      {"host", "127.0.0.1"}, {"stomp_port", ssl_port}, {"tls", {{"ca_file", broker.ca_file()}}},
      {"userid", "bench"},   {"password", "bench"},    {"topics", {"bench.topic"}}};
  // The publisher runs in a child process so its CPU is not counted as sluice's.
  pid_t publisher = -1;
  PluginResult r = run_plugin_with(
      plugin_path, options, n,
      [](CountingHost& h) {  // up = every SUBSCRIBE receipt is in
        for (int i = 0; i < 6000 && h.state.load() != SLUICE_STATE_UP; ++i)
          std::this_thread::sleep_for(10ms);
        return h.state.load() == SLUICE_STATE_UP;
      },
      [&] {
        // Its own program (this one, re-executed): a fork of this process, whose plugin
        // threads run, may not allocate before exec.
        const std::string port = std::to_string(stomp_port), count = std::to_string(n);
        const char* args[] = {"bench_hmc", kPublishCommand, port.c_str(), count.c_str(), nullptr};
        std::fflush(stdout);
        if (posix_spawn(&publisher, "/proc/self/exe", nullptr, nullptr,
                        const_cast<char* const*>(args), environ) != 0)
          publisher = -1;
      });
  if (publisher > 0) {
    int status = 0;
    waitpid(publisher, &status, 0);
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == kPublishCommand) {  // the publisher process
    try {
      activemq_publish(static_cast<uint16_t>(std::stoul(argv[2])), std::stoull(argv[3]));
    } catch (...) {
      return 1;
    }
    return 0;
  }
  uint64_t n = 1000000, py_n = 100000, amq_n = 0, rounds = 3;
  std::string fake = SLUICE_FAKE_HMC, plugin = HMC_STOMP_PLUGIN, python = SLUICE_PYTHON,
              script = STOMP_PY_SCRIPT;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--n")
      n = std::stoull(argv[i + 1]);
    else if (a == "--py-n")
      py_n = std::stoull(argv[i + 1]);
    else if (a == "--activemq")
      amq_n = std::stoull(argv[i + 1]);
    else if (a == "--rounds")
      rounds = std::max<uint64_t>(1, std::stoull(argv[i + 1]));
    else if (a == "--fake")
      fake = argv[i + 1];
    else if (a == "--plugin")
      plugin = argv[i + 1];
    else if (a == "--python")
      python = argv[i + 1];
    else {
      std::cerr << "usage: bench_hmc [--n N] [--py-n N] [--rounds R] [--activemq N] [--fake PATH] "
                   "[--plugin PATH] [--python PATH]\n";
      return 2;
    }
  }

  const std::string dir = "/tmp/bench_hmc_" + std::to_string(getpid());
  std::system(("mkdir -p " + dir).c_str());
  FakeProcess fp(fake, dir);
  std::printf("HMC notifications over loopback TLS; fake HMC in its own process (pid %d)\n",
              fp.pid);
  // Rounds alternate the three readers, so a noisy moment of a shared machine hits one round of
  // each rather than one reader; the summary takes the median of each.
  std::vector<double> raws, rates, cpus, py_rates, py_cpus;
  bool complete = true;
  std::string py_note;
  for (uint64_t round = 1; round <= rounds; ++round) {
    if (rounds > 1)
      std::printf(" round %llu of %llu\n", static_cast<unsigned long long>(round),
                  static_cast<unsigned long long>(rounds));
    raws.push_back(raw_reader(fp, n));
    std::printf("  %-34s %12.0f notifications/s   (n=%llu)\n", "fake -> raw TLS reader (ceiling)",
                raws.back(), static_cast<unsigned long long>(n));
    PluginResult a = run_plugin(fp, plugin, n);
    complete = complete && a.ok;
    rates.push_back(a.rate);
    cpus.push_back(a.cpu_per);
    std::printf("  %-34s %12.0f notifications/s   %.3f us CPU/notification (n=%llu)%s\n",
                "sluice hmc_stomp (counting host)", a.rate, a.cpu_per * 1e6,
                static_cast<unsigned long long>(n), a.ok ? "" : "  INCOMPLETE");
    PyResult b = run_python(fp, python, script, py_n);
    if (b.ok) {
      py_rates.push_back(b.rate);
      py_cpus.push_back(b.cpu_per);
      std::printf("  %-34s %12.0f notifications/s   %.3f us CPU/notification (n=%llu)\n",
                  "stomp.py subscriber (baseline)", b.rate, b.cpu_per * 1e6,
                  static_cast<unsigned long long>(py_n));
    } else {
      py_note = b.note;
    }
  }
  const double raw = median(raws), rate = median(rates), cpu = median(cpus);
  const bool have_py = !py_rates.empty();
  const double py_rate = have_py ? median(py_rates) : 0, py_cpu = have_py ? median(py_cpus) : 0;
  if (rounds > 1) {
    std::printf(" median of %llu rounds\n", static_cast<unsigned long long>(rounds));
    std::printf("  %-34s %12.0f notifications/s\n", "fake -> raw TLS reader (ceiling)", raw);
    std::printf("  %-34s %12.0f notifications/s   %.3f us CPU/notification\n",
                "sluice hmc_stomp (counting host)", rate, cpu * 1e6);
    if (have_py)
      std::printf("  %-34s %12.0f notifications/s   %.3f us CPU/notification\n",
                  "stomp.py subscriber (baseline)", py_rate, py_cpu * 1e6);
  }
  if (have_py)
    std::printf("  ratio sluice / stomp.py: %.1fx throughput, %.1fx less CPU per notification\n",
                rate / py_rate, py_cpu / cpu);
  else
    std::printf("  stomp.py baseline not run: %s\n", py_note.c_str());
  std::printf("  goals: >= 300k notifications/s: %s; >= 20x stomp.py: %s; fake >= 500k/s: %s\n",
              rate >= 300000 ? "met" : "NOT met",
              have_py ? (rate / py_rate >= 20 ? "met" : "NOT met") : "n/a",
              raw >= 500000 ? "met" : "NOT met");
  if (amq_n > 0) {
    PluginResult c = run_activemq(plugin, amq_n);
    std::printf(
        "  %-34s %12.0f notifications/s   %.3f us CPU/notification (n=%llu, received %llu)%s\n",
        "ActiveMQ -> sluice hmc_stomp", c.rate, c.cpu_per * 1e6,
        static_cast<unsigned long long>(amq_n), static_cast<unsigned long long>(c.received),
        c.ok ? "" : "  INCOMPLETE");
  }
  std::system(("rm -rf " + dir).c_str());
  return complete ? 0 : 1;
}
