// End to end: the real `sluice run` daemon, hmc_stomp against the fake HMC (its own process) over
// loopback TLS, into the null sink and into the file sink (JSON lines). In the same run, on the
// same fake: the raw TLS reader (the fake's ceiling) and a stomp.py subscriber (the baseline).
//
// The daemon is measured from outside: its CPU is utime + stime of every thread
// (/proc/PID/stat) from the publish request to the moment its periodic metrics line shows all N
// delivered, so start-up, connecting, subscribing and shutdown are not counted. Rates are N over
// the same interval. Exit 1 when something was lost or duplicated (counts must match exactly),
// never because of a figure.
#include "fake_hmc_bench.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

using namespace fake_hmc_bench;
using namespace std::chrono_literals;

namespace {

// What bench_e2e reads of a /proc stat file (a process's: its threads summed; or one thread's).
struct ProcStat {
  std::string name;       // field 2, comm: the thread name
  uint64_t minor_faults;  // field 10
  double cpu_seconds;     // fields 14 + 15, utime + stime
};

// nullopt once the process or thread is gone.
std::optional<ProcStat> read_stat(const std::string& path) {
  const std::string stat = slurp(path);
  const size_t open = stat.find('('), close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos) return std::nullopt;
  std::istringstream in(stat.substr(close + 2));  // from field 3, the state
  std::string field;
  unsigned long long minflt = 0, utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 10) minflt = std::stoull(field);
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return ProcStat{stat.substr(open + 1, close - open - 1), minflt,
                  static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK))};
}

std::string stat_path(pid_t pid) {
  return "/proc/" + std::to_string(pid) + "/stat";
}

// utime + stime of every thread of `pid`, in seconds; nullopt once it is gone.
std::optional<double> process_cpu(pid_t pid) {
  const auto s = read_stat(stat_path(pid));
  return s ? std::optional<double>(s->cpu_seconds) : std::nullopt;
}

// Minor page faults of the whole process so far: kernel time that a profile of the daemon's own
// functions does not show (more of it on a paravirtualised VM).
uint64_t minor_faults(pid_t pid) {
  const auto s = read_stat(stat_path(pid));
  return s ? s->minor_faults : 0;
}

// utime + stime (seconds) of each thread of `pid`, summed by thread name: which stage of the
// daemon (the io thread, an emitter, a sink's dispatcher) takes the CPU.
std::map<std::string, double> cpu_by_thread_name(pid_t pid) {
  std::map<std::string, double> out;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(tasks.c_str()), closedir);
  if (!dir) return out;
  while (dirent* t = readdir(dir.get()))
    if (t->d_name[0] != '.')
      if (auto s = read_stat(tasks + "/" + t->d_name + "/stat")) out[s->name] += s->cpu_seconds;
  return out;
}

// Context switches (voluntary + involuntary) of every thread of `pid` so far: how often the
// daemon's threads slept and were woken, the cost the CPU figure hides in the kernel.
uint64_t context_switches(pid_t pid) {
  uint64_t total = 0;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(tasks.c_str()), closedir);
  if (!dir) return 0;
  while (dirent* t = readdir(dir.get())) {
    if (t->d_name[0] == '.') continue;
    std::istringstream in(slurp(tasks + "/" + t->d_name + "/status"));
    for (std::string line; std::getline(in, line);)
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0 ||
          line.rfind("nonvoluntary_ctxt_switches:", 0) == 0)
        total += std::stoull(line.substr(line.find(':') + 1));
  }
  return total;
}

// The value of `key=` in a metrics line (`... delivered=123 ...`), or -1.
long long metric_value(const std::string& line, const std::string& key) {
  const size_t at = line.find(" " + key + "=");
  if (at == std::string::npos) return -1;
  return std::atoll(line.c_str() + at + key.size() + 2);
}

