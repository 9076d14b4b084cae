// The pipeline file, parsed and checked: what `sluice validate` reports on and `sluice run` runs.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <sluice/backoff.hpp>
#include <sluice/option_problem.hpp>

namespace sluice::core {

// A place in the pipeline file. line and column are 1-based; 0 means unknown.
struct Mark {
  std::string file;
  int line = 0;
  int column = 0;
};

struct Diagnostic {
  enum class Severity { error, warning } severity = Severity::error;
  Mark mark;
  std::string message;  // never contains a secret value

  // "file:line:column: error: message"
  std::string to_string() const;
};

enum class QueuePolicy { block, drop_newest, drop_oldest, spool };

struct QueueConfig {
  uint64_t max_events = 10000;
  uint64_t max_bytes = 64ull << 20;
  QueuePolicy policy = QueuePolicy::block;
};

struct BatchConfig {
  uint64_t max_events = 500;
  uint64_t max_bytes = 1ull << 20;
  std::chrono::milliseconds max_delay{50};  // wait at most this long to fill a batch
};

struct RetryConfig {
  BackoffPolicy backoff{std::chrono::milliseconds(100), std::chrono::milliseconds(30000), 2.0,
                        BackoffPolicy::Jitter::full};
  uint32_t max_attempts = 0;                 // 0: no limit
  std::chrono::milliseconds max_elapsed{0};  // 0: no limit
};

// The disk spool's own settings (`spool:` block; docs/delivery.md "Disk spool").
enum class SpoolFsync { never, batch, interval };
enum class SpoolOverflow { drop_newest, drop_oldest, block };

struct SpoolConfig {
  std::string directory;  // empty: <state_dir>/spool/<sink>
  uint64_t max_bytes = 1ull << 30;
  SpoolFsync fsync = SpoolFsync::interval;
  std::chrono::milliseconds fsync_interval{1000};  // for SpoolFsync::interval
  uint64_t segment_bytes = 0;                      // 0: min(16 MiB, max_bytes / 8)
  SpoolOverflow overflow = SpoolOverflow::drop_newest;
};

struct DeadLetterConfig {
  std::string path;  // empty: no dead-letter file (rejected batches are dropped, counted)
};

struct SourceConfig {
  std::string name;
  std::string plugin;
  nlohmann::json options =
      nlohmann::json::object();  // validated, defaults filled, secrets resolved
  Mark mark;
};

struct SinkConfig {
  std::string name;
  std::string plugin;
  nlohmann::json options = nlohmann::json::object();
  QueueConfig queue;
  BatchConfig batch;
  RetryConfig retry;
  SpoolConfig spool;
  DeadLetterConfig dead_letter;
  Mark mark;
};

// A route's filter (core/filter.hpp, docs/pipeline.md "Filters"). `spec` is the `filter:`
// mapping as written (null: none); when it is null, the glob lists below make the filter
// (`{type: [...], subject: [...], attributes: {...}}`), as programs building a pipeline set them.
// The loader fills both: the lists with what the top level of the mapping says in the plain form
// (globs or lists of globs), for display.
struct FilterConfig {
  nlohmann::json spec;
  // Glob patterns (`*`, `?`, `[...]`); a list matches if any pattern matches.
  std::vector<std::string> types;
  std::vector<std::string> subjects;
  std::map<std::string, std::vector<std::string>> attributes;  // every key must match
  bool empty() const {
    return (spec.is_null() || spec.empty()) && types.empty() && subjects.empty() &&
           attributes.empty();
  }
  // The filter mapping in effect: spec, or one made of the lists.
  nlohmann::json effective() const;
};

struct RouteConfig {
  std::string name;
  std::vector<std::string> from;  // source names
  FilterConfig filter;
  std::vector<std::string> to;  // sink names
  Mark mark;
};

struct LogConfig {
  std::string level = "info";   // trace, debug, info, warn, error
  std::string format = "text";  // text, json
  // log.components: a level per component: "core", a source or sink name, or a plugin name
  // (every instance of that plugin without a level of its own).
  std::map<std::string, std::string> components;
};

// `metrics: {interval: 30s}`: a one-line summary of the counters every interval (0: never).
struct MetricsConfig {
  std::chrono::milliseconds interval{0};
};

// `admin: {listen: 127.0.0.1:9464}`: the admin HTTP server (metrics, health, reload); off when
// the block is absent. A non-loopback address needs allow_remote and a token (docs/pipeline.md).
struct AdminConfig {
  bool enabled = false;
  std::string host;  // an IP address: "127.0.0.1", "::1" (written [::1]:PORT)
  uint16_t port = 0;
  bool allow_remote = false;
  std::string token;  // a secret: requests carry `Authorization: Bearer <token>`; "" for none
};

struct PipelineConfig {
  std::string path;
  std::vector<std::string>
      plugin_paths;  // plugins.path, relative entries resolved against the file
  LogConfig log;
  std::chrono::milliseconds drain_timeout{5000};  // shutdown.drain_timeout
  MetricsConfig metrics;
  AdminConfig admin;
  std::string state_dir;  // for spools; default: next to the pipeline file
  std::vector<SourceConfig> sources;
  std::vector<SinkConfig> sinks;
  std::vector<RouteConfig> routes;
  std::vector<std::string> secrets;  // resolved secret values, for redaction everywhere
};

// What the loader needs to know of a plugin to check a pipeline against it.
struct PluginSchemaInfo {
  std::string name;
  bool is_sink = false;
  std::string options_schema;  // JSON Schema text from the plugin's descriptor
  std::string file;            // where it was found
  // The plugin's own options check (ABI 1.1 check_options); empty when it has none (a 1.0
  // plugin, or a NULL entry). Takes the options as create() gets them (JSON text: validated,
  // defaults filled in, secrets substituted) and returns the problems (none: fine); throws
  // std::runtime_error with the plugin's text when the check itself failed.
  std::function<OptionProblems(const std::string& options_json)> check_options;
};

// Finds a plugin by name along the search path (the default places, then plugin_paths).
// Returns nullopt with *error set when it cannot be found or loaded.
using PluginSchemaLookup = std::function<std::optional<PluginSchemaInfo>(
    const std::string& plugin_name, const std::vector<std::string>& plugin_paths,
    std::string* error)>;

struct LoadResult {
  std::optional<PipelineConfig> pipeline;  // set when there is no error (warnings allowed)
  std::vector<Diagnostic> diagnostics;     // every error and warning found, in file order
  bool ok() const { return pipeline.has_value(); }
};

// log.components resolved to the names the log speaks with: "core" and instance names (an
// instance named in it wins over its plugin's name). Names the loader refused are left out.
std::map<std::string, std::string, std::less<>> component_log_levels(const PipelineConfig& pc);

// Reads, substitutes secrets in, and checks a pipeline file; never throws for bad input.
LoadResult load_pipeline(const std::string& path, const PluginSchemaLookup& lookup);

}  // namespace sluice::core
