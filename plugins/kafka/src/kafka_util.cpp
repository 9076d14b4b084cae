#include "kafka_util.hpp"

#include <sluice/event.hpp>
#include <sluice/event_template.hpp>
#include <sluice/format.hpp>

namespace sluice::kafka {

Record make_record(const sluice_event& event, Mode mode, std::string_view topic_template,
                   std::string_view key_template) {
  EventRef e(event);
  Record r;
  r.topic = expand_template(topic_template, event);
  std::string key = expand_template(key_template, event);
  if (!key.empty()) r.key = std::move(key);
  if (mode == Mode::structured) {
    r.headers.emplace_back("content-type", "application/cloudevents+json; charset=UTF-8");
    std::string value;
    value.reserve(256 + e.data().size());
    append_cloudevent(value, event);
    r.value = std::move(value);
    return r;
  }
  r.headers.reserve(7 + e.attribute_count());
  r.headers.emplace_back("ce_specversion", "1.0");
  r.headers.emplace_back("ce_id", std::string(e.id()));
  r.headers.emplace_back("ce_source", std::string(e.source()));
  r.headers.emplace_back("ce_type", std::string(e.type()));
  if (e.has_subject()) r.headers.emplace_back("ce_subject", std::string(e.subject()));
  r.headers.emplace_back("ce_time", rfc3339(e.time_unix_ns()));
  for (size_t i = 0; i < e.attribute_count(); ++i)
    r.headers.emplace_back("ce_" + cloudevents_extension_name(e.attribute_key(i)),
                           std::string(e.attribute_value(i)));
  if (e.has_data()) {
    r.headers.emplace_back("content-type", "application/json");
    r.value = std::string(e.data());
  }
  return r;
}

std::optional<std::string> topic_problem(std::string_view topic) {
  if (topic.empty()) return "the topic is empty";
  if (topic.size() > 249)
    return "the topic is " + std::to_string(topic.size()) + " characters long (at most 249)";
  // (Literal answers: concatenating the topic here trips a false GCC 12 -Wrestrict warning.)
  if (topic == ".") return std::string("'.' is not a topic name");
  if (topic == "..") return std::string("'..' is not a topic name");
  for (char c : topic) {
    const bool fine = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
    if (!fine) {
      std::string shown;
      for (char x : topic.substr(0, 100))
        shown.push_back(static_cast<unsigned char>(x) < 0x20 ? '?' : x);
      return "'" + shown + "' holds a character a topic name cannot (only a-z A-Z 0-9 . _ -)";
    }
  }
  return std::nullopt;
}

Answer classify(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
      return Answer::ok;
    // The record itself, or what it is sent to, is refused: sending it again changes nothing.
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:  // an invalid topic name
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
    // librdkafka's own: the topic does not exist (the cluster said so, auto-create is off), no
    // such partition, a bad argument.
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
      return Answer::reject;
    default:
      // Timed out, broker down, leader moved, not enough replicas, queue full, purged at stop,
      // and whatever is not known to be permanent: the host retries (its retry limit ends it).
      return Answer::retry;
  }
}

}  // namespace sluice::kafka
