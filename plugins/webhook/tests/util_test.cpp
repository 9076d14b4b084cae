// The webhook sink's helpers without a network: URLs, Retry-After, gzip, signature, keys, the
// bulk bodies (the templates themselves are the SDK's: tests/unit/event_template_test.cpp).
#include <doctest/doctest.h>

#include "bulk.hpp"
#include "webhook_util.hpp"

#include <sluice/event.hpp>

#include <chrono>

using namespace sluice::webhook;

TEST_CASE("parse_url: http with default port and no path") {
  Url u = parse_url("http://example.com");
  CHECK_FALSE(u.tls);
  CHECK(u.host == "example.com");
  CHECK(u.port == "80");
  CHECK(u.target == "/");
  CHECK(u.host_header == "example.com");
}

TEST_CASE("parse_url: https with port, path and query; fragment dropped") {
  Url u = parse_url("HTTPS://hooks.example.com:8443/api/now/events?x=1#frag");
  CHECK(u.tls);
  CHECK(u.host == "hooks.example.com");
  CHECK(u.port == "8443");
  CHECK(u.target == "/api/now/events?x=1");
  CHECK(u.host_header == "hooks.example.com:8443");
}

TEST_CASE("parse_url: IPv6 literal") {
  Url u = parse_url("http://[::1]:9000/h");
  CHECK(u.host == "::1");
  CHECK(u.port == "9000");
  CHECK(u.host_header == "[::1]:9000");
}

TEST_CASE("parse_url: errors say what is wrong") {
  CHECK_THROWS_WITH_AS(parse_url("ftp://x"), "bad url 'ftp://x': scheme must be http or https",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_url("example.com/x"),
                       "bad url 'example.com/x': expected http:// or https://",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_url("http://h:99999/"), "bad url 'http://h:99999/': port out of range",
                       std::invalid_argument);
  CHECK_THROWS_AS(parse_url("http://user:pw@h/"), std::invalid_argument);
  CHECK_THROWS_AS(parse_url("http:///x"), std::invalid_argument);
}

TEST_CASE("parse_retry_after: seconds and HTTP dates") {
  const auto now = std::chrono::system_clock::from_time_t(1445412480);  // Wed, 21 Oct 2015 07:28:00
  CHECK(parse_retry_after("120", now) == std::optional<uint64_t>(120000));
  CHECK(parse_retry_after(" 0 ", now) == std::optional<uint64_t>(0));
  CHECK(parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now) == std::optional<uint64_t>(30000));
  CHECK(parse_retry_after("Wednesday, 21-Oct-15 07:29:00 GMT", now) ==
        std::optional<uint64_t>(60000));
  CHECK(parse_retry_after("Wed Oct 21 07:28:10 2015", now) == std::optional<uint64_t>(10000));
  CHECK(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now) == std::optional<uint64_t>(0));
  CHECK_FALSE(parse_retry_after("soon", now).has_value());
  CHECK_FALSE(parse_retry_after("", now).has_value());
  CHECK_FALSE(parse_retry_after("-5", now).has_value());
  // Dates far from now neither overflow nor wrap (found by webhook.fuzz_util).
  CHECK(parse_retry_after("Mon, 01 Jan 0001 00:00:00 GMT", now) == std::optional<uint64_t>(0));
  CHECK(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now) ==
        std::optional<uint64_t>(uint64_t{999999999} * 1000));
}

TEST_CASE("gzip round trip, and gunzip refuses garbage") {
  const std::string text(10000, 'a');
  const std::string z = gzip(text);
  CHECK(z.size() < text.size());
  CHECK(static_cast<unsigned char>(z[0]) == 0x1f);  // gzip magic
  CHECK(static_cast<unsigned char>(z[1]) == 0x8b);
  CHECK(gunzip(z) == text);
  CHECK_THROWS_AS(gunzip("not gzip"), std::runtime_error);
  CHECK_THROWS_AS(gunzip(z.substr(0, z.size() / 2)), std::runtime_error);
}

TEST_CASE("sign_v1 is HMAC-SHA256 over timestamp + \".\" + body, in lower-case hex") {
  // Expected value from: printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
  CHECK(sign_v1("secret", "1700000000", R"({"a":1})") ==
        "49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686");
}

