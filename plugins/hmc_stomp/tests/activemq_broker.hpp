// Apache ActiveMQ from Debian (`activemq`) as a real STOMP peer, for hmc_stomp.activemq and
// bench/hmc: a broker configuration in a temp dir (STOMP+SSL for the plugin and plain STOMP for
// a publisher, both on 127.0.0.1 with free ports, a PKCS#12 keystore made by openssl), the broker
// run as its own process group and always killed. Failures throw std::runtime_error naming the
// broker's log.
#pragma once

#include <utility>  // before Boost 1.74 asio: its awaitable.hpp misses it under C++20

#include <boost/asio.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

namespace hmc_test {

inline uint16_t free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(
      io, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

inline bool port_open(uint16_t port) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket s(io);
  boost::system::error_code ec;
  s.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port), ec);
  return !ec;
}

struct ActiveMqSettings {
  std::string name = "sluice-test";  // brokerName, and part of the temp dir's name
  std::string max_heap = "256m";     // java -Xmx
};

class ActiveMqBroker {
 public:
  explicit ActiveMqBroker(ActiveMqSettings settings = {}) : settings_(std::move(settings)) {
    std::string tmpl = "/tmp/" + settings_.name + "-activemq-XXXXXX";
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    std::filesystem::create_directories(dir_ + "/conf");
    std::filesystem::create_directories(dir_ + "/data");
    stomp_port = free_port();
    ssl_port = free_port();
    run("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost"
        " -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " +
        dir_ + "/key.pem -out " + dir_ + "/cert.pem 2>/dev/null");
    run("openssl pkcs12 -export -inkey " + dir_ + "/key.pem -in " + dir_ + "/cert.pem -out " +
        dir_ + "/broker.p12 -passout pass:secret123 -name broker");
    std::ofstream(dir_ + "/conf/activemq.xml")
        << R"(<beans xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans.xsd
    http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <broker xmlns="http://activemq.apache.org/schema/core" brokerName=")"
        << settings_.name << R"(" persistent="false" useJmx="false" dataDirectory=")" << dir_
        << R"(/data">
    <sslContext>
      <sslContext keyStore="file:)"
        << dir_ << R"(/broker.p12" keyStorePassword="secret123" keyStoreType="pkcs12"/>
    </sslContext>
    <transportConnectors>
      <transportConnector name="stomp" uri="stomp://127.0.0.1:)"
        << stomp_port << R"("/>
      <transportConnector name="stompssl" uri="stomp+ssl://127.0.0.1:)"
        << ssl_port << R"("/>
    </transportConnectors>
  </broker>
</beans>
)";
  }

  // Kills the broker; removes its folder unless HMC_STOMP_KEEP_ACTIVEMQ_DIR is set.
  ~ActiveMqBroker() {
    stop();
    std::error_code ec;
    if (std::getenv("HMC_STOMP_KEEP_ACTIVEMQ_DIR") == nullptr)
      std::filesystem::remove_all(dir_, ec);
  }

  ActiveMqBroker(const ActiveMqBroker&) = delete;
  ActiveMqBroker& operator=(const ActiveMqBroker&) = delete;

  // The broker's certificate, to verify it by.
  std::string ca_file() const { return dir_ + "/cert.pem"; }
  // The log of the latest start.
  std::string log() const { return dir_ + "/broker" + std::to_string(starts_) + ".log"; }

  // Starts the broker and waits (up to 120 s) until both connectors listen.
  void start() {
    ++starts_;
    const std::string log_file = log();
    // Everything the child needs is made here: after fork() in a process with threads, the
    // child may only make async-signal-safe calls until exec (a malloc or stdio lock held by
    // another thread at the fork never comes free there: the restart hung, log empty).
    const std::string java = find_in_path("java"), heap = "-Xmx" + settings_.max_heap,
                      base = "-Dactivemq.base=" + dir_, conf = "-Dactivemq.conf=" + dir_ + "/conf",
                      data = "-Dactivemq.data=" + dir_ + "/data",
                      home = "-Dactivemq.home=/usr/share/activemq",
                      jar = "/usr/share/activemq/bin/activemq.jar",
                      xbean = "xbean:file:" + dir_ + "/conf/activemq.xml";
    const char* argv[] = {"java",       heap.c_str(),  base.c_str(), conf.c_str(),
                          data.c_str(), home.c_str(),  "-jar",       jar.c_str(),
                          "start",      xbean.c_str(), nullptr};
    const int log_fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd < 0) throw std::runtime_error("cannot create " + log_file);
    std::fflush(stdout);  // or the child repeats what is buffered
    std::fflush(stderr);
    pid_ = fork();
    if (pid_ < 0) {
      ::close(log_fd);
      throw std::runtime_error("fork failed");
    }
    if (pid_ == 0) {
      setpgid(0, 0);                     // its own group, so stop() reaches every process
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // and a crashed test leaves no broker behind
      dup2(log_fd, STDOUT_FILENO);       // dup2 clears close-on-exec on the copies
      dup2(log_fd, STDERR_FILENO);
      execve(java.c_str(), const_cast<char* const*>(argv), environ);
      _exit(127);
    }
    ::close(log_fd);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (!(port_open(ssl_port) && port_open(stomp_port))) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("ActiveMQ exited at start; see " + log_file);
      }
      if (std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error("ActiveMQ did not listen within 120 s; see " + log_file);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // polling the port
    }
  }

  // Kills the broker's process group (a crash, as far as clients can tell) and waits until its
  // SSL port is closed (up to 30 s).
  void stop() {
    if (pid_ <= 0) return;
    kill(-pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (port_open(ssl_port) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  uint16_t stomp_port = 0;  // plain STOMP, for publishers
  uint16_t ssl_port = 0;    // STOMP+SSL, for the plugin

 private:
  static std::string find_in_path(const std::string& program) {
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/bin:/bin";
    for (size_t begin = 0; begin <= dirs.size();) {
      size_t end = dirs.find(':', begin);
      if (end == std::string::npos) end = dirs.size();
      std::string candidate = dirs.substr(begin, end - begin) + "/" + program;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
      begin = end + 1;
    }
    throw std::runtime_error(program + " not found in PATH");
  }

  static void run(const std::string& command) {
    if (std::system(command.c_str()) != 0) throw std::runtime_error("failed: " + command);
  }

  ActiveMqSettings settings_;
  std::string dir_;
  pid_t pid_ = -1;
  int starts_ = 0;
};

}  // namespace hmc_test
