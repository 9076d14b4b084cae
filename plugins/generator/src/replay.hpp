// Reading back what the file sink's `json` format writes (sluice's own JSON form), one line at a
// time, and RFC 3339 timestamps. Pure functions: unit-tested and fuzzed without a plugin.
#pragma once

#include <sluice/event.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::generator {

// "2023-11-14T22:15:23.456Z", "2023-11-14t22:15:23+01:00", "2023-11-14 22:15:23.123456789Z"
// → nanoseconds since the epoch; nullopt if the text is not an RFC 3339 date-time.
std::optional<int64_t> parse_rfc3339(std::string_view text);

// One line of sluice's JSON form → `out` (its strings reuse their capacity). On failure returns
// false and says why in `error`; `out` is then unspecified.
bool parse_replay_line(std::string_view line, Event& out, std::string& error);

}  // namespace sluice::generator
