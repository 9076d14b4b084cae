// A Kafka cluster for tests and benchmarks: librdkafka's mock cluster (rdkafka_mock.h) with
// three brokers (ids 1, 2, 3) on loopback. Prints "bootstrap <host:port,...>" first, then reads
// one command per line on stdin and answers each with lines ending in "ok" or "error <why>":
//
//   create <topic> <partitions> <replication>   a topic (others are created on first use with
//                                               4 partitions)
//   down <broker> | up <broker>                 a broker's outage: its connections close and
//                                               it accepts none until up
//   rtt <broker> <ms>                           a broker's round-trip time
//   errors <api-key> <count> <error>            the next <count> requests of that API (0 is
//                                               Produce) are answered <error>: a name such as
//                                               NOT_LEADER_FOR_PARTITION or MSG_SIZE_TOO_LARGE,
//                                               or its number
//   leader <topic> <partition> <broker>         the partition's leader moves
//   topic_error <topic> <error>                 metadata for the topic answers <error>
//   consume <topic> [seconds=30]                reads every partition from the start to its
//                                               end: one JSON line per record
//                                               {"partition","offset","key","id","headers",
//                                               "value"} (id: the ce_id header, else the
//                                               structured event's "id"), then "consumed <n>"
//   count <topic>                               "records <n>": the sum of the partitions' high
//                                               watermarks (cheap: for benchmarks)
//   quit                                        (or end of input)
//
// Usage: kafka_mock_cluster [brokers=3]; KAFKA_MOCK_DEBUG=1 adds the reader's librdkafka debug
// lines (fetch, broker, topic) on stderr.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

rd_kafka_resp_err_t parse_error(const std::string& text) {
  const struct rd_kafka_err_desc* descs = nullptr;
  size_t n = 0;
  rd_kafka_get_err_descs(&descs, &n);
  for (size_t i = 0; i < n; ++i)
    if (descs[i].name && text == descs[i].name) return descs[i].code;
  char* end = nullptr;
  const long code = std::strtol(text.c_str(), &end, 10);
  if (end && *end == '\0' && !text.empty()) return static_cast<rd_kafka_resp_err_t>(code);
  throw std::invalid_argument("unknown error '" + text + "'");
}

std::string text_of(const void* p, size_t n) {
  return p ? std::string(static_cast<const char*>(p), n) : std::string();
}

// Every record of `topic`, from the start of each partition to its end (bounded).
size_t consume(const std::string& bootstrap, const std::string& topic, int seconds) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "group.id", "sluice-test-reader", err, sizeof err);
  rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err);
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
  if (getenv("KAFKA_MOCK_DEBUG"))
    rd_kafka_conf_set(conf, "debug", "fetch,broker,topic", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) throw std::runtime_error(std::string("consumer: ") + err);
  rd_kafka_poll_set_consumer(rk);
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
  rd_kafka_topic_destroy(rkt);
  if (e || md->topic_cnt != 1 || md->topics[0].err) {
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    throw std::runtime_error("no metadata for " + topic + ": " +
                             rd_kafka_err2str(e    ? e
                                              : md ? md->topics[0].err
                                                   : e));
  }
  const int partitions = md->topics[0].partition_cnt;
  rd_kafka_metadata_destroy(md);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p)
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  std::vector<bool> at_end(partitions, false);
  int ended = 0;
  size_t count = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (ended < partitions && std::chrono::steady_clock::now() < until) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 200);
    if (!m) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (!at_end[m->partition]) {
        at_end[m->partition] = true;
        ++ended;
      }
    } else if (m->err) {
      std::cerr << "mock cluster consumer: " << rd_kafka_message_errstr(m) << "\n";
    } else {
      nlohmann::json line;
      line["partition"] = m->partition;
      line["offset"] = m->offset;
      line["key"] = m->key ? nlohmann::json(text_of(m->key, m->key_len)) : nlohmann::json();
      line["value"] = m->payload ? nlohmann::json(text_of(m->payload, m->len)) : nlohmann::json();
      nlohmann::json headers = nlohmann::json::object();
      rd_kafka_headers_t* hdrs = nullptr;
      if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name;
        const void* value;
        size_t size;
        for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == 0; ++i)
          headers[name] = text_of(value, size);
      }
      line["headers"] = headers;
      if (headers.contains("ce_id")) {
        line["id"] = headers["ce_id"];
      } else if (m->payload) {
        auto v = nlohmann::json::parse(text_of(m->payload, m->len), nullptr, false);
        if (v.is_object() && v.contains("id")) line["id"] = v["id"];
      }
      std::cout << line.dump() << "\n";
      ++count;
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  if (ended < partitions)
    throw std::runtime_error("only " + std::to_string(ended) + " of " + std::to_string(partitions) +
                             " partitions read to their end in " + std::to_string(seconds) + " s");
  return count;
}

