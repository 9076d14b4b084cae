// Serialisations every sink can use: human text, JSON lines, CloudEvents 1.0 structured JSON and
// the CloudEvents JSON batch format. They write straight into a std::string because they sit on
// the hot path of every sink; event data is JSON text already validated by the host.
#pragma once

#include <sluice/event.hpp>
#include <sluice/json_check.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sluice {

enum class Format { text, json, cloudevents, cloudevents_batch };

inline Format parse_format(std::string_view name) {
  if (name == "text") return Format::text;
  if (name == "json") return Format::json;
  if (name == "cloudevents") return Format::cloudevents;
  if (name == "cloudevents-batch") return Format::cloudevents_batch;
  throw std::invalid_argument("unknown format '" + std::string(name) +
                              "' (text, json, cloudevents, cloudevents-batch)");
}

namespace detail {
// Length of the prefix of `s` that a JSON string literal holds as it is: printable ASCII but '"'
// and '\'. Sixteen bytes at a time where SSE2 is there (the signed compare against 0x20 catches
// control characters and every byte >= 0x80 at once).
inline size_t json_plain_prefix(std::string_view s) {
  size_t i = 0;
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'),
                space = _mm_set1_epi8(0x20);
  for (; i + 16 <= s.size(); i += 16) {
    const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i));
    const unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(block, quote), _mm_cmpeq_epi8(block, backslash)),
                     _mm_cmplt_epi8(block, space))));
    if (mask) return i + static_cast<size_t>(__builtin_ctz(mask));
  }
#endif
  for (; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') return i;
  }
  return s.size();
}
}  // namespace detail

// A JSON string literal. Text from the wire is not always valid UTF-8: an ill-formed sequence
// becomes U+FFFD, so that the output is always valid JSON whatever the input.
inline void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  size_t i = detail::json_plain_prefix(s);
  if (i == s.size()) {  // nothing to escape (ids, types, most attributes): one resize, one copy
    const size_t at = out.size();
    out.resize(at + s.size() + 2);
    char* d = out.data() + at;
    d[0] = '"';
    if (!s.empty()) __builtin_memcpy(d + 1, s.data(), s.size());
    d[s.size() + 1] = '"';
    return;
  }
  out.push_back('"');
  out.append(s.data(), i);
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 0xf]);
      }
      ++i;
    } else if (const size_t len = utf8_sequence_length(s, i)) {
      // A multi-byte sequence: copied when well-formed UTF-8, else one replacement character.
      out.append(s.data() + i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
    const size_t run = detail::json_plain_prefix(s.substr(i));  // bytes that need no escaping
    out.append(s.data() + i, run);
    i += run;
  }
  out.push_back('"');
}

// RFC 3339 in UTC with millisecond precision, e.g. 2026-11-21T05:03:52.123Z. The part up to the
// second is kept per thread: consecutive events mostly fall in the same second, and gmtime_r +
// snprintf cost more than the rest of a JSON line.
inline void append_rfc3339(std::string& out, int64_t time_unix_ns) {
  int64_t secs = time_unix_ns / 1000000000;
  int64_t ms = (time_unix_ns % 1000000000) / 1000000;
  if (ms < 0) {
    ms += 1000;
    secs -= 1;
  }
  struct Second {
    int64_t secs = 0;
    bool valid = false;
    size_t size = 0;
    char text[40];
  };
  thread_local Second second;
  if (!second.valid || second.secs != secs) {
    std::time_t t = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    const int n = std::snprintf(second.text, sizeof second.text, "%04d-%02d-%02dT%02d:%02d:%02d.",
                                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                                tm.tm_sec);
    second.size = n < 0 ? 0 : std::min(static_cast<size_t>(n), sizeof second.text - 1);
    second.secs = secs;
    second.valid = true;
  }
  const char tail[4] = {static_cast<char>('0' + ms / 100), static_cast<char>('0' + ms / 10 % 10),
                        static_cast<char>('0' + ms % 10), 'Z'};
  out.append(second.text, second.size);
  out.append(tail, sizeof tail);
}

inline std::string rfc3339(int64_t time_unix_ns) {
  std::string s;
  append_rfc3339(s, time_unix_ns);
  return s;
}

