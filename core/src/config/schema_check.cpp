#include "schema_check.hpp"

#include "yaml_json.hpp"

#include <algorithm>
#include <regex>
#include <set>
#include <stdexcept>

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <sluice/units.hpp>

namespace sluice::core::config {

using nlohmann::json;

struct SchemaChecker::Compiled {
  valijson::Schema schema;
};

namespace {

constexpr std::string_view kNoForm = "matches none of the forms allowed here";

bool starts_with(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i)
    out += (i ? sep : "") + items[i];
  return out;
}

const std::string& duration_pattern() {
  static const std::string p = json::parse(sluice::kDurationSchema).at("pattern");
  return p;
}
const std::string& size_pattern() {
  static const std::string p = json::parse(sluice::kSizeSchema).at("pattern");
  return p;
}

// Follows local "$ref"s ("#/definitions/x"); nullptr where the schema cannot be followed.
const json* deref(const json& root, const json* s) {
  for (int hops = 0; s && s->is_object() && s->contains("$ref") && hops < 16; ++hops) {
    const json& ref = s->at("$ref");
    if (!ref.is_string()) return nullptr;
    std::string r = ref.get<std::string>();
    if (r.empty() || r[0] != '#') return nullptr;
    try {
      json::json_pointer p(r.substr(1));
      if (!root.contains(p)) return nullptr;
      s = &root.at(p);
    } catch (const std::exception&) {
      return nullptr;
    }
  }
  return s && s->is_object() ? s : nullptr;
}

bool regex_matches(const std::string& pattern, const std::string& text) {
  try {
    return std::regex_search(text, std::regex(pattern));
  } catch (const std::exception&) {
    return false;
  }
}

// The subschema that applies to property `key` of an object, or nullptr.
const json* property_schema(const json& root, const json& s, const std::string& key) {
  if (auto p = s.find("properties"); p != s.end() && p->is_object() && p->contains(key))
    return deref(root, &p->at(key));
  if (auto pp = s.find("patternProperties"); pp != s.end() && pp->is_object())
    for (auto& [pattern, sub] : pp->items())
      if (regex_matches(pattern, key)) return deref(root, &sub);
  if (auto ap = s.find("additionalProperties"); ap != s.end() && ap->is_object())
    return deref(root, &*ap);
  return nullptr;
}

const json* item_schema(const json& root, const json& s, const std::string& token) {
  size_t index = 0;
  try {
    index = std::stoul(token);
  } catch (const std::exception&) {
    return nullptr;
  }
  auto items = s.find("items");
  if (items != s.end() && items->is_object()) return deref(root, &*items);
  if (items != s.end() && items->is_array() && index < items->size())
    return deref(root, &(*items)[index]);
  if (auto ai = s.find("additionalItems"); ai != s.end() && ai->is_object())
    return deref(root, &*ai);
  return nullptr;
}

// The value and the schema at `path`; either may come back nullptr.
std::pair<const json*, const json*> locate(const json& root_schema, const json& instance,
                                           const std::vector<std::string>& path) {
  const json* s = deref(root_schema, &root_schema);
  const json* v = &instance;
  for (const auto& token : path) {
    if (!v) return {nullptr, nullptr};
    if (v->is_object()) {
      s = s ? property_schema(root_schema, *s, token) : nullptr;
      v = v->contains(token) ? &v->at(token) : nullptr;
    } else if (v->is_array()) {
      s = s ? item_schema(root_schema, *s, token) : nullptr;
      size_t index = 0;
      try {
        index = std::stoul(token);
      } catch (const std::exception&) {
        index = v->size();
      }
      v = index < v->size() ? &(*v)[index] : nullptr;
    } else {
      return {nullptr, nullptr};
    }
  }
  return {v, s};
}

bool is_duration(const json* s) {
  return s && s->contains("pattern") && s->at("pattern") == duration_pattern();
}
bool is_size(const json* s) {
  return s && s->contains("pattern") && s->at("pattern") == size_pattern();
}

std::string quoted(const json& v) {
  if (v.is_string()) return "'" + v.get<std::string>() + "'";
  return json_text(v);
}

// How a value reads in a message: "the string 'abc'", "a list".
std::string describe(const json& v) {
  switch (v.type()) {
    case json::value_t::object:
      return "a mapping";
    case json::value_t::array:
      return "a list";
    case json::value_t::string:
      return "the string " + quoted(v);
    case json::value_t::boolean:
      return v.get<bool>() ? "true" : "false";
    case json::value_t::null:
      return "nothing (null)";
    default:
      return "the number " + json_text(v);
  }
}

std::string type_name(const std::string& t) {
  if (t == "object") return "a mapping";
  if (t == "array") return "a list";
  if (t == "integer") return "an integer";
  if (t == "number") return "a number";
  if (t == "boolean") return "true or false";
  if (t == "string") return "a string";
  return t;
}

std::string expected_types(const json* s) {
  if (is_duration(s)) return "a duration (like 250ms, 5s, 2m)";
  if (is_size(s)) return "a size (like 4096, 64KiB, 16MiB)";
  std::vector<std::string> names;
  if (s && s->contains("type")) {
    const json& t = s->at("type");
    if (t.is_string()) names.push_back(type_name(t.get<std::string>()));
    if (t.is_array())
      for (const auto& e : t)
        if (e.is_string()) names.push_back(type_name(e.get<std::string>()));
  }
  if (names.empty()) return "another type";
  return join(names, " or ");
}

std::string schema_number(const json* s, const char* key, const std::string& fallback) {
  if (s && s->contains(key) && s->at(key).is_number()) return json_text(s->at(key));
  return fallback;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string closest(const std::string& word, const std::vector<std::string>& known) {
  std::string best;
  size_t best_distance = 3;
  for (const auto& k : known) {
    size_t d = edit_distance(word, k);
    if (d < best_distance && d < std::max<size_t>(k.size(), 2)) best = k, best_distance = d;
  }
  return best;
}

namespace {

// Every key of `object` that neither `properties` nor `patternProperties` allows.
void unknown_keys(const json& root_schema, const json& s, const json& object,
                  const std::vector<std::string>& path, std::vector<SchemaError>& out) {
  std::vector<std::string> known;
  if (auto p = s.find("properties"); p != s.end() && p->is_object())
    for (auto& [k, sub] : p->items())
      known.push_back(k);
  std::vector<std::string> patterns;
  if (auto pp = s.find("patternProperties"); pp != s.end() && pp->is_object())
    for (auto& [pattern, sub] : pp->items())
      patterns.push_back(pattern);
  (void)root_schema;
  for (auto& item : object.items()) {
    const std::string key = item.key();
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    if (std::any_of(patterns.begin(), patterns.end(),
                    [&](const std::string& p) { return regex_matches(p, key); }))
      continue;
    SchemaError e{path, true, ""};
    e.path.push_back(key);
    if (known.empty() && !patterns.empty()) {
      e.message =
          "'" + key + "' is not a valid name (it must match " + join(patterns, " or ") + ")";
    } else {
      e.message = "unknown key '" + key + "'";
      std::string best = closest(key, known);
      if (!best.empty())
        e.message += " (did you mean '" + best + "'?)";
      else if (!known.empty())
        e.message += " (known keys: " + join(known, ", ") + ")";
    }
    out.push_back(std::move(e));
  }
}

bool has_prefix(const std::vector<std::string>& path, const std::vector<std::string>& prefix) {
  return path.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), path.begin());
}

}  // namespace

