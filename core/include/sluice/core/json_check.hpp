// JSON checks on the emit path: is an event's data valid JSON, and how to carry text that is not.
#pragma once

#include <string>
#include <string_view>

namespace sluice::core {

// The host checks an event's data with sluice::json_valid (sdk/include/sluice/json_check.hpp).
// The two library validators it was measured against in bench/bus:
bool json_valid_rapidjson(std::string_view text);
bool json_valid_nlohmann(std::string_view text);

// Appends text as a JSON string; bytes that are not valid UTF-8 become U+FFFD, so the result
// is always valid JSON whatever the input.
void append_json_string_lossy(std::string& out, std::string_view text);

}  // namespace sluice::core
