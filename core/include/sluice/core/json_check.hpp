// The JSON validators the host's own check (sluice::json_valid) was measured against.
#pragma once

#include <string_view>

namespace sluice::core {

// The host checks an event's data with sluice::json_valid (sdk/include/sluice/json_check.hpp).
// The two library validators it was measured against in bench/bus:
bool json_valid_rapidjson(std::string_view text);
bool json_valid_nlohmann(std::string_view text);

}  // namespace sluice::core