// Whitespace-separated words of `s` after `marker` (empty when absent).
std::vector<std::string> words_after(const std::string& s, const std::string& marker) {
  std::vector<std::string> w;
  const size_t at = s.find(marker);
  if (at == std::string::npos) return w;
  std::istringstream in(s.substr(at + marker.size()));
  for (std::string x; in >> x;)
    w.push_back(x);
  return w;
}

// `sluice run PIPELINE` with its stderr (the log) read line by line on a thread of its own.
class Daemon {
 public:
  Daemon(const std::string& sluice, const std::string& pipeline) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    std::vector<std::string> args = {sluice, "run", pipeline};
    std::vector<char*> cargs;
    for (auto& a : args)
      cargs.push_back(a.data());
    cargs.push_back(nullptr);
    const int rc = posix_spawn(&pid_, sluice.c_str(), &actions, nullptr, cargs.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (rc != 0) {
      close(fds[0]);
      throw std::runtime_error("cannot start " + sluice + ": " + std::strerror(rc));
    }
    reader_ = std::thread([this, fd = fds[0]] { read_log(fd); });
  }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  ~Daemon() {
    if (pid_ > 0) stop();
  }

  pid_t pid() const { return pid_; }

  // Waits until `pred(*this)` holds (checked at every log line) or `timeout` passes or the
  // daemon's log ends; returns whether it held.
  template <typename Pred>
  bool wait(std::chrono::seconds timeout, Pred pred) {
    std::unique_lock lock(m_);
    cv_.wait_for(lock, timeout, [&] { return pred(*this) || eof_; });
    return pred(*this);
  }

  // Under wait's lock: the latest figures seen.
  bool up = false;
  long long emitted = -1, delivered = -1, dropped = -1;
  std::vector<std::string> sink_row, source_row;  // the shutdown accounting table
  std::string problems;                           // the log but the metrics lines

  // SIGTERM, then the exit status (-1: killed after 30 s).
  int stop() {
    kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 3000; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) break;
      if (i == 2999) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        status = -1;
      }
      std::this_thread::sleep_for(10ms);
    }
    pid_ = -1;
    if (reader_.joinable()) reader_.join();
    return status == -1 ? -1 : (WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  }

 private:
  void read_log(int fd) {
    FILE* f = fdopen(fd, "r");
    char buf[4096];
    while (f && std::fgets(buf, sizeof buf, f)) {
      const std::string line(buf);
      {
        std::lock_guard lock(m_);
        if (line.find("[hmc] state: up") != std::string::npos) up = true;
        if (line.find("[core] metrics:") != std::string::npos) {
          emitted = metric_value(line, "emitted");
          delivered = metric_value(line, "delivered");
          dropped = metric_value(line, "dropped");
        }
        if (auto w = words_after(line, "[core] "); !w.empty()) {
          if (w[0] == "out" && w.size() == 16) sink_row = w;
          if (w[0] == "hmc" && w.size() == 6) source_row = w;
        }
        if (line.find("[core] metrics:") == std::string::npos && problems.size() < 8000)
          problems += line;
      }
      cv_.notify_all();
    }
    if (f) std::fclose(f);
    std::lock_guard lock(m_);
    eof_ = true;
    cv_.notify_all();
  }

  pid_t pid_ = -1;
  std::thread reader_;
  std::mutex m_;
  std::condition_variable cv_;
  bool eof_ = false;
};

enum class SinkKind { null, file };

struct DaemonResult {
  double rate = 0, cpu_per = 0;  // notifications/s, CPU seconds per notification
  double switches_per = 0;       // context switches per notification (threads exiting: few lost)
  double faults_per = 0;         // minor page faults per notification
  std::string threads;           // "name share%, ..." of the daemon's CPU in the interval
  bool ok = false;
  std::string note;  // why not ok
};

