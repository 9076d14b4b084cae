// The framework's own events — sluice.gap, sluice.reconnected, sluice.parse-error, sluice.error —
// built in one place, so that every source (and the core) gives each reserved type the same
// shape. docs/events.md documents the data of each; a receiver can rely on it whatever the
// source.
//
// Ids: an id a source makes up (not the peer's message id) must be unique across restarts, or a
// receiver that de-duplicates (the webhook's Idempotency-Key) drops a new event as a repeat.
// EventIds gives each instance a random token, so "reconnected-<token>-1" of one run never
// equals that of the next.
//
// Header-only, C++17.
#pragma once

#include <sluice/event.hpp>
#include <sluice/format.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/random.h>
#endif

namespace sluice {

namespace event_types {
inline constexpr std::string_view gap = "sluice.gap";
inline constexpr std::string_view reconnected = "sluice.reconnected";
inline constexpr std::string_view parse_error = "sluice.parse-error";
inline constexpr std::string_view error = "sluice.error";
}  // namespace event_types

// 16 lower-case hex digits (64 bits) from the operating system's random source (getrandom on
// Linux, std::random_device elsewhere). Not a secret; only unpredictable enough never to repeat.
inline std::string random_token() {
  uint64_t v = 0;
  bool have = false;
#if defined(__linux__)
  unsigned char buf[sizeof v];
  size_t got = 0;
  while (got < sizeof buf) {
    const ssize_t n = getrandom(buf + got, sizeof buf - got, 0);
    if (n <= 0) break;  // EINTR or no getrandom: fall back below
    got += static_cast<size_t>(n);
  }
  if (got == sizeof buf) {
    for (unsigned char b : buf)
      v = (v << 8) | b;
    have = true;
  }
#endif
  if (!have) {
    std::random_device rd;
    v = (static_cast<uint64_t>(rd()) << 32) ^ static_cast<uint64_t>(rd());
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4)
    out[static_cast<size_t>(i)] = hex[v & 0xf];
  return out;
}

// Ids for events a source makes up: "<kind>-<token>-<n>", the token random per EventIds object
// (one per plugin instance, or per runtime), n counting from 1. Thread-safe.
class EventIds {
 public:
  EventIds() : token_(random_token()) {}
  // A fixed token, for tests only: ids then repeat across runs.
  explicit EventIds(std::string token) : token_(std::move(token)) {}

  const std::string& token() const { return token_; }

  std::string next(std::string_view kind) {
    const uint64_t n = counter_.fetch_add(1, std::memory_order_relaxed) + 1;
    std::string id;
    id.reserve(kind.size() + token_.size() + 22);
    id.append(kind);
    id += '-';
    id += token_;
    id += '-';
    id += std::to_string(n);
    return id;
  }

