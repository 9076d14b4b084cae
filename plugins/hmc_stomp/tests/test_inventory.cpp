// Names behind object URIs (inventory.hpp) and the attributes cpc and partition they give a
// notification (map_message with an inventory): the WS API's answers read, renames, removals,
// OS message channels by destination, what is left alone.
#include "events.hpp"
#include "inventory.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

using nlohmann::json;
using sluice::Event;
using sluice::hmc::Inventory;
using sluice::hmc::ObjectKind;
using sluice::hmc::stomp::Frame;

namespace {

// CPC1 (DPM) with partition LINUX01, CPC2 (classic) with LPAR ZOS1, as the WS API lists them.
Inventory two_cpcs() {
  Inventory inv;
  auto cpcs = inv.add_cpcs(json::parse(R"({"cpcs":[
      {"object-uri":"/api/cpcs/c1","name":"CPC1","status":"operating","dpm-enabled":true},
      {"object-uri":"/api/cpcs/c2","name":"CPC2","status":"operating"}]})"));
  REQUIRE(cpcs.size() == 2);
  CHECK(cpcs[0].dpm == std::optional<bool>(true));
  CHECK(cpcs[1].dpm == std::nullopt);
  CHECK(inv.add_members(json::parse(R"({"partitions":[
      {"object-uri":"/api/partitions/p1","name":"LINUX01","status":"active","type":"linux"}]})"),
                        "partitions", "/api/cpcs/c1") == 1);
  CHECK(inv.add_members(json::parse(R"({"logical-partitions":[
      {"object-uri":"/api/logical-partitions/l1","name":"ZOS1","status":"operating"}]})"),
                        "logical-partitions", "/api/cpcs/c2") == 1);
  return inv;
}

Frame message(const std::string& type, const std::string& object_uri, std::string body = "") {
  Frame f;
  f.command = "MESSAGE";
  f.headers = {
      {"destination", "/topic/sysprog.100"}, {"message-id", "ID:1"}, {"notification-type", type}};
  if (!object_uri.empty()) f.headers.emplace_back("object-uri", object_uri);
  f.body = std::move(body);
  return f;
}

std::vector<Event> map(const Frame& f, const Inventory* inv, bool split = false) {
  sluice::hmc::SequenceTracker seq;
  sluice::hmc::MapStats stats;
  sluice::PackedEvents out;
  sluice::hmc::map_message(f.view(), "hmc://hmc1", split, seq, out, stats, "hmc1", inv);
  std::vector<Event> events;
  for (size_t i = 0; i < out.size(); ++i)
    events.push_back(out.event(i));
  return events;
}

std::optional<std::string> attr(const Event& e, const std::string& key) {
  auto v = e.find_attribute(key);
  return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
}

}  // namespace

TEST_CASE("object_kind: canonical CPC, partition and LPAR URIs only") {
  CHECK(sluice::hmc::object_kind("/api/cpcs/c1") == ObjectKind::cpc);
  CHECK(sluice::hmc::object_kind("/api/partitions/p1") == ObjectKind::partition);
  CHECK(sluice::hmc::object_kind("/api/logical-partitions/l1") == ObjectKind::lpar);
  CHECK(sluice::hmc::object_kind("/api/jobs/j1") == ObjectKind::other);
  CHECK(sluice::hmc::object_kind("/api/partitions/p1/nics/n1") == ObjectKind::other);
  CHECK(sluice::hmc::object_kind("/api/cpcs") == ObjectKind::other);
  CHECK(sluice::hmc::object_kind("/api/cpcs/") == ObjectKind::other);
  CHECK(sluice::hmc::object_kind("") == ObjectKind::other);
}

