// Syslog sink: RFC 5424 messages over UDP (RFC 5426), TCP (RFC 6587), TLS (RFC 5425) or RELP
// (relp_client.hpp). A synchronous sink: deliver() formats the batch and writes
// it on the calling thread, every network step bounded by its timeout. See README.md for the
// options and for what each transport can lose.
#include "relp_client.hpp"
#include "syslog_format.hpp"

#include <sluice/option_check.hpp>
#include <sluice/sdk.hpp>
#include <sluice/sigpipe.hpp>
#include <sluice/tls.hpp>
#include <sluice/units.hpp>

#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace sluice::syslog {
namespace {

using std::chrono::milliseconds;

enum class Transport { udp, tcp, tls, relp };

Transport parse_transport(const std::string& s) {
  if (s == "udp") return Transport::udp;
  if (s == "tcp") return Transport::tcp;
  if (s == "tls") return Transport::tls;
  if (s == "relp") return Transport::relp;
  throw std::invalid_argument("unknown transport '" + s + "' (udp, tcp, tls, relp)");
}

const char* transport_name(Transport t) {
  switch (t) {
    case Transport::udp:
      return "udp";
    case Transport::tcp:
      return "tcp";
    case Transport::tls:
      return "tls";
    case Transport::relp:
      return "relp";
  }
  return "?";
}

std::string machine_hostname() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || !name[0]) return "-";
  return name;
}

struct Config {
  std::string host;
  uint16_t port = 0;
  Transport transport = Transport::tcp;
  Framing framing = Framing::octet_counting;
  FormatOptions format;
  milliseconds connect_timeout{5000};
  milliseconds write_timeout{10000};
  milliseconds ack_timeout{30000};  // RELP
  uint32_t relp_window = 128;
  tls::ClientOptions tls;

