// libFuzzer target for the fake ldmd's script parser (a test engineer's JSON lines) and the
// rendering of every event step it accepts. Properties: no crash, no sanitizer report, a bad
// script is refused only with std::invalid_argument (naming the line).
#include <sluice/fakes/ldmd.hpp>

#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(bytes), size);
  try {
    for (const auto& step : sluice::fakes::ldmd::parse_script(text)) {
      if (step.kind != sluice::fakes::ldmd::Step::Kind::event) continue;
      (void)sluice::fakes::ldmd::event_class(step);
      (void)sluice::fakes::ldmd::render_event(step);
    }
  } catch (const std::invalid_argument&) {
    // a refused script: the only way parse_script may fail
  }
  return 0;
}
