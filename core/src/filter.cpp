// Route filters: the compiler (filter mapping -> tree of conditions), the evaluator, and the
// one-pass resolver of JSON Pointers into event data. See filter.hpp.
#include <sluice/core/config.hpp>
#include <sluice/core/filter.hpp>
#include <sluice/core/glob.hpp>

#include "config/schema_check.hpp"

#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <re2/re2.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>

namespace sluice::core {

nlohmann::json FilterConfig::effective() const {
  if (!spec.is_null()) return spec;
  nlohmann::json out = nlohmann::json::object();
  if (!types.empty()) out["type"] = types;
  if (!subjects.empty()) out["subject"] = subjects;
  for (const auto& [key, globs] : attributes)
    out["attributes"][key] = globs;
  return out;
}

// ---- pointers ------------------------------------------------------------------------------

uint32_t DataPointers::add(std::vector<Token> tokens) {
  for (uint32_t i = 0; i < pointers_.size(); ++i) {
    const auto& p = pointers_[i];
    if (p.size() == tokens.size() &&
        std::equal(p.begin(), p.end(), tokens.begin(),
                   [](const Token& a, const Token& b) { return a.key == b.key; }))
      return i;
  }
  max_tokens_ = std::max(max_tokens_, tokens.size());
  pointers_.push_back(std::move(tokens));
  return static_cast<uint32_t>(pointers_.size() - 1);
}

bool parse_json_pointer(const std::string& text, std::vector<DataPointers::Token>* tokens,
                        std::string* error) {
  tokens->clear();
  if (text.empty()) return true;
  if (text[0] != '/') {
    *error = "invalid JSON Pointer '" + text + "': it must be empty or begin with '/'";
    return false;
  }
  DataPointers::Token t;
  for (size_t i = 1; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '/') {
      const std::string& k = t.key;
      bool digits = !k.empty() && k.size() <= 18 && (k == "0" || k[0] != '0') &&
                    k.find_first_not_of("0123456789") == std::string::npos;
      t.index = digits ? std::stoll(k) : -1;
      tokens->push_back(std::move(t));
      t = {};
    } else if (text[i] == '~') {
      if (i + 1 < text.size() && (text[i + 1] == '0' || text[i + 1] == '1')) {
        t.key += text[++i] == '0' ? '~' : '/';
      } else {
        *error = "invalid JSON Pointer '" + text +
                 "': '~' must be followed by 0 or 1 (~0 is '~', ~1 is '/')";
        return false;
      }
    } else {
      t.key += text[i];
    }
  }
  return true;
}

namespace {

// The power of ten of the first non-zero digit of a JSON number ("0.0012" -> -3, "12e5" -> 6),
// the exponent saturated far beyond any double's range. For a number that is all zeros: -1.
int64_t decimal_magnitude(std::string_view s) {
  constexpr int64_t kCap = int64_t{1} << 40;
  size_t i = s[0] == '-' ? 1 : 0;
  int64_t int_digits = 0, position = 0, first = -1;  // position: digits so far, either side of '.'
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, ++position, ++int_digits)
    if (first < 0 && s[i] != '0') first = position;
  if (i < s.size() && s[i] == '.')
    for (++i; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, ++position)
      if (first < 0 && s[i] != '0') first = position;
  if (first < 0) return -1;
  int64_t exponent = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    const bool negative = i < s.size() && s[i] == '-';
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i)
      exponent = std::min(kCap, exponent * 10 + (s[i] - '0'));
    if (negative) exponent = -exponent;
  }
  return int_digits - 1 - first + exponent;
}

bool parse_number(std::string_view s, double* out) {
  if (s.empty()) return false;
  size_t digit = s[0] == '-' ? 1 : 0;
  if (digit >= s.size() || s[digit] < '0' || s[digit] > '9') return false;  // no inf, nan, +1
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  if (end != s.data() + s.size()) return false;
  if (ec == std::errc::result_out_of_range) {
    // Beyond a double: 1e400 is huge; 1e-400, and 0.000...0001 written without an exponent, are
    // below the smallest denormal and read as zero (from_chars leaves *out alone then).
    const bool negative = s[0] == '-';
    *out = decimal_magnitude(s) < 0 ? (negative ? -0.0 : 0.0) : (negative ? -HUGE_VAL : HUGE_VAL);
    return true;
  }
  return ec == std::errc();
}

