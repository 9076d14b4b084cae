// HMC notification frames → sluice events. Pure functions: the event mapping is tested without
// a socket, frame in, events out.
#pragma once

#include "stomp_frame.hpp"

#include <sluice/event.hpp>
#include <sluice/packed_events.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hmc {

// Checks text is one valid JSON value (sluice::json_valid); for invalid text, RapidJSON's
// iterative reader says why, with the byte offset. Returns nullopt for valid JSON.
std::optional<std::string> json_error(std::string_view text);

// "hmc://host", IPv6 addresses in brackets.
std::string source_uri(const std::string& host);

// session-sequence-nr per subscription; starts afresh on every connection.
class SequenceTracker {
 public:
  struct Gap {
    uint64_t expected;
    uint64_t received;
  };
  // A jump forward returns the gap; a lower number (restart or wrap) restarts tracking quietly.
  std::optional<Gap> observe(std::string_view subscription, uint64_t nr);
  void reset() { next_.clear(); }

 private:
  // A connection has a handful of subscriptions: a flat list beats a hash map.
  std::vector<std::pair<std::string, uint64_t>> next_;
};

struct MapStats {
  uint64_t parse_errors = 0;
  uint64_t gaps = 0;
  uint64_t missed = 0;
  uint64_t unknown_type = 0;
  uint64_t lists_not_split = 0;  // split_lists: lists too large to split, delivered whole
};

// Maps one MESSAGE frame to its events (appended to `out`): an optional sluice.gap, then the
// notification (or one per list entry with split_lists), or a sluice.parse-error. Copies what it
// needs out of `frame`, which may point into a read buffer.
void map_message(const stomp::FrameView& frame, const std::string& source, bool split_lists,
                 SequenceTracker& seq, sluice::PackedEvents& out, MapStats& stats);

// sluice.error for an ERROR frame; `destination` is the topic concerned where known.
sluice::Event error_event(const stomp::FrameView& frame, const std::string& source, uint64_t n,
                          const std::optional<std::string>& destination);

// sluice.reconnected for the n-th reconnect.
sluice::Event reconnected_event(const std::string& source, uint64_t n, const std::string& reason);

}  // namespace hmc
