// YAML text to JSON, remembering where in the file every value (and every mapping key) was.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include <sluice/core/config.hpp>
#include <sluice/option_problem.hpp>  // pointer_token

namespace sluice::core::config {

// The type a scalar's standard tag asks for (!!int, !!float, !!bool, !!null; none: no such tag).
// A !!int, !!float or !!bool scalar holding ${...} references is a string until they are
// resolved (`port: !!int ${PORT}`); the loader converts it then.
enum class TaggedType { none, integer, number, boolean, null };

struct NodeMarks {
  Mark value;  // the node itself (for a mapping or list: where it starts)
  Mark key;    // its key, when the node is a mapping value; line 0 otherwise
  TaggedType convert = TaggedType::none;
};

struct YamlDocument {
  nlohmann::json root;  // null for an empty file
  // JSON pointer ("" for the root, "/sinks/console/queue") -> marks. Nodes copied in through an
  // alias carry the alias' mark only on their top node; look-ups fall back to the parent.
  std::unordered_map<std::string, NodeMarks> marks;
  std::vector<Diagnostic> errors;  // syntax errors, duplicate keys, bad tags
  bool parsed = false;             // false: a syntax error stopped the parser, root is unusable

  // The mark of `pointer`, or of its nearest ancestor that has one. `key`: prefer the key's mark.
  Mark mark_of(const std::string& pointer, bool key = false) const;
};

// yaml-cpp's message for a syntax error in plain words, with what usually causes it, given the
// text of the line it points at; the parser's own words follow in parentheses.
std::string plain_yaml_error(const std::string& parser_message, const std::string& line_text);

// Plain scalars are typed by the YAML 1.2 core schema (null, booleans, integers, floats); quoted
// and block scalars stay strings. Duplicate keys are errors (the first value is kept).
YamlDocument yaml_to_json(const std::string& text, const std::string& file);

// `text` read as `type` by the rules of plain scalars (`!!int` takes what an untagged 42 or 0x2A
// would be), or nullopt when it is not one.
std::optional<nlohmann::json> convert_tagged(const std::string& text, TaggedType type);
// "!!int", "!!float", "!!bool" or "!!null".
const char* tag_name(TaggedType type);

// JSON text of a value for messages; never throws, bytes that are not UTF-8 become U+FFFD
// (YAML files are not checked for valid UTF-8, and nlohmann's plain dump() throws on it).
inline std::string json_text(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace sluice::core::config
