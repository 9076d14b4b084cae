// Webhook sink: POSTs batches to an http:// or https:// URL over a keep-alive connection pool.
// Every connection runs on the sink's strand of the plugin's shared io pool (sluice/net);
// deliver_async() serialises on the caller's thread and hands the requests over. See README.md for
// the options.
#include "bulk.hpp"
#include "webhook_util.hpp"

#include <sluice/event_template.hpp>
#include <sluice/format.hpp>
#include <sluice/http_read.hpp>
#include <sluice/net/io_pool.hpp>
#include <sluice/net/stream.hpp>
#include <sluice/option_problem.hpp>
#include <sluice/sdk.hpp>
#include <sluice/tls.hpp>
#include <sluice/units.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <atomic>
#include <chrono>
#include <ctime>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace sluice::webhook {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using std::chrono::milliseconds;
using Executor = sluice::net::Strand::Executor;

enum class BodyMode {
  cloudevents,
  cloudevents_batch,
  json_array,
  json_lines,
  splunk_hec,
  elasticsearch_bulk
};

Action parse_action(const std::string& s) {
  if (s == "ok") return Action::ok;
  if (s == "retry") return Action::retry;
  if (s == "reject") return Action::reject;
  throw std::invalid_argument("status_map: unknown answer '" + s + "' (ok, retry, reject)");
}

BodyMode parse_body(const std::string& s) {
  if (s == "cloudevents") return BodyMode::cloudevents;
  if (s == "cloudevents-batch") return BodyMode::cloudevents_batch;
  if (s == "json-array") return BodyMode::json_array;
  if (s == "json-lines") return BodyMode::json_lines;
  if (s == "splunk-hec") return BodyMode::splunk_hec;
  if (s == "elasticsearch-bulk") return BodyMode::elasticsearch_bulk;
  throw std::invalid_argument("body: unknown mode '" + s +
                              "' (cloudevents, cloudevents-batch, json-array, json-lines, "
                              "splunk-hec, elasticsearch-bulk)");
}

struct Config {
  Url url;
  BodyMode body = BodyMode::cloudevents_batch;
  bool gzip = false;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string authorization;  // the whole header value, or empty
  std::string idempotency_header = "Idempotency-Key";
  std::string signing_secret;
  uint32_t max_in_flight = 4;
  milliseconds connect_timeout{5000};
  milliseconds write_timeout{10000};
  milliseconds read_timeout{30000};
  uint64_t max_response_bytes = 1u << 20;
  tls::ClientOptions tls;
  std::map<int, Action> status_map;
  std::string user_agent = "sluice-webhook/1.0";
  HecFields hec;                                    // body: splunk-hec
  std::string es_index = "sluice-{type}-%Y.%m.%d";  // body: elasticsearch-bulk
  std::string es_id = "{id}";

  // splunk-hec and elasticsearch-bulk: one request per batch whose response answers each event.
  bool per_event_response() const {
    return body == BodyMode::splunk_hec || body == BodyMode::elasticsearch_bulk;
  }

  // Throws std::invalid_argument with the first problem read() finds.
  static Config from_json(const nlohmann::json& o) {
    OptionProblems problems;
    Config c = read(o, problems);
    throw_first(problems);
    return c;
  }

