// libFuzzer target: any text as a pipeline file must come back as diagnostics, never a crash,
// a hang or an exception. The fake lookup knows one source and one sink with small schemas.
#include <cstddef>
#include <cstdint>
#include <string>

#include "../src/config/loader.hpp"

namespace {

std::optional<sluice::core::PluginSchemaInfo> lookup(const std::string& name,
                                                     const std::vector<std::string>&,
                                                     std::string* error) {
  sluice::core::PluginSchemaInfo info;
  info.name = name;
  if (name == "gen") {
    info.options_schema = R"({"type": "object", "additionalProperties": false,
      "required": ["count"],
      "properties": {
        "count": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 10},
        "interval": {"type": ["integer", "string"], "pattern": "^[0-9.]+ ?(ms|s|m|min|h)?$"},
        "mode": {"type": "string", "enum": ["a", "b"]},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
        "nested": {"type": "object", "default": {}, "properties": {"d": {"default": 1}}},
        "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        "password": {"type": "string", "writeOnly": true},
        "url": {"type": "string", "x-sluice-cleartext": {"pattern": "^http://"}},
        "tls": {"type": "object", "properties": {
          "verify": {"type": "boolean", "x-sluice-unverified": {"const": false}}}}
      }})";
  } else if (name == "stdout") {
    info.is_sink = true;
    info.options_schema = R"({"type": "object",
      "properties": {"format": {"enum": ["text", "json"], "default": "text"}}})";
  } else if (name == "bad") {
    info.options_schema = "{\"pattern\": \"[\"}";
  } else {
    *error = "plugin '" + name + "' not found";
    return std::nullopt;
  }
  return info;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  sluice::core::LoadResult r =
      sluice::core::config::load_pipeline_text(text, "/nonexistent/fuzz/pipeline.yaml", lookup);
  for (const auto& d : r.diagnostics)
    (void)d.to_string();
  return 0;
}
