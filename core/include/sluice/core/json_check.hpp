// JSON checks on the emit path: is an event's data valid JSON, and how to carry text that is not.
#pragma once

#include <string>
#include <string_view>

namespace sluice::core {

// True when text is exactly one valid JSON value (RFC 8259, UTF-8 checked, surrounding
// whitespace allowed). This is the one the host uses; see docs/runtime.md for why.
bool json_valid(std::string_view text);

// The same for text followed by a NUL byte (text[size] == '\0', as in the core's own event
// copies): lets the validator use its fastest input stream.
bool json_valid_terminated(const char* text, size_t size);

// True when text is valid UTF-8 (RFC 3629); ASCII runs are checked eight bytes at a time.
bool utf8_valid(std::string_view text);

// The two candidates measured in bench/bus (json_valid is one of them).
bool json_valid_rapidjson(std::string_view text);
bool json_valid_nlohmann(std::string_view text);

// Appends text as a JSON string; bytes that are not valid UTF-8 become U+FFFD, so the result
// is always valid JSON whatever the input.
void append_json_string_lossy(std::string& out, std::string_view text);

}  // namespace sluice::core