TEST_CASE("a CPC, an LPAR and a DPM partition carry cpc and partition; a job carries neither") {
  const Inventory inv = two_cpcs();
  auto cpc = map(message("status-change", "/api/cpcs/c1", "{}"), &inv);
  REQUIRE(cpc.size() == 1);
  CHECK(attr(cpc[0], "cpc") == "CPC1");
  CHECK(attr(cpc[0], "partition") == std::nullopt);

  auto lpar =
      map(message("os-message", "/api/logical-partitions/l1", R"({"os-messages":[]})"), &inv);
  REQUIRE(lpar.size() == 1);
  CHECK(attr(lpar[0], "cpc") == "CPC2");
  CHECK(attr(lpar[0], "partition") == "ZOS1");
  // After the STOMP headers and hmc, in that order.
  const auto& a = lpar[0].attributes;
  REQUIRE(a.size() >= 3);
  CHECK(a[a.size() - 3].first == "hmc");
  CHECK(a[a.size() - 2].first == "cpc");
  CHECK(a[a.size() - 1].first == "partition");

  auto partition = map(message("property-change", "/api/partitions/p1", "{}"), &inv);
  REQUIRE(partition.size() == 1);
  CHECK(attr(partition[0], "cpc") == "CPC1");
  CHECK(attr(partition[0], "partition") == "LINUX01");

  auto job = map(message("job-completion", "/api/jobs/j1"), &inv);
  REQUIRE(job.size() == 1);
  CHECK(attr(job[0], "cpc") == std::nullopt);
  CHECK(attr(job[0], "partition") == std::nullopt);

  // Unknown object, no object-uri, no inventory: no names (and nothing else changes).
  for (const auto& events : {map(message("status-change", "/api/partitions/p9", "{}"), &inv),
                             map(message("status-change", "", "{}"), &inv),
                             map(message("status-change", "/api/partitions/p1", "{}"), nullptr)}) {
    REQUIRE(events.size() == 1);
    CHECK(attr(events[0], "cpc") == std::nullopt);
    CHECK(attr(events[0], "partition") == std::nullopt);
    CHECK(attr(events[0], "hmc") == "hmc1");
  }
}

TEST_CASE("split lists and parse errors carry the names too") {
  const Inventory inv = two_cpcs();
  auto split = map(message("os-message", "/api/partitions/p1",
                           R"({"os-messages":[{"message-text":"a"},{"message-text":"b"}]})"),
                   &inv, true);
  REQUIRE(split.size() == 2);
  for (const auto& e : split)
    CHECK(attr(e, "partition") == "LINUX01");
  auto bad = map(message("os-message", "/api/partitions/p1", "{oops"), &inv);
  REQUIRE(bad.size() == 1);
  CHECK(bad[0].type == "sluice.parse-error");
  CHECK(attr(bad[0], "partition") == "LINUX01");
}

TEST_CASE("OS message channels: a notification without object-uri is named by its destination") {
  Inventory inv = two_cpcs();
  inv.set_channel("sysprog.100osm.l1", "/api/logical-partitions/l1");
  Frame f = message("os-message", "", R"({"os-messages":[]})");
  f.headers[0].second = "/topic/sysprog.100osm.l1";
  auto events = map(f, &inv);
  REQUIRE(events.size() == 1);
  CHECK(attr(events[0], "cpc") == "CPC2");
  CHECK(attr(events[0], "partition") == "ZOS1");
  inv.clear_channels();
  CHECK(attr(map(f, &inv)[0], "partition") == std::nullopt);
}

TEST_CASE("rename, remove, adopt") {
  Inventory inv = two_cpcs();
  CHECK(inv.rename("/api/partitions/p1", "LINUX09"));
  CHECK(inv.lookup("/api/partitions/p1")->partition == "LINUX09");
  CHECK_FALSE(inv.rename("/api/partitions/p9", "X"));
  // A renamed CPC: its partitions carry the new name.
  CHECK(inv.rename("/api/cpcs/c1", "CPCX"));
  CHECK(inv.lookup("/api/partitions/p1")->cpc == "CPCX");
  // A removed CPC takes its partitions with it; the other CPC stays.
  inv.remove("/api/cpcs/c1");
  CHECK_FALSE(inv.knows("/api/cpcs/c1"));
  CHECK_FALSE(inv.knows("/api/partitions/p1"));
  CHECK(inv.lookup("/api/logical-partitions/l1")->cpc == "CPC2");
  inv.remove("/api/logical-partitions/l1");
  CHECK_FALSE(inv.knows("/api/logical-partitions/l1"));
  CHECK(inv.knows("/api/cpcs/c2"));
  // A member whose CPC is not known: the partition name alone.
  inv.set_member("/api/partitions/p5", "LONELY", "/api/cpcs/c9");
  CHECK(inv.lookup("/api/partitions/p5")->cpc.empty());
  CHECK(inv.lookup("/api/partitions/p5")->partition == "LONELY");
  // A fresh listing replaces every object.
  Inventory fresh;
  fresh.set_cpc("/api/cpcs/c7", "CPC7");
  inv.adopt_objects(std::move(fresh), inv.generation());
  CHECK(inv.size() == 1);
  CHECK(inv.lookup("/api/cpcs/c7")->cpc == "CPC7");
}