// A number as the comparisons see it: an integer (what fits int64 or uint64) exactly, anything
// else as a double. Two integers compare as integers (9007199254740993 is not 9007199254740992,
// which two doubles would say it is); a double and anything compare as doubles.
struct Number {
  bool integer = false;
  bool negative = false;   // integer: below zero (magnitude > 0)
  uint64_t magnitude = 0;  // integer: its absolute value (2^63 for INT64_MIN)
  double value = 0;        // always set

  static Number of_integer(bool negative, uint64_t magnitude) {
    Number n;
    n.integer = true;
    n.negative = negative && magnitude != 0;  // -0 is 0
    n.magnitude = magnitude;
    n.value = n.negative ? -static_cast<double>(magnitude) : static_cast<double>(magnitude);
    return n;
  }
};

// The number a JSON number's text (or a string that holds one) is, or false when it is none.
bool parse_number(std::string_view s, Number* out) {
  double d = 0;
  if (!parse_number(s, &d)) return false;
  if (s.find_first_of(".eE") == std::string_view::npos) {
    const bool negative = s[0] == '-';
    const std::string_view digits = s.substr(negative ? 1 : 0);
    uint64_t magnitude = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude);
    if (ec == std::errc() && end == digits.data() + digits.size() &&
        (!negative || magnitude <= (uint64_t{1} << 63))) {
      *out = Number::of_integer(negative, magnitude);
      return true;
    }
  }
  *out = Number{};
  out->value = d;
  return true;
}

Number number_of(const nlohmann::json& j) {
  if (j.is_number_unsigned()) return Number::of_integer(false, j.get<uint64_t>());
  if (j.is_number_integer()) {
    const int64_t i = j.get<int64_t>();
    return Number::of_integer(
        i < 0, i < 0 ? uint64_t{0} - static_cast<uint64_t>(i) : static_cast<uint64_t>(i));
  }
  Number n;
  n.value = j.get<double>();
  return n;
}

// <0, 0, >0 as a is below, equal to, above b; nullopt when they are unordered (a NaN).
std::optional<int> compare(const Number& a, const Number& b) {
  if (a.integer && b.integer) {
    if (a.negative != b.negative) return a.negative ? -1 : 1;
    if (a.magnitude == b.magnitude) return 0;
    return (a.magnitude < b.magnitude) != a.negative ? -1 : 1;
  }
  if (a.value < b.value) return -1;
  if (a.value > b.value) return 1;
  if (a.value == b.value) return 0;
  return std::nullopt;
}

// Per-thread scratch of the resolver (one event at a time per thread).
struct Scratch {
  std::vector<FilterValue> values;
  std::vector<std::pair<size_t, size_t>> spans;  // offset, length in arena (strings, numbers)
  std::string arena;
  std::vector<size_t> prog;  // per pointer: tokens matched by the open containers' path
  struct Frame {
    bool is_array = false;
    int64_t next = 0;  // next array index
  };
  std::vector<Frame> frames;      // the open containers, as deep as the longest pointer
  std::vector<uint32_t> pending;  // pointers naming the value about to start
};

// SAX handler: tracks the path only as deep as the longest pointer, keeps the first value found
// at each pointer, stops as soon as every pointer has one.
class Resolver : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, Resolver> {
 public:
  using Kind = FilterValue::Kind;
  // `original`: the document as given; `stream` may read a copy of it with the same length
  // (see resolve_pointers), so a number's text is taken from the original at the same place.
  Resolver(const DataPointers& p, Scratch& s, std::string_view original,
           const rapidjson::MemoryStream& stream)
      : p_(p), s_(s), original_(original), stream_(stream), unresolved_(p.size()) {}

