// The admin server in the shape of Beast's asynchronous HTTP server example: a listener that
// accepts, one Session per connection that reads a request, answers it and reads the next
// (keep-alive), a timeout on every read and write, size limits on the header and the body, a
// cap on connections. One io thread; the only work done on it is formatting counters and the
// lines of GET /tap (a TapStream per tap client: a chunked response it writes on a timer).
#include "server.hpp"

#include "exposition.hpp"

#include <sluice/format.hpp>
#include <sluice/io_thread.hpp>
#include <sluice/thread_name.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace sluice::core::admin {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;  // the control lines of GET /tap begin {"tap":

unsigned reload_status(const std::string& result) {
  if (result == "applied" || result == "unchanged") return 200;
  if (result == "refused") return 409;  // the file is invalid; the running pipeline stays
  if (result == "stopping") return 503;
  if (result == "pending") return 504;  // still reloading when the wait ended
  return 500;                           // restored, nothing_runs
}

bool bearer_matches(std::string_view header, std::string_view token) {
  constexpr std::string_view kScheme = "Bearer ";
  // Every byte of the expected value is compared whatever the header holds: the time taken
  // says nothing about how much of the token was right.
  const std::string expected = std::string(kScheme) + std::string(token);
  unsigned char diff = header.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i)
    diff |= static_cast<unsigned char>(expected[i] ^ (i < header.size() ? header[i] : 0));
  return diff == 0 && !token.empty();
}

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded: %XX and '+' for a blank. A bad escape stays as it is.
std::string url_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 &&
               hex_digit(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

std::optional<TapRequest> parse_tap_query(std::string_view query, const TapLimits& limits,
                                          std::string* error) {
  TapRequest r;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    const std::string key = url_decode(pair.substr(0, eq));
    const std::string value =
        eq == std::string_view::npos ? std::string() : url_decode(pair.substr(eq + 1));
    if (key == "source") {
      r.filter.source = value;
    } else if (key == "sink") {
      r.filter.sink = value;
    } else if (key == "type") {
      r.filter.type = value;
    } else if (key == "rate") {
      uint64_t n = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || end != value.data() + value.size() || n < 1 || n > limits.max_rate) {
        *error = "rate must be a whole number of events per second from 1 to " +
                 std::to_string(limits.max_rate) + " (got '" + value + "')";
        return std::nullopt;
      }
      r.rate = static_cast<uint32_t>(n);
    } else {
      *error = "unknown parameter '" + key + "' (source, sink, type, rate)";
      return std::nullopt;
    }
  }
  return r;
}

class TapStream;

// A connection of the admin server (a Session) that stop() closes when it ends.
class Connection {
 public:
  virtual ~Connection() = default;
  virtual void shut() = 0;
};

struct AdminServer::Impl {
  AdminConfig config;
  Hooks hooks;
  Logger& log;
  std::chrono::steady_clock::time_point started;
  Limits limits;
  // io thread only. Declared before `io`: the handlers that never ran (and the sessions they
  // hold) are destroyed with it, and a session's destructor counts itself out here.
  uint32_t sessions = 0;
  // io thread only: stop() began. A request read after that, on a connection kept alive from
  // before, is answered 503 and its connection closed: no tap stream starts after the others
  // were told to end (nobody would end it; stop() would wait its whole grace for it), no reload
  // is asked for.
  bool stopping = false;
  std::vector<std::weak_ptr<TapStream>> tap_streams;  // io thread only
  // io thread only: the sessions (connections kept alive, requests being read or answered),
  // closed when stop() ends, so a client kept alive is not left waiting until the server is
  // destroyed.
  std::vector<std::weak_ptr<Connection>> connections;
  // Tap streams not closed yet: stop() waits for them to end (any thread).
  std::mutex tap_m;
  std::condition_variable tap_cv;
  uint32_t tap_live = 0;  // (tap_m)
  net::io_context io{1};
  tcp::acceptor acceptor{io};
  std::thread thread;
  bool running = false;

