// Every counter of the runtime, defined once. A row names a counter and says where it shows:
// the flat name (`Metrics::flat()`, "sink.<n>.<name>", and what a Prometheus endpoint exports),
// the column of the accounting table `sluice run` logs at shutdown, the key of the periodic
// metrics line, its kind and its help text. The structs below get their fields from the same
// lists, so adding a counter is one line here (and the place that counts it).
#pragma once

#include <array>
#include <cstdint>
#include <iterator>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace sluice::core {

enum class CounterKind {
  counter,  // only grows while the runtime lives
  gauge,    // goes up and down (what is waiting somewhere now)
};

// FIELD(member, flat name, table column or nullptr, column width, metrics line key or nullptr,
//       kind, help). A line key ending in '?' is left out of the line while the value is 0.
// DERIVED(id, table column or nullptr, column width, metrics line key or nullptr, kind, help,
//         expression of `m`): a sum of fields, shown in the table or the line only (never in
//         flat() or Prometheus: it would count its terms twice).
// The order is the order of the table's columns and of the line's keys.
#define SLUICE_SINK_COUNTERS(FIELD, DERIVED)                                                     \
  FIELD(received, "received", "received", 10, "received", counter, "events routed to this sink") \
  FIELD(recovered, "recovered", "recovered", 9, "recovered", counter,                            \
        "found in the spool at start (received in an earlier run, readable or damaged)")         \
  FIELD(delivered, "delivered", "delivered", 10, "delivered", counter,                           \
        "answered OK (the batch, or the event: plugin API 1.1)")                                 \
  FIELD(queued, "queued", "queued", 8, nullptr, gauge, "waiting in the in-memory queue")         \
  FIELD(in_flight, "in_flight", "inflight", 8, nullptr, gauge,                                   \
        "in batches handed to the sink, waiting for a retry, or being dead-lettered")            \
  DERIVED(pending, nullptr, 0, "queued", gauge, "queued + in flight", m.queued + m.in_flight)    \
  FIELD(spooled, "spooled", "spooled", 8, "spooled", gauge, "waiting in the queue, on disk")     \
  FIELD(dead_lettered, "dead_lettered", "deadlet", 8, "dead_lettered", counter,                  \
        "written to the dead-letter file")                                                       \
  FIELD(abandoned, "abandoned", "abandon", 8, nullptr, counter,                                  \
        "held by a sink stuck at shutdown (deliver/stop did not return in time): fate unknown")  \
  FIELD(dropped_newest, "dropped.newest", "d.newest", 8, nullptr, counter,                       \
        "queue full, policy drop_newest (or a full spool with overflow drop_newest)")            \
  FIELD(dropped_oldest, "dropped.oldest", "d.oldest", 8, nullptr, counter,                       \
        "queue full, policy drop_oldest (the evicted ones)")                                     \
  FIELD(dropped_rejected, "dropped.rejected", "d.reject", 8, nullptr, counter,                   \
        "rejected or out of retries, no dead-letter file took them")                             \
  FIELD(dropped_shutdown, "dropped.shutdown", "d.shutdn", 8, nullptr, counter,                   \
        "still undelivered when the drain deadline passed")                                      \
  FIELD(dropped_spool_error, "dropped.spool_error", "d.spool", 8, nullptr, counter,              \
        "the spool could not store them (ENOSPC, EIO, ...)")                                     \
  DERIVED(dropped, nullptr, 0, "dropped", counter, "every dropped_* term",                       \
          m.dropped_newest + m.dropped_oldest + m.dropped_rejected + m.dropped_shutdown +        \
              m.dropped_spool_error)                                                             \
  FIELD(spool_lost, "spool_lost", "lost", 8, "spool_lost?", counter,                             \
        "stored, but damaged on disk: could not be read back")                                   \
  FIELD(batches, "batches", nullptr, 0, nullptr, counter,                                        \
        "batches handed to the sink (first attempts)")                                           \
  FIELD(retries, "retries", nullptr, 0, nullptr, counter, "batches handed again after RETRY")    \
  FIELD(queued_bytes, "queued_bytes", nullptr, 0, nullptr, gauge,                                \
        "bytes of the events waiting in the in-memory queue")                                    \
  FIELD(spool_bytes, "spool_bytes", nullptr, 0, nullptr, gauge,                                  \
        "bytes of the spool's segment files on disk")

#define SLUICE_SOURCE_COUNTERS(FIELD, DERIVED)                                                \
  FIELD(emitted, "emitted", "emitted", 10, "emitted", counter,                                \
        "events the plugin handed to emit()")                                                 \
  FIELD(parse_errors, "parse_errors", "parse_errors", 12, "parse_errors", counter,            \
        "of those, turned into sluice.parse-error (bad JSON data, contract violations)")      \
  FIELD(contract_violations, "contract_violations", "violations", 10, nullptr, counter,       \
        "of those, missing id/source/type (also parse errors), or an unreadable event array") \
  FIELD(unrouted, "unrouted", "unrouted", 8, nullptr, counter, "matched no route")            \
  FIELD(refused, "refused", "refused", 8, nullptr, counter,                                   \
        "emitted after the source was stopped: not accepted")

// Seconds from a batch handed to the sink (each attempt) to its answer (complete_batch): a
// Prometheus histogram. counts[i] holds the answers of at most kBounds[i] seconds (not
// cumulative); counts.back() those above the last bound.
struct LatencyHistogram {
  static constexpr double kBounds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                       0.5,   1,     2.5,  5,     10,   30,  60};
  static constexpr size_t kBuckets = std::size(kBounds) + 1;
  std::array<uint64_t, kBuckets> counts{};
  double sum = 0;  // seconds
  uint64_t count = 0;

  void observe(double seconds) {
    size_t i = 0;
    while (i < std::size(kBounds) && seconds > kBounds[i])
      ++i;
    ++counts[i];
    sum += seconds;
    ++count;
  }
};

