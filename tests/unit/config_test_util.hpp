// Shared by the config_*_test.cpp files: a temporary pipeline file and a fake plugin lookup
// with small inline schemas.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <sluice/core/config.hpp>

// Failed comparisons of diagnostic lists print every line.
namespace doctest {
template <>
struct StringMaker<std::vector<std::string>> {
  static String convert(const std::vector<std::string>& lines) {
    std::string out = "{";
    for (const auto& line : lines)
      out += "\n  \"" + line + "\"";
    out += lines.empty() ? "}" : "\n}";
    return String(out.c_str());
  }
};
}  // namespace doctest

namespace config_test {

// A fresh directory under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "sluice-config-XXXXXX").string();
    char* made = ::mkdtemp(templ.data());
    if (made) path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

  // Writes `text` to <dir>/<name> and returns the full path.
  std::string write(const std::string& name, const std::string& text) const {
    std::string full = path_ + "/" + name;
    std::ofstream(full, std::ios::binary) << text;
    return full;
  }

 private:
  std::string path_;
};

// Plugins the fake lookup knows:
//   gen    source  {count: int >= 1 (default 10), interval: duration (default "1s"),
//                   mode: a|b, label: string, nested: {depth: int (default 2)} (default {})}
//   hmc    source  {host: string (required), password: secret string, level: low|high}
//   web    sink    {url: string (http:// is clear text), auth: {bearer: secret, user},
//                   tls: {verify: bool (false: unverified)}}
//   stdout sink    {format: text|json (default "text")}
//   files  sink    {path: path (required), label: string, tls: {ca_file: path},
//                   copies: [path]}: options marked "x-sluice-path"
//   any    source  no schema: options are taken as written
//   broken sink    a schema that is not JSON
inline std::optional<sluice::core::PluginSchemaInfo> fake_lookup(
    const std::string& name, const std::vector<std::string>& /*paths*/, std::string* error) {
  sluice::core::PluginSchemaInfo info;
  info.name = name;
  info.file = "/fake/sluice_" + name + ".so";
  if (name == "gen") {
    info.options_schema = R"({
      "type": "object", "additionalProperties": false,
      "properties": {
        "count": {"type": "integer", "minimum": 1, "default": 10},
        "interval": {"type": ["integer", "string"], "pattern": "^[0-9.]+ ?(ms|s|m|min|h)?$",
                     "default": "1s"},
        "mode": {"type": "string", "enum": ["a", "b"]},
        "label": {"type": "string"},
        "nested": {"type": "object", "default": {},
                   "properties": {"depth": {"type": "integer", "default": 2}}}
      }})";
  } else if (name == "hmc") {
    info.options_schema = R"({
      "type": "object", "additionalProperties": false, "required": ["host"],
      "properties": {
        "host": {"type": "string"},
        "password": {"type": "string", "writeOnly": true},
        "level": {"type": "string", "enum": ["low", "high"]}
      }})";
  } else if (name == "web") {
    info.is_sink = true;
    info.options_schema = R"({
      "type": "object", "additionalProperties": false, "required": ["url"],
      "properties": {
        "url": {"type": "string", "x-sluice-cleartext": {"pattern": "^http://"}},
        "auth": {"type": "object", "properties": {
          "bearer": {"type": "string", "writeOnly": true},
          "user": {"type": "string"}}},
        "tls": {"type": "object", "default": {}, "properties": {
          "verify": {"type": "boolean", "default": true,
                     "x-sluice-unverified": {"const": false}}}}
      }})";
  } else if (name == "stdout") {
    info.is_sink = true;
    info.options_schema = R"({
      "type": "object", "additionalProperties": false,
      "properties": {"format": {"type": "string", "enum": ["text", "json"], "default": "text"}}})";
  } else if (name == "files") {
    info.is_sink = true;
    info.options_schema = R"({
      "type": "object", "additionalProperties": false, "required": ["path"],
      "properties": {
        "path": {"type": "string", "x-sluice-path": true},
        "label": {"type": "string"},
        "tls": {"type": "object", "properties": {
          "ca_file": {"type": "string", "x-sluice-path": true}}},
        "copies": {"type": "array", "items": {"type": "string", "x-sluice-path": true}}
      }})";
  } else if (name == "any") {
    info.options_schema = "";
  } else if (name == "broken") {
    info.is_sink = true;
    info.options_schema = "{not json";
  } else {
    *error = "plugin '" + name + "' not found (searched /fake/plugins)";
    return std::nullopt;
  }
  return info;
}

// Each diagnostic as `sluice validate` prints it, with the file's path shortened to "P".
inline std::vector<std::string> printed(const sluice::core::LoadResult& r,
                                        const std::string& file) {
  std::vector<std::string> out;
  for (const auto& d : r.diagnostics) {
    std::string s = d.to_string();
    if (s.compare(0, file.size(), file) == 0) s.replace(0, file.size(), 1, 'P');
    out.push_back(s);
  }
  return out;
}

// Loads `yaml` written to a temp file; diagnostics come back with the path shortened to "P".
struct Loaded {
  TempDir dir;
  std::string file;
  sluice::core::LoadResult result;
  std::vector<std::string> diagnostics;
};

inline void load_text(Loaded& l, const std::string& yaml) {
  l.file = l.dir.write("pipeline.yaml", yaml);
  l.result = sluice::core::load_pipeline(l.file, fake_lookup);
  l.diagnostics = printed(l.result, l.file);
}

// The smallest valid tail, for tests about the parts above it.
inline constexpr const char* kMinimal = R"(sources:
  g: {plugin: gen}
sinks:
  out: {plugin: stdout}
routes:
  - {from: g, to: out}
)";

}  // namespace config_test