std::string pipeline_yaml(const FakeProcess& f, const std::string& plugin_dir, SinkKind kind,
                          const std::string& dir) {
  std::ostringstream y;
  y << "version: 1\n"
       "log: {level: info, format: text}\n"
       "plugins: {path: ['"
    << plugin_dir
    << "']}\n"
       "metrics: {interval: 20ms}\n"
       "state_dir: '"
    << dir
    << "/state'\n"
       "sources:\n"
       "  hmc:\n"
       "    plugin: hmc_stomp\n"
       "    options:\n"
       "      host: 127.0.0.1\n"
       "      stomp_port: "
    << f.stomp_port << "\n      api_port: " << f.api_port
    << "\n"
       "      userid: hmcuser\n"
       "      password: hmcpassword\n"
       "      topics: ["
    << kTopic << "]\n      tls: {ca_file: '" << f.ca_file
    << "'}\n"
       "sinks:\n"
       "  out:\n";
  if (kind == SinkKind::null)
    y << "    plugin: 'null'\n";  // quoted: a bare null is YAML's null
  else
    y << "    plugin: file\n    options: {path: '" << dir << "/out.jsonl', format: json}\n";
  y << "routes:\n  - {from: hmc, to: out}\n";
  return y.str();
}

uint64_t count_lines(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  std::vector<char> buf(1 << 20);
  uint64_t lines = 0;
  for (ssize_t k; (k = read(fd, buf.data(), buf.size())) > 0;)
    lines += static_cast<uint64_t>(std::count(buf.data(), buf.data() + k, '\n'));
  close(fd);
  return lines;
}

// `perf record` attached to `pid` from now until stop_perf (a flat profile, every thread).
pid_t start_perf(pid_t pid, const std::string& out) {
  std::vector<std::string> args = {"perf", "record", "-q", "-F", "2000", "-p", std::to_string(pid),
                                   "-o",   out};
  std::vector<char*> cargs;
  for (auto& a : args)
    cargs.push_back(a.data());
  cargs.push_back(nullptr);
  pid_t perf = -1;
  if (posix_spawnp(&perf, "perf", nullptr, nullptr, cargs.data(), environ) != 0) return -1;
  std::this_thread::sleep_for(300ms);  // perf attaches
  return perf;
}

void stop_perf(pid_t perf) {
  if (perf <= 0) return;
  kill(perf, SIGINT);
  int status = 0;
  waitpid(perf, &status, 0);
}