  Impl(AdminConfig c, Hooks h, Logger& l, std::chrono::steady_clock::time_point s, Limits lim)
      : config(std::move(c)), hooks(std::move(h)), log(l), started(s), limits(lim) {}

  void accept();
  // stop() began: every tap stream writes what it has, its end line and its last chunk.
  void finish_taps(const std::string& reason);
  // The grace ended: the streams still open (their clients did not read) are closed as they are.
  // Returns how many.
  uint32_t close_taps();
  // stop() ends: every session still open is closed (an idle kept-alive connection gets its FIN).
  void close_connections();
  void tap_closed() {
    {
      std::lock_guard lock(tap_m);
      --tap_live;
    }
    tap_cv.notify_all();
  }
};

namespace {

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

Response answer(const Request& req, http::status status, std::string body,
                const char* type = "application/json") {
  Response res{status, req.version()};
  res.set(http::field::server, "sluice");
  res.set(http::field::content_type, type);
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response answer_json(const Request& req, http::status status, const json& body) {
  return answer(req, status, body.dump() + "\n");
}

}  // namespace

// One GET /tap client: the response header, then on every tick the events its TapClient queued
// as JSON lines (one chunk of at most Limits::tap_chunk_bytes; while more are queued, the next
// chunk as soon as the client has taken one), a {"tap":"dropped",...} line at most once a second
// while some were dropped, and at the end a {"tap":"end",...} line and the last chunk. A client
// that does not read only stalls its own stream: nothing more is taken from its queue (which drops)
// until the write in progress moves, and a write that moves nothing for io_timeout ends it.
class TapStream : public std::enable_shared_from_this<TapStream> {
 public:
  TapStream(tcp::socket socket, std::shared_ptr<TapClient> client, AdminServer::Impl* server,
            bool chunked)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        client_(std::move(client)),
        server_(server),
        chunked_(chunked) {
    std::lock_guard lock(server_->tap_m);
    ++server_->tap_live;
  }
  ~TapStream() {
    if (closed_) return;
    let_go_of_client();
    server_->tap_closed();
  }

  void start() {
    keep_alive();
    std::string head =
        "HTTP/1.1 200 OK\r\nServer: sluice\r\nContent-Type: application/x-ndjson\r\n"
        "Cache-Control: no-store\r\nConnection: close\r\n";
    if (chunked_) head += "Transfer-Encoding: chunked\r\n";
    head += "\r\n";
    const TapFilter& f = client_->filter();
    const ordered_json hello{{"tap", "started"},
                             {"source", f.source},
                             {"sink", f.sink},
                             {"type", f.type},
                             {"rate", client_->rate()}};
    last_notice_ = Clock::now();
    send(hello.dump() + "\n", std::move(head));
    read();
    tick();
  }

  // sluice is stopping: what is queued, the end line and the end of the response. A write in
  // progress (a chunk the client has not taken all of yet) is completed first: closing it here
  // would cut a client that reads, only a moment behind, mid-chunk. A client whose write has
  // not moved for a tick or more is behind: it is not sent its queue too (up to
  // TapLimits::queue_bytes, more than it may take within the grace), the last drop notice
  // counts it instead. Another is sent its queue chunk by chunk, until half of stop()'s grace
  // has passed: then it is behind too, so that it has the other half to take the rest of one
  // chunk (Limits::tap_chunk_bytes) and the end. A client that does not read at all keeps its
  // stream open until the grace ends (kill()).
  void finish(const std::string& reason) {
    if (closed_ || finishing_) return;
    finishing_ = true;
    end_reason_ = reason;
    finish_at_ = Clock::now();
    behind_ = writing_ && finish_at_ - progress_ >= server_->limits.tap_tick;
    // A client behind is not sent its queue: it is detached now, so the queue stops growing
    // (what it holds is counted as dropped in send_end()).
    if (behind_) server_->hooks.tap->detach(client_);
    if (!writing_) send_end();
  }

