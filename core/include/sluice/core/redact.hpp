// Removing secret values from text before it is shown: log lines, diagnostics, `validate` output.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::core {

// Every occurrence of every non-empty secret in `text` becomes "***", the longest secret first
// where several start at one place. Characters covered by overlapping occurrences ("abc" and
// "bcd" in "abcd") are hidden too, so no piece of a secret survives.
inline std::string redact(std::string_view text, const std::vector<std::string>& secrets) {
  std::vector<std::string_view> order;
  for (const auto& s : secrets)
    if (!s.empty() && s.size() <= text.size()) order.push_back(s);
  if (order.empty()) return std::string(text);
  std::sort(order.begin(), order.end(),
            [](std::string_view a, std::string_view b) { return a.size() > b.size(); });

  std::vector<bool> covered(text.size(), false);
  bool any = false;
  for (std::string_view secret : order) {
    for (size_t at = text.find(secret); at != std::string_view::npos;
         at = text.find(secret, at + 1)) {
      std::fill(covered.begin() + at, covered.begin() + at + secret.size(), true);
      any = true;
    }
  }
  if (!any) return std::string(text);

  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (!covered[i]) {
      out += text[i++];
      continue;
    }
    auto longest = std::find_if(order.begin(), order.end(), [&](std::string_view s) {
      return text.compare(i, s.size(), s) == 0;
    });
    if (longest != order.end()) {
      out += "***";
      i += longest->size();
    } else {
      ++i;  // the tail of an overlapping occurrence, already hidden behind the previous "***"
    }
  }
  return out;
}

}  // namespace sluice::core
