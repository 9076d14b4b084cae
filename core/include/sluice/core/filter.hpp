// Route filters (docs/pipeline.md, "Filters"): what a route's `filter:` says, compiled once when
// the pipeline is built, evaluated per event.
//
// A filter is a mapping; every key given must hold:
//   type, source, subject: a condition on that string (subject: missing when the event has none)
//   attributes: {NAME: condition, ...}   the event has an attribute NAME whose value holds
//   data: {"/json/pointer": condition}   the value at that RFC 6901 pointer into the data holds
//   all: [filter, ...]  any: [filter, ...]  not: filter
// A condition is a glob (a string), a list (any item holds; items are globs or operator
// mappings), another scalar (short for `eq`), or a mapping of operators, all of which must
// hold: glob, regex (RE2 syntax, unanchored), eq, gt, ge, lt, le, exists.
//
// Globs, regular expressions and pointers are compiled once; the event's data is read only when
// a `data` condition is evaluated, then once for every pointer of every route of the router (a
// single pass over the text without building a tree, iterative: a deep or huge document cannot
// exhaust the stack).
#pragma once

#include <sluice/plugin.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::core {

// A problem in a filter: where (keys and list indices from the filter mapping) and what.
struct FilterError {
  std::vector<std::string> path;
  bool at_key = false;  // the culprit is the key at the end of path, not its value
  std::string message;
};

// The JSON Pointers of every filter of a router, numbered; resolved together.
class DataPointers {
 public:
  struct Token {
    std::string key;
    int64_t index = -1;  // the array index the token names, -1 when it names none ("01", "-", "x")
  };
  // The number of the pointer with these tokens (added when new).
  uint32_t add(std::vector<Token> tokens);
  size_t size() const { return pointers_.size(); }
  const std::vector<Token>& tokens(uint32_t i) const { return pointers_[i]; }
  size_t max_tokens() const { return max_tokens_; }

 private:
  std::vector<std::vector<Token>> pointers_;
  size_t max_tokens_ = 0;
};

// A value a condition looks at.
struct FilterValue {
  enum class Kind : uint8_t { missing, null, boolean, number, string, object, array };
  Kind kind = Kind::missing;
  std::string_view text;  // string: its value (unescaped); number: as written; boolean: true/false
  double number = 0;      // number
};

// One event as filters see it. The data's values at every pointer are found on the first call
// of data() and kept for the other routes of the same event. One at a time per thread (the
// values live in per-thread scratch space).
class FilterEvent {
 public:
  FilterEvent(const sluice_event& e, const DataPointers* pointers)
      : event(e), pointers_(pointers) {}
  FilterEvent(const FilterEvent&) = delete;
  FilterEvent& operator=(const FilterEvent&) = delete;

  const sluice_event& event;
  const FilterValue& data(uint32_t pointer);
  // How many times this event's data was read (0 or 1): for tests.
  int data_passes() const { return passes_; }

 private:
  const DataPointers* pointers_;
  const std::vector<FilterValue>* values_ = nullptr;
  int passes_ = 0;
};

// Resolves the pointers in JSON text (valid JSON: events' data is checked on emit); for tests and
// the benchmark. The views point into per-thread scratch space, valid until the next call.
const std::vector<FilterValue>& resolve_pointers(std::string_view json, const DataPointers& p);

// Parses an RFC 6901 pointer ("" is the whole document). False with *error set when invalid.
bool parse_json_pointer(const std::string& text, std::vector<DataPointers::Token>* tokens,
                        std::string* error);

class Filter {
 public:
  Filter() = default;  // passes every event

  // Compiles a filter mapping (null: no filter). Problems are appended to *errors (all of them,
  // not just the first); the filter returned is then unusable.
  static Filter compile(const nlohmann::json& spec, DataPointers& pointers,
                        std::vector<FilterError>* errors);

  bool passes_all() const { return !root_; }
  bool matches(FilterEvent& e) const;

  struct Node;

 private:
  std::shared_ptr<const Node> root_;
};

}  // namespace sluice::core
