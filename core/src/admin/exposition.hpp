// The Prometheus text exposition format (version 0.0.4) of the runtime's counters: what the
// admin server's GET /metrics answers. The families come from the counter tables
// (sluice/core/counters.hpp); nothing here names a counter of theirs. docs/operations.md lists
// the result.
#pragma once

#include <sluice/core/counters.hpp>
#include <sluice/core/tap.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::core::admin {

// What the process says about itself (sluice_process_*, sluice_build_info).
struct ProcessInfo {
  double uptime_seconds = 0;
  uint64_t resident_bytes = 0;  // 0: unknown
  uint64_t open_fds = 0;        // 0: unknown
  std::string version;
};

// Reads /proc/self; uptime from `started`.
ProcessInfo process_info(std::chrono::steady_clock::time_point started);

// A label value as the format writes it between double quotes: \ " and newline escaped.
std::string escape_label(std::string_view value);

// "sluice_plugin_<name>_total" for a count_metric name ([a-z0-9_.]; anything else becomes '_').
std::string plugin_family(std::string_view metric);

// The whole page. `m` is null while no pipeline runs (between the stop and the start of a
// reload): then only the process families.
std::string prometheus_text(const Metrics* m, const ProcessInfo& process);

// The families of the live tap (sluice_tap_*), appended to the page while a tap exists.
std::string tap_text(const TapCounters& tap);

// GET /status: every source and sink with its plugin, state and counters (every row of the
// counter tables with a flat name, '.' written '_', plus "dropped"), as `sluice top` reads it.
// `m` null: "running": false and empty lists.
nlohmann::json status_json(const Metrics* m, const ProcessInfo& process);

inline constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace sluice::core::admin