  // stop()'s grace ended and the stream has not: closed as it is, no last line. False when it
  // was closed already.
  bool kill() {
    if (closed_) return false;
    close();
    return true;
  }

 private:
  using Clock = std::chrono::steady_clock;

  // A stream whose filter matches nothing writes nothing, so a peer gone without a FIN (a NAT
  // timeout, a pulled cable) would keep its slot for ever: TCP keep-alive probes after 30 s of
  // silence end it with an error on the pending read within about a minute.
  void keep_alive() {
    const int fd = socket_.native_handle();
    const int on = 1, idle = 30, interval = 10, count = 3;
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  }

  // The last takes of the client's queue: detached first, so nothing is queued after it that
  // nobody would write or count (every event offered is sent or counted as dropped). A chunk
  // at a time (on_write() calls again) until the queue is empty, then the end line.
  void send_end() {
    server_->hooks.tap->detach(client_);
    if (Clock::now() - finish_at_ >= server_->limits.stop_grace / 2) behind_ = true;
    std::string lines = collect(true, behind_);
    if (more_) return send(std::move(lines));
    lines += ordered_json{{"tap", "end"}, {"reason", end_reason_}}.dump() + "\n";
    ended_ = true;
    send(std::move(lines), {}, true);
  }

  void tick() {
    if (closed_) return;
    timer_.expires_after(server_->limits.tap_tick);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->tick();
    });
    if (finishing_) return;
    if (writing_) {
      if (Clock::now() - progress_ > server_->limits.io_timeout) {
        server_->log.warn("admin", "a GET /tap client read nothing for " +
                                       std::to_string(server_->limits.io_timeout.count()) +
                                       " ms; its stream ends");
        close();
      }
      return;  // the client's queue fills meanwhile, and drops what does not fit
    }
    send(collect(false));
  }

  // The queued events (a chunk's worth) as lines, and the drop notice when one is due (or
  // `now_or_never`); more_ says whether events stayed queued. With `drop`, all the queued events
  // are not written but counted as not taken (slow_client).
  std::string collect(bool now_or_never, bool drop = false) {
    std::string lines;
    events_.clear();
    const auto [d, more] =
        client_->take(events_, drop ? SIZE_MAX : server_->limits.tap_chunk_bytes);
    more_ = more;
    if (drop) {
      dropped_queue_ += events_.size();
      server_->hooks.tap->count_dropped_queue(events_.size());
    } else {
      for (const EventPtr& e : events_) {
        sluice::append_json(lines, e.view());
        lines += '\n';
      }
      server_->hooks.tap->count_sent(events_.size());
    }
    events_.clear();
    dropped_rate_ += d.rate;
    dropped_queue_ += d.queue;
    const auto now = Clock::now();
    if ((dropped_rate_ || dropped_queue_) &&
        (now_or_never || now - last_notice_ >= std::chrono::seconds(1))) {
      lines += ordered_json{{"tap", "dropped"},
                            {"count", dropped_rate_ + dropped_queue_},
                            {"rate_limit", dropped_rate_},
                            {"slow_client", dropped_queue_}}
                   .dump() +
               "\n";
      dropped_rate_ = dropped_queue_ = 0;
      last_notice_ = now;
    }
    return lines;
  }

  // Writes `prefix` and `lines` (framed as one chunk), then the last chunk when `last`.
  void send(std::string lines, std::string prefix = {}, bool last = false) {
    if (lines.empty() && prefix.empty() && !last) return;
    out_ = std::move(prefix);
    if (!lines.empty()) {
      if (chunked_) {
        char size[20];
        auto [end, ec] = std::to_chars(size, size + sizeof size, lines.size(), 16);
        out_.append(size, end);
        out_ += "\r\n";
        out_ += lines;
        out_ += "\r\n";
      } else {
        out_ += lines;
      }
    }
    if (last && chunked_) out_ += "0\r\n\r\n";
    written_ = 0;
    writing_ = true;
    progress_ = Clock::now();
    write_more();
  }

  void write_more() {
    socket_.async_write_some(
        net::buffer(out_.data() + written_, out_.size() - written_),
        [self = shared_from_this()](beast::error_code ec, size_t n) { self->on_write(ec, n); });
  }

  void on_write(beast::error_code ec, size_t n) {
    if (closed_) return;
    if (ec) return close();
    written_ += n;
    progress_ = Clock::now();
    if (written_ < out_.size()) return write_more();
    writing_ = false;
    out_.clear();
    if (!finishing_) {
      if (more_) send(collect(false));  // the client keeps up: the next chunk now, not at a tick
      return;
    }
    if (!ended_) return send_end();  // the write finish() found in progress is done, or a chunk
    close();
  }

  // Nothing is expected from the client; a read ends when it goes away.
  void read() {
    socket_.async_read_some(net::buffer(in_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (self->closed_) return;
                              if (ec) return self->close();
                              self->read();
                            });
  }

  void close() {
    if (std::exchange(closed_, true)) return;
    beast::error_code ignored;
    timer_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    let_go_of_client();
    server_->tap_closed();
  }

  // Detaches the tap client. What is still queued (a peer gone, a write timeout, stop()'s grace
  // ended) is not written: counted as not taken, so every event a client's filter took is sent
  // or counted.
  void let_go_of_client() {
    server_->hooks.tap->detach(client_);
    std::vector<EventPtr> rest;
    client_->take(rest);
    server_->hooks.tap->count_dropped_queue(rest.size());
  }

  tcp::socket socket_;
  net::steady_timer timer_;
  std::shared_ptr<TapClient> client_;
  AdminServer::Impl* server_;  // outlives every stream (they go with its io_context)
  bool chunked_;
  bool closed_ = false;
  bool finishing_ = false;
  bool ended_ = false;   // the end line and the last chunk are written or being written
  bool behind_ = false;  // at stop: its queue is dropped, not sent (finish(), send_end())
  bool writing_ = false;
  bool more_ = false;            // the last take left events queued
  Clock::time_point finish_at_;  // when finish() was called
  std::string end_reason_;
  std::string out_;
  size_t written_ = 0;
  Clock::time_point progress_;                     // the write in progress last moved
  Clock::time_point last_notice_;                  // the last drop notice
  uint64_t dropped_rate_ = 0, dropped_queue_ = 0;  // not reported yet
  std::vector<EventPtr> events_;
  std::array<char, 512> in_{};
};

