#include <sluice/core/config.hpp>

namespace sluice::core {

std::string Diagnostic::to_string() const {
  std::string out = mark.file.empty() ? std::string("<pipeline>") : mark.file;
  if (mark.line > 0) {
    // Appended piecewise: `":" + std::to_string(n)` trips a GCC 12 -Wrestrict false positive.
    out += ':';
    out += std::to_string(mark.line);
    if (mark.column > 0) {
      out += ':';
      out += std::to_string(mark.column);
    }
  }
  out += severity == Severity::error ? ": error: " : ": warning: ";
  out += message;
  return out;
}

}  // namespace sluice::core