TEST_CASE("idempotency_key depends only on (source, id) of the events") {
  sluice::Event a;
  a.id = "1";
  a.source = "s";
  a.type = "t";
  sluice::Event a2 = a;
  a2.type = "other";
  a2.data = "{}";
  sluice::Event b = a;
  b.id = "2";
  // EventViews borrow: the vectors must outlive them.
  const std::vector<sluice::Event> ea{a}, ea2{a2}, eab{a, b}, eba{b, a};
  sluice::EventViews va(ea), va2(ea2), vab(eab), vba(eba);
  const std::string k = idempotency_key(va.data(), 1);
  CHECK(k.size() == 32);
  CHECK(k == idempotency_key(va2.data(), 1));
  CHECK(k != idempotency_key(vab.data(), 2));
  CHECK(idempotency_key(vab.data(), 2) != idempotency_key(vba.data(), 2));
}

namespace {

// The event of the body-builder tests: 2025-11-21T05:03:52.123Z.
sluice::Event sample_event() {
  sluice::Event e;
  e.id = "ev-1";
  e.source = "hmc://hmc1";
  e.type = "hmc.os-message";
  e.subject = "LPAR1";
  e.time_unix_ns = 1763701432123456789;
  e.attribute("cpc-name", "CPC1");
  e.data = R"({"msg":"IEF403I JOB1 STARTED"})";
  return e;
}

}  // namespace

TEST_CASE("epoch_seconds: seconds with milliseconds, floored before 1970") {
  CHECK(epoch_seconds(1763701432123456789) == "1763701432.123");
  CHECK(epoch_seconds(0) == "0.000");
  CHECK(epoch_seconds(-1500000000) == "-2.500");  // 1.5 s before the epoch
}

TEST_CASE("append_hec_event: time, host, source, sourcetype, index and the CloudEvent") {
  const std::vector<sluice::Event> ev{sample_event()};
  sluice::EventViews v(ev);
  std::string out;
  append_hec_event(out, v.data()[0], HecFields{});
  CHECK(
      out ==
      R"({"time":1763701432.123,"host":"LPAR1","source":"hmc://hmc1","sourcetype":"sluice:hmc.os-message",)"
      R"("event":{"specversion":"1.0","id":"ev-1","source":"hmc://hmc1","type":"hmc.os-message",)"
      R"("subject":"LPAR1","time":"2025-11-21T05:03:52.123Z","cpcname":"CPC1",)"
      R"("datacontenttype":"application/json","data":{"msg":"IEF403I JOB1 STARTED"}}})");
  HecFields f;
  f.host = "{attr:cpc-name}";
  f.source = "";  // left out
  f.sourcetype = "zos";
  f.index = "mainframe";
  out.clear();
  append_hec_event(out, v.data()[0], f);
  CHECK(out.substr(0, 83) ==
        R"({"time":1763701432.123,"host":"CPC1","sourcetype":"zos","index":"mainframe","event")");
}

TEST_CASE("read_hec_answer: 200 ok, codes in the reason, invalid-event-number splits the request") {
  const auto now = std::chrono::system_clock::now();
  auto whole = [&](int status, const std::string& body) {
    return classify_response(status, status == 400 ? "Bad Request" : "X", body, std::nullopt, {},
                             now);
  };
  const std::string ok = R"({"text":"Success","code":0})";
  Outcome o = read_hec_answer(whole(200, ok), ok, 3, {});
  CHECK(o.action == Action::ok);
  CHECK(o.events.empty());

  const std::string busy = R"({"text":"Server is busy","code":9})";
  o = read_hec_answer(whole(503, busy), busy, 3, {});
  CHECK(o.action == Action::retry);
  CHECK(o.reason == "HTTP 503 HEC code 9: Server is busy");
  CHECK(o.events.empty());

  const std::string token = R"({"text":"Invalid token","code":4})";
  o = read_hec_answer(whole(403, token), token, 3, {});
  CHECK(o.action == Action::reject);
  CHECK(o.reason == "HTTP 403 HEC code 4: Invalid token");
  CHECK(o.events.empty());

  // Event 2 of 4 (index 1) names an index the token may not write to.
  const std::string index = R"({"text":"Incorrect index","code":7,"invalid-event-number":1})";
  o = read_hec_answer(whole(400, index), index, 4, {});
  REQUIRE(o.events.size() == 4);
  CHECK(o.events[0].action == Action::ok);
  CHECK(o.events[1].action == Action::reject);
  CHECK(o.events[1].status == 400);
  CHECK(o.events[1].reason == "HTTP 400 HEC code 7: Incorrect index (event 2 of 4 in the request)");
  CHECK(o.events[2].action == Action::retry);
  CHECK(o.events[2].reason ==
        "not indexed: HEC stopped at event 2 of 4 (HEC code 7: Incorrect index)");
  CHECK(o.events[3].action == Action::retry);

  // An event number outside the request, or none: the whole request is refused.
  for (const std::string body :
       {R"({"text":"Invalid data format","code":6,"invalid-event-number":4})",
        R"({"text":"Invalid data format","code":6,"invalid-event-number":-1})",
        R"({"text":"Invalid data format","code":6})"}) {
    o = read_hec_answer(whole(400, body), body, 4, {});
    CHECK(o.action == Action::reject);
    CHECK(o.events.empty());
    CHECK(o.reason == "HTTP 400 HEC code 6: Invalid data format");
  }
  // status_map: {"400": reject}: the whole request, as the map says.
  o = read_hec_answer(whole(400, index), index, 4, {{400, Action::reject}});
  CHECK(o.action == Action::reject);
  CHECK(o.events.empty());
  CHECK(o.reason == "HTTP 400 HEC code 7: Incorrect index");
  // A body that is not HEC's: the status's answer as it is.
  o = read_hec_answer(whole(400, "<html>"), "<html>", 2, {});
  CHECK(o.reason == "HTTP 400 Bad Request: <html>");
  CHECK(o.events.empty());
}