void AdminServer::Impl::finish_taps(const std::string& reason) {
  for (auto& weak : tap_streams)
    if (auto t = weak.lock()) t->finish(reason);
}

uint32_t AdminServer::Impl::close_taps() {
  uint32_t killed = 0;
  for (auto& weak : tap_streams)
    if (auto t = weak.lock()) killed += t->kill() ? 1 : 0;
  tap_streams.clear();
  return killed;
}

void AdminServer::Impl::close_connections() {
  for (auto& weak : connections)
    if (auto c = weak.lock()) c->shut();
  connections.clear();
}

namespace {

class Session : public Connection, public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, AdminServer::Impl* server)
      : stream_(std::move(socket)), reload_timer_(stream_.get_executor()), server_(server) {
    ++server_->sessions;
  }
  ~Session() { --server_->sessions; }

  void run() { read(); }
  // stop() ends: whatever this connection was doing (waiting for the next request on a
  // connection kept alive, mostly) it is closed; its handlers never run (the io thread stops).
  void shut() override { close(); }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(server_->limits.header_bytes);
    parser_->body_limit(server_->limits.body_bytes);
    stream_.expires_after(server_->limits.io_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::header_limit)
      return refuse(http::status::request_header_fields_too_large, "request header too large");
    if (ec == http::error::body_limit)
      return refuse(http::status::payload_too_large, "request body too large");
    if (ec) return close();  // end of stream, timeout, a malformed request
    req_ = parser_->release();
    try {
      handle();
    } catch (const std::exception& e) {
      server_->log.error("admin", std::string("request failed: ") + e.what());
      write(answer_json(req_, http::status::internal_server_error, {{"error", e.what()}}));
    }
  }

  // A request that cannot be read to its end: answered, then the connection is closed.
  void refuse(http::status status, const char* why) {
    req_ = {};
    req_.keep_alive(false);
    write(answer_json(req_, status, {{"error", why}}));
  }

  void handle() {
    const std::string_view target(req_.target().data(), req_.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    const bool get = req_.method() == http::verb::get;
    const bool post = req_.method() == http::verb::post;
    // Before the token check, deliberately: a request without the token is told 503 too (no
    // secret is given away by it: every client learns that sluice stops when it goes).
    if (server_->stopping) {  // (POST /reload answers as a reload that came too late does)
      req_.keep_alive(false);
      return write(answer_json(
          req_, http::status::service_unavailable,
          post && path == "/reload"
              ? json{{"result", "stopping"}, {"message", "sluice is stopping; no reload was done"}}
              : json{{"error", "sluice is stopping"}}));
    }
    const auto& config = server_->config;
    if (!config.token.empty() &&
        !bearer_matches(header(http::field::authorization), config.token)) {
      Response res = answer_json(req_, http::status::unauthorized,
                                 {{"error", "missing or wrong bearer token"}});
      res.set(http::field::www_authenticate, "Bearer");
      return write(std::move(res));
    }
    if (path == "/metrics") return get ? metrics() : wrong_method("GET");
    if (path == "/healthz") return get ? healthz() : wrong_method("GET");
    if (path == "/readyz") return get ? readyz() : wrong_method("GET");
    if (path == "/reload") return post ? reload() : wrong_method("POST");
    if (path == "/status") return get ? status() : wrong_method("GET");
    if (path == "/tap") {
      if (!get) return wrong_method("GET");
      const size_t q = target.find('?');
      return tap(q == std::string_view::npos ? std::string_view() : target.substr(q + 1));
    }
    write(answer_json(
        req_, http::status::not_found,
        {{"error", "no such path; try /metrics, /healthz, /readyz, /status, /tap, POST /reload"}}));
  }

  void status() {
    const std::optional<Metrics> m = server_->hooks.metrics();
    json body = status_json(m ? &*m : nullptr, process_info(server_->started));
    if (server_->hooks.tap) {
      const TapCounters t = server_->hooks.tap->counters();
      body["tap"] = {{"clients", t.clients},
                     {"sent", t.sent},
                     {"dropped_rate", t.dropped_rate},
                     {"dropped_slow_client", t.dropped_queue}};
    }
    write(answer_json(req_, http::status::ok, body));
  }

  // The connection becomes a TapStream: this session ends here.
  void tap(std::string_view query) {
    const std::shared_ptr<Tap>& tap = server_->hooks.tap;
    if (!tap)
      return write(
          answer_json(req_, http::status::not_found, {{"error", "this server has no live tap"}}));
    std::string error;
    std::optional<TapRequest> r = parse_tap_query(query, tap->limits(), &error);
    if (!r) return write(answer_json(req_, http::status::bad_request, {{"error", error}}));
    std::shared_ptr<TapClient> client = tap->attach(std::move(r->filter), r->rate);
    if (!client) {
      Response res = answer_json(
          req_, http::status::service_unavailable,
          {{"error", "too many tap clients (at most " + std::to_string(tap->limits().clients) +
                         "); try again when one has ended"}});
      res.set(http::field::retry_after, "5");
      return write(std::move(res));
    }
    stream_.expires_never();
    auto stream = std::make_shared<TapStream>(stream_.release_socket(), std::move(client), server_,
                                              req_.version() >= 11);
    server_->tap_streams.push_back(stream);
    std::erase_if(server_->tap_streams, [](const auto& w) { return w.expired(); });
    stream->start();
  }

  std::string_view header(http::field f) const {
    const auto v = req_[f];
    return {v.data(), v.size()};
  }

  void wrong_method(const char* allowed) {
    Response res = answer_json(req_, http::status::method_not_allowed,
                               {{"error", std::string("method not allowed; use ") + allowed}});
    res.set(http::field::allow, allowed);
    write(std::move(res));
  }

  void metrics() {
    const std::optional<Metrics> m = server_->hooks.metrics();
    std::string page = prometheus_text(m ? &*m : nullptr, process_info(server_->started));
    if (server_->hooks.tap) page += tap_text(server_->hooks.tap->counters());
    write(answer(req_, http::status::ok, std::move(page), kContentType));
  }

  void healthz() {
    const ProcessInfo p = process_info(server_->started);
    write(answer_json(
        req_, http::status::ok,
        {{"status", "ok"}, {"uptime_seconds", p.uptime_seconds}, {"version", p.version}}));
  }

  // Ready: a pipeline runs, every source reported `up` last, and no sink reported `down`.
  void readyz() {
    const std::optional<Metrics> m = server_->hooks.metrics();
    if (!m)
      return write(answer_json(
          req_, http::status::service_unavailable,
          {{"ready", false},
           {"not_ready",
            json::array({{{"kind", "pipeline"},
                          {"name", ""},
                          {"state", ""},
                          {"detail", "no pipeline runs (a reload is restarting it)"}}})}}));
    json not_ready = json::array();
    auto entry = [](const char* kind, const auto& item, std::string why) {
      return json{{"kind", kind},
                  {"name", item.name},
                  {"plugin", item.plugin},
                  {"state", item.state},
                  {"detail", item.state_detail.empty() ? why : item.state_detail}};
    };
    for (const auto& s : m->sources)
      if (s.state != "up")
        not_ready.push_back(
            entry("source", s, s.state.empty() ? "no state reported yet" : "the source is not up"));
    for (const auto& s : m->sinks)
      if (s.state == "down") not_ready.push_back(entry("sink", s, "the sink is down"));
    const bool ready = not_ready.empty();
    write(answer_json(req_, ready ? http::status::ok : http::status::service_unavailable,
                      {{"ready", ready}, {"not_ready", std::move(not_ready)}}));
  }

  // Handed to the main thread; answered when it reports the outcome or when the wait ends.
  void reload() {
    answered_ = false;
    std::weak_ptr<Session> weak = shared_from_this();
    net::io_context& io = server_->io;
    server_->hooks.reload([weak, &io](ReloadReply reply) {
      net::post(io, [weak, reply = std::move(reply)] {
        if (auto self = weak.lock()) self->reloaded(reply);
      });
    });
    reload_timer_.expires_after(server_->limits.reload_timeout);
    reload_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec) return;  // answered
      self->reloaded(
          {"pending", "the reload did not end in time; it goes on (see the log for its outcome)"});
    });
  }

  void reloaded(const ReloadReply& reply) {
    if (std::exchange(answered_, true)) return;
    reload_timer_.cancel();
    write(answer_json(req_, static_cast<http::status>(reload_status(reply.result)),
                      {{"result", reply.result}, {"message", reply.message}}));
  }

  void write(Response res) {
    res_ = std::move(res);
    stream_.expires_after(server_->limits.io_timeout);
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->on_write(ec);
    });
  }

  void on_write(beast::error_code ec) {
    if (ec || !res_.keep_alive()) return close();
    read();
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Request req_;
  Response res_;
  net::steady_timer reload_timer_;
  bool answered_ = true;
  AdminServer::Impl* server_;  // outlives every session (they go with its io_context)
};

}  // namespace

