#include "events.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>

#include <sluice/json_check.hpp>

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <nlohmann/json.hpp>

namespace sluice::hmc {

namespace {

std::optional<int64_t> to_int(std::optional<std::string_view> s) {
  if (!s || s->empty()) return std::nullopt;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
  if (ec != std::errc() || p != s->data() + s->size()) return std::nullopt;
  return v;
}

bool blank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// An empty body, or the JSON empty string, is null data (job-completion, inventory-change).
bool null_body(std::string_view body) {
  if (blank(body)) return true;
  size_t a = body.find_first_not_of(" \t\r\n"), b = body.find_last_not_of(" \t\r\n");
  return body.substr(a, b - a + 1) == "\"\"";
}

const char* const kListKeys[] = {"os-messages", "log-entries", "change-reports"};

// split_lists copies the frame's headers into the event of every entry. A list whose split would
// copy more header bytes than this is delivered whole, as one event: otherwise one frame within
// max_frame_bytes (say 5 million tiny entries and 10 KB of headers) would multiply into
// gigabytes of events.
constexpr size_t kMaxSplitHeaderBytes = 64u << 20;

size_t header_bytes(const stomp::FrameView& frame) {
  size_t n = 0;
  for (const auto& [k, v] : frame.headers)
    n += k.size() + v.size() + 16;  // 16: an attribute's own bookkeeping, roughly
  return n;
}

}  // namespace

std::optional<std::string> json_error(std::string_view text) {
  if (sluice::json_valid(text)) return std::nullopt;
  // Invalid: RapidJSON says why and where.
  rapidjson::MemoryStream ms(text.data(), text.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> in(ms);
  rapidjson::Reader reader;
  rapidjson::BaseReaderHandler<> ignore;
  constexpr unsigned kFlags = rapidjson::kParseIterativeFlag |
                              rapidjson::kParseValidateEncodingFlag |
                              rapidjson::kParseStopWhenDoneFlag;
  rapidjson::ParseResult r = reader.Parse<kFlags>(in, ignore);
  if (r.IsError())
    return std::string(rapidjson::GetParseError_En(r.Code())) + " (at byte " +
           std::to_string(r.Offset()) + ")";
  // Only whitespace may follow the value.
  for (size_t i = in.Tell(); i < text.size(); ++i)
    if (text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r')
      return "more than one JSON value (at byte " + std::to_string(i) + ")";
  // What RapidJSON lets pass and sluice::json_valid does not.
  return std::string("an unpaired UTF-16 surrogate escape or a number too large for a double");
}

std::string source_uri(const std::string& host) {
  if (host.find(':') != std::string::npos && host.front() != '[') return "hmc://[" + host + "]";
  return "hmc://" + host;
}

std::optional<SequenceTracker::Gap> SequenceTracker::observe(std::string_view stream, uint64_t nr) {
  auto it = std::find_if(next_.begin(), next_.end(),
                         [stream](const Entry& entry) { return entry.stream == stream; });
  if (it == next_.end()) {
    next_.push_back(Entry{std::string(stream), nr + 1});
    return std::nullopt;
  }
  const uint64_t expected = it->next;
  const int64_t from = it->from_unix_ns, to = it->to_unix_ns;
  it->next = nr + 1;
  it->from_unix_ns = it->to_unix_ns = 0;
  if (nr > expected) return Gap{expected, nr, false, from, to};
  if (from != 0 && nr < expected) return Gap{expected, nr, true, from, to};
  return std::nullopt;
}

void SequenceTracker::outage(int64_t from_unix_ns, int64_t to_unix_ns) {
  for (auto& entry : next_) {
    // Two outages without a notification in between: one window from the first loss.
    if (entry.from_unix_ns == 0) entry.from_unix_ns = from_unix_ns;
    entry.to_unix_ns = to_unix_ns;
  }
}

void SequenceTracker::forget(std::string_view stream) {
  next_.erase(std::remove_if(next_.begin(), next_.end(),
                             [stream](const Entry& entry) { return entry.stream == stream; }),
              next_.end());
}

void Secrets::add(const std::string& value) {
  // Short values would garble unrelated text; a session id or credential is never that short.
  if (value.size() < 4 || std::find(values_.begin(), values_.end(), value) != values_.end()) return;
  // Old sessions' values stay secret (a late error may still name one), within a bound: the
  // oldest goes first, never the newest (the session in use).
  if (added_.size() >= 8) {
    values_.erase(std::find(values_.begin(), values_.end(), added_.front()));
    added_.erase(added_.begin());
  }
  added_.push_back(value);
  values_.push_back(value);
  std::stable_sort(values_.begin(), values_.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::string Secrets::scrub(std::string_view text) const {
  std::string out(text);
  for (const auto& v : values_)  // longest first: a value inside another is hidden with it
    for (size_t at = out.find(v); at != std::string::npos; at = out.find(v, at + 3))
      out.replace(at, v.size(), "***");
  return out;
}

namespace {

// The headers map_message reads, found in one pass (a repeated header: the first one wins).
struct MessageHeaders {
  std::optional<std::string_view> message_id, subscription, destination, type, element_uri,
      object_uri, sequence_nr, timestamp;

  explicit MessageHeaders(const stomp::FrameView& frame) {
    for (const auto& [k, v] : frame.headers) {
      // By length first: most headers are compared with one name, or none.
      std::optional<std::string_view>* slot = nullptr;
      switch (k.size()) {
        case 9:
          if (k == "timestamp") slot = &timestamp;
          break;
        case 10:
          slot = k == "message-id" ? &message_id : k == "object-uri" ? &object_uri : nullptr;
          break;
        case 11:
          slot = k == "destination" ? &destination : k == "element-uri" ? &element_uri : nullptr;
          break;
        case 12:
          if (k == "subscription") slot = &subscription;
          break;
        case 17:
          if (k == "notification-type") slot = &type;
          break;
        case 19:
          if (k == "session-sequence-nr") slot = &sequence_nr;
          break;
      }
      if (slot && !*slot) *slot = v;
    }
  }
};

// Everything of the notification event but its id and data: type, subject, time, attributes.
void begin_notification(const stomp::FrameView& frame, const MessageHeaders& h, std::string_view id,
                        std::string_view type, const std::string& source, std::string_view hmc,
                        const Inventory* inventory, sluice::PackedEvents& out) {
  out.begin(id, source, type);
  if (h.element_uri && !h.element_uri->empty())
    out.subject(*h.element_uri);
  else if (h.object_uri && !h.object_uri->empty())
    out.subject(*h.object_uri);
  // Milliseconds since 1970; past what nanoseconds in 64 bits hold (the year 2262), the
  // header is ignored and the host stamps the time of receipt.
  if (auto ts = to_int(h.timestamp); ts && *ts > 0 && *ts <= INT64_MAX / 1000000)
    out.time_unix_ns(*ts * 1000000);
  stomp::for_each_distinct_header(
      frame, [&out](std::string_view k, std::string_view v) { out.attribute(k, v); });
  if (!hmc.empty()) out.attribute("hmc", hmc);
  if (inventory)
    if (auto names = inventory->names_for(h.object_uri.value_or(std::string_view()),
                                          h.destination.value_or(std::string_view()))) {
      if (!names->cpc.empty()) out.attribute("cpc", names->cpc);
      if (!names->partition.empty()) out.attribute("partition", names->partition);
    }
}

}  // namespace

void map_message(const stomp::FrameView& frame, const std::string& source, bool split_lists,
                 SequenceTracker& seq, sluice::PackedEvents& out, MapStats& stats,
                 std::string_view hmc, const Inventory* inventory) {
  const MessageHeaders h(frame);
  const std::string_view id = h.message_id.value_or(std::string_view());
  // Reused across calls: building ids and types allocates nothing on the hot path.
  thread_local std::string scratch_type, scratch_id;

  if (auto nr = to_int(h.sequence_nr); nr && *nr >= 0) {
    // By destination: subscription ids are handed out afresh on every connection.
    const std::string_view key = h.destination    ? *h.destination
                                 : h.subscription ? *h.subscription
                                                  : std::string_view();
    if (auto gap = seq.observe(key, static_cast<uint64_t>(*nr))) {
      scratch_id.assign(id);
      scratch_id += "#gap";
      out.begin(scratch_id, source, sluice::event_types::gap);
      if (h.destination) out.subject(*h.destination);
      if (h.destination) out.attribute("destination", *h.destination);
      if (h.subscription) out.attribute("subscription", *h.subscription);
      sluice::framework_events::Gap g;
      g.expected = gap->expected;
      g.received = gap->received;
      if (!key.empty()) g.stream = std::string(key);
      g.from_unix_ns = gap->from_unix_ns;
      g.to_unix_ns = gap->to_unix_ns;
      if (gap->restarted) {
        g.reason =
            "session-sequence-nr started again during the outage: an unknown number of "
            "notifications was missed";
      } else {
        g.missed = gap->received - gap->expected;
        g.reason = gap->from_unix_ns ? "session-sequence-nr jumped across the outage"
                                     : "session-sequence-nr jumped";
        stats.missed += *g.missed;
      }
      ++stats.gaps;
      if (gap->restarted) ++stats.unknown_gaps;
      out.data(sluice::framework_events::gap_data(g));
    }
  }

  if (h.type && !h.type->empty()) {
    scratch_type.assign("hmc.");
    scratch_type += *h.type;
  } else {
    scratch_type.assign("hmc.unknown");
    ++stats.unknown_type;
  }

  // A UTF-8 byte order mark before the JSON is not part of it (RFC 8259 lets a reader ignore
  // one): the data is the JSON after it. A body that is not JSON keeps its mark in `raw`.
  std::string_view body = frame.body;
  if (body.substr(0, 3) == "\xEF\xBB\xBF") body.remove_prefix(3);

  if (null_body(body)) {
    begin_notification(frame, h, id, scratch_type, source, hmc, inventory, out);
    return;
  }

  // Without split_lists only validity matters, and json_error builds no document.
  if (!split_lists) {
    if (!json_error(body)) {
      begin_notification(frame, h, id, scratch_type, source, hmc, inventory, out);
      out.data(body);
      return;
    }
  } else {
    nlohmann::json doc = nlohmann::json::parse(body, nullptr, false);
    if (!doc.is_discarded()) {
      if (doc.is_object()) {
        for (const char* key : kListKeys) {
          auto it = doc.find(key);
          if (it == doc.end() || !it->is_array() || it->empty()) continue;
          if (it->size() > 1 && it->size() * header_bytes(frame) > kMaxSplitHeaderBytes) {
            ++stats.lists_not_split;
            break;  // delivered whole, below
          }
          size_t n = 0;
          for (const auto& entry : *it) {
            scratch_id.assign(id);
            scratch_id += '#';
            scratch_id += std::to_string(n++);
            begin_notification(frame, h, scratch_id, scratch_type, source, hmc, inventory, out);
            out.data(entry.dump());
          }
          return;
        }
      }
      begin_notification(frame, h, id, scratch_type, source, hmc, inventory, out);
      out.data(body);
      return;
    }
  }

  // Not JSON: say so, with the raw text, and go on.
  std::string why = json_error(body).value_or("not JSON");
  if (body.size() != frame.body.size()) why += " (after the UTF-8 byte order mark, 3 bytes)";
  ++stats.parse_errors;
  begin_notification(frame, h, id, sluice::event_types::parse_error, source, hmc, inventory, out);
  out.data(sluice::framework_events::parse_error_data(why, frame.body));
}

sluice::Event error_event(const stomp::FrameView& frame, const std::string& source, std::string id,
                          const std::optional<std::string>& destination, const Secrets& secrets) {
  sluice::framework_events::Error err;
  err.message = secrets.scrub(frame.header("message").value_or(std::string_view()));
  err.stream = destination;
  if (!frame.body.empty()) err.detail = secrets.scrub(frame.body);
  sluice::Event e = sluice::framework_events::error(std::move(id), source, err);
  stomp::for_each_distinct_header(frame, [&e, &secrets](std::string_view k, std::string_view v) {
    e.attribute(std::string(k), secrets.scrub(v));
  });
  return e;
}

}  // namespace sluice::hmc
