// libFuzzer target: any line of a replay file (and any fixed_time text) must give an event or an
// error, never a crash; a line that parses must give data that is valid JSON again.
#include "replay.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)sluice::generator::parse_rfc3339(text);
  sluice::Event e;
  std::string error;
  if (sluice::generator::parse_replay_line(text, e, error)) {
    if (e.id.empty() || e.source.empty() || e.type.empty()) std::abort();
    if (e.data && !nlohmann::json::accept(*e.data)) std::abort();
  } else if (error.empty()) {
    std::abort();
  }
  return 0;
}
