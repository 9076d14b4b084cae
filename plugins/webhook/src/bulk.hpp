// The two bodies whose response answers each event: `splunk-hec` (Splunk HTTP Event Collector,
// /services/collector/event) and `elasticsearch-bulk` (the _bulk API). The body builders and the
// readers of the answers, without a network, so that they are unit-tested and fuzzed on their own.
#pragma once

#include "webhook_util.hpp"

#include <sluice/plugin.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::webhook {

// ---- Splunk HEC ----------------------------------------------------------------------------

// The metadata of each HEC event, as templates (expand_template): a template that expands to
// an empty text leaves its field out, and HEC then uses the token's default.
struct HecFields {
  std::string host = "{subject}";
  std::string source = "{source}";
  std::string sourcetype = "sluice:{type}";
  std::string index;  // none: the token's default index
};

// Event time as HEC wants it: epoch seconds with a fraction of milliseconds ("1763701432.123").
std::string epoch_seconds(int64_t time_unix_ns);

// One HEC event object, without separator:
// {"time":<epoch seconds>,"host":..,"source":..,"sourcetype":..,"index":..,"event":<CloudEvent>}.
void append_hec_event(std::string& out, const sluice_event& event, const HecFields& fields);

// What a HEC response means for the `count` events of the request, given what the status alone
// means (`whole`, from classify_response). A 400 whose body says {"invalid-event-number": k}
// (0-based) answers each event: HEC indexed the events before k, refused event k and stopped,
// so 0..k-1 are ok, k is rejected with HEC's text and code, k+1.. are retried. Any other answer
// stays a whole-request answer, its reason naming HEC's code and text when the body has them.
// A status in `status_map` keeps the map's whole-request answer.
Outcome read_hec_answer(const Outcome& whole, std::string_view body, size_t count,
                        const std::map<int, Action>& status_map);

// ---- Elasticsearch _bulk -------------------------------------------------------------------

// Why an index template's own text cannot make an index name (upper case, a character an index
// name cannot hold, a leading '-', '_' or '+', a '%' other than %Y %m %d %H), or
// nullopt when it can.
std::optional<std::string> index_template_problem(std::string_view tpl);

struct IndexName {
  std::string name;
  std::string problem;  // not empty: no valid name (the event is refused, never sent)
};
// Expands {type} {source} {subject} {id} {attr:NAME} and %Y %m %d %H (UTC, from the event time)
// in `tpl`. Text the event puts in is lower-cased, and every byte other than a-z 0-9 . _ - +
// becomes '_'. A name that still is no valid index name (empty, "." or "..", leading '-' '_' or
// '+', over 255 bytes) comes back with a problem.
IndexName expand_index(std::string_view tpl, const sluice_event& event);

// Elasticsearch refuses a document _id over 512 bytes.
constexpr size_t kMaxDocumentId = 512;

// One bulk `create` action and its document, both lines with their '\n':
// {"create":{"_index":"<index>","_id":"<id>"}}
// {"@timestamp":"<event time, RFC 3339>",<the CloudEvent's members>}
void append_bulk_create(std::string& out, std::string_view index, std::string_view id,
                        const sluice_event& event);

// What a _bulk response means for the documents of the request, whose _ids are `ids` in request
// order, given what the status alone means (`whole`). A non-2xx status answers the whole
// request as the status says. A 2xx answers each document from its item: status_map first, then
// 2xx ok, 409 ok (a `create` whose _id exists: delivered before), 408 / 429 / 5xx retry, other
// statuses reject with the item's error type and reason. A response that cannot be read item by
// item (not JSON, no `items` array, a count other than ids.size(), an item without a status or
// for another _id) is a whole-request retry whose reason says why: sending the request again is
// safe, because a create of a document that arrived answers 409.
Outcome read_bulk_answer(const Outcome& whole, std::string_view body,
                         const std::vector<std::string>& ids,
                         const std::map<int, Action>& status_map);

}  // namespace sluice::webhook
