// The CloudEvents Kafka protocol binding as the sink applies it, topic names and error classes:
// inputs and expected records in plain sight.
#include "kafka_util.hpp"

#include <sluice/event.hpp>

#include <doctest/doctest.h>

using sluice::Event;
using sluice::EventViews;
using namespace sluice::kafka;
using Headers = std::vector<std::pair<std::string, std::string>>;

namespace {

Event sample() {
  Event e;
  e.id = "ID:gen:1:1:1:7";
  e.source = "hmc://hmc1.example.com";
  e.type = "hmc.os-message";
  e.subject = "/api/partitions/a9546ea7";
  e.time_unix_ns = 1700000123456000000;  // 2023-11-14T22:15:23.456Z
  e.attribute("notification-type", "os-message").attribute("id", "x1");
  e.data = R"({"os-messages":[{"message-id":"IEE252I"}]})";
  return e;
}

Record record_of(const Event& e, Mode mode, const char* topic = "hmc.{type}",
                 const char* key = "{subject}") {
  EventViews v(&e, &e + 1);
  return make_record(v.data()[0], mode, topic, key);
}

}  // namespace

TEST_CASE("binary mode: ce_* headers, content-type, data as the value, subject as the key") {
  Record r = record_of(sample(), Mode::binary);
  CHECK(r.topic == "hmc.hmc.os-message");
  REQUIRE(r.key);
  CHECK(*r.key == "/api/partitions/a9546ea7");
  CHECK(r.headers == Headers{{"ce_specversion", "1.0"},
                             {"ce_id", "ID:gen:1:1:1:7"},
                             {"ce_source", "hmc://hmc1.example.com"},
                             {"ce_type", "hmc.os-message"},
                             {"ce_subject", "/api/partitions/a9546ea7"},
                             {"ce_time", "2023-11-14T22:15:23.456Z"},
                             {"ce_notificationtype", "os-message"},
                             {"ce_xid", "x1"},
                             {"content-type", "application/json"}});
  REQUIRE(r.value);
  CHECK(*r.value == R"({"os-messages":[{"message-id":"IEE252I"}]})");
}

TEST_CASE("binary mode without subject, attributes or data: no key, no ce_subject, null value") {
  Event e;
  e.id = "1";
  e.source = "generator://gen";
  e.type = "generator.minimal";
  e.time_unix_ns = 1000000;  // 1970-01-01T00:00:00.001Z
  Record r = record_of(e, Mode::binary, "events");
  CHECK(r.topic == "events");
  CHECK_FALSE(r.key);
  CHECK(r.headers == Headers{{"ce_specversion", "1.0"},
                             {"ce_id", "1"},
                             {"ce_source", "generator://gen"},
                             {"ce_type", "generator.minimal"},
                             {"ce_time", "1970-01-01T00:00:00.001Z"}});
  CHECK_FALSE(r.value);
}

TEST_CASE("structured mode: the whole event as application/cloudevents+json") {
  Record r = record_of(sample(), Mode::structured, "audit", "{source}/{id}");
  CHECK(r.topic == "audit");
  REQUIRE(r.key);
  CHECK(*r.key == "hmc://hmc1.example.com/ID:gen:1:1:1:7");
  CHECK(r.headers == Headers{{"content-type", "application/cloudevents+json; charset=UTF-8"}});
  REQUIRE(r.value);
  CHECK(
      *r.value ==
      R"({"specversion":"1.0","id":"ID:gen:1:1:1:7","source":"hmc://hmc1.example.com",)"
      R"("type":"hmc.os-message","subject":"/api/partitions/a9546ea7",)"
      R"("time":"2023-11-14T22:15:23.456Z","notificationtype":"os-message","xid":"x1",)"
      R"("datacontenttype":"application/json","data":{"os-messages":[{"message-id":"IEE252I"}]}})");
}

TEST_CASE("topic names") {
  CHECK_FALSE(topic_problem("hmc.os-message_1"));
  CHECK(topic_problem("") == std::optional<std::string>("the topic is empty"));
  CHECK(topic_problem("..") == std::optional<std::string>("'..' is not a topic name"));
  CHECK(topic_problem("hmc/partitions") ==
        std::optional<std::string>(
            "'hmc/partitions' holds a character a topic name cannot (only a-z A-Z 0-9 . _ -)"));
  CHECK(topic_problem(std::string(250, 'a')) ==
        std::optional<std::string>("the topic is 250 characters long (at most 249)"));
  CHECK_FALSE(topic_problem(std::string(249, 'a')));
}

TEST_CASE("errors: permanent ones reject, everything else retries") {
  CHECK(classify(RD_KAFKA_RESP_ERR_NO_ERROR) == Answer::ok);
  for (auto err : {RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
                   RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC,
                   RD_KAFKA_RESP_ERR_INVALID_RECORD, RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE})
    CHECK_MESSAGE(classify(err) == Answer::reject, rd_kafka_err2name(err));
  for (auto err : {RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                   RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR__TRANSPORT,
                   RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__PURGE_INFLIGHT,
                   RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT})
    CHECK_MESSAGE(classify(err) == Answer::retry, rd_kafka_err2name(err));
}
