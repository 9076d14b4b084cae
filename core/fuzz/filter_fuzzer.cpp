// libFuzzer target for a route's `data` conditions: RFC 6901 pointers as a pipeline file gives
// them (parse_json_pointer), resolved together in an event's data (resolve_pointers, the one
// pass over the text without a tree). Input: pointers, one per line, an empty line, then the
// data; data that is not valid JSON never reaches the resolver (the host checks it on emit).
#include <sluice/core/filter.hpp>
#include <sluice/json_check.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(bytes), size);
  const size_t blank = in.find("\n\n");
  const std::string_view pointer_lines = blank == std::string_view::npos ? in : in.substr(0, blank);
  const std::string_view data =
      blank == std::string_view::npos ? std::string_view() : in.substr(blank + 2);

  sluice::core::DataPointers pointers;
  size_t at = 0;
  while (at <= pointer_lines.size() && pointers.size() < 16) {
    const size_t nl = pointer_lines.find('\n', at);
    const std::string line(
        pointer_lines.substr(at, nl == std::string_view::npos ? std::string_view::npos : nl - at));
    std::vector<sluice::core::DataPointers::Token> tokens;
    std::string error;
    if (sluice::core::parse_json_pointer(line, &tokens, &error))
      pointers.add(std::move(tokens));
    else if (error.empty())
      abort();  // a refusal always says why
    if (nl == std::string_view::npos) break;
    at = nl + 1;
  }
  if (!sluice::json_valid(data)) return 0;

  const auto& values = sluice::core::resolve_pointers(data, pointers);
  if (values.size() != pointers.size()) abort();
  using Kind = sluice::core::FilterValue::Kind;
  for (const auto& v : values) {
    if (v.kind == Kind::boolean && v.text != "true" && v.text != "false") abort();
    if (v.kind == Kind::number && v.text.empty()) abort();
  }
  return 0;
}