// The records in `topic`: the sum of its partitions' high watermarks.
int64_t count(rd_kafka_t* rk, const std::string& topic) {
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
  rd_kafka_topic_destroy(rkt);
  if (e) throw std::runtime_error(std::string("metadata: ") + rd_kafka_err2str(e));
  const int partitions = md->topic_cnt == 1 ? md->topics[0].partition_cnt : 0;
  rd_kafka_metadata_destroy(md);
  int64_t total = 0;
  for (int p = 0; p < partitions; ++p) {
    int64_t low = 0, high = 0;
    e = rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &low, &high, 10000);
    if (e) throw std::runtime_error(std::string("watermarks: ") + rd_kafka_err2str(e));
    total += high;
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  const int brokers = argc > 1 ? std::atoi(argv[1]) : 3;
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The handle only hosts the cluster's thread; it talks to nobody (and need not say so).
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    std::cerr << "rd_kafka_new: " << err << "\n";
    return 1;
  }
  rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(rk, brokers);
  if (!mc) {
    std::cerr << "rd_kafka_mock_cluster_new failed\n";
    rd_kafka_destroy(rk);
    return 1;
  }
  const std::string bootstrap = rd_kafka_mock_cluster_bootstraps(mc);
  rd_kafka_t* reader = nullptr;  // for `count`, made on first use
  std::cout << "bootstrap " << bootstrap << std::endl;
  for (std::string line; std::getline(std::cin, line);) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    if (cmd.empty()) continue;
    if (cmd == "quit") break;
    try {
      rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
      if (cmd == "create") {
        std::string topic;
        int parts = 0, rf = 0;
        in >> topic >> parts >> rf;
        e = rd_kafka_mock_topic_create(mc, topic.c_str(), parts, rf);
      } else if (cmd == "down" || cmd == "up") {
        int32_t id = 0;
        in >> id;
        e = cmd == "down" ? rd_kafka_mock_broker_set_down(mc, id)
                          : rd_kafka_mock_broker_set_up(mc, id);
      } else if (cmd == "rtt") {
        int32_t id = 0;
        int ms = 0;
        in >> id >> ms;
        e = rd_kafka_mock_broker_set_rtt(mc, id, ms);
      } else if (cmd == "errors") {
        int api = 0;
        size_t count = 0;
        std::string name;
        in >> api >> count >> name;
        std::vector<rd_kafka_resp_err_t> errs(count, parse_error(name));
        rd_kafka_mock_push_request_errors_array(mc, static_cast<int16_t>(api), count, errs.data());
      } else if (cmd == "leader") {
        std::string topic;
        int32_t partition = 0, id = 0;
        in >> topic >> partition >> id;
        e = rd_kafka_mock_partition_set_leader(mc, topic.c_str(), partition, id);
      } else if (cmd == "topic_error") {
        std::string topic, name;
        in >> topic >> name;
        rd_kafka_mock_topic_set_error(mc, topic.c_str(), parse_error(name));
      } else if (cmd == "count") {
        std::string topic;
        in >> topic;
        if (!reader) {
          rd_kafka_conf_t* rc = rd_kafka_conf_new();
          rd_kafka_conf_set(rc, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
          reader = rd_kafka_new(RD_KAFKA_PRODUCER, rc, err, sizeof err);
          if (!reader) throw std::runtime_error(std::string("reader: ") + err);
        }
        std::cout << "records " << count(reader, topic) << "\n";
      } else if (cmd == "consume") {
        std::string topic;
        int seconds = 30;
        in >> topic >> seconds;
        const size_t n = consume(bootstrap, topic, seconds);
        std::cout << "consumed " << n << "\n";
      } else {
        throw std::invalid_argument("unknown command '" + cmd + "'");
      }
      if (e) throw std::runtime_error(rd_kafka_err2str(e));
      std::cout << "ok" << std::endl;
    } catch (const std::exception& x) {
      std::cout << "error " << x.what() << std::endl;
    }
  }
  if (reader) rd_kafka_destroy(reader);
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return 0;
}
