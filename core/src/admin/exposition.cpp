// GET /metrics: one family per row of the counter tables that has a flat name, labelled by
// source or sink and plugin; the state of every instance as one gauge per state; the batch
// latency histogram; every count_metric counter under its plugin's name; the process.
#include "exposition.hpp"

#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

namespace sluice::core::admin {

namespace {

constexpr const char* kStates[] = {"connecting", "up", "degraded", "down"};

std::string number(double v) {
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
  return ec == std::errc() ? std::string(buffer, end) : std::string("NaN");
}

// The format's escaping: \ and newline in HELP text; \, newline and " in label values.
std::string escape(std::string_view text, bool quote) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '"' && quote)
      out += "\\\"";
    else
      out += c;
  }
  return out;
}

// A metric name part from a flat name: "dropped.newest" -> "dropped_newest".
std::string name_part(std::string_view flat) {
  std::string out;
  for (char c : flat) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    out += ok ? c : '_';
  }
  return out;
}

struct Page {
  std::string text;

  void family(const std::string& name, const char* type, std::string_view help) {
    text += "# HELP " + name + " " + escape(help, false) + "\n";
    text += "# TYPE " + name + " " + type + "\n";
  }
  void sample(const std::string& name, const std::string& labels, const std::string& value) {
    text += name;
    if (!labels.empty()) text += "{" + labels + "}";
    text += " " + value + "\n";
  }
};

std::string label(const char* key, std::string_view value) {
  return std::string(key) + "=\"" + escape_label(value) + "\"";
}

template <typename M>
std::string instance_labels(const char* kind, const M& item) {
  return label(kind, item.name) + "," + label("plugin", item.plugin);
}

template <typename M>
void table_families(Page& page, const char* kind, std::span<const CounterRow<M>> rows,
                    const std::vector<M>& items) {
  for (const auto& row : rows) {
    if (!row.name) continue;  // a derived row would count its terms twice
    const bool counter = row.kind == CounterKind::counter;
    const std::string name =
        std::string("sluice_") + kind + "_" + name_part(row.name) + (counter ? "_total" : "");
    page.family(name, counter ? "counter" : "gauge", row.help);
    for (const auto& item : items)
      page.sample(name, instance_labels(kind, item), std::to_string(row.get(item)));
  }
}

template <typename M>
void state_family(Page& page, const char* kind, const std::vector<M>& items) {
  const std::string name = std::string("sluice_") + kind + "_state";
  page.family(name, "gauge",
              std::string("1 for the state the ") + kind +
                  " reported last (connecting, up, degraded, down), 0 for the others");
  for (const auto& item : items)
    for (const char* state : kStates)
      page.sample(name, instance_labels(kind, item) + "," + label("state", state),
                  item.state == state ? "1" : "0");
}

void latency_family(Page& page, const std::vector<SinkMetrics>& sinks) {
  const std::string name = "sluice_sink_batch_latency_seconds";
  page.family(name, "histogram",
              "seconds from a batch (each attempt) handed to the sink to the sink's answer");
  for (const auto& s : sinks) {
    const std::string labels = instance_labels("sink", s);
    const auto& h = s.batch_latency;
    uint64_t cumulative = 0;
    for (size_t i = 0; i < LatencyHistogram::kBuckets; ++i) {
      cumulative += h.counts[i];
      const std::string le =
          i < std::size(LatencyHistogram::kBounds) ? number(LatencyHistogram::kBounds[i]) : "+Inf";
      page.sample(name + "_bucket", labels + "," + label("le", le), std::to_string(cumulative));
    }
    page.sample(name + "_sum", labels, number(h.sum));
    page.sample(name + "_count", labels, std::to_string(h.count));
  }
}

// Every count_metric counter, one family per name across every instance reporting it.
void plugin_families(Page& page, const Metrics& m) {
  std::map<std::string, std::vector<std::pair<std::string, int64_t>>> families;
  auto collect = [&](const char* kind, const auto& items) {
    for (const auto& item : items)
      for (const auto& [metric, value] : item.plugin_counters)
        families[plugin_family(metric)].emplace_back(instance_labels(kind, item), value);
  };
  collect("source", m.sources);
  collect("sink", m.sinks);
  for (const auto& [name, samples] : families) {
    page.family(name, "counter",
                "a counter the plugin reports (count_metric); see the plugin's README");
    for (const auto& [labels, value] : samples)
      page.sample(name, labels, std::to_string(value));
  }
}

