// The hmc_stomp source: supervises one STOMP connection at a time (reconnecting with back-off,
// sluice::net::Reconnector), resolves topics through the WS API where configured, maps frames to
// events and hands them to the host through an emit pump (sluice::net::EmitPump), so that a
// blocking emit pauses reading but not heart-beats. Its handlers run on a strand of the plugin's
// shared io pool: instances share threads (sluice/net/io_pool.hpp).
#include "events.hpp"
#include "options.hpp"
#include "stomp_connection.hpp"
#include "ws_api.hpp"

#include <sluice/framework_events.hpp>
#include <sluice/net/emit_pump.hpp>
#include <sluice/net/io_pool.hpp>
#include <sluice/net/reconnector.hpp>
#include <sluice/sdk.hpp>
#include <sluice/tls.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <deque>
#include <functional>
#include <map>
#include <set>

namespace {

namespace asio = boost::asio;
using sluice::hmc::StompConnection;
using sluice::net::Loss;

std::string ms_text(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

class HmcSource final : public sluice::Source, public StompConnection::Listener {
 public:
  HmcSource(sluice::Host host, const nlohmann::json& options)
      : sluice::Source(host),
        o_(sluice::hmc::Options::from_json(options)),
        source_(o_.source_uri.empty() ? sluice::hmc::source_uri(o_.host) : o_.source_uri),
        strand_(sluice::net::IoPool::shared(), [this](const std::string& what) { recover(what); }),
        reconnector_(
            host, strand_, {o_.reconnect, source_, "", ""}, ids_, [this] { begin_attempt(); },
            [this](const Loss& l, std::chrono::milliseconds d) { report(l, d); }) {
    // from_json refused what check_options finds, the TLS files included
    if (o_.use_tls || o_.needs_ws_api()) tls_ctx_.emplace(sluice::tls::make_client_context(o_.tls));
    if (o_.needs_ws_api()) {
      api_ = std::make_unique<sluice::hmc::WsApi>(strand_.executor(), *tls_ctx_, o_);
      // Method, path, status and duration only (never a header or body); peers' text scrubbed.
      api_->on_request = [this](const std::string& line) {
        this->host().debug(secrets_.scrub(line));
      };
    }
  }

  // Plugin ABI 1.1 (`sluice validate`, and `sluice run` before create): everything the
  // constructor would refuse from these options, with the same messages.
  static sluice::OptionProblems check_options(const nlohmann::json& options) {
    return sluice::hmc::check_options(options);
  }

  ~HmcSource() override { stop(); }

  void start() override {
    if (started_) return;
    if (tls_ctx_ && !o_.tls.verify)
      host().warn("TLS verification is off (tls.verify: false): the identity of " + o_.host +
                  " is not checked");
    sluice::net::EmitPump::Options po;
    po.max_events = kMaxQueuedEvents;
    po.max_bytes = kMaxQueuedBytes;
    po.emitted_metric = "events";
    po.refused_metric = "events_refused";
    pump_.emplace(host(), sluice::net::EmitPool::shared(strand_.shared_pool()), po);
    started_ = true;
    reconnector_.start();
  }

  void stop() override {
    if (!started_) return;
    started_ = false;
    // DISCONNECT and the WS API logoff, bounded: a slow HMC must not hold up shutdown (the host
    // gives a stopping source about a second); a session not logged off expires on the HMC by
    // itself. Every handler on the strand is short (a frame's parse and mapping are linear in
    // its size, and max_frame_bytes and max_headers bound that), so a peer cannot keep stop
    // waiting longer than this.
    const auto wait =
        std::min<std::chrono::milliseconds>(o_.request_timeout, kLogoffWait) + kDisconnectGrace;
    reconnector_.stop([this](std::function<void()> done) { shutdown(std::move(done)); }, wait);
    // The strand is closed: nothing of this instance runs on the io pool any more.
    if (conn_) conn_->abandon();
    conn_.reset();
    pump_->stop();  // what was read goes out first
  }

 private:
  // On the strand: DISCONNECT, log off; `done` once both are over.
  void shutdown(std::function<void()> done) {
    stop_done_ = std::move(done);
    logoff_pending_ = api_ && api_->logged_on();
    if (conn_) conn_->close("source stopping");  // on_closed follows (perhaps at once)
    if (logoff_pending_)
      asio::co_spawn(strand_.executor(), api_->logoff(), [this](std::exception_ptr) {
        logoff_pending_ = false;
        maybe_stopped();
      });
    maybe_stopped();
  }

  void maybe_stopped() {
    if (!stop_done_ || logoff_pending_ || conn_) return;
    auto done = std::move(stop_done_);
    stop_done_ = nullptr;
    done();
  }

  // An exception escaped a handler: whatever it was doing is lost (a WS API coroutine then never
  // completes), so the connection or the attempt starts over instead of waiting for it.
  void recover(const std::string& what) {
    const std::string why = secrets_.scrub(what);
    reconnector_.internal_error(why, [this, why] {
      if (conn_) {
        conn_->fail(StompConnection::CloseKind::lost, "internal error: " + why);
        return true;
      }
      ++attempt_;  // a late completion of the lost attempt is ignored
      loud_ = true;
      return false;
    });
  }

  bool stopping() const { return reconnector_.stopping(); }

  void begin_attempt() {
    if (stopping()) return;
    if (!api_) return connect_stomp();
    host().state(sluice::State::connecting,
                 "WS API " + o_.host + ":" + std::to_string(o_.api_port));
    asio::co_spawn(
        strand_.executor(), prepare_ws_api(), [this, attempt = ++attempt_](std::exception_ptr e) {
          if (stopping() || attempt != attempt_) return;
          if (!e) {
            kick_naming();  // in the background: STOMP does not wait for the names
            return connect_stomp();
          }
          try {
            std::rethrow_exception(e);
          } catch (const sluice::hmc::ApiError& err) {
            if (logon_failed_) {
              report_down(std::string("WS API logon failed: ") + err.what(), Loss::Retry::slow);
            } else {
              report_down(err.what(), Loss::Retry::backoff);
            }
          } catch (const std::exception& err) {
            report_down(std::string("WS API: ") + err.what(), Loss::Retry::backoff);
          }
        });
  }

  asio::awaitable<void> logon() {
    logon_failed_ = false;
    host().debug("WS API: logging on to " + o_.host + ":" + std::to_string(o_.api_port) + " as " +
                 o_.userid + (o_.mfa ? " (mfa: the session becomes the STOMP login)" : ""));
    try {
      co_await api_->logon();
    } catch (const sluice::hmc::ApiError& e) {
      logon_failed_ = e.auth_failed();
      throw;
    }
    // Before anything can log or report: a peer may echo either value back.
    secrets_.add(api_->session_id());
    secrets_.add(api_->session_credential());
    host().info("WS API: logged on to " + o_.host + " as " + o_.userid);
    need_resolve_ = true;
    names_stale_ = true;  // listed again for the new session (renames during an outage)
  }

  // Log on if needed, check the session is alive, (re)resolve the topics.
  asio::awaitable<void> prepare_ws_api() {
    bool relogon = false;
    if (!api_->logged_on()) {
      co_await logon();
    } else if (!need_resolve_) {
      try {
        nlohmann::json topics = co_await api_->notification_topics();
        if (!o_.topic_types.empty()) type_topics_ = api_->topics_of_types(topics);
      } catch (const sluice::hmc::ApiError& e) {
        if (!e.session_gone()) throw;
        host().info("WS API session is gone (" + secrets_.scrub(e.what()) + "): logging on again");
        relogon = true;
      }
      if (relogon) co_await logon();
    }
    if (!need_resolve_) co_return;
    host().debug("WS API: resolving " + std::to_string(o_.topic_types.size()) +
                 " topic type(s) and " + std::to_string(o_.os_message_channels.size()) +
                 " OS message channel(s)");
    sluice::hmc::Resolution r;
    relogon = false;
    try {
      r = co_await api_->resolve();
    } catch (const sluice::hmc::ApiError& e) {
      if (!e.session_gone()) throw;
      relogon = true;
    }
    if (relogon) {
      co_await logon();
      r = co_await api_->resolve();
    }
    type_topics_ = std::move(r.type_topics);
    channel_topics_ = std::move(r.channel_topics);
    inventory_.clear_channels();
    for (const auto& [topic, uri] : r.channel_uris)
      inventory_.set_channel(topic, uri);
    // Freshly resolved names deserve a new try even if they failed before.
    for (const auto& t : type_topics_)
      failed_topics_.erase(t);
    for (const auto& t : channel_topics_)
      failed_topics_.erase(t);
    for (auto& [label, why] : r.channel_errors) {
      why = secrets_.scrub(why);
      if (!channel_errors_.count(label) || channel_errors_[label] != why) {
        host().error("OS message channel " + label + ": " + why);
        sluice::Event e = sluice::framework_events::error(
            ids_.next("error"), source_, {"OS message channel " + label + ": " + why, {}, {}});
        e.attribute("channel", label);
        host().metric("stomp_errors");
        submit({std::move(e)});
      }
    }
    channel_errors_ = r.channel_errors;
    need_resolve_ = false;
    std::string names;
    for (const auto* list : {&type_topics_, &channel_topics_})
      for (const auto& t : *list)
        names += (names.empty() ? "" : ", ") + t;
    host().info("WS API: " + std::to_string(type_topics_.size() + channel_topics_.size()) +
                " topic(s) resolved: " + names);
  }

  std::vector<std::string> wanted_topics() const {
    std::vector<std::string> out;
    std::set<std::string> seen;
    for (const auto* list : {&o_.topics, &type_topics_, &channel_topics_})
      for (const auto& t : *list)
        if (!failed_topics_.count(t) && seen.insert(t).second) out.push_back(t);
    return out;
  }

  void connect_stomp() {
    if (stopping()) return;
    sluice::hmc::ConnectParams p;
    p.host = o_.host;
    p.port = o_.stomp_port;
    p.tls = o_.use_tls;
    p.verify = o_.tls.verify;
    if (o_.mfa) {
      p.login = api_->session_id();
      p.passcode = api_->session_credential();
      secrets_.add(p.login);
      secrets_.add(p.passcode);
    } else {
      p.login = o_.userid;
      p.passcode = o_.password;
    }
    p.version = o_.stomp_version;
    p.use_connect_command = use_connect_;
    p.heartbeat_send = o_.heartbeat_send;
    p.heartbeat_receive = o_.heartbeat_receive;
    p.connect_timeout = o_.connect_timeout;
    p.write_timeout = o_.request_timeout;
    p.max_frame_bytes = o_.max_frame_bytes;
    p.max_headers = o_.max_headers;
    host().state(sluice::State::connecting,
                 "STOMP " + o_.host + ":" + std::to_string(o_.stomp_port));
    host().debug(std::string("STOMP: connecting to ") + o_.host + ":" +
                 std::to_string(o_.stomp_port) + (o_.use_tls ? " over TLS" : " over TCP") +
                 "; sending " + (use_connect_ ? "CONNECT" : "STOMP") + " (accept-version " +
                 (o_.stomp_version == "auto" ? std::string("1.0,1.1,1.2") : o_.stomp_version) +
                 ", heart-beat " + std::to_string(o_.heartbeat_send.count()) + "," +
                 std::to_string(o_.heartbeat_receive.count()) + ", login " +
                 (o_.mfa ? "the WS API session" : "userid " + o_.userid) + ", passcode not shown)");
    conn_ = std::make_shared<StompConnection>(strand_.executor(), o_.use_tls ? &*tls_ctx_ : nullptr,
                                              p, *this);
    conn_->start();
  }

  // A failure that is an error of its own (refused logon, WS API): logged as an error.
  void report_down(const std::string& peer_why, Loss::Retry retry) {
    loud_ = true;
    lost(Loss{secrets_.scrub(peer_why), retry, false});
  }

  // Every loss goes through here. With a list of HMCs, after failover_attempts failed attempts
  // at the active one, or a refused logon there, the next attempt goes to the next HMC of the
  // list (round the list). The back-off goes on across moves, so a list whose every HMC is down
  // is retried as a single HMC would be; a refusal is retried slowly only once every HMC of the
  // list has refused in a row.
  void lost(Loss l) {
    if (o_.hosts.size() < 2 || stopping() || l.retry == Loss::Retry::now)
      return reconnector_.lost(l);
    const bool refused = l.retry == Loss::Retry::slow;
    if (!l.was_up) ++host_failures_;
    refusals_ = refused ? refusals_ + 1 : 0;
    const bool move_on = refused || host_failures_ >= o_.failover_attempts;
    if (refused && refusals_ < o_.hosts.size()) l.retry = Loss::Retry::backoff;
    const std::string why =
        refused ? "logon refused: " + l.reason
                : std::to_string(host_failures_) + " failed attempt(s), the last: " + l.reason;
    reconnector_.lost(l);
    if (move_on) move(why);
  }

  // To the next HMC of the list: its session, topics and STOMP dialect are its own, so the
  // next attempt logs on and resolves every topic again there.
  void move(const std::string& why) {
    const std::string from = o_.hosts[active_].label();
    active_ = (active_ + 1) % o_.hosts.size();
    host_failures_ = 0;
    const sluice::hmc::HmcHost& to = o_.hosts[active_];
    o_.host = to.host;
    o_.stomp_port = to.stomp_port;
    o_.api_port = to.api_port;
    move_reason_ = from + ": " + why;
    host().metric("failovers");
    host().warn("moving to HMC " + to.label() + " (" + move_reason_ + ")");
    if (++moves_since_up_ % o_.hosts.size() == 0)
      host().warn("none of the " + std::to_string(o_.hosts.size()) +
                  " HMCs answers: going round the list again, with back-off");
    if (api_) api_->forget_session();  // not logged off: it expires on its HMC
    need_resolve_ = true;
    forget_names();  // the next HMC's answers are listed afresh
    failed_topics_.clear();
    use_connect_ = false;
    connect_works_ = false;
  }

  // The Reconnector's report of a loss: state down; the log line an error with the reason for
  // report_down, a warning saying what ended for a lost or failed connection.
  void report(const Loss& l, std::chrono::milliseconds delay) {
    // With a list of HMCs the state detail names the one that failed.
    const std::string at = o_.hosts.size() > 1 ? " (HMC " + o_.hosts[active_].label() + ")" : "";
    host().debug(std::string("reconnect decision: ") +
                 (l.retry == Loss::Retry::now     ? "at once"
                  : l.retry == Loss::Retry::slow  ? "slow (a refusal that retrying repeats)"
                  : l.retry == Loss::Retry::fresh ? "back-off from its start"
                                                  : "next back-off step") +
                 ", next attempt in " + ms_text(delay) + "; reason: " + l.reason);
    if (loud_) {
      loud_ = false;
      host().error(l.reason + "; retrying in " + ms_text(delay));
      host().state(sluice::State::down, l.reason + at);
      return;
    }
    const std::string what = (l.was_up ? "connection lost: " : "cannot connect: ") + l.reason;
    host().warn(what + "; reconnecting in " + ms_text(delay));
    host().state(sluice::State::down, what + at);
  }

  void on_connected(StompConnection& c, const sluice::hmc::stomp::FrameView& f) override {
    if (&c != conn_.get()) return;
    if (use_connect_) connect_works_ = true;
    const auto server = f.header("server");
    host().info("connected to " + o_.host + ":" + std::to_string(o_.stomp_port) + " (STOMP " +
                sluice::hmc::stomp::to_string(c.version()) +
                (server ? ", " + std::string(*server) : std::string()) + ", heart-beats send " +
                ms_text(c.send_interval()) + " receive " + ms_text(c.receive_interval()) + ")");
    for (const auto& w : c.heartbeat_warnings())
      host().warn(w);
    const std::string session = api_ ? api_->session_id() : std::string();
    const int64_t lost_at = reconnector_.lost_at_ns();
    // Another HMC than the one of the last working connection: a new session, its own numbering.
    const bool moved = up_host_ != kNoHost && up_host_ != active_;
    if (moved)
      host().warn("failover: HMC " + o_.hosts[active_].label() + " in use instead of " +
                  o_.hosts[up_host_].label() + " (" + move_reason_ + ")");
    if (auto reconnected = reconnector_.up(wanted_topics())) {
      if (o_.hosts.size() > 1) reconnected->attribute("hmc", o_.host);
      if (moved) {
        reconnected->attribute("moved_from", o_.hosts[up_host_].host);
        reconnected->attribute("move_reason", move_reason_);
      }
      std::vector<sluice::Event> events{std::move(*reconnected)};
      account_outage(session, lost_at, reconnector_.up_at_ns(), events, moved);
      submit(events);
    }
    up_host_ = active_;
    host_failures_ = 0;
    refusals_ = 0;
    moves_since_up_ = 0;
    session_ = session;
    session_topics_.clear();
    for (const auto* list : {&type_topics_, &channel_topics_})
      for (const auto& t : *list)
        session_topics_.push_back("/topic/" + t);
    subscribe_all(c);
    update_state();
  }

  // What the outage that just ended cost. Within one WS API session (or with explicit topics and
  // no session) each topic keeps its numbering, so the first session-sequence-nr after the
  // outage gives the exact count (SequenceTracker). A new session's topics are new: whatever was
  // published to the old ones during the outage is lost in unknown number; say so, with the
  // outage window.
  // After a move to another HMC every topic is numbered afresh (explicit topics too): the
  // same, for all of them.
  void account_outage(const std::string& session, int64_t lost_at, int64_t now,
                      std::vector<sluice::Event>& events, bool moved) {
    if (moved || (api_ && session != session_ && !session_topics_.empty())) {
      if (moved)
        seq_.reset();
      else
        for (const auto& destination : session_topics_)
          seq_.forget(destination);
      sluice::framework_events::Gap g;
      g.from_unix_ns = lost_at;
      g.to_unix_ns = now;
      g.reason = moved ? "moved to HMC " + o_.hosts[active_].label() +
                             ": notifications published during the outage are lost in unknown "
                             "number (the new HMC's session numbers its topics afresh)"
                       : "new WS API session: notifications published during the outage to the "
                         "topics of the previous session are lost in unknown number";
      sluice::Event gap = sluice::framework_events::gap(ids_.next("gap"), source_, g);
      if (o_.hosts.size() > 1) gap.attribute("hmc", o_.host);
      events.push_back(std::move(gap));
      host().metric("gaps");
      host().warn(moved ? "moved to another HMC: notifications published during the outage may "
                          "have been missed (unknown number)"
                        : "a new WS API session began after the outage: notifications of the "
                          "previous session's topics may have been missed (unknown number)");
    }
    seq_.outage(lost_at, now);
  }

  void subscribe_all(StompConnection& c) {
    receipts_.clear();
    uint64_t n = 0;
    for (const auto& topic : wanted_topics()) {
      const std::string id = "sub-" + std::to_string(++n);
      sluice::hmc::stomp::Frame f;
      f.command = "SUBSCRIBE";
      f.add("destination", "/topic/" + topic).add("id", id).add("ack", "auto");
      f.add("receipt", "rcpt-" + id);
      receipts_["rcpt-" + id] = topic;
      host().debug("STOMP: SUBSCRIBE destination /topic/" + topic + " id " + id + " receipt rcpt-" +
                   id);
      c.send(f);
    }
    subscribed_ = n;
  }

  void update_state() {
    if (!conn_ || conn_->phase() != StompConnection::Phase::connected) return;
    std::string problems;
    for (const auto& [t, why] : failed_topics_)
      problems += (problems.empty() ? "" : "; ") + ("topic " + t + ": " + why);
    for (const auto& [label, why] : channel_errors_)
      problems += (problems.empty() ? "" : "; ") + ("channel " + label + ": " + why);
    // With a list of HMCs, which one is in use.
    const std::string at = o_.hosts.size() > 1 ? " at HMC " + o_.hosts[active_].label() : "";
    if (!receipts_.empty()) {
      host().state(sluice::State::connecting,
                   "subscribing (" + std::to_string(subscribed_ - receipts_.size()) + " of " +
                       std::to_string(subscribed_) + " confirmed)" + at);
    } else if (!problems.empty()) {
      host().state(sluice::State::degraded,
                   std::to_string(subscribed_) + " topic(s) subscribed" + at + "; " + problems);
    } else {
      host().state(sluice::State::up, std::to_string(subscribed_) + " topic(s) subscribed" + at);
    }
  }

  // Frames of one read are mapped into read_events_ and handed to the emitter together at the
  // end of the read: one lock and one wake-up per read, not per frame.
  void on_frame(StompConnection&, const sluice::hmc::stomp::FrameView& f) override {
    if (f.command == "MESSAGE") {
      ++read_messages_;
      if (!o_.resolves_names()) {
        sluice::hmc::map_message(f, source_, o_.split_lists, seq_, read_events_, read_stats_,
                                 o_.host);
        return;
      }
      const NameChange change = names_before(f);
      sluice::hmc::map_message(f, source_, o_.split_lists, seq_, read_events_, read_stats_, o_.host,
                               &inventory_);
      // An object removed from the inventory: its own notification still carries its names.
      if (change.removed) inventory_.remove(*change.removed);
    } else if (f.command == "RECEIPT") {
      if (const auto r = f.header("receipt-id")) {
        auto it = receipts_.find(std::string(*r));
        host().debug("STOMP: RECEIPT receipt-id " + secrets_.scrub(std::string(*r)) +
                     (it != receipts_.end() ? ": subscribed to /topic/" + it->second
                                            : std::string(": not awaited")));
        if (it != receipts_.end()) {
          receipts_.erase(it);
          read_receipts_changed_ = true;
        }
      }
    } else if (f.command == "ERROR") {
      read_close_reason_ = handle_error_frame(f, read_events_);
    }
  }

  void on_read_end(StompConnection& c) override {
    if (read_messages_) host().metric("messages", static_cast<int64_t>(read_messages_));
    const sluice::hmc::MapStats stats = read_stats_;
    if (stats.parse_errors) host().metric("parse_errors", static_cast<int64_t>(stats.parse_errors));
    if (stats.lists_not_split) {
      host().metric("lists_not_split", static_cast<int64_t>(stats.lists_not_split));
      host().warn(std::to_string(stats.lists_not_split) +
                  " notification list(s) too large to split (split_lists): delivered whole");
    }
    if (stats.gaps) {
      host().metric("gaps", static_cast<int64_t>(stats.gaps));
      host().metric("missed_notifications", static_cast<int64_t>(stats.missed));
      if (stats.missed)
        host().warn(std::to_string(stats.missed) +
                    " notification(s) missed (session-sequence-nr gap)");
      if (stats.unknown_gaps)
        host().warn("session-sequence-nr started again after the outage on " +
                    std::to_string(stats.unknown_gaps) +
                    " topic(s): an unknown number of notifications was missed");
    }
    read_messages_ = 0;
    read_stats_ = {};
    // While more bytes wait in the socket, the next read follows at once: keep collecting, up
    // to a bound, and wake the emitter once for several reads.
    const bool collect_more = read_events_.size() < kMaxCollectedEvents &&
                              read_events_.bytes() < kMaxCollectedBytes && !read_close_reason_ &&
                              c.more_to_read();
    // Reading goes on while the emitter works; it pauses only when the queue is full.
    if (!collect_more && !read_events_.empty() && submit(read_events_, c.shared_from_this()))
      c.pause();
    if (read_receipts_changed_) {
      read_receipts_changed_ = false;
      update_state();
    }
    // The broker closes the connection after an ERROR (the STOMP spec says it must).
    if (read_close_reason_) {
      const std::string why = std::move(*read_close_reason_);
      read_close_reason_.reset();
      quick_reconnect_ = true;
      c.fail(StompConnection::CloseKind::lost, why);
    }
  }

  // Reports an ERROR frame; returns why the connection ends.
  std::string handle_error_frame(const sluice::hmc::stomp::FrameView& f,
                                 sluice::PackedEvents& batch) {
    const auto m = f.header("message");
    const std::string message = secrets_.scrub(m ? *m : f.body.substr(0, 200));
    std::optional<std::string> topic;
    if (const auto r = f.header("receipt-id"))
      if (auto it = receipts_.find(std::string(*r)); it != receipts_.end()) topic = it->second;
    if (!topic) {
      // ActiveMQ names the destination in the message: ..., 'topic://NAME', ...
      auto at = message.find("topic://");
      if (at != std::string::npos) {
        auto end = message.find_first_of("' ,", at + 8);
        std::string name = message.substr(at + 8, end == std::string::npos ? end : end - at - 8);
        for (const auto& t : wanted_topics())
          if (t == name) topic = t;
      }
    }
    std::optional<std::string> destination;
    if (topic) destination = "/topic/" + *topic;
    host().metric("stomp_errors");
    host().error("broker ERROR" + (destination ? " for " + *destination : std::string()) + ": " +
                 message);
    batch.add(sluice::hmc::error_event(f, source_, ids_.next("error"), destination, secrets_));
    if (topic) {
      failed_topics_[*topic] = message;
      return "ERROR frame for " + *destination + ": " + message;
    }
    return "ERROR frame: " + message;
  }

  void on_closed(StompConnection& c, StompConnection::CloseKind kind,
                 const std::string& peer_reason, const sluice::hmc::stomp::Frame* error) override {
    const std::string reason = secrets_.scrub(peer_reason);
    // Events collected over several reads (on_read_end) go out before anything else happens.
    if (!read_events_.empty()) submit(read_events_);
    if (&c != conn_.get()) return;
    auto keep = conn_;  // c stays alive until this returns
    conn_.reset();
    receipts_.clear();
    if (stopping()) return maybe_stopped();
    const bool was_up = kind == StompConnection::CloseKind::lost;
    // CONNECT is tried only when the broker refused the STOMP command itself (an ERROR that
    // says so), or hung up on it without a word. An ERROR about the login is final for this
    // attempt: a second logon with the same credentials fails too and counts against lockout
    // policies. A broker that never answers is not a 1.0 broker either: one connect_timeout.
    const bool refused_command =
        kind == StompConnection::CloseKind::rejected && c.stomp_command_refused();
    const bool hung_up = kind == StompConnection::CloseKind::failed &&
                         c.closed_in() == StompConnection::Phase::awaiting_connected &&
                         !c.timed_out();
    const bool fallback_possible =
        o_.stomp_version == "auto" && !use_connect_ && (refused_command || hung_up);
    if (fallback_possible && !connect_works_) {
      host().info("broker did not accept the STOMP frame (" + reason +
                  "); trying CONNECT (STOMP 1.0 brokers)");
      use_connect_ = true;
      return lost(Loss{reason, Loss::Retry::now, was_up});
    }
    if (kind == StompConnection::CloseKind::rejected) {
      if (use_connect_ && !connect_works_) use_connect_ = false;
      if (error) {
        host().metric("stomp_errors");
        submit({sluice::hmc::error_event(error->view(), source_, ids_.next("error"), std::nullopt,
                                         secrets_)});
      }
      return report_down(reason, Loss::Retry::slow);
    }
    if (kind == StompConnection::CloseKind::lost) {
      if (reason.rfind("heart-beat timeout", 0) == 0) {
        host().metric("heartbeat_timeouts");
        host().debug("STOMP: " + reason + " (heartbeat.receive " + ms_text(o_.heartbeat_receive) +
                     ")");
      }
      if (reason.rfind("bad frame", 0) == 0 || reason.rfind("frame too large", 0) == 0)
        host().metric("frame_errors");
    }
    if (use_connect_ && !connect_works_) use_connect_ = false;  // fallback did not help either
    const Loss::Retry retry = quick_reconnect_ ? Loss::Retry::fresh : Loss::Retry::backoff;
    quick_reconnect_ = false;
    lost(Loss{reason, retry, was_up});
  }

  // ---- names (attributes cpc and partition) -------------------------------------------------
  // The read path only looks URIs up in inventory_ (no request). The WS API work runs in the
  // background, one request at a time, on the strand: after each logon the CPCs and their
  // partitions/LPARs are listed; then URIs seen in notifications but not known are resolved one
  // by one (Get ... Properties), at most kNamesPerSecond a second, a failed one not again for
  // kNameRetryAfter. A notification never waits for a name: until its object is known it goes
  // out without cpc and partition.
  static constexpr size_t kMaxNameQueue = 1024;
  static constexpr std::chrono::milliseconds kNameSpacing{100};  // at most 10 requests a second
  static constexpr std::chrono::milliseconds kNameFailurePause{1000};
  static constexpr std::chrono::seconds kNameRetryAfter{60};

  struct NameChange {
    std::optional<std::string> removed;  // inventory-change remove: forget it after mapping
  };

  // What a notification says about the inventory, before it is mapped: a rename applies to the
  // notification itself; an added or unknown object is queued for resolution.
  NameChange names_before(const sluice::hmc::stomp::FrameView& f) {
    NameChange out;
    const auto uri = f.header("object-uri");
    if (!uri || sluice::hmc::object_kind(*uri) == sluice::hmc::ObjectKind::other) return out;
    const auto type = f.header("notification-type");
    if (type && *type == "inventory-change") {
      const auto action = f.header("action");
      if (action && *action == "remove") {
        out.removed = std::string(*uri);
      } else {
        queue_name(*uri, true);  // added (perhaps again, after an HMC restart): look it up anew
      }
      return out;
    }
    if (type && *type == "property-change") {
      const auto props = f.header("property-names");
      if (props && has_word(*props, "name")) {
        if (auto to = sluice::hmc::renamed_to(f.body); to && inventory_.rename(*uri, *to)) {
          host().debug("names: " + std::string(*uri) + " is now called " + *to);
          return out;
        }
        queue_name(*uri, true);
        return out;
      }
    }
    if (!inventory_.knows(*uri)) queue_name(*uri, false);
    return out;
  }

  static bool has_word(std::string_view list, std::string_view word) {
    size_t at = 0;
    while (at < list.size()) {
      const size_t b = list.find_first_not_of(' ', at);
      if (b == std::string_view::npos) break;
      const size_t e = std::min(list.find(' ', b), list.size());
      if (list.substr(b, e - b) == word) return true;
      at = e;
    }
    return false;
  }

  void queue_name(std::string_view uri, bool again) {
    std::string key(uri);
    if (name_queued_.count(key)) return;
    if (!again) {
      auto failed = name_failed_.find(key);
      if (failed != name_failed_.end()) {
        if (std::chrono::steady_clock::now() < failed->second) return;
        name_failed_.erase(failed);
      }
    }
    if (name_queue_.size() >= kMaxNameQueue) return;  // seen again later, queued then
    name_queued_.insert(key);
    name_queue_.push_back(std::move(key));
    kick_naming();
  }

  void forget_names() {
    ++naming_epoch_;
    inventory_.clear();
    inventory_.clear_channels();
    name_queue_.clear();
    name_queued_.clear();
    name_failed_.clear();
    names_stale_ = true;
  }

  void kick_naming() {
    if (!o_.resolves_names() || naming_ || stopping() || !api_ || !api_->logged_on()) return;
    if (!names_stale_ && name_queue_.empty()) return;
    naming_ = true;
    const uint64_t epoch = naming_epoch_;
    asio::co_spawn(strand_.executor(), naming(epoch), [this](std::exception_ptr e) {
      naming_ = false;
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& err) {
          host().warn("names: " + secrets_.scrub(err.what()));
        }
      }
      // More may have been queued meanwhile, or a move made the names stale again (a worker
      // of the old HMC ends at once, and the new HMC's listing starts here).
      if (!stopping() && !e) kick_naming();
    });
  }