  // The options as the sink uses them. One code path for create and check_options: every bad
  // value is a problem at its option (the TLS files are options() below).
  static Config read(const nlohmann::json& o, OptionProblems& problems) {
    Config c;
    auto fail = [&](const std::string& pointer, const std::string& message) {
      problems.push_back({pointer, message});
    };
    try {  // parse_url names the URL itself
      if (!o.contains("url") || !o["url"].is_string())
        throw std::invalid_argument("url: an http:// or https:// URL is required");
      c.url = parse_url(o["url"].get<std::string>());
    } catch (const std::exception& e) {
      fail("/url", e.what());
    }
    try {
      c.body = parse_body(o.value("body", std::string("cloudevents-batch")));
    } catch (const std::exception& e) {
      fail("/body", e.what());
    }
    c.gzip = o.value("gzip", false);
    if (auto h = o.find("headers"); h != o.end())
      for (auto it = h->begin(); it != h->end(); ++it) {
        const std::string at = "/headers/" + pointer_token(it.key());
        if (!is_header_name(it.key()))
          fail(at, "headers: '" + it.key() + "' is not a header name");
        else if (auto why = header_value_problem(it.value().get<std::string>()))
          fail(at, "headers: " + it.key() + ": " + *why);
        else
          c.headers.emplace_back(it.key(), it.value().get<std::string>());
      }
    if (auto a = o.find("auth"); a != o.end()) {
      if (a->contains("bearer")) {
        c.authorization = "Bearer " + a->at("bearer").get<std::string>();
      } else if (a->contains("username")) {
        c.authorization = "Basic " + base64(a->at("username").get<std::string>() + ":" +
                                            a->value("password", std::string()));
      }
    }
    c.idempotency_header = o.value("idempotency_header", c.idempotency_header);
    c.signing_secret = o.value("signing_secret", std::string());
    c.max_in_flight = o.value("max_in_flight", c.max_in_flight);
    if (c.max_in_flight == 0) {
      fail("/max_in_flight", "max_in_flight must be at least 1");
      c.max_in_flight = 1;
    }
    auto duration = [&](const char* key, milliseconds& out) {
      if (o.contains(key))
        out = read_option(
            problems, std::string("/") + key, [&] { return duration_option(o[key]); }, out);
    };
    duration("connect_timeout", c.connect_timeout);
    duration("write_timeout", c.write_timeout);
    duration("read_timeout", c.read_timeout);
    if (o.contains("max_response_bytes"))
      c.max_response_bytes = read_option(
          problems, "/max_response_bytes", [&] { return size_option(o["max_response_bytes"]); },
          c.max_response_bytes);
    if (o.contains("tls")) c.tls = tls::ClientOptions::from_json(o["tls"]);
    if (auto m = o.find("status_map"); m != o.end())
      for (auto it = m->begin(); it != m->end(); ++it) {
        int code = 0;
        try {
          code = std::stoi(it.key());
        } catch (...) {
        }
        const std::string at = "/status_map/" + pointer_token(it.key());
        if (code < 100 || code > 599) {
          fail(at, "status_map: '" + it.key() + "' is not an HTTP status");
          continue;
        }
        try {
          c.status_map[code] = parse_action(it.value().get<std::string>());
        } catch (const std::exception& e) {
          fail(at, e.what());
        }
      }
    c.user_agent = o.value("user_agent", c.user_agent);
    if (auto sp = o.find("splunk"); sp != o.end()) {
      if (c.body != BodyMode::splunk_hec) fail("/splunk", "splunk: only with body: splunk-hec");
      c.hec.host = sp->value("host", c.hec.host);
      c.hec.source = sp->value("source", c.hec.source);
      c.hec.sourcetype = sp->value("sourcetype", c.hec.sourcetype);
      c.hec.index = sp->value("index", c.hec.index);
      if (sp->contains("token")) {
        if (!c.authorization.empty())
          fail("/splunk/token",
               "splunk.token: auth sets the Authorization header already; use one");
        else if (auto why = header_value_problem(sp->at("token").get<std::string>()))
          fail("/splunk/token", "splunk.token: the token holds a " + *why);
        else
          c.authorization = "Splunk " + sp->at("token").get<std::string>();
      }
    }
    if (auto es = o.find("elasticsearch"); es != o.end()) {
      if (c.body != BodyMode::elasticsearch_bulk)
        fail("/elasticsearch", "elasticsearch: only with body: elasticsearch-bulk");
      c.es_index = es->value("index", c.es_index);
      c.es_id = es->value("id", c.es_id);
      if (auto why = index_template_problem(c.es_index))
        fail("/elasticsearch/index", "elasticsearch.index: '" + c.es_index + "': " + *why);
      if (c.es_id.empty()) fail("/elasticsearch/id", "elasticsearch.id: the _id cannot be empty");
    }
    // What the configuration puts into headers must not end them either (a token file with a
    // stray line break, say); the secrets themselves stay out of the message.
    if (auto why = header_value_problem(c.authorization))
      fail("/auth", "auth: the credentials hold a " + *why);
    if (auto why = header_value_problem(c.user_agent)) fail("/user_agent", "user_agent: " + *why);
    if (!c.idempotency_header.empty() && !is_header_name(c.idempotency_header))
      fail("/idempotency_header",
           "idempotency_header: '" + c.idempotency_header + "' is not a header name");
    return c;
  }

  // What create refuses from the options alone, in the order it refuses them: the values, then
  // (https only) the TLS files and what OpenSSL makes of them.
  static OptionProblems problems(const nlohmann::json& o) {
    OptionProblems problems;
    Config c = read(o, problems);
    if (!problems.empty() || !c.url.tls) return problems;
    return tls::check_client_context(c.tls, "/tls");
  }
};

// One HTTP request and who waits for its outcome.
struct Job {
  std::string refused;  // why this request must not be sent (answered reject, never sent)
  http::request<http::string_body> request;
  std::string idempotency_key;  // of the events in the request, also when no header carries it
  // splunk-hec, elasticsearch-bulk: turns what the status means and the body into the answer of
  // each event of the request.
  std::function<Outcome(const Outcome& whole, std::string_view body)> read_answer;
  std::function<void(const Outcome&)> done;
};

class Pool;

