// Pieces of the Kafka sink that need no broker: the CloudEvents Kafka protocol binding (what
// headers, key and value one event becomes), topic name checks, and what a librdkafka error
// means for an event. Kept apart so that they are unit-tested on their own.
#pragma once

#include <sluice/plugin.h>

#include <librdkafka/rdkafka.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::kafka {

// CloudEvents Kafka protocol binding 1.0: binary mode puts the context attributes into ce_*
// headers and the data into the value; structured mode puts the whole event, as
// application/cloudevents+json, into the value.
enum class Mode { binary, structured };

// One Kafka record as the sink hands it to librdkafka.
struct Record {
  std::string topic;
  std::optional<std::string> key;  // nullopt: no key (librdkafka's partitioner spreads them)
  std::vector<std::pair<std::string, std::string>> headers;  // in this order
  std::optional<std::string> value;                          // nullopt: a null value
};

// The record of `event`. topic_template and key_template are expanded with the event's fields
// ({type}, {source}, {subject}, {id}); a key that expands to "" means no key.
Record make_record(const sluice_event& event, Mode mode, std::string_view topic_template,
                   std::string_view key_template);

// Why `topic` cannot be a Kafka topic name (1 to 249 of [a-zA-Z0-9._-], not "." or ".."), or
// nullopt when it can.
std::optional<std::string> topic_problem(std::string_view topic);

// What an error of librdkafka (from produce() or a delivery report) means for the event: retry
// (the broker or the network may get better: timeouts, leaders moving, brokers down, queues
// full, purged at stop) or reject (sending the same record again gets the same answer: too
// large, not authorised, no such topic, invalid record).
enum class Answer { ok, retry, reject };
Answer classify(rd_kafka_resp_err_t err);

}  // namespace sluice::kafka
