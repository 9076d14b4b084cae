#include <sluice/fakes/hmc.hpp>
#include <sluice/units.hpp>

#include "model.hpp"
#include "stomp_codec.hpp"  // the fake's own codec: nothing shared with the plugin

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <array>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace sluice::fakes::hmc {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using nlohmann::json;
using stomp::Version;
using namespace std::chrono_literals;

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void append_number(std::string& out, uint64_t n) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, p);
}

std::string header_value(const json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

const char* sample_body(const std::string& type) {
  if (type == "os-message")
    return R"({"os-messages":[{"sequence-number":12,"message-id":"IEE252I","message-text":"IEE252I MEMBER CTIEZB00 FOUND IN SYS1.PARMLIB\n","timestamp":1700000123000,"sound-alarm":false,"is-priority":false,"is-held":false,"prompt-text":"","os-name":"ZOS1","is-refresh":false}]})";
  if (type == "property-change")
    return R"({"change-reports":[{"property-name":"status","old-value":"operating","new-value":"not-operating"}]})";
  if (type == "status-change")
    return R"({"change-reports":[{"old-status":"operating","new-status":"not-operating","old-additional-status":"","new-additional-status":"","has-unacceptable-status":true}]})";
  if (type == "log-entry")
    return R"({"log-entries":[{"event-time":1700000123000,"event-name":"User logged on","event-id":"1234","userid":"hmcuser","user-uri":"/api/users/00000000-0000-4000-8000-0000000000aa","event-message":"User hmcuser logged on to the Web Services API.","event-data-items":[{"data-item-number":0,"data-item-value":"hmcuser","data-item-type":"string"}]}]})";
  return "";
}

Headers type_headers(const std::string& type) {
  if (type == "property-change") return {{"property-names", " status "}};
  if (type == "inventory-change") return {{"action", "add"}};
  if (type == "job-completion")
    return {{"job-uri", "/api/jobs/00000000-0000-4000-8000-00000000j0b1"}};
  return {};
}

std::string percent_decode(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      int v = 0;
      auto [p, ec] = std::from_chars(in.data() + i + 1, in.data() + i + 3, v, 16);
      if (ec == std::errc() && p == in.data() + i + 3) {
        out.push_back(static_cast<char>(v));
        i += 2;
        continue;
      }
    }
    out.push_back(in[i] == '+' ? ' ' : in[i]);
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
Notification Notification::from_json(const json& j) {
  if (!j.is_object()) throw std::invalid_argument("a notification is a JSON object");
  static const std::set<std::string> known = {"topic", "type", "headers", "body", "repeat", "rate"};
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!known.count(it.key()))
      throw std::invalid_argument("unknown notification key '" + it.key() +
                                  "' (topic, type, headers, body, repeat, rate)");
  Notification n;
  try {
    n.topic = j.value("topic", n.topic);
    n.type = j.value("type", n.type);
    if (j.contains("headers")) {
      if (!j["headers"].is_object()) throw std::invalid_argument("headers must be an object");
      for (auto it = j["headers"].begin(); it != j["headers"].end(); ++it)
        n.headers.emplace_back(it.key(), header_value(*it));
    }
    if (j.contains("body")) {
      const json& b = j["body"];
      n.body = b.is_null() ? std::string() : b.is_string() ? b.get<std::string>() : b.dump();
    }
    if (j.contains("repeat")) n.repeat = count_option(j["repeat"]);
    if (j.contains("rate")) n.rate = rate_option(j["rate"]);
  } catch (const std::exception& e) {
    throw std::invalid_argument(std::string("bad notification: ") + e.what());
  }
  return n;
}

const std::string* ClientFrame::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return &v;
  return nullptr;
}

json Stats::to_json() const {
  return json{{"notifications", notifications},
              {"messages_sent", messages_sent},
              {"no_subscriber", no_subscriber},
              {"truncated", truncated},
              {"stomp_connections", stomp_connections},
              {"stomp_accepted", stomp_accepted},
              {"stomp_bytes_queued", stomp_bytes_queued},
              {"stomp_bytes_written", stomp_bytes_written},
              {"stomp_connects", stomp_connects},
              {"stomp_refused", stomp_refused},
              {"subscriptions", subscriptions},
              {"subscribe_errors", subscribe_errors},
              {"error_frames", error_frames},
              {"heartbeats_sent", heartbeats_sent},
              {"heartbeats_received", heartbeats_received},
              {"api_requests", api_requests},
              {"api_sessions", api_sessions},
              {"api_logons", api_logons},
              {"faults", faults},
              {"jobs_pending", jobs_pending}};
}

// ---------------------------------------------------------------------------------------------
struct Counters {
  std::atomic<uint64_t> notifications{0}, messages_sent{0}, no_subscriber{0}, truncated{0},
      stomp_connections{0}, stomp_accepted{0}, stomp_bytes_queued{0}, stomp_bytes_written{0},
      stomp_connects{0}, stomp_refused{0}, subscriptions{0}, subscribe_errors{0}, error_frames{0},
      heartbeats_sent{0}, heartbeats_received{0}, api_requests{0}, api_sessions{0}, api_logons{0},
      faults{0}, jobs_pending{0};
};

struct Subscription {
  std::string id;
  std::string topic;
};

// A STOMP client connection as the broker sees it; the stream type lives in the subclass.
class StompConn : public std::enable_shared_from_this<StompConn> {
 public:
  explicit StompConn(FakeHmc::Impl& impl) : impl_(impl) {}
  virtual ~StompConn() = default;

  virtual void start() = 0;
  virtual void flush() = 0;
  // Write what is queued, then end the connection (TCP FIN, no TLS close_notify).
  virtual void close_after_flush() = 0;
  virtual void die(const std::string& why) = 0;
  virtual bool idle() const = 0;

  // Open for MESSAGE frames: logged on, not closing.
  bool accepting() const { return connected && !closing && !dead; }

  std::string pend;  // frames queued, written after the write in flight
  Version version = Version::v1_0;
  bool connected = false, closing = false, dead = false, heartbeats_stopped = false;
  std::string login, session_id;
  std::vector<Subscription> subs;
  Clock::time_point paused_until{};
  uint64_t number = 0;

 protected:
  FakeHmc::Impl& impl_;
};

struct Job {
  enum class Kind { publish, fault, sleep, wait, loop, inventory } kind = Kind::publish;
  Notification n;
  json fault;
  std::chrono::milliseconds duration{0};
  size_t count = 0;
  std::string topic;
  std::shared_ptr<std::vector<json>> script;  // Kind::loop: the lines to queue again
  // runtime state of a publish / sleep / wait
  bool started = false;
  uint64_t done = 0;
  Clock::time_point start{}, deadline{};
  uint64_t generation = ~0ull;
  struct Target {
    StompConn* conn;
    Topic* topic;
    std::string a, b, c, d, e;  // frame pieces around message-id N, S, G, timestamp
  };
  std::vector<Target> targets;
  std::vector<Topic*> topics;  // selected topics (re-selected with the targets)
  std::string body;
  // Broker headers the notification gives itself (Notification::headers), or nullopt.
  std::optional<std::string> fixed_id, fixed_seq, fixed_ts;
  std::optional<uint64_t> fixed_seq_number;
};

class FakeHmc::Impl {
 public:
  explicit Impl(Options o) : opts_(std::move(o)), model_(opts_.scenario) {
    if (!opts_.log)
      opts_.log = [](const std::string& m) { std::cerr << "fake-hmc: " << m << "\n"; };
    pem_ = opts_.certificate ? *opts_.certificate : sluice::tls::generate_self_signed();
    ssl_ = std::make_unique<ssl::context>(sluice::tls::make_server_context(pem_));
    max_version_ = *stomp::parse_version(model_.stomp.max_version);
    api_port_ = opts_.api_port;
    stomp_port_ = opts_.stomp_port;
    counters_.api_sessions = 0;
  }
  ~Impl() { stop(); }

  // ---- lifecycle -------------------------------------------------------------------------
  void start() {
    if (thread_.joinable()) return;
    io_ = std::make_unique<asio::io_context>(1);
    job_timer_ = std::make_unique<asio::steady_timer>(*io_);
    auto addr = asio::ip::make_address(opts_.address);
    api_acceptor_ = std::make_unique<tcp::acceptor>(*io_);
    stomp_acceptor_ = std::make_unique<tcp::acceptor>(*io_);
    for (auto [acc, port] : {std::pair{api_acceptor_.get(), &api_port_},
                             std::pair{stomp_acceptor_.get(), &stomp_port_}}) {
      tcp::endpoint ep(addr, *port);
      acc->open(ep.protocol());
      acc->set_option(asio::socket_base::reuse_address(true));
      acc->bind(ep);
      acc->listen();
      *port = acc->local_endpoint().port();
    }
    if (message_id_prefix_.empty())
      message_id_prefix_ = "ID:fakehmc-" + std::to_string(stomp_port_) + "-" +
                           std::to_string(now_ms()) + "-1:1:1:1:";
    accept_api();
    accept_stomp();
    asio::post(*io_, [this] { pump(); });
    running_ = true;
    thread_ = std::thread([this] { io_->run(); });
    log("listening: WS API https://" + opts_.address + ":" + std::to_string(api_port_) +
        ", STOMP " + (opts_.stomp_tls ? "tls" : "tcp") + "://" + opts_.address + ":" +
        std::to_string(stomp_port_));
  }

