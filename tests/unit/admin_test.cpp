// The admin server's pieces that need no socket: the Prometheus exposition of the counters
// (core/src/admin/exposition.cpp), the bearer check, the status of each reload result, and the
// pipeline's `admin:` block. The server itself runs in tests/integration/admin_test.py.
#include <doctest/doctest.h>

#include "../../core/src/admin/exposition.hpp"
#include "../../core/src/admin/server.hpp"
#include "config_test_util.hpp"

#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace sluice::core;
using config_test::load_text;
using config_test::Loaded;
using Strings = std::vector<std::string>;

namespace {

Metrics full_metrics() {
  Metrics m;
  SourceMetrics src;
  src.name = "hmc1";
  src.plugin = "hmc_stomp";
  src.emitted = 42;
  src.parse_errors = 2;
  src.state = "down";
  src.plugin_counters = {{"gaps", 3}, {"reconnects", 7}};
  m.sources.push_back(src);
  SinkMetrics out;
  out.name = "out";
  out.plugin = "webhook";
  out.received = 40;
  out.delivered = 38;
  out.queued = 2;
  out.queued_bytes = 512;
  out.retries = 5;
  out.state = "up";
  out.plugin_counters = {{"webhook.requests", 9}};
  out.batch_latency.observe(0.0005);  // <= 0.001
  out.batch_latency.observe(0.003);   // <= 0.005
  out.batch_latency.observe(0.003);
  out.batch_latency.observe(120);  // above the last bound: +Inf only
  m.sinks.push_back(out);
  return m;
}

std::string page(const Metrics& m) {
  admin::ProcessInfo p;
  p.uptime_seconds = 12.5;
  p.resident_bytes = 4096;
  p.open_fds = 9;
  p.version = "1.2.3";
  return admin::prometheus_text(&m, p);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    out.push_back(l);
  return out;
}

bool has_line(const std::string& text, const std::string& line) {
  for (const auto& l : lines_of(text))
    if (l == line) return true;
  return false;
}

}  // namespace

TEST_CASE("admin.exposition: label values escape backslash, double quote and newline") {
  CHECK(admin::escape_label("plain") == "plain");
  CHECK(admin::escape_label(R"(a\b)") == R"(a\\b)");
  CHECK(admin::escape_label(R"(say "hi")") == R"(say \"hi\")");
  CHECK(admin::escape_label("two\nlines") == R"(two\nlines)");
  Metrics m = full_metrics();
  m.sinks[0].plugin = "we\"ird\\\n";
  CHECK(has_line(page(m), R"(sluice_sink_received_total{sink="out",plugin="we\"ird\\\n"} 40)"));
}

TEST_CASE("admin.exposition: histogram buckets are cumulative, end in +Inf, with _sum and _count") {
  const std::string text = page(full_metrics());
  const std::string labels = R"(sink="out",plugin="webhook")";
  const std::string b = "sluice_sink_batch_latency_seconds_bucket{" + labels;
  CHECK(has_line(text, "# TYPE sluice_sink_batch_latency_seconds histogram"));
  CHECK(has_line(text, b + R"(,le="0.001"} 1)"));
  CHECK(has_line(text, b + R"(,le="0.005"} 3)"));
  CHECK(has_line(text, b + R"(,le="0.01"} 3)"));
  CHECK(has_line(text, b + R"(,le="60"} 3)"));
  CHECK(has_line(text, b + R"(,le="+Inf"} 4)"));
  CHECK(has_line(text, "sluice_sink_batch_latency_seconds_sum{" + labels + "} 120.0065"));
  CHECK(has_line(text, "sluice_sink_batch_latency_seconds_count{" + labels + "} 4"));
  // One bucket line per bound and one for +Inf, in ascending order.
  std::vector<std::string> les;
  for (const auto& l : lines_of(text))
    if (l.rfind(b, 0) == 0)
      les.push_back(l.substr(l.find("le=\"") + 4, l.find("\"}") - l.find("le=\"") - 4));
  CHECK(les == Strings{"0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5",
                       "5", "10", "30", "60", "+Inf"});
}

