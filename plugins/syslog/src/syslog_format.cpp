#include "syslog_format.hpp"

#include <sluice/event.hpp>
#include <sluice/event_template.hpp>
#include <sluice/format.hpp>

#include <fnmatch.h>

#include <cstdio>
#include <ctime>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace sluice::syslog {

namespace {

bool printusascii(unsigned char c) {
  return c >= 33 && c <= 126;
}

// Length of the well-formed UTF-8 sequence at s[i], or 0 when it is ill-formed (RFC 3629:
// no overlong forms, no surrogates, nothing above U+10FFFF).
size_t utf8_sequence(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(1) < lo || b(1) > hi) return 0;
  for (size_t k = 2; k < n; ++k)
    if (b(k) < 0x80 || b(k) > 0xBF) return 0;
  return n;
}

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr std::string_view kBom = "\xEF\xBB\xBF";

}  // namespace

std::string header_field(std::string_view value, size_t max) {
  std::string out;
  out.reserve(std::min(value.size(), max));
  for (size_t i = 0; i < value.size() && out.size() < max; ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    out.push_back(printusascii(c) ? static_cast<char>(c) : '_');
  }
  if (out.empty()) out = "-";
  return out;
}

std::optional<std::string> sd_name_problem(std::string_view name) {
  if (name.empty()) return std::string("is empty");
  if (name.size() > kSdNameMax)
    return "has " + std::to_string(name.size()) + " characters, at most " +
           std::to_string(kSdNameMax) + " are allowed (RFC 5424 SD-NAME)";
  for (size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (!printusascii(c) || c == '=' || c == ']' || c == '"') {
      char buf[160];
      std::snprintf(buf, sizeof buf,
                    "holds byte 0x%02X at offset %zu (RFC 5424 SD-NAME: printable ASCII "
                    "but = ] \" and space)",
                    c, i);
      return std::string(buf);
    }
  }
  return std::nullopt;
}

bool append_utf8(std::string& out, std::string_view text) {
  bool non_ascii = false;
  for (size_t i = 0; i < text.size();) {
    const size_t n = utf8_sequence(text, i);
    if (n == 0) {
      out.append(kReplacement);
      non_ascii = true;
      ++i;
      continue;
    }
    if (n > 1) non_ascii = true;
    out.append(text.data() + i, n);
    i += n;
  }
  return non_ascii;
}

void append_param_value(std::string& out, std::string_view value) {
  for (size_t i = 0; i < value.size();) {
    const char c = value[i];
    if (c == '"' || c == '\\' || c == ']') {
      out.push_back('\\');
      out.push_back(c);
      ++i;
      continue;
    }
    const size_t n = utf8_sequence(value, i);
    if (n == 0) {
      out.append(kReplacement);
      ++i;
    } else {
      out.append(value.data() + i, n);
      i += n;
    }
  }
}

int parse_severity(std::string_view name) {
  static const char* const names[] = {"emerg",   "alert",  "crit", "err",
                                      "warning", "notice", "info", "debug"};
  for (int i = 0; i < 8; ++i)
    if (name == names[i]) return i;
  if (name == "error") return 3;
  if (name == "warn") return 4;
  if (name.size() == 1 && name[0] >= '0' && name[0] <= '7') return name[0] - '0';
  throw std::invalid_argument("unknown severity '" + std::string(name) +
                              "' (emerg, alert, crit, err, warning, notice, info, debug or 0-7)");
}

int parse_facility(std::string_view name) {
  static const char* const names[] = {"kern", "user",  "mail",  "daemon", "auth",     "syslog",
                                      "lpr",  "news",  "uucp",  "cron",   "authpriv", "ftp",
                                      "ntp",  "audit", "alert", "clock"};
  for (int i = 0; i < 16; ++i)
    if (name == names[i]) return i;
  if (name.size() == 6 && name.substr(0, 5) == "local" && name[5] >= '0' && name[5] <= '7')
    return 16 + (name[5] - '0');
  if (!name.empty() && name.size() <= 2 && name.find_first_not_of("0123456789") == name.npos) {
    const int n = std::stoi(std::string(name));
    if (n <= 23) return n;
  }
  throw std::invalid_argument("unknown facility '" + std::string(name) +
                              "' (kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, "
                              "authpriv, ftp, ntp, audit, alert, clock, local0-local7 or 0-23)");
}

