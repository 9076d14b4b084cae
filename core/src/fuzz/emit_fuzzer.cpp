// libFuzzer target for what the emit path does with a plugin's bytes: the JSON check (data),
// the lossy JSON string of a parse-error event, the event copy, and the route globs (config).
// Input: pattern '\n' text, where text is also used as event data.
#include <sluice/core/glob.hpp>
#include <sluice/core/json_check.hpp>
#include <sluice/core/owned_event.hpp>

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
  const bool valid = sluice::core::json_valid_terminated(d.data, d.size);
  if (!valid) {
    std::string s;
    sluice::core::append_json_string_lossy(s, text);
    if (!sluice::core::json_valid(s)) abort();  // a parse-error event always carries valid JSON
  }
  return 0;
}