uint64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

uint64_t open_fds() {
  std::error_code ec;
  uint64_t n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec))
    ++n;
  return n ? n - 1 : 0;  // not the one the iterator itself holds open
}

}  // namespace

std::string escape_label(std::string_view value) {
  return escape(value, true);
}

std::string plugin_family(std::string_view metric) {
  std::string part = name_part(metric);
  constexpr std::string_view kTotal = "_total";
  if (part.size() > kTotal.size() &&
      part.compare(part.size() - kTotal.size(), kTotal.size(), kTotal) == 0)
    part.resize(part.size() - kTotal.size());
  return "sluice_plugin_" + part + "_total";
}

ProcessInfo process_info(std::chrono::steady_clock::time_point started) {
  ProcessInfo p;
  p.uptime_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  p.resident_bytes = resident_bytes();
  p.open_fds = open_fds();
#ifdef SLUICE_VERSION
  p.version = SLUICE_VERSION;
#endif
  return p;
}

std::string prometheus_text(const Metrics* m, const ProcessInfo& process) {
  Page page;
  page.family("sluice_build_info", "gauge", "always 1; the version of this sluice");
  page.sample("sluice_build_info", label("version", process.version), "1");
  page.family("sluice_uptime_seconds", "gauge", "seconds since sluice run started");
  page.sample("sluice_uptime_seconds", "", number(process.uptime_seconds));
  page.family("sluice_process_resident_memory_bytes", "gauge", "resident set size");
  page.sample("sluice_process_resident_memory_bytes", "", std::to_string(process.resident_bytes));
  page.family("sluice_process_open_fds", "gauge", "open file descriptors");
  page.sample("sluice_process_open_fds", "", std::to_string(process.open_fds));
  page.family("sluice_pipeline_running", "gauge",
              "1 while a pipeline runs; 0 between the stop and the start of a reload");
  page.sample("sluice_pipeline_running", "", m ? "1" : "0");
  if (!m) return page.text;
  table_families<SourceMetrics>(page, "source", source_counters(), m->sources);
  state_family(page, "source", m->sources);
  table_families<SinkMetrics>(page, "sink", sink_counters(), m->sinks);
  state_family(page, "sink", m->sinks);
  latency_family(page, m->sinks);
  plugin_families(page, *m);
  return page.text;
}

std::string tap_text(const TapCounters& tap) {
  Page page;
  page.family("sluice_tap_clients", "gauge", "clients of GET /tap attached now");
  page.sample("sluice_tap_clients", "", std::to_string(tap.clients));
  page.family("sluice_tap_events_total", "counter", "events written to GET /tap clients");
  page.sample("sluice_tap_events_total", "", std::to_string(tap.sent));
  page.family("sluice_tap_dropped_events_total", "counter",
              "events a GET /tap client did not get: over its rate limit (rate), or its queue "
              "was full because it did not read fast enough (slow_client)");
  page.sample("sluice_tap_dropped_events_total", label("reason", "rate"),
              std::to_string(tap.dropped_rate));
  page.sample("sluice_tap_dropped_events_total", label("reason", "slow_client"),
              std::to_string(tap.dropped_queue));
  return page.text;
}

nlohmann::json status_json(const Metrics* m, const ProcessInfo& process) {
  using json = nlohmann::json;
  json out{{"running", m != nullptr},
           {"uptime_seconds", process.uptime_seconds},
           {"version", process.version},
           {"sources", json::array()},
           {"sinks", json::array()}};
  if (!m) return out;
  auto item = [](const auto& x, const auto& rows) {
    json j{{"name", x.name}, {"plugin", x.plugin}, {"state", x.state}, {"detail", x.state_detail}};
    for (const auto& row : rows)
      if (row.name) j[name_part(row.name)] = row.get(x);
    j["plugin_counters"] = x.plugin_counters;
    return j;
  };
  for (const auto& s : m->sources)
    out["sources"].push_back(item(s, source_counters()));
  for (const auto& s : m->sinks) {
    json j = item(s, sink_counters());
    j["dropped"] = s.dropped();
    out["sinks"].push_back(std::move(j));
  }
  return out;
}

}  // namespace sluice::core::admin
