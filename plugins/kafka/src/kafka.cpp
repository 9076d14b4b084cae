// Kafka sink: produces every event as one record through librdkafka's idempotent producer, in
// the CloudEvents Kafka protocol binding (binary mode by default). Each record's delivery
// report answers its own event (plugin API 1.1 per-event results). See README.md for the
// options.
#include "kafka_util.hpp"

#include <sluice/option_problem.hpp>
#include <sluice/sdk.hpp>
#include <sluice/tls.hpp>
#include <sluice/units.hpp>

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

namespace sluice::kafka {
namespace {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

// librdkafka's error text without the line break some of its messages end with.
std::string trimmed(const char* text) {
  std::string s = text;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  return s;
}

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

// The options as the sink uses them, and the librdkafka configuration they become. One code
// path for create and check_options: every bad value is a problem at its option.
struct Config {
  std::string brokers;
  std::string topic;
  std::string key = "{subject}";
  Mode mode = Mode::binary;
  uint32_t max_in_flight = 8;
  milliseconds flush_timeout{10000};
  // (librdkafka property, value, pointer of the option it comes from), applied in this order:
  // the typed options first, then `properties`, which win.
  struct Setting {
    std::string name, value, pointer;
  };
  std::vector<Setting> settings;
  bool tls = false;
  bool verify = true;