// CloudEvents attribute names are lower-case ASCII letters and digits only. STOMP headers such
// as `notification-type` become `notificationtype`; names that would collide with a context
// attribute of the spec get the prefix `x`.
inline std::string cloudevents_extension_name(std::string_view key) {
  std::string name;
  for (char c : key) {
    if (c >= 'A' && c <= 'Z')
      name.push_back(static_cast<char>(c - 'A' + 'a'));
    else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
      name.push_back(c);
  }
  static const char* const reserved[] = {
      "id",   "source",      "specversion",     "type",      "subject", "time",
      "data", "data_base64", "datacontenttype", "dataschema"};
  bool collides = name.empty();
  for (const char* r : reserved)
    collides = collides || name == r;
  if (!collides) return name;
  // Built by appending: `"x" + name` trips a false GCC 12 -Wrestrict warning once inlined.
  std::string prefixed;
  prefixed.reserve(name.size() + 1);
  prefixed.push_back('x');
  prefixed += name;
  return prefixed;
}

// One line, for people: time type subject source data.
inline void append_text_line(std::string& out, const sluice_event& ev) {
  EventRef e(ev);
  append_rfc3339(out, e.time_unix_ns());
  out.push_back(' ');
  out.append(e.type());
  out.push_back(' ');
  out.append(e.has_subject() ? e.subject() : std::string_view("-"));
  out.push_back(' ');
  out.append(e.source());
  if (e.has_data()) {
    out.push_back(' ');
    for (char c : e.data())
      out.push_back(c == '\n' || c == '\r' ? ' ' : c);
  }
  out.push_back('\n');
}

namespace detail {
// "id":..,"source":..,"type":..,["subject":..,]"time":"..": the fields both JSON forms share.
inline void append_context_fields(std::string& out, const EventRef& e) {
  out += "\"id\":";
  append_json_string(out, e.id());
  out += ",\"source\":";
  append_json_string(out, e.source());
  out += ",\"type\":";
  append_json_string(out, e.type());
  if (e.has_subject()) {
    out += ",\"subject\":";
    append_json_string(out, e.subject());
  }
  out += ",\"time\":\"";
  append_rfc3339(out, e.time_unix_ns());
  out.push_back('"');
}
}  // namespace detail

// sluice's own JSON form: attributes keep their original names. Without the newline.
inline void append_json(std::string& out, const sluice_event& ev) {
  EventRef e(ev);
  out.push_back('{');
  detail::append_context_fields(out, e);
  out += ",\"attributes\":{";
  for (size_t i = 0; i < e.attribute_count(); ++i) {
    if (i) out.push_back(',');
    append_json_string(out, e.attribute_key(i));
    out.push_back(':');
    append_json_string(out, e.attribute_value(i));
  }
  out += "},\"data\":";
  if (e.has_data())
    out.append(e.data());
  else
    out += "null";
  out.push_back('}');
}

// CloudEvents 1.0 structured-mode JSON object. Without the newline.
inline void append_cloudevent(std::string& out, const sluice_event& ev) {
  EventRef e(ev);
  out += "{\"specversion\":\"1.0\",";
  detail::append_context_fields(out, e);
  for (size_t i = 0; i < e.attribute_count(); ++i) {
    out.push_back(',');
    append_json_string(out, cloudevents_extension_name(e.attribute_key(i)));
    out.push_back(':');
    append_json_string(out, e.attribute_value(i));
  }
  if (e.has_data()) {
    out += ",\"datacontenttype\":\"application/json\",\"data\":";
    out.append(e.data());
  }
  out.push_back('}');
}

// CloudEvents JSON batch format: a JSON array of structured events.
inline void append_cloudevents_batch(std::string& out, const sluice_event* events, size_t count) {
  out.push_back('[');
  for (size_t i = 0; i < count; ++i) {
    if (i) out.push_back(',');
    append_cloudevent(out, events[i]);
  }
  out.push_back(']');
}

// A whole batch in one format: one line per event, except cloudevents-batch (one array + \n).
inline void append_batch(std::string& out, Format format, const sluice_event* events,
                         size_t count) {
  switch (format) {
    case Format::text:
      for (size_t i = 0; i < count; ++i)
        append_text_line(out, events[i]);
      break;
    case Format::json:
      for (size_t i = 0; i < count; ++i) {
        append_json(out, events[i]);
        out.push_back('\n');
      }
      break;
    case Format::cloudevents:
      for (size_t i = 0; i < count; ++i) {
        append_cloudevent(out, events[i]);
        out.push_back('\n');
      }
      break;
    case Format::cloudevents_batch:
      append_cloudevents_batch(out, events, count);
      out.push_back('\n');
      break;
  }
}

}  // namespace sluice