 private:
  std::string token_;
  std::atomic<uint64_t> counter_{0};
};

inline int64_t now_unix_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace framework_events {

namespace detail {
inline void key(std::string& out, std::string_view k, bool first = false) {
  if (!first) out += ',';
  append_json_string(out, k);
  out += ':';
}
inline void opt_string(std::string& out, const std::optional<std::string>& s) {
  if (s)
    append_json_string(out, *s);
  else
    out += "null";
}
inline void opt_uint(std::string& out, const std::optional<uint64_t>& v) {
  if (v)
    out += std::to_string(*v);
  else
    out += "null";
}
inline void opt_time(std::string& out, int64_t unix_ns) {
  if (unix_ns == 0) {
    out += "null";
    return;
  }
  out += '"';
  append_rfc3339(out, unix_ns);
  out += '"';
}
inline Event make(std::string id, std::string source, std::string_view type) {
  Event e;
  e.id = std::move(id);
  e.source = std::move(source);
  e.type = std::string(type);
  return e;
}
}  // namespace detail

// ---- sluice.parse-error ------------------------------------------------------------------------
// Something arrived that could not be read; the stream goes on. data:
//   {"error": why it could not be read, "raw": the text as received}
// `raw` is always a string: bytes that are not UTF-8 become U+FFFD. Where the text came from
// (file and line, the original event type, the peer's headers) goes into attributes.
inline std::string parse_error_data(std::string_view error, std::string_view raw) {
  std::string out;
  out.reserve(raw.size() + error.size() + 24);
  out += '{';
  detail::key(out, "error", true);
  append_json_string(out, error);
  detail::key(out, "raw");
  append_json_string(out, raw);
  out += '}';
  return out;
}

inline Event parse_error(std::string id, std::string source, std::string_view error,
                         std::string_view raw) {
  Event e = detail::make(std::move(id), std::move(source), event_types::parse_error);
  e.data = parse_error_data(error, raw);
  return e;
}

// ---- sluice.gap --------------------------------------------------------------------------------
// Events the peer numbered were not received. data:
//   {"missed": n | null, "expected": n | null, "received": n | null, "stream": s | null,
//    "from": t | null, "to": t | null, "reason": text}
// missed: how many were lost, null when the number cannot be known (the numbering restarted, or
// a new session began); expected/received: the sequence number awaited and the one that came;
// stream: the numbered stream (an HMC topic's destination), null for the whole source;
// from/to: the outage during which they were lost (RFC 3339), null for a gap inside a working
// connection.
struct Gap {
  std::optional<uint64_t> missed;
  std::optional<uint64_t> expected;
  std::optional<uint64_t> received;
  std::optional<std::string> stream;
  int64_t from_unix_ns = 0;  // 0: no outage window
  int64_t to_unix_ns = 0;
  std::string reason;
};

inline std::string gap_data(const Gap& g) {
  std::string out = "{";
  detail::key(out, "missed", true);
  detail::opt_uint(out, g.missed);
  detail::key(out, "expected");
  detail::opt_uint(out, g.expected);
  detail::key(out, "received");
  detail::opt_uint(out, g.received);
  detail::key(out, "stream");
  detail::opt_string(out, g.stream);
  detail::key(out, "from");
  detail::opt_time(out, g.from_unix_ns);
  detail::key(out, "to");
  detail::opt_time(out, g.to_unix_ns);
  detail::key(out, "reason");
  append_json_string(out, g.reason);
  out += '}';
  return out;
}

inline Event gap(std::string id, std::string source, const Gap& g) {
  Event e = detail::make(std::move(id), std::move(source), event_types::gap);
  if (g.stream) e.subject = *g.stream;
  e.data = gap_data(g);
  return e;
}

// ---- sluice.reconnected ------------------------------------------------------------------------
// A lost connection works again. data:
//   {"reconnects": n, "attempts": n, "reason": text, "from": t | null, "to": t,
//    "resubscribed": [names]}
// reconnects: reconnections of this instance so far (1 for the first); attempts: connection
// attempts it took, the successful one included; reason: why the last working connection ended;
// from: when it ended; to: when the connection worked again; resubscribed: the topics or
// registrations set up again.
struct Reconnected {
  uint64_t reconnects = 0;
  uint64_t attempts = 0;
  std::string reason;
  int64_t from_unix_ns = 0;
  int64_t to_unix_ns = 0;
  std::vector<std::string> resubscribed;
};

inline std::string reconnected_data(const Reconnected& r) {
  std::string out = "{";
  detail::key(out, "reconnects", true);
  out += std::to_string(r.reconnects);
  detail::key(out, "attempts");
  out += std::to_string(r.attempts);
  detail::key(out, "reason");
  append_json_string(out, r.reason);
  detail::key(out, "from");
  detail::opt_time(out, r.from_unix_ns);
  detail::key(out, "to");
  detail::opt_time(out, r.to_unix_ns);
  detail::key(out, "resubscribed");
  out += '[';
  for (size_t i = 0; i < r.resubscribed.size(); ++i) {
    if (i) out += ',';
    append_json_string(out, r.resubscribed[i]);
  }
  out += "]}";
  return out;
}

inline Event reconnected(std::string id, std::string source, const Reconnected& r) {
  Event e = detail::make(std::move(id), std::move(source), event_types::reconnected);
  e.data = reconnected_data(r);
  return e;
}

// ---- sluice.error ------------------------------------------------------------------------------
// The peer reported an error, or part of the source cannot work. data:
//   {"message": text, "stream": s | null, "detail": text | null}
// stream: the topic or registration concerned, null when the whole source is; detail: the
// peer's longer explanation (an ERROR frame's body), null when there is none. Never put a
// credential here: a source scrubs peer text that may echo one.
struct Error {
  std::string message;
  std::optional<std::string> stream;
  std::optional<std::string> detail;
};

inline std::string error_data(const Error& err) {
  std::string out = "{";
  detail::key(out, "message", true);
  append_json_string(out, err.message);
  detail::key(out, "stream");
  detail::opt_string(out, err.stream);
  detail::key(out, "detail");
  detail::opt_string(out, err.detail);
  out += '}';
  return out;
}

inline Event error(std::string id, std::string source, const Error& err) {
  Event e = detail::make(std::move(id), std::move(source), event_types::error);
  if (err.stream) e.subject = *err.stream;
  e.data = error_data(err);
  return e;
}

}  // namespace framework_events
}  // namespace sluice
