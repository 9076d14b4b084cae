// The fake ldmd server: one io_context thread, one Session object per connection.
#include <sluice/fakes/ldmd.hpp>

#include "xmpp_codec.hpp"  // the fake's own: nothing shared with the ldm_xml plugin

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <array>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

namespace sluice::fakes::ldmd {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;

namespace {

constexpr std::string_view kServerHeader =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' id='fake-ldmd' from='fake-ldmd' "
    "version='1.0'>";
constexpr std::string_view kFeaturesStartTls =
    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
    "</stream:features>";
constexpr std::string_view kFeaturesSasl =
    "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
    "<mechanism>PLAIN</mechanism></mechanisms></stream:features>";
constexpr std::string_view kFeaturesLocal = "<stream:features></stream:features>";
constexpr std::string_view kMalformed =
    "<LDM_event version='1.0'><cmd><action>start-domain</action><data version='3.0'>"
    "<Envelope></Content></data></cmd></LDM_event>";
constexpr std::string_view kStreamClose = "</stream:stream>";
constexpr size_t kBatchBytes = 64 * 1024;

std::string response_xml(std::string_view action, bool ok, const std::string& message) {
  const std::string status = ok ? "success" : "failure";
  std::string inner = "<response><status>" + status + "</status>";
  if (!ok && !message.empty()) inner += "<resp_msg>" + message + "</resp_msg>";
  inner += "</response>";
  return "<LDM_interface version=\"1.0\"><cmd><action>" + std::string(action) +
         "</action><data version=\"3.0\">" + inner + "</data>" + inner + "</cmd>" + inner +
         "</LDM_interface>";
}

// "reg-domain-events" → "domain"
std::string class_of_registration(std::string_view action) {
  size_t dash = action.find('-');
  size_t end = action.rfind("-events");
  if (dash == std::string_view::npos || end == std::string_view::npos || end <= dash) return {};
  return std::string(action.substr(dash + 1, end - dash - 1));
}

}  // namespace

class Session;

struct FakeLdmd::Impl {
  Options options;
  tls::CertificatePem cert;
  asio::io_context io;
  ssl::context tls_ctx{ssl::context::tls_server};
  tcp::acceptor acceptor{io};
  std::thread thread;
  uint16_t port = 0;
  std::vector<std::weak_ptr<Session>> sessions;

  // Script state (io thread only, mirrored into stats under the mutex).
  size_t position = 0;
  uint64_t repeat_done = 0;
  std::vector<std::shared_ptr<const std::string>> rendered;  // per event step, or null
  std::vector<std::shared_ptr<const std::string>> batches;   // per event step: many copies
  std::vector<uint64_t> batch_docs;
  Session* script_owner = nullptr;
  uint64_t split_bytes = 0;
  uint64_t glue = 0;

  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  Stats stats;
  bool stopped = false;

  template <typename F>
  void update(F&& f) {
    {
      std::lock_guard lock(mutex);
      f(stats);
    }
    changed.notify_all();
  }

  void accept();
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(FakeLdmd::Impl& srv, tcp::socket socket)
      : srv_(srv), stream_(std::move(socket), srv.tls_ctx), timer_(srv.io) {}

  void start() { read(); }

  void shutdown() { close(); }

 private:
  struct Out {
    std::shared_ptr<const std::string> owner;
    asio::const_buffer buffer;
    uint64_t events = 0;  // complete documents finished by this write
    uint64_t raw = 0;
    bool close_after = false;
  };

  // --- reading ----------------------------------------------------------------------------
  void read() {
    if (closed_) return;
    auto self = shared_from_this();
    auto handler = [this, self](const boost::system::error_code& ec, size_t n) { on_read(ec, n); };
    if (tls_)
      stream_.async_read_some(asio::buffer(rbuf_), handler);
    else
      stream_.next_layer().async_read_some(asio::buffer(rbuf_), handler);
  }

  void on_read(const boost::system::error_code& ec, size_t n) {
    if (ec || closed_) return close();
    items_.clear();
    if (!reader_.feed(std::string_view(rbuf_.data(), n), items_)) {
      send(
          "<stream:error><bad-format xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
          "</stream:error></stream:stream>",
          true);
      return;
    }
    for (auto& item : items_) {
      if (closed_ || closing_) return;
      handle(item);
      if (awaiting_tls_) return;  // the TLS handshake reads next, not us
    }
    read();
  }

