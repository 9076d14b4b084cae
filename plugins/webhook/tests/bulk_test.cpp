// body: splunk-hec and body: elasticsearch-bulk against the test receiver answering as the
// emulated APIs (emulators.hpp), over real loopback sockets: what arrives, and how each event of
// a batch is answered (ok, retry, reject with which reason), including partial failures.
#include <doctest/doctest.h>

#include "emulators.hpp"
#include "receiver.hpp"

#include <sluice/testing.hpp>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

using nlohmann::json;
using sluice::Delivery;
using sluice::Event;
using sluice::testing::Harness;
using sluice::webhook::testing::Answer;
using sluice::webhook::testing::BulkEmulator;
using sluice::webhook::testing::HecEmulator;
using sluice::webhook::testing::Receiver;

namespace {

Event event(const std::string& id, const std::string& data = R"({"n":1})") {
  Event e;
  e.id = id;
  e.source = "hmc://hmc1";
  e.type = "hmc.os-message";
  e.subject = "LPAR1";
  e.time_unix_ns = 1763701432123000000;  // 2025-11-21T05:03:52.123Z
  e.attribute("cpc-name", "CPC1");
  e.data = data;
  return e;
}

struct Fixture {
  Harness harness{WEBHOOK_SO};
  sluice::testing::Instance* sink = nullptr;
  explicit Fixture(const json& options) {
    sink = &harness.create(options.dump());
    sink->start();
  }
  Delivery deliver(const std::vector<Event>& ev, uint32_t attempt = 1) {
    return harness.deliver(*sink, ev, attempt);
  }
};

json hec_options(const Receiver& r, json extra = json::object()) {
  json o = {{"url", r.url("/services/collector/event")},
            {"body", "splunk-hec"},
            {"read_timeout", "5s"},
            {"splunk", {{"token", "11111111-2222-3333-4444-555555555555"}}}};
  o.update(extra, true);
  return o;
}

json es_options(const Receiver& r, json extra = json::object()) {
  json o = {{"url", r.url("/_bulk")}, {"body", "elasticsearch-bulk"}, {"read_timeout", "5s"}};
  o.update(extra, true);
  return o;
}

std::vector<std::string> event_ids(const std::vector<json>& hec_events) {
  std::vector<std::string> ids;
  for (const auto& e : hec_events)
    ids.push_back(e["event"]["id"].get<std::string>());
  return ids;
}

}  // namespace

// ---- splunk-hec -------------------------------------------------------------------------------

TEST_CASE("splunk-hec: a batch is one request of HEC events with the token; 200 Success is ok") {
  Receiver r;
  HecEmulator hec("11111111-2222-3333-4444-555555555555");
  r.respond_with(std::ref(hec));
  Fixture f(hec_options(r));
  Delivery d = f.deliver({event("a"), event("b"), event("c")});
  CHECK(d.code == SLUICE_DELIVERY_OK);
  CHECK(d.events.empty());
  auto reqs = r.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].target == "/services/collector/event");
  CHECK(reqs[0].header("authorization") == "Splunk 11111111-2222-3333-4444-555555555555");
  CHECK(reqs[0].header("content-type") == "application/json");
  CHECK(reqs[0].answered == 200);
  auto indexed = hec.indexed();
  REQUIRE(indexed.size() == 3);
  CHECK(event_ids(indexed) == std::vector<std::string>{"a", "b", "c"});
  CHECK(indexed[0]["time"].get<double>() == doctest::Approx(1763701432.123));
  CHECK(indexed[0]["host"] == "LPAR1");
  CHECK(indexed[0]["source"] == "hmc://hmc1");
  CHECK(indexed[0]["sourcetype"] == "sluice:hmc.os-message");
  CHECK_FALSE(indexed[0].contains("index"));
  CHECK(indexed[0]["event"]["specversion"] == "1.0");
  CHECK(indexed[0]["event"]["data"] == json{{"n", 1}});
}

TEST_CASE("splunk-hec: host, sourcetype and index templates per event") {
  Receiver r;
  HecEmulator hec("t");
  r.respond_with(std::ref(hec));
  Fixture f(hec_options(r, {{"splunk",
                             {{"token", "t"},
                              {"host", "{attr:cpc-name}"},
                              {"sourcetype", "zos:{subject}"},
                              {"index", "mainframe"}}}}));
  CHECK(f.deliver({event("a")}).code == SLUICE_DELIVERY_OK);
  auto indexed = hec.indexed();
  REQUIRE(indexed.size() == 1);
  CHECK(indexed[0]["host"] == "CPC1");
  CHECK(indexed[0]["sourcetype"] == "zos:LPAR1");
  CHECK(indexed[0]["index"] == "mainframe");
}

