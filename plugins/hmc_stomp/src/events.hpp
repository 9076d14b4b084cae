// HMC notification frames → sluice events. Pure functions: the event mapping is tested without
// a socket, frame in, events out.
#pragma once

#include "inventory.hpp"
#include "stomp_frame.hpp"

#include <sluice/event.hpp>
#include <sluice/framework_events.hpp>
#include <sluice/packed_events.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::hmc {

// Checks text is one valid JSON value (sluice::json_valid); for invalid text, RapidJSON's
// iterative reader says why, with the byte offset. Returns nullopt for valid JSON.
std::optional<std::string> json_error(std::string_view text);

// "hmc://host", IPv6 addresses in brackets.
std::string source_uri(const std::string& host);

// session-sequence-nr per topic (keyed by destination). Kept across reconnects: the HMC numbers
// a topic for the life of the session it belongs to, so the first number after an outage says
// exactly how many notifications were published while sluice was away.
class SequenceTracker {
 public:
  struct Gap {
    uint64_t expected;
    uint64_t received;
    bool restarted = false;    // after an outage the numbering went back: the loss is unknown
    int64_t from_unix_ns = 0;  // the outage the gap happened in; 0 inside a connection
    int64_t to_unix_ns = 0;
  };
  // A jump forward returns the gap. Inside a connection a lower number (restart or wrap)
  // restarts tracking quietly; as the first number after an outage it is a gap of unknown size.
  std::optional<Gap> observe(std::string_view stream, uint64_t nr);
  // The connection was lost at `from` and works again at `to` (unix ns): the next number of each
  // known stream is compared with the last one seen before the outage.
  void outage(int64_t from_unix_ns, int64_t to_unix_ns);
  // Forget every stream, or one (a new session numbers its topics afresh).
  void reset() { next_.clear(); }
  void forget(std::string_view stream);

 private:
  struct Entry {
    std::string stream;
    uint64_t next;
    int64_t from_unix_ns = 0;  // non-zero: the next number is the first after this outage
    int64_t to_unix_ns = 0;
  };
  // A connection has a handful of subscriptions: a flat list beats a hash map.
  std::vector<Entry> next_;
};

// Values the plugin must never show: the WS API session id (the STOMP login with mfa, and valid
// as X-API-Session) and the session credential. A peer may echo them ("User name [<id>] or
// password is invalid."), so every peer text bound for a log line, a state detail or an event
// goes through scrub(). The core redacts the configured secrets; these exist only at run time.
class Secrets {
 public:
  void add(const std::string& value);
  std::string scrub(std::string_view text) const;
  bool empty() const { return values_.empty(); }

 private:
  std::vector<std::string> values_;  // the latest few sessions' values, longest first
  std::vector<std::string> added_;   // the same, oldest first
};

struct MapStats {
  uint64_t parse_errors = 0;
  uint64_t gaps = 0;
  uint64_t missed = 0;        // of the gaps with a known size
  uint64_t unknown_gaps = 0;  // numbering restarted during an outage: size unknown
  uint64_t unknown_type = 0;
  uint64_t lists_not_split = 0;  // split_lists: lists too large to split, delivered whole
};

// Maps one MESSAGE frame to its events (appended to `out`): an optional sluice.gap, then the
// notification (or one per list entry with split_lists), or a sluice.parse-error. Copies what it
// needs out of `frame`, which may point into a read buffer. `hmc` (if not empty): the HMC that
// delivered the frame, added to each notification after the headers, as `hmc`. `inventory` (if
// given): the names of the notification's object (its object-uri, or the OS message channel of
// its destination) follow as `cpc` and `partition`, each only when known.
void map_message(const stomp::FrameView& frame, const std::string& source, bool split_lists,
                 SequenceTracker& seq, sluice::PackedEvents& out, MapStats& stats,
                 std::string_view hmc = {}, const Inventory* inventory = nullptr);

// sluice.error for an ERROR frame; `destination` is the topic concerned where known. The
// frame's headers become attributes; all its text is scrubbed of `secrets`.
sluice::Event error_event(const stomp::FrameView& frame, const std::string& source, std::string id,
                          const std::optional<std::string>& destination, const Secrets& secrets);

}  // namespace sluice::hmc
