#include "events.hpp"

#include <charconv>
#include <cstring>

// SSE2 string and whitespace skipping; only the fast path below (InsituStringStream over a
// padded copy) reaches the SIMD code.
#if defined(__SSE2__) && !defined(RAPIDJSON_SSE2)
#define RAPIDJSON_SSE2
#endif
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <nlohmann/json.hpp>

namespace hmc {

namespace {

std::optional<int64_t> to_int(const std::string* s) {
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

}  // namespace

namespace {

// True when every byte is in 0x01..0x7f: valid UTF-8 without a NUL.
bool plain_ascii(std::string_view s) {
  constexpr uint64_t kHigh = 0x8080808080808080ull, kOnes = 0x0101010101010101ull;
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if ((w & kHigh) || ((w - kOnes) & ~w & kHigh)) return false;  // a high bit, or a zero byte
  }
  for (; i < s.size(); ++i)
    if (static_cast<unsigned char>(s[i]) - 1u >= 0x7fu) return false;
  return true;
}

// json_error's fast path for plain ASCII text (nothing to validate as UTF-8): an in-place parse
// of a NUL-terminated, padded copy, whose strings are skipped 16 bytes at a time. True: valid.
bool valid_ascii_json(std::string_view text) {
  thread_local std::string tls_buf;
  std::string& buf = tls_buf;
  buf.assign(text.data(), text.size());
  buf.append(32, '\0');  // the end, and padding that keeps the aligned 16-byte loads inside
  rapidjson::InsituStringStream in(buf.data());
  rapidjson::Reader reader;
  rapidjson::BaseReaderHandler<> ignore;
  constexpr unsigned kFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseInsituFlag |
                              rapidjson::kParseStopWhenDoneFlag;
  if (reader.Parse<kFlags>(in, ignore).IsError()) return false;
  for (size_t i = in.Tell(); i < text.size(); ++i)
    if (text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r') return false;
  return true;
}

}  // namespace

std::optional<std::string> json_error(std::string_view text) {
  // Same verdict as below for such text; invalid text takes the full path for its message.
  if (plain_ascii(text) && valid_ascii_json(text)) return std::nullopt;
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
  return std::nullopt;
}

std::string source_uri(const std::string& host) {
  if (host.find(':') != std::string::npos && host.front() != '[') return "hmc://[" + host + "]";
  return "hmc://" + host;
}

std::optional<SequenceTracker::Gap> SequenceTracker::observe(const std::string& subscription,
                                                             uint64_t nr) {
  auto [it, fresh] = next_.try_emplace(subscription, nr + 1);
  if (fresh) return std::nullopt;
  uint64_t expected = it->second;
  it->second = nr + 1;
  if (nr > expected) return Gap{expected, nr};
  return std::nullopt;
}

void map_message(stomp::Frame&& frame, const std::string& source, bool split_lists,
                 SequenceTracker& seq, std::vector<sluice::Event>& out, MapStats& stats) {
  const std::string* message_id = frame.header("message-id");
  const std::string id = message_id ? *message_id : std::string();
  const std::string* subscription = frame.header("subscription");
  const std::string* destination = frame.header("destination");

  if (auto nr = to_int(frame.header("session-sequence-nr")); nr && *nr >= 0) {
    const std::string key = subscription ? *subscription : destination ? *destination : "";
    if (auto gap = seq.observe(key, static_cast<uint64_t>(*nr))) {
      sluice::Event g;
      g.id = id + "#gap";
      g.source = source;
      g.type = "sluice.gap";
      if (destination) g.subject = *destination;
      if (destination) g.attribute("destination", *destination);
      if (subscription) g.attribute("subscription", *subscription);
      const uint64_t missed = gap->received - gap->expected;
      g.data = nlohmann::json{
          {"expected", gap->expected},
          {"received", gap->received},
          {"missed",
           missed}}.dump();
      ++stats.gaps;
      stats.missed += missed;
      out.push_back(std::move(g));
    }
  }

  sluice::Event e;
  e.id = id;
  e.source = source;
  const std::string* type = frame.header("notification-type");
  if (type && !type->empty()) {
    e.type = "hmc." + *type;
  } else {
    e.type = "hmc.unknown";
    ++stats.unknown_type;
  }
  if (const std::string* s = frame.header("element-uri"); s && !s->empty())
    e.subject = *s;
  else if (const std::string* o = frame.header("object-uri"); o && !o->empty())
    e.subject = *o;
  if (auto ts = to_int(frame.header("timestamp")); ts && *ts > 0) e.time_unix_ns = *ts * 1000000;
  e.attributes.reserve(frame.headers.size());
  for (auto& [k, v] : frame.headers)
    if (!e.find_attribute(k)) e.attributes.emplace_back(std::move(k), std::move(v));

  if (null_body(frame.body)) {
    out.push_back(std::move(e));
    return;
  }

  // Without split_lists only validity matters, and accept() builds no document.
  if (!split_lists) {
    if (!json_error(frame.body)) {
      e.data = std::move(frame.body);
      out.push_back(std::move(e));
      return;
    }
  } else {
    nlohmann::json doc = nlohmann::json::parse(frame.body, nullptr, false);
    if (!doc.is_discarded()) {
      if (doc.is_object()) {
        for (const char* key : kListKeys) {
          auto it = doc.find(key);
          if (it == doc.end() || !it->is_array() || it->empty()) continue;
          size_t n = 0;
          for (const auto& entry : *it) {
            sluice::Event part = e;
            part.id = id + "#" + std::to_string(n++);
            part.data = entry.dump();
            out.push_back(std::move(part));
          }
          return;
        }
      }
      e.data = frame.body;
      out.push_back(std::move(e));
      return;
    }
  }

  // Not JSON: say so, with the raw text, and go on.
  std::string why = json_error(frame.body).value_or("not JSON");
  ++stats.parse_errors;
  e.type = "sluice.parse-error";
  e.data = nlohmann::json{{"error", why}, {"raw", frame.body}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
  out.push_back(std::move(e));
}

sluice::Event error_event(const stomp::Frame& frame, const std::string& source, uint64_t n,
                          const std::optional<std::string>& destination) {
  sluice::Event e;
  e.id = "error-" + std::to_string(n);
  e.source = source;
  e.type = "sluice.error";
  if (destination) e.subject = *destination;
  for (const auto& [k, v] : frame.headers)
    if (!e.find_attribute(k)) e.attributes.emplace_back(k, v);
  const std::string* message = frame.header("message");
  nlohmann::json data = {{"message", message ? *message : std::string()},
                         {"destination", destination ? nlohmann::json(*destination) : nullptr},
                         {"body", frame.body}};
  e.data = data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return e;
}

sluice::Event reconnected_event(const std::string& source, uint64_t n, const std::string& reason) {
  sluice::Event e;
  e.id = "reconnected-" + std::to_string(n);
  e.source = source;
  e.type = "sluice.reconnected";
  e.data = nlohmann::json{{"reconnects", n}, {"reason", reason}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
  return e;
}

}  // namespace hmc