TEST_CASE("admin.exposition: one family per counter-table row, counters end in _total") {
  const std::string text = page(full_metrics());
  for (const auto& row : sink_counters()) {
    if (!row.name) continue;
    std::string name = std::string("sluice_sink_") + row.name;
    for (auto& c : name)
      if (c == '.') c = '_';
    if (row.kind == CounterKind::counter) name += "_total";
    CHECK_MESSAGE(has_line(text, "# TYPE " + name + " " +
                                     (row.kind == CounterKind::counter ? "counter" : "gauge")),
                  name);
  }
  CHECK(has_line(text, R"(sluice_sink_dropped_newest_total{sink="out",plugin="webhook"} 0)"));
  CHECK(has_line(text, R"(sluice_sink_retries_total{sink="out",plugin="webhook"} 5)"));
  CHECK(has_line(text, R"(sluice_sink_queued_bytes{sink="out",plugin="webhook"} 512)"));
  CHECK(has_line(text, R"(sluice_source_emitted_total{source="hmc1",plugin="hmc_stomp"} 42)"));
  CHECK(has_line(text, R"(sluice_source_parse_errors_total{source="hmc1",plugin="hmc_stomp"} 2)"));
  // Derived rows (pending, dropped) would count their terms twice: not exported.
  CHECK(text.find("sluice_sink_dropped_total") == std::string::npos);
  CHECK(text.find("sluice_sink_pending") == std::string::npos);
  // Every family has HELP and TYPE once, before its samples.
  std::set<std::string> typed;
  for (const auto& l : lines_of(text)) {
    if (l.rfind("# TYPE ", 0) == 0) {
      const std::string name = l.substr(7, l.find(' ', 7) - 7);
      CHECK_MESSAGE(typed.insert(name).second, name);
    }
  }
}

TEST_CASE("admin.exposition: state as one gauge per state, plugin counters under their names") {
  const std::string text = page(full_metrics());
  const std::string s = R"(sluice_source_state{source="hmc1",plugin="hmc_stomp",state=)";
  CHECK(has_line(text, s + R"("connecting"} 0)"));
  CHECK(has_line(text, s + R"("up"} 0)"));
  CHECK(has_line(text, s + R"("degraded"} 0)"));
  CHECK(has_line(text, s + R"("down"} 1)"));
  CHECK(has_line(text, R"(sluice_sink_state{sink="out",plugin="webhook",state="up"} 1)"));
  CHECK(has_line(text, "# TYPE sluice_plugin_gaps_total counter"));
  CHECK(has_line(text, R"(sluice_plugin_gaps_total{source="hmc1",plugin="hmc_stomp"} 3)"));
  CHECK(has_line(text, R"(sluice_plugin_reconnects_total{source="hmc1",plugin="hmc_stomp"} 7)"));
  CHECK(has_line(text, R"(sluice_plugin_webhook_requests_total{sink="out",plugin="webhook"} 9)"));
  CHECK(admin::plugin_family("answered.ok") == "sluice_plugin_answered_ok_total");
  CHECK(admin::plugin_family("events_total") == "sluice_plugin_events_total");
}

TEST_CASE("admin.exposition: process families; without a pipeline only those") {
  const std::string text = page(full_metrics());
  CHECK(has_line(text, R"(sluice_build_info{version="1.2.3"} 1)"));
  CHECK(has_line(text, "sluice_uptime_seconds 12.5"));
  CHECK(has_line(text, "sluice_process_resident_memory_bytes 4096"));
  CHECK(has_line(text, "sluice_process_open_fds 9"));
  CHECK(has_line(text, "sluice_pipeline_running 1"));
  const std::string empty = admin::prometheus_text(nullptr, {});
  CHECK(has_line(empty, "sluice_pipeline_running 0"));
  CHECK(empty.find("sluice_source_") == std::string::npos);
  const admin::ProcessInfo self = admin::process_info(std::chrono::steady_clock::now());
  CHECK(self.resident_bytes > 0);
  CHECK(self.open_fds >= 3);  // stdin, stdout, stderr at least
}

TEST_CASE("admin.auth: the bearer token must match exactly") {
  CHECK(admin::bearer_matches("Bearer s3cret-token", "s3cret-token"));
  CHECK_FALSE(admin::bearer_matches("Bearer s3cret-toke", "s3cret-token"));
  CHECK_FALSE(admin::bearer_matches("Bearer s3cret-tokenX", "s3cret-token"));
  CHECK_FALSE(admin::bearer_matches("bearer s3cret-token", "s3cret-token"));
  CHECK_FALSE(admin::bearer_matches("", "s3cret-token"));
  CHECK_FALSE(admin::bearer_matches("Bearer ", ""));
}