#define SLUICE_COUNTER_MEMBER(member, ...) uint64_t member = 0;
#define SLUICE_COUNTER_NOTHING(...)

// Every term of a sink's accounting. At any moment:
//   received + recovered == delivered + queued + in_flight + spooled + dead_lettered + abandoned
//                           + dropped() + spool_lost
struct SinkMetrics {
  std::string name;
  SLUICE_SINK_COUNTERS(SLUICE_COUNTER_MEMBER, SLUICE_COUNTER_NOTHING)
  std::string state;                               // the plugin's last reported state ("" if none)
  std::string state_detail;                        // and the detail it gave with it ("" if none)
  std::string plugin;                              // the plugin's name (pipeline `plugin:`)
  std::map<std::string, int64_t> plugin_counters;  // count_metric, by the plugin's names
  LatencyHistogram batch_latency;

  uint64_t dropped() const {
    return dropped_newest + dropped_oldest + dropped_rejected + dropped_shutdown +
           dropped_spool_error;
  }
  bool balanced() const {
    return received + recovered == delivered + queued + in_flight + spooled + dead_lettered +
                                       abandoned + dropped() + spool_lost;
  }
};

struct SourceMetrics {
  std::string name;
  SLUICE_SOURCE_COUNTERS(SLUICE_COUNTER_MEMBER, SLUICE_COUNTER_NOTHING)
  std::string state;
  std::string state_detail;
  std::string plugin;
  std::map<std::string, int64_t> plugin_counters;
};

#undef SLUICE_COUNTER_MEMBER
#undef SLUICE_COUNTER_NOTHING

// One row of a counter table.
template <typename M>
struct CounterRow {
  const char* name;    // flat name; nullptr for a derived row
  const char* column;  // accounting table header; nullptr: not a column
  int width;           // of that column
  const char* line;    // key in the periodic metrics line; nullptr: not in it; "k?": not while 0
  CounterKind kind;
  const char* help;
  uint64_t (*get)(const M&);
};

#define SLUICE_COUNTER_FIELD_ROW(T, member, flat, column, width, line, kind, help)               \
  CounterRow<T>{flat, column, width, line, CounterKind::kind, help, [](const T& m) -> uint64_t { \
                  return m.member;                                                               \
                }},
#define SLUICE_COUNTER_DERIVED_ROW(T, id, column, width, line, kind, help, expr) \
  CounterRow<T>{nullptr,                                                         \
                column,                                                          \
                width,                                                           \
                line,                                                            \
                CounterKind::kind,                                               \
                help,                                                            \
                [](const T& m) -> uint64_t { return expr; }},
#define SLUICE_SINK_FIELD_ROW(...) SLUICE_COUNTER_FIELD_ROW(SinkMetrics, __VA_ARGS__)
#define SLUICE_SINK_DERIVED_ROW(...) SLUICE_COUNTER_DERIVED_ROW(SinkMetrics, __VA_ARGS__)
#define SLUICE_SOURCE_FIELD_ROW(...) SLUICE_COUNTER_FIELD_ROW(SourceMetrics, __VA_ARGS__)
#define SLUICE_SOURCE_DERIVED_ROW(...) SLUICE_COUNTER_DERIVED_ROW(SourceMetrics, __VA_ARGS__)

inline constexpr CounterRow<SinkMetrics> kSinkCounters[] = {
    SLUICE_SINK_COUNTERS(SLUICE_SINK_FIELD_ROW, SLUICE_SINK_DERIVED_ROW)};
inline constexpr CounterRow<SourceMetrics> kSourceCounters[] = {
    SLUICE_SOURCE_COUNTERS(SLUICE_SOURCE_FIELD_ROW, SLUICE_SOURCE_DERIVED_ROW)};

#undef SLUICE_COUNTER_FIELD_ROW
#undef SLUICE_COUNTER_DERIVED_ROW
#undef SLUICE_SINK_FIELD_ROW
#undef SLUICE_SINK_DERIVED_ROW
#undef SLUICE_SOURCE_FIELD_ROW
#undef SLUICE_SOURCE_DERIVED_ROW

// The tables, for whoever exports them (a Prometheus endpoint: one metric family per row with a
// flat name, labelled by sink or source name).
inline std::span<const CounterRow<SinkMetrics>> sink_counters() {
  return kSinkCounters;
}
inline std::span<const CounterRow<SourceMetrics>> source_counters() {
  return kSourceCounters;
}

struct Metrics {
  std::vector<SourceMetrics> sources;
  std::vector<SinkMetrics> sinks;
  std::map<std::string, int64_t> plugin;  // "<instance>.<name>" from count_metric

  // Every counter as "source.<n>.<term>", "sink.<n>.<term>", "plugin.<instance>.<name>".
  std::map<std::string, int64_t> flat() const;
};

// The accounting of every sink and source as an aligned table (logged at shutdown): one column
// per row with a column name, and "balanced".
std::string format_accounting(const Metrics& m);

// The periodic metrics line: "metrics: source <n> k=v ...; sink <n> k=v ...", one key per row
// with a line key (spool_lost only when not 0).
std::string format_metrics_line(const Metrics& m);

}  // namespace sluice::core