  static Config read(const nlohmann::json& o, OptionProblems& problems) {
    Config c;
    auto fail = [&](const std::string& pointer, const std::string& message) {
      problems.push_back({pointer, message});
    };
    auto set = [&](const std::string& name, const std::string& value, const std::string& at) {
      c.settings.push_back({name, value, at});
    };
    if (auto b = o.find("brokers"); b != o.end()) {
      if (b->is_string()) {
        c.brokers = b->get<std::string>();
      } else if (b->is_array()) {
        for (const auto& x : *b)
          if (x.is_string() && !x.get<std::string>().empty())
            c.brokers += (c.brokers.empty() ? "" : ",") + x.get<std::string>();
      }
    }
    if (c.brokers.empty())
      fail("/brokers", "brokers: at least one host:port is required");
    else
      set("bootstrap.servers", c.brokers, "/brokers");
    c.topic = o.value("topic", std::string());
    if (c.topic.find('{') == std::string::npos)
      if (auto why = topic_problem(c.topic)) fail("/topic", "topic: " + *why);
    c.key = o.value("key", c.key);
    const std::string mode = o.value("mode", std::string("binary"));
    if (mode == "binary")
      c.mode = Mode::binary;
    else if (mode == "structured")
      c.mode = Mode::structured;
    else
      fail("/mode", "mode: unknown mode '" + mode + "' (binary, structured)");
    set("compression.type", o.value("compression", std::string("none")), "/compression");
    const bool idempotent = o.value("idempotent", true);
    const std::string acks = o.value("acks", std::string("all"));
    if (idempotent && acks != "all")
      fail("/acks", "acks: the idempotent producer needs acks: all (or set idempotent: false)");
    set("enable.idempotence", idempotent ? "true" : "false", "/idempotent");
    set("acks", acks == "leader" ? "1" : acks == "none" ? "0" : "all", "/acks");
    auto duration = [&](const char* key, milliseconds fallback) {
      if (!o.contains(key)) return fallback;
      return read_option(
          problems, std::string("/") + key, [&] { return duration_option(o[key]); }, fallback);
    };
    const milliseconds delivery_timeout = duration("delivery_timeout", milliseconds(30000));
    if (delivery_timeout.count() < 1 || delivery_timeout.count() > INT32_MAX)
      fail("/delivery_timeout", "delivery_timeout: from 1ms to 24 days");
    set("message.timeout.ms", std::to_string(delivery_timeout.count()), "/delivery_timeout");
    set("linger.ms", std::to_string(duration("linger", milliseconds(5)).count()), "/linger");
    c.flush_timeout = duration("flush_timeout", c.flush_timeout);
    c.max_in_flight = o.value("max_in_flight", c.max_in_flight);
    if (c.max_in_flight == 0) {
      fail("/max_in_flight", "max_in_flight must be at least 1");
      c.max_in_flight = 1;
    }
    // Java's partitioner: a key lands on the partition Java clients would pick for it.
    set("partitioner", o.value("partitioner", std::string("murmur2_random")), "/partitioner");

    bool sasl = false;
    if (auto t = o.find("tls"); t != o.end() && t->is_object()) {
      c.tls = true;
      c.verify = t->value("verify", true);
      set("enable.ssl.certificate.verification", c.verify ? "true" : "false", "/tls/verify");
      if (c.verify) set("ssl.endpoint.identification.algorithm", "https", "/tls/verify");
      tls::ClientOptions files;
      files.verify = c.verify;
      files.ca_file = t->value("ca_file", std::string());
      files.cert_file = t->value("cert_file", std::string());
      files.key_file = t->value("key_file", std::string());
      // The SDK's check: files that cannot be read, a certificate without its key; and, unless
      // the key is encrypted (key_password, which OpenSSL would ask for), whether OpenSSL can
      // use them (PEM, a key that matches its certificate), as librdkafka will.
      OptionProblems found = t->contains("key_password") ? tls::check_client_files(files, "/tls")
                                                         : tls::check_client_context(files, "/tls");
      if (found.empty()) {
        if (c.verify && !files.ca_file.empty())
          set("ssl.ca.location", files.ca_file, "/tls/ca_file");
        if (!files.cert_file.empty())
          set("ssl.certificate.location", files.cert_file, "/tls/cert_file");
        if (!files.key_file.empty()) set("ssl.key.location", files.key_file, "/tls/key_file");
      }
      problems.insert(problems.end(), found.begin(), found.end());
      if (t->contains("key_password"))
        set("ssl.key.password", (*t)["key_password"].get<std::string>(), "/tls/key_password");
    }
    if (auto s = o.find("sasl"); s != o.end() && s->is_object()) {
      sasl = true;
      set("sasl.mechanisms", s->value("mechanism", std::string("SCRAM-SHA-512")),
          "/sasl/mechanism");
      if (!s->contains("username") || !s->contains("password"))
        fail("/sasl", "sasl: username and password are required");
      else {
        set("sasl.username", (*s)["username"].get<std::string>(), "/sasl/username");
        set("sasl.password", (*s)["password"].get<std::string>(), "/sasl/password");
      }
    }
    if (c.tls || sasl)
      set("security.protocol", c.tls ? (sasl ? "sasl_ssl" : "ssl") : "sasl_plaintext",
          c.tls ? "/tls" : "/sasl");
    if (auto p = o.find("properties"); p != o.end() && p->is_object())
      for (const auto& [name, v] : p->items()) {
        const std::string at = "/properties/" + pointer_token(name);
        if (name == "dr_cb" || name == "dr_msg_cb" || name == "opaque" || name == "error_cb" ||
            name == "log_cb" || name == "log.queue")
          fail(at, option_name(at) + ": the sink sets this itself");
        else
          set(name, v.is_string() ? v.get<std::string>() : v.dump(), at);
      }
    return c;
  }

  // The librdkafka configuration; every property it refuses is a problem at its option.
  ConfPtr make_conf(OptionProblems& problems, const std::string& client_id) const {
    ConfPtr conf(rd_kafka_conf_new());
    char err[512];
    auto apply = [&](const std::string& name, const std::string& value, const std::string& at) {
      if (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), err, sizeof err) !=
          RD_KAFKA_CONF_OK)
        problems.push_back({at, option_name(at) + ": " + trimmed(err)});
    };
    apply("client.id", client_id, "");
    // librdkafka's log lines wait in a queue the poll thread serves: none of its own threads
    // calls the host, and nothing calls it once stop() returned.
    apply("log.queue", "true", "");
    for (const auto& s : settings)
      apply(s.name, s.value, s.pointer);
    return conf;
  }

