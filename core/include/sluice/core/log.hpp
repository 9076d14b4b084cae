// The process's log: one line per message on stderr, as text or JSON, every line redacted;
// control characters in text lines are escaped, so a message is always exactly one line.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
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

  // The level of every component without a level of its own.
  void set_level(LogLevel level);
  LogLevel level() const { return static_cast<LogLevel>(level_.load()); }
  // Levels of single components (the pipeline's log.components, resolved to "core" and
  // instance names); replaces the previous ones. The others keep level().
  using ComponentLevels = std::map<std::string, LogLevel, std::less<>>;
  void set_component_levels(ComponentLevels levels);
  void set_format(LogFormat format) { format_.store(static_cast<int>(format)); }
  // These values are hidden (core::redact) in every line.
  void set_secrets(std::vector<std::string> secrets);
  // `text` with the same secrets hidden, for what the core writes elsewhere (dead-letter reasons).
  std::string redact(std::string_view text) const;
  void set_writer(Writer writer);

  // Would a message of `level` from `component` be written? Check it before building a message
  // that costs something: below every configured level it is one atomic load.
  bool enabled(LogLevel level, std::string_view component) const {
    if (static_cast<int>(level) < floor_.load(std::memory_order_relaxed)) return false;
    if (!has_components_.load(std::memory_order_relaxed))
      return static_cast<int>(level) >= level_.load(std::memory_order_relaxed);
    return static_cast<int>(level) >= static_cast<int>(level_of(component));
  }
  // The level that applies to `component`.
  LogLevel level_of(std::string_view component) const;
  // component: who speaks ("core", a sink or source instance name, "cli").
  void log(LogLevel level, std::string_view component, std::string_view message);

  void trace(std::string_view c, std::string_view m) { log(LogLevel::trace, c, m); }
  void debug(std::string_view c, std::string_view m) { log(LogLevel::debug, c, m); }
  void info(std::string_view c, std::string_view m) { log(LogLevel::info, c, m); }
  void warn(std::string_view c, std::string_view m) { log(LogLevel::warn, c, m); }
  void error(std::string_view c, std::string_view m) { log(LogLevel::error, c, m); }

 private:
  std::atomic<int> level_{static_cast<int>(LogLevel::info)};
  std::atomic<int> floor_{static_cast<int>(LogLevel::info)};  // min of level_ and components_
  std::atomic<bool> has_components_{false};
  std::atomic<int> format_{static_cast<int>(LogFormat::text)};
  mutable std::mutex levels_mutex_;  // guards components_
  ComponentLevels components_;
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
