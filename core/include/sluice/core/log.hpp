// The process's log: one line per message on stderr, as text or JSON, every line redacted;
// control characters in text lines are escaped, so a message is always exactly one line.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::core {

enum class LogLevel { trace = 0, debug, info, warn, error };
enum class LogFormat { text, json };

std::optional<LogLevel> parse_log_level(std::string_view name);
std::optional<LogFormat> parse_log_format(std::string_view name);
const char* to_string(LogLevel level);

class Logger {
 public:
  // Where finished lines go; the default writes to stderr. Tests capture lines with it.
  using Writer = std::function<void(std::string_view line)>;

  Logger();

  void set_level(LogLevel level) { level_.store(static_cast<int>(level)); }
  LogLevel level() const { return static_cast<LogLevel>(level_.load()); }
  void set_format(LogFormat format) { format_.store(static_cast<int>(format)); }
  // These values are hidden (core::redact) in every line.
  void set_secrets(std::vector<std::string> secrets);
  // `text` with the same secrets hidden, for what the core writes elsewhere (dead-letter reasons).
  std::string redact(std::string_view text) const;
  void set_writer(Writer writer);

  bool enabled(LogLevel level) const { return static_cast<int>(level) >= level_.load(); }
  // component: who speaks ("core", a sink or source instance name, "cli").
  void log(LogLevel level, std::string_view component, std::string_view message);

  void trace(std::string_view c, std::string_view m) { log(LogLevel::trace, c, m); }
  void debug(std::string_view c, std::string_view m) { log(LogLevel::debug, c, m); }
  void info(std::string_view c, std::string_view m) { log(LogLevel::info, c, m); }
  void warn(std::string_view c, std::string_view m) { log(LogLevel::warn, c, m); }
  void error(std::string_view c, std::string_view m) { log(LogLevel::error, c, m); }

 private:
  std::atomic<int> level_{static_cast<int>(LogLevel::info)};
  std::atomic<int> format_{static_cast<int>(LogFormat::text)};
  mutable std::mutex mutex_;  // guards secrets_, writer_ and keeps lines whole
  std::vector<std::string> secrets_;
  Writer writer_;
};

// The process-wide logger the CLI configures; library code takes a Logger& instead.
Logger& default_logger();

// Lets a message through at most once per interval and counts what it held back, so a hot
// path can warn about every drop without flooding the log. Thread-safe.
class RateLimit {
 public:
  explicit RateLimit(std::chrono::milliseconds interval = std::chrono::seconds(1))
      : interval_(interval) {}
  // True when the caller should log now; *suppressed receives how many were held back since.
  bool allow(uint64_t* suppressed = nullptr);

 private:
  std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::chrono::steady_clock::time_point last_{};
  bool first_ = true;
  uint64_t suppressed_ = 0;
};

}  // namespace sluice::core
