#include "ldm_client.hpp"

#include <sluice/format.hpp>
#include <sluice/framework_events.hpp>
#include <sluice/net/emit_pump.hpp>
#include <sluice/net/io_pool.hpp>
#include <sluice/net/reconnector.hpp>
#include <sluice/net/stream.hpp>
#include "ldm_event_mapper.hpp"
#include "ldm_protocol.hpp"

#include <sluice/units.hpp>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <array>
#include <deque>
#include <functional>
#include <stdexcept>

namespace sluice::ldm {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;

namespace {

using net::delay_text;

int64_t now_unix_ms() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// ---- the connection ---------------------------------------------------------------------------

namespace {

struct Shared {
  Host host;
  ClientOptions options;
  EventMapper mapper;
  std::vector<std::string> registrations;
  // Random per instance: the ids this source makes up never repeat after a restart.
  sluice::EventIds ids;
  // Events go to the host from the emitter threads: the io side never blocks in emit.
  std::optional<net::EmitPump> pump;
  Shared(Host h, ClientOptions o)
      : host(h),
        options(std::move(o)),
        mapper(options.host),
        registrations(options.registration_actions()) {}
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using LostHandler = std::function<void(const net::Loss&)>;
  using UpHandler = std::function<void(Connection&)>;

  Connection(Shared& shared, const net::Strand::Executor& ex, ssl::context& ctx, int64_t epoch,
             UpHandler on_up, LostHandler on_lost)
      : s_(shared),
        ex_(ex),
        stream_(ex, &ctx),
        deadline_(ex),
        write_deadline_(ex),
        framer_(shared.options.limits),
        epoch_(epoch),
        id_prefix_(shared.options.host + "-" + shared.ids.token() + "-" + std::to_string(epoch) +
                   "-"),
        on_up_(std::move(on_up)),
        on_lost_(std::move(on_lost)) {}

  void start() {
    phase_ = Phase::connecting;
    arm(s_.options.connect_timeout, "the TCP connection");
    auto self = shared_from_this();
    stream_.async_connect(s_.options.host, s_.options.port,
                          [this, self](const boost::system::error_code& ec, std::string what) {
                            on_connect(ec, what);
                          });
  }

  // Stop: unregister what was registered, close the stream, then call done (bounded).
  void shutdown(std::function<void()> done) {
    stop_done_ = std::move(done);
    if (finished_) return finish_stop();
    if (phase_ != Phase::streaming) {
      finish("stopped", false, /*notify=*/false);
      return finish_stop();
    }
    phase_ = Phase::unregistering;
    unreg_pending_ = s_.registrations.size();
    for (const auto& action : s_.registrations)
      send(interface_request("un" + action));
    arm(s_.options.stop_timeout, "the unregister answers");
  }

  int64_t epoch() const { return epoch_; }
  std::string next_id() { return id_prefix_ + std::to_string(++counter_); }
  // After an internal error on the strand: this connection is replaced.
  void abort(const std::string& reason) { fail(reason); }

  // After the strand is closed (stop): nothing runs on it any more, the socket can go.
  void close_now() { stream_.close(); }

 private:
  enum class Phase {
    connecting,
    features,       // plain stream: waiting for features offering starttls
    proceed,        // waiting for <proceed/>
    tls_handshake,  // TLS handshake in progress
    tls_features,   // after TLS: waiting for features
    sasl,           // waiting for <success/> or <failure/>
    sasl_features,  // after SASL: waiting for features of the restarted stream
    registering,    // waiting for the registration answers
    streaming,      // events flow
    unregistering,  // stop: waiting for the unregister answers
    closing,        // stop: writing </stream:stream>
  };

  // --- steps ---------------------------------------------------------------------------------
  void on_connect(const boost::system::error_code& ec, const std::string& what) {
    if (finished_) return;
    if (ec) return fail(what);
    // ldmd's stream has no heartbeat: TCP keepalive (60 s idle, then 3 probes 10 s apart)
    // notices a vanished peer in about 90 s.
    stream_.keepalive({60, 10, 3});
    s_.host.debug("ldm_xml: TCP connected to " + s_.options.host + ":" +
                  std::to_string(s_.options.port) + "; opening the XMPP stream");
    open_stream(Phase::features);
    read();
  }

  void open_stream(Phase next) {
    framer_.reset();
    phase_ = next;
    send(std::string(kStreamHeader));
    arm(s_.options.response_timeout, "the stream features");
  }