void AdminServer::Impl::accept() {
  acceptor.async_accept(
      net::make_strand(io), [self = this](beast::error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted || !self->acceptor.is_open()) return;
        if (!ec) {
          if (self->sessions >= self->limits.connections) {
            beast::error_code ignored;
            socket.close(ignored);  // at the cap: a scraper retries later
          } else {
            auto session = std::make_shared<Session>(std::move(socket), self);
            std::erase_if(self->connections, [](const auto& w) { return w.expired(); });
            self->connections.push_back(session);
            session->run();
          }
        }
        self->accept();
      });
}

AdminServer::AdminServer(AdminConfig config, Hooks hooks, Logger& log,
                         std::chrono::steady_clock::time_point started, Limits limits)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(hooks), log, started, limits)) {}

AdminServer::~AdminServer() {
  stop();
}

void AdminServer::start() {
  Impl& s = *impl_;
  const std::string where =
      (s.config.host.find(':') != std::string::npos ? "[" + s.config.host + "]" : s.config.host) +
      ":" + std::to_string(s.config.port);
  beast::error_code ec;
  const tcp::endpoint endpoint(net::ip::make_address(s.config.host, ec), s.config.port);
  auto fail = [&](const char* what) {
    beast::error_code ignored;
    s.acceptor.close(ignored);
    throw std::runtime_error("admin server: cannot " + std::string(what) + " " + where + ": " +
                             ec.message());
  };
  if (ec) fail("use the address");
  s.acceptor.open(endpoint.protocol(), ec);
  if (ec) fail("open a socket for");
  s.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (endpoint.address().is_v6()) s.acceptor.set_option(net::ip::v6_only(true), ec);
  s.acceptor.bind(endpoint, ec);
  if (ec) fail("listen on");
  s.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) fail("listen on");
  s.accept();
  s.running = true;
  s.thread = std::thread([impl = impl_.get()] {
    name_this_thread("admin");
    run_io_context(impl->io, [impl](const std::string& what) {
      impl->log.error("admin", "handler failed: " + what);
    });
  });
  s.log.info("admin",
             "serving /metrics, /healthz, /readyz, /status, /tap and POST /reload on http://" +
                 where + (s.config.token.empty() ? "" : " (bearer token required)"));
}