  static OptionProblems problems(const nlohmann::json& o) {
    OptionProblems problems;
    Config c = read(o, problems);
    c.make_conf(problems, "sluice");
    return problems;
  }
};

// The events of one batch and their answers. The last answer completes the batch.
struct BatchState {
  Completion done;
  std::vector<Delivery> answers;
  std::atomic<size_t> remaining;
  BatchState(Completion d, size_t n) : done(std::move(d)), answers(n), remaining(n) {}
};

// One record on its way: librdkafka's opaque for it.
struct Pending {
  std::shared_ptr<BatchState> batch;
  size_t index;
  uint64_t generation;  // the producer it was handed to (a new one after a fatal error)
};

class KafkaSink : public Sink {
 public:
  static OptionProblems check_options(const nlohmann::json& options) {
    return Config::problems(options);
  }

  KafkaSink(Host host, const nlohmann::json& options)
      : Sink(host), config_(read_settings<Config>(options)) {
    const std::string name = host.instance_name();
    client_id_ = name.empty() ? "sluice" : "sluice-" + name;
    rk_ = make_producer();
    if (config_.tls && !config_.verify)
      host.warn("kafka: TLS certificate verification is off for " + config_.brokers);
  }

  ~KafkaSink() override {
    stop();
    // Whatever was never polled (nothing, unless stop() gave up waiting) is answered already;
    // the records' opaques are freed with the pending set.
    if (rk_) rd_kafka_destroy(rk_);
  }

  void start() override {
    if (running_) return;
    running_ = true;
    {
      std::unique_lock lock(produce_mu_);
      stopping_ = false;
    }
    poll_stop_ = false;
    host().state(State::connecting, "producing to " + config_.brokers);
    // (A stop() during a recreation left no producer, or a failed one: the poll thread makes
    // a new one first.)
    if (!rk_) fatal_ = true;
    poller_ = std::thread([this] {
      while (!poll_stop_.load()) {
        if (fatal_.load())
          replace_producer();  // only this thread replaces rk_
        else
          rd_kafka_poll(rk_, 100);
      }
    });
  }

  // Flushes what is queued (bounded by flush_timeout), then purges the rest: every record not
  // acknowledged by then is answered retry. Returns when no librdkafka callback will call the
  // host again (they run only inside rd_kafka_poll/flush, called from here and the poll thread).
  void stop() override {
    if (!running_) return;
    running_ = false;
    {
      std::unique_lock lock(produce_mu_);  // no produce() runs past this
      stopping_ = true;
    }
    poll_stop_ = true;
    poller_.join();
    // (No producer: stop() came while one was being recreated after a fatal error; the old
    // one's records are answered by then, later ones were refused.)
    if (rk_) {
      if (rd_kafka_flush(rk_, static_cast<int>(config_.flush_timeout.count())) !=
          RD_KAFKA_RESP_ERR_NO_ERROR)
        host().warn("kafka: " + std::to_string(rd_kafka_outq_len(rk_)) +
                    " records not acknowledged after flush_timeout; they are answered retry");
      rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      for (int i = 0; i < 20 && outstanding() > 0; ++i)
        rd_kafka_poll(rk_, 50);
    }
    std::vector<Pending*> left;
    {
      std::lock_guard lock(pending_mu_);
      left.assign(pending_.begin(), pending_.end());
    }
    for (Pending* p : left)
      answer(p, Delivery::retry("kafka: sink stopping before the broker acknowledged"));
  }

  uint32_t max_in_flight() const override { return config_.max_in_flight; }