  void start_tls() {
    phase_ = Phase::tls_handshake;
    arm(s_.options.connect_timeout, "the TLS handshake");
    auto self = shared_from_this();
    stream_.async_handshake(
        s_.options.host, s_.options.tls.verify,
        [this, self](const boost::system::error_code& ec, std::string what) { on_tls(ec, what); });
  }

  void on_tls(const boost::system::error_code& ec, const std::string& what) {
    if (finished_) return;
    // A name that cannot be checked is no network failure: do not hammer ldmd with it.
    if (ec) return fail(what, ec == asio::error::invalid_argument);
    s_.host.debug("ldm_xml: TLS handshake done; opening the XMPP stream again");
    open_stream(Phase::tls_features);
    read();
  }

  void register_events() {
    phase_ = Phase::registering;
    reg_pending_ = s_.registrations.size();
    std::string all, names;
    for (const auto& action : s_.registrations) {
      all += interface_request(action);
      names += (names.empty() ? "" : ", ") + action;
    }
    s_.host.debug("ldm_xml: registering for events: " + names);
    send(std::move(all));  // one write: ldmd answers each in turn
    arm(s_.options.response_timeout, "the registration answers");
  }

  // --- reading -------------------------------------------------------------------------------
  void read() {
    if (finished_ || paused_) return;
    auto self = shared_from_this();
    stream_.async_read_some(asio::buffer(buf_), [this, self](const boost::system::error_code& ec,
                                                             size_t n) { on_read(ec, n); });
  }

 public:
  // The emitter took the full queue: read again.
  void resume() {
    if (!paused_) return;
    paused_ = false;
    if (phase_ != Phase::tls_handshake) read();
  }

 private:
  void on_read(const boost::system::error_code& ec, size_t n) {
    if (finished_) return;
    if (ec) {
      if (phase_ == Phase::closing || phase_ == Phase::unregistering) return finish_stop_now();
      std::string why =
          net::peer_closed(ec) ? "ldmd closed the connection" : "read failed: " + ec.message();
      return fail(why);
    }
    items_.clear();
    bool ok = framer_.feed(std::string_view(buf_.data(), n), items_);
    for (auto& item : items_) {
      handle(item);
      if (finished_ || phase_ == Phase::tls_handshake) break;
    }
    flush_events();
    if (finished_) return;
    if (!ok) {
      s_.host.metric("ldm.framing_errors");
      std::string why = "stream framing error: " + framer_.error();
      pending_.push_back(s_.mapper.parse_error("", why, next_id()));
      s_.host.metric("ldm.parse_errors");
      flush_events();
      return fail(why);
    }
    if (phase_ == Phase::tls_handshake) return start_tls();
    read();  // not while the emit queue is full (back-pressure: paused_)
  }

