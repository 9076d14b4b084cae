// ${NAME} and ${file:PATH} references in string values, resolved before anything is checked.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace sluice::core::config {

struct SecretSource {
  // The environment variable's value, nullopt when it is not set.
  std::function<std::optional<std::string>(const std::string& name)> env;
  std::string base_dir;  // relative ${file:...} paths start here
  // A reference that cannot be resolved (a variable not set, a file that cannot be read) keeps
  // its text ("${NAME}") and is listed in Substitution::unresolved instead of errors.
  bool placeholders = false;
};

struct Substitution {
  std::string value;                    // the text with every reference replaced
  std::vector<std::string> secrets;     // each value that was put in
  std::vector<std::string> errors;      // "environment variable HMC_PASSWORD is not set"
  std::vector<std::string> unresolved;  // with placeholders: why each one was left ("...")
};

// `$${` stands for a literal `${`. Names are [A-Za-z_][A-Za-z0-9_]*. A file's content loses one
// trailing newline ("\n" or "\r\n").
Substitution substitute(const std::string& text, const SecretSource& source);

}  // namespace sluice::core::config