TEST_CASE("admin.reload: each result has its documented status") {
  CHECK(admin::reload_status("applied") == 200);
  CHECK(admin::reload_status("unchanged") == 200);
  CHECK(admin::reload_status("refused") == 409);
  CHECK(admin::reload_status("restored") == 500);
  CHECK(admin::reload_status("nothing_runs") == 500);
  CHECK(admin::reload_status("stopping") == 503);
  CHECK(admin::reload_status("pending") == 504);
}

TEST_CASE("admin.config: listen on loopback, IPv4 or [IPv6]; off when absent") {
  {
    Loaded l;
    load_text(l, config_test::kMinimal);
    REQUIRE(l.result.ok());
    CHECK_FALSE(l.result.pipeline->admin.enabled);
  }
  {
    Loaded l;
    load_text(l, std::string("admin: {listen: '127.0.0.1:9464'}\n") + config_test::kMinimal);
    CHECK(l.diagnostics == Strings{});
    REQUIRE(l.result.ok());
    const AdminConfig& a = l.result.pipeline->admin;
    CHECK(a.enabled);
    CHECK(a.host == "127.0.0.1");
    CHECK(a.port == 9464);
    CHECK(a.token.empty());
  }
  {
    Loaded l;
    load_text(l, std::string("admin: {listen: '[::1]:9465'}\n") + config_test::kMinimal);
    REQUIRE(l.result.ok());
    CHECK(l.result.pipeline->admin.host == "::1");
    CHECK(l.result.pipeline->admin.port == 9465);
  }
}

TEST_CASE("admin.config: a bad listen value, a remote address without allow_remote and token") {
  Loaded l;
  load_text(l, std::string("admin: {listen: 'localhost:9464'}\n") + config_test::kMinimal);
  CHECK(l.diagnostics == Strings{"P:1:17: error: admin.listen: 'localhost:9464' is not HOST:PORT "
                                 "with an IP address (127.0.0.1:9464, [::1]:9464)"});
  Loaded port;
  load_text(port, std::string("admin: {listen: '127.0.0.1:70000'}\n") + config_test::kMinimal);
  CHECK(port.diagnostics ==
        Strings{"P:1:17: error: admin.listen: '70000' is not a port number (1-65535)"});
  Loaded remote;
  load_text(remote, std::string("admin: {listen: '0.0.0.0:9464'}\n") + config_test::kMinimal);
  CHECK(remote.diagnostics ==
        Strings{"P:1:17: error: admin.listen: '0.0.0.0:9464' is not a loopback address: the admin "
                "server answers anyone who can reach it; set allow_remote: true and a token to "
                "allow that"});
  Loaded no_token;
  load_text(no_token, std::string("admin: {listen: '0.0.0.0:9464', allow_remote: true}\n") +
                          config_test::kMinimal);
  CHECK(no_token.diagnostics == Strings{"P:1:8: error: admin: allow_remote: true needs a token "
                                        "(requests then carry `Authorization: Bearer <token>`)"});
  CHECK_FALSE(no_token.result.ok());
}

TEST_CASE("admin.config: with allow_remote and a token; the token is a secret") {
  Loaded l;
  load_text(l, std::string("admin: {listen: '0.0.0.0:9464', allow_remote: true, token: "
                           "'a-long-admin-token'}\n") +
                   config_test::kMinimal);
  CHECK(l.diagnostics == Strings{});
  REQUIRE(l.result.ok());
  CHECK(l.result.pipeline->admin.enabled);
  CHECK(l.result.pipeline->admin.token == "a-long-admin-token");
  CHECK(l.result.pipeline->secrets == Strings{"a-long-admin-token"});
}

TEST_CASE("admin.config: a short token is a warning") {
  Loaded l;
  load_text(
      l, std::string("admin: {listen: '127.0.0.1:9464', token: 'abc'}\n") + config_test::kMinimal);
  CHECK(l.diagnostics == Strings{"P:1:42: warning: admin.token: this token is shorter than 8 "
                                 "characters: easy to guess, and logs hide it only where it "
                                 "stands alone as a word; use a longer one"});
  CHECK(l.result.ok());
}