SchemaChecker::SchemaChecker(json schema) : schema_(std::move(schema)) {
  if (!schema_.is_object()) throw std::invalid_argument("a JSON Schema must be an object");
  compiled_ = std::make_unique<Compiled>();
  try {
    valijson::SchemaParser parser;
    valijson::adapters::NlohmannJsonAdapter adapter(schema_);
    parser.populateSchema(adapter, compiled_->schema);
  } catch (const std::exception& e) {
    throw std::invalid_argument(e.what());
  }
}

SchemaChecker::~SchemaChecker() = default;

std::vector<SchemaError> SchemaChecker::check(const json& instance) const {
  valijson::ValidationResults results;
  try {
    valijson::Validator validator;
    valijson::adapters::NlohmannJsonAdapter adapter(instance);
    validator.validate(compiled_->schema, adapter, &results);
  } catch (const std::exception& e) {
    return {{{}, false, std::string("cannot be checked against its schema: ") + e.what()}};
  }

  std::vector<SchemaError> out;
  std::set<std::vector<std::string>> unknown_done;
  valijson::ValidationResults::Error raw;
  while (results.popError(raw)) {
    std::vector<std::string> path;
    for (size_t i = 1; i < raw.context.size(); ++i) {  // [0] is "<root>"
      const std::string& c = raw.context[i];
      path.push_back(
          c.size() >= 2 && c.front() == '[' && c.back() == ']' ? c.substr(1, c.size() - 2) : c);
    }
    const std::string& d = raw.description;
    // Summaries of errors already reported on a child value.
    if (starts_with(d, "Failed to validate against schema associated with property name") ||
        starts_with(d, "Failed to validate item #") ||
        starts_with(d, "Failed to validate against additional properties schema") ||
        starts_with(d, "Failed to validate against schema associated with pattern") ||
        starts_with(d, "Failed to validate against child schema #") ||
        starts_with(d, "Failed to validate against dependent schema") ||
        starts_with(d, "Failed to validate against a conditional schema"))
      continue;

    auto [value, s] = locate(schema_, instance, path);
    SchemaError e{path, false, ""};
    if (starts_with(d, "Failed to validate against any schemas allowed by anyOf") ||
        starts_with(d, "Failed to validate against any child schemas allowed by oneOf")) {
      // The alternatives' own complaints contradict each other; one summary reads better.
      while (!out.empty() && has_prefix(out.back().path, path))
        out.pop_back();
      e.message = std::string(kNoForm);
    } else if (starts_with(d, "Failed to validate against exactly one child schema")) {
      e.message = "matches more than one of the forms allowed here";
    } else if (starts_with(d, "Object contains a property that could not be validated")) {
      if (!unknown_done.insert(path).second) continue;
      if (value && value->is_object() && s) {
        size_t before = out.size();
        unknown_keys(schema_, *s, *value, path, out);
        if (out.size() > before) continue;
      }
      e.message = "unknown key";
    } else if (starts_with(d, "Missing required property '")) {
      std::string key = d.substr(27, d.size() - 27 - 2);  // strip "'." at the end
      e.message = "missing required key '" + key + "'";
    } else if (starts_with(d, "Value type not permitted")) {
      e.message = "expected " + expected_types(s) + (value ? ", got " + describe(*value) : "");
    } else if (starts_with(d, "Failed to match against any enum values")) {
      std::vector<std::string> allowed;
      if (s && s->contains("enum") && s->at("enum").is_array())
        for (const auto& a : s->at("enum"))
          allowed.push_back(a.is_string() ? a.get<std::string>() : json_text(a));
      e.message = (value ? quoted(*value) : std::string("the value")) + " is not one of " +
                  join(allowed, ", ");
    } else if (starts_with(d, "Failed to match regex")) {
      std::string v = value ? quoted(*value) : "the value";
      if (is_duration(s))
        e.message = v +
                    " is not a duration: write a number with ms, s, m, min or h, like "
                    "250ms, 5s or 2m";
      else if (is_size(s))
        e.message = v +
                    " is not a size: write a number of bytes or one with B, KiB, MiB, GiB, "
                    "KB, MB or GB, like 64MiB";
      else
        e.message =
            v + " does not match the pattern " +
            (s && s->contains("pattern") ? json_text(s->at("pattern")) : std::string("given"));
    } else if (starts_with(d, "Expected number greater than or equal to")) {
      e.message = "must be at least " + schema_number(s, "minimum", d.substr(41)) +
                  (value ? ", got " + json_text(*value) : "");
    } else if (starts_with(d, "Expected number greater than")) {
      e.message = "must be more than " +
                  schema_number(s, "exclusiveMinimum", schema_number(s, "minimum", d.substr(29))) +
                  (value ? ", got " + json_text(*value) : "");
    } else if (starts_with(d, "Expected number less than or equal to")) {
      e.message = "must be at most " + schema_number(s, "maximum", d.substr(38)) +
                  (value ? ", got " + json_text(*value) : "");
    } else if (starts_with(d, "Expected number less than")) {
      e.message = "must be less than " +
                  schema_number(s, "exclusiveMaximum", schema_number(s, "maximum", d.substr(26))) +
                  (value ? ", got " + json_text(*value) : "");
    } else if (starts_with(d, "String should be no fewer than")) {
      e.message = "must be at least " + schema_number(s, "minLength", "?") + " characters long";
    } else if (starts_with(d, "String should be no more than")) {
      e.message = "must be at most " + schema_number(s, "maxLength", "?") + " characters long";
    } else if (starts_with(d, "Array should contain no fewer than")) {
      e.message = "must have at least " + schema_number(s, "minItems", "?") + " item(s)";
    } else if (starts_with(d, "Array should contain no more than") ||
               starts_with(d, "Cannot validate item #") ||
               starts_with(d, "Array contains more items than allowed")) {
      e.message = "has too many items" + (s && s->contains("maxItems")
                                              ? " (at most " + json_text(s->at("maxItems")) + ")"
                                              : std::string());
    } else if (starts_with(d, "Object should have no fewer than")) {
      e.message = "must have at least " + schema_number(s, "minProperties", "?") + " key(s)";
    } else if (starts_with(d, "Object should have no more than")) {
      e.message = "must have at most " + schema_number(s, "maxProperties", "?") + " key(s)";
    } else if (starts_with(d, "Failed to match expected value set by 'const'")) {
      e.message = "must be " + (s && s->contains("const") ? quoted(s->at("const")) : "fixed");
    } else if (starts_with(d, "Value should be a multiple of")) {
      e.message = "must be a multiple of " + schema_number(s, "multipleOf", d.substr(30));
    } else if (starts_with(d, "Elements at indexes")) {
      e.message = "must not repeat items";
    } else {
      e.message = d;
      if (!e.message.empty() && e.message.back() == '.') e.message.pop_back();
    }
    out.push_back(std::move(e));
  }

  // A wrong type makes the value's other complaints (enum, pattern...) noise.
  std::set<std::vector<std::string>> mistyped;
  for (const auto& e : out)
    if (starts_with(e.message, "expected ")) mistyped.insert(e.path);
  // A key the mapping's own schema does not know is wrong whichever form is meant, and a
  // misspelt key is the likely reason that no form matches: its message (with the suggestion)
  // says more than the summary, which would also hide it (a summary marks the whole mapping).
  std::set<std::vector<std::string>> misspelt;
  for (const auto& e : out)
    if (e.at_key && !e.path.empty() && starts_with(e.message, "unknown key '"))
      misspelt.insert(std::vector<std::string>(e.path.begin(), e.path.end() - 1));
  std::vector<SchemaError> kept;
  std::set<std::tuple<std::vector<std::string>, bool, std::string>> seen;
  for (auto& e : out) {
    if (!e.at_key && e.message == kNoForm && misspelt.count(e.path)) continue;
    if (!e.at_key && mistyped.count(e.path) && !starts_with(e.message, "expected ") &&
        !starts_with(e.message, "missing required key"))
      continue;
    if (!seen.insert({e.path, e.at_key, e.message}).second) continue;
    kept.push_back(std::move(e));
  }
  return kept;
}

