// The syslog sink's pure part: RFC 5424 messages built from events, every field escaped and
// limited as the RFC says, and the framings of RFC 6587 (octet counting, non-transparent).
// No network here: unit-tested on its own (tests/format_test.cpp).
#pragma once

#include <sluice/plugin.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::syslog {

// RFC 5424 6.2: header field limits (PRINTUSASCII, %d33-126).
inline constexpr size_t kHostnameMax = 255;
inline constexpr size_t kAppNameMax = 48;
inline constexpr size_t kProcIdMax = 128;
inline constexpr size_t kMsgIdMax = 32;
inline constexpr size_t kSdNameMax = 32;

// A header field as RFC 5424 allows it: bytes outside PRINTUSASCII (space, controls, anything
// >= 0x7F, including every byte of a UTF-8 sequence) become '_', the result is cut to `max`
// bytes, and an empty value becomes the NILVALUE "-".
std::string header_field(std::string_view value, size_t max);

// Why `name` cannot be an SD-NAME (1 to 32 PRINTUSASCII except '=', SP, ']', '"'), or nullopt.
std::optional<std::string> sd_name_problem(std::string_view name);

// Appends an SD-PARAM value: '"', '\' and ']' escaped with a backslash (RFC 5424 6.3.3), and
// ill-formed UTF-8 replaced by U+FFFD (PARAM-VALUE is UTF-8).
void append_param_value(std::string& out, std::string_view value);

// Appends `text` with every ill-formed UTF-8 sequence replaced by U+FFFD; returns whether
// anything in it is not ASCII.
bool append_utf8(std::string& out, std::string_view text);

// 0..7 from a name (emerg, alert, crit, err/error, warning/warn, notice, info, debug) or
// "0".."7"; throws std::invalid_argument listing the names.
int parse_severity(std::string_view name);
// 0..23 from a name (kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv,
// ftp, ntp, audit, alert, clock, local0..local7) or "0".."23"; throws std::invalid_argument.
int parse_facility(std::string_view name);

// One rule of the severity/facility map: the first whose glob matches the event type wins.
struct LevelRule {
  std::string type_glob;  // fnmatch(3) pattern: * ? [...]
  int severity = 5;
  int facility = 1;
};

// A {placeholder} template for text bodies: the SDK's (sluice/event_template.hpp: {id} {source}
// {type} {subject} {attr:NAME}) plus {time} (RFC 3339, UTC) and {data} (the data's text, see
// data_text). Other text, braces included, stays as it is.
std::string expand_template(std::string_view text, const sluice_event& event);

// The data as text: a JSON string's value (unescaped), null as "", anything else as its JSON.
std::string data_text(const sluice_event& event);

enum class Body { json, text };

struct FormatOptions {
  std::string hostname;  // already the machine's name when the option is absent
  std::string app_name = "sluice";
  std::string procid;                  // empty: NILVALUE
  std::string sd_id = "sluice@32473";  // empty: no structured data (NILVALUE)
  bool sd_type = false;                // also put the type in the structured data
  int default_severity = 5;            // notice
  int default_facility = 1;            // user
  std::vector<LevelRule> levels;
  Body body = Body::json;
  std::string text_template;        // body text: empty means the data's text
  size_t max_message_bytes = 8192;  // the whole SYSLOG-MSG, before framing
  bool utf8_bom = true;  // prefix a MSG that holds non-ASCII text with the BOM (RFC 5424 6.4)
};

// The RFC 5424 SYSLOG-MSG of one event. A message over max_message_bytes has its MSG cut (at a
// UTF-8 character boundary) so that the whole fits; `truncated` says so. Returns nullopt (and
// sets `why`) when even the header and structured data do not fit.
struct Formatted {
  std::string message;
  bool truncated = false;
};
std::optional<Formatted> format_message(const FormatOptions& o, const sluice_event& event,
                                        std::string* why = nullptr);

// The RFC 3339 TIMESTAMP of RFC 5424 (UTC, microseconds): 2026-12-01T19:00:00.123456Z.
// time_unix_ns == 0 is "unknown": the NILVALUE.
std::string timestamp(int64_t time_unix_ns);

enum class Framing { octet_counting, non_transparent };

// Appends one framed message (RFC 6587 3.4.1 "MSG-LEN SP SYSLOG-MSG", or 3.4.2 the message and
// a LF trailer). Non-transparent: each LF inside the message would end the frame early, so it
// is written as "#012" (rsyslog's escape for control characters on reception): an rsyslog
// receiver shows the same text as with octet counting. Returns how many LF were replaced.
size_t append_frame(std::string& out, std::string_view message, Framing framing);

}  // namespace sluice::syslog
