// Names of CPCs, partitions and LPARs on notifications (attributes cpc and partition), resolved
// through the fake HMC's WS API (sdk/fakes/hmc): listed once after logon, updated from
// inventory-change and property-change notifications, unknown objects looked up in the
// background; a WS API that fails while names are resolved holds up nothing.
#include "fake_peer.hpp"

#include <sluice/testing.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>
#include <cstdio>
#include <optional>
#include <string>

using nlohmann::json;
using sluice::testing::Harness;
namespace hmc = sluice::fakes::hmc;

namespace {

using test::wait_until;

// CPC1 (DPM, c1) with partitions LINUX01 (p1) and LINUX02 (p2); CPC2 (classic, c2) with the
// LPAR ZOS1 (l1). Sessions are numbered from 100: the object topic is sysprog.100.
json scenario() {
  return {{"users", {{{"userid", "sysprog"}, {"password", "secret"}}}},
          {"cpcs",
           {{{"name", "CPC1"},
             {"object-id", "c1"},
             {"dpm-enabled", true},
             {"partitions",
              {{{"name", "LINUX01"}, {"object-id", "p1"}},
               {{"name", "LINUX02"}, {"object-id", "p2"}}}}},
            {{"name", "CPC2"},
             {"object-id", "c2"},
             {"dpm-enabled", false},
             {"logical-partitions", {{{"name", "ZOS1"}, {"object-id", "l1"}}}}}}},
          {"stomp", {{"heart_beat", {0, 0}}}}};
}

struct Peers : test::FakeHmcPeer {
  Peers() : FakeHmcPeer(scenario(), "names") {}
  json options() const {
    json o = FakeHmcPeer::options();
    o["topic_types"] = {"object-notification"};
    return o;
  }
  // A status-change about `uri` with message-id `id`.
  void publish(const std::string& uri, const std::string& id,
               const std::string& type = "status-change") {
    hmc::Notification n("object-notification", type);
    n.headers = {{"object-uri", uri}, {"message-id", id}};
    n.body = "{}";
    fake.publish(n);
  }
};

std::optional<std::string> attr(const sluice::Event& e, const std::string& key) {
  auto v = e.find_attribute(key);
  return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
}

// The event with message-id `id` once it arrived.
std::optional<sluice::Event> event(const Harness& h, const std::string& id) {
  std::optional<sluice::Event> out;
  h.wait_until([&](const std::vector<sluice::Event>& events) {
    for (const auto& e : events)
      if (e.id == id) {
        out = e;
        return true;
      }
    return false;
  });
  return out;
}

void check_names(const std::optional<sluice::Event>& e, std::optional<std::string> cpc,
                 std::optional<std::string> partition) {
  REQUIRE(e);
  CAPTURE(e->id);
  CHECK(attr(*e, "cpc") == cpc);
  CHECK(attr(*e, "partition") == partition);
}

// Started, subscribed, and (unless `listed` is false) the names listed after the logon.
void start(Harness& h, sluice::testing::Instance& inst, Peers& p, bool listed = true) {
  inst.start();
  REQUIRE(p.fake.await_subscribers(1, std::chrono::seconds(10)));
  REQUIRE(h.wait_for_state(SLUICE_STATE_UP));
  if (listed) REQUIRE(wait_until([&] { return h.logged("names: 5 CPC(s), partition(s)"); }));
}

}  // namespace

TEST_CASE("a CPC, an LPAR and a DPM partition: names from one listing, no request per event") {
  Peers p;
  Harness h(HMC_STOMP_SO);
  auto& inst = h.create(p.options().dump());
  start(h, inst, p);
  // The listing: the CPCs, then each CPC's partitions (DPM) or LPARs (classic), once.
  CHECK(p.count("GET", "/api/cpcs") == 1);
  CHECK(p.count("GET", "/api/cpcs/c1/partitions") == 1);
  CHECK(p.count("GET", "/api/cpcs/c2/logical-partitions") == 1);
  CHECK(p.count("GET", "/api/cpcs/c1/logical-partitions") == 0);
  CHECK(h.logged("5 CPC(s), partition(s) and LPAR(s) listed in 3 WS API request(s)"));

  for (int i = 0; i < 20; ++i) {
    p.publish("/api/cpcs/c1", "cpc-" + std::to_string(i));
    p.publish("/api/logical-partitions/l1", "lpar-" + std::to_string(i));
    p.publish("/api/partitions/p2", "partition-" + std::to_string(i));
  }
  p.publish("/api/jobs/j1", "job", "job-completion");
  REQUIRE(p.fake.wait_idle(std::chrono::seconds(10)));
  for (int i = 0; i < 20; ++i) {
    check_names(event(h, "cpc-" + std::to_string(i)), "CPC1", std::nullopt);
    check_names(event(h, "lpar-" + std::to_string(i)), "CPC2", "ZOS1");
    check_names(event(h, "partition-" + std::to_string(i)), "CPC1", "LINUX02");
  }
  check_names(event(h, "job"), std::nullopt, std::nullopt);
  // 61 notifications, no lookups: every object was known from the listing.
  CHECK(p.count("GET", "/api/partitions/p2") == 0);
  CHECK(p.count("GET", "/api/logical-partitions/l1") == 0);
  CHECK(h.metric("names_resolved") == 0);
  inst.stop();
}

