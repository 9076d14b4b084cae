// Finds and loads plugins (sluice_<name>.so) with Boost.DLL and checks their descriptor before
// anything else touches it: API version, struct size, required functions, name.
#pragma once

#include <sluice/plugin.h>
#include <sluice/core/config.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace sluice::core {

// A plugin that could not be found or loaded; what() says which file and why.
class PluginError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A loaded library and its checked descriptor. Keep it alive while any instance exists.
class LoadedPlugin {
 public:
  virtual ~LoadedPlugin() = default;
  const sluice_plugin_descriptor& descriptor() const { return *descriptor_; }
  const std::string& name() const { return name_; }
  const std::string& file() const { return file_; }
  bool is_sink() const { return descriptor_->kind == SLUICE_KIND_SINK; }

 protected:
  const sluice_plugin_descriptor* descriptor_ = nullptr;
  std::string name_;
  std::string file_;
};

// The least descriptor struct_size the host accepts from a plugin built for each minor, index =
// minor (plugin.h: SLUICE_DESCRIPTOR_MIN_SIZE_1_<n>). A new minor appends its entry.
std::vector<uint32_t> descriptor_min_sizes();

// The plugin API version the host speaks. Tests pass another one (and another size table, to
// play a later host whose descriptor has grown) to check the compatibility rules both ways.
struct PluginApiVersion {
  uint16_t major = SLUICE_API_VERSION_MAJOR;
  uint16_t minor = SLUICE_API_VERSION_MINOR;
  std::vector<uint32_t> descriptor_min_size = descriptor_min_sizes();
};

class PluginHost {
 public:
  using ApiVersion = PluginApiVersion;

  // exe_dir: the directory of the running executable ("" to leave it out of the search path).
  // Tests pass another host API version to check the minor-version rule both ways.
  explicit PluginHost(std::string exe_dir = {}, PluginApiVersion api = PluginApiVersion());

  // The default places, in order: <exe_dir>, <exe_dir>/../lib/sluice/plugins, the install prefix.
  std::vector<std::string> default_paths() const;
  // default_paths() followed by extra (a pipeline's plugins.path, `--path` options).
  std::vector<std::string> search_path(const std::vector<std::string>& extra) const;

  // The first sluice_<name>.so along search_path(extra); throws PluginError when none is found.
  std::string find(const std::string& name, const std::vector<std::string>& extra) const;
  // Loads (once per file) and checks a plugin file; throws PluginError.
  std::shared_ptr<const LoadedPlugin> load_file(const std::string& file,
                                                std::optional<std::string> expect_name = {});
  std::shared_ptr<const LoadedPlugin> load(const std::string& name,
                                           const std::vector<std::string>& extra);

  // Plugins built into the executable (tests, benchmarks): found by name before any file.
  void add_builtin(const sluice_plugin_descriptor* descriptor);

  // Every sluice_*.so along the search path, first occurrence of a name wins; each is either
  // loaded or carries the error that refused it.
  struct Found {
    std::string file;
    std::shared_ptr<const LoadedPlugin> plugin;  // null when refused
    std::string error;
  };
  std::vector<Found> discover(const std::vector<std::string>& extra);

  // What core-config's loader uses to check options against a plugin's schema.
  PluginSchemaLookup schema_lookup();

  ApiVersion api() const { return api_; }

 private:
  std::string exe_dir_;
  ApiVersion api_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const LoadedPlugin>> loaded_;   // by canonical file
  std::map<std::string, std::shared_ptr<const LoadedPlugin>> builtin_;  // by name
};

// Checks a descriptor as the host would (exposed for tests); throws PluginError naming file.
void check_descriptor(const sluice_plugin_descriptor* d, const std::string& file,
                      const std::optional<std::string>& expect_name, PluginApiVersion api);

// What the host reads of a sink's answer (plugin.h): struct_size first, at least the 1.0
// minimum; fields added after 1.0 only where SLUICE_HAS_FIELD says the plugin wrote them.
// nullopt, with *why set, when the answer is missing or too short to read.
// 1.1: event_results and event_result_count are copied only where the plugin's struct_size
// covers them (else NULL and 0: `code` answers the batch); check_event_results checks them.
std::optional<sluice_delivery_result> read_delivery_result(const sluice_delivery_result* r,
                                                           std::string* why);

// Per-event answers (1.1) of a result read by read_delivery_result, for a batch of batch_count
// events: one answer per event, each of the frozen struct_size. "" when they can be used (or
// when there are none: event_results NULL), else why not; the host then dead-letters the batch.
std::string check_event_results(const sluice_delivery_result& r, size_t batch_count);

// Runs the plugin's check_options (ABI 1.1) on options as create() gets them: nullopt when the
// plugin has none (built for 1.0, or a NULL entry), else its problems (empty: the options are
// fine). Throws PluginError when the check failed (SLUICE_ERROR, with the plugin's text) or
// answered something the host cannot read.
std::optional<OptionProblems> check_options(const LoadedPlugin& plugin,
                                            const std::string& options_json);

// Events handed to emit() travel as an array of the frozen sluice_event: each must say
// struct_size == SLUICE_EVENT_SIZE, or the host cannot know where the next one starts.
// "" when they do, else why not (naming the first bad event).
std::string check_event_array(const sluice_event* events, size_t count);

// The directory holding the running executable (/proc/self/exe), or "" if unknown.
std::string executable_dir();

}  // namespace sluice::core