  void stop() {
    if (!thread_.joinable()) return;
    io_->stop();
    thread_.join();
    running_ = false;
    // No thread runs the io_context now: close everything from here, then let the io_context
    // destroy the pending handlers (and with them the connection objects).
    boost::system::error_code ec;
    api_acceptor_->close(ec);
    stomp_acceptor_->close(ec);
    for (auto* c : std::set<StompConn*>(conns_))
      c->die("fake HMC stopped");
    for (auto& [p, close] : api_conns_)
      close();
    api_conns_.clear();
    for (auto& j : jobs_) {
      j.targets.clear();
      j.generation = ~0ull;
    }
    job_timer_.reset();
    api_acceptor_.reset();
    stomp_acceptor_.reset();
    io_.reset();
    log("stopped");
  }

  bool running() const { return running_; }

  // Run f on the fake's thread and wait for its result (directly when stopped).
  template <typename F>
  auto on_io(F f) -> decltype(f()) {
    if (!running_ || std::this_thread::get_id() == thread_.get_id()) return f();
    // Shared: if the wait below gives up, the posted handler still owns a live task.
    auto task = std::make_shared<std::packaged_task<decltype(f())()>>(std::move(f));
    auto fut = task->get_future();
    asio::post(*io_, [task] { (*task)(); });
    // Bounded: a stop() racing with this call must not leave the caller waiting forever.
    if (fut.wait_for(std::chrono::seconds(30)) != std::future_status::ready)
      throw std::runtime_error("fake HMC: its thread did not answer within 30 s");
    return fut.get();
  }

  // ---- jobs ----------------------------------------------------------------------------------
  void enqueue(Job j) {
    {
      std::lock_guard lock(incoming_mutex_);
      incoming_.push_back(std::move(j));
    }
    ++counters_.jobs_pending;
    if (running_) asio::post(*io_, [this] { pump(); });
  }

  Job parse_line(const json& line) {
    if (!line.is_object()) throw std::invalid_argument("a script line is a JSON object");
    Job j;
    if (line.contains("fault")) {
      validate_fault(line);
      j.kind = Job::Kind::fault;
      j.fault = line;
    } else if (line.contains("inventory")) {
      validate_inventory(line);
      j.kind = Job::Kind::inventory;
      j.fault = line;
    } else if (line.contains("sleep")) {
      j.kind = Job::Kind::sleep;
      j.duration = duration_option(line["sleep"]);
    } else if (line.contains("wait_for_subscribers")) {
      j.kind = Job::Kind::wait;
      j.count = count_option(line["wait_for_subscribers"]);
      j.topic = line.value("topic", "*");
      j.duration = line.contains("timeout") ? duration_option(line["timeout"]) : 60s;
    } else if (line.contains("topic")) {
      j.kind = Job::Kind::publish;
      j.n = Notification::from_json(line);
    } else {
      throw std::invalid_argument(
          "a script line holds \"topic\" (a notification), \"fault\", \"inventory\", "
          "\"sleep\" or \"wait_for_subscribers\"");
    }
    return j;
  }

  static void validate_fault(const json& f) {
    static const std::set<std::string> faults = {"drop-mid-frame",
                                                 "stop-heartbeats",
                                                 "error-frame",
                                                 "malformed-json",
                                                 "oversized-frame",
                                                 "refuse-logon",
                                                 "expire-session",
                                                 "skip-sequence",
                                                 "slow-reader",
                                                 "close",
                                                 "raw",
                                                 "api-error",
                                                 "api-delay"};
    if (!f.is_object() || !f.contains("fault") || !f["fault"].is_string())
      throw std::invalid_argument("a fault is {\"fault\": NAME, ...}");
    const std::string name = f["fault"];
    if (!faults.count(name))
      throw std::invalid_argument("unknown fault '" + name +
                                  "' (drop-mid-frame, stop-heartbeats, error-frame, "
                                  "malformed-json, oversized-frame, refuse-logon, expire-session, "
                                  "skip-sequence, slow-reader, close, raw, api-error, api-delay)");
    try {
      if (f.contains("size")) size_option(f["size"]);
      if (f.contains("duration")) duration_option(f["duration"]);
      if (f.contains("count")) count_option(f["count"]);
      if (f.contains("topic")) (void)f["topic"].get<std::string>();
      if (f.contains("message")) (void)f["message"].get<std::string>();
      if (f.contains("match")) (void)f["match"].get<std::string>();
      if (f.contains("status")) {
        const int status = f["status"].get<int>();
        if (status < 400 || status > 599)
          throw std::invalid_argument("api-error: status is from 400 to 599");
      }
      if (f.contains("reason")) (void)f["reason"].get<int>();
      if (name == "raw" && (!f.contains("text") || !f["text"].is_string()))
        throw std::invalid_argument("raw: text (the bytes to write) is required");
      if (f.contains("where")) {
        std::string w = f["where"];
        if (w != "stomp" && w != "api" && w != "both")
          throw std::invalid_argument("refuse-logon: where is stomp, api or both");
      }
    } catch (const json::exception& e) {
      throw std::invalid_argument("fault " + name + ": bad parameter: " + e.what());
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("fault " + name + ": " + e.what());
    }
  }

  // {"inventory": "add" | "remove" | "rename", "cpc": NAME, "partition" | "lpar": NAME,
  //  "to": NEW NAME (rename), "object-id": ID (add), "dpm-enabled": bool (add a CPC),
  //  "notify": bool (default true)}
  static void validate_inventory(const json& c) {
    try {
      if (!c.is_object() || !c.contains("inventory") || !c["inventory"].is_string())
        throw std::invalid_argument(
            "an inventory change is {\"inventory\": add|remove|rename, ...}");
      const std::string what = c["inventory"];
      if (what != "add" && what != "remove" && what != "rename")
        throw std::invalid_argument("inventory: '" + what + "' is not add, remove or rename");
      if (!c.contains("cpc") || !c["cpc"].is_string())
        throw std::invalid_argument("inventory " + what + ": cpc (a CPC name) is required");
      if (c.contains("partition") && c.contains("lpar"))
        throw std::invalid_argument("inventory " + what + ": partition or lpar, not both");
      for (const char* k : {"partition", "lpar", "to", "object-id"})
        if (c.contains(k)) (void)c[k].get<std::string>();
      if (c.contains("notify")) (void)c["notify"].get<bool>();
      if (c.contains("dpm-enabled")) (void)c["dpm-enabled"].get<bool>();
      if (what == "rename" && (!c.contains("to") || c["to"].get<std::string>().empty()))
        throw std::invalid_argument("inventory rename: to (the new name) is required");
    } catch (const json::exception& e) {
      throw std::invalid_argument(std::string("inventory: bad parameter: ") + e.what());
    }
  }

  // Applies an inventory change to the model; unless "notify": false, the job becomes the
  // notification the HMC sends for it (inventory-change add/remove, or property-change of
  // name) on every object-notification topic, in place, so it keeps its place in the queue.
  bool run_inventory(Job& j) {
    const json c = j.fault;
    const std::string what = c["inventory"];
    log("inventory: " + c.dump());
    const std::string cpc_name = c["cpc"];
    const bool member = c.contains("partition") || c.contains("lpar");
    const std::string cls = c.contains("partition") ? "partition" : "logical-partition";
    const std::string member_name =
        member ? c.value(c.contains("partition") ? "partition" : "lpar", "") : "";
    Cpc* cpc = model_.find_cpc_by_name(cpc_name);
    std::string klass, name, uri, id;
    Headers extra;
    std::optional<std::string> body = "";
    auto fresh_id = [&] {
      if (c.contains("object-id")) return c["object-id"].get<std::string>();
      std::string candidate;
      do {
        candidate = model_.new_object_id();
      } while (model_.find_cpc_by_id(candidate) || model_.find_member("partition", candidate) ||
               model_.find_member("logical-partition", candidate));
      return candidate;
    };
    if (what == "add") {
      if (!member) {
        if (cpc) return log("inventory add: CPC " + cpc_name + " exists already"), true;
        Cpc fresh;
        fresh.name = cpc_name;
        fresh.id = fresh_id();
        fresh.uri = "/api/cpcs/" + fresh.id;
        fresh.dpm = c.value("dpm-enabled", false);
        model_.cpcs.push_back(fresh);
        klass = "cpc", name = fresh.name, uri = fresh.uri, id = fresh.id;
      } else {
        if (!cpc) return log("inventory add: no CPC " + cpc_name), true;
        if (model_.find_member_by_name(*cpc, cls, member_name))
          return log("inventory add: " + member_name + " exists already"), true;
        Member m;
        m.name = member_name;
        m.id = fresh_id();
        m.cls = cls;
        m.uri = (cls == "partition" ? "/api/partitions/" : "/api/logical-partitions/") + m.id;
        m.status = cls == "partition" ? "active" : "operating";
        cpc->members.push_back(m);
        klass = cls, name = m.name, uri = m.uri, id = m.id;
      }
      extra = {{"action", "add"}};
    } else {
      if (!cpc) return log("inventory " + what + ": no CPC " + cpc_name), true;
      Member* m = member ? model_.find_member_by_name(*cpc, cls, member_name) : nullptr;
      if (member && !m) return log("inventory " + what + ": no " + member_name), true;
      klass = m ? cls : "cpc";
      name = m ? m->name : cpc->name;
      uri = m ? m->uri : cpc->uri;
      id = m ? m->id : cpc->id;
      if (what == "remove") {
        extra = {{"action", "remove"}};
        if (m) {
          const std::string gone = m->uri;
          cpc->members.erase(std::remove_if(cpc->members.begin(), cpc->members.end(),
                                            [&](const Member& x) { return x.uri == gone; }),
                             cpc->members.end());
        } else {
          const std::string gone = cpc->uri;
          model_.cpcs.erase(std::remove_if(model_.cpcs.begin(), model_.cpcs.end(),
                                           [&](const Cpc& x) { return x.uri == gone; }),
                            model_.cpcs.end());
        }
      } else {  // rename
        const std::string to = c["to"];
        (m ? m->name : cpc->name) = to;
        for (auto& [tname, t] : model_.topics) {  // notifications on its OS message channel
          bool its = false;
          for (const auto& [k, v] : t.defaults)
            its = its || (k == "object-uri" && v == uri);
          if (its)
            for (auto& [k, v] : t.defaults)
              if (k == "name") v = to;
        }
        extra = {{"property-names", " name "}};
        body = json{{"change-reports",
                     json::array(
                         {{{"property-name", "name"}, {"old-value", name}, {"new-value", to}}})}}
                   .dump();
        name = to;
      }
    }
    if (!c.value("notify", true)) return true;
    Job p;
    p.kind = Job::Kind::publish;
    p.n.topic = "object-notification";
    p.n.type = what == "rename" ? "property-change" : "inventory-change";
    p.n.headers = {{"class", klass}, {"name", name}, {"object-uri", uri}, {"object-id", id}};
    for (auto& h : extra)
      p.n.headers.push_back(h);
    p.n.body = body;
    j = std::move(p);
    return run_publish(j);
  }