namespace {
void fill(const json& root, const json* s, json& instance, int depth) {
  s = deref(root, s);
  if (!s || depth > 64) return;
  if (instance.is_object()) {
    auto props = s->find("properties");
    if (props == s->end() || !props->is_object()) return;
    for (auto& [key, raw_sub] : props->items()) {
      const json* sub = deref(root, &raw_sub);
      if (!sub) continue;
      if (!instance.contains(key) && sub->contains("default")) instance[key] = sub->at("default");
      if (instance.contains(key)) fill(root, sub, instance[key], depth + 1);
    }
  } else if (instance.is_array()) {
    auto items = s->find("items");
    if (items == s->end() || !items->is_object()) return;
    for (auto& element : instance)
      fill(root, &*items, element, depth + 1);
  }
}
}  // namespace

void SchemaChecker::fill_defaults(json& instance) const {
  fill(schema_, &schema_, instance, 0);
}

std::string human_path(const json& root, const std::vector<std::string>& path) {
  std::string out;
  const json* v = &root;
  for (const auto& token : path) {
    if (v && v->is_array()) {
      out += "[" + token + "]";
      size_t index = v->size();
      try {
        index = std::stoul(token);
      } catch (const std::exception&) {
      }
      v = index < v->size() ? &(*v)[index] : nullptr;
      continue;
    }
    bool plain = !token.empty() && std::all_of(token.begin(), token.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
    });
    if (!out.empty()) out += ".";
    out += plain ? token : json_text(json(token));
    v = (v && v->is_object() && v->contains(token)) ? &v->at(token) : nullptr;
  }
  return out;
}

}  // namespace sluice::core::config