  // One code path for create() and check_options: every bad value is a problem at its option.
  static Config read(const nlohmann::json& o, OptionProblems& problems) {
    Config c;
    OptionCollector get(problems);
    c.host = get.get<std::string>(o, "host", "", "/host", "a string");
    if (c.host.empty()) get.add("/host", "host: a host name or address is required");
    c.transport =
        get.value(o, "transport", "/transport", "a string",
                  [](const nlohmann::json& v) { return parse_transport(v.get<std::string>()); })
            .value_or(Transport::tcp);
    const int64_t port = get.get<int64_t>(o, "port", 0, "/port", "a whole number");
    if (port < 0 || port > 65535)
      get.add("/port", "port: " + std::to_string(port) + " is not a port (1-65535)");
    // The IANA ports: syslog 514/udp, shell 514/tcp is not syslog but rsyslog's default
    // listener, syslog-tls 6514, RELP has none (rsyslog's examples use 2514).
    const uint16_t dflt = c.transport == Transport::tls    ? 6514
                          : c.transport == Transport::relp ? 2514
                                                           : 514;
    c.port = port > 0 && port <= 65535 ? static_cast<uint16_t>(port) : dflt;
    const std::string framing =
        get.get<std::string>(o, "framing", "octet-counting", "/framing", "a string");
    if (framing == "octet-counting")
      c.framing = Framing::octet_counting;
    else if (framing == "non-transparent")
      c.framing = Framing::non_transparent;
    else
      get.add("/framing",
              "framing: unknown framing '" + framing + "' (octet-counting, non-transparent)");
    if (o.contains("framing") && c.transport != Transport::tcp && c.transport != Transport::tls)
      get.add("/framing", std::string("framing: only for tcp and tls (") +
                              transport_name(c.transport) + " frames each message itself)");
    FormatOptions& f = c.format;
    f.hostname = get.get<std::string>(o, "hostname", machine_hostname(), "/hostname", "a string");
    f.app_name = get.get<std::string>(o, "app_name", f.app_name, "/app_name", "a string");
    f.procid = get.get<std::string>(o, "procid", f.procid, "/procid", "a string");
    if (auto sd = o.find("structured_data"); sd != o.end()) {
      if (sd->is_boolean() && !sd->get<bool>()) {
        f.sd_id.clear();
      } else if (sd->is_object()) {
        f.sd_id = get.get<std::string>(*sd, "sd_id", f.sd_id, "/structured_data/sd_id", "a string");
        f.sd_type = get.get<bool>(*sd, "type", false, "/structured_data/type", "a boolean");
        if (auto why = sd_name_problem(f.sd_id))
          get.add("/structured_data/sd_id", "structured_data.sd_id: '" + f.sd_id + "' " + *why);
      }
    }
    f.default_severity =
        get.value(o, "severity", "/severity", "a string",
                  [](const nlohmann::json& v) { return parse_severity(v.get<std::string>()); })
            .value_or(f.default_severity);
    f.default_facility =
        get.value(o, "facility", "/facility", "a string",
                  [](const nlohmann::json& v) { return parse_facility(v.get<std::string>()); })
            .value_or(f.default_facility);
    if (auto levels = o.find("levels"); levels != o.end() && levels->is_array()) {
      for (size_t i = 0; i < levels->size(); ++i) {
        const auto& r = (*levels)[i];
        const std::string at = "/levels/" + std::to_string(i);
        LevelRule rule;
        rule.type_glob = get.get<std::string>(r, "type", "", at + "/type", "a string");
        if (rule.type_glob.empty()) get.add(at + "/type", "levels: each rule needs a type glob");
        rule.severity = f.default_severity;
        rule.facility = f.default_facility;
        rule.severity =
            get.value(r, "severity", at + "/severity", "a string",
                      [](const nlohmann::json& v) { return parse_severity(v.get<std::string>()); })
                .value_or(rule.severity);
        rule.facility =
            get.value(r, "facility", at + "/facility", "a string",
                      [](const nlohmann::json& v) { return parse_facility(v.get<std::string>()); })
                .value_or(rule.facility);
        f.levels.push_back(std::move(rule));
      }
    }
    const std::string body = get.get<std::string>(o, "body", "json", "/body", "a string");
    if (body == "json")
      f.body = Body::json;
    else if (body == "text")
      f.body = Body::text;
    else
      get.add("/body", "body: unknown body '" + body + "' (json, text)");
    f.text_template = get.get<std::string>(o, "template", "", "/template", "a string");
    if (!f.text_template.empty() && f.body != Body::text)
      get.add("/template", "template: only with body: text");
    f.utf8_bom = get.get<bool>(o, "utf8_bom", true, "/utf8_bom", "a boolean");
    const uint64_t max_default = c.transport == Transport::udp ? 2048 : 8192;
    const uint64_t max =
        get.size(o, "max_message_bytes", "/max_message_bytes").value_or(max_default);
    // UDP: the largest IPv4 datagram payload (RFC 5426 3.2); the others: a sane ceiling.
    const uint64_t ceiling = c.transport == Transport::udp ? 65507 : 64u << 20;
    if (max < 480 || max > ceiling)
      get.add("/max_message_bytes", "max_message_bytes: " + std::to_string(max) +
                                        " is out of range (480 to " + std::to_string(ceiling) +
                                        " for " + transport_name(c.transport) + ")");
    f.max_message_bytes = static_cast<size_t>(max);
    c.connect_timeout =
        get.duration(o, "connect_timeout", "/connect_timeout").value_or(c.connect_timeout);
    c.write_timeout = get.duration(o, "write_timeout", "/write_timeout").value_or(c.write_timeout);
    c.ack_timeout = get.duration(o, "ack_timeout", "/ack_timeout").value_or(c.ack_timeout);
    for (auto [key, d] :
         {std::pair<const char*, milliseconds>{"connect_timeout", c.connect_timeout},
          {"write_timeout", c.write_timeout},
          {"ack_timeout", c.ack_timeout}})
      if (d.count() <= 0) get.add(std::string("/") + key, std::string(key) + ": must be positive");
    c.relp_window = static_cast<uint32_t>(
        get.count(o, "relp_window", "/relp_window", 65535).value_or(c.relp_window));
    if (c.relp_window == 0) get.add("/relp_window", "relp_window: must be at least 1");
    if (o.contains("ack_timeout") && c.transport != Transport::relp)
      get.add("/ack_timeout", "ack_timeout: only for relp (the other transports have no acks)");
    if (o.contains("relp_window") && c.transport != Transport::relp)
      get.add("/relp_window", "relp_window: only for relp");
    if (o.contains("tls")) {
      if (c.transport != Transport::tls)
        get.add("/tls",
                std::string("tls: only for transport tls (this is ") + transport_name(c.transport) +
                    (c.transport == Transport::relp ? ": RELP over TLS is not offered" : "") + ")");
      c.tls = tls::ClientOptions::from_json(o["tls"]);
    }
    return c;
  }

