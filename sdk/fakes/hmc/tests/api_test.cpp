#include <doctest/doctest.h>

#include "fixture.hpp"

#include <chrono>
#include <future>
#include <thread>

TEST_SUITE("api") {
  TEST_CASE("logon returns session, credential, topics and API version") {
    Fake f;
    json s = f.logon();
    CHECK(s["api-session"].get<std::string>().size() > 10);
    CHECK(s["session-credential"].get<std::string>().size() == 32);
    CHECK(s["notification-topic"] == "hmcuser.100");
    CHECK(s["job-notification-topic"] == "hmcuser.100job");
    CHECK(s["api-major-version"] == 4);
    CHECK(s["api-minor-version"] == 10);
  }

  TEST_CASE("a wrong password is HTTP 403 reason 0") {
    Fake f;
    auto r = f.api(verb::post, "/api/sessions", R"({"userid":"hmcuser","password":"nope"})");
    CHECK(r.status == 403);
    CHECK(r.body["reason"] == 0);
  }

  TEST_CASE("no X-API-Session is 403 reason 4; an unknown one is 403 reason 5") {
    Fake f;
    auto none = f.api(verb::get, "/api/cpcs");
    CHECK(none.status == 403);
    CHECK(none.body["reason"] == 4);
    auto bad = f.api(verb::get, "/api/cpcs", "", "not-a-session");
    CHECK(bad.status == 403);
    CHECK(bad.body["reason"] == 5);
    CHECK(bad.body["message"] == "x-api-session header did not map to a known session.");
  }

  TEST_CASE("get-notification-topics lists the session's four topics") {
    Fake f;
    std::string s = f.logon()["api-session"];
    auto r = f.api(verb::get, "/api/sessions/operations/get-notification-topics", "", s);
    REQUIRE(r.status == 200);
    std::map<std::string, std::string> by_type;
    for (const auto& t : r.body["topics"])
      by_type[t["topic-type"]] = t["topic-name"];
    CHECK(by_type["object-notification"] == "hmcuser.100");
    CHECK(by_type["job-notification"] == "hmcuser.100job");
    CHECK(by_type["audit-notification"] == "hmcuser.100aud");
    CHECK(by_type["security-notification"] == "hmcuser.100sec");
  }

  TEST_CASE("CPCs, partitions and LPARs are found by name") {
    Fake f;
    std::string s = f.logon()["api-session"];
    auto cpcs = f.api(verb::get, "/api/cpcs?name=CPC1", "", s);
    REQUIRE(cpcs.body["cpcs"].size() == 1);
    std::string cpc1 = cpcs.body["cpcs"][0]["object-uri"];
    auto parts = f.api(verb::get, cpc1 + "/partitions?name=LINUX01", "", s);
    REQUIRE(parts.body["partitions"].size() == 1);
    CHECK(parts.body["partitions"][0]["name"] == "LINUX01");
    CHECK(parts.body["partitions"][0]["object-uri"].get<std::string>().rfind("/api/partitions/",
                                                                             0) == 0);

    std::string cpc2 = f.api(verb::get, "/api/cpcs?name=CPC2", "", s).body["cpcs"][0]["object-uri"];
    auto lpars = f.api(verb::get, cpc2 + "/logical-partitions?name=ZOS1", "", s);
    REQUIRE(lpars.body["logical-partitions"].size() == 1);
    CHECK(lpars.body["logical-partitions"][0]["object-uri"].get<std::string>().rfind(
              "/api/logical-partitions/", 0) == 0);
    CHECK(f.api(verb::get, "/api/cpcs/nope/partitions", "", s).status == 404);
  }

  TEST_CASE("open-os-message-channel: topic, then 409 331, and 409 332 for an OS without it") {
    Fake f;
    std::string s = f.logon()["api-session"];
    std::string cpc1 = f.api(verb::get, "/api/cpcs?name=CPC1", "", s).body["cpcs"][0]["object-uri"];
    auto list = f.api(verb::get, cpc1 + "/partitions", "", s).body["partitions"];
    std::string linux01, noosm;
    for (const auto& p : list)
      (p["name"] == "LINUX01" ? linux01 : noosm) = p["object-uri"];
    const std::string op = "/operations/open-os-message-channel";
    auto first = f.api(verb::post, linux01 + op, R"({"include-refresh-messages":true})", s);
    REQUIRE(first.status == 200);
    std::string topic = first.body["topic-name"];
    CHECK(topic.find("osm.") != std::string::npos);

    auto again = f.api(verb::post, linux01 + op, R"({"include-refresh-messages":true})", s);
    CHECK(again.status == 409);
    CHECK(again.body["reason"] == 331);
    auto unsupported = f.api(verb::post, noosm + op, "{}", s);
    CHECK(unsupported.status == 409);
    CHECK(unsupported.body["reason"] == 332);

    // The open channel is listed with its object-uri, as a client looks it up after 331.
    auto topics = f.api(verb::get, "/api/sessions/operations/get-notification-topics", "", s);
    bool listed = false;
    for (const auto& t : topics.body["topics"])
      if (t["topic-type"] == "os-message-notification")
        listed = t["topic-name"] == topic && t["object-uri"] == linux01 &&
                 t["include-refresh-messages"] == true;
    CHECK(listed);
  }

  TEST_CASE("logoff ends the session: later requests are 403 reason 5") {
    Fake f;
    std::string s = f.logon()["api-session"];
    CHECK(f.api(verb::delete_, "/api/sessions/this-session", "", s).status == 204);
    CHECK(f.api(verb::get, "/api/cpcs", "", s).body["reason"] == 5);
  }

  TEST_CASE("fault refuse-logon over the control endpoint refuses the next API logon only") {
    Fake f;
    auto q = f.api(verb::post, "/fake/fault", R"({"fault":"refuse-logon","where":"api"})");
    CHECK(q.status == 202);
    REQUIRE(f.fake.wait_idle(5s));
    auto refused =
        f.api(verb::post, "/api/sessions", R"({"userid":"hmcuser","password":"hmcpassword"})");
    CHECK(refused.status == 403);
    f.logon();  // the next one works
  }

  TEST_CASE("fault expire-session: the session's requests get 403 reason 5, its topics go") {
    Fake f;
    std::string s = f.logon()["api-session"];
    f.fake.fault({{"fault", "expire-session"}});
    REQUIRE(f.fake.wait_idle(5s));
    CHECK(f.api(verb::get, "/api/sessions/operations/get-notification-topics", "", s)
              .body["reason"] == 5);
    CHECK(f.fake.topic_names().empty());
  }

  TEST_CASE("control endpoint: a bad fault is 400 naming the choices; stats is JSON") {
    Fake f;
    auto bad = f.api(verb::post, "/fake/fault", R"({"fault":"explode"})");
    CHECK(bad.status == 400);
    CHECK(bad.body["message"].get<std::string>().find("unknown fault 'explode'") == 0);
    auto stats = f.api(verb::get, "/fake/stats");
    CHECK(stats.status == 200);
    CHECK(stats.body["api_requests"] == 2);
  }

  TEST_CASE("scenario: users and inventory come from the scenario; unknown keys are refused") {
    hmc::Options o;
    o.scenario = json::parse(R"({"users":[{"userid":"ops","password":"pw"}],
                                 "cpcs":[{"name":"Z16","partitions":[{"name":"P1"}]}]})");
    Fake f(o);
    auto r = f.api(verb::post, "/api/sessions", R"({"userid":"ops","password":"pw"})");
    REQUIRE(r.status == 200);
    auto cpcs = f.api(verb::get, "/api/cpcs", "", r.body["api-session"]);
    REQUIRE(cpcs.body["cpcs"].size() == 1);
    CHECK(cpcs.body["cpcs"][0]["name"] == "Z16");

    hmc::Options bad;
    bad.scenario = json::parse(R"({"userz":[]})");
    CHECK_THROWS_WITH(hmc::FakeHmc(quiet(bad)), doctest::Contains("unknown key 'userz'"));
  }

  TEST_CASE("scenario: numbers that do not fit are refused, not converted") {
    // Found by fuzz.fake_hmc_scenario: 6.7e82 was converted to int with undefined behaviour.
    for (const char* scenario :
         {R"({"api_version":{"major":6.66667e82}})", R"({"api_version":{"minor":-1}})",
          R"({"stomp":{"heart_beat":[1e30,0]}})", R"({"stomp":{"heartbeat_grace":1e300}})"}) {
      INFO(scenario);
      hmc::Options o;
      o.scenario = json::parse(scenario);
      CHECK_THROWS_WITH(hmc::FakeHmc(quiet(o)), doctest::Contains("scenario: "));
    }
  }

  TEST_CASE("api_calls and api_sessions record every request and session") {
    Fake f;
    json s = f.logon();
    const std::string id = s["api-session"];
    f.api(verb::get, "/api/cpcs?name=CPC1", "", id);
    f.api(verb::delete_, "/api/sessions/this-session", "", id);
    f.fake.fault({{"fault", "refuse-logon"}, {"where", "api"}, {"message", "Logon failed"}});
    REQUIRE(f.fake.wait_idle(5s));
    auto refused =
        f.api(verb::post, "/api/sessions", R"({"userid":"hmcuser","password":"hmcpassword"})");
    CHECK(refused.body["message"] == "Logon failed");
    auto calls = f.fake.api_calls();
    REQUIRE(calls.size() == 4);
    CHECK(calls[0].method == "POST");
    CHECK(calls[0].body == json{{"userid", "hmcuser"}, {"password", "hmcpassword"}});
    CHECK(calls[0].status == 200);
    CHECK(calls[1].target == "/api/cpcs?name=CPC1");
    CHECK(calls[1].session == id);
    CHECK(calls[1].body.is_null());
    CHECK(calls[2].status == 204);
    CHECK(calls[3].status == 403);
    auto sessions = f.fake.api_sessions();  // logged off, still listed
    REQUIRE(sessions.size() == 1);
    CHECK(sessions[0].id == id);
    CHECK(sessions[0].credential == s["session-credential"]);
    CHECK(sessions[0].userid == "hmcuser");
  }

  TEST_CASE("Get CPC, Partition and Logical Partition Properties: name, parent, class") {
    Fake f;
    std::string s = f.logon()["api-session"];
    auto cpc1 = f.api(verb::get, "/api/cpcs?name=CPC1", "", s).body["cpcs"][0];
    const std::string cpc1_uri = cpc1["object-uri"];
    auto props = f.api(verb::get, cpc1_uri, "", s);
    REQUIRE(props.status == 200);
    CHECK(props.body["name"] == "CPC1");
    CHECK(props.body["class"] == "cpc");
    CHECK(props.body["object-uri"] == cpc1_uri);
    CHECK(props.body["dpm-enabled"] == true);
    std::string linux01 = f.api(verb::get, cpc1_uri + "/partitions?name=LINUX01", "", s)
                              .body["partitions"][0]["object-uri"];
    auto part = f.api(verb::get, linux01, "", s);
    REQUIRE(part.status == 200);
    CHECK(part.body["name"] == "LINUX01");
    CHECK(part.body["class"] == "partition");
    CHECK(part.body["parent"] == cpc1_uri);
    std::string cpc2 = f.api(verb::get, "/api/cpcs?name=CPC2", "", s).body["cpcs"][0]["object-uri"];
    std::string zos1 = f.api(verb::get, cpc2 + "/logical-partitions?name=ZOS1", "", s)
                           .body["logical-partitions"][0]["object-uri"];
    auto lpar = f.api(verb::get, zos1, "", s);
    REQUIRE(lpar.status == 200);
    CHECK(lpar.body["name"] == "ZOS1");
    CHECK(lpar.body["class"] == "logical-partition");
    CHECK(lpar.body["parent"] == cpc2);
    CHECK(f.api(verb::get, "/api/partitions/nope", "", s).status == 404);
    CHECK(f.api(verb::get, "/api/cpcs/nope", "", s).status == 404);
    CHECK(f.api(verb::get, linux01, "", "").status == 403);  // a session is needed, as for all
  }

  TEST_CASE(
      "inventory changes: added objects are listed and served, renamed ones found by the "
      "new name, removed ones gone") {
    Fake f;
    std::string s = f.logon()["api-session"];
    f.fake.inventory({{"inventory", "add"},
                      {"cpc", "CPC2"},
                      {"lpar", "ZOS2"},
                      {"object-id", "l2"},
                      {"notify", false}});
    f.fake.inventory({{"inventory", "rename"},
                      {"cpc", "CPC1"},
                      {"partition", "LINUX01"},
                      {"to", "LINUX09"},
                      {"notify", false}});
    f.fake.inventory({{"inventory", "add"}, {"cpc", "CPC3"}, {"dpm-enabled", true}});
    f.fake.inventory({{"inventory", "remove"}, {"cpc", "CPC1"}, {"partition", "NOOSM01"}});
    REQUIRE(f.fake.wait_idle(10s));
    auto zos2 = f.api(verb::get, "/api/logical-partitions/l2", "", s);
    REQUIRE(zos2.status == 200);
    CHECK(zos2.body["name"] == "ZOS2");
    std::string cpc2 = f.api(verb::get, "/api/cpcs?name=CPC2", "", s).body["cpcs"][0]["object-uri"];
    CHECK(zos2.body["parent"] == cpc2);
    CHECK(f.api(verb::get, cpc2 + "/logical-partitions?name=ZOS2", "", s)
              .body["logical-partitions"]
              .size() == 1);
    std::string cpc1 = f.api(verb::get, "/api/cpcs?name=CPC1", "", s).body["cpcs"][0]["object-uri"];
    auto parts = f.api(verb::get, cpc1 + "/partitions", "", s).body["partitions"];
    REQUIRE(parts.size() == 1);  // NOOSM01 removed
    CHECK(parts[0]["name"] == "LINUX09");
    auto cpc3 = f.api(verb::get, "/api/cpcs?name=CPC3", "", s).body["cpcs"];
    REQUIRE(cpc3.size() == 1);
    CHECK(cpc3[0]["dpm-enabled"] == true);
    // A bad change is refused before anything is queued.
    CHECK_THROWS_AS(f.fake.inventory({{"inventory", "move"}, {"cpc", "CPC1"}}),
                    std::invalid_argument);
    CHECK_THROWS_AS(f.fake.inventory({{"inventory", "rename"}, {"cpc", "CPC1"}}),
                    std::invalid_argument);
    CHECK(f.api(verb::post, "/fake/inventory", R"({"inventory":"add"})").status == 400);
    CHECK(f.api(verb::post, "/fake/inventory", R"({"inventory":"add","cpc":"CPC4"})").status ==
          202);
  }

  TEST_CASE("api-error fault: the next count requests whose path holds match fail") {
    Fake f;
    std::string s = f.logon()["api-session"];
    f.fake.fault({{"fault", "api-error"}, {"match", "/api/cpcs"}, {"status", 503}, {"count", 2}});
    REQUIRE(f.fake.wait_idle(10s));
    auto first = f.api(verb::get, "/api/cpcs", "", s);
    CHECK(first.status == 503);
    CHECK(f.api(verb::get, "/api/sessions/operations/get-notification-topics", "", s).status ==
          200);  // another path: unaffected
    CHECK(f.api(verb::get, "/api/cpcs?name=CPC1", "", s).status == 503);
    CHECK(f.api(verb::get, "/api/cpcs", "", s).status == 200);  // count used up
    CHECK_THROWS_AS(f.fake.fault({{"fault", "api-error"}, {"status", 200}}), std::invalid_argument);
  }

  TEST_CASE("api-delay fault: the answer as of the request, written after the duration") {
    Fake f;
    std::string s = f.logon()["api-session"];
    const std::string cpc1 = f.api(verb::get, "/api/cpcs?name=CPC1", "", s)
                                 .body["cpcs"][0]["object-uri"]
                                 .get<std::string>();
    f.fake.fault({{"fault", "api-delay"}, {"match", "/partitions"}, {"duration", "1500ms"}});
    REQUIRE(f.fake.wait_idle(10s));
    const auto started = std::chrono::steady_clock::now();
    auto slow = std::async(std::launch::async,
                           [&] { return f.api(verb::get, cpc1 + "/partitions", "", s); });
    // Renamed while the answer is held back: the answer still has the old name.
    while (f.fake.api_calls().size() < 3)
      std::this_thread::sleep_for(10ms);
    f.fake.inventory(
        {{"inventory", "rename"}, {"cpc", "CPC1"}, {"partition", "LINUX01"}, {"to", "LINUX09"}});
    REQUIRE(f.fake.wait_idle(10s));
    CHECK(f.api(verb::get, "/api/cpcs", "", s).status == 200);  // another path: at once
    const auto answer = slow.get();
    CHECK(std::chrono::steady_clock::now() - started >= 1500ms);
    CHECK(answer.status == 200);
    CHECK(answer.body.dump().find("LINUX01") != std::string::npos);
    CHECK(answer.body.dump().find("LINUX09") == std::string::npos);
    // Used up: the next one is answered at once, with the name now.
    CHECK(f.api(verb::get, cpc1 + "/partitions", "", s).body.dump().find("LINUX09") !=
          std::string::npos);
  }
}
