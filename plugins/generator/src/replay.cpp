#include "replay.hpp"

#include <nlohmann/json.hpp>

namespace sluice::generator {

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

// Reads exactly n digits at text[pos].
bool digits(std::string_view text, size_t& pos, size_t n, int64_t& value) {
  if (pos + n > text.size()) return false;
  value = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = text[pos + i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  pos += n;
  return true;
}

bool expect(std::string_view text, size_t& pos, char c) {
  if (pos >= text.size() || text[pos] != c) return false;
  ++pos;
  return true;
}

}  // namespace

std::optional<int64_t> parse_rfc3339(std::string_view text) {
  size_t pos = 0;
  int64_t year, month, day, hour, minute, second;
  if (!digits(text, pos, 4, year) || !expect(text, pos, '-') || !digits(text, pos, 2, month) ||
      !expect(text, pos, '-') || !digits(text, pos, 2, day))
    return std::nullopt;
  if (pos >= text.size() || (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' '))
    return std::nullopt;
  ++pos;
  if (!digits(text, pos, 2, hour) || !expect(text, pos, ':') || !digits(text, pos, 2, minute) ||
      !expect(text, pos, ':') || !digits(text, pos, 2, second))
    return std::nullopt;
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1) return std::nullopt;
  if (day > kDays[month - 1] + (month == 2 && leap(year) ? 1 : 0)) return std::nullopt;
  if (hour > 23 || minute > 59 || second > 60) return std::nullopt;  // 60: a leap second
  int64_t nanos = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    size_t start = pos;
    int64_t scale = 100000000;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      nanos += (text[pos] - '0') * scale;  // digits past nanoseconds are dropped
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  int64_t offset_minutes = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    int64_t oh, om;
    if (!digits(text, pos, 2, oh) || !expect(text, pos, ':') || !digits(text, pos, 2, om) ||
        oh > 23 || om > 59)
      return std::nullopt;
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  int64_t seconds =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
      hour * 3600 + minute * 60 + second - offset_minutes * 60;
  // int64 nanoseconds reach 2262; years 0000-9999 as seconds do not overflow before scaling.
  if (seconds > INT64_MAX / 1000000000 - 1 || seconds < INT64_MIN / 1000000000 + 1)
    return std::nullopt;
  return seconds * 1000000000 + nanos;
}

bool parse_replay_line(std::string_view line, Event& out, std::string& error) {
  // ordered_json keeps the keys of `data` in their recorded order, so a replayed event
  // serialises to the very line it came from.
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    error = e.what();
    return false;
  }
  if (!j.is_object()) {
    error = "not a JSON object";
    return false;
  }
  auto required = [&](const char* key, std::string& into) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
      error = std::string("\"") + key + "\" is missing or not a non-empty string";
      return false;
    }
    into = it->get_ref<const std::string&>();
    return true;
  };
  if (!required("id", out.id) || !required("source", out.source) || !required("type", out.type))
    return false;

  out.subject.reset();
  if (auto it = j.find("subject"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) {
      error = "\"subject\" is not a string";
      return false;
    }
    out.subject = it->get_ref<const std::string&>();
  }

  out.time_unix_ns = 0;
  if (auto it = j.find("time"); it != j.end() && !it->is_null()) {
    if (it->is_string()) {
      auto t = parse_rfc3339(it->get_ref<const std::string&>());
      if (!t) {
        error = "\"time\" is not an RFC 3339 date-time: " + it->get<std::string>();
        return false;
      }
      out.time_unix_ns = *t;
    } else if (it->is_number_integer()) {
      out.time_unix_ns = it->get<int64_t>();  // nanoseconds since the epoch
    } else {
      error = "\"time\" is neither an RFC 3339 string nor integer nanoseconds";
      return false;
    }
  }

  out.attributes.clear();
  if (auto it = j.find("attributes"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) {
      error = "\"attributes\" is not an object";
      return false;
    }
    for (const auto& [key, value] : it->items()) {
      if (!value.is_string()) {
        error = "attribute \"" + key + "\" is not a string";
        return false;
      }
      out.attributes.emplace_back(key, value.get_ref<const std::string&>());
    }
  }

  out.data.reset();
  if (auto it = j.find("data"); it != j.end() && !it->is_null()) out.data = it->dump();
  return true;
}

}  // namespace sluice::generator