std::string data_text(const sluice_event& event) {
  EventRef e(event);
  if (!e.has_data()) return {};
  const std::string_view d = e.data();
  const size_t first = d.find_first_not_of(" \t\r\n");
  if (first != d.npos && d[first] == '"') {
    nlohmann::json j = nlohmann::json::parse(d, nullptr, false);
    if (j.is_string()) return j.get<std::string>();
  }
  if (first != d.npos && d.compare(first, 4, "null") == 0 &&
      d.find_first_not_of(" \t\r\n", first + 4) == d.npos)
    return {};
  return std::string(d);
}

std::string timestamp(int64_t time_unix_ns) {
  if (time_unix_ns == 0) return "-";
  int64_t secs = time_unix_ns / 1000000000;
  int64_t us = (time_unix_ns % 1000000000) / 1000;
  if (us < 0) {
    us += 1000000;
    secs -= 1;
  }
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(us));
  return buf;
}

std::string expand_template(std::string_view text, const sluice_event& event) {
  return sluice::expand_template(text, event, [&](std::string_view name, std::string& out) {
    if (name == "time")
      out += timestamp(EventRef(event).time_unix_ns());
    else if (name == "data")
      out += data_text(event);
    else
      return false;
    return true;
  });
}

std::optional<Formatted> format_message(const FormatOptions& o, const sluice_event& event,
                                        std::string* why) {
  EventRef e(event);
  int severity = o.default_severity, facility = o.default_facility;
  const std::string type(e.type());
  for (const auto& rule : o.levels)
    if (::fnmatch(rule.type_glob.c_str(), type.c_str(), 0) == 0) {
      severity = rule.severity;
      facility = rule.facility;
      break;
    }
  Formatted f;
  std::string& m = f.message;
  m.reserve(256 + e.data().size());
  m += '<';
  m += std::to_string(facility * 8 + severity);
  m += ">1 ";
  m += timestamp(e.time_unix_ns());
  m += ' ';
  m += header_field(o.hostname, kHostnameMax);
  m += ' ';
  m += header_field(o.app_name, kAppNameMax);
  m += ' ';
  m += header_field(o.procid, kProcIdMax);
  m += ' ';
  m += header_field(e.type(), kMsgIdMax);
  m += ' ';
  if (o.sd_id.empty()) {
    m += '-';
  } else {
    m += '[';
    m += o.sd_id;
    auto param = [&](const char* name, std::string_view value) {
      m += ' ';
      m += name;
      m += "=\"";
      append_param_value(m, value);
      m += '"';
    };
    param("id", e.id());
    param("source", e.source());
    if (e.has_subject()) param("subject", e.subject());
    if (o.sd_type) param("type", e.type());
    m += ']';
  }
  if (m.size() > o.max_message_bytes) {
    if (why)
      *why = "the header and structured data alone take " + std::to_string(m.size()) +
             " bytes, over max_message_bytes (" + std::to_string(o.max_message_bytes) + ")";
    return std::nullopt;
  }
  std::string body;
  if (o.body == Body::json) {
    append_json(body, event);  // JSON text: ASCII only, as format.hpp escapes it
  } else {
    const std::string text =
        o.text_template.empty() ? data_text(event) : expand_template(o.text_template, event);
    append_utf8(body, text);
  }
  if (body.empty()) return f;
  bool non_ascii = false;
  for (unsigned char c : body)
    if (c >= 0x80) {
      non_ascii = true;
      break;
    }
  const std::string_view bom = non_ascii && o.utf8_bom ? kBom : std::string_view();
  const size_t room = o.max_message_bytes - m.size();  // for SP BOM MSG
  if (1 + bom.size() + body.size() > room) {
    f.truncated = true;
    if (room <= 1 + bom.size()) return f;  // not even one byte of MSG fits: none at all
    size_t keep = room - 1 - bom.size();
    // Cut at a character boundary: never inside a UTF-8 sequence.
    while (keep > 0 && (static_cast<unsigned char>(body[keep]) & 0xC0) == 0x80)
      --keep;
    body.resize(keep);
    if (body.empty()) return f;
  }
  m += ' ';
  m += bom;
  m += body;
  return f;
}

size_t append_frame(std::string& out, std::string_view message, Framing framing) {
  if (framing == Framing::octet_counting) {
    out += std::to_string(message.size());
    out += ' ';
    out += message;
    return 0;
  }
  size_t replaced = 0;
  size_t from = 0;
  for (size_t lf = message.find('\n'); lf != message.npos; lf = message.find('\n', from)) {
    out.append(message.data() + from, lf - from);
    out += "#012";
    ++replaced;
    from = lf + 1;
  }
  out.append(message.data() + from, message.size() - from);
  out += '\n';
  return replaced;
}

}  // namespace sluice::syslog