  bool Null() { return scalar(Kind::null, nullptr, 0); }
  bool Bool(bool b) { return scalar(Kind::boolean, b ? "true" : "false", b ? 4 : 5); }
  bool RawNumber(const char*, rapidjson::SizeType n, bool) {
    // The stream stands just after the number.
    return scalar(Kind::number, original_.data() + stream_.Tell() - n, n);
  }
  bool String(const char* str, rapidjson::SizeType n, bool) { return scalar(Kind::string, str, n); }
  bool Key(const char* str, rapidjson::SizeType n, bool) {
    s_.pending.clear();
    if (depth_ > p_.max_tokens()) return true;
    const std::string_view key(str, n);
    for (uint32_t i = 0; i < p_.size(); ++i)
      if (s_.prog[i] + 1 == depth_ && p_.tokens(i).size() >= depth_ &&
          p_.tokens(i)[depth_ - 1].key == key)
        s_.pending.push_back(i);
    return true;
  }
  bool StartObject() { return start(Kind::object, false); }
  bool StartArray() { return start(Kind::array, true); }
  bool EndObject(rapidjson::SizeType) { return end(); }
  bool EndArray(rapidjson::SizeType) { return end(); }

 private:
  // Fills pending for a value in an array or at the root (an object's was filled by Key()).
  void locate() {
    if (depth_ == 0) {
      s_.pending.clear();
      for (uint32_t i = 0; i < p_.size(); ++i)
        s_.pending.push_back(i);
      return;
    }
    if (depth_ > p_.max_tokens()) {
      s_.pending.clear();
      return;
    }
    Scratch::Frame& f = s_.frames[depth_ - 1];
    if (!f.is_array) return;
    const int64_t index = f.next++;
    s_.pending.clear();
    for (uint32_t i = 0; i < p_.size(); ++i)
      if (s_.prog[i] + 1 == depth_ && p_.tokens(i).size() >= depth_ &&
          p_.tokens(i)[depth_ - 1].index == index)
        s_.pending.push_back(i);
  }

  // Keeps the value for pointer i when it has none yet; false (stop) once all have one.
  bool capture(uint32_t i, Kind kind, const char* str, size_t n) {
    FilterValue& v = s_.values[i];
    if (v.kind != Kind::missing) return true;  // a repeated key: the first one counts
    v.kind = kind;
    if (kind == Kind::string || kind == Kind::number || kind == Kind::boolean) {
      s_.spans[i] = {s_.arena.size(), n};
      s_.arena.append(str, n);
      if (kind == Kind::number && !parse_number(std::string_view(str, n), &v.number)) v.number = 0;
    }
    return --unresolved_ > 0;
  }

  bool scalar(Kind kind, const char* str, size_t n) {
    locate();
    for (uint32_t i : s_.pending)
      if (p_.tokens(i).size() == depth_ && !capture(i, kind, str, n)) return false;
    return true;
  }

  bool start(Kind kind, bool is_array) {
    locate();
    for (uint32_t i : s_.pending) {
      if (p_.tokens(i).size() == depth_) {
        if (!capture(i, kind, nullptr, 0)) return false;
      } else {
        s_.prog[i] = depth_;  // this container's path is the first depth_ tokens of pointer i
      }
    }
    ++depth_;
    if (depth_ <= p_.max_tokens()) {
      if (s_.frames.size() < depth_) s_.frames.resize(depth_);
      s_.frames[depth_ - 1] = {is_array, 0};
    }
    s_.pending.clear();
    return true;
  }

  bool end() {
    --depth_;
    const size_t open_path = depth_ ? depth_ - 1 : 0;
    for (size_t& p : s_.prog)
      p = std::min(p, open_path);
    s_.pending.clear();
    return true;
  }

  const DataPointers& p_;
  Scratch& s_;
  std::string_view original_;
  const rapidjson::MemoryStream& stream_;
  size_t depth_ = 0;  // containers open
  size_t unresolved_;
};