TEST_CASE("a rename notified while a listing or lookup was in flight beats its older answer") {
  Inventory inv = two_cpcs();
  // A listing starts; LINUX01 is renamed (known: applied at once), and so is ZOS1's CPC after
  // the listing's answers were read; a CPC renamed before the listing started is listed as is.
  CHECK(inv.rename("/api/cpcs/c2", "CPC2X"));
  const uint64_t since = inv.generation();
  Inventory fresh = two_cpcs();  // the answers, as of the requests: the old names
  CHECK(inv.rename("/api/partitions/p1", "LINUX09"));
  // Not known yet (added while the listing ran): kept for the listing all the same.
  CHECK_FALSE(inv.rename("/api/logical-partitions/l7", "ZOS7"));
  fresh.set_member("/api/logical-partitions/l7", "ZOS7-OLD", "/api/cpcs/c2");
  inv.adopt_objects(std::move(fresh), since);
  CHECK(inv.lookup("/api/partitions/p1")->partition == "LINUX09");
  CHECK(inv.lookup("/api/logical-partitions/l7")->partition == "ZOS7");
  CHECK(inv.lookup("/api/cpcs/c2")->cpc == "CPC2");  // the listing is newer than that rename
  // The next listing starts after those renames: its answers win.
  const uint64_t next = inv.generation();
  Inventory again = two_cpcs();
  inv.adopt_objects(std::move(again), next);
  CHECK(inv.lookup("/api/partitions/p1")->partition == "LINUX01");

  // A lookup (Get Properties) in flight: a rename meanwhile keeps its name, for a CPC too.
  const uint64_t asked = inv.generation();
  CHECK(inv.rename("/api/partitions/p1", "LINUX10"));
  CHECK(inv.rename("/api/cpcs/c1", "CPC1-NEW"));
  inv.set_cpc("/api/cpcs/c1", "CPC1", asked);
  inv.set_member("/api/partitions/p1", "LINUX01", "/api/cpcs/c1", asked);
  CHECK(inv.lookup("/api/partitions/p1")->partition == "LINUX10");
  CHECK(inv.lookup("/api/partitions/p1")->cpc == "CPC1-NEW");
  // A lookup that started after the rename: its answer is the name now.
  inv.set_member("/api/partitions/p1", "LINUX11", "/api/cpcs/c1", inv.generation());
  CHECK(inv.lookup("/api/partitions/p1")->partition == "LINUX11");
  // A removed object's rename is forgotten with it: added again later, the answer counts.
  inv.remove("/api/cpcs/c1");
  inv.set_member("/api/partitions/p1", "LINUX12", "/api/cpcs/c1", asked);
  CHECK(inv.lookup("/api/partitions/p1")->partition == "LINUX12");
}

TEST_CASE("answers of the wrong shape are skipped, never thrown") {
  Inventory inv;
  CHECK(inv.add_cpcs(json::parse(R"({"cpcs":[{"name":"X"},{"object-uri":5,"name":"Y"},
      {"object-uri":"/api/jobs/1","name":"Z"},"text",null]})"))
            .empty());
  CHECK(inv.add_cpcs(json::parse(R"({"cpcs":"no"})")).empty());
  CHECK(inv.add_cpcs(json::parse(R"([1,2])")).empty());
  CHECK(inv.add_members(json::parse(R"({"partitions":[{"object-uri":"/api/cpcs/c1","name":"A"},
      {"object-uri":"/api/partitions/p1"}]})"),
                        "partitions", "/api/cpcs/c1") == 0);
  CHECK(inv.size() == 0);
}

TEST_CASE("renamed_to: the last change report of name") {
  CHECK(sluice::hmc::renamed_to(
            R"({"change-reports":[{"property-name":"name","old-value":"A","new-value":"B"},
                {"property-name":"description","old-value":"","new-value":"d"},
                {"property-name":"name","old-value":"B","new-value":"C"}]})") == "C");
  CHECK(sluice::hmc::renamed_to(R"({"change-reports":[{"property-name":"status"}]})") ==
        std::nullopt);
  CHECK(sluice::hmc::renamed_to("{oops") == std::nullopt);
  CHECK(sluice::hmc::renamed_to(R"({"change-reports":[{"property-name":"name","new-value":7}]})") ==
        std::nullopt);
}
