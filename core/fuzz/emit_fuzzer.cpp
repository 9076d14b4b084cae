// libFuzzer target for what the emit path does with a plugin's bytes: the JSON check (data),
// checked against nlohmann::json::accept, the data of a parse-error event (lossy for bad UTF-8),
// the event copy, and the route globs (config). Input: pattern '\n' text, where text is also used
// as event data.
#include <sluice/core/glob.hpp>
#include <sluice/core/owned_event.hpp>
#include <sluice/format.hpp>
#include <sluice/framework_events.hpp>
#include <sluice/json_check.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(bytes), size);
  size_t nl = in.find('\n');
  std::string_view pattern = nl == std::string_view::npos ? in : in.substr(0, nl);
  std::string_view text = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);

  (void)sluice::core::glob_match(pattern, text);

  sluice::core::EventParts p;
  p.id = {"1", 1};
  p.source = {"fuzz://", 7};
  p.type = {"fuzz", 4};
  p.data = {text.data(), text.size()};
  sluice::core::EventPtr ev = sluice::core::EventPtr::make(p);
  const sluice_str& d = ev.view().data;
  const bool valid = sluice::json_valid(std::string_view(d.data, d.size));
  // The same verdict as nlohmann, but where it is lenient: it skips a leading byte order mark
  // and takes a NUL byte for the end of the input.
  const bool nlohmann_lenient =
      text.substr(0, 3) == "\xEF\xBB\xBF" || text.find('\0') != std::string_view::npos;
  if (!nlohmann_lenient && valid != nlohmann::json::accept(text)) abort();
  if (!valid) {
    // What the core puts in the sluice.parse-error it makes of this event: always valid JSON.
    const std::string s =
        sluice::framework_events::parse_error_data("data is not valid JSON", text);
    if (!sluice::json_valid(s)) abort();
  }
  return 0;
}