  asio::awaitable<void> pause_naming(std::chrono::milliseconds d) {
    asio::steady_timer t(strand_.executor());
    t.expires_after(d);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

  asio::awaitable<void> naming(uint64_t epoch) {
    auto gone = [this, epoch] {
      return stopping() || epoch != naming_epoch_ || !api_->logged_on();
    };
    if (names_stale_) {
      names_stale_ = false;
      sluice::hmc::Inventory fresh;
      bool failed = false;
      try {
        const uint64_t since = inventory_.generation();  // renames after it beat the listing
        const size_t requests = co_await api_->load_inventory(fresh);
        if (gone()) co_return;
        inventory_.adopt_objects(std::move(fresh), since);
        host().info("names: " + std::to_string(inventory_.size()) +
                    " CPC(s), partition(s) and LPAR(s) listed in " + std::to_string(requests) +
                    " WS API request(s)");
      } catch (const sluice::hmc::ApiError& e) {
        if (gone()) co_return;
        failed = true;
        host().metric("names_failed");
        host().warn("names: cannot list the CPCs (" + secrets_.scrub(e.what()) +
                    "): notifications go out without cpc and partition until their objects are "
                    "looked up one by one");
      }
      if (failed) {
        co_await pause_naming(kNameFailurePause);
        if (gone()) co_return;
      }
    }
    while (!name_queue_.empty()) {
      std::string uri = std::move(name_queue_.front());
      name_queue_.pop_front();
      name_queued_.erase(uri);
      bool failed = false;
      try {
        co_await api_->resolve_object(inventory_, uri);
        if (gone()) co_return;
        host().metric("names_resolved");
        if (auto n = inventory_.lookup(uri))
          host().debug("names: " + uri + " is " + std::string(n->cpc) +
                       (n->partition.empty() ? "" : "/" + std::string(n->partition)));
      } catch (const sluice::hmc::ApiError& e) {
        if (gone()) co_return;
        failed = true;
        host().metric("names_failed");
        name_failed_[uri] = std::chrono::steady_clock::now() + kNameRetryAfter;
        host().debug("names: cannot look up " + uri + ": " + secrets_.scrub(e.what()) +
                     " (not again for " + std::to_string(kNameRetryAfter.count()) + "s)");
      }
      co_await pause_naming(failed ? kNameFailurePause : kNameSpacing);
      if (gone()) co_return;
    }
  }

  // ---- emitting ------------------------------------------------------------------------------
  // The strand appends events to the pump's queue and goes on reading; an emitter takes the whole
  // queue for ONE emit call. So a burst read while an emit is running costs one wake-up and one
  // emit, not one per socket read. Bounded: when the queue holds kMaxQueuedEvents events or
  // kMaxQueuedBytes bytes, the connection stops reading until an emitter has taken the queue.
  static constexpr std::chrono::milliseconds kDisconnectGrace{500};
  static constexpr std::chrono::milliseconds kLogoffWait{400};
  static constexpr size_t kMaxQueuedEvents = 4096;
  static constexpr size_t kMaxQueuedBytes = 1u << 20;
  // How much the strand collects over several reads before queueing it (see on_read_end).
  static constexpr size_t kMaxCollectedEvents = 1024;
  static constexpr size_t kMaxCollectedBytes = 256u << 10;

  // Queues events for the emitters; `events` is left empty (with storage to reuse). Returns
  // true when the queue is full: the caller pauses `conn`, which is resumed as soon as an
  // emitter has taken the queue.
  bool submit(sluice::PackedEvents& events,
              const std::shared_ptr<StompConnection>& conn = nullptr) {
    if (!conn) return pump_->submit(events);
    std::weak_ptr<StompConnection> weak = conn;
    auto ex = strand_.executor();
    return pump_->submit(events, [weak, ex] {
      asio::post(ex, [weak] {
        if (auto c = weak.lock()) c->resume();
      });
    });
  }

  void submit(const std::vector<sluice::Event>& events) { pump_->submit(events); }

  sluice::hmc::Options o_;
  std::string source_;
  sluice::EventIds ids_;  // ids of the events this instance makes up: unique across runs
  // This instance's serial executor on the plugin's shared io pool.
  sluice::net::Strand strand_;
  sluice::net::Reconnector reconnector_;
  std::optional<sluice::net::EmitPump> pump_;
  std::optional<asio::ssl::context> tls_ctx_;
  std::unique_ptr<sluice::hmc::WsApi> api_;
  std::shared_ptr<StompConnection> conn_;
  bool started_ = false;

  // strand only
  bool need_resolve_ = true;
  bool logon_failed_ = false;
  bool use_connect_ = false;
  bool connect_works_ = false;
  bool quick_reconnect_ = false;
  uint64_t attempt_ = 0;  // WS API attempts, so that an abandoned one cannot complete
  // The HMC list (o_.hosts): the one in use, the one of the last working connection, failed
  // attempts at the one in use, refusals in a row, moves since the last working connection.
  static constexpr size_t kNoHost = static_cast<size_t>(-1);
  size_t active_ = 0;
  size_t up_host_ = kNoHost;
  uint64_t host_failures_ = 0;
  uint64_t refusals_ = 0;
  uint64_t moves_since_up_ = 0;
  std::string move_reason_;  // why the source left the HMC before the one in use
  std::string session_;      // the WS API session of the last working connection (a secret)
  std::vector<std::string> session_topics_;  // its destinations resolved through that session
  sluice::hmc::Secrets secrets_;
  uint64_t subscribed_ = 0;
  bool loud_ = false;            // the next loss report is an error (report_down)
  bool logoff_pending_ = false;  // stop: the WS API logoff is under way
  std::function<void()> stop_done_;
  std::vector<std::string> type_topics_;
  std::vector<std::string> channel_topics_;
  std::map<std::string, std::string> channel_errors_;
  std::map<std::string, std::string> failed_topics_;  // topic -> the broker's message
  std::map<std::string, std::string> receipts_;       // receipt id -> topic, until confirmed
  sluice::hmc::SequenceTracker seq_;
  // names (strand only): see "names" above
  sluice::hmc::Inventory inventory_;
  bool names_stale_ = true;  // list everything at the next chance (a logon, a move)
  bool naming_ = false;      // the background lookup runs
  uint64_t naming_epoch_ = 0;
  std::deque<std::string> name_queue_;
  std::set<std::string> name_queued_;
  std::map<std::string, std::chrono::steady_clock::time_point> name_failed_;
  // what the frames of the current read produced (io thread)
  sluice::PackedEvents read_events_;
  sluice::hmc::MapStats read_stats_;
  uint64_t read_messages_ = 0;
  bool read_receipts_changed_ = false;
  std::optional<std::string> read_close_reason_;
};

}  // namespace

SLUICE_PLUGIN(HmcSource, "hmc_stomp", "1.0.0",
              "IBM Z HMC notifications over STOMP (TLS), topics from the HMC Web Services API",
              sluice::hmc::options_schema())
