// Pieces of the webhook sink that need no network: URL parsing, Retry-After, gzip, the HMAC
// signature, idempotency keys and header templates. Kept apart so they are unit-tested and
// fuzzed on their own.
#pragma once

#include <sluice/plugin.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::webhook {

struct Url {
  bool tls = false;
  std::string host;          // without brackets for IPv6 literals
  std::string port;          // always set (80 / 443 by default)
  std::string target = "/";  // path and query
  std::string host_header;   // host[:port] as the Host header wants it
};

// http://host[:port][/path][?query] or https://...; throws std::invalid_argument saying why.
Url parse_url(std::string_view text);

// Retry-After: delta-seconds or an HTTP date (IMF-fixdate, RFC 850 or asctime). Returns the
// delay in milliseconds from `now` (0 for dates in the past); nullopt when it cannot be read.
std::optional<uint64_t> parse_retry_after(std::string_view value,
                                          std::chrono::system_clock::time_point now);

// gzip (RFC 1952) of data, as Content-Encoding: gzip wants it.
std::string gzip(std::string_view data, int level = 6);
// The reverse, for tests and the receiver; throws std::runtime_error on bad input.
std::string gunzip(std::string_view data);

// Lower-case hex of HMAC-SHA256(secret, timestamp + "." + body): the v1 signature.
std::string sign_v1(std::string_view secret, std::string_view timestamp, std::string_view body);

// Stable across retries because it depends only on the events' (source, id) pairs: the first
// 16 bytes of SHA-256 over "source\nid\n" of each event, in hex (32 characters).
std::string idempotency_key(const sluice_event* events, size_t count);

// Why `value` cannot be an HTTP header value, or nullopt when it can: it must hold no control
// character (0x00-0x1F, 0x7F; CR and LF would end the header and inject others).
std::optional<std::string> header_value_problem(std::string_view value);
// Whether `name` is an HTTP token (RFC 9110 5.1), as a header name must be.
bool is_header_name(std::string_view name);

// What a receiver's answer means for the request.
enum class Action { ok, retry, reject };
struct Outcome {
  Action action = Action::ok;
  int status = 0;
  uint32_t retry_after_ms = 0;
  std::string reason;
  // Bodies whose response answers each event (splunk-hec, elasticsearch-bulk): one outcome per
  // event of the request, in its order; empty: the fields above answer the whole request.
  std::vector<Outcome> events;
};
// The first 200 bytes of a body for a reason text, control characters as spaces.
std::string snippet(std::string_view body);
// The outcome of an HTTP response: status_map first, then 2xx ok, 408 / 429 / 5xx retry (with
// Retry-After), every other status reject; the reason quotes the status and a body snippet.
Outcome classify_response(int status, std::string_view reason_phrase, std::string_view body,
                          std::optional<std::string_view> retry_after,
                          const std::map<int, Action>& status_map,
                          std::chrono::system_clock::time_point now);

// Base64 (RFC 4648, with padding), for basic auth.
std::string base64(std::string_view data);

}  // namespace sluice::webhook
