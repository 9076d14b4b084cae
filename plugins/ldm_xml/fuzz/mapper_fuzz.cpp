// libFuzzer target: LDM_event mapping and response/feature parsing. Whatever comes in, the
// mapper returns an event whose data is valid JSON.
#include "ldm_event_mapper.hpp"
#include "ldm_protocol.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view xml(reinterpret_cast<const char*>(data), size);
  static const sluice::ldm::EventMapper mapper("fuzz-host");
  sluice::Event e = mapper.map(xml, "fuzz-1-1");
  if (e.type.empty() || !e.data) abort();
  if (!nlohmann::json::accept(*e.data)) abort();
  if (e.type != "sluice.parse-error" && e.type.rfind("ldm.", 0) != 0) abort();
  sluice::ldm::parse_response(xml);
  sluice::ldm::parse_features(xml);
  sluice::ldm::element_summary(xml);
  return 0;
}