// One keep-alive connection: resolve, connect, TLS handshake, then request after request, on
// the sink's strand. Every step ends within its timeout: the deadline closes the stream and
// fails the step at once (a resolve already running in getaddrinfo cannot be ended; its late
// answer is ignored).
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Pool& pool, const Executor& ex, ssl::context* tls)
      : pool_(pool), ex_(ex), tls_ctx_(tls), deadline_(ex) {}

  void run(std::shared_ptr<Job> job);
  void close() {
    ++step_;  // a late completion of what was running changes nothing
    if (stream_) stream_->close();
    deadline_.cancel();
    connected_ = false;
  }
  // After an internal error on the strand: the request in flight ends in retry.
  void abort(const std::string& reason) {
    close();
    finish(Outcome{Action::retry, 0, 0, reason, {}}, false);
  }

 private:
  // Starts a step: `what` names it in a timeout's reason. Returns the step's number, which its
  // completion compares with step_ (not equal: the deadline or close() ended it already).
  uint64_t arm(const char* what, milliseconds timeout) {
    const uint64_t step = ++step_;
    deadline_.expires_after(timeout);
    deadline_.async_wait([self = shared_from_this(), step, what](error_code ec) {
      if (ec || step != self->step_) return;
      const char* name = what;
      if (std::string_view(what) == "connect" && self->stream_ && self->stream_->resolving())
        name = "resolve";
      self->close();
      self->fail(name, beast::error::timeout);
    });
    return step;
  }
  bool current(uint64_t step) {
    if (step != step_) return false;
    deadline_.cancel();
    return true;
  }

  void start_connect();
  void on_connect(error_code ec, const std::string& what);
  void on_handshake(error_code ec, const std::string& what);
  void start_write();
  void on_write(error_code ec, size_t);
  void on_read(error_code ec, size_t);
  void fail(const std::string& what, error_code ec);
  void finish(const Outcome& outcome, bool keep_alive);
  Outcome map_response();

  Pool& pool_;
  Executor ex_;
  ssl::context* tls_ctx_;
  net::steady_timer deadline_;  // of the step running
  uint64_t step_ = 0;           // the step being waited for (deadline or answer, not both)
  std::unique_ptr<sluice::net::Stream> stream_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> parser_;
  std::shared_ptr<Job> job_;
  bool connected_ = false;
  bool reused_ = false;
  std::chrono::steady_clock::time_point began_;  // of the request running (for the debug line)
};

// The connections of one sink: at most max_in_flight open, idle ones kept for reuse, requests
// beyond the limit wait in order. Runs on the sink's strand only.
class Pool {
 public:
  Pool(const Config& config, Host host, const Executor& ex, ssl::context* tls)
      : config_(config), host_(host), ex_(ex), tls_(tls) {}

  void submit(std::shared_ptr<Job> job) {
    if (stopping_) {
      job->done(Outcome{Action::retry, 0, 0, "sink stopping", {}});
      return;
    }
    waiting_.push_back(std::move(job));
    pump();
  }

  void release(const std::shared_ptr<Connection>& c, bool keep_alive) {
    busy_.erase(c);
    if (keep_alive && !stopping_)
      idle_.push_back(c);
    else
      --open_;
    pump();
    if (stopping_ && busy_.empty() && stopped_) std::exchange(stopped_, nullptr)();
  }

  // Closes every connection; `done` once every request in flight is answered.
  void stop(std::function<void()> done) {
    stopping_ = true;
    stopped_ = std::move(done);
    for (auto& c : idle_)
      c->close();
    open_ -= idle_.size();
    idle_.clear();
    // A request in flight is answered retry now (its late completion changes nothing); the
    // core then spools or re-queues it instead of waiting for an answer that cannot come.
    auto busy = busy_;
    for (const auto& c : busy)
      c->abort("sink stopping");
    for (auto& w : all_)
      if (auto c = w.lock()) c->close();
    auto waiting = std::move(waiting_);
    for (auto& job : waiting)
      job->done(Outcome{Action::retry, 0, 0, "sink stopping", {}});
    if (busy_.empty() && stopped_) std::exchange(stopped_, nullptr)();
  }

  // An exception escaped a handler (a bug): whatever it left half done, every request in flight
  // ends in retry on a fresh connection and the sink goes on.
  void abort_all(const std::string& reason) {
    for (auto& c : idle_)
      c->close();
    open_ -= idle_.size();
    idle_.clear();
    auto busy = busy_;
    for (const auto& c : busy)
      c->abort(reason);
  }