TEST_CASE("splunk-hec: HEC refuses event 2 of 4: 1 ok, 2 rejected with HEC's text, 3-4 retried") {
  Receiver r;
  HecEmulator hec("t");
  hec.allow_indexes({"main"});
  r.respond_with(std::ref(hec));
  Fixture f(hec_options(r, {{"splunk", {{"token", "t"}, {"index", "{attr:index}"}}}}));
  std::vector<Event> batch;
  for (const char* id : {"e1", "e2", "e3", "e4"})
    batch.push_back(event(id).attribute("index", std::string(id) == "e2" ? "secret" : "main"));
  Delivery d = f.deliver(batch);
  REQUIRE(d.events.size() == 4);
  CHECK(d.events[0].code == SLUICE_DELIVERY_OK);
  CHECK(d.events[1].code == SLUICE_DELIVERY_REJECT);
  CHECK(d.events[1].status == 400);
  CHECK(d.events[1].reason == "HTTP 400 HEC code 7: Incorrect index (event 2 of 4 in the request)");
  CHECK(d.events[2].code == SLUICE_DELIVERY_RETRY);
  CHECK(d.events[2].reason ==
        "not indexed: HEC stopped at event 2 of 4 (HEC code 7: Incorrect index)");
  CHECK(d.events[3].code == SLUICE_DELIVERY_RETRY);
  CHECK(event_ids(hec.indexed()) == std::vector<std::string>{"e1"});
  // The core sends the retried ones again, alone: now they are indexed, each once.
  Delivery again = f.deliver({batch[2], batch[3]}, 2);
  CHECK(again.code == SLUICE_DELIVERY_OK);
  CHECK(event_ids(hec.indexed()) == std::vector<std::string>{"e1", "e3", "e4"});
}

TEST_CASE("splunk-hec: token errors reject, server busy retries, the reasons quote HEC") {
  Receiver r;
  HecEmulator hec("right");
  r.respond_with(std::ref(hec));
  {
    Fixture f(hec_options(r, {{"splunk", {{"token", "wrong"}}}}));
    Delivery d = f.deliver({event("a"), event("b")});
    CHECK(d.code == SLUICE_DELIVERY_REJECT);
    CHECK(d.events.empty());
    CHECK(d.status == 403);
    CHECK(d.reason == "HTTP 403 HEC code 4: Invalid token");
  }
  {
    json o = hec_options(r);
    o.erase("splunk");
    o["body"] = "splunk-hec";
    Fixture f(o);
    Delivery d = f.deliver({event("a")});
    CHECK(d.code == SLUICE_DELIVERY_REJECT);
    CHECK(d.reason == "HTTP 401 HEC code 2: Token is required");
  }
  {
    hec.busy(1);
    Fixture f(hec_options(r, {{"splunk", {{"token", "right"}}}}));
    Delivery d = f.deliver({event("a"), event("b")});
    CHECK(d.code == SLUICE_DELIVERY_RETRY);
    CHECK(d.events.empty());
    CHECK(d.status == 503);
    CHECK(d.reason == "HTTP 503 HEC code 9: Server is busy");
    CHECK(f.deliver({event("a"), event("b")}, 2).code == SLUICE_DELIVERY_OK);
    CHECK(event_ids(hec.indexed()) == std::vector<std::string>{"a", "b"});
  }
}

// ---- elasticsearch-bulk -----------------------------------------------------------------------

TEST_CASE("elasticsearch-bulk: create actions by event id into the templated index") {
  Receiver r;
  BulkEmulator es;
  r.respond_with(std::ref(es));
  Fixture f(es_options(r));
  Delivery d = f.deliver({event("a"), event("b")});
  CHECK(d.code == SLUICE_DELIVERY_OK);
  auto reqs = r.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].header("content-type") == "application/x-ndjson");
  CHECK(reqs[0].body.substr(0, reqs[0].body.find('\n')) ==
        R"({"create":{"_index":"sluice-hmc.os-message-2025.11.21","_id":"a"}})");
  auto docs = es.documents();
  REQUIRE(docs.count("sluice-hmc.os-message-2025.11.21"));
  const auto& index = docs["sluice-hmc.os-message-2025.11.21"];
  CHECK(index.size() == 2);
  CHECK(index.at("a")["@timestamp"] == "2025-11-21T05:03:52.123Z");
  CHECK(index.at("a")["id"] == "a");
  CHECK(index.at("b")["data"] == json{{"n", 1}});
}

TEST_CASE("elasticsearch-bulk: each item answers its event: 201, 409, 429, 400 mapping error") {
  Receiver r;
  BulkEmulator es;
  r.respond_with(std::ref(es));
  Fixture f(es_options(r, {{"elasticsearch", {{"index", "ops"}}}}));
  // "seed" maps data.n as a number; "dup" exists already.
  REQUIRE(f.deliver({event("seed"), event("dup")}).code == SLUICE_DELIVERY_OK);
  es.fail("busy", 429, "es_rejected_execution_exception",
          "rejected execution of coordinating operation");
  Delivery d = f.deliver(
      {event("new"), event("dup"), event("busy"), event("bad", R"({"n":"not a number"})")});
  REQUIRE(d.events.size() == 4);
  CHECK(d.events[0].code == SLUICE_DELIVERY_OK);
  CHECK(d.events[1].code == SLUICE_DELIVERY_OK);  // 409 on create: delivered before
  CHECK(d.events[2].code == SLUICE_DELIVERY_RETRY);
  CHECK(d.events[2].status == 429);
  CHECK(d.events[2].reason ==
        "elasticsearch 429 es_rejected_execution_exception: rejected execution of coordinating "
        "operation");
  CHECK(d.events[3].code == SLUICE_DELIVERY_REJECT);
  CHECK(d.events[3].status == 400);
  CHECK(d.events[3].reason ==
        "elasticsearch 400 mapper_parsing_exception: failed to parse field [data.n] of type "
        "[long] in document with id 'bad'. Preview of field's value: 'not a number'");
  // The retry of "busy" arrives.
  CHECK(f.deliver({event("busy")}, 2).code == SLUICE_DELIVERY_OK);
  auto docs = es.documents()["ops"];
  CHECK(docs.size() == 4);
  for (const char* id : {"seed", "dup", "new", "busy"})
    CHECK_MESSAGE(docs.count(id) == 1, id);
  CHECK(es.creates("busy") == 2);
  CHECK(es.creates("dup") == 2);
}

