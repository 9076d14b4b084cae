// Two APIs the webhook sink's splunk-hec and elasticsearch-bulk bodies talk to, emulated for the
// test receiver (Receiver::respond_with). Written from the APIs' documents, not from the sink's
// code: nothing here uses bulk.hpp.
//
// HecEmulator: Splunk HTTP Event Collector, POST /services/collector/event. Token in
// "Authorization: Splunk <token>" (401 code 2 without one, 401 code 3 in another form, 403 code 4
// for an unknown token); a body of JSON event objects one after the other; 200
// {"text":"Success","code":0}. An event HEC cannot take stops the request: 400 with HEC's code
// (5 no data, 6 invalid data format, 7 incorrect index, 12 event field is required, 13 event
// field cannot be blank) and "invalid-event-number": its 0-based position; the events before it
// are indexed, that one and those after it are not. busy(n): the next n requests get 503
// {"text":"Server is busy","code":9}.
//
// BulkEmulator: Elasticsearch POST /_bulk. NDJSON (Content-Type application/x-ndjson, the body
// ends with a newline, else 400); each action a line, create and index followed by their
// document. The answer is 200 {"took":..,"errors":..,"items":[..]} with one item per action in
// order: 201 created; 409 version_conflict_engine_exception for a create whose _id exists; 400
// invalid_index_name_exception for a name ES refuses; 400 mapper_parsing_exception when a field
// first seen as a number gets a text that is no number (dynamic mapping, per index); or what
// fail() scripted for an _id.
#pragma once

#include "receiver.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace sluice::webhook::testing {

class HecEmulator {
 public:
  explicit HecEmulator(std::string token) : token_(std::move(token)) {}
  // Only these indexes may be named by an event (empty: any), as a token's allowed indexes.
  void allow_indexes(std::set<std::string> indexes);
  void busy(int requests);
  Answer operator()(const Recorded& request);
  // The events indexed, in order (each the whole HEC event object).
  std::vector<nlohmann::json> indexed() const;

 private:
  std::string token_;
  mutable std::mutex mutex_;
  std::set<std::string> allowed_;
  int busy_ = 0;
  std::vector<nlohmann::json> indexed_;
};

class BulkEmulator {
 public:
  // The next `times` creates of `id` (every one with times < 0) answer `status` with this error.
  void fail(const std::string& id, int status, const std::string& type, const std::string& reason,
            int times = 1);
  Answer operator()(const Recorded& request);
  // index -> _id -> document
  std::map<std::string, std::map<std::string, nlohmann::json>> documents() const;
  // How many create actions named this _id, over every request.
  int creates(const std::string& id) const;

 private:
  struct Failure {
    int status;
    std::string type, reason;
    int times;
  };
  nlohmann::json create(const std::string& index, const std::string& id, const nlohmann::json& doc);
  mutable std::mutex mutex_;
  std::map<std::string, Failure> failures_;
  std::map<std::string, std::map<std::string, nlohmann::json>> documents_;
  std::map<std::string, std::map<std::string, std::string>> mappings_;  // index -> path -> type
  std::map<std::string, int> creates_;
  int64_t seq_no_ = 0;
};

}  // namespace sluice::webhook::testing