  const Config& config() const { return config_; }
  bool stopping() const { return stopping_; }
  // Debug: one line per request, "POST https://host:port/path: 503 in 12 ms: retry ...". The URL
  // without its query (which may carry a token); the host hides secret option values anyway.
  void request_done(const Outcome& o, std::chrono::steady_clock::time_point began, bool reused) {
    const auto& u = config_.url;
    const std::string path = u.target.substr(0, u.target.find('?'));
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - began)
                        .count();
    std::string line = std::string("POST ") + (u.tls ? "https://" : "http://") + u.host_header +
                       path + (path.size() < u.target.size() ? "?..." : "") + ": " +
                       (o.status ? std::to_string(o.status) : std::string("no answer")) + " in " +
                       std::to_string(ms) + " ms" + (reused ? " (kept-alive connection)" : "") +
                       ": " +
                       (o.action == Action::ok      ? "ok"
                        : o.action == Action::retry ? "retry"
                                                    : "reject");
    if (o.action == Action::retry && o.retry_after_ms)
      line += " after " + std::to_string(o.retry_after_ms) + " ms (Retry-After)";
    if (!o.reason.empty()) line += " (" + o.reason + ")";
    if (!o.events.empty()) {
      size_t retry = 0, reject = 0;
      for (const auto& e : o.events) {
        retry += e.action == Action::retry;
        reject += e.action == Action::reject;
      }
      line += "; per event: " + std::to_string(o.events.size() - retry - reject) + " ok, " +
              std::to_string(retry) + " retry, " + std::to_string(reject) + " reject";
    }
    host_.debug(line);
  }
  void opened() { host_.metric("webhook.connections_opened"); }
  void too_large() {
    host_.metric("webhook.responses_too_large");
    host_.warn("webhook: a response from " + config_.url.host_header +
               " has a body over max_response_bytes (" +
               std::to_string(config_.max_response_bytes) +
               "); its status counts, the body is "
               "not read and the connection is closed");
  }

 private:
  void pump() {
    while (!waiting_.empty()) {
      std::shared_ptr<Connection> c;
      if (!idle_.empty()) {
        c = std::move(idle_.back());
        idle_.pop_back();
      } else if (open_ < config_.max_in_flight) {
        c = std::make_shared<Connection>(*this, ex_, tls_);
        ++open_;
        all_.erase(std::remove_if(all_.begin(), all_.end(), [](auto& w) { return w.expired(); }),
                   all_.end());
        all_.push_back(c);
      } else {
        return;
      }
      busy_.insert(c);
      auto job = std::move(waiting_.front());
      waiting_.pop_front();
      c->run(std::move(job));
    }
  }

  const Config& config_;
  Host host_;
  Executor ex_;
  ssl::context* tls_;
  std::function<void()> stopped_;
  std::deque<std::shared_ptr<Job>> waiting_;
  std::vector<std::shared_ptr<Connection>> idle_;
  std::vector<std::weak_ptr<Connection>> all_;
  size_t open_ = 0;
  std::set<std::shared_ptr<Connection>> busy_;  // with a request; kept alive here
  bool stopping_ = false;
};

void Connection::run(std::shared_ptr<Job> job) {
  job_ = std::move(job);
  began_ = std::chrono::steady_clock::now();
  reused_ = connected_;
  if (connected_)
    start_write();
  else
    start_connect();
}

void Connection::start_connect() {
  const Config& c = pool_.config();
  stream_ = std::make_unique<sluice::net::Stream>(ex_, tls_ctx_);
  const uint64_t step = arm("connect", c.connect_timeout);
  stream_->async_connect(c.url.host, static_cast<uint16_t>(std::stoi(c.url.port)),
                         [self = shared_from_this(), step](error_code ec, std::string what) {
                           if (!self->current(step)) return;
                           self->on_connect(ec, what);
                         });
}

void Connection::on_connect(error_code ec, const std::string& what) {
  if (ec) return fail(what.rfind("cannot resolve", 0) == 0 ? "resolve" : "connect", ec);
  pool_.opened();
  if (!tls_ctx_) {
    connected_ = true;
    return start_write();
  }
  const uint64_t step = arm("TLS handshake", pool_.config().connect_timeout);
  stream_->async_handshake(pool_.config().url.host, pool_.config().tls.verify,
                           [self = shared_from_this(), step](error_code e, std::string what) {
                             if (!self->current(step)) return;
                             self->on_handshake(e, what);
                           });
}

void Connection::on_handshake(error_code ec, const std::string& what) {
  // A name that cannot be checked (tls::prepare_client) says so in its own words.
  if (ec == net::error::invalid_argument) {
    close();
    return finish(Outcome{Action::retry, 0, 0, what, {}}, false);
  }
  if (ec) return fail("TLS handshake", ec);
  connected_ = true;
  start_write();
}

void Connection::start_write() {
  parser_.reset();
  const uint64_t step = arm("write", pool_.config().write_timeout);
  http::async_write(*stream_, job_->request,
                    [self = shared_from_this(), step](error_code e, size_t n) {
                      if (!self->current(step)) return;
                      self->on_write(e, n);
                    });
}

