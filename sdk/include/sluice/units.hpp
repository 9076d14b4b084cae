// Durations ("250ms", "5s", "2m", "1h") and sizes ("512", "64KiB", "16MiB", "1GB") as people
// write them in pipeline files. Plain numbers are milliseconds and bytes.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace sluice {

namespace detail {
inline std::pair<double, std::string_view> split_number(std::string_view text, const char* what) {
  size_t i = 0;
  while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.'))
    ++i;
  if (i == 0)
    throw std::invalid_argument(std::string("not a ") + what + ": '" + std::string(text) + "'");
  double value;
  try {
    value = std::stod(std::string(text.substr(0, i)));
  } catch (const std::exception&) {  // "..", or more digits than a double holds
    throw std::invalid_argument(std::string("not a ") + what + ": '" + std::string(text) + "'");
  }
  std::string_view unit = text.substr(i);
  while (!unit.empty() && unit.front() == ' ')
    unit.remove_prefix(1);
  return {value, unit};
}
}  // namespace detail

// The longest duration accepted, about 31 years: in nanoseconds and added to a clock's now()
// it still fits int64_t (a larger one would overflow there, undefined behaviour).
inline constexpr int64_t kMaxDurationMs = 1000000000000;

inline std::chrono::milliseconds parse_duration(std::string_view text) {
  auto [value, unit] = detail::split_number(text, "duration");
  double ms;
  if (unit.empty() || unit == "ms")
    ms = value;
  else if (unit == "s")
    ms = value * 1000;
  else if (unit == "m" || unit == "min")
    ms = value * 60000;
  else if (unit == "h")
    ms = value * 3600000;
  else
    throw std::invalid_argument("unknown duration unit in '" + std::string(text) +
                                "' (ms, s, m, h)");
  if (!(ms <= static_cast<double>(kMaxDurationMs)))
    throw std::out_of_range("duration too large: '" + std::string(text) + "' (at most " +
                            std::to_string(kMaxDurationMs) + " ms, about 31 years)");
  return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

inline uint64_t parse_size(std::string_view text) {
  auto [value, unit] = detail::split_number(text, "size");
  double mult;
  if (unit.empty() || unit == "B")
    mult = 1;
  else if (unit == "KiB" || unit == "K")
    mult = 1024.0;
  else if (unit == "MiB" || unit == "M")
    mult = 1024.0 * 1024;
  else if (unit == "GiB" || unit == "G")
    mult = 1024.0 * 1024 * 1024;
  else if (unit == "KB" || unit == "kB")
    mult = 1e3;
  else if (unit == "MB")
    mult = 1e6;
  else if (unit == "GB")
    mult = 1e9;
  else
    throw std::invalid_argument("unknown size unit in '" + std::string(text) +
                                "' (B, KiB, MiB, GiB, KB, MB, GB)");
  if (!(value * mult < 1.8e19))  // converting a larger double to uint64_t is undefined behaviour
    throw std::out_of_range("size too large: '" + std::string(text) + "'");
  return static_cast<uint64_t>(value * mult);
}

// A JSON number as a count: a whole number from 0 to `max`. Negative numbers, fractions and
// numbers out of range are refused rather than converted, since converting a double out of
// range is undefined behaviour and a negative integer would wrap to a huge count.
inline uint64_t count_option(const nlohmann::json& v,
                             uint64_t max = std::numeric_limits<uint64_t>::max()) {
  if (!v.is_number()) throw std::invalid_argument("not a number: " + v.dump());
  uint64_t count;
  if (v.is_number_unsigned()) {
    count = v.get<uint64_t>();
  } else if (v.is_number_integer()) {
    if (v.get<int64_t>() < 0) throw std::out_of_range("must not be negative: " + v.dump());
    count = static_cast<uint64_t>(v.get<int64_t>());
  } else {
    const double d = v.get<double>();
    if (d < 0) throw std::out_of_range("must not be negative: " + v.dump());
    if (!(d < 1.8e19)) throw std::out_of_range("out of range: " + v.dump());  // NaN too
    if (d != static_cast<double>(static_cast<uint64_t>(d)))
      throw std::invalid_argument("not a whole number: " + v.dump());
    count = static_cast<uint64_t>(d);
  }
  if (count > max)
    throw std::out_of_range("too large: " + v.dump() + " (at most " + std::to_string(max) + ")");
  return count;
}

// Events per second: 0 (no pacing) or from kMinRate (one every 11.6 days) to kMaxRate. Outside
// that range the pacing intervals would not fit the clocks' integer ticks.
inline constexpr double kMinRate = 1e-6;
inline constexpr double kMaxRate = 1e9;
inline double rate_option(const nlohmann::json& v) {
  if (!v.is_number()) throw std::invalid_argument("not a number: " + v.dump());
  const double rate = v.get<double>();
  if (rate != 0 && !(rate >= kMinRate && rate <= kMaxRate))
    throw std::out_of_range("a rate is 0 (no pacing) or from 1e-06 to 1e+09 per second, not " +
                            v.dump());
  return rate;
}

// Option values that may be a number (ms / bytes) or a string with a unit.
inline std::chrono::milliseconds duration_option(const nlohmann::json& v) {
  if (v.is_number())
    return std::chrono::milliseconds(static_cast<int64_t>(count_option(v, kMaxDurationMs)));
  return parse_duration(v.get<std::string>());
}
inline uint64_t size_option(const nlohmann::json& v) {
  if (v.is_number()) return count_option(v);
  return parse_size(v.get<std::string>());
}

// JSON Schema fragments for such options, so every plugin describes them the same way.
inline constexpr const char* kDurationSchema =
    R"({"type":["integer","string"],"pattern":"^[0-9.]+ ?(ms|s|m|min|h)?$"})";
inline constexpr const char* kSizeSchema =
    R"({"type":["integer","string"],"pattern":"^[0-9.]+ ?(B|K|M|G|KiB|MiB|GiB|KB|kB|MB|GB)?$"})";

}  // namespace sluice