// RapidJSON refuses a number beyond a double's range (kParseErrorNumberTooBig), which is valid
// JSON: the host's check accepts it, and parse_number reads it as +-HUGE_VAL. Rewrites each
// number of magnitude 10^300 or more as a zero of the same length ("1e400" -> "0e000", "-1"
// and 400 zeros -> "-0e000..."), outside strings, so that a copy parses with every offset
// unchanged; the Resolver reads the numbers' text from the original.
void write_huge_numbers_as_zero(std::string& json) {
  size_t i = 0;
  const size_t n = json.size();
  while (i < n) {
    const char c = json[i];
    if (c == '"') {
      for (++i; i < n && json[i] != '"'; ++i)
        if (json[i] == '\\') ++i;
      ++i;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      size_t end = i + 1;
      auto in_number = [](char d) {
        return (d >= '0' && d <= '9') || d == '.' || d == 'e' || d == 'E' || d == '+' || d == '-';
      };
      while (end < n && in_number(json[end]))
        ++end;
      const size_t digits = i + (c == '-' ? 1 : 0);
      if (end - digits >= 3 &&
          decimal_magnitude(std::string_view(json).substr(i, end - i)) >= 300) {
        json[digits] = '0';
        json[digits + 1] = 'e';
        std::fill(json.begin() + static_cast<std::ptrdiff_t>(digits + 2),
                  json.begin() + static_cast<std::ptrdiff_t>(end), '0');
      }
      i = end;
    } else {
      ++i;
    }
  }
}

}  // namespace

const std::vector<FilterValue>& resolve_pointers(std::string_view json, const DataPointers& p) {
  thread_local Scratch s;
  thread_local rapidjson::Reader reader;
  // A huge value once: give its memory back now, while no returned view points into it.
  if (s.arena.capacity() > (1u << 20)) std::string().swap(s.arena);
  auto resolve = [&](std::string_view text) {
    s.values.assign(p.size(), FilterValue{});
    s.spans.assign(p.size(), {0, 0});
    s.prog.assign(p.size(), 0);
    s.arena.clear();
    s.pending.clear();
    if (p.size() == 0 || json.empty()) return rapidjson::ParseResult();
    // Iterative (no recursion however deep the document); numbers kept as written.
    constexpr unsigned flags = rapidjson::kParseIterativeFlag |
                               rapidjson::kParseNumbersAsStringsFlag |
                               rapidjson::kParseStopWhenDoneFlag;
    rapidjson::MemoryStream stream(text.data(), text.size());
    Resolver handler(p, s, json, stream);
    return reader.Parse<flags>(stream, handler);  // stopped early or invalid: what was found counts
  };
  if (resolve(json).Code() == rapidjson::kParseErrorNumberTooBig) {
    thread_local std::string copy;
    copy.assign(json);
    write_huge_numbers_as_zero(copy);
    resolve(copy);
    if (copy.capacity() > (1u << 20)) std::string().swap(copy);
  }
  for (size_t i = 0; i < s.values.size(); ++i) {
    FilterValue& v = s.values[i];
    if (v.kind == FilterValue::Kind::string || v.kind == FilterValue::Kind::number ||
        v.kind == FilterValue::Kind::boolean)
      v.text = std::string_view(s.arena).substr(s.spans[i].first, s.spans[i].second);
  }
  return s.values;
}

const FilterValue& FilterEvent::data(uint32_t pointer) {
  if (!values_) {
    const std::string_view text =
        event.data.data ? std::string_view(event.data.data, event.data.size) : std::string_view();
    values_ = &resolve_pointers(text, *pointers_);
    ++passes_;
  }
  return (*values_)[pointer];
}

// ---- compiled filters ----------------------------------------------------------------------

