// OptionCollector: typed reads of a plugin's options on top of sluice::read_option
// (option_problem.hpp), for plugins with many options. Each read records a value it cannot use
// as an OptionProblem at its JSON pointer, with the option's name first ("heartbeat.receive:
// must not be negative: -5"), and goes on, so one function reads the options for create() (which
// throws the first problem: sluice::throw_first) and for check_options (which returns them all).
#pragma once

#include <sluice/backoff.hpp>
#include <sluice/option_problem.hpp>
#include <sluice/units.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

namespace sluice {

class OptionCollector {
 public:
  explicit OptionCollector(OptionProblems& out) : out_(&out) {}

  // A problem the reads below cannot see (a rule across options, a file).
  void add(std::string pointer, std::string message) {
    out_->push_back({std::move(pointer), std::move(message)});
  }

  // parse(j[key]) for the option at `pointer` (whose last token is `key`); nothing when the key
  // is absent or parse threw (then "<option>: <what()>" is recorded). A JSON value of the wrong
  // type reads as "<option>: must be <what>": the host's schema rules that out, the test
  // harness does not.
  template <typename Parse>
  auto value(const nlohmann::json& j, const char* key, const std::string& pointer, const char* what,
             Parse parse) -> std::optional<decltype(parse(std::declval<const nlohmann::json&>()))> {
    using T = decltype(parse(std::declval<const nlohmann::json&>()));
    auto it = j.find(key);
    if (it == j.end()) return std::nullopt;
    return read_option(
        *out_, pointer,
        [&]() -> std::optional<T> {
          try {
            return parse(*it);
          } catch (const nlohmann::json::exception&) {
            throw std::invalid_argument(std::string("must be ") + what);
          }
        },
        std::nullopt);
  }

  // j[key] as T, or `dflt` when absent or of another type.
  template <typename T>
  T get(const nlohmann::json& j, const char* key, T dflt, const std::string& pointer,
        const char* what) {
    return value(j, key, pointer, what, [](const nlohmann::json& v) { return v.get<T>(); })
        .value_or(std::move(dflt));
  }

  // A duration (sluice::duration_option), a size (sluice::size_option), a count
  // (sluice::count_option, at most `max`).
  std::optional<std::chrono::milliseconds> duration(const nlohmann::json& j, const char* key,
                                                    const std::string& pointer) {
    return value(j, key, pointer, "a number or a string with a unit",
                 [](const nlohmann::json& v) { return duration_option(v); });
  }
  std::optional<uint64_t> size(const nlohmann::json& j, const char* key,
                               const std::string& pointer) {
    return value(j, key, pointer, "a number or a string with a unit",
                 [](const nlohmann::json& v) { return size_option(v); });
  }
  std::optional<uint64_t> count(const nlohmann::json& j, const char* key,
                                const std::string& pointer, uint64_t max = UINT64_MAX) {
    return value(j, key, pointer, "a whole number",
                 [max](const nlohmann::json& v) { return count_option(v, max); });
  }

  // A back-off object {initial, max, multiplier} (e.g. `reconnect`): `dflt` with what is given
  // read over it; max below initial is raised to initial.
  BackoffPolicy backoff(const nlohmann::json& j, const char* key, const std::string& pointer,
                        BackoffPolicy dflt) {
    auto it = j.find(key);
    if (it == j.end()) return dflt;
    if (!it->is_object()) {
      add(pointer, std::string(key) + ": must be an object with initial, max and multiplier");
      return dflt;
    }
    dflt.initial = duration(*it, "initial", pointer + "/initial").value_or(dflt.initial);
    dflt.max = duration(*it, "max", pointer + "/max").value_or(dflt.max);
    dflt.multiplier = get(*it, "multiplier", dflt.multiplier, pointer + "/multiplier", "a number");
    if (!(dflt.multiplier >= 1))
      add(pointer + "/multiplier", std::string(key) + ".multiplier: must be >= 1");
    if (dflt.max < dflt.initial) dflt.max = dflt.initial;
    return dflt;
  }

 private:
  OptionProblems* out_;
};

}  // namespace sluice