TEST_CASE("index_template_problem: what an index name cannot hold is refused in the template") {
  CHECK_FALSE(index_template_problem("sluice-{type}-%Y.%m.%d"));
  CHECK_FALSE(index_template_problem("{attr:cpc-name}-%Y.%m.%d.%H"));
  CHECK(*index_template_problem("_{type}") == "an index name cannot start with '_'");
  CHECK(*index_template_problem("Sluice-{type}") == "index names are lower case: 'S'");
  CHECK(*index_template_problem("logs {type}") ==
        "' ' cannot be in an index name (a-z 0-9 . _ - +)");
  CHECK(*index_template_problem("logs-%Y-%b") ==
        "%b is not a conversion of index names (%Y %m %d %H)");
  CHECK(*index_template_problem("-logs") == "an index name cannot start with '-'");
  CHECK(*index_template_problem("..") == "an index name cannot be '..'");
  CHECK(*index_template_problem("") == "an index name cannot be empty");
  CHECK(*index_template_problem("logs-{typ}") ==
        "'{' starts no placeholder ({type} {source} {subject} {id} {attr:NAME})");
}

TEST_CASE("expand_index: the event's text lower-cased, other characters as _, dates in UTC") {
  sluice::Event e = sample_event();
  e.type = "HMC.OS Message/x";
  const std::vector<sluice::Event> ev{e};
  sluice::EventViews v(ev);
  IndexName n = expand_index("sluice-{type}-%Y.%m.%d.%H", v.data()[0]);
  CHECK(n.name == "sluice-hmc.os_message_x-2025.11.21.05");
  CHECK(n.problem.empty());
  n = expand_index("{subject}", v.data()[0]);
  CHECK(n.name == "lpar1");
  n = expand_index("{attr:missing}", v.data()[0]);
  CHECK(n.problem == "index name is empty");
  e.subject = "_hidden";
  const std::vector<sluice::Event> ew{e};
  sluice::EventViews w(ew);
  n = expand_index("{subject}-x", w.data()[0]);
  CHECK(n.problem == "index name '_hidden-x' starts with '_'");
  n = expand_index("{attr:cpc-name}" + std::string(252, 'x'), w.data()[0]);  // 256 bytes
  CHECK(n.problem.find("is over 255 bytes") != std::string::npos);
}

TEST_CASE("append_bulk_create: the create action with _index and _id, then the document") {
  const std::vector<sluice::Event> ev{sample_event()};
  sluice::EventViews v(ev);
  std::string out;
  append_bulk_create(out, "sluice-hmc.os-message-2025.11.21", "ev-1", v.data()[0]);
  CHECK(out ==
        "{\"create\":{\"_index\":\"sluice-hmc.os-message-2025.11.21\",\"_id\":\"ev-1\"}}\n"
        R"({"@timestamp":"2025-11-21T05:03:52.123Z","specversion":"1.0","id":"ev-1",)"
        R"("source":"hmc://hmc1","type":"hmc.os-message","subject":"LPAR1",)"
        R"("time":"2025-11-21T05:03:52.123Z","cpcname":"CPC1",)"
        R"("datacontenttype":"application/json","data":{"msg":"IEF403I JOB1 STARTED"}})"
        "\n");
}