void AdminServer::stop() {
  Impl& s = *impl_;
  if (!std::exchange(s.running, false)) return;
  // New connections are refused, a request on a connection kept alive from before is answered
  // 503, and tap streams end with a last line saying why.
  net::post(s.io, [impl = impl_.get()] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
    impl->stopping = true;
    impl->finish_taps("sluice is stopping");
  });
  {
    std::unique_lock lock(s.tap_m);
    s.tap_cv.wait_for(lock, s.limits.stop_grace, [&s] { return s.tap_live == 0; });
  }
  // The streams still open are closed on the io thread, then every connection (kept alive and
  // idle, or a request not answered yet), and the io thread stops. Every stream that ended
  // within the grace had its last chunk written: nothing of it is cut here. (Counted there: a
  // stream may end between the wait above and this handler.)
  uint32_t killed = 0;
  net::post(s.io, [impl = impl_.get(), &killed] {
    killed = impl->close_taps();
    impl->close_connections();
    impl->io.stop();
  });
  if (s.thread.joinable()) s.thread.join();
  if (killed)
    s.log.warn("admin", std::to_string(killed) +
                            " GET /tap client(s) did not read the end of their stream within " +
                            std::to_string(s.limits.stop_grace.count()) + " ms; closed");
  s.io.stop();
  beast::error_code ignored;
  s.acceptor.close(ignored);
  // Handlers that never ran hold sessions; they go with the io_context, owned by the Impl.
}

uint16_t AdminServer::port() const {
  beast::error_code ec;
  const auto endpoint = impl_->acceptor.local_endpoint(ec);
  return ec ? impl_->config.port : endpoint.port();
}

}  // namespace sluice::core::admin
