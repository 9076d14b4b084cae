// A child process for tests and benchmarks that drive whole programs (`sluice run`, a mock
// server, kcat): its output to a log file, or its stdin and stdout as pipes to talk to it line
// by line; a bounded wait for its exit, signals, and SIGKILL when the object goes away. And
// poll_until, the bounded wait for a condition that such tests poll (a file, a count), and
// generator_pipeline, the pipeline file of a sink plugin's end-to-end test.
//
//   sluice::testing::Child run(SLUICE_EXECUTABLE, {"run", "p.yaml"}, dir.path / "log", false);
//   run.signal(SIGTERM);
//   CHECK(run.wait() == 0);
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace sluice::testing {

using namespace std::chrono_literals;

// A child process; with `piped`, its stdin and stdout are pipes to this process (else its
// stdout and stderr go to `log`).
struct Child {
  pid_t pid = -1;
  int to = -1;    // its stdin
  int from = -1;  // its stdout
  std::string buffered;

  Child(const std::string& exe, const std::vector<std::string>& args,
        const std::filesystem::path& log, bool piped) {
    // Made before the fork: the child of a process with threads may not allocate before exec.
    std::string path = exe;
    std::vector<std::string> copy = args;
    std::vector<char*> argv{path.data()};
    for (auto& a : copy)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    if (piped && (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0))
      throw std::runtime_error("pipe failed");
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    pid = ::fork();
    if (pid == 0) {
      ::dup2(fd, 2);
      if (piped) {
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
      } else {
        ::dup2(fd, 1);
      }
      ::execv(path.c_str(), argv.data());
      ::_exit(127);
    }
    if (fd >= 0) ::close(fd);
    if (piped) {
      ::close(in[0]);
      ::close(out[1]);
      to = in[1];
      from = out[0];
    }
  }

  // The next line of its stdout (bounded wait); throws at the end or after `timeout`.
  std::string line(std::chrono::seconds timeout = 180s) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto nl = buffered.find('\n'); nl != std::string::npos) {
        std::string l = buffered.substr(0, nl);
        buffered.erase(0, nl + 1);
        return l;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) throw std::runtime_error("no line from the child in time");
      pollfd p{from, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[65536];
      const ssize_t n = ::read(from, buf, sizeof buf);
      if (n <= 0) throw std::runtime_error("the child closed its output");
      buffered.append(buf, static_cast<size_t>(n));
    }
  }

  void say(const std::string& text) {
    const std::string l = text + "\n";
    if (::write(to, l.data(), l.size()) != static_cast<ssize_t>(l.size()))
      throw std::runtime_error("cannot write to the child");
  }

  // Waits (bounded) for the exit; returns the exit code, or -signal, or -1000 on timeout.
  int wait(std::chrono::seconds timeout = 60s) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
      }
      std::this_thread::sleep_for(20ms);
    }
    return -1000;
  }
  void signal(int sig) {
    if (pid > 0) ::kill(pid, sig);
  }
  ~Child() {
    if (to >= 0) ::close(to);
    if (from >= 0) ::close(from);
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

// Asks `pred` every `interval` until it holds or `timeout` has passed; returns its last answer.
template <typename Pred>
bool poll_until(Pred pred, std::chrono::milliseconds timeout = 60s,
                std::chrono::milliseconds interval = 20ms) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(interval);
  }
  return pred();
}

// The pipeline file of a sink plugin's end-to-end test: the generator ("gen") -> one sink.
//   generator_pipeline({.state_dir = dir.path / "state",
//                       .generator = "template: minimal, rate: 0, count: 300",
//                       .sink_plugin = "webhook",
//                       .sink_options = "url: \"" + url + "\"",
//                       .sink_lines = "    batch: {max_events: 50}\n"})
struct GeneratorPipeline {
  std::filesystem::path state_dir;
  std::string generator;  // the generator's options, inside a YAML flow map
  std::string sink_name = "out";
  std::string sink_plugin;
  std::string sink_options;  // the sink's options, inside a YAML flow map
  std::string sink_lines;    // more of the sink's block (batch, retry, queue), indented by 4
};

inline std::string generator_pipeline(const GeneratorPipeline& p) {
  return "version: 1\n"
         "log: {level: info}\n"
         "state_dir: " +
         p.state_dir.string() +
         "\n"
         "sources:\n"
         "  gen:\n"
         "    plugin: generator\n"
         "    options: {" +
         p.generator +
         "}\n"
         "sinks:\n"
         "  " +
         p.sink_name +
         ":\n"
         "    plugin: " +
         p.sink_plugin +
         "\n"
         "    options: {" +
         p.sink_options + "}\n" + p.sink_lines +
         "routes:\n"
         "  - from: gen\n"
         "    to: " +
         p.sink_name + "\n";
}

}  // namespace sluice::testing
