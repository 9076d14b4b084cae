#include <sluice/core/glob.hpp>

namespace sluice::core {

namespace {

// Matches one bracket expression at p (just after '['); sets *end past the closing ']'.
// Returns false (no match) for c; a '[' with no closing ']' is matched literally by the caller.
bool match_class(std::string_view p, size_t start, char c, size_t* end) {
  size_t i = start;
  bool negate = false;
  if (i < p.size() && (p[i] == '!' || p[i] == '^')) {
    negate = true;
    ++i;
  }
  bool matched = false;
  bool first = true;
  while (i < p.size() && (first || p[i] != ']')) {
    first = false;
    char lo = p[i];
    if (lo == '\\' && i + 1 < p.size()) lo = p[++i];
    char hi = lo;
    if (i + 2 < p.size() && p[i + 1] == '-' && p[i + 2] != ']') {
      hi = p[i + 2];
      if (hi == '\\' && i + 3 < p.size()) {
        hi = p[i + 3];
        ++i;
      }
      i += 2;
    }
    if (static_cast<unsigned char>(c) >= static_cast<unsigned char>(lo) &&
        static_cast<unsigned char>(c) <= static_cast<unsigned char>(hi))
      matched = true;
    ++i;
  }
  if (i >= p.size()) {
    *end = std::string_view::npos;  // unterminated
    return false;
  }
  *end = i + 1;
  return matched != negate;
}

}  // namespace

// Iterative matcher with one back-tracking point per `*` (the classic linear-ish algorithm).
bool glob_match(std::string_view p, std::string_view t) {
  size_t pi = 0, ti = 0;
  size_t star_p = std::string_view::npos, star_t = 0;
  while (ti < t.size()) {
    if (pi < p.size()) {
      char pc = p[pi];
      if (pc == '*') {
        star_p = ++pi;
        star_t = ti;
        continue;
      }
      if (pc == '?') {
        ++pi;
        ++ti;
        continue;
      }
      if (pc == '[') {
        size_t end = 0;
        bool ok = match_class(p, pi + 1, t[ti], &end);
        if (end == std::string_view::npos) {
          if (t[ti] == '[') {  // unterminated: a literal '['
            ++pi;
            ++ti;
            continue;
          }
        } else if (ok) {
          pi = end;
          ++ti;
          continue;
        }
      } else {
        if (pc == '\\' && pi + 1 < p.size()) pc = p[pi + 1];
        if (pc == t[ti]) {
          pi += p[pi] == '\\' && pi + 1 < p.size() ? 2 : 1;
          ++ti;
          continue;
        }
      }
    }
    if (star_p == std::string_view::npos) return false;
    pi = star_p;
    ti = ++star_t;
  }
  while (pi < p.size() && p[pi] == '*')
    ++pi;
  return pi == p.size();
}

GlobList::GlobList(const std::vector<std::string>& patterns) {
  for (const auto& p : patterns)
    patterns_.push_back({p, p.find_first_of("*?[\\") == std::string::npos});
}

bool GlobList::match(std::string_view text) const {
  for (const auto& p : patterns_)
    if (p.literal ? text == p.text : glob_match(p.text, text)) return true;
  return false;
}

}  // namespace sluice::core