TEST_CASE("OS message channels carry the names of their partition or LPAR") {
  Peers p;
  Harness h(HMC_STOMP_SO);
  json o = p.options();
  o["os_message_channels"] = {{{"cpc", "CPC1"}, {"partition", "LINUX01"}},
                              {{"cpc", "CPC2"}, {"lpar", "ZOS1"}}};
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(p.fake.await_subscribers(3, std::chrono::seconds(10)));
  REQUIRE(wait_until([&] { return h.logged("names: 5 CPC(s), partition(s)"); }));
  hmc::Notification on_linux("os-message-notification:LINUX01", "os-message");
  on_linux.headers = {{"message-id", "osm-linux"}};
  p.fake.publish(on_linux);
  // Without object-uri (not what the HMC sends, but the channel's topic says which partition).
  hmc::Notification zos("os-message-notification:ZOS1", "os-message");
  zos.headers = {{"message-id", "osm-zos"}, {"object-uri", ""}};
  p.fake.publish(zos);
  check_names(event(h, "osm-linux"), "CPC1", "LINUX01");
  check_names(event(h, "osm-zos"), "CPC2", "ZOS1");
  inst.stop();
}

TEST_CASE("renamed, added and removed objects: the inventory follows the notifications") {
  Peers p;
  Harness h(HMC_STOMP_SO);
  auto& inst = h.create(p.options().dump());
  start(h, inst, p);

  // A rename (property-change of name) applies to its own notification and every later one.
  p.fake.inventory(
      {{"inventory", "rename"}, {"cpc", "CPC1"}, {"partition", "LINUX01"}, {"to", "LINUX09"}});
  p.publish("/api/partitions/p1", "after-rename");
  REQUIRE(h.wait_until([](const std::vector<sluice::Event>& events) {
    for (const auto& e : events)
      if (e.type == "hmc.property-change") return true;
    return false;
  }));
  for (const auto& e : h.events())
    if (e.type == "hmc.property-change") check_names(e, "CPC1", "LINUX09");
  check_names(event(h, "after-rename"), "CPC1", "LINUX09");

  // A renamed CPC: its partitions' notifications carry the new CPC name.
  p.fake.inventory({{"inventory", "rename"}, {"cpc", "CPC1"}, {"to", "CPC1NEW"}});
  p.publish("/api/partitions/p2", "after-cpc-rename");
  check_names(event(h, "after-cpc-rename"), "CPC1NEW", "LINUX02");

  // An added LPAR: looked up once (inventory-change add), then named.
  p.fake.inventory({{"inventory", "add"}, {"cpc", "CPC2"}, {"lpar", "ZOS2"}, {"object-id", "l2"}});
  REQUIRE(wait_until([&] { return h.metric("names_resolved") >= 1; }));
  CHECK(p.count("GET", "/api/logical-partitions/l2") == 1);
  p.publish("/api/logical-partitions/l2", "added");
  check_names(event(h, "added"), "CPC2", "ZOS2");

  // A removed LPAR: its inventory-change still carries its names; afterwards it is unknown
  // (a lookup answers 404: the event goes out without names).
  p.fake.inventory({{"inventory", "remove"}, {"cpc", "CPC2"}, {"lpar", "ZOS2"}});
  REQUIRE(h.wait_until([](const std::vector<sluice::Event>& events) {
    for (const auto& e : events)
      if (e.type == "hmc.inventory-change" && e.find_attribute("action") == "remove") return true;
    return false;
  }));
  for (const auto& e : h.events())
    if (e.type == "hmc.inventory-change" && e.find_attribute("action") == "remove")
      check_names(e, "CPC2", "ZOS2");
  p.publish("/api/logical-partitions/l2", "removed");
  check_names(event(h, "removed"), std::nullopt, std::nullopt);
  inst.stop();
}

