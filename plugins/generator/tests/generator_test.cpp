#include <doctest/doctest.h>

#include <sluice/format.hpp>
#include <sluice/testing.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <unistd.h>

namespace fs = std::filesystem;
using sluice::Event;
using sluice::testing::Harness;

namespace {

constexpr int64_t kFixedNs = 1700000123456000000;  // 2023-11-14T22:15:23.456Z

// Runs a generator with these options until it reports it has finished; returns its events.
std::vector<Event> generate(const std::string& options, const std::string& name = "test") {
  Harness h(GENERATOR_SO);
  h.set_instance_name(name);
  auto& src = h.create(options);
  src.start();
  for (int i = 0; i < 2000; ++i) {
    auto states = h.states();
    if (!states.empty() && states.back().detail.rfind("finished", 0) == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  auto states = h.states();
  REQUIRE(!states.empty());
  REQUIRE(states.back().detail.rfind("finished", 0) == 0);
  return h.events();
}

std::string as_json(const Event& e) {
  sluice::EventViews v(&e, &e + 1);
  std::string out;
  sluice::append_json(out, *v.data());
  return out;
}

std::vector<std::string> attribute_keys(const Event& e) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : e.attributes)
    keys.push_back(k);
  return keys;
}

using sluice::testing::read_file;
using sluice::testing::TempDir;

// Hands events to a file sink writing `path` in its json format.
void record(const std::vector<Event>& events, const std::string& path) {
  Harness h(FILE_SO);
  auto& sink = h.create(nlohmann::json{{"path", path}, {"format", "json"}}.dump());
  sink.start();
  REQUIRE(h.deliver(sink, events).code == SLUICE_DELIVERY_OK);
}

const std::vector<std::string> kHmcHead = {"destination",         "subscription",
                                           "message-id",          "notification-type",
                                           "session-sequence-nr", "global-sequence-nr"};
const std::vector<std::string> kHmcObject = {"class", "name", "object-uri", "object-id"};
const std::vector<std::string> kHmcTail = {"timestamp", "expires", "priority", "content-length"};

std::vector<std::string> concat(std::initializer_list<std::vector<std::string>> parts) {
  std::vector<std::string> out;
  for (const auto& p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}

std::string options_for(const std::string& tmpl, int count) {
  return nlohmann::json{{"template", tmpl},
                        {"count", count},
                        {"rate", 0},
                        {"seed", 7},
                        {"source_uri", "generator://test"},
                        {"fixed_time", "2023-11-14T22:15:23.456Z"}}
      .dump();
}

}  // namespace

TEST_SUITE("descriptor") {
  TEST_CASE("generator: descriptor is a source with a strict schema that documents every key") {
    Harness h(GENERATOR_SO);
    CHECK(std::string(h.descriptor().name) == "generator");
    CHECK(h.descriptor().kind == SLUICE_KIND_SOURCE);
    auto schema = nlohmann::json::parse(h.descriptor().options_schema);
    CHECK(schema["additionalProperties"] == false);
    for (const auto& [key, prop] : schema["properties"].items()) {
      INFO(key);
      CHECK(prop.contains("description"));
      CHECK(prop.contains("default"));
    }
    CHECK(schema["properties"]["template"]["enum"] ==
          nlohmann::json({"hmc-os-message", "hmc-property-change", "hmc-status-change",
                          "hmc-job-completion", "hmc-inventory-change", "ldm-domain",
                          "ldm-resource", "ldm-hardware", "ldm-progress", "mixed", "minimal"}));
  }

  TEST_CASE("generator: bad options are refused at create naming the option") {
    Harness h(GENERATOR_SO);
    CHECK_THROWS_WITH(h.create(R"({"template":"nope"})"),
                      doctest::Contains("template: 'nope' is not one of hmc-os-message, "));
    CHECK_THROWS_WITH(h.create(R"({"fixed_time":"yesterday"})"),
                      "fixed_time: 'yesterday' is not an RFC 3339 date-time such as "
                      "2024-01-02T03:04:05Z");
    CHECK_THROWS_WITH(h.create(R"({"batch":0})"), "batch: must be 1 to 65536");
  }

  TEST_CASE("generator: check_options refuses what create refuses, each at its option") {
    Harness h(GENERATOR_SO);
    CHECK(h.check(R"({"template": "minimal", "rate": 0, "fixed_time": "2024-01-02T03:04:05Z"})")
              .empty());
    const std::string bad =
        R"({"template": "nope", "rate": 1e-9, "fixed_time": "yesterday", "batch": 0})";
    auto problems = h.check(bad);
    REQUIRE(problems.size() == 4);
    CHECK(problems[0].pointer == "/template");
    CHECK(problems[0].message.rfind("template: 'nope' is not one of hmc-os-message, ", 0) == 0);
    CHECK(
        problems[1] ==
        sluice::OptionProblem{
            "/rate", "rate: a rate is 0 (no pacing) or from 1e-06 to 1e+09 per second, not 1e-09"});
    CHECK(problems[2] == sluice::OptionProblem{"/fixed_time",
                                               "fixed_time: 'yesterday' is not an RFC 3339 "
                                               "date-time such as 2024-01-02T03:04:05Z"});
    CHECK(problems[3] == sluice::OptionProblem{"/batch", "batch: must be 1 to 65536"});
    CHECK_THROWS_WITH(h.create(bad), problems[0].message.c_str());
  }
}

TEST_SUITE("templates") {
  TEST_CASE("generator: hmc-os-message, one event spelled out in full") {
    auto events = generate(nlohmann::json{{"template", "hmc-os-message"},
                                          {"count", 1},
                                          {"rate", 0},
                                          {"seed", 1},
                                          {"id_prefix", "ID:gen:1:1:1:"},
                                          {"source_uri", "hmc://hmc1.example.com"},
                                          {"fixed_time", "2023-11-14T22:15:23.456Z"}}
                               .dump());
    REQUIRE(events.size() == 1);
    // Every field as hmc_stomp would map the MESSAGE frame; the random parts (partition, its
    // uuid, the console message) are fixed by seed 1.
    CHECK(
        as_json(events[0]) ==
        R"({"id":"ID:gen:1:1:1:1","source":"hmc://hmc1.example.com","type":"hmc.os-message",)"
        R"("subject":"/api/partitions/a9546ea7-7e1d-2837-e80c-5397508d1650",)"
        R"("time":"2023-11-14T22:15:23.456Z",)"
        R"("attributes":{"destination":"/topic/generator.2osm.a9546ea7-7e1d-2837-e80c-5397508d1650",)"
        R"("subscription":"sub-4","message-id":"ID:gen:1:1:1:1","notification-type":"os-message",)"
        R"("session-sequence-nr":"1","global-sequence-nr":"1","class":"partition","name":"PART02",)"
        R"("object-uri":"/api/partitions/a9546ea7-7e1d-2837-e80c-5397508d1650",)"
        R"("object-id":"a9546ea7-7e1d-2837-e80c-5397508d1650","timestamp":"1700000123456",)"
        R"("expires":"0","priority":"4","content-length":"262"},)"
        R"("data":{"os-messages":[{"sequence-number":1,"message-id":"IEE252I",)"
        R"("message-text":"IEE252I MEMBER CTIEZB00 FOUND IN SYS1.PARMLIB\n",)"
        R"("timestamp":1700000123456,"sound-alarm":false,"is-priority":false,"is-held":false,)"
        R"("prompt-text":"","os-name":"ZOS1","is-refresh":false}]}})");
  }

  TEST_CASE("generator: each HMC template has the hmc_stomp type, subject and STOMP headers") {
    struct Case {
      std::string tmpl, type;
      std::vector<std::string> keys;
      bool has_subject, has_data;
    };
    const Case cases[] = {
        {"hmc-os-message", "hmc.os-message", concat({kHmcHead, kHmcObject, kHmcTail}), true, true},
        {"hmc-property-change", "hmc.property-change",
         concat({kHmcHead, kHmcObject, {"property-names"}, kHmcTail}), true, true},
        {"hmc-status-change", "hmc.status-change", concat({kHmcHead, kHmcObject, kHmcTail}), true,
         true},
        {"hmc-job-completion", "hmc.job-completion", concat({kHmcHead, {"job-uri"}, kHmcTail}),
         false, false},
        {"hmc-inventory-change", "hmc.inventory-change",
         concat({kHmcHead, kHmcObject, {"action"}, kHmcTail}), true, false},
    };
    for (const auto& c : cases) {
      INFO(c.tmpl);
      auto events = generate(options_for(c.tmpl, 20));
      REQUIRE(events.size() == 20);
      for (const auto& e : events) {
        CHECK(e.type == c.type);
        CHECK(attribute_keys(e) == c.keys);
        CHECK(e.find_attribute("notification-type") == c.type.substr(4));
        CHECK(e.find_attribute("message-id") == e.id);
        CHECK(e.find_attribute("timestamp") == "1700000123456");
        CHECK(e.time_unix_ns == kFixedNs);
        CHECK(e.subject.has_value() == c.has_subject);
        if (c.has_subject) CHECK(e.find_attribute("object-uri") == *e.subject);
        CHECK(e.data.has_value() == c.has_data);
        CHECK(e.find_attribute("content-length") == std::to_string(e.data ? e.data->size() : 0));
        if (e.data) CHECK(nlohmann::json::accept(*e.data));
      }
    }
  }

  TEST_CASE("generator: HMC bodies carry the documented lists") {
    auto os = generate(options_for("hmc-os-message", 1))[0];
    auto body = nlohmann::json::parse(*os.data);
    REQUIRE(body["os-messages"].size() == 1);
    for (const char* key : {"sequence-number", "message-id", "message-text", "timestamp", "is-held",
                            "is-priority", "prompt-text", "os-name"})
      CHECK(body["os-messages"][0].contains(key));
    CHECK(body["os-messages"][0]["timestamp"] == 1700000123456);

    auto prop = generate(options_for("hmc-property-change", 1))[0];
    body = nlohmann::json::parse(*prop.data);
    auto names = *prop.find_attribute("property-names");
    CHECK(names == " " + body["change-reports"][0]["property-name"].get<std::string>() + " ");

    auto status = generate(options_for("hmc-status-change", 1))[0];
    body = nlohmann::json::parse(*status.data);
    for (const char* key : {"old-status", "new-status", "old-additional-status",
                            "new-additional-status", "has-unacceptable-status"})
      CHECK(body["change-reports"][0].contains(key));

    auto job = generate(options_for("hmc-job-completion", 1))[0];
    CHECK(std::regex_match(std::string(*job.find_attribute("job-uri")),
                           std::regex("/api/jobs/[0-9a-f-]{36}")));

    auto inv = generate(options_for("hmc-inventory-change", 1))[0];
    CHECK(std::regex_match(std::string(*inv.find_attribute("action")), std::regex("add|remove")));
  }

  TEST_CASE("generator: session-sequence-nr counts per destination, global-sequence-nr overall") {
    auto events = generate(options_for("hmc-status-change", 3));
    REQUIRE(events.size() == 3);
    for (size_t i = 0; i < 3; ++i) {
      CHECK(events[i].find_attribute("destination") == "/topic/generator.notifications");
      CHECK(events[i].find_attribute("session-sequence-nr") == std::to_string(i + 1));
      CHECK(events[i].find_attribute("global-sequence-nr") == std::to_string(i + 1));
    }
  }

  TEST_CASE("generator: ldm-domain events look like ldm_xml's domain events") {
    const std::regex type(
        "ldm\\.domain\\.(add|remove|bind|unbind|start|stop|panic|migrate)-domain"
        "|ldm\\.domain\\.domain-reset");
    for (const auto& e : generate(options_for("ldm-domain", 30))) {
      CHECK(std::regex_match(e.type, type));
      REQUIRE(e.subject);
      CHECK(attribute_keys(e) ==
            std::vector<std::string>{"ldm-action", "ldm-class", "ldm-version"});
      CHECK(e.find_attribute("ldm-class") == "domain");
      CHECK(e.find_attribute("ldm-version") == "1.0");
      CHECK(*e.data == R"({"domain":")" + *e.subject + R"(","action":")" +
                           std::string(*e.find_attribute("ldm-action")) + R"(","sections":[]})");
    }
  }

  TEST_CASE("generator: ldm-resource events carry one ResourceAllocationSection item") {
    const std::regex type(
        "ldm\\.resource\\.(add|set|remove)-(vcpu|crypto|memory|io|variable|vconscon|vdisk|"
        "vdiskserver|vdiskserverdevice|vnet|vswitch|vdpcs|vdpcc|vconsole)");
    for (const auto& e : generate(options_for("ldm-resource", 30))) {
      CHECK(std::regex_match(e.type, type));
      CHECK(e.find_attribute("ldm-class") == "resource");
      auto data = nlohmann::json::parse(*e.data);
      CHECK(data["domain"] == *e.subject);
      CHECK(data["action"] == *e.find_attribute("ldm-action"));
      REQUIRE(data["sections"].size() == 1);
      CHECK(data["sections"][0]["type"] == "ResourceAllocationSection");
      REQUIRE(data["sections"][0]["items"].size() == 1);
      CHECK(data["sections"][0]["items"][0]["resource_type"].is_string());
      CHECK(data["sections"][0]["items"][0]["properties"].is_object());
    }
  }

  TEST_CASE("generator: ldm-hardware events are spconfig items without a domain") {
    for (const auto& e : generate(options_for("ldm-hardware", 10))) {
      CHECK(std::regex_match(e.type, std::regex("ldm\\.hardware\\.(add|set|remove)-spconfig")));
      CHECK_FALSE(e.subject);
      auto data = nlohmann::json::parse(*e.data);
      CHECK(data["domain"].is_null());
      CHECK(data["sections"][0]["items"][0]["resource_type"] == "spconfig");
      CHECK(data["sections"][0]["items"][0]["properties"].contains("spconfig_name"));
    }
  }

  TEST_CASE("generator: ldm-progress events expose progress as a number, status and source") {
    for (const auto& e : generate(options_for("ldm-progress", 20))) {
      CHECK(e.type == "ldm.progress.migrate-domain");
      CHECK(e.find_attribute("ldm-class") == "progress");
      auto data = nlohmann::json::parse(*e.data);
      REQUIRE(data["progress"].is_number());
      auto pct = data["progress"].get<int>();
      CHECK(data["status"] == (pct == 100 ? "done" : "ongoing"));
      CHECK(data["source"] == "t5-primary");
      auto props = data["sections"][0]["items"][0]["properties"];
      CHECK(data["sections"][0]["items"][0]["resource_type"] == "ldom_info");
      CHECK(props["progress"] == std::to_string(pct) + "%");
      CHECK(props["status"] == data["status"]);
    }
  }

  TEST_CASE("generator: minimal is a tiny event: no subject, no attributes, data {\"n\":N}") {
    auto events = generate(nlohmann::json{
        {"template", "minimal"},
        {"count", 2},
        {"rate", 0},
        {"source_uri", "generator://bench"},
        {"fixed_time",
         kFixedNs}}.dump());
    REQUIRE(events.size() == 2);
    CHECK(
        as_json(events[1]) ==
        R"({"id":"2","source":"generator://bench","type":"generator.minimal","time":"2023-11-14T22:15:23.456Z","attributes":{},"data":{"n":2}})");
  }

  TEST_CASE("generator: mixed draws from every HMC and LDoms template") {
    std::set<std::string> families;
    for (const auto& e : generate(options_for("mixed", 500))) {
      // hmc.<notification-type> as is; ldm.<class>.<action> by class
      families.insert(e.type.rfind("hmc.", 0) == 0 ? e.type
                                                   : e.type.substr(0, e.type.find('.', 4)));
    }
    CHECK(families == std::set<std::string>{"hmc.os-message", "hmc.property-change",
                                            "hmc.status-change", "hmc.job-completion",
                                            "hmc.inventory-change", "ldm.domain", "ldm.resource",
                                            "ldm.hardware", "ldm.progress"});
  }
}

