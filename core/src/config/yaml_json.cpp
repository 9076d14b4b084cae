#include "yaml_json.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <sstream>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

namespace sluice::core::config {

namespace {

using nlohmann::json;

// Aliases can multiply a small file into a huge tree ("billion laughs"); a pipeline never needs
// anything near this many nodes.
constexpr size_t kMaxNodes = 200000;

constexpr const char* kTagStr = "tag:yaml.org,2002:str";
constexpr const char* kTagInt = "tag:yaml.org,2002:int";
constexpr const char* kTagFloat = "tag:yaml.org,2002:float";
constexpr const char* kTagBool = "tag:yaml.org,2002:bool";
constexpr const char* kTagNull = "tag:yaml.org,2002:null";
constexpr const char* kTagMap = "tag:yaml.org,2002:map";
constexpr const char* kTagSeq = "tag:yaml.org,2002:seq";

struct TooLarge {
  YAML::Mark mark;
};

bool all_of(std::string_view s, size_t from, bool (*pred)(char)) {
  if (from >= s.size()) return false;
  for (size_t i = from; i < s.size(); ++i)
    if (!pred(s[i])) return false;
  return true;
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_octal(char c) {
  return c >= '0' && c <= '7';
}
bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

std::optional<json> parse_integer(std::string_view s) {
  int base = 10;
  bool negative = false;
  std::string_view digits = s;
  if (s.size() > 2 && s[0] == '0' && s[1] == 'o' && all_of(s, 2, is_octal)) {
    base = 8;
    digits = s.substr(2);
  } else if (s.size() > 2 && s[0] == '0' && s[1] == 'x' && all_of(s, 2, is_hex)) {
    base = 16;
    digits = s.substr(2);
  } else {
    size_t from = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
    if (!all_of(s, from, is_digit)) return std::nullopt;
    negative = s[0] == '-';
    digits = s.substr(from);
  }
  uint64_t magnitude = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
  if (ec == std::errc() && end == digits.data() + digits.size()) {
    if (!negative) {
      if (magnitude <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return json(static_cast<int64_t>(magnitude));
      return json(magnitude);
    }
    if (magnitude <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return json(-static_cast<int64_t>(magnitude));
    if (magnitude == static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1)
      return json(std::numeric_limits<int64_t>::min());
  }
  // Too large for 64 bits: still a number, as a float (a schema asking for an integer says so).
  if (base != 10) return json(std::ldexp(1.0, 64));
  return json(std::strtod(std::string(s).c_str(), nullptr));
}

std::optional<json> parse_float(std::string_view s) {
  std::string_view body = s;
  if (!body.empty() && (body[0] == '-' || body[0] == '+')) body.remove_prefix(1);
  if (body == ".inf" || body == ".Inf" || body == ".INF")
    return json(s[0] == '-' ? -std::numeric_limits<double>::infinity()
                            : std::numeric_limits<double>::infinity());
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return json(std::nan(""));
  // [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
  size_t i = 0, int_digits = 0, frac_digits = 0;
  while (i < body.size() && is_digit(body[i]))
    ++i, ++int_digits;
  if (i < body.size() && body[i] == '.') {
    ++i;
    while (i < body.size() && is_digit(body[i]))
      ++i, ++frac_digits;
  }
  if (int_digits == 0 && frac_digits == 0) return std::nullopt;
  if (i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
    ++i;
    if (i < body.size() && (body[i] == '-' || body[i] == '+')) ++i;
    size_t exp_digits = 0;
    while (i < body.size() && is_digit(body[i]))
      ++i, ++exp_digits;
    if (exp_digits == 0) return std::nullopt;
  }
  if (i != body.size()) return std::nullopt;
  return json(std::strtod(std::string(s).c_str(), nullptr));
}

// YAML 1.2 core schema resolution of a plain scalar.
json resolve_plain(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (auto i = parse_integer(s)) return *i;
  if (auto f = parse_float(s)) return *f;
  return s;
}

Mark to_mark(const YAML::Mark& m, const std::string& file) {
  Mark out;
  out.file = file;
  if (m.line >= 0) out.line = m.line + 1;
  if (m.column >= 0) out.column = m.column + 1;
  return out;
}

std::string key_text(const json& j) {
  return j.is_string() ? j.get<std::string>() : json_text(j);
}

class Builder : public YAML::EventHandler {
 public:
  Builder(YamlDocument& doc, const std::string& file) : doc_(doc), file_(file) {}

  int documents() const { return documents_; }

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ == 2)
      error(mark, "a pipeline file holds one YAML document; this is a second one (after '---')");
  }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    // An empty value ("key:" then a new line) is reported at the next token; its key is closer.
    YAML::Mark where = mark;
    if (!stack_.empty() && stack_.back().is_map && stack_.back().has_key &&
        stack_.back().key_mark.line != where.line)
      where = stack_.back().key_mark;
    add(json(nullptr), where, anchor, 1);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) {
      error(mark, "unknown alias");
      add(json(nullptr), mark, 0, 1);
      return;
    }
    add(it->second.first, mark, 0, it->second.second);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    const TaggedType tagged = tag == kTagInt     ? TaggedType::integer
                              : tag == kTagFloat ? TaggedType::number
                              : tag == kTagBool  ? TaggedType::boolean
                              : tag == kTagNull  ? TaggedType::null
                                                 : TaggedType::none;
    // `!!int ${PORT}`: a string now, converted by the loader once the reference is resolved.
    if (tagged != TaggedType::none && tagged != TaggedType::null &&
        value.find("${") != std::string::npos) {
      pending_convert_ = tagged;
      add(json(value), mark, anchor, 1);
      pending_convert_ = TaggedType::none;
      return;
    }
    json v;
    if (tag == "!" || tag == kTagStr) {
      v = value;
    } else if (tag == "?" || tag.empty()) {
      v = resolve_plain(value);
    } else if (tagged == TaggedType::none) {
      error(mark, "unsupported tag '" + tag +
                      "' (only the standard !!str, !!int, "
                      "!!float, !!bool and !!null are understood)");
      v = value;
    } else if (auto typed = convert_tagged(value, tagged)) {
      v = std::move(*typed);
    } else {
      error(mark, "'" + value + "' is not a valid " + tag_name(tagged));
      v = value;
    }
    add(std::move(v), mark, anchor, 1);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    check_collection_tag(mark, tag, kTagSeq);
    open(json::array(), mark, anchor, false);
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    check_collection_tag(mark, tag, kTagMap);
    open(json::object(), mark, anchor, true);
  }
  void OnMapEnd() override { close(); }