  void load_script(std::istream& in, bool loop) {
    auto lines = std::make_shared<std::vector<json>>();
    std::vector<Job> jobs;
    std::string text;
    size_t n = 0;
    while (std::getline(in, text)) {
      ++n;
      size_t first = text.find_first_not_of(" \t\r");
      if (first == std::string::npos || text[first] == '#') continue;
      try {
        json line = json::parse(text);
        jobs.push_back(parse_line(line));
        lines->push_back(std::move(line));
      } catch (const std::exception& e) {
        throw std::invalid_argument("script line " + std::to_string(n) + ": " + e.what());
      }
    }
    for (auto& j : jobs)
      enqueue(std::move(j));
    if (loop && !lines->empty()) {
      Job l;
      l.kind = Job::Kind::loop;
      l.script = lines;
      enqueue(std::move(l));
    }
  }

  // Runs queued jobs until one has to wait (for writes to drain, a timer or subscribers).
  void pump() {
    if (pumping_ || !running_) return;
    pumping_ = true;
    {
      std::lock_guard lock(incoming_mutex_);
      for (auto& j : incoming_)
        jobs_.push_back(std::move(j));
      incoming_.clear();
    }
    while (!jobs_.empty()) {
      if (!run_job(jobs_.front())) break;
      jobs_.pop_front();
      --counters_.jobs_pending;
    }
    pumping_ = false;
  }

  void wake_at(Clock::time_point when) {
    job_timer_->expires_at(when);
    job_timer_->async_wait([this](boost::system::error_code ec) {
      if (!ec) pump();
    });
  }

  bool run_job(Job& j) {
    switch (j.kind) {
      case Job::Kind::publish:
        return run_publish(j);
      case Job::Kind::fault:
        return run_fault(j);
      case Job::Kind::inventory:
        return run_inventory(j);
      case Job::Kind::sleep:
        if (!j.started) {
          j.started = true;
          j.deadline = Clock::now() + j.duration;
        }
        if (Clock::now() >= j.deadline) return true;
        wake_at(j.deadline);
        return false;
      case Job::Kind::wait: {
        if (!j.started) {
          j.started = true;
          j.deadline = Clock::now() + j.duration;
        }
        if (count_subscribers(j.topic) >= j.count) return true;
        if (Clock::now() >= j.deadline) {
          log("wait_for_subscribers " + std::to_string(j.count) + " timed out; going on");
          return true;
        }
        wake_at(std::min(j.deadline, Clock::now() + 20ms));
        return false;
      }
      case Job::Kind::loop: {
        std::lock_guard lock(incoming_mutex_);
        for (const auto& line : *j.script) {
          incoming_.push_back(parse_line(line));
          ++counters_.jobs_pending;
        }
        Job again;
        again.kind = Job::Kind::loop;
        again.script = j.script;
        incoming_.push_back(std::move(again));
        ++counters_.jobs_pending;
        asio::post(*io_, [this] { pump(); });
        return true;
      }
    }
    return true;
  }

  size_t count_subscribers(const std::string& selector) {
    std::set<std::string> names;
    for (Topic* t : model_.select(selector))
      names.insert(t->name);
    size_t n = 0;
    for (auto* c : conns_)
      if (c->accepting())
        for (const auto& s : c->subs)
          n += names.count(s.topic);
    return n;
  }

  // ---- publishing: the hot loop ---------------------------------------------------------------
  void build_targets(Job& j) {
    j.targets.clear();
    j.topics = model_.select(j.n.topic);
    j.generation = generation_;
    for (Topic* t : j.topics)
      for (auto* c : conns_) {
        if (!c->accepting()) continue;
        for (const auto& s : c->subs)
          if (s.topic == t->name) j.targets.push_back(make_target(j, *c, s, *t));
      }
  }

  Job::Target make_target(const Job& j, StompConn& c, const Subscription& s, Topic& t) {
    const Version v = c.version;
    Job::Target tg{&c, &t, {}, {}, {}, {}, {}};
    auto hdr = [&](std::string& out, std::string_view k, std::string_view val) {
      stomp::append_escaped(out, k, v);
      out.push_back(':');
      stomp::append_escaped(out, val, v);
      out.push_back('\n');
    };
    tg.a = "MESSAGE\n";
    hdr(tg.a, "destination", "/topic/" + t.name);
    hdr(tg.a, "subscription", s.id);
    tg.a += "message-id:";
    stomp::append_escaped(tg.a, j.fixed_id ? *j.fixed_id : message_id_prefix_, v);
    tg.b = "\n";
    hdr(tg.b, "notification-type", j.n.type);
    tg.b += "session-sequence-nr:";
    if (j.fixed_seq) stomp::append_escaped(tg.b, *j.fixed_seq, v);
    tg.c = "\nglobal-sequence-nr:";
    tg.d = "\n";
    static const std::set<std::string> reserved = {
        "destination",         "subscription",       "message-id", "notification-type",
        "session-sequence-nr", "global-sequence-nr", "timestamp",  "content-length"};
    Headers headers = t.defaults;
    for (auto& h : type_headers(j.n.type))
      headers.push_back(h);
    headers.push_back({"expires", "0"});
    headers.push_back({"priority", "4"});
    for (const auto& [k, val] : j.n.headers) {
      if (reserved.count(k)) continue;
      bool replaced = false;
      for (auto& h : headers)
        if (h.first == k) h.second = val, replaced = true;
      if (!replaced) headers.emplace_back(k, val);
    }
    for (const auto& [k, val] : headers)
      hdr(tg.d, k, val);
    tg.d += "timestamp:";
    if (j.fixed_ts) stomp::append_escaped(tg.d, *j.fixed_ts, v);
    tg.e = "\ncontent-length:";
    append_number(tg.e, j.body.size());
    tg.e += "\n\n";
    tg.e += j.body;
    tg.e.push_back('\0');
    return tg;
  }

