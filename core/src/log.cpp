#include <sluice/core/log.hpp>

#include <sluice/core/redact.hpp>
#include <sluice/format.hpp>

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace sluice::core {

std::optional<LogLevel> parse_log_level(std::string_view name) {
  if (name == "trace") return LogLevel::trace;
  if (name == "debug") return LogLevel::debug;
  if (name == "info") return LogLevel::info;
  if (name == "warn" || name == "warning") return LogLevel::warn;
  if (name == "error") return LogLevel::error;
  return std::nullopt;
}

std::optional<LogFormat> parse_log_format(std::string_view name) {
  if (name == "text") return LogFormat::text;
  if (name == "json") return LogFormat::json;
  return std::nullopt;
}

const char* to_string(LogLevel level) {
  switch (level) {
    case LogLevel::trace:
      return "trace";
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warn:
      return "warn";
    case LogLevel::error:
      return "error";
  }
  return "?";
}

namespace {

// 2026-11-21T05:10:55.123Z
std::string utc_now() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm parts{};
  gmtime_r(&ts.tv_sec, &parts);
  char buf[64];
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900,
           parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
           static_cast<int>(ts.tv_nsec / 1000000));
  return buf;
}

}  // namespace

Logger::Logger() {
  writer_ = [](std::string_view line) {
    fwrite(line.data(), 1, line.size(), stderr);
    fflush(stderr);
  };
}

void Logger::set_level(LogLevel level) {
  std::lock_guard lock(levels_mutex_);
  level_.store(static_cast<int>(level));
  int floor = static_cast<int>(level);
  for (const auto& [name, l] : components_)
    floor = std::min(floor, static_cast<int>(l));
  floor_.store(floor);
}

void Logger::set_component_levels(ComponentLevels levels) {
  {
    std::lock_guard lock(levels_mutex_);
    components_ = std::move(levels);
    has_components_.store(!components_.empty());
  }
  set_level(level());
}

LogLevel Logger::level_of(std::string_view component) const {
  std::lock_guard lock(levels_mutex_);
  if (auto it = components_.find(component); it != components_.end()) return it->second;
  return level();
}

void Logger::set_secrets(std::vector<std::string> secrets) {
  std::lock_guard lock(mutex_);
  secrets_ = std::move(secrets);
}

void Logger::set_writer(Writer writer) {
  std::lock_guard lock(mutex_);
  writer_ = std::move(writer);
}

std::string Logger::redact(std::string_view text) const {
  std::lock_guard lock(mutex_);
  return core::redact(text, secrets_);
}

void Logger::log(LogLevel level, std::string_view component, std::string_view message) {
  if (!enabled(level, component)) return;
  std::lock_guard lock(mutex_);
  // Redact before formatting: JSON escaping would otherwise hide a secret holding " or \.
  std::string clean_message, clean_component;
  if (!secrets_.empty()) {
    clean_message = core::redact(message, secrets_);
    clean_component = core::redact(component, secrets_);
    message = clean_message;
    component = clean_component;
  }
  std::string line;
  line.reserve(message.size() + component.size() + 64);
  if (static_cast<LogFormat>(format_.load()) == LogFormat::json) {
    line += "{\"time\":\"";
    line += utc_now();
    line += "\",\"level\":\"";
    line += to_string(level);
    line += "\",\"component\":";
    append_json_string(line, component);
    line += ",\"message\":";
    append_json_string(line, message);
    line += "}\n";
  } else {
    line += utc_now();
    line += ' ';
    line += to_string(level);
    // One record per line, whatever a peer's text holds (JSON escapes these itself).
    line += " [";
    line += escape_controls(component);
    line += "] ";
    line += escape_controls(message);
    line += '\n';
  }
  writer_(line);
}

Logger& default_logger() {
  static Logger logger;
  return logger;
}

bool RateLimit::allow(uint64_t* suppressed) {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  if (first_ || now - last_ >= interval_) {
    first_ = false;
    last_ = now;
    if (suppressed) *suppressed = suppressed_;
    suppressed_ = 0;
    return true;
  }
  ++suppressed_;
  return false;
}

}  // namespace sluice::core