  void handle(FramedItem& item) {
    using Kind = FramedItem::Kind;
    if (item.kind == Kind::stream_open) return;
    if (item.kind == Kind::stream_close) {
      if (phase_ == Phase::closing || phase_ == Phase::unregistering) return finish_stop_now();
      return fail("ldmd closed the XMPP stream");
    }
    const std::string_view root = root_name(item.text);
    if (root == "error") return fail("ldmd stream error: " + element_summary(item.text));
    switch (phase_) {
      case Phase::features: {
        if (root != "features") return unexpected(item.text);
        Features f = parse_features(item.text);
        if (!f.starttls) return fail("ldmd does not offer STARTTLS", true);
        s_.host.debug("ldm_xml: stream features offer STARTTLS; sending <starttls/>");
        send(std::string(kStartTls));
        phase_ = Phase::proceed;
        arm(s_.options.response_timeout, "<proceed/>");
        return;
      }
      case Phase::proceed:
        if (root == "proceed") {
          disarm();
          s_.host.debug("ldm_xml: <proceed/>: starting the TLS handshake");
          phase_ = Phase::tls_handshake;
          if (framer_.pending_bytes() != 0) fail("data after <proceed/> before TLS");
          return;
        }
        if (root == "failure") return fail("ldmd refused STARTTLS", true);
        return unexpected(item.text);
      case Phase::tls_features: {
        if (root != "features") return unexpected(item.text);
        if (s_.options.local_mode) {
          s_.host.debug("ldm_xml: mode local: no SASL");
          return register_events();
        }
        Features f = parse_features(item.text);
        if (!f.offers("PLAIN"))
          return fail(
              "ldmd offers no SASL PLAIN after TLS (on the control domain itself, use "
              "mode: local)",
              true);
        s_.host.debug("ldm_xml: SASL mechanism PLAIN as '" + s_.options.user +
                      "' (the payload is not shown)");
        send(sasl_plain_auth(s_.options.user, s_.options.password));
        phase_ = Phase::sasl;
        arm(s_.options.response_timeout, "the SASL answer");
        return;
      }
      case Phase::sasl:
        if (root == "success") {
          // RFC 6120 6.4.6: after SASL success both sides restart the stream.
          s_.host.debug("ldm_xml: SASL <success/>; restarting the stream");
          open_stream(Phase::sasl_features);
          return;
        }
        if (root == "failure") {
          std::string cond = element_summary(item.text);
          s_.host.metric("ldm.auth_failures");
          return fail("SASL PLAIN authentication as '" + s_.options.user + "' refused by ldmd" +
                          (cond.empty() ? std::string() : ": " + cond),
                      true);
        }
        return unexpected(item.text);
      case Phase::sasl_features:
        if (root != "features") return unexpected(item.text);
        return register_events();
      case Phase::registering:
        if (root == "LDM_interface") return on_registration(item.text);
        if (root == "LDM_event") return on_event(item.text);
        return unexpected(item.text);
      case Phase::streaming:
        if (root == "LDM_event") return on_event(item.text);
        s_.host.debug("ldm_xml: ignoring <" + std::string(root) + "> from ldmd");
        return;
      case Phase::unregistering:
        if (root == "LDM_event") return on_event(item.text);
        if (root == "LDM_interface") {
          Response r = parse_response(item.text);
          if (!r.success) s_.host.warn("ldm_xml: " + r.action + " failed: " + join(r.messages));
          if (unreg_pending_ > 0 && --unreg_pending_ == 0) close_stream();
        }
        return;
      case Phase::closing:
        if (root == "LDM_event") return on_event(item.text);
        return;
      case Phase::connecting:
      case Phase::tls_handshake:
        return unexpected(item.text);
    }
  }

  void on_registration(const std::string& xml) {
    Response r = parse_response(xml);
    if (!r.success) {
      std::string what = r.parsed ? join(r.messages) : r.error;
      s_.host.metric("ldm.registration_failures");
      return fail("ldmd refused " + (r.action.empty() ? std::string("registration") : r.action) +
                      (what.empty() ? std::string() : ": " + what),
                  true);
    }
    s_.host.debug("ldm_xml: ldmd accepted " +
                  (r.action.empty() ? std::string("a registration") : r.action) + " (" +
                  std::to_string(reg_pending_ > 0 ? reg_pending_ - 1 : 0) + " to go)");
    if (reg_pending_ > 0 && --reg_pending_ == 0) {
      disarm();
      phase_ = Phase::streaming;
      up_ = true;
      on_up_(*this);
    }
  }

  void on_event(const std::string& xml) {
    Event e = s_.mapper.map(xml, next_id());
    if (e.type == "sluice.parse-error") {
      s_.host.metric("ldm.parse_errors");
      s_.host.warn("ldm_xml: unreadable LDM_event delivered as sluice.parse-error (" +
                   std::to_string(xml.size()) + " bytes)");
    }
    pending_.push_back(std::move(e));
  }

 public:
  // Events collected from one read go to the emitter together. When its queue is full, the
  // socket is not read until the emitter has taken it (back-pressure reaches ldmd through TCP).
  void flush_events() {
    if (pending_.empty()) return;
    s_.host.metric("ldm.events", static_cast<int64_t>(pending_.size()));
    packed_.clear();
    // Every event says which ldmd it came from (`ldm-host`, the `host` option), the
    // framework's own (sluice.reconnected, sluice.parse-error) too, so that routes and
    // receivers can tell control domains apart without parsing the source URI.
    for (auto& e : pending_) {
      e.attribute("ldm-host", s_.options.host);
      packed_.add(e);
    }
    pending_.clear();
    std::weak_ptr<Connection> weak = shared_from_this();
    auto ex = ex_;
    if (s_.pump->submit(packed_, [weak, ex] {
          asio::post(ex, [weak] {
            if (auto c = weak.lock()) c->resume();
          });
        }))
      paused_ = true;
  }

  // Goes out before anything else read on this connection (flushed after the current read).
  void emit_first(Event e) { pending_.insert(pending_.begin(), std::move(e)); }

 private:
  void unexpected(const std::string& xml) {
    fail("unexpected from ldmd while waiting for " + phase_name() + ": " +
         xml.substr(0, std::min<size_t>(xml.size(), 200)));
  }