  void deliver_async(const Batch& batch, Completion done) override {
    if (batch.empty()) return done(Delivery::ok());
    std::shared_lock lock(produce_mu_);
    if (stopping_) return done(Delivery::retry("kafka: sink not started or stopping"));
    if (!rk_)
      return done(Delivery::retry("kafka: the producer is being recreated after a fatal error"));
    auto state = std::make_shared<BatchState>(std::move(done), batch.size());
    for (size_t i = 0; i < batch.size(); ++i)
      produce(state, i, batch.events()[i]);
  }

 private:
  // A new librdkafka producer with the sink's callbacks (the configuration was checked before).
  rd_kafka_t* make_producer() {
    OptionProblems problems;
    ConfPtr conf = config_.make_conf(problems, client_id_);
    throw_first(problems);
    rd_kafka_conf_set_opaque(conf.get(), this);
    rd_kafka_conf_set_dr_msg_cb(conf.get(), &KafkaSink::on_delivery);
    rd_kafka_conf_set_error_cb(conf.get(), &KafkaSink::on_error);
    rd_kafka_conf_set_log_cb(conf.get(), &KafkaSink::on_log);
    char err[512];
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof err);
    if (!rk) throw std::runtime_error(std::string("kafka: ") + err);
    conf.release();                       // rd_kafka_new owns it now
    rd_kafka_set_log_queue(rk, nullptr);  // librdkafka's log lines: the main queue
    return rk;
  }

  // Sleeps up to `d`, less if stop() asks the poll thread to end. False when it does.
  bool pause(milliseconds d) {
    const auto until = std::chrono::steady_clock::now() + d;
    while (!poll_stop_.load()) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= until) return true;
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(until - now, 50ms));
    }
    return false;
  }

  // On the poll thread, after librdkafka reported a fatal error: the producer can never produce
  // again. Deliveries are answered retry meanwhile; the old producer's records are purged and
  // answered retry (never ok, never lost), it is destroyed, and a new one takes its place after
  // a back-off that doubles while fatal errors follow each other (up to 30 s). Each wait is
  // bounded and ends early when stop() is called.
  void replace_producer() {
    if (rd_kafka_t* old = rk_) {
      uint64_t old_generation = 0;
      {
        std::unique_lock lock(produce_mu_);  // no produce() runs on the old producer past this
        old_generation = generation_;
        rk_ = nullptr;
      }
      // What was never sent is purged at once; requests in flight may still be acknowledged
      // (each record the broker wrote and acknowledged is one fewer duplicate), until
      // min(flush_timeout, 2 s) or stop(); then the rest is purged too. Their delivery reports
      // come through poll.
      rd_kafka_purge(old, RD_KAFKA_PURGE_F_QUEUE);
      const auto until = std::chrono::steady_clock::now() + std::min(config_.flush_timeout, 2000ms);
      while (rd_kafka_outq_len(old) > 0 && std::chrono::steady_clock::now() < until &&
             !poll_stop_.load())
        rd_kafka_poll(old, 50);
      rd_kafka_purge(old, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      for (int i = 0; i < 10 && rd_kafka_outq_len(old) > 0 && !poll_stop_.load(); ++i)
        rd_kafka_poll(old, 20);
      rd_kafka_destroy(old);
      // Records whose report never came (destroy does not call back): answered retry here.
      std::vector<Pending*> left;
      {
        std::lock_guard lock(pending_mu_);
        for (Pending* p : pending_)
          if (p->generation == old_generation) left.push_back(p);
      }
      for (Pending* p : left)
        answer(p, Delivery::retry("kafka: the producer failed (fatal error) before the broker "
                                  "acknowledged"));
    }
    const milliseconds backoff = backoff_;
    backoff_ = std::min(backoff_ * 2, milliseconds(30000));
    host().state(State::connecting, "recreating the producer after a fatal error, in " +
                                        std::to_string(backoff.count()) + " ms");
    if (!pause(backoff)) return;  // stop() is waiting; it answers the rest
    rd_kafka_t* fresh = nullptr;
    try {
      fresh = make_producer();
    } catch (const std::exception& e) {
      host().error(std::string(e.what()) + "; trying again");
      return;  // fatal_ stays set: the next round tries again, after a longer back-off
    }
    {
      std::unique_lock lock(produce_mu_);
      rk_ = fresh;
      ++generation_;
      fatal_ = false;
      state_.store(0);
    }
    host().metric("kafka.producers_recreated");
    host().info("kafka: producer recreated after a fatal error (producer number " +
                std::to_string(generation_ + 1) + " of this sink)");
  }

  size_t outstanding() {
    std::lock_guard lock(pending_mu_);
    return pending_.size();
  }

  void produce(const std::shared_ptr<BatchState>& state, size_t index, const sluice_event& ev) {
    auto* p = new Pending{state, index, generation_};
    {
      std::lock_guard lock(pending_mu_);
      pending_.insert(p);
    }
    Record r = make_record(ev, config_.mode, config_.topic, config_.key);
    if (auto why = topic_problem(r.topic)) {
      host().metric("kafka.topics_refused");
      return answer(p, Delivery::reject("kafka: topic template '" + config_.topic + "': " + *why));
    }
    rd_kafka_headers_t* headers = rd_kafka_headers_new(r.headers.size());
    for (const auto& [name, value] : r.headers)
      rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                          static_cast<ssize_t>(value.size()));
    // (The RD_KAFKA_V_* macros cast their arguments without parentheses: plain variables only.)
    void* value = r.value ? r.value->data() : nullptr;
    const size_t value_size = r.value ? r.value->size() : 0;
    const void* key = r.key ? r.key->data() : nullptr;
    const size_t key_size = r.key ? r.key->size() : 0;
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        rk_, RD_KAFKA_V_TOPIC(r.topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE(value, value_size), RD_KAFKA_V_KEY(key, key_size),
        RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(p), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      host().metric("kafka.records_produced");
      return;
    }
    rd_kafka_headers_destroy(headers);  // only a produced record takes them over
    host().metric("kafka.produce_refused");
    const std::string reason = "kafka: " + r.topic + ": " + rd_kafka_err2str(err);
    answer(p, classify(err) == Answer::reject ? Delivery::reject(reason, err)
                                              : Delivery::retry(reason, 100, err));
  }

  // Answers one record's event, once: the first answer (delivery report, refusal, or stop's
  // clean-up) takes it out of the pending set.
  void answer(Pending* p, Delivery d) {
    {
      std::lock_guard lock(pending_mu_);
      if (pending_.erase(p) == 0) return;
    }
    std::unique_ptr<Pending> owned(p);
    BatchState& b = *p->batch;
    b.answers[p->index] = std::move(d);
    if (b.remaining.fetch_sub(1, std::memory_order_acq_rel) == 1)
      b.done(Delivery::per_event(std::move(b.answers)));
  }

  static void on_delivery(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<KafkaSink*>(opaque);
    auto* p = static_cast<Pending*>(m->_private);
    // A producer after a fatal error fails what it holds with whatever error caused it (e.g.
    // OUT_OF_ORDER_SEQUENCE_NUMBER, CLUSTER_AUTHORIZATION_FAILED): not the record's fault, and
    // the next producer may well deliver it.
    char fatal[8];
    const bool failed_producer = rd_kafka_fatal_error(rk, fatal, sizeof fatal) != 0;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      // (Acknowledged by the broker, even if the producer failed since: delivered.)
      self->host().metric("kafka.records_acknowledged");
      if (!failed_producer) {
        self->backoff_ = kInitialBackoff;  // this producer works
        if (self->state_.exchange(1) != 1) self->host().state(State::up);
      }
      return self->answer(p, Delivery::ok());
    }
    const std::string reason =
        "kafka: " + std::string(rd_kafka_topic_name(m->rkt)) + ": " + rd_kafka_err2str(m->err);
    if (!failed_producer && classify(m->err) == Answer::reject) {
      self->host().metric("kafka.records_rejected");
      return self->answer(p, Delivery::reject(reason, m->err));
    }
    self->host().metric("kafka.records_retried");
    if (!failed_producer && self->state_.load() < 3 && self->state_.exchange(2) != 2)
      self->host().state(State::degraded, reason);
    self->answer(p, Delivery::retry(reason, 0, m->err));
  }

  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    auto* self = static_cast<KafkaSink*>(opaque);
    const std::string text = std::string("kafka: ") +
                             rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)) + ": " +
                             reason;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      char fatal[512];
      rd_kafka_fatal_error(rk, fatal, sizeof fatal);
      self->host().error(text + " (" + fatal +
                         "): this producer cannot go on; its records are answered retry and a "
                         "new producer takes its place");
      self->state_.store(3);
      self->host().state(State::down, fatal);
      self->fatal_ = true;  // the poll thread replaces the producer
      return;
    }
    self->host().warn(text);
    // The brokers refuse who we are (SASL) or cannot be trusted (TLS: certificate verification,
    // host name): nothing gets through until that changes. librdkafka keeps trying.
    if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION || err == RD_KAFKA_RESP_ERR__SSL) {
      if (self->state_.exchange(4) != 4) self->host().state(State::down, text);
      return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && self->state_.load() < 3 &&
        self->state_.exchange(2) != 2)
      self->host().state(State::degraded, text);
  }

  static void on_log(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
    auto* self = static_cast<KafkaSink*>(rd_kafka_opaque(rk));
    const std::string line = std::string("kafka: ") + fac + ": " + buf;
    if (level <= 3)
      self->host().error(line);
    else if (level == 4)
      self->host().warn(line);
    else if (level <= 6)
      self->host().info(line);
    else
      self->host().debug(line);
  }

  static constexpr milliseconds kInitialBackoff{100};

  Config config_;
  std::string client_id_;
  // Written by the poll thread only (or with it stopped), under produce_mu_ held exclusively;
  // null while a producer that failed is being replaced.
  rd_kafka_t* rk_ = nullptr;
  uint64_t generation_ = 0;                // the producer's number, from 0 (produce_mu_)
  std::atomic<bool> fatal_{false};         // librdkafka reported a fatal error: replace rk_
  milliseconds backoff_{kInitialBackoff};  // before the next replacement (poll thread)
  std::thread poller_;
  std::atomic<bool> poll_stop_{false};
  bool running_ = false;
  std::shared_mutex produce_mu_;  // deliveries (shared) against stop (exclusive)
  bool stopping_ = true;          // until start(), and from stop() on
  std::mutex pending_mu_;
  std::unordered_set<Pending*> pending_;
  // The state last reported: 0 none yet, 1 up, 2 degraded, 3 down (fatal error), 4 down (SASL
  // or TLS refused); a record timing out does not turn down into degraded.
  std::atomic<int> state_{0};
};

