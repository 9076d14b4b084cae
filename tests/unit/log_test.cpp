// The logger: levels, text and JSON lines, redaction of every line, the rate limiter.
#include <doctest/doctest.h>

#include <sluice/core/log.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

using sluice::core::LogFormat;
using sluice::core::Logger;
using sluice::core::LogLevel;

namespace {
struct Lines {
  std::vector<std::string> v;
  void attach(Logger& l) {
    l.set_writer([this](std::string_view s) { v.emplace_back(s); });
  }
};
}  // namespace

TEST_CASE("log: lines below the level are dropped") {
  Logger log;
  Lines lines;
  lines.attach(log);
  log.set_level(LogLevel::warn);
  log.info("core", "hidden");
  log.warn("core", "shown");
  REQUIRE(lines.v.size() == 1);
  CHECK(lines.v[0].find(" warn [core] shown\n") != std::string::npos);
}

TEST_CASE("log: json lines are one JSON object with time, level, component, message") {
  Logger log;
  Lines lines;
  lines.attach(log);
  log.set_format(LogFormat::json);
  log.error("sink \"a\"", "line1\nline2");
  REQUIRE(lines.v.size() == 1);
  auto j = nlohmann::json::parse(lines.v[0]);
  CHECK(j["level"] == "error");
  CHECK(j["component"] == "sink \"a\"");
  CHECK(j["message"] == "line1\nline2");
  CHECK(j["time"].get<std::string>().size() == 24);  // 2026-11-21T05:10:55.123Z
}

TEST_CASE("log: every secret is redacted, in text and in JSON (even with quotes in it)") {
  Logger log;
  Lines lines;
  lines.attach(log);
  log.set_secrets({"pa\"ss", "tok3n"});
  log.info("src", "login pa\"ss and tok3n");
  log.set_format(LogFormat::json);
  log.info("tok3n", "again pa\"ss");
  REQUIRE(lines.v.size() == 2);
  CHECK(lines.v[0].find("login *** and ***") != std::string::npos);
  CHECK(lines.v[1].find("\"component\":\"***\"") != std::string::npos);
  CHECK(lines.v[1].find("again ***") != std::string::npos);
  for (const auto& l : lines.v) {
    CHECK(l.find("tok3n") == std::string::npos);
    CHECK(l.find("pa\\\"ss") == std::string::npos);
  }
}

TEST_CASE("log: level and format names parse; unknown ones do not") {
  CHECK(sluice::core::parse_log_level("debug") == LogLevel::debug);
  CHECK(sluice::core::parse_log_level("warning") == LogLevel::warn);
  CHECK_FALSE(sluice::core::parse_log_level("loud"));
  CHECK(sluice::core::parse_log_format("json") == LogFormat::json);
  CHECK_FALSE(sluice::core::parse_log_format("xml"));
}

TEST_CASE("rate limit: the first message passes, the next ones within the interval are held") {
  sluice::core::RateLimit limit(std::chrono::hours(1));
  uint64_t held = 99;
  CHECK(limit.allow(&held));
  CHECK(held == 0);
  CHECK_FALSE(limit.allow());
  CHECK_FALSE(limit.allow());
}

TEST_CASE("log: text a peer wrote cannot forge a record (control characters escaped)") {
  Logger log;
  Lines lines;
  lines.attach(log);
  // An ERROR frame body with a line of its own that looks like a record.
  const std::string body =
      "bad topic\n2026-11-21T05:10:55.123Z error [core] stopped\r\x1b[2Jcleared\xc2\x85next";
  log.warn("hmc", "broker said: " + body);
  log.set_format(LogFormat::json);
  log.warn("hmc", "broker said: " + body);
  REQUIRE(lines.v.size() == 2);
  for (const auto& l : lines.v)
    CHECK(l.find('\n') == l.size() - 1);  // exactly one line each
  CHECK(lines.v[0].find("broker said: bad topic\\n2026-11-21T05:10:55.123Z error [core] "
                        "stopped\\r\\x1b[2Jcleared\\u0085next\n") != std::string::npos);
  CHECK(nlohmann::json::parse(lines.v[1])["message"] == "broker said: " + body);
}

TEST_CASE("log: a one-letter password does not garble the log; a long secret is hidden") {
  Logger log;
  Lines lines;
  lines.attach(log);
  log.set_secrets({"x", "s3cr3t-token-value"});
  log.info("hmc", "expected text, logged on as sysprog with s3cr3t-token-value");
  REQUIRE(lines.v.size() == 1);
  CHECK(lines.v[0].find("expected text, logged on as sysprog with ***\n") != std::string::npos);
}

TEST_CASE("log: a component's own level overrides the global one, both ways") {
  Logger log;
  Lines lines;
  lines.attach(log);
  log.set_level(LogLevel::info);
  log.set_component_levels({{"hmc1", LogLevel::debug}, {"core", LogLevel::warn}});
  log.debug("hmc1", "hmc1 debug");
  log.trace("hmc1", "hmc1 trace");
  log.debug("web", "web debug");
  log.info("web", "web info");
  log.info("core", "core info");
  log.warn("core", "core warn");
  REQUIRE(lines.v.size() == 3);
  CHECK(lines.v[0].find("debug [hmc1] hmc1 debug") != std::string::npos);
  CHECK(lines.v[1].find("info [web] web info") != std::string::npos);
  CHECK(lines.v[2].find("warn [core] core warn") != std::string::npos);

  CHECK(log.enabled(LogLevel::debug, "hmc1"));
  CHECK_FALSE(log.enabled(LogLevel::trace, "hmc1"));
  CHECK_FALSE(log.enabled(LogLevel::debug, "web"));
  CHECK_FALSE(log.enabled(LogLevel::info, "core"));
  CHECK(log.level_of("web") == LogLevel::info);

  // --log-level changes the global level only; the components keep theirs.
  log.set_level(LogLevel::trace);
  CHECK(log.enabled(LogLevel::trace, "web"));
  CHECK_FALSE(log.enabled(LogLevel::trace, "hmc1"));
  CHECK_FALSE(log.enabled(LogLevel::info, "core"));

  // Replacing the levels drops the old ones.
  log.set_component_levels({});
  CHECK(log.enabled(LogLevel::trace, "hmc1"));
  CHECK(log.enabled(LogLevel::info, "core"));
}
