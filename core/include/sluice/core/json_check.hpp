// JSON checks on the emit path: is an event's data valid JSON, and how to carry text that is not.
#pragma once

#include <string>
#include <string_view>

namespace sluice::core {

// True when text is exactly one valid JSON value (RFC 8259, UTF-8 checked, surrounding
// whitespace allowed). This is the one the host uses; see docs/runtime.md for why.
bool json_valid(std::string_view text);

// The two candidates measured in bench/bus (json_valid is one of them).
bool json_valid_rapidjson(std::string_view text);
bool json_valid_nlohmann(std::string_view text);

// Appends text as a JSON string; bytes that are not valid UTF-8 become U+FFFD, so the result
// is always valid JSON whatever the input.
void append_json_string_lossy(std::string& out, std::string_view text);

}  // namespace sluice::core