void Connection::on_write(error_code ec, size_t) {
  if (ec) return fail("write", ec);
  parser_.emplace();
  buffer_.clear();
  const uint64_t step = arm("read", pool_.config().read_timeout);
  sluice::http::async_read_response(*stream_, buffer_, *parser_,
                                    sluice::http::ResponseLimits{pool_.config().max_response_bytes},
                                    [self = shared_from_this(), step](error_code e, size_t n) {
                                      if (!self->current(step)) return;
                                      self->on_read(e, n);
                                    });
}

void Connection::on_read(error_code ec, size_t) {
  if (ec == http::error::body_limit && parser_->is_header_done()) {
    // The status line is the receiver's answer; its body is only the text of a reason and not
    // worth max_response_bytes. The rest of it is still coming: the connection goes.
    pool_.too_large();
    Outcome outcome = map_response();
    const std::string note = "(response body over max_response_bytes " +
                             std::to_string(pool_.config().max_response_bytes) + ", not read)";
    // elasticsearch-bulk: a 2xx whose items were not read answers no document: retry.
    if (job_ && job_->read_answer) outcome = job_->read_answer(outcome, {});
    outcome.reason += outcome.reason.empty() ? note : " " + note;
    return finish(outcome, false);
  }
  if (ec) return fail("read", ec);
  const bool keep = parser_->get().keep_alive();
  Outcome outcome = map_response();
  if (job_ && job_->read_answer) outcome = job_->read_answer(outcome, parser_->get().body());
  finish(outcome, keep);
}

Outcome Connection::map_response() {
  const auto& res = parser_->get();
  std::optional<std::string_view> retry_after;
  if (auto it = res.find(http::field::retry_after); it != res.end())
    retry_after = std::string_view(it->value().data(), it->value().size());
  return classify_response(static_cast<int>(res.result_int()),
                           std::string_view(res.reason().data(), res.reason().size()), res.body(),
                           retry_after, pool_.config().status_map,
                           std::chrono::system_clock::now());
}

void Connection::fail(const std::string& what, error_code ec) {
  // A kept-alive connection the server closed while idle fails on first use: try once anew.
  if (reused_ && (what == "write" || what == "read") &&
      (ec == http::error::end_of_stream || ec == net::error::eof ||
       ec == net::error::connection_reset || ec == net::error::broken_pipe) &&
      (!parser_ || !parser_->got_some()) && !pool_.stopping()) {
    reused_ = false;
    connected_ = false;
    return start_connect();
  }
  std::string reason = what + " " + pool_.config().url.host_header + ": ";
  if (ec == beast::error::timeout)
    reason += "timed out";
  else
    reason += ec.message();
  finish(Outcome{Action::retry, 0, 0, reason, {}}, false);
}

void Connection::finish(const Outcome& outcome, bool keep_alive) {
  if (!job_) return;  // abort() answered it already; a late completion changes nothing
  auto job = std::move(job_);
  pool_.request_done(outcome, began_, reused_);
  if (!keep_alive) close();
  pool_.release(shared_from_this(), keep_alive);
  if (job) job->done(outcome);
}

Delivery to_delivery(const Outcome& o) {
  switch (o.action) {
    case Action::ok:
      return Delivery::ok();
    case Action::retry:
      return Delivery::retry(o.reason, o.retry_after_ms, o.status);
    case Action::reject:
      break;
  }
  return Delivery::reject(o.reason, o.status);
}

// Joins the outcomes of the requests one batch became. The batch modes send one request, whose
// one status answers all its events: a whole-batch answer. `cloudevents` sends one request per
// event, each status answering its own event: a per-event answer (plugin API 1.1), so the host
// retries only the events that need it and dead-letters only the refused ones.
struct BatchState {
  Completion done;
  bool per_event;
  std::vector<Outcome> outcomes;  // by request, in batch order
  size_t remaining;
  BatchState(Completion d, size_t requests, bool each)
      : done(std::move(d)), per_event(each), outcomes(requests), remaining(requests) {}

  // Outcomes arrive on the io thread only: no lock.
  void add(size_t request, const Outcome& o) {
    outcomes[request] = o;
    if (--remaining > 0) return;
    if (!per_event) return done(to_delivery(outcomes[0]));
    std::vector<Delivery> answers;
    answers.reserve(outcomes.size());
    for (const auto& x : outcomes)
      answers.push_back(to_delivery(x));
    done(Delivery::per_event(std::move(answers)));
  }
};

class WebhookSink : public Sink {
 public:
  static OptionProblems check_options(const nlohmann::json& options) {
    return Config::problems(options);
  }

  WebhookSink(Host host, const nlohmann::json& options)
      : Sink(host),
        config_(Config::from_json(options)),
        strand_(sluice::net::IoPool::shared(), [this](const std::string& what) { recover(what); }) {
    if (config_.url.tls) {
      tls_ctx_.emplace(tls::make_client_context(config_.tls));
      if (!config_.tls.verify)
        host.warn("webhook: TLS verification is off for " + config_.url.host_header);
    }
    pool_ =
        std::make_unique<Pool>(config_, host, strand_.executor(), tls_ctx_ ? &*tls_ctx_ : nullptr);
  }