  bool run_publish(Job& j) {
    if (!j.started) {
      j.started = true;
      j.start = Clock::now();
      j.body = j.n.body ? *j.n.body : sample_body(j.n.type);
      for (const auto& [k, val] : j.n.headers) {
        if (k == "message-id" && !j.fixed_id) j.fixed_id = val;
        if (k == "timestamp" && !j.fixed_ts) j.fixed_ts = val;
        if (k == "session-sequence-nr" && !j.fixed_seq) {
          j.fixed_seq = val;
          uint64_t n = 0;
          auto [p, ec] = std::from_chars(val.data(), val.data() + val.size(), n);
          if (ec == std::errc() && p == val.data() + val.size()) j.fixed_seq_number = n;
        }
      }
    }
    constexpr size_t kHighWater = 1 << 20;  // queued bytes per connection before waiting
    while (j.done < j.n.repeat) {
      if (j.generation != generation_) build_targets(j);
      for (const auto& t : j.targets)
        if (t.conn->pend.size() >= kHighWater) return false;  // its write completion pumps
      uint64_t budget = j.n.repeat - j.done;
      if (j.n.rate > 0) {
        double elapsed = std::chrono::duration<double>(Clock::now() - j.start).count();
        uint64_t allowed = static_cast<uint64_t>(elapsed * j.n.rate) + 1;
        if (allowed <= j.done) {
          auto next = j.start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(j.done / j.n.rate));
          wake_at(next);
          return false;
        }
        budget = std::min(budget, allowed - j.done);
      }
      budget = std::min<uint64_t>(budget, 4096);
      const uint64_t ts = static_cast<uint64_t>(now_ms());
      for (uint64_t k = 0; k < budget; ++k) {
        for (Topic* topic : j.topics) {
          const uint64_t id = ++message_counter_;
          const uint64_t seq =
              j.fixed_seq_number ? (topic->sequence = *j.fixed_seq_number) : ++topic->sequence;
          const uint64_t global = ++global_sequence_;
          bool any = false;
          for (auto& t : j.targets) {
            if (t.topic != topic) continue;
            std::string& out = t.conn->pend;
            out += t.a;
            if (!j.fixed_id) append_number(out, id);
            out += t.b;
            if (!j.fixed_seq) append_number(out, seq);
            out += t.c;
            append_number(out, global);
            out += t.d;
            if (!j.fixed_ts) append_number(out, ts);
            out += t.e;
            any = true;
            ++sent_local_;
            if (opts_.record_ids)
              record_id(j.fixed_id ? *j.fixed_id : message_id_prefix_ + std::to_string(id));
          }
          ++notifications_local_;
          if (!any) ++counters_.no_subscriber;
        }
        if (j.topics.empty()) {
          ++counters_.no_subscriber;
          ++notifications_local_;
        }
        // A full buffer stops the burst early; the rest waits for the write to complete.
        if (!j.targets.empty() && j.targets.front().conn->pend.size() >= kHighWater) {
          j.done += k + 1;
          goto flushed;
        }
      }
      j.done += budget;
    flushed:
      counters_.messages_sent += sent_local_;
      counters_.notifications += notifications_local_;
      sent_local_ = notifications_local_ = 0;
      for (auto& t : j.targets)
        t.conn->flush();
    }
    return true;
  }

  void record_id(std::string id) {
    std::lock_guard lock(ids_mutex_);
    sent_ids_.push_back(std::move(id));
  }

  // ---- faults --------------------------------------------------------------------------------
  std::vector<StompConn*> fault_targets(const json& f) {
    std::vector<StompConn*> out;
    const std::string sel = f.value("topic", "");
    std::set<std::string> names;
    if (!sel.empty())
      for (Topic* t : model_.select(sel))
        names.insert(t->name);
    for (auto* c : conns_) {
      if (!c->accepting()) continue;
      bool match = sel.empty();
      for (const auto& s : c->subs)
        match = match || names.count(s.topic);
      if (match) out.push_back(c);
    }
    return out;
  }

  bool run_fault(Job& j) {
    const json& f = j.fault;
    const std::string name = f["fault"];
    ++counters_.faults;
    std::string text = f.dump(-1, ' ', false, json::error_handler_t::replace);
    if (text.size() > 300) text = text.substr(0, 300) + "...";
    log("fault: " + text);
    if (name == "drop-mid-frame") {
      for (auto* c : fault_targets(f)) {
        std::string frame = "MESSAGE\ndestination:/topic/";
        frame += c->subs.empty() ? "none" : c->subs.front().topic;
        frame += "\nsubscription:" + (c->subs.empty() ? std::string("none") : c->subs.front().id);
        frame += "\nmessage-id:";
        stomp::append_escaped(frame, message_id_prefix_, c->version);
        frame += std::to_string(++message_counter_) +
                 "\nnotification-type:os-message\ncontent-length:40\n\n{\"os-messages\":[{"
                 "\"sequence-number\":1}]}";
        frame.push_back('\0');
        c->pend.append(frame, 0, frame.size() / 2);
        ++counters_.truncated;
        c->closing = true;
        c->close_after_flush();
      }
      ++generation_;
    } else if (name == "stop-heartbeats") {
      for (auto* c : fault_targets(f))
        c->heartbeats_stopped = true;
    } else if (name == "error-frame") {
      for (auto* c : fault_targets(f))
        send_error(*c, f.value("message", "fake HMC: injected error"),
                   f.value("body", "injected by the fake HMC's error-frame fault\n"),
                   f.value("close", true), nullptr);
    } else if (name == "malformed-json" || name == "oversized-frame") {
      Job p;
      p.kind = Job::Kind::publish;
      p.n.topic = f.value("topic", "*");
      p.n.type = f.value("type", "os-message");
      if (name == "malformed-json") {
        p.n.body =
            f.value("text", R"({"os-messages":[{"sequence-number":13,"message-text":"trunc)");
      } else {
        const uint64_t size = f.contains("size") ? size_option(f["size"]) : 32ull << 20;
        std::string body = R"({"os-messages":[{"sequence-number":14,"message-text":")";
        const std::string tail = "\"}]}";
        if (size > body.size() + tail.size()) body.append(size - body.size() - tail.size(), 'x');
        body += tail;
        p.n.body = std::move(body);
      }
      j = std::move(p);  // becomes a publish in place, ordered exactly where the fault was
      return run_publish(j);
    } else if (name == "refuse-logon") {
      const uint64_t count = f.contains("count") ? count_option(f["count"]) : 1;
      const std::string where = f.value("where", "both");
      if (where != "api") refuse_stomp_ += count;
      if (where != "stomp") refuse_api_ += count;
      if (f.contains("message")) {
        if (where != "api") refuse_stomp_message_ = f["message"];
        if (where != "stomp") refuse_api_message_ = f["message"];
      }
    } else if (name == "expire-session") {
      expire_sessions(f.value("userid", ""), f.value("close_stomp", true));
    } else if (name == "skip-sequence") {
      const uint64_t count = f.contains("count") ? count_option(f["count"]) : 5;
      for (Topic* t : model_.select(f.value("topic", "*")))
        t->sequence += count;
    } else if (name == "slow-reader") {
      const auto d = f.contains("duration") ? duration_option(f["duration"]) : 2000ms;
      for (auto* c : fault_targets(f))
        c->paused_until = Clock::now() + d;
    } else if (name == "raw") {
      const std::string bytes = f["text"];
      for (auto* c : fault_targets(f)) {
        c->pend += bytes;
        c->flush();
      }
    } else if (name == "api-error") {
      api_errors_.push_back({f.value("match", std::string("/api/")), f.value("status", 503),
                             f.value("reason", 0),
                             f.contains("count") ? count_option(f["count"]) : 1});
    } else if (name == "api-delay") {
      api_delays_.push_back({f.value("match", std::string("/api/")),
                             f.contains("duration") ? duration_option(f["duration"]) : 2000ms,
                             f.contains("count") ? count_option(f["count"]) : 1});
    } else if (name == "close") {
      for (auto* c : fault_targets(f)) {
        c->closing = true;
        c->close_after_flush();
      }
      ++generation_;
    }
    return true;
  }

  void expire_sessions(const std::string& userid, bool close_stomp) {
    std::set<std::string> gone_topics, gone_sessions;
    for (const auto& id : model_.session_ids()) {
      Session* s = model_.find_session(id);
      if (!userid.empty() && s->userid != userid) continue;
      gone_sessions.insert(id);
      for (auto& t : model_.remove_session(id))
        gone_topics.insert(t);
    }
    counters_.api_sessions = model_.sessions.size();
    log("expired " + std::to_string(gone_sessions.size()) + " API session(s)");
    if (!close_stomp) return;
    for (auto* c : conns_) {
      bool hit = gone_sessions.count(c->session_id) > 0;
      for (const auto& s : c->subs)
        hit = hit || gone_topics.count(s.topic);
      if (hit && !c->closing) {
        c->closing = true;
        c->close_after_flush();
      }
    }
    ++generation_;
  }

  // ---- STOMP protocol ---------------------------------------------------------------------------
  void send_frame(StompConn& c, const std::string& command, const Headers& headers,
                  const std::string& body, Version v) {
    stomp::append_frame(c.pend, command, headers, body, v, command == "ERROR");
    c.flush();
  }

  void send_error(StompConn& c, const std::string& message, const std::string& body, bool close,
                  const stomp::Frame* cause) {
    Headers h = {{"content-type", "text/plain"}, {"message", message}};
    if (cause)
      if (const std::string* r = cause->header("receipt")) h.emplace_back("receipt-id", *r);
    ++counters_.error_frames;
    send_frame(c, "ERROR", h, body, c.connected ? c.version : Version::v1_0);
    if (close) {
      c.closing = true;
      ++generation_;
      c.close_after_flush();
    }
  }

  void receipt(StompConn& c, const stomp::Frame& f) {
    if (const std::string* r = f.header("receipt"))
      send_frame(c, "RECEIPT", {{"receipt-id", *r}}, "", c.version);
  }

  // Returns the heart-beat periods (send, receive) the connection uses, 0 = off.
  std::pair<uint32_t, uint32_t> on_connect(StompConn& c, const stomp::Frame& f,
                                           stomp::Reader& parser) {
    // Version: the highest both sides accept.
    Version v = Version::v1_0;
    if (const std::string* av = f.header("accept-version")) {
      bool found = false;
      std::string_view list = *av;
      while (!list.empty()) {
        size_t comma = list.find(',');
        auto one = stomp::parse_version(list.substr(0, comma));
        if (one && *one <= max_version_ && (!found || *one > v)) v = *one, found = true;
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
      }
      if (!found) {
        std::string supported = "1.0";
        if (max_version_ >= Version::v1_1) supported += ",1.1";
        if (max_version_ >= Version::v1_2) supported += ",1.2";
        send_frame(c, "ERROR",
                   {{"version", supported},
                    {"content-type", "text/plain"},
                    {"message", "Supported protocol versions are " + supported}},
                   "", Version::v1_0);
        ++counters_.error_frames;
        c.closing = true;
        c.close_after_flush();
        return {0, 0};
      }
    } else if (f.command == "STOMP") {
      // A STOMP frame means 1.1 or later even without accept-version.
      v = std::min(Version::v1_1, max_version_);
    }

    // Login: userid/password, or API session id/credential.
    const std::string login = f.header("login") ? *f.header("login") : "";
    const std::string pass = f.header("passcode") ? *f.header("passcode") : "";
    bool ok = false;
    std::string why = "User name [" + login + "] or password is invalid.";
    if (refuse_stomp_ > 0) {
      --refuse_stomp_;
      why = "fake HMC: logon refused (refuse-logon fault)";
      if (!refuse_stomp_message_.empty()) {
        why = refuse_stomp_message_;  // "{login}" stands for the login the client sent
        for (size_t at = why.find("{login}"); at != std::string::npos;
             at = why.find("{login}", at + login.size()))
          why.replace(at, 7, login);
      }
    } else if (const User* u = model_.find_user(login); u && u->password == pass) {
      ok = u->mfa_code.empty();
      if (!ok)
        why = "User [" + login +
              "] uses multi-factor authentication: log on with the API session id and session "
              "credential";
    } else if (model_.find_session_by_credential(login, pass)) {
      ok = true;
      c.session_id = login;
    }
    if (!ok) {
      ++counters_.stomp_refused;
      send_error(c, why, "javax.jms.JMSSecurityException: " + why + "\n", true, nullptr);
      return {0, 0};
    }
    c.login = login;
    c.version = v;
    c.connected = true;
    parser.set_version(v);
    ++counters_.stomp_connects;

    uint32_t send = 0, recv = 0;
    const auto& st = model_.stomp;
    if (v != Version::v1_0) {
      uint32_t cx = 0, cy = 0;
      if (const std::string* hb = f.header("heart-beat")) {
        if (std::sscanf(hb->c_str(), "%u,%u", &cx, &cy) != 2) cx = cy = 0;
      }
      if (st.heartbeat_send_ms && cy) send = std::max(st.heartbeat_send_ms, cy);
      if (st.heartbeat_receive_ms && cx) recv = std::max(st.heartbeat_receive_ms, cx);
    }
    Headers h = {{"version", std::string(stomp::version_name(v))},
                 {"server", st.server},
                 {"session", "ID:fakehmc-session-" + std::to_string(c.number)}};
    if (max_version_ == Version::v1_0) h.erase(h.begin());  // a 1.0 broker names no version
    if (v != Version::v1_0)
      h.emplace_back("heart-beat", std::to_string(st.heartbeat_send_ms) + "," +
                                       std::to_string(st.heartbeat_receive_ms));
    for (const auto& [k, val] : st.connected_headers) {
      bool replaced = false;
      for (auto& hd : h)
        if (hd.first == k) hd.second = val, replaced = true;
      if (!replaced) h.emplace_back(k, val);
    }
    c.heartbeats_stopped = !st.send_heartbeats;
    send_frame(c, "CONNECTED", h, "", Version::v1_0);
    log("STOMP " + std::string(stomp::version_name(v)) + " connection " + std::to_string(c.number) +
        " logged on as " + (c.session_id.empty() ? login : "API session " + login.substr(0, 8)) +
        " (heart-beats send " + std::to_string(send) + " ms, receive " + std::to_string(recv) +
        " ms)");
    return {send, recv};
  }

  // Returns the heart-beat periods when f was the CONNECT frame; {0,0} otherwise.
  std::pair<uint32_t, uint32_t> on_frame(StompConn& c, const stomp::Frame& f,
                                         stomp::Reader& parser) {
    if (opts_.record_frames) {
      std::lock_guard lock(records_mutex_);
      received_frames_.push_back({c.number, f.command, f.headers, f.body});
    }
    if (!c.connected) {
      if (f.command == "STOMP" && max_version_ == Version::v1_0) {
        // STOMP 1.0 has no STOMP frame: a 1.0 broker does not know the command.
        send_error(c, "Unknown STOMP action: STOMP", "", true, &f);
        return {0, 0};
      }
      if (f.command != "CONNECT" && f.command != "STOMP") {
        send_error(c, "Not connected: the first frame must be CONNECT or STOMP", "", true, &f);
        return {0, 0};
      }
      return on_connect(c, f, parser);
    }
    if (f.command == "SUBSCRIBE") {
      const std::string* dest = f.header("destination");
      const std::string* id = f.header("id");
      if (!dest || (!id && c.version != Version::v1_0)) {
        send_error(c, "SUBSCRIBE needs destination and id headers", "", model_.stomp.close_on_error,
                   &f);
        return {0, 0};
      }
      static const std::string prefix = "/topic/";
      std::string topic =
          dest->compare(0, prefix.size(), prefix) == 0 ? dest->substr(prefix.size()) : *dest;
      if (!model_.find_topic(topic) || dest->compare(0, prefix.size(), prefix) != 0) {
        ++counters_.subscribe_errors;
        const std::string msg =
            "remote addConsumer failed because the specified destination, "
            "'topic://" +
            topic + "', is not a known or approved topic.";
        send_error(c, msg,
                   "javax.jms.JMSException: " + msg +
                       "\n\tat org.apache.activemq.util.JMSExceptionSupport.create("
                       "JMSExceptionSupport.java:54)\n\tat org.apache.activemq.transport.stomp."
                       "ProtocolConverter.onStompSubscribe(ProtocolConverter.java:612)\n\tat "
                       "org.apache.activemq.transport.stomp.ProtocolConverter.onStompCommand("
                       "ProtocolConverter.java:266)\n",
                   model_.stomp.close_on_error, &f);
        return {0, 0};
      }
      c.subs.push_back({id ? *id : *dest, topic});
      {
        std::lock_guard lock(records_mutex_);
        subscribed_[c.number].push_back(*dest);
      }
      ++counters_.subscriptions;
      ++generation_;
      receipt(c, f);
      pump();  // a waiting job may go on now
    } else if (f.command == "UNSUBSCRIBE") {
      const std::string* id = f.header("id");
      if (!id) id = f.header("destination");
      for (auto it = c.subs.begin(); id && it != c.subs.end(); ++it)
        if (it->id == *id) {
          c.subs.erase(it);
          --counters_.subscriptions;
          ++generation_;
          break;
        }
      receipt(c, f);
    } else if (f.command == "DISCONNECT") {
      receipt(c, f);
      c.closing = true;
      ++generation_;
      c.close_after_flush();
    } else if (f.command == "SEND" || f.command == "ACK" || f.command == "NACK" ||
               f.command == "BEGIN" || f.command == "COMMIT" || f.command == "ABORT") {
      receipt(c, f);  // accepted and ignored: HMC topics are not written by clients
    } else {
      send_error(c, "Unknown STOMP action: " + f.command, "", true, &f);
    }
    return {0, 0};
  }

  void register_conn(StompConn* c) {
    c->number = ++conn_counter_;
    conns_.insert(c);
    counters_.stomp_connections = conns_.size();
  }
  void unregister_conn(StompConn* c) {
    if (conns_.erase(c)) {
      counters_.subscriptions -= c->subs.size();
      c->subs.clear();
      ++generation_;
      counters_.stomp_connections = conns_.size();
    }
  }
  void on_drained() { pump(); }

  // ---- WS API --------------------------------------------------------------------------------
  using Request = http::request<http::string_body>;
  using Response = http::response<http::string_body>;

  Response api_error(const Request& req, http::status status, int reason, const std::string& msg) {
    Response res{status, req.version()};
    res.set(http::field::content_type, "application/json");
    res.body() = json{{"http-status", static_cast<int>(status)},
                      {"reason", reason},
                      {"message", msg},
                      {"request-method", std::string(req.method_string())},
                      {"request-uri", std::string(req.target())}}
                     .dump();
    return res;
  }

  Response api_json(const Request& req, const json& body, http::status status = http::status::ok) {
    Response res{status, req.version()};
    res.set(http::field::content_type, "application/json");
    res.body() = body.dump();
    return res;
  }

  // The answer to req, as of now; *delay: how long to hold it before writing it (api-delay).
  Response handle(const Request& req, std::chrono::milliseconds* delay) {
    ++counters_.api_requests;
    Response res = route(req);
    *delay = std::chrono::milliseconds(0);
    const std::string target(req.target());
    if (target.compare(0, 6, "/fake/") != 0)
      for (auto it = api_delays_.begin(); it != api_delays_.end(); ++it)
        if (target.find(it->match) != std::string::npos) {
          *delay = it->duration;
          if (--it->count == 0) api_delays_.erase(it);
          break;
        }
    {
      auto session = req.find("X-API-Session");
      std::lock_guard lock(records_mutex_);
      api_calls_.push_back({std::string(req.method_string()), std::string(req.target()),
                            session == req.end() ? std::string() : std::string(session->value()),
                            json::parse(req.body().empty() ? "null" : req.body(), nullptr, false),
                            static_cast<int>(res.result_int())});
      if (api_calls_.back().body.is_discarded()) api_calls_.back().body = nullptr;
    }
    res.set(http::field::server, "sluice-fake-hmc");
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    log("API " + std::string(req.method_string()) + " " + std::string(req.target()) + " -> " +
        std::to_string(res.result_int()));
    return res;
  }

  static bool name_matches(const std::string& pattern, const std::string& name) {
    if (pattern.empty()) return true;
    try {
      return std::regex_match(name, std::regex(pattern));  // the HMC's name filter is a regex
    } catch (const std::regex_error&) {
      return pattern == name;
    }
  }

  Response route(const Request& req) {
    std::string target(req.target());
    std::string path = target.substr(0, target.find('?'));
    std::map<std::string, std::string> query;
    if (size_t q = target.find('?'); q != std::string::npos) {
      std::string_view qs = std::string_view(target).substr(q + 1);
      while (!qs.empty()) {
        size_t amp = qs.find('&');
        std::string_view kv = qs.substr(0, amp);
        size_t eq = kv.find('=');
        query[percent_decode(kv.substr(0, eq))] =
            eq == std::string_view::npos ? "" : percent_decode(kv.substr(eq + 1));
        if (amp == std::string_view::npos) break;
        qs.remove_prefix(amp + 1);
      }
    }
    const auto method = req.method();

    if (path.compare(0, 6, "/fake/") == 0) return control(req, path);

    // api-error faults: the next `count` requests whose path holds `match` fail.
    for (auto it = api_errors_.begin(); it != api_errors_.end(); ++it)
      if (path.find(it->match) != std::string::npos) {
        const int status = it->status, reason = it->reason;
        if (--it->count == 0) api_errors_.erase(it);
        return api_error(req, static_cast<http::status>(status), reason,
                         "request failed (the fake HMC's api-error fault)");
      }

    if (path == "/api/sessions" && method == http::verb::post) {
      json body = json::parse(req.body(), nullptr, false);
      if (!body.is_object() || !body.contains("userid") || !body.contains("password"))
        return api_error(req, http::status::bad_request, 1,
                         "the request body must hold userid and password");
      if (refuse_api_ > 0) {
        --refuse_api_;
        return api_error(req, http::status::forbidden, 0,
                         refuse_api_message_.empty()
                             ? "logon refused by the fake HMC (refuse-logon fault)"
                             : refuse_api_message_);
      }
      const User* u = model_.find_user(body.value("userid", ""));
      if (!u || u->password != body.value("password", "") ||
          (!u->mfa_code.empty() && body.value("mfa-code", "") != u->mfa_code))
        return api_error(req, http::status::forbidden, 0, "the userid or password is not valid");
      Session& s = model_.create_session(u->userid);
      {
        std::lock_guard lock(records_mutex_);
        api_sessions_.push_back({s.id, s.credential, s.userid});
      }
      ++counters_.api_logons;
      counters_.api_sessions = model_.sessions.size();
      return api_json(req, {{"api-session", s.id},
                            {"session-credential", s.credential},
                            {"notification-topic", s.topics[0]},
                            {"job-notification-topic", s.topics[1]},
                            {"api-major-version", model_.api_major},
                            {"api-minor-version", model_.api_minor},
                            {"password-expires", -1}});
    }

    if (path.compare(0, 5, "/api/") != 0)
      return api_error(req, http::status::not_found, 1, "no such resource: " + path);

    auto hdr = req.find("X-API-Session");
    if (hdr == req.end())
      return api_error(req, http::status::forbidden, 4,
                       "the request requires an x-api-session header");
    Session* s = model_.find_session(std::string(hdr->value()));
    if (!s)
      return api_error(req, http::status::forbidden, 5,
                       "x-api-session header did not map to a known session.");

    if (path == "/api/sessions/this-session" && method == http::verb::delete_) {
      model_.remove_session(s->id);
      counters_.api_sessions = model_.sessions.size();
      ++generation_;
      Response res{http::status::no_content, req.version()};
      return res;
    }
    if (path == "/api/sessions/operations/get-notification-topics" && method == http::verb::get)
      return api_json(req, model_.topics_json(*s));
    if (path == "/api/cpcs" && method == http::verb::get) {
      json list = json::array();
      for (const auto& c : model_.cpcs)
        if (name_matches(query["name"], c.name))
          list.push_back({{"object-uri", c.uri},
                          {"name", c.name},
                          {"status", "operating"},
                          {"dpm-enabled", c.dpm}});
      return api_json(req, {{"cpcs", list}});
    }
    // Get CPC Properties, Get Partition Properties, Get Logical Partition Properties: the
    // base managed object properties (object-uri, object-id, parent, class, name) and status.
    static const std::regex object_props("^/api/(cpcs|partitions|logical-partitions)/([^/]+)$");
    std::smatch om;
    if (method == http::verb::get && std::regex_match(path, om, object_props)) {
      if (om[1] == "cpcs") {
        const Cpc* c = model_.find_cpc_by_id(om[2]);
        if (!c) return api_error(req, http::status::not_found, 1, "no CPC with id " + om[2].str());
        return api_json(req, {{"object-uri", c->uri},
                              {"object-id", c->id},
                              {"parent", "/api/console"},
                              {"class", "cpc"},
                              {"name", c->name},
                              {"status", "operating"},
                              {"dpm-enabled", c->dpm}});
      }
      const std::string cls = om[1] == "partitions" ? "partition" : "logical-partition";
      const Member* p = model_.find_member(cls, om[2]);
      const Cpc* parent = p ? model_.cpc_of(p->uri) : nullptr;
      if (!p || !parent)
        return api_error(req, http::status::not_found, 1, "no " + cls + " with id " + om[2].str());
      json props = {{"object-uri", p->uri}, {"object-id", p->id}, {"parent", parent->uri},
                    {"class", cls},         {"name", p->name},    {"status", p->status}};
      if (cls == "partition") props["type"] = "linux";
      return api_json(req, props);
    }
    static const std::regex cpc_members("^/api/cpcs/([^/]+)/(partitions|logical-partitions)$");
    static const std::regex open_channel(
        "^/api/(partitions|logical-partitions)/([^/]+)/operations/open-os-message-channel$");
    std::smatch m;
    if (method == http::verb::get && std::regex_match(path, m, cpc_members)) {
      const Cpc* c = model_.find_cpc_by_id(m[1]);
      if (!c) return api_error(req, http::status::not_found, 1, "no CPC with id " + m[1].str());
      const std::string cls = m[2] == "partitions" ? "partition" : "logical-partition";
      json list = json::array();
      for (const auto& p : c->members)
        if (p.cls == cls && name_matches(query["name"], p.name)) {
          json e = {{"object-uri", p.uri}, {"name", p.name}, {"status", p.status}};
          if (cls == "partition") e["type"] = "linux";
          list.push_back(std::move(e));
        }
      return api_json(req, {{m[2].str(), list}});
    }
    if (method == http::verb::post && std::regex_match(path, m, open_channel)) {
      const std::string cls = m[1] == "partitions" ? "partition" : "logical-partition";
      const Member* p = model_.find_member(cls, m[2]);
      if (!p)
        return api_error(req, http::status::not_found, 1, "no " + cls + " with id " + m[2].str());
      if (!p->os_messages)
        return api_error(
            req, http::status::conflict, 332,
            "the operating system in " + p->name + " does not support OS message notifications");
      if (s->channels.count(p->uri))
        return api_error(
            req, http::status::conflict, 331,
            "an OS message channel is already open for " + p->name + " in this API session");
      json body = json::parse(req.body().empty() ? "{}" : req.body(), nullptr, false);
      bool refresh = body.is_object() && body.value("include-refresh-messages", false);
      return api_json(req, {{"topic-name", model_.open_channel(*s, *p, refresh)}});
    }
    return api_error(req, http::status::not_found, 1, "no such resource: " + path);
  }

  Response control(const Request& req, const std::string& path) {
    try {
      if (path == "/fake/stats" && req.method() == http::verb::get)
        return api_json(req, stats_now().to_json());
      if (path == "/fake/topics" && req.method() == http::verb::get)
        return api_json(req, {{"topics", model_.topic_names()}});
      if (path == "/fake/sessions" && req.method() == http::verb::get) {
        json list = json::array();
        std::lock_guard lock(records_mutex_);
        for (const auto& s : api_sessions_)
          list.push_back(
              {{"api-session", s.id}, {"session-credential", s.credential}, {"userid", s.userid}});
        return api_json(req, {{"sessions", list}});
      }
      if (path == "/fake/fault" && req.method() == http::verb::post) {
        json f = json::parse(req.body());
        validate_fault(f);
        Job j;
        j.kind = Job::Kind::fault;
        j.fault = f;
        enqueue(std::move(j));
        return api_json(req, {{"queued", 1}}, http::status::accepted);
      }
      if (path == "/fake/inventory" && req.method() == http::verb::post) {
        json c = json::parse(req.body());
        validate_inventory(c);
        Job j;
        j.kind = Job::Kind::inventory;
        j.fault = c;
        enqueue(std::move(j));
        return api_json(req, {{"queued", 1}}, http::status::accepted);
      }
      if (path == "/fake/publish" && req.method() == http::verb::post) {
        json body = json::parse(req.body());
        std::vector<Job> jobs;
        for (const json& n : body.is_array() ? body : json::array({body})) {
          Job j;
          j.n = Notification::from_json(n);
          jobs.push_back(std::move(j));
        }
        for (auto& j : jobs)
          enqueue(std::move(j));
        return api_json(req, {{"queued", jobs.size()}}, http::status::accepted);
      }
      if (path == "/fake/script" && req.method() == http::verb::post) {
        std::istringstream in(req.body());
        load_script(in, false);
        return api_json(req, {{"queued", true}}, http::status::accepted);
      }
    } catch (const std::exception& e) {
      return api_error(req, http::status::bad_request, 1, e.what());
    }
    return api_error(req, http::status::not_found, 1,
                     "control endpoints: GET /fake/stats, GET /fake/topics, POST /fake/fault, "
                     "POST /fake/publish, POST /fake/script");
  }

  Stats stats_now() const {
    Stats s;
    s.notifications = counters_.notifications;
    s.messages_sent = counters_.messages_sent;
    s.no_subscriber = counters_.no_subscriber;
    s.truncated = counters_.truncated;
    s.stomp_connections = counters_.stomp_connections;
    s.stomp_accepted = counters_.stomp_accepted;
    s.stomp_bytes_queued = counters_.stomp_bytes_queued;
    s.stomp_bytes_written = counters_.stomp_bytes_written;
    s.stomp_connects = counters_.stomp_connects;
    s.stomp_refused = counters_.stomp_refused;
    s.subscriptions = counters_.subscriptions;
    s.subscribe_errors = counters_.subscribe_errors;
    s.error_frames = counters_.error_frames;
    s.heartbeats_sent = counters_.heartbeats_sent;
    s.heartbeats_received = counters_.heartbeats_received;
    s.api_requests = counters_.api_requests;
    s.api_sessions = counters_.api_sessions;
    s.api_logons = counters_.api_logons;
    s.faults = counters_.faults;
    s.jobs_pending = counters_.jobs_pending;
    return s;
  }

  bool idle_now() {
    if (counters_.jobs_pending != 0) return false;
    for (auto* c : conns_)
      if (!c->idle()) return false;
    return true;
  }

  void log(const std::string& m) { opts_.log(m); }

  void accept_api();
  void accept_stomp();

  Options opts_;
  Model model_;
  sluice::tls::CertificatePem pem_;
  std::unique_ptr<ssl::context> ssl_;
  Version max_version_ = Version::v1_2;
  uint16_t api_port_ = 0, stomp_port_ = 0;

  std::unique_ptr<asio::io_context> io_;
  std::unique_ptr<asio::steady_timer> job_timer_;
  std::unique_ptr<tcp::acceptor> api_acceptor_, stomp_acceptor_;
  std::thread thread_;
  std::atomic<bool> running_{false};

  std::set<StompConn*> conns_;
  std::map<void*, std::function<void()>> api_conns_;  // closers of open API connections
  uint64_t conn_counter_ = 0;
  uint64_t generation_ = 0;  // bumped whenever the set of subscribers changes

  std::mutex incoming_mutex_;
  std::vector<Job> incoming_;
  std::deque<Job> jobs_;
  bool pumping_ = false;

  std::string message_id_prefix_;
  uint64_t message_counter_ = 0, global_sequence_ = 0;
  uint64_t sent_local_ = 0, notifications_local_ = 0;
  uint64_t refuse_stomp_ = 0, refuse_api_ = 0;
  struct ApiFailure {
    std::string match;
    int status;
    int reason;
    uint64_t count;
  };
  std::vector<ApiFailure> api_errors_;  // api-error faults still to fire
  struct ApiDelay {
    std::string match;
    std::chrono::milliseconds duration;
    uint64_t count;
  };
  std::vector<ApiDelay> api_delays_;                       // api-delay faults still to fire
  std::string refuse_stomp_message_, refuse_api_message_;  // refuse-logon's "message"
  mutable std::mutex records_mutex_;
  std::vector<ClientFrame> received_frames_;
  std::map<uint64_t, std::vector<std::string>> subscribed_;
  std::vector<ApiCall> api_calls_;
  std::vector<ApiSession> api_sessions_;
  mutable Counters counters_;
  std::mutex ids_mutex_;
  std::vector<std::string> sent_ids_;
};