TEST_CASE("elasticsearch-bulk: an event whose index name is invalid is refused, never sent") {
  Receiver r;
  BulkEmulator es;
  r.respond_with(std::ref(es));
  Fixture f(es_options(r, {{"elasticsearch", {{"index", "{subject}"}}}}));
  Event hidden = event("h");
  hidden.subject = "_internal";
  Event upper = event("u");
  upper.subject = "LPAR 2/X";
  Delivery d = f.deliver({event("a"), hidden, upper});
  REQUIRE(d.events.size() == 3);
  CHECK(d.events[0].code == SLUICE_DELIVERY_OK);
  CHECK(d.events[1].code == SLUICE_DELIVERY_REJECT);
  CHECK(d.events[1].reason ==
        "elasticsearch-bulk: index name '_internal' starts with '_'; not sent");
  CHECK(d.events[2].code == SLUICE_DELIVERY_OK);
  auto docs = es.documents();
  CHECK(docs["lpar1"].count("a") == 1);
  CHECK(docs["lpar_2_x"].count("u") == 1);
  CHECK(es.creates("h") == 0);
  // A batch of refused events only: no request at all.
  const size_t before = r.request_count();
  Delivery only = f.deliver({hidden});
  REQUIRE(only.events.size() == 1);
  CHECK(only.events[0].code == SLUICE_DELIVERY_REJECT);
  CHECK(r.request_count() == before);
}

TEST_CASE("elasticsearch-bulk: a truncated or mismatched response retries the whole request") {
  Receiver r;
  BulkEmulator es;
  r.respond_with(std::ref(es));
  Fixture f(es_options(r));
  const std::string tail =
      "; the request is sent again (a create whose document arrived answers 409: ok)";
  // One item for two documents.
  r.script({Answer::with_status(200, R"({"errors":false,"items":[{"create":{"status":201}}]})")});
  Delivery d = f.deliver({event("a"), event("b")});
  CHECK(d.code == SLUICE_DELIVERY_RETRY);
  CHECK(d.events.empty());
  CHECK(d.reason ==
        "elasticsearch-bulk: the response has 1 items for the request's 2 documents" + tail);
  // Cut short.
  r.script({Answer::with_status(200, R"({"errors":false,"items":[{"create":{"status":2)")});
  d = f.deliver({event("a"), event("b")});
  CHECK(d.code == SLUICE_DELIVERY_RETRY);
  CHECK(d.reason.rfind("elasticsearch-bulk: the response is not a JSON object: ", 0) == 0);
  // Items in another order than the documents: not attributed to the wrong events.
  r.script({Answer::with_status(
      200, R"({"errors":true,"items":[{"create":{"_id":"b","status":201}},)"
           R"({"create":{"_id":"a","status":400,"error":{"type":"x","reason":"y"}}}]})")});
  d = f.deliver({event("a"), event("b")});
  CHECK(d.code == SLUICE_DELIVERY_RETRY);
  CHECK(d.events.empty());
  CHECK(d.reason ==
        "elasticsearch-bulk: item 1 of 2 is for _id 'b', the request's document 1 has _id 'a'" +
            tail);
  // A 429 for the whole request: retried as the status says.
  r.script({Answer::retry_after(429, "2")});
  d = f.deliver({event("a"), event("b")});
  CHECK(d.code == SLUICE_DELIVERY_RETRY);
  CHECK(d.retry_after_ms == 2000);
  // The emulator answers the next attempt: both arrive.
  d = f.deliver({event("a"), event("b")}, 2);
  CHECK(d.code == SLUICE_DELIVERY_OK);
  CHECK(es.documents()["sluice-hmc.os-message-2025.11.21"].size() == 2);
}

TEST_CASE("elasticsearch-bulk: a 2xx response over max_response_bytes answers no item: retry") {
  Receiver r;
  BulkEmulator es;
  r.respond_with(std::ref(es));
  Fixture f(es_options(r, {{"max_response_bytes", "64"}}));
  Delivery d = f.deliver({event("a"), event("b")});
  CHECK(d.code == SLUICE_DELIVERY_RETRY);
  CHECK(d.reason.find("(response body over max_response_bytes 64, not read)") != std::string::npos);
}