  static OptionProblems problems(const nlohmann::json& o) {
    OptionProblems problems;
    Config c = read(o, problems);
    if (!problems.empty() || c.transport != Transport::tls) return problems;
    return tls::check_client_context(c.tls, "/tls");
  }
};

std::string errno_text(int e) {
  return std::strerror(e);
}

// A connected socket (TCP or UDP) to host:port within `timeout`; throws std::runtime_error
// saying which step failed.
int open_socket(const std::string& host, uint16_t port, int socktype, milliseconds timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = socktype;
  addrinfo* list = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &list);
  if (rc != 0) throw std::runtime_error("cannot resolve " + host + ": " + gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(list, freeaddrinfo);
  std::string last = "no address";
  for (addrinfo* a = list; a; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) {
      last = errno_text(errno);
      continue;
    }
    int r = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (r != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      r = ::poll(&p, 1, static_cast<int>(timeout.count()));
      if (r == 0) {
        last = "timed out after " + std::to_string(timeout.count()) + " ms";
        ::close(fd);
        continue;
      }
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      r = err ? -1 : 0;
      errno = err;
    }
    if (r != 0) {
      last = errno_text(errno);
      ::close(fd);
      continue;
    }
    const int flags = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    if (socktype == SOCK_STREAM) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    }
    return fd;
  }
  throw std::runtime_error("cannot connect to " + host + ":" + std::to_string(port) + ": " + last);
}

void set_timeouts(int fd, milliseconds send, milliseconds receive) {
  auto tv = [](milliseconds d) {
    timeval t{};
    t.tv_sec = static_cast<time_t>(d.count() / 1000);
    t.tv_usec = static_cast<suseconds_t>(d.count() % 1000 * 1000);
    return t;
  };
  const timeval s = tv(send), r = tv(receive);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &s, sizeof s);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &r, sizeof r);
}

std::string ssl_error_text() {
  std::string text;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!text.empty()) text += "; ";
    text += buf;
  }
  return text;
}

class SyslogSink : public Sink {
 public:
  static OptionProblems check_options(const nlohmann::json& options) {
    return Config::problems(options);
  }

  SyslogSink(Host host, const nlohmann::json& options)
      : Sink(host), config_(read_settings<Config>(options)) {
    if (config_.transport == Transport::tls) {
      tls_ctx_.emplace(tls::make_client_context(config_.tls));
      if (!config_.tls.verify) host.warn("syslog: TLS verification is off for " + peer());
    }
    if (config_.transport == Transport::relp) {
      RelpClient::Settings r;
      r.host = config_.host;
      r.port = config_.port;
      r.connect_timeout = config_.connect_timeout;
      r.write_timeout = config_.write_timeout;
      r.ack_timeout = config_.ack_timeout;
      r.window = config_.relp_window;
      r.software = SLUICE_RELP_SOFTWARE;
      relp_.emplace(std::move(r));
    }
  }