// ---------------------------------------------------------------------------------------------
// One STOMP connection over Stream (tcp::socket or ssl::stream<tcp::socket>).
template <typename Stream>
class StompConnT : public StompConn {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, tcp::socket>;

  StompConnT(FakeHmc::Impl& impl, tcp::socket socket)
      : StompConn(impl),
        stream_(make_stream(impl, std::move(socket))),
        timer_(stream_.get_executor()),
        hb_send_timer_(stream_.get_executor()),
        hb_check_timer_(stream_.get_executor()),
        pause_timer_(stream_.get_executor()),
        parser_(impl.model_.stomp.max_client_frame) {
    pend.reserve(1 << 21);
    out_.reserve(1 << 21);
  }
  ~StompConnT() override { impl_.unregister_conn(this); }

  void start() override {
    impl_.register_conn(this);
    last_read_ = Clock::now();
    // Until CONNECT: the handshake and the first frame must come within 10 s.
    timer_.expires_after(10s);
    timer_.async_wait([self = shared()](boost::system::error_code ec) {
      if (!ec && !self->connected) self->die("no CONNECT within 10 s");
    });
    if constexpr (kTls) {
      stream_.async_handshake(
          ssl::stream_base::server,
          [self = shared()](boost::system::error_code ec) { self->on_handshake(ec); });
    } else {
      read();
    }
  }