TEST_CASE("a rename notified while the listing is in flight beats the listing's older name") {
  Peers p;
  Harness h(HMC_STOMP_SO);
  auto& inst = h.create(p.options().dump());
  start(h, inst, p);
  auto listings = [&] {
    size_t n = 0;
    for (const auto& l : h.logs())
      n += l.message.find("names: 5 CPC(s), partition(s)") != std::string::npos;
    return n;
  };
  // The next listing's answer about CPC1's partitions is held back 3 s (as of its request);
  // an expired session makes sluice log on again and list again, with the old names known.
  p.fake.fault({{"fault", "api-delay"}, {"match", "/api/cpcs/c1/partitions"}, {"duration", "3s"}});
  p.fake.fault({{"fault", "expire-session"}});
  REQUIRE(p.fake.wait_idle(std::chrono::seconds(10)));
  REQUIRE(wait_until([&] { return p.count("GET", "/api/cpcs/c1/partitions") == 2; }));
  REQUIRE(wait_until([&] {
    const auto st = p.fake.stats();
    return st.stomp_connects >= 2 && st.subscriptions >= 1;
  }));
  // Renamed while that answer (LINUX01) waits: the notification comes first.
  p.fake.inventory(
      {{"inventory", "rename"}, {"cpc", "CPC1"}, {"partition", "LINUX01"}, {"to", "LINUX09"}});
  REQUIRE(h.wait_until([](const std::vector<sluice::Event>& events) {
    for (const auto& e : events)
      if (e.type == "hmc.property-change") return true;
    return false;
  }));
  CHECK_MESSAGE(listings() == 1, "the listing ended before the rename: the race was not staged");
  REQUIRE(wait_until([&] { return listings() == 2; }));
  // The listing's older name does not undo the rename.
  p.publish("/api/partitions/p1", "after-listing");
  check_names(event(h, "after-listing"), "CPC1", "LINUX09");
  CHECK(p.count("GET", "/api/partitions/p1") == 0);  // known: no lookup needed
  inst.stop();
}

TEST_CASE("an object the listing missed is looked up in the background, once") {
  Peers p;
  Harness h(HMC_STOMP_SO);
  auto& inst = h.create(p.options().dump());
  start(h, inst, p);
  // Added without a notification (or while sluice was away): the listing does not know it.
  p.fake.inventory({{"inventory", "add"},
                    {"cpc", "CPC1"},
                    {"partition", "LATE01"},
                    {"object-id", "p7"},
                    {"notify", false}});
  for (int i = 0; i < 30; ++i)
    p.publish("/api/partitions/p7", "late-" + std::to_string(i));
  REQUIRE(p.fake.wait_idle(std::chrono::seconds(10)));
  // Every notification goes out, the first ones perhaps without names: none waits.
  REQUIRE(h.wait_until([](const std::vector<sluice::Event>& events) {
    size_t n = 0;
    for (const auto& e : events)
      n += e.id.rfind("late-", 0) == 0;
    return n == 30;
  }));
  REQUIRE(wait_until([&] { return h.metric("names_resolved") == 1; }));
  CHECK(p.count("GET", "/api/partitions/p7") == 1);  // 30 notifications, one lookup
  p.publish("/api/partitions/p7", "late-named");
  check_names(event(h, "late-named"), "CPC1", "LATE01");
  inst.stop();
}