  ~WebhookSink() override { stop(); }

  void start() override {
    if (started_) return;
    started_ = true;
    host().state(State::connecting, "posting to " + config_.url.host_header);
  }

  // Every connection is closed, so every request in flight ends at once (answered retry); the
  // wait is bounded all the same, then nothing of the sink runs on the shared io pool again.
  void stop() override {
    if (!started_) return;
    started_ = false;
    auto stopped = std::make_shared<std::promise<void>>();
    auto future = stopped->get_future();
    strand_.post([this, stopped] { pool_->stop([stopped] { stopped->set_value(); }); });
    future.wait_for(std::chrono::seconds(5));
    strand_.close();
  }

  uint32_t max_in_flight() const override { return config_.max_in_flight; }

  // An exception out of a handler on the strand must not end in std::terminate. It is logged,
  // reported, and the requests in flight are answered with retry.
  void recover(const std::string& what) {
    const std::string reason = "webhook: internal error: " + what;
    host().error(reason + "; requests in flight will be retried");
    host().metric("webhook.internal_errors");
    state_.store(2);
    host().state(State::degraded, reason);
    try {
      pool_->abort_all(reason);
    } catch (const std::exception& e) {
      host().error("webhook: internal error while recovering: " + std::string(e.what()));
    }
  }

  void deliver_async(const Batch& batch, Completion done) override {
    if (batch.empty()) return done(Delivery::ok());
    if (config_.per_event_response()) return deliver_per_event_response(batch, std::move(done));
    // body: cloudevents: one request (and one answer) per event; else one for the batch.
    const bool each = config_.body == BodyMode::cloudevents;
    std::vector<std::shared_ptr<Job>> jobs;
    if (each) {
      for (size_t i = 0; i < batch.size(); ++i)
        jobs.push_back(make_job(batch.events() + i, 1, idempotency_key(batch.events() + i, 1)));
    } else {
      jobs.push_back(
          make_job(batch.events(), batch.size(), idempotency_key(batch.events(), batch.size())));
    }
    auto state = std::make_shared<BatchState>(std::move(done), jobs.size(), each);
    for (size_t i = 0; i < jobs.size(); ++i)
      jobs[i]->done = [this, state, i](const Outcome& o) {
        account(o);
        state->add(i, o);
      };
    submit(std::move(jobs));
  }

 private:
  void submit(std::vector<std::shared_ptr<Job>> jobs) {
    strand_.post([this, jobs = std::move(jobs)]() mutable {
      for (auto& job : jobs) {
        if (!job->refused.empty())
          job->done(Outcome{Action::reject, 0, 0, job->refused, {}});
        else
          pool_->submit(std::move(job));
      }
    });
  }

  // splunk-hec and elasticsearch-bulk: one request for the batch, less the events refused before
  // sending (an index name or _id Elasticsearch would refuse), and one answer per event: those
  // refused here, the others from the response's answer for each (or its whole answer).
  void deliver_per_event_response(const Batch& batch, Completion done) {
    const size_t n = batch.size();
    std::vector<std::optional<Outcome>> refused(n);
    std::vector<size_t> sent;  // batch positions of the request's events, in order
    std::vector<sluice_event> sent_events;
    std::vector<std::string> ids;
    std::string body;
    const bool es = config_.body == BodyMode::elasticsearch_bulk;
    for (size_t i = 0; i < n; ++i) {
      const sluice_event& ev = batch.events()[i];
      if (es) {
        IndexName index = expand_index(config_.es_index, ev);
        std::string id = expand_template(config_.es_id, ev);
        std::string why = index.problem;
        if (why.empty() && id.empty()) why = "_id is empty";
        if (why.empty() && id.size() > kMaxDocumentId)
          why = "_id is over " + std::to_string(kMaxDocumentId) + " bytes";
        if (!why.empty()) {
          refused[i] =
              Outcome{Action::reject, 0, 0, "elasticsearch-bulk: " + why + "; not sent", {}};
          host().metric("webhook.events_refused");
          continue;
        }
        append_bulk_create(body, index.name, id, ev);
        ids.push_back(std::move(id));
      } else {
        append_hec_event(body, ev, config_.hec);
        body.push_back('\n');
      }
      sent.push_back(i);
      sent_events.push_back(ev);
    }
    auto answer = [this, n, refused = std::move(refused), sent,
                   done = std::move(done)](const Outcome& o) {
      if (!sent.empty()) account(o);  // else no request was sent: nothing was answered
      const bool any_refused = sent.size() < n;
      if (!any_refused && o.events.empty()) return done(to_delivery(o));
      std::vector<Delivery> answers(n);
      for (size_t i = 0; i < n; ++i)
        if (refused[i]) answers[i] = to_delivery(*refused[i]);
      for (size_t j = 0; j < sent.size(); ++j)
        answers[sent[j]] = to_delivery(j < o.events.size() ? o.events[j] : o);
      done(Delivery::per_event(std::move(answers)));
    };
    if (sent.empty()) return answer(Outcome{});
    auto job = make_job(sent_events.data(), sent_events.size(),
                        idempotency_key(sent_events.data(), sent_events.size()), std::move(body));
    const size_t count = sent.size();
    if (es)
      job->read_answer = [ids = std::move(ids), this](const Outcome& whole, std::string_view text) {
        return read_bulk_answer(whole, text, ids, config_.status_map);
      };
    else
      job->read_answer = [count, this](const Outcome& whole, std::string_view text) {
        return read_hec_answer(whole, text, count, config_.status_map);
      };
    job->done = std::move(answer);
    std::vector<std::shared_ptr<Job>> jobs{std::move(job)};
    submit(std::move(jobs));
  }