  ~SyslogSink() override { stop(); }

  void start() override {
    std::lock_guard<std::mutex> lock(mutex_);
    started_ = true;
    host().state(State::connecting,
                 std::string(transport_name(config_.transport)) + " to " + peer());
  }

  void stop() override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!started_) return;
    started_ = false;
    close_stream();
    // RELP: every message of a batch has its answer when deliver returns, so nothing is
    // outstanding here; close says goodbye (close / rsp, at most ack_timeout).
    if (relp_) relp_->close();
  }

  Delivery deliver(const Batch& batch) override {
    SigpipeGuard no_sigpipe;
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<Delivery> answers(batch.size());
    std::vector<std::optional<std::string>> messages(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      std::string why;
      auto f = format_message(config_.format, batch.events()[i], &why);
      if (!f) {
        answers[i] = Delivery::reject("not sent: " + why);
        host().metric("syslog.rejected");
        continue;
      }
      if (f->truncated) host().metric("syslog.truncated");
      messages[i] = std::move(f->message);
    }
    if (!started_) {
      for (size_t i = 0; i < batch.size(); ++i)
        if (messages[i]) answers[i] = Delivery::retry("sink stopped");
      return Delivery::per_event(std::move(answers));
    }
    switch (config_.transport) {
      case Transport::udp:
        send_udp(messages, answers);
        break;
      case Transport::tcp:
      case Transport::tls:
        send_stream(messages, answers);
        break;
      case Transport::relp:
        send_relp(messages, answers);
        break;
    }
    return Delivery::per_event(std::move(answers));
  }

 private:
  std::string peer() const { return config_.host + ":" + std::to_string(config_.port); }

  void went(State s, const std::string& detail) {
    if (s == state_) return;
    state_ = s;
    host().state(s, detail);
  }

  // ---- UDP (RFC 5426): one message per datagram ----
  void send_udp(const std::vector<std::optional<std::string>>& messages,
                std::vector<Delivery>& answers) {
    if (fd_ < 0) {
      try {
        fd_ = open_socket(config_.host, config_.port, SOCK_DGRAM, config_.connect_timeout);
        set_timeouts(fd_, config_.write_timeout, config_.write_timeout);
      } catch (const std::exception& e) {
        return fail_all(messages, answers, e.what());
      }
    }
    for (size_t i = 0; i < messages.size(); ++i) {
      if (!messages[i]) continue;
      const ssize_t n = ::send(fd_, messages[i]->data(), messages[i]->size(), MSG_NOSIGNAL);
      if (n < 0) {
        // ECONNREFUSED: an ICMP port unreachable for an earlier datagram. Retried.
        answers[i] = Delivery::retry("send to " + peer() + ": " + errno_text(errno));
        host().metric("syslog.send_errors");
        went(State::degraded, answers[i].reason);
        continue;
      }
      host().metric("syslog.messages_sent");
      host().metric("syslog.bytes_sent", n);
      went(State::up, "");
    }
  }

  // ---- TCP (RFC 6587) and TLS (RFC 5425) ----
  void connect_stream() {
    fd_ = open_socket(config_.host, config_.port, SOCK_STREAM, config_.connect_timeout);
    written_ = 0;
    ends_.clear();
    if (tls_ctx_) {
      set_timeouts(fd_, config_.connect_timeout, config_.connect_timeout);
      ssl_ = SSL_new(tls_ctx_->native_handle());
      if (!ssl_) throw std::runtime_error("SSL_new: " + ssl_error_text());
      SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
      SSL_set_fd(ssl_, fd_);
      tls::prepare_client(ssl_, config_.host, config_.tls.verify);
      ERR_clear_error();
      if (SSL_connect(ssl_) != 1) {
        std::string why = ssl_error_text();
        const long verify = SSL_get_verify_result(ssl_);
        if (verify != X509_V_OK)
          why += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
        if (why.empty()) why = errno_text(errno);
        close_stream();
        throw std::runtime_error("TLS handshake with " + peer() + " failed: " + why);
      }
    }
    set_timeouts(fd_, config_.write_timeout, config_.write_timeout);
    host().metric("syslog.connections_opened");
  }

  // Bytes the peer's TCP has not acknowledged yet (Linux SIOCOUTQ); nullopt when unknown.
  std::optional<uint64_t> unacked_bytes() const {
    int n = 0;
    if (fd_ < 0 || ::ioctl(fd_, SIOCOUTQ, &n) != 0 || n < 0) return std::nullopt;
    return static_cast<uint64_t>(n);
  }

  // The connection is gone: the messages already answered ok whose bytes the peer's TCP never
  // acknowledged are lost (the loss window of TCP and TLS syslog). Counted, logged.
  void lost_connection(const std::string& why) {
    uint64_t lost = 0;
    if (auto unacked = unacked_bytes(); unacked && *unacked > 0) {
      const uint64_t confirmed = written_ > *unacked ? written_ - *unacked : 0;
      for (auto it = ends_.rbegin(); it != ends_.rend() && *it > confirmed; ++it)
        ++lost;
    }
    if (lost > 0) {
      host().metric("syslog.lost_in_window", static_cast<int64_t>(lost));
      host().warn("syslog: connection to " + peer() + " lost (" + why + "); " +
                  std::to_string(lost) +
                  " message(s) already handed to the kernel were not acknowledged by the peer "
                  "and are lost");
    } else {
      host().info("syslog: connection to " + peer() + " lost (" + why + ")");
    }
    host().metric("syslog.connections_lost");
    close_stream();
    went(State::degraded, why);
  }

  // The peer closed its side (a syslog receiver never sends anything, so FIN or an error is
  // the only thing a read can see).
  std::optional<std::string> peer_gone() const {
    pollfd p{fd_, POLLRDHUP, 0};
    if (::poll(&p, 1, 0) <= 0) return std::nullopt;
    if (p.revents & POLLERR) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      return std::string("socket error: ") + errno_text(err);
    }
    if (p.revents & (POLLRDHUP | POLLHUP)) return std::string("the peer closed the connection");
    return std::nullopt;
  }

  void send_stream(const std::vector<std::optional<std::string>>& messages,
                   std::vector<Delivery>& answers) {
    if (fd_ >= 0)
      if (auto why = peer_gone()) lost_connection(*why);
    if (fd_ < 0) {
      try {
        connect_stream();
      } catch (const std::exception& e) {
        host().metric("syslog.connect_errors");
        return fail_all(messages, answers, e.what());
      }
    }
    // One buffer for the batch; each message's end offset tells which were written whole.
    std::string out;
    std::vector<std::pair<size_t, size_t>> frames;  // (event index, end offset in out)
    for (size_t i = 0; i < messages.size(); ++i) {
      if (!messages[i]) continue;
      const size_t lf = append_frame(out, *messages[i], config_.framing);
      if (lf) host().metric("syslog.newlines_escaped", static_cast<int64_t>(lf));
      frames.emplace_back(i, out.size());
    }
    size_t done = 0;
    std::string error;
    while (done < out.size()) {
      ssize_t n;
      if (ssl_) {
        ERR_clear_error();
        const int r = SSL_write(ssl_, out.data() + done,
                                static_cast<int>(std::min<size_t>(out.size() - done, 1 << 30)));
        if (r <= 0) {
          const int e = errno;
          error = ssl_error_text();
          if (error.empty()) error = e == EAGAIN ? "timed out" : errno_text(e);
          break;
        }
        n = r;
      } else {
        n = ::send(fd_, out.data() + done, out.size() - done, MSG_NOSIGNAL);
        if (n < 0) {
          if (errno == EINTR) continue;
          error = errno == EAGAIN ? "write timed out after " +
                                        std::to_string(config_.write_timeout.count()) + " ms"
                                  : errno_text(errno);
          break;
        }
      }
      done += static_cast<size_t>(n);
    }
    const uint64_t base = written_;
    for (const auto& [i, end] : frames) {
      if (end <= done) {
        ends_.push_back(base + end);
        host().metric("syslog.messages_sent");
      } else {
        answers[i] = Delivery::retry("write to " + peer() + ": " + error);
      }
    }
    written_ += done;
    host().metric("syslog.bytes_sent", static_cast<int64_t>(done));
    // What the peer's TCP acknowledged no longer needs an end offset.
    if (auto unacked = unacked_bytes()) {
      const uint64_t confirmed = written_ - std::min(written_, *unacked);
      while (!ends_.empty() && ends_.front() <= confirmed)
        ends_.pop_front();
    }
    if (!error.empty()) {
      // A frame written in part would reach the receiver cut short after a graceful close
      // (rsyslog submits what it holds at end of stream): reset the connection instead, which
      // drops whatever the kernel still holds for it.
      bool boundary = done == 0;
      for (const auto& frame : frames)
        boundary = boundary || frame.second == done;
      if (!boundary && fd_ >= 0) {
        const linger reset{1, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
      }
      lost_connection("write: " + error);
    } else {
      went(State::up, "");
    }
  }

  void close_stream() {
    if (ssl_) {
      SSL_free(ssl_);
      ssl_ = nullptr;
    }
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    ends_.clear();
    written_ = 0;
  }

  // ---- RELP (relp_client.hpp) ----
  void send_relp(const std::vector<std::optional<std::string>>& messages,
                 std::vector<Delivery>& answers) {
    if (relp_->is_open())
      if (auto why = relp_->check_idle()) {
        host().info("syslog: RELP connection to " + peer() + " lost (" + *why + ")");
        host().metric("syslog.connections_lost");
      }
    if (!relp_->is_open()) {
      try {
        relp_->open();
        host().metric("syslog.connections_opened");
      } catch (const std::exception& e) {
        host().metric("syslog.connect_errors");
        return fail_all(messages, answers, e.what());
      }
    }
    std::vector<std::string_view> out;
    std::vector<size_t> index;
    for (size_t i = 0; i < messages.size(); ++i) {
      if (!messages[i]) continue;
      out.emplace_back(*messages[i]);
      index.push_back(i);
    }
    std::vector<RelpClient::Answer> got;
    const auto broken = relp_->send(out, got);
    for (size_t k = 0; k < got.size(); ++k) {
      Delivery& d = answers[index[k]];
      switch (got[k].kind) {
        case RelpClient::Answer::Kind::ok:
          host().metric("syslog.messages_sent");
          break;
        case RelpClient::Answer::Kind::retry:
          d = Delivery::retry(got[k].reason);
          break;
        case RelpClient::Answer::Kind::reject:
          d = Delivery::reject(got[k].reason);
          host().metric("syslog.rejected");
          break;
      }
    }
    if (broken) {
      host().warn("syslog: " + *broken + "; the messages not acknowledged are retried");
      host().metric("syslog.connections_lost");
      went(State::degraded, *broken);
    } else {
      went(State::up, "");
    }
  }

  void fail_all(const std::vector<std::optional<std::string>>& messages,
                std::vector<Delivery>& answers, const std::string& why) {
    for (size_t i = 0; i < messages.size(); ++i)
      if (messages[i]) answers[i] = Delivery::retry(why);
    went(State::down, why);
  }

  Config config_;
  std::optional<boost::asio::ssl::context> tls_ctx_;
  std::mutex mutex_;
  bool started_ = false;
  State state_ = State::connecting;
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  uint64_t written_ = 0;       // bytes written on this connection
  std::deque<uint64_t> ends_;  // end offsets of messages the peer's TCP has not acknowledged
  std::optional<RelpClient> relp_;
};

