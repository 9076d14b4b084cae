// A programmable HTTP(S) test receiver on loopback for the webhook sink's tests and benchmark.
// It answers each request from a script (per request), a time window or a default, can hang,
// close the connection or be down, and records every request with its body decoded.
#pragma once

#include <sluice/tls.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sluice::webhook::testing {

struct Answer {
  enum class Kind { respond, hang, close } kind = Kind::respond;
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds delay{0};  // wait this long before answering

  static Answer ok() { return {}; }
  static Answer with_status(int status, std::string body = {}) {
    Answer a;
    a.status = status;
    a.body = std::move(body);
    return a;
  }
  static Answer retry_after(int status, std::string value) {
    Answer a = with_status(status);
    a.headers.emplace_back("Retry-After", std::move(value));
    return a;
  }
  static Answer hang() {
    Answer a;
    a.kind = Kind::hang;
    return a;
  }
  static Answer close() {
    Answer a;
    a.kind = Kind::close;
    return a;
  }
  static Answer delayed(std::chrono::milliseconds d, int status = 200) {
    Answer a = with_status(status);
    a.delay = d;
    return a;
  }
};

struct Recorded {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string raw_body;                        // as received
  std::string body;                            // Content-Encoding: gzip undone
  uint64_t connection = 0;                     // 1, 2, ... in accept order
  bool client_certificate = false;             // TLS: the client presented a certificate
  int answered = 0;                            // the status sent, 0 for hang / close

  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct ReceiverOptions {
  bool tls = false;
  tls::CertificatePem certificate;  // the server's; generated when empty
  bool require_client_certificate = false;
  std::string client_ca_pem;  // CA that client certificates must chain to
  bool record_bodies = true;  // the benchmark turns this off
};

class Receiver {
 public:
  explicit Receiver(ReceiverOptions options = {});
  ~Receiver();
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  uint16_t port() const;
  std::string url(const std::string& path = "/hook") const;  // http(s)://127.0.0.1:<port><path>
  const tls::CertificatePem& certificate() const;

  // The next requests get these answers, one each, in order.
  void script(std::vector<Answer> answers);
  // Until `window` has passed, requests the script does not cover get `answer`.
  void answer_for(Answer answer, std::chrono::milliseconds window);
  // What everything else gets (200 with an empty body unless set).
  void set_default(Answer answer);
  // A request whose body is one CloudEvent (body: cloudevents) with this subject gets `answer`
  // (the script still comes first; the window and the default are not asked).
  void answer_subject(std::string subject, Answer answer);
  // Every request the script does not cover is answered by `respond` (an emulated API, see
  // emulators.hpp), called on the receiver's thread; the subject answers, the window and the
  // default are not asked. An empty function turns it off.
  void respond_with(std::function<Answer(const Recorded&)> respond);

  // Stop listening and drop every connection (the sink then sees "connection refused"); come_up
  // listens on the same port again.
  void go_down();
  void come_up();

  std::vector<Recorded> requests() const;
  size_t request_count() const;
  bool wait_for_requests(size_t n, std::chrono::milliseconds timeout) const;
  uint64_t connections_accepted() const;
  size_t max_concurrent() const;     // most requests waiting for their answer at the same time
  uint64_t events_received() const;  // JSON array elements / lines over all recorded bodies

  struct Impl;  // public only so the per-connection sessions in receiver.cpp can name it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::webhook::testing