  // `prebuilt`: the body of splunk-hec and elasticsearch-bulk, built by the caller.
  std::shared_ptr<Job> make_job(const sluice_event* events, size_t count, std::string key,
                                std::string prebuilt = {}) {
    auto job = std::make_shared<Job>();
    job->idempotency_key = std::move(key);
    // Templates expand peer-controlled text ({type}, {subject}, ...): a CR or LF there would
    // inject headers or a whole second request. Such an event is refused, never sent.
    std::vector<std::pair<const std::string*, std::string>> extra;
    for (const auto& [name, value] : config_.headers) {
      extra.emplace_back(&name, expand_template(value, events[0]));
      if (auto why = header_value_problem(extra.back().second)) {
        job->refused =
            "header " + name + " would carry a " + *why + " after expanding its template; not sent";
        host().metric("webhook.headers_refused");
        return job;
      }
    }
    auto& req = job->request;
    req.method(http::verb::post);
    req.target(config_.url.target);
    req.version(11);
    req.set(http::field::host, config_.url.host_header);
    req.set(http::field::user_agent, config_.user_agent);
    std::string body;
    switch (config_.body) {
      case BodyMode::cloudevents:
        append_cloudevent(body, events[0]);
        req.set(http::field::content_type, "application/cloudevents+json; charset=utf-8");
        break;
      case BodyMode::cloudevents_batch:
        append_cloudevents_batch(body, events, count);
        req.set(http::field::content_type, "application/cloudevents-batch+json; charset=utf-8");
        break;
      case BodyMode::json_array:
        body.push_back('[');
        for (size_t i = 0; i < count; ++i) {
          if (i) body.push_back(',');
          append_json(body, events[i]);
        }
        body.push_back(']');
        req.set(http::field::content_type, "application/json");
        break;
      case BodyMode::json_lines:
        for (size_t i = 0; i < count; ++i) {
          append_json(body, events[i]);
          body.push_back('\n');
        }
        req.set(http::field::content_type, "application/x-ndjson");
        break;
      case BodyMode::splunk_hec:
        body = std::move(prebuilt);
        req.set(http::field::content_type, "application/json");
        break;
      case BodyMode::elasticsearch_bulk:
        body = std::move(prebuilt);
        req.set(http::field::content_type, "application/x-ndjson");
        break;
    }
    if (config_.gzip) {
      body = gzip(body);
      req.set(http::field::content_encoding, "gzip");
    }
    if (!config_.authorization.empty()) req.set(http::field::authorization, config_.authorization);
    if (!config_.idempotency_header.empty())
      req.set(config_.idempotency_header, job->idempotency_key);
    if (!config_.signing_secret.empty()) {
      const std::string ts = std::to_string(std::time(nullptr));
      req.set("X-Sluice-Timestamp", ts);
      req.set("X-Sluice-Signature", "v1=" + sign_v1(config_.signing_secret, ts, body));
    }
    for (auto& [name, value] : extra)
      req.set(*name, std::move(value));
    req.keep_alive(true);
    req.body() = std::move(body);
    req.prepare_payload();
    host().metric("webhook.requests");
    host().metric("webhook.bytes_sent", static_cast<int64_t>(req.body().size()));
    return job;
  }

  void account(const Outcome& o) {
    switch (o.action) {
      case Action::ok:
        host().metric("webhook.responses_ok");
        if (state_.exchange(1) != 1) host().state(State::up);
        break;
      case Action::retry:
        host().metric("webhook.responses_retry");
        if (state_.exchange(2) != 2) host().state(State::degraded, o.reason);
        break;
      case Action::reject:
        host().metric("webhook.responses_reject");
        break;
    }
    for (const auto& e : o.events)  // a response that answers each event
      if (e.action != Action::ok)
        host().metric(e.action == Action::retry ? "webhook.events_retry" : "webhook.events_reject");
  }

