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

// A JSON string literal. Text from the wire is not always valid UTF-8: an ill-formed sequence
// becomes U+FFFD, so that the output is always valid JSON whatever the input.
inline void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  size_t i = detail::json_plain_prefix(s);
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
    const size_t run = detail::json_plain_prefix(s.data() + i, s.size() - i);  // no escaping
    out.append(s.data() + i, run);
    i += run;
  }
  out.push_back('"');
}

namespace detail {
// RFC 3339 in UTC with millisecond precision, e.g. 2026-11-21T05:03:52.123Z, written at `out`
// (room for 43 bytes); returns its length. The part up to the second is kept per thread:
// consecutive events mostly fall in the same second, and gmtime_r + snprintf cost more than the
// rest of a JSON line.
inline size_t write_rfc3339(char* out, int64_t time_unix_ns) {
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
  __builtin_memcpy(out, second.text, second.size);
  out[second.size] = static_cast<char>('0' + ms / 100);
  out[second.size + 1] = static_cast<char>('0' + ms / 10 % 10);
  out[second.size + 2] = static_cast<char>('0' + ms % 10);
  out[second.size + 3] = 'Z';
  return second.size + 4;
}
}  // namespace detail

// RFC 3339 in UTC with millisecond precision, e.g. 2026-11-21T05:03:52.123Z.
inline void append_rfc3339(std::string& out, int64_t time_unix_ns) {
  char text[48];
  out.append(text, detail::write_rfc3339(text, time_unix_ns));
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

namespace detail {
// memcpy for the short pieces of a JSON line, inline: up to 16 bytes with two loads and two
// stores that may overlap, longer ones through memcpy.
inline void copy_piece(char* d, const char* s, size_t n) {
  if (n > 16) {
    __builtin_memcpy(d, s, n);
  } else if (n >= 8) {
    uint64_t a, b;
    __builtin_memcpy(&a, s, 8);
    __builtin_memcpy(&b, s + n - 8, 8);
    __builtin_memcpy(d, &a, 8);
    __builtin_memcpy(d + n - 8, &b, 8);
  } else if (n >= 4) {
    uint32_t a, b;
    __builtin_memcpy(&a, s, 4);
    __builtin_memcpy(&b, s + n - 4, 4);
    __builtin_memcpy(d, &a, 4);
    __builtin_memcpy(d + n - 4, &b, 4);
  } else {
    for (size_t i = 0; i < n; ++i)
      d[i] = s[i];
  }
}

// append_json for an event whose strings need no escaping (the usual case: ids, URIs, header
// values): the line's length is known in advance, so it is written with one resize and a copy
// per piece. Returns false, having written nothing, when a string needs escaping.
inline bool append_plain_json(std::string& out, const EventRef& e) {
  const size_t count = e.attribute_count();
  // The fixed text: {"id":"","source":"","type":"","subject":"","time":"<up to 43>",
  // "attributes":{},"data":null} (125 bytes) and per attribute ,"":"" (6).
  size_t size = 125 + 6 * count + e.id().size() + e.source().size() + e.type().size() +
                (e.has_data() ? e.data().size() : 0);
  auto plain = [](std::string_view s) { return json_plain_prefix(s) == s.size(); };
  if (!plain(e.id()) || !plain(e.source()) || !plain(e.type())) return false;
  if (e.has_subject()) {
    if (!plain(e.subject())) return false;
    size += e.subject().size();
  }
  for (size_t i = 0; i < count; ++i) {
    const std::string_view k = e.attribute_key(i), v = e.attribute_value(i);
    if (!plain(k) || !plain(v)) return false;
    size += k.size() + v.size();
  }
  const size_t at = out.size();
  out.resize(at + size);
  char* const begin = out.data() + at;
  char* d = begin;
  auto text = [&d](std::string_view s) {  // constant-size pieces compile to a few moves
    __builtin_memcpy(d, s.data(), s.size());
    d += s.size();
  };
  auto string = [&d](std::string_view s) {
    *d++ = '"';
    copy_piece(d, s.data(), s.size());
    d += s.size();
    *d++ = '"';
  };
  text("{\"id\":");
  string(e.id());
  text(",\"source\":");
  string(e.source());
  text(",\"type\":");
  string(e.type());
  if (e.has_subject()) {
    text(",\"subject\":");
    string(e.subject());
  }
  text(",\"time\":\"");
  d += write_rfc3339(d, e.time_unix_ns());
  text("\",\"attributes\":{");
  for (size_t i = 0; i < count; ++i) {
    if (i) *d++ = ',';
    string(e.attribute_key(i));
    *d++ = ':';
    string(e.attribute_value(i));
  }
  text("},\"data\":");
  text(e.has_data() ? e.data() : std::string_view("null"));
  *d++ = '}';
  out.resize(at + static_cast<size_t>(d - begin));
  return true;
}
}  // namespace detail

// sluice's own JSON form: attributes keep their original names. Without the newline.
inline void append_json(std::string& out, const sluice_event& ev) {
  EventRef e(ev);
  if (detail::append_plain_json(out, e)) return;
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