TEST_SUITE("determinism") {
  TEST_CASE("generator: the same seed and fixed_time give byte-identical events") {
    auto a = generate(options_for("mixed", 300));
    auto b = generate(options_for("mixed", 300));
    REQUIRE(a.size() == 300);
    REQUIRE(b.size() == 300);
    for (size_t i = 0; i < a.size(); ++i)
      CHECK(as_json(a[i]) == as_json(b[i]));
  }

  TEST_CASE("generator: another seed gives other content") {
    auto a = generate(options_for("mixed", 50));
    auto other = nlohmann::json::parse(options_for("mixed", 50));
    other["seed"] = 8;
    auto b = generate(other.dump());
    size_t same = 0;
    for (size_t i = 0; i < a.size(); ++i)
      same += as_json(a[i]) == as_json(b[i]);
    CHECK(same < a.size());
  }

  TEST_CASE("generator: ids are id_prefix + 1, 2, 3 ... across batches") {
    auto events =
        generate(R"({"template":"minimal","count":10,"rate":0,"batch":3,"id_prefix":"run7-"})");
    REQUIRE(events.size() == 10);
    for (size_t i = 0; i < events.size(); ++i)
      CHECK(events[i].id == "run7-" + std::to_string(i + 1));
  }

  TEST_CASE("generator: without source_uri the source is generator://<instance name>") {
    // The name comes from the host (plugin API 1.1), not from a count of instances in the
    // process: the same pipeline gives the same sources whatever else runs beside it.
    auto a = generate(R"({"template":"minimal","count":1,"rate":0})", "ticks");
    auto b = generate(R"({"template":"minimal","count":1,"rate":0})", "ticks");
    auto c = generate(R"({"template":"minimal","count":1,"rate":0})", "lab_b");
    CHECK(a[0].source == "generator://ticks");
    CHECK(b[0].source == "generator://ticks");
    CHECK(c[0].source == "generator://lab_b");
  }

  TEST_CASE("generator: without fixed_time events carry the clock's time") {
    auto before = std::chrono::system_clock::now().time_since_epoch();
    auto events = generate(R"({"template":"minimal","count":1,"rate":0})");
    auto after = std::chrono::system_clock::now().time_since_epoch();
    REQUIRE(events.size() == 1);
    CHECK(events[0].time_unix_ns >= std::chrono::nanoseconds(before).count());
    CHECK(events[0].time_unix_ns <= std::chrono::nanoseconds(after).count());
  }
}