DaemonResult run_daemon(const FakeProcess& f, const std::string& sluice,
                        const std::string& plugin_dir, SinkKind kind, const std::string& base,
                        uint64_t n, const std::string& perf_prefix) {
  DaemonResult r;
  const std::string dir = base + (kind == SinkKind::null ? "/null" : "/file");
  std::system(("rm -rf '" + dir + "'").c_str());
  if (mkdir(dir.c_str(), 0700) != 0) throw std::runtime_error("mkdir " + dir);
  const std::string pipeline = dir + "/pipeline.yaml";
  std::ofstream(pipeline) << pipeline_yaml(f, plugin_dir, kind, dir);

  Daemon d(sluice, pipeline);
  if (!d.wait(60s, [](const Daemon& x) { return x.up; }) || !wait_subscribers(f, 1)) {
    r.note = "the daemon did not come up: " + d.problems;
    return r;
  }
  const pid_t perf =
      perf_prefix.empty()
          ? -1
          : start_perf(d.pid(),
                       perf_prefix + (kind == SinkKind::null ? ".null" : ".file") + ".perf.data");
  const double cpu0 = process_cpu(d.pid()).value_or(0);
  const uint64_t switches0 = context_switches(d.pid());
  const uint64_t faults0 = minor_faults(d.pid());
  const auto threads0 = cpu_by_thread_name(d.pid());
  const auto t0 = Clock::now();
  publish(f, n);
  const bool all =
      d.wait(600s, [n](const Daemon& x) { return x.delivered >= static_cast<long long>(n); });
  const auto t1 = Clock::now();
  const double cpu1 = process_cpu(d.pid()).value_or(0);
  const uint64_t switches1 = context_switches(d.pid());
  const uint64_t faults1 = minor_faults(d.pid());
  const auto threads1 = cpu_by_thread_name(d.pid());
  stop_perf(perf);
  const int status = d.stop();
  const double secs = std::chrono::duration<double>(t1 - t0).count();
  r.rate = n / secs;
  r.cpu_per = (cpu1 - cpu0) / n;
  r.switches_per = static_cast<double>(switches1 - switches0) / static_cast<double>(n);
  r.faults_per = static_cast<double>(faults1 - faults0) / static_cast<double>(n);
  std::vector<std::pair<double, std::string>> by_share;
  for (const auto& [name, thread_secs] : threads1) {
    const auto before = threads0.find(name);
    const double used = thread_secs - (before == threads0.end() ? 0.0 : before->second);
    if (used > 0) by_share.emplace_back(used, name);
  }
  std::sort(by_share.rbegin(), by_share.rend());
  const double total = std::max(cpu1 - cpu0, 1e-9);
  for (const auto& [used, name] : by_share) {
    char part[96];
    std::snprintf(part, sizeof part, "%s%s %.0f%%", r.threads.empty() ? "" : ", ", name.c_str(),
                  100.0 * used / total);
    r.threads += part;
  }

  // Exactly N, nothing lost, nothing twice: the shutdown table, and the file's lines.
  const std::string want = std::to_string(n);
  std::ostringstream why;
  if (!all) why << "only " << d.delivered << " of " << n << " delivered; ";
  if (status != 0) why << "sluice run exited " << status << "; ";
  if (d.sink_row.size() != 16 || d.source_row.size() != 6)
    why << "no accounting table in the log; ";
  else {
    if (d.source_row[1] != want) why << "emitted " << d.source_row[1] << "; ";
    if (d.sink_row[1] != want) why << "received " << d.sink_row[1] << "; ";
    if (d.sink_row[3] != want) why << "delivered " << d.sink_row[3] << "; ";
    if (d.sink_row[15] != "yes") why << "accounting not balanced; ";
    if (d.source_row[2] != "0") why << d.source_row[2] << " parse errors; ";
  }
  if (kind == SinkKind::file) {
    const uint64_t lines = count_lines(dir + "/out.jsonl");
    if (lines != n) why << "the file has " << lines << " lines; ";
  }
  r.note = why.str();
  if (!r.note.empty()) r.note += d.problems;
  r.ok = r.note.empty();
  std::system(("rm -rf '" + dir + "'").c_str());
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t n = 1000000, py_n = 100000, rounds = 3;
  std::string fake = SLUICE_FAKE_HMC, sluice = SLUICE_EXE, plugin_dir = SLUICE_PLUGIN_DIR,
              python = SLUICE_PYTHON, script = STOMP_PY_SCRIPT, perf_prefix;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--n")
      n = std::stoull(argv[i + 1]);
    else if (a == "--py-n")
      py_n = std::stoull(argv[i + 1]);
    else if (a == "--rounds")
      rounds = std::max<uint64_t>(1, std::stoull(argv[i + 1]));
    else if (a == "--fake")
      fake = argv[i + 1];
    else if (a == "--sluice")
      sluice = argv[i + 1];
    else if (a == "--plugin-dir")
      plugin_dir = argv[i + 1];
    else if (a == "--python")
      python = argv[i + 1];
    else if (a == "--perf")
      perf_prefix = argv[i + 1];
    else {
      std::cerr << "usage: bench_e2e [--n N] [--py-n N] [--rounds R] [--fake PATH] "
                   "[--sluice PATH] [--plugin-dir DIR] [--python PATH] [--perf PREFIX]\n";
      return 2;
    }
  }
  if (argc % 2 == 0) {
    std::cerr << "bench_e2e: " << argv[argc - 1] << " needs a value\n";
    return 2;
  }

  // The file sink refuses a directory others can write to, so not /tmp itself.
  const std::string dir = "/tmp/bench_e2e_" + std::to_string(getpid());
  if (mkdir(dir.c_str(), 0700) != 0) {
    std::cerr << "mkdir " << dir << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  int failures = 0;
  {
    FakeProcess fp(fake, dir);
    std::printf("sluice run end to end: fake HMC (pid %d) -> loopback TLS -> hmc_stomp -> sink\n",
                fp.pid);
    std::vector<double> raws, py_rates, py_cpus;
    std::vector<double> rates[2], cpus[2];
    const char* names[2] = {"sluice run -> null sink", "sluice run -> file sink (JSON)"};
    std::string py_note;
    for (uint64_t round = 1; round <= rounds; ++round) {
      if (rounds > 1)
        std::printf(" round %llu of %llu\n", static_cast<unsigned long long>(round),
                    static_cast<unsigned long long>(rounds));
      raws.push_back(raw_reader(fp, n));
      std::printf("  %-34s %12.0f notifications/s   (n=%llu)\n", "fake -> raw TLS reader (ceiling)",
                  raws.back(), static_cast<unsigned long long>(n));
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
      wait_subscribers(fp, 0);
      for (int k = 0; k < 2; ++k) {
        DaemonResult a = run_daemon(fp, sluice, plugin_dir,
                                    k == 0 ? SinkKind::null : SinkKind::file, dir, n, perf_prefix);
        wait_subscribers(fp, 0);
        if (!a.ok) {
          ++failures;
          std::printf("  %-34s FAILED: %s\n", names[k], a.note.c_str());
          continue;
        }
        rates[k].push_back(a.rate);
        cpus[k].push_back(a.cpu_per);
        std::printf(
            "  %-34s %12.0f notifications/s   %.3f us CPU/notification (n=%llu, %.3f context "
            "switches/notification)\n",
            names[k], a.rate, a.cpu_per * 1e6, static_cast<unsigned long long>(n), a.switches_per);
        std::printf("  %-34s %.3f minor page faults/notification; CPU by thread: %s\n", "",
                    a.faults_per, a.threads.c_str());
        if (b.ok) std::printf("  %-34s %11.1fx stomp.py in this round\n", "", a.rate / b.rate);
      }
    }
    const bool have_py = !py_rates.empty();
    const double py_rate = median(py_rates), py_cpu = median(py_cpus);
    std::printf(" median of %llu round(s)\n", static_cast<unsigned long long>(rounds));
    std::printf("  %-34s %12.0f notifications/s\n", "fake -> raw TLS reader (ceiling)",
                median(raws));
    if (have_py)
      std::printf("  %-34s %12.0f notifications/s   %.3f us CPU/notification\n",
                  "stomp.py subscriber (baseline)", py_rate, py_cpu * 1e6);
    else
      std::printf("  stomp.py baseline not run: %s\n", py_note.c_str());
    std::fflush(stdout);
    const double goal_cpu[2] = {0.6e-6, 1.0e-6}, goal_ratio[2] = {30, 22};
    for (int k = 0; k < 2; ++k) {
      if (rates[k].empty()) continue;
      const double rate = median(rates[k]), cpu = median(cpus[k]);
      std::printf("  %-34s %12.0f notifications/s   %.3f us CPU/notification", names[k], rate,
                  cpu * 1e6);
      if (have_py) std::printf("   %.1fx stomp.py, %.0fx less CPU", rate / py_rate, py_cpu / cpu);
      std::printf("\n  %-34s goals: <= %.1f us CPU: %s; >= %.0fx stomp.py: %s\n", "",
                  goal_cpu[k] * 1e6, cpu <= goal_cpu[k] ? "met" : "NOT met", goal_ratio[k],
                  have_py ? (rate / py_rate >= goal_ratio[k] ? "met" : "NOT met") : "n/a");
    }
    std::fflush(stdout);  // before the fake prints its stats on stderr
  }
  std::system(("rm -rf '" + dir + "'").c_str());
  return failures == 0 ? 0 : 1;
}