  void handle(const xmpp::Item& item) {
    using Kind = xmpp::Item::Kind;
    if (item.kind == Kind::open) {
      std::string out(kServerHeader);
      if (!tls_)
        out += kFeaturesStartTls;
      else if (srv_.options.local_mode || authenticated_)
        out += kFeaturesLocal;
      else
        out += kFeaturesSasl;
      send(std::move(out));
      return;
    }
    if (item.kind == Kind::close) {
      srv_.update([](Stats& s) { ++s.stream_closes_received; });
      send(std::string(kStreamClose), true);
      return;
    }
    const std::string root = xmpp::root_name(item.text);
    if (root == "starttls" && !tls_) {
      send("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
      awaiting_tls_ = true;
      after_write([this] { handshake(); });
    } else if (root == "auth" && tls_) {
      authenticate(item.text);
    } else if (root == "LDM_interface") {
      if (!tls_ || (!srv_.options.local_mode && !authenticated_)) {
        send(
            "<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
            "</stream:error></stream:stream>",
            true);
        return;
      }
      request(item.text);
    }
    // Anything else (whitespace pings, unknown elements) is ignored, as ldmd does.
  }

  void handshake() {
    auto self = shared_from_this();
    timer_.expires_after(std::chrono::seconds(10));
    timer_.async_wait([this, self](const boost::system::error_code& ec) {
      if (!ec) close();
    });
    stream_.async_handshake(ssl::stream_base::server,
                            [this, self](const boost::system::error_code& ec) {
                              timer_.cancel();
                              if (ec) return close();
                              tls_ = true;
                              awaiting_tls_ = false;
                              reader_.restart();
                              srv_.update([](Stats& s) { ++s.tls_handshakes; });
                              read();
                            });
  }

  void authenticate(const std::string& xml) {
    const auto creds = xmpp::sasl_plain(xml);
    bool ok = creds && creds->authcid == srv_.options.user &&
              creds->password == srv_.options.password &&
              (creds->authzid.empty() || creds->authzid == creds->authcid);
    if (srv_.options.refuse_auth) ok = false;
    if (!ok) {
      srv_.update([](Stats& s) { ++s.auth_failed; });
      send(
          "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>"
          "</stream:stream>",
          true);
      return;
    }
    srv_.update([](Stats& s) { ++s.auth_ok; });
    authenticated_ = true;
    reader_.restart();  // the client restarts the stream after <success/> (RFC 6120 6.4.6)
    send("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
  }

  void request(const std::string& xml) {
    std::string action = xmpp::request_action(xml).value_or("");
    srv_.update([&](Stats& s) { s.requests.push_back(action); });
    std::string cls = class_of_registration(action);
    if (action.rfind("reg-", 0) == 0 && !cls.empty()) {
      if (!srv_.options.registration_failure.empty()) {
        send(response_xml(action, false, srv_.options.registration_failure));
        return;
      }
      registered_.insert(cls);
      srv_.update([](Stats& s) { ++s.registrations_ok; });
      send(response_xml(action, true, {}));
      // Start (or resume) the script once this read's requests are all answered.
      if (!srv_.script_owner) {
        srv_.script_owner = this;
        auto self = shared_from_this();
        asio::post(srv_.io, [this, self] { run_script(); });
      }
    } else if (action.rfind("unreg-", 0) == 0 && !cls.empty()) {
      if (srv_.options.ignore_unregister) return;
      registered_.erase(cls);
      send(response_xml(action, true, {}));
    } else {
      send(response_xml(action, false, "fake ldmd: unsupported action '" + action + "'"));
    }
  }

  bool registered_for(const std::string& cls) const {
    if (registered_.count("all")) return true;
    if (cls == "progress") return registered_.count("hardware") > 0;  // as the guides say
    if (cls == "other") return !registered_.empty();
    return registered_.count(cls) > 0;
  }

  // --- the script ---------------------------------------------------------------------------
  // Runs steps until one has to wait (a write in flight, a sleep, a rate); called again then.
  void run_script() {
    auto& srv = srv_;
    while (!closed_ && !closing_ && srv.script_owner == this) {
      if (writing_) {
        script_waiting_ = true;  // continue once the queue drains
        return;
      }
      if (srv.position >= srv.options.script.size()) {
        srv.update([](Stats& s) { s.script_done = true; });
        srv.script_owner = nullptr;
        if (srv.options.close_after_script) send(std::string(kStreamClose), true);
        return;
      }
      const Step& step = srv.options.script[srv.position];
      switch (step.kind) {
        case Step::Kind::sleep:
          advance();
          wait_for(step.sleep);
          return;
        case Step::Kind::xml:
          send_documents(std::make_shared<const std::string>(step.xml), 1, 0, 1);
          if (++srv.repeat_done >= step.repeat) advance();
          continue;
        case Step::Kind::fault:
          advance();
          if (!fault(step)) return;
          continue;
        case Step::Kind::event:
          break;
      }
      // event
      const size_t index = srv.position;
      if (!registered_for(event_class(step))) {
        uint64_t skipped = step.repeat - srv.repeat_done;
        srv.update([&](Stats& s) { s.events_skipped += skipped; });
        advance();
        continue;
      }
      auto& doc = srv.rendered[index];
      if (!doc) doc = std::make_shared<const std::string>(render_event(step));
      uint64_t remaining = step.repeat - srv.repeat_done;
      if (remaining == 0) {
        advance();
        continue;
      }
      uint64_t n;
      if (step.rate > 0) {
        n = std::min<uint64_t>(remaining, srv.glue ? srv.glue : 1);
        send_documents(doc, n, n, 0);
      } else if (srv.split_bytes || srv.glue) {
        n = std::min<uint64_t>(remaining, srv.glue ? srv.glue : 1);
        send_documents(doc, n, n, 0);
      } else {
        // Fast path: a pre-built buffer of many copies, written again and again.
        auto& batch = srv.batches[index];
        if (!batch) {
          uint64_t k = std::max<uint64_t>(1, kBatchBytes / doc->size());
          std::string b;
          b.reserve(k * doc->size());
          for (uint64_t i = 0; i < k; ++i)
            b += *doc;
          srv.batch_docs[index] = k;
          batch = std::make_shared<const std::string>(std::move(b));
        }
        n = std::min<uint64_t>(remaining, srv.batch_docs[index]);
        Out o;
        o.owner = batch;
        o.buffer = asio::buffer(*batch, n * doc->size());
        o.events = n;
        push(std::move(o));
      }
      srv.repeat_done += n;
      if (srv.repeat_done >= step.repeat) advance();
      if (step.rate > 0) {
        wait_for(std::chrono::microseconds(static_cast<int64_t>(1e6 * n / step.rate)));
        return;
      }
    }
  }

  void advance() {
    ++srv_.position;
    srv_.repeat_done = 0;
    size_t pos = srv_.position;
    srv_.update([pos](Stats& s) { s.script_position = pos; });
  }

  template <typename Duration>
  void wait_for(Duration d) {
    auto self = shared_from_this();
    timer_.expires_after(d);
    timer_.async_wait([this, self](const boost::system::error_code& ec) {
      if (!ec) run_script();
    });
  }

  // Sends `copies` of doc as one write each (glued when glue is set), or in split pieces.
  void send_documents(std::shared_ptr<const std::string> doc, uint64_t copies, uint64_t events,
                      uint64_t raw) {
    std::string glued;
    std::shared_ptr<const std::string> payload = doc;
    if (copies > 1) {
      glued.reserve(doc->size() * copies);
      for (uint64_t i = 0; i < copies; ++i)
        glued += *doc;
      payload = std::make_shared<const std::string>(std::move(glued));
    }
    const uint64_t piece = srv_.split_bytes ? srv_.split_bytes : payload->size();
    for (size_t off = 0; off < payload->size(); off += piece) {
      Out o;
      o.owner = payload;
      size_t len = std::min<size_t>(piece, payload->size() - off);
      o.buffer = asio::buffer(payload->data() + off, len);
      if (off + len == payload->size()) {
        o.events = events;
        o.raw = raw;
      }
      push(std::move(o));
    }
  }

  // Returns false when the script must stop here (the connection goes away).
  bool fault(const Step& step) {
    auto& srv = srv_;
    if (step.fault == "split") {
      srv.split_bytes = step.bytes;
    } else if (step.fault == "glue") {
      srv.glue = step.count;
    } else if (step.fault == "close") {
      close_after_writes();
      return false;
    } else if (step.fault == "close_mid_document") {
      Step s;
      s.action = "start-domain";
      auto doc = std::make_shared<const std::string>(render_event(s));
      Out o;
      o.owner = doc;
      o.buffer = asio::buffer(doc->data(), doc->size() / 2);
      o.close_after = true;
      push(std::move(o));
      return false;
    } else if (step.fault == "malformed") {
      auto doc = std::make_shared<const std::string>(kMalformed);
      send_documents(doc, 1, 0, 0);
      srv.update([](Stats& s) { ++s.malformed_sent; });
    } else if (step.fault == "oversized") {
      uint64_t size = step.bytes ? step.bytes : 5u << 20;
      std::string big = "<LDM_event version='1.0'><cmd><action>start-domain</action><data><!--";
      big.append(size, 'x');
      big += "--></data></cmd></LDM_event>";
      Out o;
      o.owner = std::make_shared<const std::string>(std::move(big));
      o.buffer = asio::buffer(*o.owner);
      push(std::move(o));
      srv.update([](Stats& s) { ++s.oversized_sent; });
      // A client with a smaller limit drops the connection now; anything written after this
      // would be counted as sent but never read. The script resumes on the next connection.
      srv.script_owner = nullptr;
      return false;
    } else if (step.fault == "stream_error") {
      send(
          "<stream:error><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
          "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>fake ldmd going down</text>"
          "</stream:error></stream:stream>",
          true);
      return false;
    }
    return true;
  }

  void close_after_writes() {
    if (!writing_) return close();
    close_when_drained_ = true;
  }

  // --- writing ------------------------------------------------------------------------------
  void send(std::string text, bool close_after = false) {
    Out o;
    o.owner = std::make_shared<const std::string>(std::move(text));
    o.buffer = asio::buffer(*o.owner);
    o.close_after = close_after;
    if (close_after) closing_ = true;
    push(std::move(o));
  }

  template <typename F>
  void after_write(F f) {
    after_write_ = std::move(f);
  }

  void push(Out o) {
    queue_.push_back(std::move(o));
    if (!writing_) write_next();
  }

  void write_next() {
    if (closed_) return;
    if (queue_.empty()) {
      writing_ = false;
      if (close_when_drained_) return close();
      if (after_write_) {
        auto f = std::move(after_write_);
        after_write_ = nullptr;
        f();
      }
      if (script_waiting_) {
        script_waiting_ = false;
        auto self = shared_from_this();
        asio::post(srv_.io, [this, self] { run_script(); });
      }
      return;
    }
    writing_ = true;
    auto self = shared_from_this();
    auto handler = [this, self](const boost::system::error_code& ec, size_t) { on_write(ec); };
    if (tls_)
      asio::async_write(stream_, queue_.front().buffer, handler);
    else
      asio::async_write(stream_.next_layer(), queue_.front().buffer, handler);
  }

  void on_write(const boost::system::error_code& ec) {
    if (ec) return close();
    Out done = std::move(queue_.front());
    queue_.pop_front();
    if (done.events || done.raw)
      srv_.update([&](Stats& s) {
        s.events_sent += done.events;
        s.raw_sent += done.raw;
      });
    if (done.close_after) return close();
    write_next();
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    boost::system::error_code ignored;
    stream_.lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.lowest_layer().close(ignored);
    if (srv_.script_owner == this) srv_.script_owner = nullptr;
    srv_.update([](Stats& s) { ++s.disconnects; });
  }

  FakeLdmd::Impl& srv_;
  ssl::stream<tcp::socket> stream_;
  asio::steady_timer timer_;
  std::array<char, 16384> rbuf_{};
  xmpp::StreamReader reader_{1u << 20, 32};
  std::vector<xmpp::Item> items_;
  std::deque<Out> queue_;
  std::function<void()> after_write_;
  std::set<std::string> registered_;
  bool tls_ = false;
  bool awaiting_tls_ = false;
  bool authenticated_ = false;
  bool writing_ = false;
  bool script_waiting_ = false;
  bool closing_ = false;
  bool close_when_drained_ = false;
  bool closed_ = false;
};

void FakeLdmd::Impl::accept() {
  acceptor.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec) return;  // closed by stop()
    update([](Stats& s) { ++s.connections; });
    auto session = std::make_shared<Session>(*this, std::move(socket));
    std::erase_if(sessions, [](const std::weak_ptr<Session>& w) { return w.expired(); });
    sessions.push_back(session);
    session->start();
    accept();
  });
}