 private:
  struct Frame {
    json value;
    YAML::Mark mark;
    YAML::anchor_t anchor = 0;
    bool is_map = false;
    bool is_key = false;  // a collection used as a mapping key
    std::string pointer;
    size_t nodes = 1;
    // mapping state
    bool has_key = false;
    std::string key;
    YAML::Mark key_mark;
    bool key_duplicate = false;
    std::map<std::string, YAML::Mark> seen;
  };

  void check_collection_tag(const YAML::Mark& mark, const std::string& tag, const char* plain) {
    if (!tag.empty() && tag != "?" && tag != "!" && tag != plain)
      error(mark, "unsupported tag '" + tag + "'");
  }

  void error(const YAML::Mark& mark, std::string message) {
    doc_.errors.push_back({Diagnostic::Severity::error, to_mark(mark, file_), std::move(message)});
  }

  void budget(size_t nodes, const YAML::Mark& mark) {
    total_nodes_ += nodes;
    if (total_nodes_ > kMaxNodes) throw TooLarge{mark};
  }

  // Where the next value goes: its pointer, and whether it is a mapping key.
  bool next_is_key() const {
    return !stack_.empty() && stack_.back().is_map && !stack_.back().has_key;
  }
  std::string child_pointer() const {
    const Frame& top = stack_.back();
    if (top.is_map) return top.pointer + "/" + sluice::pointer_token(top.key);
    return top.pointer + "/" + std::to_string(top.value.size());
  }