  void flush() override {
    if (writing_ || dead || pend.empty()) return;
    std::swap(out_, pend);
    impl_.counters_.stomp_bytes_queued += out_.size();
    writing_ = true;
    asio::async_write(stream_, asio::buffer(out_),
                      [self = shared()](boost::system::error_code ec, size_t n) {
                        self->impl_.counters_.stomp_bytes_written += n;
                        self->on_write(ec);
                      });
  }

  void close_after_flush() override {
    close_when_drained_ = true;
    if (!writing_ && pend.empty())
      shutdown_send();
    else
      flush();
  }

  bool idle() const override { return dead || (!writing_ && pend.empty()); }

  void die(const std::string& why) override {
    if (dead) return;
    dead = true;
    impl_.log("STOMP connection " + std::to_string(number) + " closed: " + why);
    boost::system::error_code ec;
    timer_.cancel();
    hb_send_timer_.cancel();
    hb_check_timer_.cancel();
    pause_timer_.cancel();
    lowest().close(ec);
    impl_.unregister_conn(this);
    impl_.on_drained();  // a publish waiting on this connection goes on without it
  }

 private:
  static Stream make_stream(FakeHmc::Impl& impl, tcp::socket socket) {
    if constexpr (kTls)
      return Stream(std::move(socket), *impl.ssl_);
    else
      return socket;
  }
  tcp::socket& lowest() {
    if constexpr (kTls)
      return stream_.next_layer();
    else
      return stream_;
  }
  std::shared_ptr<StompConnT> shared() {
    return std::static_pointer_cast<StompConnT>(shared_from_this());
  }