const char* options_schema() {
  static const std::string schema = [] {
    nlohmann::json s = nlohmann::json::parse(R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["brokers", "topic"],
  "x-sluice-cleartext": {"required": ["sasl"], "not": {"anyOf": [{"required": ["tls"]}, {"required": ["properties"], "properties": {"properties": {"required": ["security.protocol"], "properties": {"security.protocol": {"pattern": "[Ss][Ss][Ll]"}}}}}]}},
  "properties": {
    "brokers": {"anyOf": [{"type": "string", "minLength": 1}, {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}], "description": "bootstrap brokers: \"host:port,host:port\" or a list"},
    "topic": {"type": "string", "minLength": 1, "description": "topic; {type} {source} {subject} {id} are replaced by the event's"},
    "key": {"type": "string", "default": "{subject}", "description": "record key, a template like topic; empty after expansion: no key. The subject keeps each resource's events in one partition, in order"},
    "mode": {"type": "string", "enum": ["binary", "structured"], "default": "binary", "description": "CloudEvents Kafka binding: binary (ce_* headers, data as value) or structured (application/cloudevents+json value)"},
    "compression": {"type": "string", "enum": ["none", "gzip", "snappy", "lz4", "zstd"], "default": "none"},
    "idempotent": {"type": "boolean", "default": true, "description": "idempotent producer: no duplicates and no reordering from librdkafka's own retries"},
    "acks": {"type": "string", "enum": ["all", "leader", "none"], "default": "all", "description": "acknowledgement the broker gives: all in-sync replicas, the leader only, none"},
    "partitioner": {"type": "string", "enum": ["murmur2_random", "murmur2", "consistent_random", "consistent", "fnv1a_random", "fnv1a", "random"], "default": "murmur2_random", "description": "librdkafka partitioner; murmur2_random picks what Java clients pick for a key"},
    "max_in_flight": {"type": "integer", "minimum": 1, "maximum": 1024, "default": 8, "description": "batches being produced at once"},
    "tls": {"type": "object", "additionalProperties": false, "description": "TLS to the brokers (security.protocol ssl, or sasl_ssl with sasl)", "properties": {
      "verify": {"type": "boolean", "default": true, "x-sluice-unverified": {"const": false}, "description": "verify the brokers' certificates and host names"},
      "ca_file": {"type": "string", "x-sluice-path": true, "description": "PEM file of trusted CAs (default: the system's); relative to the pipeline file's folder"},
      "cert_file": {"type": "string", "x-sluice-path": true, "description": "client certificate (PEM) for mutual TLS"},
      "key_file": {"type": "string", "x-sluice-path": true, "description": "its private key (PEM)"},
      "key_password": {"type": "string", "writeOnly": true, "description": "password of key_file"}}},
    "sasl": {"type": "object", "additionalProperties": false, "description": "SASL authentication (security.protocol sasl_ssl with tls, else sasl_plaintext)", "properties": {
      "mechanism": {"type": "string", "enum": ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"], "default": "SCRAM-SHA-512"},
      "username": {"type": "string"},
      "password": {"type": "string", "writeOnly": true}}},
    "properties": {"type": "object", "description": "librdkafka properties, passed as they are after the options above (they win); values that are secrets by name are hidden in logs",
      "additionalProperties": {"type": ["string", "number", "boolean"]},
      "properties": {
        "sasl.password": {"type": "string", "writeOnly": true},
        "ssl.key.password": {"type": "string", "writeOnly": true},
        "ssl.key.pem": {"type": "string", "writeOnly": true},
        "ssl.keystore.password": {"type": "string", "writeOnly": true},
        "sasl.oauthbearer.client.secret": {"type": "string", "writeOnly": true},
        "sasl.oauthbearer.config": {"type": "string", "writeOnly": true}}}
  }
})json");
    const std::pair<const char*, const char*> durations[] = {
        {"delivery_timeout", "30s"}, {"linger", "5ms"}, {"flush_timeout", "10s"}};
    for (const auto& [key, fallback] : durations) {
      s["properties"][key] = nlohmann::json::parse(kDurationSchema);
      s["properties"][key]["default"] = fallback;
    }
    s["properties"]["delivery_timeout"]["description"] =
        "how long librdkafka tries a record (message.timeout.ms) before its event is answered "
        "retry";
    s["properties"]["linger"]["description"] =
        "how long records wait to fill a request (linger.ms)";
    s["properties"]["flush_timeout"]["description"] =
        "at stop, how long queued records may take to be acknowledged; the rest is answered retry";
    return s.dump();
  }();
  return schema.c_str();
}

}  // namespace
}  // namespace sluice::kafka

SLUICE_PLUGIN(sluice::kafka::KafkaSink, "kafka", "1.0.0",
              "Produces events to Apache Kafka (CloudEvents Kafka binding, idempotent, acks=all)",
              sluice::kafka::options_schema())
