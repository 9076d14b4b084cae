// libFuzzer target for the fake HMC's scenario reader (a test engineer's JSON: users, CPCs,
// partitions, topics, STOMP settings). Properties: no crash, no sanitizer report, and a scenario
// that is JSON but not a valid one is refused only with std::invalid_argument naming the key.
#include "model.hpp"

#include <cstdint>
#include <stdexcept>
#include <string_view>

#include <nlohmann/json.hpp>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(bytes), size);
  const nlohmann::json scenario = nlohmann::json::parse(text, nullptr, false);
  if (scenario.is_discarded()) return 0;
  try {
    sluice::fakes::hmc::Model model(scenario);
    (void)model.find_user("hmcuser");
  } catch (const std::invalid_argument&) {
    // a refused scenario: the only way the reader may fail
  }
  return 0;
}