  void open(json value, const YAML::Mark& mark, YAML::anchor_t anchor, bool is_map) {
    budget(1, mark);
    Frame f;
    f.value = std::move(value);
    f.mark = mark;
    f.anchor = anchor;
    f.is_map = is_map;
    if (stack_.empty()) {
      f.pointer = "";
    } else if (next_is_key() || stack_.back().is_key) {
      f.is_key = true;
    } else {
      f.pointer = child_pointer();
    }
    stack_.push_back(std::move(f));
  }

  void close() {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    if (f.anchor != 0) anchors_[f.anchor] = {f.value, f.nodes};
    if (f.is_key && !stack_.empty() && !stack_.back().is_key)
      error(f.mark, "a mapping key must be a plain value, not a mapping or a list");
    place(std::move(f.value), f.mark, f.nodes);
  }

  // A finished node: a scalar, an alias, or a closed collection.
  void add(json value, const YAML::Mark& mark, YAML::anchor_t anchor, size_t nodes) {
    budget(nodes, mark);
    if (anchor != 0) anchors_[anchor] = {value, nodes};
    place(std::move(value), mark, nodes);
  }

  void place(json value, const YAML::Mark& mark, size_t nodes) {
    const bool record = documents_ == 1;  // later documents are reported, not kept
    if (stack_.empty()) {
      if (record) {
        doc_.root = std::move(value);
        doc_.marks[""].value = to_mark(mark, file_);
      }
      return;
    }
    Frame& top = stack_.back();
    top.nodes += nodes;
    if (top.is_key) {  // inside a collection used as a key: just build it
      if (!top.is_map) {
        top.value.push_back(std::move(value));
      } else if (!top.has_key) {
        top.has_key = true;
        top.key = key_text(value);
      } else {
        top.value[top.key] = std::move(value);
        top.has_key = false;
      }
      return;
    }
    if (top.is_map && !top.has_key) {
      top.has_key = true;
      top.key = key_text(value);
      top.key_mark = mark;
      auto [it, inserted] = top.seen.emplace(top.key, mark);
      top.key_duplicate = !inserted;
      if (!inserted)
        error(mark, "duplicate key '" + top.key + "' (first at line " +
                        std::to_string(it->second.line + 1) + ", column " +
                        std::to_string(it->second.column + 1) + ")");
      return;
    }
    std::string pointer = child_pointer();
    if (top.is_map) {
      top.has_key = false;
      if (top.key_duplicate) return;  // the first value stays
      if (record) {
        NodeMarks& m = doc_.marks[pointer];
        m.key = to_mark(top.key_mark, file_);
        m.value = to_mark(mark, file_);
        m.convert = pending_convert_;
      }
      top.value[top.key] = std::move(value);
    } else {
      if (record) {
        NodeMarks& m = doc_.marks[pointer];
        m.value = to_mark(mark, file_);
        m.convert = pending_convert_;
      }
      top.value.push_back(std::move(value));
    }
  }

  YamlDocument& doc_;
  std::string file_;
  std::vector<Frame> stack_;
  std::map<YAML::anchor_t, std::pair<json, size_t>> anchors_;
  size_t total_nodes_ = 0;
  int documents_ = 0;
  TaggedType pending_convert_ = TaggedType::none;  // for the scalar being placed
};

}  // namespace

std::optional<json> convert_tagged(const std::string& text, TaggedType type) {
  json v = resolve_plain(text);
  switch (type) {
    case TaggedType::integer:
      if (v.is_number_integer()) return v;
      break;
    case TaggedType::number:
      if (v.is_number_integer()) return json(v.get<double>());
      if (v.is_number()) return v;
      break;
    case TaggedType::boolean:
      if (v.is_boolean()) return v;
      break;
    case TaggedType::null:
      if (v.is_null()) return v;
      break;
    case TaggedType::none:
      return json(text);
  }
  return std::nullopt;
}

