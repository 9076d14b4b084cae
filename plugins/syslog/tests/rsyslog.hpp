// A real rsyslogd for the syslog sink's tests and benchmark, started on loopback with its own
// configuration, pid file and work directory in a temporary folder, writing every message of
// APP-NAME "sluicetest" it receives to a file as JSON lines (rsyslog's own parse of each
// message: pri, hostname, app, procid, msgid, sd, msg). Its own start and stop messages stay
// out of that file. Every wait is a bounded loop; failures throw std::runtime_error.
#pragma once

#include <sluice/testing.hpp>
#include <sluice/tls.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice::syslog::testing {

using nlohmann::json;
using sluice::testing::TempDir;

uint16_t free_port(int type = SOCK_STREAM) {
  int fd = ::socket(AF_INET, type, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool tcp_listening(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// One rsyslogd with the inputs a test asks for; the output file collects only the messages of
// APP-NAME "sluicetest" (rsyslog's own start and stop messages stay out).
class Rsyslog {
 public:
  enum Input { tcp, tls, relp, udp };

  Rsyslog(TempDir& dir, Input input) : dir_(dir), input_(input) {
    port_ = free_port(input == udp ? SOCK_DGRAM : SOCK_STREAM);
    probe_port_ = input == udp ? free_port() : port_;
    out_ = dir.file("out.jsonl");
    std::filesystem::create_directories(dir.file("work"));
    std::ostringstream c;
    c << "global(workDirectory=\"" << dir.file("work") << "\" maxMessageSize=\"64k\"\n"
      << "       parser.escapeControlCharactersOnReceive=\"off\" "
         "parser.dropTrailingLFOnReception=\"off\"";
    if (input == tls) {
      const auto pem = sluice::tls::generate_self_signed({"127.0.0.1"});
      std::ofstream(dir.file("cert.pem")) << pem.certificate;
      std::ofstream(dir.file("key.pem")) << pem.private_key;
      c << "\n       defaultNetstreamDriver=\"ossl\" defaultNetstreamDriverCAFile=\""
        << dir.file("cert.pem") << "\"\n       defaultNetstreamDriverCertFile=\""
        << dir.file("cert.pem") << "\" defaultNetstreamDriverKeyFile=\"" << dir.file("key.pem")
        << "\"";
    }
    c << ")\n";
    // Direct: a message is written before imrelp acknowledges it, so a stop loses nothing
    // rsyslog acknowledged.
    c << "main_queue(queue.type=\"Direct\")\n";
    switch (input) {
      case tcp:
        c << "module(load=\"imtcp\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"" << port_
          << "\")\n";
        break;
      case tls:
        c << "module(load=\"imtcp\" streamDriver.name=\"ossl\" streamDriver.mode=\"1\" "
             "streamDriver.authMode=\"anon\")\n"
          << "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"" << port_ << "\")\n";
        break;
      case relp:
        c << "module(load=\"imrelp\")\ninput(type=\"imrelp\" address=\"127.0.0.1\" port=\"" << port_
          << "\")\n";
        break;
      case udp:
        c << "module(load=\"imudp\")\ninput(type=\"imudp\" address=\"127.0.0.1\" port=\"" << port_
          << "\")\n"
          << "module(load=\"imtcp\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\""
          << probe_port_ << "\")\n";
        break;
    }
    c << R"(template(name="j" type="list" option.jsonf="on") {
  property(outname="pri" name="pri" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}
if $app-name == "sluicetest" then {
  action(type="omfile" file=")"
      << out_ << R"(" template="j")
}
)";
    std::ofstream(dir.file("rsyslog.conf")) << c.str();
    start();
  }
  ~Rsyslog() { stop(); }

  void start() {
    const std::string conf = dir_.file("rsyslog.conf"), pid = dir_.file("rsyslog.pid");
    std::vector<std::string> args = {RSYSLOGD, "-n", "-f", conf, "-i", pid};
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("cannot start " RSYSLOGD ": fork failed");
    if (pid_ == 0) {
      // rsyslogd ends with the test process, however that ends (an abort included).
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::execv(RSYSLOGD, argv.data());
      ::_exit(127);
    }
    bool up = false;
    for (int i = 0; i < 400 && !up; ++i) {
      up = tcp_listening(probe_port_);
      if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(25));
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) != 0) {
        pid_ = -1;
        throw std::runtime_error("rsyslogd ended at start (see its messages above)");
      }
    }
    if (!up)
      throw std::runtime_error("rsyslogd does not listen on 127.0.0.1:" +
                               std::to_string(probe_port_));
  }

  // SIGTERM, as a service manager stops it; waits for the process to end.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  // SIGKILL: a crash; what rsyslog had not read or not written yet is gone.
  void crash() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  // SIGSTOP / SIGCONT: a receiver that stops reading, with its connections open.
  void pause(bool paused) {
    if (pid_ > 0) ::kill(pid_, paused ? SIGSTOP : SIGCONT);
  }

  uint16_t port() const { return port_; }

  std::vector<json> lines() const {
    std::vector<json> out;
    std::ifstream in(out_);
    std::string line;
    while (std::getline(in, line))
      if (!line.empty()) out.push_back(json::parse(line));
    return out;
  }

  // Messages in the file so far, counted from where the last call stopped (cheap to poll).
  size_t count() {
    std::ifstream in(out_, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(counted_bytes_));
    char buf[65536];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
      const auto n = static_cast<size_t>(in.gcount());
      for (size_t i = 0; i < n; ++i)
        if (buf[i] == '\n') ++counted_;
      counted_bytes_ += n;
    }
    return counted_;
  }

  // Waits (bounded) until the file holds at least n messages.
  std::vector<json> wait_lines(size_t n) const {
    std::vector<json> got;
    for (int i = 0; i < 600; ++i) {
      got = lines();
      if (got.size() >= n) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return got;
  }

 private:
  TempDir& dir_;
  Input input_;
  uint16_t port_ = 0, probe_port_ = 0;
  std::string out_;
  pid_t pid_ = -1;
  size_t counted_ = 0;
  uint64_t counted_bytes_ = 0;
};

}  // namespace sluice::syslog::testing