  std::string phase_name() const {
    switch (phase_) {
      case Phase::features:
        return "the stream features";
      case Phase::proceed:
        return "<proceed/>";
      case Phase::tls_features:
        return "the stream features after TLS";
      case Phase::sasl:
        return "the SASL answer";
      case Phase::sasl_features:
        return "the stream features after SASL";
      case Phase::registering:
        return "the registration answers";
      default:
        return "nothing";
    }
  }

  static std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v)
      out += (out.empty() ? "" : "; ") + s;
    return out;
  }

  // --- writing -------------------------------------------------------------------------------
  void send(std::string text) {
    queue_.push_back(std::move(text));
    if (!writing_) write_next();
  }

  void write_next() {
    if (finished_ || queue_.empty()) {
      writing_ = false;
      return;
    }
    writing_ = true;
    auto self = shared_from_this();
    // Every write, in every phase (events streaming too), ends within response_timeout: a peer
    // that stops reading cannot hold the connection (or stop) forever.
    const uint64_t gen = ++write_gen_;
    write_deadline_.expires_after(s_.options.response_timeout);
    write_deadline_.async_wait([this, self, gen](const boost::system::error_code& ec) {
      if (ec || gen != write_gen_ || finished_) return;
      if (phase_ == Phase::closing || phase_ == Phase::unregistering) return finish_stop_now();
      fail("timed out after " + delay_text(s_.options.response_timeout) + " writing to ldmd");
    });
    stream_.async_write(
        asio::buffer(queue_.front()),
        [this, self](const boost::system::error_code& ec, size_t) { on_write(ec); });
  }

  void on_write(const boost::system::error_code& ec) {
    ++write_gen_;
    write_deadline_.cancel();
    if (finished_) return;
    if (ec) {
      if (phase_ == Phase::closing || phase_ == Phase::unregistering) return finish_stop_now();
      return fail("write failed: " + ec.message());
    }
    queue_.pop_front();
    if (queue_.empty() && phase_ == Phase::closing) return finish_stop_now();
    write_next();
  }

  // --- stop ----------------------------------------------------------------------------------
  void close_stream() {
    phase_ = Phase::closing;
    send(std::string(kStreamClose));
    arm(s_.options.stop_timeout, "the stream to close");
  }

  void finish_stop_now() {
    finish("stopped", false, false);
    finish_stop();
  }

  void finish_stop() {
    if (auto done = std::move(stop_done_)) {
      stop_done_ = nullptr;
      done();
    }
  }

  // --- timeouts and failure ------------------------------------------------------------------
  void arm(milliseconds d, const std::string& what) {
    const uint64_t gen = ++deadline_gen_;
    deadline_.expires_after(d);
    auto self = shared_from_this();
    deadline_.async_wait([this, self, gen, d, what](const boost::system::error_code& ec) {
      if (ec || gen != deadline_gen_ || finished_) return;
      if (phase_ == Phase::unregistering) {
        s_.host.warn("ldm_xml: ldmd did not answer the unregister requests within " +
                     delay_text(d) + "; closing anyway");
        return close_stream();
      }
      if (phase_ == Phase::closing) return finish_stop_now();
      fail("timed out after " + delay_text(d) + " waiting for " + what);
    });
  }

  void disarm() {
    ++deadline_gen_;
    deadline_.cancel();
  }

  void fail(const std::string& reason, bool slow_retry = false) {
    finish(reason, slow_retry, true);
  }

  void finish(const std::string& reason, bool slow_retry, bool notify) {
    if (finished_) return;
    finished_ = true;
    disarm();
    write_deadline_.cancel();
    if (framer_.pending_bytes() != 0) {
      s_.host.metric("ldm.partial_elements_discarded");
      s_.host.warn("ldm_xml: connection ended inside an element; " +
                   std::to_string(framer_.pending_bytes()) +
                   " bytes of an unfinished document discarded (ldmd resends nothing)");
    }
    stream_.close();
    if (notify) {
      net::Loss o{reason, slow_retry ? net::Loss::Retry::slow : net::Loss::Retry::backoff, up_};
      auto self = shared_from_this();
      asio::post(ex_, [self, o] { self->on_lost_(o); });
    }
  }

