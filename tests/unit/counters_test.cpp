// The counter tables (counters.hpp) and their three readers: flat(), the accounting table, the
// periodic metrics line. The shapes are the documented ones (docs/runtime.md).
#include <doctest/doctest.h>

#include <sluice/core/counters.hpp>

#include <set>
#include <string>

using sluice::core::Metrics;
using sluice::core::SinkMetrics;
using sluice::core::SourceMetrics;

namespace {

Metrics small_metrics() {
  Metrics m;
  SourceMetrics src;
  src.name = "gen";
  src.emitted = 1200;
  m.sources.push_back(src);
  SinkMetrics out;
  out.name = "out";
  out.received = 1200;
  out.delivered = 1150;
  out.queued = 30;
  out.in_flight = 20;
  m.sinks.push_back(out);
  return m;
}

}  // namespace

TEST_CASE("counters: the metrics line reads the table, in the documented shape") {
  CHECK(sluice::core::format_metrics_line(small_metrics()) ==
        "metrics: source gen emitted=1200 parse_errors=0; sink out received=1200 recovered=0 "
        "delivered=1150 queued=50 spooled=0 dead_lettered=0 dropped=0");
  Metrics m = small_metrics();
  m.sinks[0].spool_lost = 2;  // shown only when not 0
  m.sinks[0].dropped_newest = 3;
  m.sinks[0].dropped_shutdown = 4;
  CHECK(sluice::core::format_metrics_line(m).find(" dropped=7 spool_lost=2") != std::string::npos);
}

TEST_CASE("counters: the accounting table has one column per table row and says balanced") {
  const std::string t = sluice::core::format_accounting(small_metrics());
  const std::string header = t.substr(0, t.find('\n'));
  // The columns of printf("%-16s %10s %9s %10s %8s ...") as before the table existed.
  CHECK(header ==
        "sink               received recovered  delivered   queued inflight  spooled  deadlet  "
        "abandon d.newest d.oldest d.reject d.shutdn  d.spool     lost balanced");
  CHECK(t.find("out                    1200         0       1150       30       20") !=
        std::string::npos);
  CHECK(t.find(" yes\n") != std::string::npos);
  CHECK(t.find("source              emitted parse_errors violations unrouted  refused") !=
        std::string::npos);
}

TEST_CASE("counters: flat() has every field row once, no derived row") {
  const auto flat = small_metrics().flat();
  std::set<std::string> sink_keys;
  for (const auto& [k, v] : flat)
    if (k.rfind("sink.out.", 0) == 0) sink_keys.insert(k.substr(9));
  CHECK(sink_keys == std::set<std::string>{"received", "recovered", "delivered", "queued",
                                           "in_flight", "spooled", "dead_lettered", "abandoned",
                                           "dropped.newest", "dropped.oldest", "dropped.rejected",
                                           "dropped.shutdown", "dropped.spool_error", "spool_lost",
                                           "batches", "retries", "queued_bytes", "spool_bytes"});
  CHECK(flat.at("sink.out.queued") == 30);
  CHECK(flat.at("source.gen.emitted") == 1200);
  CHECK(flat.count("source.gen.contract_violations") == 1);
  size_t with_help = 0;
  for (const auto& row : sluice::core::sink_counters())
    with_help += row.help && *row.help;
  CHECK(with_help == std::size(sluice::core::kSinkCounters));
}