  Config config_;
  // The sink's serial executor on the plugin's shared io pool (sluice/net/io_pool.hpp).
  sluice::net::Strand strand_;
  std::optional<ssl::context> tls_ctx_;
  std::unique_ptr<Pool> pool_;
  bool started_ = false;
  std::atomic<int> state_{0};
};

const char* options_schema() {
  static const std::string schema = [] {
    nlohmann::json s = nlohmann::json::parse(R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["url"],
  "properties": {
    "url": {"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://", "x-sluice-cleartext": {"pattern": "^[Hh][Tt][Tt][Pp]://"}, "description": "http:// or https:// URL to POST to"},
    "body": {"type": "string", "enum": ["cloudevents", "cloudevents-batch", "json-array", "json-lines", "splunk-hec", "elasticsearch-bulk"], "default": "cloudevents-batch", "description": "request body: one structured CloudEvent per request, a CloudEvents batch, a JSON array or JSON lines of sluice's JSON form, Splunk HEC events (/services/collector/event), an Elasticsearch _bulk request; the last two answer each event from the response"},
    "splunk": {"type": "object", "additionalProperties": false, "description": "body: splunk-hec: the token and each event's metadata; templates {type} {source} {subject} {id} {attr:NAME}, a field that expands to nothing is left out", "properties": {
      "token": {"type": "string", "writeOnly": true, "description": "HEC token: Authorization: Splunk <token>"},
      "host": {"type": "string", "default": "{subject}", "description": "host of each event"},
      "source": {"type": "string", "default": "{source}", "description": "source of each event"},
      "sourcetype": {"type": "string", "default": "sluice:{type}", "description": "sourcetype of each event"},
      "index": {"type": "string", "description": "index of each event; none: the token's default index"}}},
    "elasticsearch": {"type": "object", "additionalProperties": false, "description": "body: elasticsearch-bulk: where each event is created", "properties": {
      "index": {"type": "string", "default": "sluice-{type}-%Y.%m.%d", "description": "index template: {type} {source} {subject} {id} {attr:NAME} (lower-cased, other characters than a-z 0-9 . _ - + as _) and %Y %m %d %H of the event time (UTC)"},
      "id": {"type": "string", "default": "{id}", "description": "document _id template; a create of an existing _id (409) counts as delivered"}}},
    "gzip": {"type": "boolean", "default": false, "description": "compress bodies (Content-Encoding: gzip)"},
    "headers": {"type": "object", "additionalProperties": {"type": "string"}, "description": "extra headers; {type} {source} {subject} {id} {attr:NAME} are replaced (first event of a batch)"},
    "auth": {"type": "object", "additionalProperties": false, "properties": {
      "bearer": {"type": "string", "writeOnly": true, "description": "token for Authorization: Bearer"},
      "username": {"type": "string", "description": "user for Authorization: Basic"},
      "password": {"type": "string", "writeOnly": true, "description": "password for Authorization: Basic"}}},
    "idempotency_header": {"type": "string", "default": "Idempotency-Key", "description": "header carrying a key stable across retries; empty: none"},
    "signing_secret": {"type": "string", "writeOnly": true, "description": "HMAC-SHA256 key; adds X-Sluice-Timestamp and X-Sluice-Signature"},
    "max_in_flight": {"type": "integer", "minimum": 1, "maximum": 256, "default": 4, "description": "requests (and connections) at once"},
    "status_map": {"type": "object", "propertyNames": {"pattern": "^[1-5][0-9][0-9]$"}, "additionalProperties": {"type": "string", "enum": ["ok", "retry", "reject"]}, "description": "override the answer for given HTTP status codes"},
    "user_agent": {"type": "string", "default": "sluice-webhook/1.0"}
  }
})json");
    for (const char* key : {"connect_timeout", "write_timeout", "read_timeout"})
      s["properties"][key] = nlohmann::json::parse(kDurationSchema);
    s["properties"]["max_response_bytes"] = nlohmann::json::parse(kSizeSchema);
    s["properties"]["max_response_bytes"]["default"] = "1MiB";
    s["properties"]["max_response_bytes"]["description"] =
        "largest response body read; the status of a bigger response counts, its body is not "
        "read and the connection is closed";
    s["properties"]["connect_timeout"]["default"] = "5s";
    s["properties"]["write_timeout"]["default"] = "10s";
    s["properties"]["read_timeout"]["default"] = "30s";
    s["properties"]["tls"] = nlohmann::json::parse(tls::kClientOptionsSchema);
    return s.dump();
  }();
  return schema.c_str();
}

}  // namespace
}  // namespace sluice::webhook

SLUICE_PLUGIN(sluice::webhook::WebhookSink, "webhook", "1.0.0",
              "POSTs events to an HTTP(S) endpoint: CloudEvents, JSON, gzip, HMAC signatures",
              sluice::webhook::options_schema())
