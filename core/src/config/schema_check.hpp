// JSON Schema validation (valijson) with messages a person understands, and schema defaults.
// One mechanism for both the pipeline file's own structure and every plugin's options.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice::core::config {

struct SchemaError {
  std::vector<std::string> path;  // reference tokens from the validated value to the culprit
  bool at_key = false;            // the culprit is the key of path (an unknown key)
  std::string message;            // without the path: "'dropp' is not one of block, drop_newest"
};

class SchemaChecker {
 public:
  // Throws std::invalid_argument when `schema` is not a usable JSON Schema.
  explicit SchemaChecker(nlohmann::json schema);
  ~SchemaChecker();
  SchemaChecker(const SchemaChecker&) = delete;
  SchemaChecker& operator=(const SchemaChecker&) = delete;

  // Every violation, at most one per value (a wrong type hides that value's other complaints).
  std::vector<SchemaError> check(const nlohmann::json& instance) const;

  // Adds `default` values of absent properties, descending into objects that are present or
  // have just been defaulted. Call on a valid instance.
  void fill_defaults(nlohmann::json& instance) const;

  const nlohmann::json& schema() const { return schema_; }

 private:
  struct Compiled;
  nlohmann::json schema_;
  std::unique_ptr<Compiled> compiled_;
};

// The word of `known` that `word` most likely misspells (a small edit distance); "" if none.
std::string closest(const std::string& word, const std::vector<std::string>& known);

// "sinks.console.queue.policy", "routes[0].from[1]": a path as a person reads it, given the
// value it walks through (to tell list indices from keys).
std::string human_path(const nlohmann::json& root, const std::vector<std::string>& path);

}  // namespace sluice::core::config