  Shared& s_;
  net::Strand::Executor ex_;
  net::Stream stream_;
  asio::steady_timer deadline_;
  uint64_t deadline_gen_ = 0;
  asio::steady_timer write_deadline_;
  uint64_t write_gen_ = 0;
  XmlStreamFramer framer_;
  std::array<char, 64 * 1024> buf_{};
  std::vector<FramedItem> items_;
  std::vector<Event> pending_;
  PackedEvents packed_;
  std::deque<std::string> queue_;
  bool writing_ = false;
  bool paused_ = false;
  bool up_ = false;
  bool finished_ = false;
  Phase phase_ = Phase::connecting;
  size_t reg_pending_ = 0;
  size_t unreg_pending_ = 0;
  int64_t epoch_;
  std::string id_prefix_;
  uint64_t counter_ = 0;
  UpHandler on_up_;
  LostHandler on_lost_;
  std::function<void()> stop_done_;
};

}  // namespace

// ---- the client -------------------------------------------------------------------------------

struct Client::Impl {
  Shared shared;
  std::optional<ssl::context> tls_ctx;
  // Instances share the plugin's io pool and emitters: threads do not grow with sources.
  net::Strand strand;
  std::shared_ptr<Connection> conn;
  net::Reconnector reconnector;
  bool started = false;
  int64_t last_epoch = 0;

  Impl(Host host, ClientOptions options)
      : shared(host, std::move(options)),
        strand(net::IoPool::shared(), [this](const std::string& what) { recover(what); }),
        reconnector(host, strand,
                    {shared.options.reconnect, shared.mapper.source(), "ldm_xml: ", "ldm."},
                    shared.ids, [this] { connect(); }) {}

  void connect() {
    int64_t epoch = std::max(now_unix_ms(), last_epoch + 1);
    last_epoch = epoch;
    shared.host.state(State::connecting, "connecting to ldm://" + shared.options.host + ":" +
                                             std::to_string(shared.options.port));
    conn = std::make_shared<Connection>(
        shared, strand.executor(), *tls_ctx, epoch, [this](Connection& c) { on_up(c); },
        [this](const net::Loss& o) { on_lost(o); });
    conn->start();
  }

  void on_up(Connection& c) {
    std::string what;
    for (const auto& r : shared.registrations)
      what += (what.empty() ? "" : ", ") + r;
    shared.host.state(State::up, "registered with ldmd (" + what + ")");
    shared.host.info("ldm_xml: connected to " + shared.options.host + ":" +
                     std::to_string(shared.options.port) + " (" +
                     (shared.options.local_mode ? "local" : "remote") + " mode), " + what);
    if (auto e = reconnector.up(shared.registrations)) c.emit_first(std::move(*e));
  }

  void on_lost(const net::Loss& o) {
    conn.reset();
    reconnector.lost(o);
  }

  // An exception out of a handler must not end in std::terminate: it is logged and reported,
  // and the connection is replaced.
  void recover(const std::string& what) {
    reconnector.internal_error(what, [this, what] {
      if (!conn) return false;
      conn->abort("internal error: " + what);  // on_lost schedules the reconnect
      return true;
    });
  }
};

Client::Client(Host host, ClientOptions options)
    : impl_(std::make_shared<Impl>(host, std::move(options))) {}

Client::~Client() {
  stop();
}

void Client::start() {
  Impl& s = *impl_;
  if (s.started) return;
  const auto& o = s.shared.options;
  // from_json (create) refused what check_options finds, the TLS files included
  s.tls_ctx.emplace(tls::make_client_context(o.tls));
  if (!o.tls.verify)
    s.shared.host.warn(
        "ldm_xml: TLS verification is off (tls.verify: false): anyone on the path "
        "can read the ldmd password and events");
  s.shared.pump.emplace(
      s.shared.host, net::EmitPool::shared(s.strand.shared_pool()),
      net::EmitPump::Options{4096, 1u << 20, nullptr, "ldm.emitted_while_stopping", "ldm_xml: "});
  s.started = true;
  s.reconnector.start();
}

void Client::stop() {
  Impl& s = *impl_;
  if (!s.started) return;
  s.started = false;
  // Unregister, close the stream; each step is bounded by stop_timeout (and writes by
  // response_timeout), so this wait only guards against a handler that never finishes.
  const auto& o = s.shared.options;
  s.reconnector.stop(
      [&s](std::function<void()> done) {
        if (!s.conn) return done();
        auto c = s.conn;
        c->shutdown(std::move(done));
      },
      2 * o.stop_timeout + o.response_timeout);
  // The strand is closed: nothing of this instance runs on the io pool any more.
  if (s.conn) s.conn->close_now();
  s.conn.reset();
  s.shared.pump->stop();  // what was read goes out first
  s.shared.host.state(State::down, "stopped");
}

}  // namespace sluice::ldm