const char* tag_name(TaggedType type) {
  switch (type) {
    case TaggedType::integer:
      return "!!int";
    case TaggedType::number:
      return "!!float";
    case TaggedType::boolean:
      return "!!bool";
    case TaggedType::null:
      return "!!null";
    case TaggedType::none:
      break;
  }
  return "!!str";
}

Mark YamlDocument::mark_of(const std::string& pointer, bool key) const {
  std::string p = pointer;
  for (;;) {
    auto it = marks.find(p);
    if (it != marks.end()) {
      if (key && it->second.key.line > 0) return it->second.key;
      if (it->second.value.line > 0) return it->second.value;
    }
    if (p.empty()) break;
    p.erase(p.rfind('/'));
    key = false;
  }
  Mark none;
  if (!marks.empty()) none.file = marks.begin()->second.value.file;
  return none;
}

std::string plain_yaml_error(const std::string& parser_message, const std::string& line_text) {
  auto is = [&](const char* m) { return parser_message.rfind(m, 0) == 0; };
  const size_t indent_end = line_text.find_first_not_of(" \t");
  const bool tab_indent = line_text.substr(0, indent_end).find('\t') != std::string::npos;
  std::string plain;
  if (tab_indent || is("illegal tab"))
    plain = "a tab in the indentation: YAML indents with spaces only";
  else if (is("end of map flow not found"))
    plain =
        "a '{' is not closed: the '}' is missing, or a value inside holds ',', ':', '{' or '}' "
        "and needs quotes";
  else if (is("end of sequence flow not found"))
    plain =
        "a '[' is not closed: the ']' is missing, or a value inside holds ',' or ']' and "
        "needs quotes";
  else if (is("end of map not found"))
    plain =
        "this line is not lined up with the keys above it: the keys of one mapping start in the "
        "same column";
  else if (is("end of sequence not found"))
    plain =
        "this line is not lined up with the list above it: the '- ' items of one list start "
        "in the same column";
  else if (is("illegal map value"))
    plain =
        "a ':' where no value can start: a key indented deeper than the keys beside it, or a "
        "value holding ': ' that needs quotes";
  else if (is("illegal block entry"))
    plain =
        "a list item ('- ') where none can be: under a key that already has a value, or not "
        "lined up with the other items";
  else if (is("unknown token"))
    plain =
        "a value cannot start with this character ('@' and '`' are reserved): put the value "
        "in quotes";
  else if (is("illegal flow end"))
    plain = "a '}' or ']' that closes nothing: remove it, or put the value holding it in quotes";
  else if (is("unknown escape character"))
    plain = "'\\" + parser_message.substr(parser_message.rfind(' ') + 1) +
            "' is not an escape sequence in a double-quoted value: write '\\\\' for a "
            "backslash, or use single quotes";
  else if (is("the referenced anchor is not defined"))
    plain =
        "'*NAME' refers to an anchor '&NAME' that is not defined above it; a value that "
        "starts with '*' needs quotes";
  else if (is("illegal EOF in scalar") || is("end of verbatim"))
    plain = "the file ends inside a quoted value: its closing quote is missing";
  else
    return "YAML syntax error: " + parser_message;
  return "YAML syntax error: " + plain + " (the parser says: " + parser_message + ")";
}

YamlDocument yaml_to_json(const std::string& text, const std::string& file) {
  YamlDocument doc;
  std::istringstream in(text);
  Builder builder(doc, file);
  try {
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(builder)) {
    }
    doc.parsed = true;
  } catch (const YAML::Exception& e) {
    std::string line_text;
    if (!e.mark.is_null()) {
      std::istringstream lines(text);
      for (int i = 0; i <= e.mark.line && std::getline(lines, line_text); ++i) {
      }
    }
    doc.errors.push_back(
        {Diagnostic::Severity::error, to_mark(e.mark, file), plain_yaml_error(e.msg, line_text)});
  } catch (const TooLarge& e) {
    doc.errors.push_back({Diagnostic::Severity::error, to_mark(e.mark, file),
                          "the document is too large (more than " + std::to_string(kMaxNodes) +
                              " values once aliases are expanded)"});
  }
  return doc;
}

}  // namespace sluice::core::config
