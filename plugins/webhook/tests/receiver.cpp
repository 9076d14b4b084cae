#include "receiver.hpp"

#include "webhook_util.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <nlohmann/json.hpp>

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

namespace sluice::webhook::testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

namespace {

uint64_t count_events(const std::string& body) {
  if (body.empty()) return 0;
  if (body.front() == '[') {
    uint64_t n = 0;
    for (size_t pos = 0; (pos = body.find("{\"", pos)) != std::string::npos; ++pos)
      if (body.compare(pos, 16, "{\"specversion\":\"") == 0 ||
          body.compare(pos, 7, "{\"id\":\"") == 0)
        ++n;
    return n;
  }
  if (body.front() == '{' && body.find('\n') == std::string::npos) return 1;
  uint64_t lines = 0;
  for (char c : body)
    lines += c == '\n';
  return lines;
}

}  // namespace

struct Receiver::Impl {
  ReceiverOptions options;
  net::io_context ioc;
  net::executor_work_guard<net::io_context::executor_type> work{net::make_work_guard(ioc)};
  std::optional<ssl::context> tls;
  tcp::acceptor acceptor{ioc};
  uint16_t port = 0;
  std::thread thread;

  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  std::deque<Answer> script;
  std::optional<std::pair<Answer, std::chrono::steady_clock::time_point>> window;
  Answer fallback;
  std::map<std::string, Answer> by_subject;
  std::function<Answer(const Recorded&)> responder;
  std::vector<Recorded> recorded;
  uint64_t connections = 0;
  size_t concurrent = 0;
  size_t max_concurrent = 0;
  uint64_t events = 0;
  std::vector<std::function<void()>> closers;  // io thread only

  Answer next_answer(const Recorded& rec) {
    const std::string& body = rec.body;
    std::function<Answer(const Recorded&)> respond;
    {
      std::lock_guard lock(mutex);
      if (!script.empty()) {
        Answer a = std::move(script.front());
        script.pop_front();
        return a;
      }
      respond = responder;
    }
    if (respond) return respond(rec);  // without the lock: it may take its own
    std::lock_guard lock(mutex);
    if (!by_subject.empty() && !body.empty() && body.front() == '{') {
      const auto event = nlohmann::json::parse(body, nullptr, false);
      if (event.is_object() && event.contains("subject") && event["subject"].is_string())
        if (auto it = by_subject.find(event["subject"].get<std::string>()); it != by_subject.end())
          return it->second;
    }
    if (window && std::chrono::steady_clock::now() < window->second) return window->first;
    return fallback;
  }

  void listen() {
    tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port);
    acceptor.open(ep.protocol());
    acceptor.set_option(net::socket_base::reuse_address(true));
    acceptor.bind(ep);
    acceptor.listen();
    port = acceptor.local_endpoint().port();
    accept();
  }

  void accept();
  void close_all() {
    error_code ec;
    acceptor.close(ec);
    for (auto& c : closers)
      c();
    closers.clear();
  }
};

namespace {

template <typename Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(Receiver::Impl& r, Stream stream, uint64_t id)
      : r_(r), stream_(std::move(stream)), id_(id), timer_(r.ioc) {}

  void start() {
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](error_code ec) {
                                if (ec) return self->close();
                                self->read();
                              });
    } else {
      read();
    }
  }

  void close() {
    error_code ec;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(stream_).socket().close(ec);
    timer_.cancel();
  }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(64u << 20);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(error_code ec) {
    if (ec) return close();
    auto& req = parser_->get();
    Recorded rec;
    rec.method = std::string(req.method_string());
    rec.target = std::string(req.target());
    for (const auto& f : req) {
      std::string name(f.name_string());
      for (char& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      rec.headers[name] = std::string(f.value());
    }
    rec.raw_body = req.body();
    if (rec.header("content-encoding") == "gzip") {
      try {
        rec.body = gunzip(rec.raw_body);
      } catch (const std::exception& e) {
        rec.body = std::string("<gunzip failed: ") + e.what() + ">";
      }
    } else {
      rec.body = rec.raw_body;
    }
    rec.connection = id_;
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      X509* peer = SSL_get1_peer_certificate(stream_.native_handle());
      rec.client_certificate = peer != nullptr;
      if (peer) X509_free(peer);
    }
    answer_ = r_.next_answer(rec);
    rec.answered = answer_.kind == Answer::Kind::respond ? answer_.status : 0;
    answered_ = false;
    {
      std::lock_guard lock(r_.mutex);
      r_.events += count_events(rec.body);
      if (!r_.options.record_bodies) {
        rec.raw_body.clear();
        rec.body.clear();
      }
      r_.recorded.push_back(std::move(rec));
      ++r_.concurrent;
      r_.max_concurrent = std::max(r_.max_concurrent, r_.concurrent);
    }
    r_.changed.notify_all();
    keep_alive_ = req.keep_alive();
    switch (answer_.kind) {
      case Answer::Kind::hang:
        // Hold the connection until the client gives up or the receiver goes down.
        return wait_for_close();
      case Answer::Kind::close:
        done_answering();
        return close();
      case Answer::Kind::respond:
        if (answer_.delay.count() > 0) {
          timer_.expires_after(answer_.delay);
          timer_.async_wait([self = this->shared_from_this()](error_code e) {
            if (e) return self->close();
            self->respond();
          });
          return;
        }
        respond();
    }
  }

  void wait_for_close() {
    buffer_.consume(buffer_.size());
    stream_.async_read_some(net::buffer(sink_),
                            [self = this->shared_from_this()](error_code ec, size_t) {
                              if (ec) {
                                self->done_answering();
                                return self->close();
                              }
                              self->wait_for_close();
                            });
  }

  void respond() {
    res_.emplace(static_cast<http::status>(answer_.status), 11);
    res_->set(http::field::server, "sluice-test-receiver");
    res_->set(http::field::content_type, "text/plain");
    for (const auto& [k, v] : answer_.headers)
      res_->set(k, v);
    res_->body() = answer_.body;
    res_->keep_alive(keep_alive_);
    res_->prepare_payload();
    http::async_write(stream_, *res_, [self = this->shared_from_this()](error_code ec, size_t) {
      self->done_answering();
      if (ec || !self->keep_alive_) return self->close();
      self->read();
    });
  }

  void done_answering() {
    if (answered_) return;
    answered_ = true;
    {
      std::lock_guard lock(r_.mutex);
      --r_.concurrent;
    }
    r_.changed.notify_all();
  }

  Receiver::Impl& r_;
  Stream stream_;
  uint64_t id_;
  net::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> res_;
  Answer answer_;
  bool keep_alive_ = true;
  bool answered_ = true;
  char sink_[512];
};

}  // namespace

