// The built plugin module: its check_options entry (plugin ABI 1.1, what `sluice validate`
// calls) answers every row of refusals.json as sluice::hmc::check_options does, and create()
// refuses the row with the first problem's message (validate and run say the same).
#include "options.hpp"

#include <sluice/testing.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>

using nlohmann::json;
using sluice::testing::Harness;

namespace {

json refusals() {
  std::ifstream in(HMC_STOMP_REFUSALS);
  REQUIRE(in);
  return json::parse(in);
}

// The message create() fails with, or "" when it succeeds.
std::string create_error(Harness& h, const json& options) {
  try {
    h.create(options.dump());
    return "";
  } catch (const std::runtime_error& e) {
    return e.what();
  }
}

}  // namespace

TEST_CASE("create() refuses every row of refusals.json with check_options' first message") {
  Harness h(HMC_STOMP_SO);
  for (const auto& row : refusals()) {
    CAPTURE(row.dump());
    const sluice::OptionProblems p = sluice::hmc::check_options(row.at("options"));
    REQUIRE(!p.empty());
    CHECK(create_error(h, row.at("options")) == p.front().message);
  }
}

TEST_CASE("the check_options entry reports every row's problem at its pointer") {
  Harness h(HMC_STOMP_SO);
  for (const auto& row : refusals()) {
    CAPTURE(row.dump());
    const sluice::OptionProblems p = h.check(row.at("options").dump());
    CHECK(p == sluice::hmc::check_options(row.at("options")));
    REQUIRE(p.size() == 1);
    CHECK(p[0].pointer == row.at("pointer").get<std::string>());
    CHECK(p[0].message.find(row.at("message").get<std::string>()) != std::string::npos);
  }
}

TEST_CASE("the check_options entry: valid options, and several problems at once") {
  Harness h(HMC_STOMP_SO);
  CHECK(h.check(R"({"host":"hmc.example.com","topics":["ensadmin.145"]})").empty());
  CHECK(h.check(R"({"host":"h","topics":[],"heartbeat":{"receive":-5},"connect_timeout":-1,)"
                R"("max_frame_bytes":0,"tls":{"ca_file":"/nonexistent/sluice-test/ca.pem"}})") ==
        sluice::OptionProblems{
            {"/heartbeat/receive", "heartbeat.receive: must not be negative: -5"},
            {"/max_frame_bytes", "max_frame_bytes: at least 64"},
            {"/connect_timeout", "connect_timeout: must not be negative: -1"},
            {"/topics", "nothing to subscribe to: give topics, topic_types or os_message_channels"},
            {"/tls/ca_file",
             "tls.ca_file: cannot read /nonexistent/sluice-test/ca.pem: No such "
             "file or directory"}});
}

TEST_CASE("create() of a row's options without its fault succeeds (no start, no network)") {
  Harness h(HMC_STOMP_SO);
  CHECK(create_error(h, json{{"host", "hmc.example.com"}, {"topics", {"ensadmin.145"}}}) == "");
}
