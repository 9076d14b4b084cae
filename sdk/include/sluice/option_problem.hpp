// One problem with a plugin instance's options, as the 1.1 check_options entry reports it
// (plugin.h): where (an RFC 6901 JSON pointer into the options object, "" when no single option
// is at fault) and what, in words the user reads next to the pipeline file's line and column.
#pragma once

#include <string>
#include <vector>

namespace sluice {

struct OptionProblem {
  std::string pointer;  // e.g. "/tls/ca_file"
  std::string message;  // e.g. "tls.ca_file: cannot read /etc/x.pem: No such file or directory"

  bool operator==(const OptionProblem& o) const {
    return pointer == o.pointer && message == o.message;
  }
};

using OptionProblems = std::vector<OptionProblem>;

}  // namespace sluice