void Receiver::Impl::accept() {
  acceptor.async_accept([this](error_code ec, tcp::socket socket) {
    if (ec) return;  // closed (go_down / destructor)
    uint64_t id;
    {
      std::lock_guard lock(mutex);
      id = ++connections;
    }
    auto start = [&](auto session) {
      std::weak_ptr<std::remove_reference_t<decltype(*session)>> weak = session;
      closers.push_back([weak] {
        if (auto s = weak.lock()) s->close();
      });
      session->start();
    };
    if (tls) {
      auto s = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
          *this, beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), *tls),
          id);
      start(s);
    } else {
      auto s = std::make_shared<Session<beast::tcp_stream>>(
          *this, beast::tcp_stream(std::move(socket)), id);
      start(s);
    }
    accept();
  });
}

Receiver::Receiver(ReceiverOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  if (impl_->options.tls) {
    if (impl_->options.certificate.certificate.empty())
      impl_->options.certificate = tls::generate_self_signed();
    impl_->tls.emplace(tls::make_server_context(impl_->options.certificate));
    if (impl_->options.require_client_certificate) {
      impl_->tls->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
      impl_->tls->add_certificate_authority(net::buffer(impl_->options.client_ca_pem));
    }
  }
  impl_->listen();
  impl_->thread = std::thread([this] { impl_->ioc.run(); });
}

Receiver::~Receiver() {
  go_down();
  impl_->work.reset();
  impl_->ioc.stop();
  impl_->thread.join();
}

uint16_t Receiver::port() const {
  return impl_->port;
}

std::string Receiver::url(const std::string& path) const {
  return std::string(impl_->tls ? "https" : "http") +
         "://127.0.0.1:" + std::to_string(impl_->port) + path;
}

const tls::CertificatePem& Receiver::certificate() const {
  return impl_->options.certificate;
}

void Receiver::script(std::vector<Answer> answers) {
  std::lock_guard lock(impl_->mutex);
  for (auto& a : answers)
    impl_->script.push_back(std::move(a));
}

void Receiver::answer_for(Answer answer, std::chrono::milliseconds window) {
  std::lock_guard lock(impl_->mutex);
  impl_->window.emplace(std::move(answer), std::chrono::steady_clock::now() + window);
}

void Receiver::set_default(Answer answer) {
  std::lock_guard lock(impl_->mutex);
  impl_->fallback = std::move(answer);
}

void Receiver::answer_subject(std::string subject, Answer answer) {
  std::lock_guard lock(impl_->mutex);
  impl_->by_subject[std::move(subject)] = std::move(answer);
}

void Receiver::respond_with(std::function<Answer(const Recorded&)> respond) {
  std::lock_guard lock(impl_->mutex);
  impl_->responder = std::move(respond);
}

void Receiver::go_down() {
  std::promise<void> done;
  net::post(impl_->ioc, [&] {
    impl_->close_all();
    done.set_value();
  });
  done.get_future().wait();
}

void Receiver::come_up() {
  std::promise<void> done;
  net::post(impl_->ioc, [&] {
    impl_->acceptor = tcp::acceptor(impl_->ioc);
    impl_->listen();
    done.set_value();
  });
  done.get_future().wait();
}

std::vector<Recorded> Receiver::requests() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->recorded;
}

size_t Receiver::request_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->recorded.size();
}

bool Receiver::wait_for_requests(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mutex);
  return impl_->changed.wait_for(lock, timeout, [&] { return impl_->recorded.size() >= n; });
}

uint64_t Receiver::connections_accepted() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->connections;
}

size_t Receiver::max_concurrent() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->max_concurrent;
}

uint64_t Receiver::events_received() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->events;
}

}  // namespace sluice::webhook::testing
