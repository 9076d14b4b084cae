// sluice plugins [--path DIR...]: every plugin along the search path, with its options as its
// JSON Schema describes them.
#include "cli.hpp"

#include <sluice/core/plugin_host.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>

namespace po = boost::program_options;

namespace sluice::cli {

namespace {

std::string type_of(const nlohmann::json& prop) {
  if (!prop.contains("type")) return prop.contains("enum") ? "enum" : "any";
  const auto& t = prop["type"];
  if (t.is_string()) {
    std::string s = t.get<std::string>();
    if (s == "array" && prop.contains("items") && prop["items"].contains("type") &&
        prop["items"]["type"].is_string())
      s += " of " + prop["items"]["type"].get<std::string>();
    return s;
  }
  std::string out;
  for (const auto& x : t) {
    if (!out.empty()) out += '|';
    out += x.is_string() ? x.get<std::string>() : x.dump();
  }
  return out;
}

// One line per option, then its description; the options of a mapping (`tls.verify`) and of
// the mappings in a list (`os_message_channels[].cpc`) follow their parent, by full name.
void print_properties(const nlohmann::json& schema, const std::string& prefix, int depth) {
  if (depth > 6 || !schema.is_object() || !schema.contains("properties") ||
      !schema["properties"].is_object())
    return;
  std::vector<std::string> required;
  if (schema.contains("required") && schema["required"].is_array())
    for (const auto& r : schema["required"])
      if (r.is_string()) required.push_back(r.get<std::string>());
  for (const auto& [name, prop] : schema["properties"].items()) {
    if (!prop.is_object()) continue;
    std::string line = "    " + prefix + name + " (" + type_of(prop) + ")";
    if (std::find(required.begin(), required.end(), name) != required.end()) line += " required";
    if (prop.value("writeOnly", false) == true)
      line += " secret";  // hidden in logs (docs/pipeline.md)
    // A mapping's default is the sum of its options' defaults, listed below.
    if (prop.contains("default") && !prop.contains("properties"))
      line += " default " + prop["default"].dump();
    if (prop.contains("enum") && prop["enum"].is_array()) {
      std::string values;
      for (const auto& v : prop["enum"])
        values += (values.empty() ? "" : ", ") + (v.is_string() ? v.get<std::string>() : v.dump());
      line += " one of: " + values;
    }
    printf("%s\n", line.c_str());
    if (prop.contains("description") && prop["description"].is_string())
      printf("        %s\n", prop["description"].get<std::string>().c_str());
    print_properties(prop, prefix + name + ".", depth + 1);
    if (prop.contains("items")) print_properties(prop["items"], prefix + name + "[].", depth + 1);
  }
}

void print_options(const char* schema_text) {
  nlohmann::json schema = nlohmann::json::parse(schema_text, nullptr, false);
  if (!schema.is_object() || !schema.contains("properties") || !schema["properties"].is_object() ||
      schema["properties"].empty()) {
    printf("  options: none\n");
    return;
  }
  printf("  options:\n");
  print_properties(schema, "", 0);
}

}  // namespace

int cmd_plugins(const std::vector<std::string>& args) {
  const Command& cmd = command("plugins");
  std::vector<std::string> paths;
  std::string level, format;
  po::options_description options("Options");
  options.add_options()("help,h", "this text")(
      "path", po::value(&paths)->composing()->value_name("DIR"),
      "also look in DIR (after the default places); repeatable");
  options.add(logging_options(&level, &format));
  po::positional_options_description positional;
  po::variables_map vm;
  if (int rc = parse(args, cmd, options, positional, vm); rc != kOk) return rc < 0 ? kOk : rc;

  core::PluginHost host(core::executable_dir());
  auto found = host.discover(paths);
  int refused = 0;
  printf("Search path:\n");
  for (const auto& dir : host.search_path(paths))
    printf("  %s\n", dir.c_str());
  if (found.empty()) printf("\nNo plugins found.\n");
  for (const auto& f : found) {
    printf("\n");
    if (!f.plugin) {
      ++refused;
      printf("%s: REFUSED\n  %s\n", f.file.c_str(), f.error.c_str());
      continue;
    }
    const auto& d = f.plugin->descriptor();
    printf("%s %s (%s, plugin API %u.%u)\n", d.name, d.version,
           d.kind == SLUICE_KIND_SINK ? "sink" : "source", d.api_major, d.api_minor);
    printf("  %s\n  file: %s\n", d.description, f.plugin->file().c_str());
    print_options(d.options_schema);
  }
  return refused ? kInvalid : kOk;
}

}  // namespace sluice::cli