namespace {

struct Op {
  enum Kind { glob, regex, eq, gt, ge, lt, le, exists } kind = glob;
  GlobList globs;
  std::shared_ptr<const re2::RE2> re;
  nlohmann::json value;  // eq
  Number number;         // eq (when value is a number), gt, ge, lt, le
  bool flag = false;     // exists
};

const char* const kOperators[] = {"glob", "regex", "eq", "gt", "ge", "lt", "le", "exists"};
const char* const kFilterKeys[] = {"type", "source", "subject", "attributes",
                                   "data", "all",    "any",     "not"};

// The text glob and regex look at: strings, and numbers and booleans as written.
bool text_of(const FilterValue& v, std::string_view* out) {
  using K = FilterValue::Kind;
  if (v.kind != K::string && v.kind != K::number && v.kind != K::boolean) return false;
  *out = v.text;
  return true;
}

// The value's number compared with the operator's: nullopt when the value is no number (nor a
// string that holds one).
std::optional<int> compare_number(const FilterValue& v, const Op& op) {
  Number n;
  if (v.kind != FilterValue::Kind::number && v.kind != FilterValue::Kind::string) return {};
  if (!parse_number(v.text, &n)) return {};
  return compare(n, op.number);
}

bool holds(const Op& op, const FilterValue& v) {
  using K = FilterValue::Kind;
  std::string_view text;
  std::optional<int> c;
  switch (op.kind) {
    case Op::exists:
      return (v.kind != K::missing) == op.flag;
    case Op::glob:
      return text_of(v, &text) && op.globs.match(text);
    case Op::regex:
      return text_of(v, &text) &&
             re2::RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), *op.re);
    case Op::eq:
      if (op.value.is_string())
        return text_of(v, &text) && text == op.value.get_ref<const std::string&>();
      if (op.value.is_number()) return (c = compare_number(v, op)) && *c == 0;
      if (op.value.is_boolean())
        return v.kind == K::boolean && (v.text == "true") == op.value.get<bool>();
      return v.kind == K::null;
    case Op::gt:
      return (c = compare_number(v, op)) && *c > 0;
    case Op::ge:
      return (c = compare_number(v, op)) && *c >= 0;
    case Op::lt:
      return (c = compare_number(v, op)) && *c < 0;
    case Op::le:
      return (c = compare_number(v, op)) && *c <= 0;
  }
  return false;
}

using Alternative = std::vector<Op>;         // every operator holds
using Condition = std::vector<Alternative>;  // one alternative holds

bool holds(const Condition& c, const FilterValue& v) {
  for (const auto& alt : c) {
    bool all = true;
    for (const auto& op : alt)
      if (!(all = holds(op, v))) break;
    if (all) return true;
  }
  return false;
}

}  // namespace

struct Filter::Node {
  enum Kind { all, any, negate, type, source, subject, attr, data } kind = all;
  std::vector<Node> children;  // all, any, negate (one)
  std::string attribute;
  uint32_t pointer = 0;
  Condition condition;
};

namespace {

using Node = Filter::Node;

FilterValue string_value(const sluice_str& s) {
  FilterValue v;
  if (!s.data) return v;
  v.kind = FilterValue::Kind::string;
  v.text = std::string_view(s.data, s.size);
  return v;
}

bool eval(const Node& n, FilterEvent& e) {
  switch (n.kind) {
    case Node::all:
      for (const auto& c : n.children)
        if (!eval(c, e)) return false;
      return true;
    case Node::any:
      for (const auto& c : n.children)
        if (eval(c, e)) return true;
      return false;
    case Node::negate:
      return !eval(n.children[0], e);
    case Node::type:
      return holds(n.condition, string_value(e.event.type));
    case Node::source:
      return holds(n.condition, string_value(e.event.source));
    case Node::subject:
      return holds(n.condition, string_value(e.event.subject));
    case Node::attr: {
      bool found = false;
      for (size_t i = 0; e.event.attributes && i < e.event.attribute_count; ++i) {
        const sluice_attribute& a = e.event.attributes[i];
        if (std::string_view(a.key.data, a.key.size) != n.attribute) continue;
        found = true;
        if (holds(n.condition, string_value(a.value))) return true;
      }
      return !found && holds(n.condition, FilterValue{});
    }
    case Node::data:
      return holds(n.condition, e.data(n.pointer));
  }
  return false;
}

// Nesting deeper than this is refused (evaluation recurses once per level).
constexpr int kMaxNesting = 32;

class Compiler {
 public:
  Compiler(DataPointers& pointers, std::vector<FilterError>* errors)
      : pointers_(pointers), errors_(errors) {}