TEST_CASE("read_bulk_answer: each item answers its document") {
  const std::vector<std::string> ids{"a", "b", "c", "d", "e", "f"};
  Outcome ok200;
  ok200.status = 200;
  const std::string body = R"json({"took":3,"errors":true,"items":[
    {"create":{"_index":"i","_id":"a","status":201,"result":"created"}},
    {"create":{"_index":"i","_id":"b","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[b]: version conflict, document already exists (current version [1])"}}},
    {"create":{"_index":"i","_id":"c","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation"}}},
    {"create":{"_index":"i","_id":"d","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [data.n] of type [long] in document with id 'd'","caused_by":{"type":"illegal_argument_exception","reason":"For input string: \"x\""}}}},
    {"create":{"_index":"i","_id":"e","status":503,"error":{"type":"unavailable_shards_exception","reason":"primary shard is not active"}}},
    {"create":{"_index":"i","_id":"f","status":404,"error":{"type":"index_not_found_exception","reason":"no such index [i]"}}}]})json";
  Outcome o = read_bulk_answer(ok200, body, ids, {});
  CHECK(o.action == Action::ok);
  REQUIRE(o.events.size() == 6);
  CHECK(o.events[0].action == Action::ok);
  CHECK(o.events[1].action == Action::ok);  // created before: delivered
  CHECK(o.events[2].action == Action::retry);
  CHECK(o.events[2].status == 429);
  CHECK(o.events[2].reason ==
        "elasticsearch 429 es_rejected_execution_exception: rejected execution of coordinating "
        "operation");
  CHECK(o.events[3].action == Action::reject);
  CHECK(o.events[3].status == 400);
  CHECK(o.events[3].reason ==
        "elasticsearch 400 mapper_parsing_exception: failed to parse field [data.n] of type "
        "[long] in document with id 'd' (caused by illegal_argument_exception: For input "
        "string: \"x\")");
  CHECK(o.events[4].action == Action::retry);
  CHECK(o.events[5].action == Action::reject);
  CHECK(o.events[5].reason == "elasticsearch 404 index_not_found_exception: no such index [i]");

  // status_map applies to the items too.
  o = read_bulk_answer(ok200, body, ids, {{404, Action::retry}});
  CHECK(o.events[5].action == Action::retry);

  // Every item 2xx / 409: a plain ok.
  const std::string fine =
      R"({"errors":false,"items":[{"create":{"_id":"a","status":201}},{"create":{"status":409}}]})";
  o = read_bulk_answer(ok200, fine, {"a", "b"}, {});
  CHECK(o.action == Action::ok);
  CHECK(o.events.empty());
}

TEST_CASE("read_bulk_answer: a response that cannot be read item by item retries the request") {
  Outcome ok200;
  ok200.status = 200;
  const std::vector<std::string> ids{"a", "b"};
  const std::string tail =
      "; the request is sent again (a create whose document arrived "
      "answers 409: ok)";
  auto reason = [&](const std::string& body) {
    Outcome o = read_bulk_answer(ok200, body, ids, {});
    CHECK(o.action == Action::retry);
    CHECK(o.events.empty());
    return o.reason;
  };
  CHECK(reason(R"({"items":[{"create":{"_id":"a","status":201}}]})") ==
        "elasticsearch-bulk: the response has 1 items for the request's 2 documents" + tail);
  CHECK(reason(R"({"items":[{"create":{"_id":"a","status":201}},{"create":{"_id":"b","st)") ==
        "elasticsearch-bulk: the response is not a JSON object: '{\"items\":[{\"create\":{\"_id\":"
        "\"a\",\"status\":201}},{\"create\":{\"_id\":\"b\",\"st'" +
            tail);
  CHECK(reason(R"({"took":1})") ==
        "elasticsearch-bulk: the response has no items array: '{\"took\":1}'" + tail);
  CHECK(
      reason(
          R"({"items":[{"create":{"_id":"b","status":201}},{"create":{"_id":"a","status":201}}]})") ==
      "elasticsearch-bulk: item 1 of 2 is for _id 'b', the request's document 1 has _id 'a'" +
          tail);
  CHECK(reason(R"({"items":[{"create":{"_id":"a"}},{"create":{"_id":"b","status":201}}]})") ==
        "elasticsearch-bulk: item 1 of 2 has no status" + tail);
  CHECK(
      reason(
          R"({"items":[{"index":{"_id":"a","status":201}},{"create":{"_id":"b","status":201}}]})") ==
      "elasticsearch-bulk: item 1 of 2 answers 'index', the request sent create" + tail);
  CHECK(reason("") == "elasticsearch-bulk: the response is not a JSON object: ''" + tail);

  // A status that is not 2xx answers the whole request as the status says.
  Outcome busy;
  busy.action = Action::retry;
  busy.status = 429;
  busy.reason = "HTTP 429 Too Many Requests";
  CHECK(read_bulk_answer(busy, "", ids, {}).reason == "HTTP 429 Too Many Requests");
}

TEST_CASE("base64 as basic auth needs it") {
  CHECK(base64("Aladdin:open sesame") == "QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  CHECK(base64("") == "");
}
