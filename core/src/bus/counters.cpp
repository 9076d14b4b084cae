// The three readers of the counter tables (counters.hpp): flat(), the accounting table and the
// periodic metrics line. None of them names a counter.
#include <sluice/core/counters.hpp>

#include <string_view>

namespace sluice::core {

namespace {

// One column: right-aligned in `width` (left-aligned for the name), never cut; a space before
// every column but the first of a row.
void cell(std::string& out, int width, std::string_view text, bool left = false) {
  if (!out.empty() && out.back() != '\n') out += ' ';
  const size_t pad = text.size() < static_cast<size_t>(width) ? width - text.size() : 0;
  if (!left) out.append(pad, ' ');
  out += text;
  if (left) out.append(pad, ' ');
}

template <typename M>
void table(std::string& out, const char* first, std::span<const CounterRow<M>> rows,
           const std::vector<M>& items, bool balanced_column) {
  cell(out, 16, first, true);
  for (const auto& r : rows)
    if (r.column) cell(out, r.width, r.column);
  if (balanced_column) cell(out, 8, "balanced");
  out += '\n';
  for (const auto& item : items) {
    cell(out, 16, item.name, true);
    for (const auto& r : rows)
      if (r.column) cell(out, r.width, std::to_string(r.get(item)));
    if constexpr (requires { item.balanced(); })
      if (balanced_column) cell(out, 8, item.balanced() ? "yes" : "NO");
    out += '\n';
  }
}

template <typename M>
void line_terms(std::string& out, const char* kind, std::span<const CounterRow<M>> rows,
                const std::vector<M>& items) {
  for (const auto& item : items) {
    out += std::string(" ") + kind + " " + item.name;
    for (const auto& r : rows) {
      if (!r.line) continue;
      std::string_view key = r.line;
      const uint64_t v = r.get(item);
      if (key.back() == '?') {
        if (!v) continue;
        key.remove_suffix(1);
      }
      out += ' ';
      out += key;
      out += '=';
      out += std::to_string(v);
    }
    out += ';';
  }
}

}  // namespace

std::string format_accounting(const Metrics& m) {
  std::string out;
  table<SinkMetrics>(out, "sink", sink_counters(), m.sinks, true);
  table<SourceMetrics>(out, "source", source_counters(), m.sources, false);
  if (!out.empty()) out.pop_back();
  return out;
}

std::string format_metrics_line(const Metrics& m) {
  std::string line = "metrics:";
  line_terms<SourceMetrics>(line, "source", source_counters(), m.sources);
  line_terms<SinkMetrics>(line, "sink", sink_counters(), m.sinks);
  if (line.back() == ';') line.pop_back();
  return line;
}

std::map<std::string, int64_t> Metrics::flat() const {
  std::map<std::string, int64_t> out;
  for (const auto& s : sources)
    for (const auto& r : source_counters())
      if (r.name) out["source." + s.name + "." + r.name] = static_cast<int64_t>(r.get(s));
  for (const auto& s : sinks)
    for (const auto& r : sink_counters())
      if (r.name) out["sink." + s.name + "." + r.name] = static_cast<int64_t>(r.get(s));
  for (const auto& [k, v] : plugin)
    out["plugin." + k] = v;
  return out;
}

}  // namespace sluice::core