  void on_handshake(boost::system::error_code ec) {
    if (ec) return die("TLS handshake failed: " + ec.message());
    read();
  }

  void read() {
    if (dead) return;
    stream_.async_read_some(
        asio::buffer(in_),
        [self = shared()](boost::system::error_code ec, size_t n) { self->on_read(ec, n); });
  }

  void on_read(boost::system::error_code ec, size_t n) {
    if (ec) return die(ec == asio::error::eof ? "closed by the client" : ec.message());
    last_read_ = Clock::now();
    if (closing) return read();  // draining towards the close; ignore what the client says
    parser_.append(std::string_view(in_.data(), n));
    if (Clock::now() < paused_until) {
      // slow-reader fault: act on nothing and read no more until the pause ends, so the
      // client's frames wait and its writes back up in the socket buffers.
      pause_timer_.expires_at(paused_until);
      pause_timer_.async_wait([self = shared()](boost::system::error_code ec) {
        if (ec || self->dead) return;
        self->process();
        self->read();
      });
      return;
    }
    process();
    read();
  }

  void process() {
    stomp::Frame f;
    while (!dead && !closing) {
      try {
        if (!parser_.next(f)) break;
      } catch (const stomp::FrameError& e) {
        std::string why = e.what();
        if (why.rfind("bad frame", 0) != 0) why = "bad frame: " + why;
        impl_.send_error(*this, why, "", true, nullptr);
        break;
      }
      const bool was_connected = connected;
      auto [send, recv] = impl_.on_frame(*this, f, parser_);
      if (!was_connected && connected) start_heartbeats(send, recv);
    }
    impl_.counters_.heartbeats_received += parser_.heartbeats() - heartbeats_seen_;
    heartbeats_seen_ = parser_.heartbeats();
  }