TEST_SUITE("count") {
  TEST_CASE("generator: rate 0 with count 1000 emits exactly 1000, reports finished, then idles") {
    Harness h(GENERATOR_SO);
    auto& src = h.create(R"({"template":"minimal","count":1000,"rate":0,"batch":256})");
    src.start();
    REQUIRE(h.wait_for_events(1000));
    for (int i = 0; i < 2000 && h.states().size() < 2; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    auto states = h.states();
    REQUIRE(states.size() == 2);
    CHECK(states[0].state == SLUICE_STATE_UP);
    CHECK(states[0].detail == "generating");
    CHECK(states[1].state == SLUICE_STATE_UP);
    CHECK(states[1].detail == "finished: 1000 events emitted");
    CHECK(h.event_count() == 1000);  // the report comes after the last emit
    CHECK(h.metric("generated") == 1000);
  }
}

TEST_SUITE("rate") {
  TEST_CASE("generator: a set rate still delivers the count, in order") {
    auto events = generate(R"({"template":"minimal","count":5,"rate":200})");
    REQUIRE(events.size() == 5);
    for (size_t i = 0; i < events.size(); ++i)
      CHECK(events[i].id == std::to_string(i + 1));
  }

  TEST_CASE("generator: with a rate, events are emitted as they fall due, not a batch at a time") {
    Harness h(GENERATOR_SO);
    auto& src = h.create(R"({"template":"minimal","rate":1,"batch":256})");
    src.start();
    REQUIRE(h.wait_for_events(1));
    src.stop();
    // One event per second: a full batch of 256 would take minutes.
    CHECK(h.metric("generated") < 256);
    CHECK(h.event_count() == static_cast<size_t>(h.metric("generated")));
  }

  TEST_CASE("generator: a rate outside 0 or 1e-06 to 1e9 per second is refused") {
    Harness h(GENERATOR_SO);
    CHECK_THROWS_WITH(h.create(R"({"rate":-1})"),
                      "rate: a rate is 0 (no pacing) or from 1e-06 to 1e+09 per second, not -1");
    // So small that the pacing interval would overflow the clock (undefined behaviour before).
    CHECK_THROWS_WITH(
        h.create(R"({"rate":1e-300})"),
        "rate: a rate is 0 (no pacing) or from 1e-06 to 1e+09 per second, not 1e-300");
    CHECK_THROWS_AS(h.create(R"({"rate":1e10})"), std::exception);
    CHECK_NOTHROW(h.create(R"({"rate":1e-6})"));
  }
}

TEST_SUITE("replay") {
  TEST_CASE("generator: generate → file sink (json) → replay → file sink gives the same bytes") {
    TempDir dir;
    auto generated = generate(options_for("mixed", 200));
    record(generated, dir.file("first.jsonl"));
    auto replayed =
        generate(nlohmann::json{{"replay", dir.file("first.jsonl")}, {"rate", 0}}.dump());
    REQUIRE(replayed.size() == 200);
    record(replayed, dir.file("second.jsonl"));
    const std::string first = read_file(dir.file("first.jsonl"));
    CHECK(first.size() > 10000);
    CHECK(read_file(dir.file("second.jsonl")) == first);
  }

  TEST_CASE("generator: a malformed line becomes sluice.parse-error and the stream goes on") {
    TempDir dir;
    const std::string path = dir.file("in.jsonl");
    std::ofstream(path) << R"({"id":"a","source":"s","type":"t"})"
                        << "\n"
                        << "this is not json\n"
                        << "\n"
                        << R"({"id":"c","source":"s","type":"t"})"
                        << "\n";
    Harness h(GENERATOR_SO);
    auto& src = h.create(nlohmann::json{
        {"replay", path},
        {"rate", 0},
        {"source_uri", "generator://replay"},
        {"id_prefix", "r-"},
        {"fixed_time",
         kFixedNs}}.dump());
    src.start();
    REQUIRE(h.wait_for_events(3));
    auto events = h.events();
    CHECK(events[0].id == "a");
    CHECK(events[2].id == "c");
    const Event& bad = events[1];
    CHECK(bad.id == "r-2");
    CHECK(bad.type == "sluice.parse-error");
    CHECK(bad.source == "generator://replay");
    CHECK(bad.subject == path);
    CHECK(bad.find_attribute("replay-file") == path);
    CHECK(bad.find_attribute("replay-line") == "2");
    // The one shape every sluice.parse-error has (framework_events.hpp): {error, raw}.
    auto data = nlohmann::json::parse(*bad.data);
    CHECK(data.size() == 2);
    CHECK(data["raw"] == "this is not json");
    CHECK(data["error"].get<std::string>().rfind("[json.exception.parse_error.101]", 0) == 0);
    CHECK(h.metric("parse_errors") == 1);
  }

  TEST_CASE("generator: an exception while making events is logged and the stream goes on") {
    // Before: std::terminate. The harness throws once from the parse_errors metric, standing for
    // a bug in making an event.
    TempDir dir;
    const std::string path = dir.file("in.jsonl");
    std::ofstream(path) << R"({"id":"a","source":"s","type":"t"})"
                        << "\n"
                        << "this is not json\n"
                        << R"({"id":"c","source":"s","type":"t"})"
                        << "\n";
    Harness h(GENERATOR_SO);
    h.throw_once_on("parse_errors");
    auto& src = h.create(nlohmann::json{{"replay", path}, {"rate", 0}}.dump());
    src.start();
    REQUIRE(h.wait_until([](const auto& ev) {
      return std::any_of(ev.begin(), ev.end(), [](const Event& e) { return e.id == "c"; });
    }));
    CHECK(h.logged("generator: internal error: injected fault"));
    CHECK(h.metric("internal_errors") == 1);
  }

  TEST_CASE("generator: replay_loop starts over and marks later passes' ids") {
    TempDir dir;
    const std::string path = dir.file("in.jsonl");
    std::ofstream(path) << R"({"id":"a","source":"s","type":"t"})"
                        << "\n"
                        << R"({"id":"b","source":"s","type":"t"})"
                        << "\n"
                        << R"({"id":"c","source":"s","type":"t"})"
                        << "\n";
    auto events = generate(
        nlohmann::json{{"replay", path}, {"replay_loop", true}, {"count", 7}, {"rate", 0}}.dump());
    std::vector<std::string> ids;
    for (const auto& e : events)
      ids.push_back(e.id);
    CHECK(ids == std::vector<std::string>{"a", "b", "c", "a#2", "b#2", "c#2", "a#3"});
  }

  TEST_CASE("generator: replay keeps recorded times unless fixed_time is set") {
    TempDir dir;
    const std::string path = dir.file("in.jsonl");
    std::ofstream(path) << R"({"id":"a","source":"s","type":"t","time":"2020-01-01T00:00:00Z"})"
                        << "\n";
    auto kept = generate(nlohmann::json{{"replay", path}, {"rate", 0}}.dump());
    REQUIRE(kept.size() == 1);
    CHECK(kept[0].time_unix_ns == 1577836800000000000);
    auto fixed =
        generate(nlohmann::json{{"replay", path}, {"rate", 0}, {"fixed_time", kFixedNs}}.dump());
    REQUIRE(fixed.size() == 1);
    CHECK(fixed[0].time_unix_ns == kFixedNs);
  }

  TEST_CASE("generator: a missing replay file is refused by the check and at create") {
    Harness h(GENERATOR_SO);
    const std::string options = R"({"replay":"/nonexistent/recording.jsonl"})";
    const std::string message =
        "replay: cannot open '/nonexistent/recording.jsonl': No such file or directory";
    CHECK(h.check(options) == sluice::OptionProblems{{"/replay", message}});
    CHECK_THROWS_WITH(h.create(options), message.c_str());
    sluice::testing::TempDir dir;
    CHECK(h.check(nlohmann::json{{"replay", dir.path.string()}}.dump()) ==
          sluice::OptionProblems{
              {"/replay", "replay: cannot open '" + dir.path.string() + "': Is a directory"}});
  }
}

TEST_SUITE("stop") {
  TEST_CASE("generator: reports state up at start") {
    Harness h(GENERATOR_SO);
    auto& src = h.create(R"({"template":"minimal","rate":1})");
    src.start();
    REQUIRE(h.wait_for_state(SLUICE_STATE_UP));
    CHECK(h.states().front().detail == "generating");
  }

  TEST_CASE("generator: stop ends a generator running flat out, and nothing comes after") {
    Harness h(GENERATOR_SO);
    auto& src = h.create(R"({"template":"mixed","rate":0,"count":0})");
    src.start();
    REQUIRE(h.wait_for_events(1000));
    src.stop();  // returns only when the generator will not call the host again
    size_t after_stop = h.event_count();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(h.event_count() == after_stop);
  }

  TEST_CASE("generator: stop interrupts the wait for the next event at a slow rate") {
    Harness h(GENERATOR_SO);
    auto& src = h.create(R"({"template":"minimal","rate":0.001})");  // one event per 1000 s
    src.start();
    REQUIRE(h.wait_for_state(SLUICE_STATE_UP));
    src.stop();  // a sleep that ignored stop would hang here until ctest's timeout
    CHECK(h.event_count() == 0);
  }

  TEST_CASE("generator: when the host refuses emits the generator stops emitting and says so") {
    Harness h(GENERATOR_SO);
    h.refuse_emit(true);
    auto& src = h.create(R"({"template":"minimal","rate":0})");
    src.start();
    for (int i = 0; i < 2000 && !h.logged("the host is stopping"); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    CHECK(h.logged("generator: the host is stopping; 0 events emitted"));
    CHECK(h.metric("generated") == 256);  // one batch offered, then no more
  }
}