  bool ok() const { return errors_->size() == errors_at_start_; }

  Node filter(const nlohmann::json& spec, int depth) {
    Node node;
    if (!spec.is_object()) {
      fail("expected a mapping (keys: " + known(kFilterKeys) + ")");
      return node;
    }
    if (depth > kMaxNesting) {
      fail("filters nested more than " + std::to_string(kMaxNesting) + " deep");
      return node;
    }
    for (const auto& [key, value] : spec.items()) {
      Scope s(this, key);
      if (key == "type" || key == "source" || key == "subject") {
        Node f;
        f.kind = key == "type" ? Node::type : key == "source" ? Node::source : Node::subject;
        f.condition = condition(value);
        node.children.push_back(std::move(f));
      } else if (key == "attributes" || key == "data") {
        if (!value.is_object()) {
          fail(key == "data" ? "expected a mapping of JSON Pointer -> condition"
                             : "expected a mapping of attribute name -> condition");
          continue;
        }
        for (const auto& [name, c] : value.items()) {
          Scope inner(this, name);
          Node f;
          if (key == "attributes") {
            f.kind = Node::attr;
            f.attribute = name;
          } else {
            f.kind = Node::data;
            std::vector<DataPointers::Token> tokens;
            std::string error;
            if (!parse_json_pointer(name, &tokens, &error)) {
              fail(error, true);
              continue;
            }
            f.pointer = pointers_.add(std::move(tokens));
          }
          f.condition = condition(c);
          node.children.push_back(std::move(f));
        }
      } else if (key == "all" || key == "any") {
        if (!value.is_array() || value.empty()) {
          fail("expected a non-empty list of filters");
          continue;
        }
        Node f;
        f.kind = key == "all" ? Node::all : Node::any;
        for (size_t i = 0; i < value.size(); ++i) {
          Scope inner(this, std::to_string(i));
          f.children.push_back(filter(value[i], depth + 1));
        }
        node.children.push_back(std::move(f));
      } else if (key == "not") {
        Node f;
        f.kind = Node::negate;
        f.children.push_back(filter(value, depth + 1));
        node.children.push_back(std::move(f));
      } else {
        fail(unknown("key", key, kFilterKeys), true);
      }
    }
    if (node.children.size() == 1) {
      Node only = std::move(node.children[0]);
      return only;
    }
    return node;
  }

 private:
  struct Scope {
    Scope(Compiler* c, const std::string& token) : c_(c) { c_->path_.push_back(token); }
    ~Scope() { c_->path_.pop_back(); }
    Compiler* c_;
  };

  template <size_t N>
  static std::string known(const char* const (&words)[N]) {
    std::string out;
    for (const char* w : words)
      out += (out.empty() ? "" : ", ") + std::string(w);
    return out;
  }

  template <size_t N>
  static std::string unknown(const std::string& what, const std::string& word,
                             const char* const (&words)[N]) {
    std::string best = config::closest(word, std::vector<std::string>(words, words + N));
    return "unknown " + what + " '" + word + "'" +
           (best.empty() ? " (known: " + known(words) + ")" : " (did you mean '" + best + "'?)");
  }

  void fail(std::string message, bool at_key = false) {
    errors_->push_back({path_, at_key, std::move(message)});
  }

  static bool scalar(const nlohmann::json& v) {
    return v.is_string() || v.is_number() || v.is_boolean() || v.is_null();
  }