  void on_write(boost::system::error_code ec) {
    writing_ = false;
    out_.clear();
    if (ec) return die("write failed: " + ec.message());
    if (!pend.empty())
      flush();
    else if (close_when_drained_)
      shutdown_send();
    impl_.on_drained();
  }

  // FIN after everything queued; keep reading so unread client bytes do not turn it into RST.
  void shutdown_send() {
    if (dead || shut_) return;
    shut_ = true;
    boost::system::error_code ec;
    lowest().shutdown(tcp::socket::shutdown_send, ec);
    timer_.expires_after(2s);
    timer_.async_wait([self = shared()](boost::system::error_code ec) {
      if (!ec) self->die("closed by the fake HMC");
    });
  }

  void start_heartbeats(uint32_t send_ms, uint32_t recv_ms) {
    timer_.cancel();  // the CONNECT deadline
    if (send_ms) {
      send_period_ = std::chrono::milliseconds(send_ms);
      heartbeat_send();
    }
    if (recv_ms) {
      recv_period_ = std::chrono::milliseconds(recv_ms);
      heartbeat_check();
    }
  }

  void heartbeat_send() {
    hb_send_timer_.expires_after(send_period_);
    hb_send_timer_.async_wait([self = shared()](boost::system::error_code ec) {
      if (ec || self->dead) return;
      if (!self->heartbeats_stopped && !self->closing && !self->writing_ && self->pend.empty()) {
        self->pend.push_back('\n');
        ++self->impl_.counters_.heartbeats_sent;
        self->flush();
      }
      self->heartbeat_send();
    });
  }

  void heartbeat_check() {
    hb_check_timer_.expires_after(recv_period_);
    hb_check_timer_.async_wait([self = shared()](boost::system::error_code ec) {
      if (ec || self->dead) return;
      auto now = Clock::now();
      auto limit = std::chrono::duration_cast<Clock::duration>(
          self->recv_period_ * self->impl_.model_.stomp.heartbeat_grace);
      if (now < self->paused_until) self->last_read_ = now;  // not reading is our doing
      if (now - self->last_read_ > limit && !self->closing)
        return self->die(
            "no heart-beat from the client within " +
            std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(limit).count()) +
            " ms");
      self->heartbeat_check();
    });
  }

  Stream stream_;
  asio::steady_timer timer_, hb_send_timer_, hb_check_timer_, pause_timer_;
  stomp::Reader parser_;
  std::array<char, 16384> in_{};
  std::string out_;
  bool writing_ = false, close_when_drained_ = false, shut_ = false;
  Clock::time_point last_read_{};
  std::chrono::milliseconds send_period_{0}, recv_period_{0};
  uint64_t heartbeats_seen_ = 0;
};

// ---------------------------------------------------------------------------------------------
// One HTTPS connection to the WS API (keep-alive, one request at a time).
class ApiConn : public std::enable_shared_from_this<ApiConn> {
 public:
  ApiConn(FakeHmc::Impl& impl, tcp::socket socket)
      : impl_(impl), stream_(std::move(socket), *impl.ssl_), delay_(stream_.get_executor()) {}
  ~ApiConn() { impl_.api_conns_.erase(this); }

  void start() {
    impl_.api_conns_[this] = [this] {
      boost::system::error_code ec;
      delay_.cancel();
      beast::get_lowest_layer(stream_).socket().close(ec);
    };
    beast::get_lowest_layer(stream_).expires_after(10s);
    stream_.async_handshake(ssl::stream_base::server,
                            [self = shared_from_this()](beast::error_code ec) {
                              if (!ec) self->read();
                            });
  }

 private:
  void read() {
    req_ = {};
    beast::get_lowest_layer(stream_).expires_after(60s);
    http::async_read(
        stream_, buffer_, req_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }
  void on_read(beast::error_code ec) {
    if (ec) return;  // closed, timed out or garbage: drop the connection
    std::chrono::milliseconds delay{0};
    res_ = impl_.handle(req_, &delay);
    if (delay.count() == 0) return write();
    delay_.expires_after(delay);  // the answer as of the request, written later (api-delay)
    delay_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->write();
    });
  }
  void write() {
    beast::get_lowest_layer(stream_).expires_after(30s);
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->on_write(ec);
    });
  }
  void on_write(beast::error_code ec) {
    if (ec) return;
    if (res_.keep_alive()) return read();
    beast::get_lowest_layer(stream_).expires_after(5s);
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) {});
  }

  FakeHmc::Impl& impl_;
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  FakeHmc::Impl::Request req_;
  FakeHmc::Impl::Response res_;
  asio::steady_timer delay_;
};

void FakeHmc::Impl::accept_api() {
  api_acceptor_->async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec) return;  // closed by stop()
    std::make_shared<ApiConn>(*this, std::move(socket))->start();
    accept_api();
  });
}

void FakeHmc::Impl::accept_stomp() {
  stomp_acceptor_->async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec) return;
    socket.set_option(tcp::no_delay(true), ec);
    if (opts_.stomp_send_buffer > 0)
      socket.set_option(asio::socket_base::send_buffer_size(opts_.stomp_send_buffer), ec);
    ++counters_.stomp_accepted;
    if (opts_.stomp_tls)
      std::make_shared<StompConnT<ssl::stream<tcp::socket>>>(*this, std::move(socket))->start();
    else
      std::make_shared<StompConnT<tcp::socket>>(*this, std::move(socket))->start();
    accept_stomp();
  });
}

// ---------------------------------------------------------------------------------------------
FakeHmc::FakeHmc(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}
FakeHmc::~FakeHmc() = default;

void FakeHmc::start() {
  impl_->start();
}
void FakeHmc::stop() {
  impl_->stop();
}
bool FakeHmc::running() const {
  return impl_->running();
}
uint16_t FakeHmc::api_port() const {
  return impl_->api_port_;
}
uint16_t FakeHmc::stomp_port() const {
  return impl_->stomp_port_;
}
const std::string& FakeHmc::ca_pem() const {
  return impl_->pem_.certificate;
}

void FakeHmc::write_ca(const std::string& path) const {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << impl_->pem_.certificate;
  if (!out.flush()) throw std::runtime_error("cannot write " + path);
}

void FakeHmc::publish(const Notification& n) {
  Job j;
  j.n = n;
  impl_->enqueue(std::move(j));
}

void FakeHmc::fault(const json& f) {
  Impl::validate_fault(f);
  Job j;
  j.kind = Job::Kind::fault;
  j.fault = f;
  impl_->enqueue(std::move(j));
}

void FakeHmc::inventory(const json& change) {
  Impl::validate_inventory(change);
  Job j;
  j.kind = Job::Kind::inventory;
  j.fault = change;
  impl_->enqueue(std::move(j));
}

void FakeHmc::sleep(std::chrono::milliseconds d) {
  Job j;
  j.kind = Job::Kind::sleep;
  j.duration = d;
  impl_->enqueue(std::move(j));
}

void FakeHmc::wait_for_subscribers(size_t n, const std::string& topic,
                                   std::chrono::milliseconds timeout) {
  Job j;
  j.kind = Job::Kind::wait;
  j.count = n;
  j.topic = topic;
  j.duration = timeout;
  impl_->enqueue(std::move(j));
}

void FakeHmc::run_line(const json& line) {
  impl_->enqueue(impl_->parse_line(line));
}

void FakeHmc::load_script(std::istream& in, bool loop) {
  impl_->load_script(in, loop);
}

namespace {
template <typename Pred>
bool poll_until(Pred pred, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
}
}  // namespace

bool FakeHmc::wait_idle(std::chrono::milliseconds timeout) {
  return poll_until([this] { return impl_->on_io([this] { return impl_->idle_now(); }); }, timeout);
}

bool FakeHmc::await_subscribers(size_t n, std::chrono::milliseconds timeout,
                                const std::string& topic) {
  return poll_until(
      [&] { return impl_->on_io([&] { return impl_->count_subscribers(topic) >= n; }); }, timeout);
}

Stats FakeHmc::stats() const {
  return impl_->stats_now();
}

std::vector<std::string> FakeHmc::sent_message_ids() const {
  std::lock_guard lock(impl_->ids_mutex_);
  return impl_->sent_ids_;
}

std::vector<ClientFrame> FakeHmc::received_frames() const {
  std::lock_guard lock(impl_->records_mutex_);
  return impl_->received_frames_;
}

std::vector<std::string> FakeHmc::subscribed(uint64_t connection) const {
  std::lock_guard lock(impl_->records_mutex_);
  auto it = impl_->subscribed_.find(connection);
  return it == impl_->subscribed_.end() ? std::vector<std::string>{} : it->second;
}

std::vector<ApiCall> FakeHmc::api_calls() const {
  std::lock_guard lock(impl_->records_mutex_);
  return impl_->api_calls_;
}

std::vector<ApiSession> FakeHmc::api_sessions() const {
  std::lock_guard lock(impl_->records_mutex_);
  return impl_->api_sessions_;
}

std::vector<std::string> FakeHmc::topic_names() const {
  return impl_->on_io([this] { return impl_->model_.topic_names(); });
}

}  // namespace sluice::fakes::hmc
