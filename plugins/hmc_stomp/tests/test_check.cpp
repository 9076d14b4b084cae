// The built plugin module: create() refuses every row of refusals.json with the message
// hmc::check_options gives for it (plugin ABI 1.1: validate and run say the same).
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
  Harness h(HMC_STOMP_PLUGIN_PATH);
  for (const auto& row : refusals()) {
    CAPTURE(row.dump());
    const sluice::OptionProblems p = hmc::check_options(row.at("options"));
    REQUIRE(!p.empty());
    CHECK(create_error(h, row.at("options")) == p.front().message);
  }
}

TEST_CASE("create() of a row's options without its fault succeeds (no start, no network)") {
  Harness h(HMC_STOMP_PLUGIN_PATH);
  CHECK(create_error(h, json{{"host", "hmc.example.com"}, {"topics", {"ensadmin.145"}}}) == "");
}