  Condition condition(const nlohmann::json& c) {
    Condition out;
    if (c.is_string()) {
      out.push_back({glob({c.get<std::string>()})});
    } else if (scalar(c)) {
      out.push_back({equals(c)});
    } else if (c.is_object()) {
      out.push_back(operators(c));
    } else if (c.empty()) {
      fail("expected a glob, a list or a mapping of operators; the list is empty");
    } else {
      std::vector<std::string> globs;
      for (size_t i = 0; i < c.size(); ++i) {
        Scope s(this, std::to_string(i));
        const auto& item = c[i];
        if (item.is_string()) {
          globs.push_back(item.get<std::string>());
        } else if (item.is_object()) {
          out.push_back(operators(item));
        } else if (scalar(item)) {
          out.push_back({equals(item)});
        } else {
          fail("expected a glob, a scalar or a mapping of operators, not a list");
        }
      }
      if (!globs.empty()) out.push_back({glob(globs)});
    }
    return out;
  }

  static Op equals(const nlohmann::json& value) {
    Op op;
    op.kind = Op::eq;
    op.value = value;
    if (value.is_number()) op.number = number_of(value);
    return op;
  }

  static Op glob(const std::vector<std::string>& patterns) {
    Op op;
    op.kind = Op::glob;
    op.globs = GlobList(patterns);
    return op;
  }

  Alternative operators(const nlohmann::json& m) {
    Alternative out;
    if (m.empty()) fail("expected at least one operator (" + known(kOperators) + ")");
    for (const auto& [key, v] : m.items()) {
      Scope s(this, key);
      Op op;
      if (key == "glob") {
        std::vector<std::string> patterns;
        if (v.is_string()) patterns.push_back(v.get<std::string>());
        if (v.is_array() && !v.empty() &&
            std::all_of(v.begin(), v.end(), [](const auto& x) { return x.is_string(); }))
          for (const auto& x : v)
            patterns.push_back(x.get<std::string>());
        if (patterns.empty()) {
          fail("expected a glob or a non-empty list of globs");
          continue;
        }
        op = glob(patterns);
      } else if (key == "regex") {
        if (!v.is_string()) {
          fail("expected a regular expression (a string)");
          continue;
        }
        re2::RE2::Options options;
        options.set_log_errors(false);
        auto re = std::make_shared<re2::RE2>(v.get<std::string>(), options);
        if (!re->ok()) {
          fail("invalid regular expression: " + re->error());
          continue;
        }
        op.kind = Op::regex;
        op.re = std::move(re);
      } else if (key == "eq") {
        if (!scalar(v)) {
          fail("expected a string, a number, true, false or null");
          continue;
        }
        op = equals(v);
      } else if (key == "gt" || key == "ge" || key == "lt" || key == "le") {
        if (!v.is_number()) {
          fail("expected a number");
          continue;
        }
        op.kind = key == "gt" ? Op::gt : key == "ge" ? Op::ge : key == "lt" ? Op::lt : Op::le;
        op.number = number_of(v);
      } else if (key == "exists") {
        if (!v.is_boolean()) {
          fail("expected true or false");
          continue;
        }
        op.kind = Op::exists;
        op.flag = v.get<bool>();
      } else {
        fail(unknown("operator", key, kOperators), true);
        continue;
      }
      out.push_back(std::move(op));
    }
    return out;
  }

  DataPointers& pointers_;
  std::vector<FilterError>* errors_;
  size_t errors_at_start_ = errors_->size();
  std::vector<std::string> path_;
};

}  // namespace

Filter Filter::compile(const nlohmann::json& spec, DataPointers& pointers,
                       std::vector<FilterError>* errors) {
  Filter f;
  if (spec.is_null()) return f;
  Compiler c(pointers, errors);
  Node root = c.filter(spec, 0);
  if (!c.ok()) return f;
  if (root.kind == Node::all && root.children.empty()) return f;  // {}: every event
  f.root_ = std::make_shared<const Node>(std::move(root));
  return f;
}

bool Filter::matches(FilterEvent& e) const {
  return !root_ || eval(*root_, e);
}

}  // namespace sluice::core
