// A small RELP server for the tests, written from the protocol document (librelp's
// doc/relp.html) and not from the sink's codec: frames are `TXNR SP COMMAND SP DATALEN [SP DATA]
// LF`; it answers `open` with `200 OK` and its offers, `close` with `200 OK`, and each `syslog`
// command as the test's policy says: acknowledge it, withhold the acknowledgement, or answer
// raw bytes of the test's choosing (hostile servers). It records the transaction numbers and the
// event ids (id="..." in the structured data) of every syslog command it read.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace sluice::syslog::testing {

class FakeRelp {
 public:
  // What to answer to the n-th syslog command (0-based, over every connection) with txnr t:
  // the bytes to send (empty: withhold the answer).
  using Policy = std::function<std::string(size_t n, const std::string& txnr)>;
  // The answer to `open` (raw bytes); empty: `200 OK` with commands=syslog; "withhold": none.
  explicit FakeRelp(Policy policy, std::string open_answer = {})
      : policy_(std::move(policy)), open_answer_(std::move(open_answer)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listen_fd_, 8) != 0)
      throw std::runtime_error("fake RELP server: cannot listen");
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~FakeRelp() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }

  static std::string ack(const std::string& txnr) { return txnr + " rsp 6 200 OK\n"; }

  uint16_t port() const { return port_; }
  std::vector<std::string> ids() const {
    std::lock_guard lock(mutex_);
    return ids_;
  }
  std::vector<std::string> acked_ids() const {
    std::lock_guard lock(mutex_);
    return acked_;
  }
  std::vector<std::string> txnrs() const {
    std::lock_guard lock(mutex_);
    return txnrs_;
  }
  size_t syslog_count() const {
    std::lock_guard lock(mutex_);
    return ids_.size();
  }
  size_t connections() const { return connections_.load(); }
  std::vector<std::string> commands() const {
    std::lock_guard lock(mutex_);
    return commands_;
  }

 private:
  void run() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++connections_;
      serve(fd);
      ::close(fd);
    }
  }

  static void send_all(int fd, const std::string& s) {
    size_t done = 0;
    while (done < s.size()) {
      const ssize_t n = ::send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return;
      done += static_cast<size_t>(n);
    }
  }

  // One connection until the client closes it, sends a malformed frame, or the server stops.
  void serve(int fd) {
    std::string buf;
    char chunk[65536];
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) return;
      buf.append(chunk, static_cast<size_t>(n));
      for (;;) {
        // TXNR SP COMMAND SP DATALEN [SP DATA] LF
        const size_t sp1 = buf.find(' ');
        if (sp1 == std::string::npos) break;
        const size_t sp2 = buf.find(' ', sp1 + 1);
        if (sp2 == std::string::npos) break;
        size_t end_len = sp2 + 1;
        while (end_len < buf.size() && buf[end_len] >= '0' && buf[end_len] <= '9')
          ++end_len;
        if (end_len == buf.size()) break;
        const size_t len =
            std::strtoul(buf.substr(sp2 + 1, end_len - sp2 - 1).c_str(), nullptr, 10);
        const size_t data_at = len ? end_len + 1 : end_len;
        if (buf.size() < data_at + len + 1) break;
        if (buf[data_at + len] != '\n') return;  // not RELP: drop the connection
        const std::string txnr = buf.substr(0, sp1);
        const std::string command = buf.substr(sp1 + 1, sp2 - sp1 - 1);
        const std::string data = buf.substr(data_at, len);
        buf.erase(0, data_at + len + 1);
        {
          std::lock_guard lock(mutex_);
          commands_.push_back(command);
        }
        if (command == "open") {
          const std::string offers =
              "200 OK\nrelp_version=0\nrelp_software=fake,1\ncommands=syslog";
          if (open_answer_ == "withhold") continue;
          send_all(fd, open_answer_.empty()
                           ? txnr + " rsp " + std::to_string(offers.size()) + " " + offers + "\n"
                           : open_answer_);
        } else if (command == "close") {
          send_all(fd, ack(txnr));
          send_all(fd, "0 serverclose 0\n");
          return;
        } else if (command == "syslog") {
          std::string id;
          const size_t at = data.find("id=\"");
          if (at != std::string::npos) id = data.substr(at + 4, data.find('"', at + 4) - at - 4);
          size_t index;
          {
            std::lock_guard lock(mutex_);
            index = ids_.size();
            ids_.push_back(id);
            txnrs_.push_back(txnr);
          }
          const std::string answer = policy_(index, txnr);
          if (answer == ack(txnr)) {
            std::lock_guard lock(mutex_);
            acked_.push_back(id);
          }
          if (!answer.empty()) send_all(fd, answer);
        }
      }
    }
  }

  Policy policy_;
  std::string open_answer_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> connections_{0};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<std::string> ids_, acked_, txnrs_, commands_;
};

}  // namespace sluice::syslog::testing