TEST_CASE("a WS API failure while resolving names does not stop or hold up the stream") {
  Peers p;
  Harness h(HMC_STOMP_SO);
  // The listing fails, and so does the first lookup of p1.
  p.fake.fault({{"fault", "api-error"}, {"match", "/api/cpcs"}, {"status", 503}, {"count", 1}});
  p.fake.fault(
      {{"fault", "api-error"}, {"match", "/api/partitions/p1"}, {"status", 500}, {"count", 1}});
  REQUIRE(p.fake.wait_idle(std::chrono::seconds(10)));
  auto& inst = h.create(p.options().dump());
  start(h, inst, p, false);
  REQUIRE(wait_until([&] { return h.logged("names: cannot list the CPCs"); }));
  for (int i = 0; i < 100; ++i)
    p.publish("/api/partitions/p1", "p1-" + std::to_string(i));
  REQUIRE(p.fake.wait_idle(std::chrono::seconds(10)));
  REQUIRE(h.wait_until([](const std::vector<sluice::Event>& events) {
    size_t n = 0;
    for (const auto& e : events)
      n += e.id.rfind("p1-", 0) == 0;
    return n == 100;
  }));
  // Every one went out, without names; the failed lookup is not repeated for each of them.
  for (const auto& e : h.events())
    if (e.id.rfind("p1-", 0) == 0) check_names(e, std::nullopt, std::nullopt);
  REQUIRE(wait_until([&] { return h.metric("names_failed") == 2; }));
  CHECK(p.count("GET", "/api/partitions/p1") == 1);
  CHECK(h.last_state() == SLUICE_STATE_UP);
  // Another object is still looked up, its CPC with it, and named from then on.
  p.publish("/api/logical-partitions/l1", "zos-first");
  REQUIRE(wait_until([&] { return h.metric("names_resolved") == 1; }));
  CHECK(p.count("GET", "/api/logical-partitions/l1") == 1);
  CHECK(p.count("GET", "/api/cpcs/c2") == 1);
  p.publish("/api/logical-partitions/l1", "zos-named");
  check_names(event(h, "zos-named"), "CPC2", "ZOS1");
  inst.stop();
}

TEST_CASE("names: false adds no attributes and makes no listing") {
  Peers p;
  Harness h(HMC_STOMP_SO);
  json o = p.options();
  o["names"] = false;
  auto& inst = h.create(o.dump());
  start(h, inst, p, false);
  p.publish("/api/partitions/p1", "plain");
  check_names(event(h, "plain"), std::nullopt, std::nullopt);
  CHECK(p.count("GET", "/api/cpcs") == 0);
  CHECK(p.count("GET", "/api/partitions/p1") == 0);
  inst.stop();
}

TEST_CASE("failover: the names are forgotten and listed again at the next HMC") {
  // Two HMCs of one list (one certificate for both); the second knows partition p1 by another
  // name, so its names show which listing is in use.
  const auto pem = sluice::tls::generate_self_signed({"127.0.0.1"});
  auto fake_with = [&](const std::string& p1_name) {
    json sc = scenario();
    sc["cpcs"][0]["partitions"][0]["name"] = p1_name;
    hmc::Options o = test::fake_options(sc);
    o.certificate = pem;
    return o;
  };
  hmc::FakeHmc first(fake_with("LINUX01")), second(fake_with("LINUX01B"));
  first.start();
  second.start();
  const std::string ca = "/tmp/hmc_stomp_names_failover_" + std::to_string(getpid()) + ".pem";
  first.write_ca(ca);
  Harness h(HMC_STOMP_SO);
  json o = Peers().options();
  o["host"] = {
      {{"host", "127.0.0.1"}, {"stomp_port", first.stomp_port()}, {"api_port", first.api_port()}},
      {{"host", "127.0.0.1"},
       {"stomp_port", second.stomp_port()},
       {"api_port", second.api_port()}}};
  o.erase("stomp_port");
  o.erase("api_port");
  o["tls"] = {{"ca_file", ca}};
  o["failover_attempts"] = 1;
  auto& inst = h.create(o.dump());
  inst.start();
  REQUIRE(first.await_subscribers(1, std::chrono::seconds(10)));
  REQUIRE(wait_until([&] { return h.logged("names: 5 CPC(s), partition(s)"); }));
  hmc::Notification n("object-notification", "status-change");
  n.headers = {{"object-uri", "/api/partitions/p1"}, {"message-id", "at-first"}};
  n.body = "{}";
  first.publish(n);
  check_names(event(h, "at-first"), "CPC1", "LINUX01");

  first.stop();
  REQUIRE(second.await_subscribers(1, std::chrono::seconds(20)));
  REQUIRE(wait_until([&] {
    size_t listed = 0;
    for (const auto& l : h.logs())
      listed += l.message.find("names: 5 CPC(s), partition(s)") != std::string::npos;
    return listed == 2;
  }));
  int listings = 0;
  for (const auto& c : second.api_calls())
    listings += c.method == "GET" && c.target == "/api/cpcs";
  CHECK(listings == 1);
  n.headers = {{"object-uri", "/api/partitions/p1"}, {"message-id", "at-second"}};
  second.publish(n);
  check_names(event(h, "at-second"), "CPC1", "LINUX01B");
  inst.stop();
  std::remove(ca.c_str());
}