const char* options_schema() {
  static const std::string schema = [] {
    nlohmann::json s = nlohmann::json::parse(R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["host"],
  "properties": {
    "host": {"type": "string", "description": "receiver's host name or address"},
    "port": {"type": "integer", "minimum": 1, "maximum": 65535, "description": "default: 514 (udp, tcp), 6514 (tls), 2514 (relp)"},
    "transport": {"type": "string", "enum": ["udp", "tcp", "tls", "relp"], "default": "tcp", "x-sluice-cleartext": {"enum": ["udp", "tcp", "relp"]}},
    "framing": {"type": "string", "enum": ["octet-counting", "non-transparent"], "description": "tcp and tls (RFC 6587); default octet-counting"},
    "hostname": {"type": "string", "description": "HOSTNAME field; default: this machine's name"},
    "app_name": {"type": "string", "default": "sluice", "description": "APP-NAME field (at most 48 printable ASCII characters)"},
    "procid": {"type": "string", "description": "PROCID field; default: none (-)"},
    "structured_data": {"description": "false: no structured data; else the SD-ID and whether the type goes in too",
      "oneOf": [{"type": "boolean", "const": false},
                {"type": "object", "additionalProperties": false, "properties": {
                   "sd_id": {"type": "string", "default": "sluice@32473", "description": "SD-ID (name@private-enterprise-number)"},
                   "type": {"type": "boolean", "default": false}}}]},
    "severity": {"type": "string", "default": "notice", "description": "default severity: emerg, alert, crit, err, warning, notice, info, debug or 0-7"},
    "facility": {"type": "string", "default": "user", "description": "default facility: kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, ntp, audit, alert, clock, local0-local7 or 0-23"},
    "levels": {"type": "array", "description": "first rule whose type glob matches sets severity and facility",
      "items": {"type": "object", "additionalProperties": false, "required": ["type"], "properties": {
        "type": {"type": "string"}, "severity": {"type": "string"}, "facility": {"type": "string"}}}},
    "body": {"type": "string", "enum": ["json", "text"], "default": "json", "description": "MSG: the event as JSON, or text (template, else the data's text)"},
    "template": {"type": "string", "description": "body: text: {id} {source} {type} {subject} {attr:NAME} {time} {data}"},
    "utf8_bom": {"type": "boolean", "default": true, "description": "start a MSG that is not ASCII with the UTF-8 BOM (RFC 5424 6.4)"},
    "relp_window": {"type": "integer", "minimum": 1, "maximum": 65535, "description": "relp: messages in flight without acknowledgement (default 128)"}
  }
})json");
    for (const char* key : {"connect_timeout", "write_timeout", "ack_timeout"})
      s["properties"][key] = nlohmann::json::parse(kDurationSchema);
    s["properties"]["connect_timeout"]["default"] = "5s";
    s["properties"]["write_timeout"]["default"] = "10s";
    s["properties"]["connect_timeout"]["description"] =
        "resolve, connect, TLS handshake, RELP open";
    s["properties"]["write_timeout"]["description"] =
        "one blocked write; then the connection is reset and the rest of the batch retried";
    s["properties"]["ack_timeout"]["description"] =
        "relp: how long to wait for an acknowledgement (default 30s)";
    s["properties"]["max_message_bytes"] = nlohmann::json::parse(kSizeSchema);
    s["properties"]["max_message_bytes"]["description"] =
        "largest SYSLOG-MSG; a longer MSG is cut. Default 2048 (udp), 8192 (others)";
    s["properties"]["tls"] = nlohmann::json::parse(tls::kClientOptionsSchema);
    s["properties"]["tls"]["description"] = "transport tls: verification and client certificate";
    return s.dump();
  }();
  return schema.c_str();
}

}  // namespace
}  // namespace sluice::syslog

SLUICE_PLUGIN(sluice::syslog::SyslogSink, "syslog", "1.0.0",
              "RFC 5424 syslog over UDP, TCP, TLS or RELP (acknowledged)",
              sluice::syslog::options_schema())
