// One problem with a plugin instance's options, as the 1.1 check_options entry reports it
// (plugin.h): where (an RFC 6901 JSON pointer into the options object, "" when no single option
// is at fault) and what, in words the user reads next to the pipeline file's line and column.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice {

struct OptionProblem {
  std::string pointer;  // e.g. "/tls/ca_file"
  std::string message;  // e.g. "tls.ca_file: cannot read /etc/x.pem: No such file or directory"

  bool operator==(const OptionProblem& o) const {
    return pointer == o.pointer && message == o.message;
  }
};

using OptionProblems = std::vector<OptionProblem>;

// The option a pointer names, as messages say it: "/tls/ca_file" -> "tls.ca_file".
inline std::string option_name(const std::string& pointer) {
  std::string name;
  for (size_t i = 0; i < pointer.size(); ++i) {
    if (pointer[i] == '/') {
      if (i > 0) name += '.';
    } else if (pointer[i] == '~' && i + 1 < pointer.size()) {
      name += pointer[++i] == '1' ? '/' : '~';
    } else {
      name += pointer[i];
    }
  }
  return name;
}

// One reference token of a pointer (RFC 6901): '~' as "~0", '/' as "~1". For the pointer to a key
// of a free-form mapping (a webhook's headers, kafka's properties): "/headers/" + pointer_token(k).
inline std::string pointer_token(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (char ch : key) {
    if (ch == '~')
      out += "~0";
    else if (ch == '/')
      out += "~1";
    else
      out += ch;
  }
  return out;
}

// Reads one option with read(), which throws a std::exception for a bad value: on failure
// records {pointer, "<option>: <what>"} and returns `fallback`. So the constructor and
// check_options can share one code path that collects every problem:
//   rate_ = sluice::read_option(problems, "/rate", [&] { return rate_option(o["rate"]); }, 10.0);
template <typename Read, typename T = std::decay_t<std::invoke_result_t<Read&>>>
T read_option(OptionProblems& problems, const std::string& pointer, Read&& read,
              std::common_type_t<T> fallback = T{}) {  // (not deduced: read() says what T is)
  try {
    return read();
  } catch (const std::exception& e) {
    problems.push_back({pointer, option_name(pointer) + ": " + e.what()});
    return fallback;
  }
}

// For constructors: throws std::invalid_argument with the first problem's message, if any.
inline void throw_first(const OptionProblems& problems) {
  if (!problems.empty()) throw std::invalid_argument(problems.front().message);
}

// The usual shape of the shared code path: a Settings type with
//   static Settings read(const nlohmann::json& options, OptionProblems& problems);
// check_options returns problems_of<Settings>(options), the constructor takes
// read_settings<Settings>(options), which throws the first problem's message.
template <typename Settings>
OptionProblems problems_of(const nlohmann::json& options) {
  OptionProblems problems;
  Settings::read(options, problems);
  return problems;
}
template <typename Settings>
Settings read_settings(const nlohmann::json& options) {
  OptionProblems problems;
  Settings settings = Settings::read(options, problems);
  throw_first(problems);
  return settings;
}

// The problems as the check_options entry answers them: [{"pointer": ..., "message": ...}].
inline std::string problems_to_json(const OptionProblems& problems) {
  nlohmann::json array = nlohmann::json::array();
  for (const auto& p : problems)
    array.push_back({{"pointer", p.pointer}, {"message", p.message}});
  return array.dump();
}

// The other way round (hosts, the test harness). Throws std::runtime_error for anything but an
// array of objects with a string "message" and, if present, a string "pointer" that is "" or
// starts with '/'.
inline OptionProblems problems_from_json(const std::string& text) {
  nlohmann::json array = nlohmann::json::parse(text, nullptr, false);
  if (!array.is_array())
    throw std::runtime_error("the problems are not a JSON array: " + text.substr(0, 200));
  OptionProblems problems;
  for (const auto& p : array) {
    const bool message_ok = p.is_object() && p.contains("message") && p["message"].is_string();
    const bool pointer_ok =
        !p.is_object() || !p.contains("pointer") ||
        (p["pointer"].is_string() && (p["pointer"].get<std::string>().empty() ||
                                      p["pointer"].get<std::string>().front() == '/'));
    if (!message_ok || !pointer_ok)
      throw std::runtime_error("a problem is not {\"pointer\": \"/...\", \"message\": \"...\"}: " +
                               p.dump().substr(0, 200));
    problems.push_back({p.value("pointer", std::string()), p["message"].get<std::string>()});
  }
  return problems;
}

}  // namespace sluice