FakeLdmd::FakeLdmd(Options options) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.options = std::move(options);
  s.cert = s.options.certificate ? *s.options.certificate : tls::generate_self_signed();
  s.tls_ctx = tls::make_server_context(s.cert);
  s.rendered.resize(s.options.script.size());
  s.batches.resize(s.options.script.size());
  s.batch_docs.resize(s.options.script.size());
  tcp::endpoint ep(asio::ip::make_address(s.options.address), s.options.port);
  s.acceptor.open(ep.protocol());
  s.acceptor.set_option(tcp::acceptor::reuse_address(true));
  s.acceptor.bind(ep);
  s.acceptor.listen();
  s.port = s.acceptor.local_endpoint().port();
  s.accept();
  s.thread = std::thread([&s] { s.io.run(); });
}

FakeLdmd::~FakeLdmd() {
  stop();
}

void FakeLdmd::stop() {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.mutex);
    if (s.stopped) return;
    s.stopped = true;
  }
  asio::post(s.io, [&s] {
    boost::system::error_code ignored;
    s.acceptor.close(ignored);
    for (auto& w : s.sessions)
      if (auto session = w.lock()) session->shutdown();
    s.sessions.clear();
  });
  if (s.thread.joinable()) s.thread.join();
}

uint16_t FakeLdmd::port() const {
  return impl_->port;
}

const std::string& FakeLdmd::ca_pem() const {
  return impl_->cert.certificate;
}

Stats FakeLdmd::stats() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->stats;
}

bool FakeLdmd::wait(const std::function<bool(const Stats&)>& pred,
                    std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mutex);
  return impl_->changed.wait_for(lock, timeout, [&] { return pred(impl_->stats); });
}

}  // namespace sluice::fakes::ldmd
