#include <sluice/core/plugin_host.hpp>
#include <sluice/trusted_path.hpp>

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <boost/filesystem.hpp>

#include <nlohmann/json.hpp>

#include <dlfcn.h>

#include <algorithm>
#include <cstddef>
#include <exception>
#include <thread>

namespace fs = boost::filesystem;

namespace sluice::core {

namespace {

constexpr const char* kPrefix = "sluice_";
constexpr const char* kSuffix = ".so";

// sluice_<name>.so -> name; nullopt for other files.
std::optional<std::string> plugin_name_of(const std::string& filename) {
  std::string_view f(filename);
  if (f.size() <= 7 + 3 || f.substr(0, 7) != kPrefix || f.substr(f.size() - 3) != kSuffix)
    return std::nullopt;
  return std::string(f.substr(7, f.size() - 10));
}

bool valid_name(const char* name) {
  if (!name || !*name) return false;
  for (const char* p = name; *p; ++p)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) return false;
  return true;
}

// Boost.DLL wraps dlerror() as "...load() failed (dlerror system message: TEXT): errno text";
// the user needs TEXT only.
std::string loader_message(const std::string& what) {
  const std::string marker = "dlerror system message: ";
  size_t begin = what.find(marker);
  size_t end = what.rfind("): ");
  if (begin == std::string::npos || end == std::string::npos || end < begin) return what;
  begin += marker.size();
  return what.substr(begin, end - begin);
}

std::string version_text(unsigned major, unsigned minor) {
  return std::to_string(major) + "." + std::to_string(minor);
}

class DllPlugin : public LoadedPlugin {
 public:
  DllPlugin(boost::dll::shared_library lib, const sluice_plugin_descriptor* d, std::string file)
      : lib_(std::move(lib)) {
    descriptor_ = d;
    name_ = d->name;
    file_ = std::move(file);
  }

 private:
  boost::dll::shared_library lib_;  // unloaded last, after the descriptor is no longer used
};

class BuiltinPlugin : public LoadedPlugin {
 public:
  explicit BuiltinPlugin(const sluice_plugin_descriptor* d) {
    descriptor_ = d;
    name_ = d->name;
    file_ = std::string("<built-in ") + d->name + ">";
  }
};

// Arrays of these are stepped by sizeof on both sides: they must keep their 1.0 layout.
static_assert(sizeof(sluice_event) == SLUICE_EVENT_SIZE, "sluice_event is frozen (plugin.h)");
static_assert(sizeof(sluice_event_result) == SLUICE_EVENT_RESULT_SIZE,
              "sluice_event_result is frozen (plugin.h)");
static_assert(sizeof(sluice_attribute) == SLUICE_ATTRIBUTE_SIZE,
              "sluice_attribute is frozen (plugin.h)");

}  // namespace

std::vector<uint32_t> descriptor_min_sizes() {
  return {SLUICE_DESCRIPTOR_MIN_SIZE_1_0, SLUICE_DESCRIPTOR_MIN_SIZE_1_1};
}

void check_descriptor(const sluice_plugin_descriptor* d, const std::string& file,
                      const std::optional<std::string>& expect_name, PluginHost::ApiVersion api) {
  auto fail = [&](const std::string& why) { throw PluginError("plugin " + file + " " + why); };
  if (!d) fail("returned no descriptor (its entry point returned NULL)");
  // Nothing but the version may be read before the version is known to be compatible.
  constexpr size_t version_end =
      offsetof(sluice_plugin_descriptor, api_minor) + sizeof(d->api_minor);
  if (d->struct_size < version_end)
    fail("has a descriptor of " + std::to_string(d->struct_size) +
         " bytes, too small to hold its API version");
  if (d->api_major != api.major || d->api_minor > api.minor)
    fail("was built for sluice plugin API " + version_text(d->api_major, d->api_minor) +
         "; this sluice speaks " + version_text(api.major, api.minor));
  // The minimum for the plugin's own minor, not the host's sizeof: a plugin built for an older
  // minor has a shorter descriptor, and the host reads what came later only through
  // SLUICE_HAS_FIELD. (A host minor beyond the table only exists in tests.)
  const auto& sizes = api.descriptor_min_size;
  const size_t need = sizes.empty() ? SLUICE_DESCRIPTOR_MIN_SIZE_1_0
                                    : sizes[std::min<size_t>(d->api_minor, sizes.size() - 1)];
  if (d->struct_size < need)
    fail("has a descriptor of " + std::to_string(d->struct_size) + " bytes; plugin API " +
         version_text(d->api_major, d->api_minor) + " needs at least " + std::to_string(need));
  if (!valid_name(d->name)) fail("has no valid name (NUL-terminated, [a-z0-9_])");
  if (expect_name && *expect_name != d->name)
    fail("calls itself '" + std::string(d->name) + "'; its file name says '" + *expect_name + "'");
  if (!d->version) fail("has no version");
  if (!d->description) fail("has no description");
  if (d->kind != SLUICE_KIND_SOURCE && d->kind != SLUICE_KIND_SINK)
    fail("has an unknown kind " + std::to_string(static_cast<int>(d->kind)));
  if (!d->options_schema) fail("has no options schema");
  if (!nlohmann::json::accept(d->options_schema)) fail("has an options schema that is not JSON");
  const char* missing = !d->create                                     ? "create"
                        : !d->start                                    ? "start"
                        : !d->stop                                     ? "stop"
                        : !d->destroy                                  ? "destroy"
                        : (d->kind == SLUICE_KIND_SINK && !d->deliver) ? "deliver"
                                                                       : nullptr;
  if (missing) fail(std::string("has no '") + missing + "' function");
}

std::optional<sluice_delivery_result> read_delivery_result(const sluice_delivery_result* r,
                                                           std::string* why) {
  if (!r) {
    if (why) *why = "no delivery result (NULL)";
    return std::nullopt;
  }
  if (r->struct_size < SLUICE_DELIVERY_RESULT_MIN_SIZE_1_0) {
    if (why)
      *why = "a delivery result of " + std::to_string(r->struct_size) +
             " bytes (struct_size); plugin API 1.0 needs at least " +
             std::to_string(SLUICE_DELIVERY_RESULT_MIN_SIZE_1_0);
    return std::nullopt;
  }
  // Field by field, never *r: the plugin's struct may be shorter than the host's.
  sluice_delivery_result out{};
  out.struct_size = sizeof out;
  out.code = r->code;
  out.retry_after_ms = r->retry_after_ms;
  out.reason = r->reason;
  out.status = r->status;
  // Fields a later minor appends are read here, each as
  //   if (SLUICE_HAS_FIELD(r, sluice_delivery_result, f)) out.f = r->f;  (else its default)
  if (SLUICE_HAS_FIELD(r, sluice_delivery_result, event_results))
    out.event_results = r->event_results;
  if (SLUICE_HAS_FIELD(r, sluice_delivery_result, event_result_count))
    out.event_result_count = r->event_result_count;
  return out;
}

std::string check_event_results(const sluice_delivery_result& r, size_t batch_count) {
  if (!r.event_results) return {};
  if (r.event_result_count != batch_count)
    return std::to_string(r.event_result_count) + " per-event answers (event_result_count) for " +
           "a batch of " + std::to_string(batch_count) + " events";
  // Frozen array (plugin.h): an element of another size means the plugin steps it differently.
  for (size_t i = 0; i < batch_count; ++i)
    if (r.event_results[i].struct_size != SLUICE_EVENT_RESULT_SIZE)
      return "per-event answer " + std::to_string(i) + " of " + std::to_string(batch_count) +
             " has struct_size " + std::to_string(r.event_results[i].struct_size) +
             "; sluice_event_result is frozen at " + std::to_string(SLUICE_EVENT_RESULT_SIZE) +
             " bytes";
  return {};
}

std::string check_event_array(const sluice_event* events, size_t count) {
  for (size_t i = 0; i < count; ++i)
    if (events[i].struct_size != SLUICE_EVENT_SIZE)
      return "event " + std::to_string(i) + " of " + std::to_string(count) + " has struct_size " +
             std::to_string(events[i].struct_size) + "; sluice_event is frozen at " +
             std::to_string(SLUICE_EVENT_SIZE) + " bytes";
  return {};
}

std::string executable_dir() {
  boost::system::error_code ec;
  auto p = boost::dll::program_location(ec);
  return ec ? std::string() : p.parent_path().string();
}

PluginHost::PluginHost(std::string exe_dir, ApiVersion api)
    : exe_dir_(std::move(exe_dir)), api_(api) {}

std::vector<std::string> PluginHost::default_paths() const {
  std::vector<std::string> paths;
  if (!exe_dir_.empty()) {
    paths.push_back(exe_dir_);
    paths.push_back(
        (fs::path(exe_dir_) / ".." / "lib" / "sluice" / "plugins").lexically_normal().string());
  }
#ifdef SLUICE_INSTALL_PLUGIN_FULLDIR
  paths.push_back(SLUICE_INSTALL_PLUGIN_FULLDIR);
#endif
  return paths;
}

std::vector<std::string> PluginHost::search_path(const std::vector<std::string>& extra) const {
  auto paths = default_paths();
  paths.insert(paths.end(), extra.begin(), extra.end());
  return paths;
}

std::string PluginHost::find(const std::string& name, const std::vector<std::string>& extra) const {
  const std::string file = kPrefix + name + kSuffix;
  boost::system::error_code ec;
  for (const auto& dir : search_path(extra)) {
    fs::path candidate = fs::path(dir) / file;
    if (fs::is_regular_file(candidate, ec)) return candidate.string();
  }
  std::string where;
  for (const auto& dir : search_path(extra))
    where += (where.empty() ? "" : ", ") + dir;
  throw PluginError("plugin '" + name + "' not found: no " + file + " in " + where);
}

std::shared_ptr<const LoadedPlugin> PluginHost::load_file(const std::string& file,
                                                          std::optional<std::string> expect_name) {
  boost::system::error_code ec;
  fs::path canonical = fs::canonical(file, ec);
  if (ec) throw PluginError("plugin " + file + " cannot be read: " + ec.message());
  const std::string key = canonical.string();
  if (!expect_name) expect_name = plugin_name_of(canonical.filename().string());
  // Loading runs the library's code (constructors included) with sluice's privileges, also for
  // `sluice validate`: like sshd with authorized_keys, only a file and directories that no other
  // user can have changed.
  if (std::string why = sluice::untrusted_file(key); !why.empty())
    throw PluginError("plugin " + file + " refused: " + why);

  std::lock_guard lock(mutex_);
  if (auto it = loaded_.find(key); it != loaded_.end()) {
    if (expect_name && it->second->name() != *expect_name)
      throw PluginError("plugin " + file + " calls itself '" + it->second->name() +
                        "'; its file name says '" + *expect_name + "'");
    return it->second;
  }

  boost::dll::shared_library lib;
  try {
    // rtld_now: a missing symbol or dependency shows up here, not at the first call.
    lib.load(canonical, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    throw PluginError("plugin " + file + " cannot be loaded: " + loader_message(e.what()));
  }
  if (!lib.has(SLUICE_PLUGIN_ENTRY_SYMBOL))
    throw PluginError("plugin " + file + " is not a sluice plugin: it exports no '" +
                      SLUICE_PLUGIN_ENTRY_SYMBOL + "' symbol");
  auto entry = lib.get<const sluice_plugin_descriptor*()>(SLUICE_PLUGIN_ENTRY_SYMBOL);
  const sluice_plugin_descriptor* d = entry();
  check_descriptor(d, file, expect_name, api_);
  // Accepted, so never unmapped, even after the last handle closes: a thread that a plugin stuck in
  // stop or deliver still runs when the host gives up on it (docs/runtime.md, "abandoned") must not
  // find its code gone. Re-opening with RTLD_NOLOAD only sets the flag.
  if (void* again = ::dlopen(canonical.c_str(), RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE))
    ::dlclose(again);
  auto plugin = std::make_shared<DllPlugin>(std::move(lib), d, key);
  loaded_[key] = plugin;
  return plugin;
}

std::shared_ptr<const LoadedPlugin> PluginHost::load(const std::string& name,
                                                     const std::vector<std::string>& extra) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = builtin_.find(name); it != builtin_.end()) return it->second;
  }
  return load_file(find(name, extra), name);
}

void PluginHost::add_builtin(const sluice_plugin_descriptor* descriptor) {
  check_descriptor(descriptor, "<built-in>", std::nullopt, api_);
  std::lock_guard lock(mutex_);
  builtin_[descriptor->name] = std::make_shared<BuiltinPlugin>(descriptor);
}

std::vector<PluginHost::Found> PluginHost::discover(const std::vector<std::string>& extra) {
  std::vector<Found> found;
  std::vector<std::string> seen;
  boost::system::error_code ec;
  for (const auto& dir : search_path(extra)) {
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<fs::path> files;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
      if (plugin_name_of(it->path().filename().string())) files.push_back(it->path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::string name = *plugin_name_of(f.filename().string());
      if (std::find(seen.begin(), seen.end(), name) != seen.end()) continue;
      seen.push_back(name);
      Found item;
      item.file = f.string();
      try {
        item.plugin = load_file(item.file, name);
      } catch (const std::exception& e) {
        item.error = e.what();
      }
      found.push_back(std::move(item));
    }
  }
  return found;
}

std::optional<OptionProblems> check_options(const LoadedPlugin& plugin,
                                            const std::string& options_json) {
  const sluice_plugin_descriptor& d = plugin.descriptor();
  if (!SLUICE_HAS_FIELD(&d, sluice_plugin_descriptor, check_options) || !d.check_options)
    return std::nullopt;
  // On a thread of its own: the answer lives in the plugin's thread-local storage (plugin.h),
  // which then goes away with that thread instead of staying on a host thread for the life of
  // the process (LeakSanitizer's exit scan of a host thread's dynamic TLS crashed on it).
  sluice_status status = SLUICE_ERROR;
  std::string answer;
  std::exception_ptr failure;
  std::thread checker([&] {
    try {
      const char* text = nullptr;
      status = d.check_options(options_json.c_str(), &text);
      answer = text ? text : "";
    } catch (...) {
      failure = std::current_exception();
    }
  });
  checker.join();
  if (failure) std::rethrow_exception(failure);
  if (status == SLUICE_OK) return OptionProblems{};
  if (status != SLUICE_INVALID)
    throw PluginError("check_options failed: " + (answer.empty() ? "no reason given" : answer));
  try {
    OptionProblems problems = problems_from_json(answer);
    if (problems.empty()) throw std::runtime_error("SLUICE_INVALID with no problem in it");
    return problems;
  } catch (const std::exception& e) {
    throw PluginError(std::string("check_options answered what sluice cannot read: ") + e.what());
  }
}

PluginSchemaLookup PluginHost::schema_lookup() {
  return [this](const std::string& name, const std::vector<std::string>& paths,
                std::string* error) -> std::optional<PluginSchemaInfo> {
    try {
      auto plugin = load(name, paths);
      PluginSchemaInfo info;
      info.name = plugin->name();
      info.is_sink = plugin->is_sink();
      info.options_schema = plugin->descriptor().options_schema;
      info.file = plugin->file();
      const auto& d = plugin->descriptor();
      if (SLUICE_HAS_FIELD(&d, sluice_plugin_descriptor, check_options) && d.check_options)
        info.check_options = [plugin](const std::string& options_json) {
          return check_options(*plugin, options_json).value_or(OptionProblems{});
        };
      return info;
    } catch (const std::exception& e) {
      if (error) *error = e.what();
      return std::nullopt;
    }
  };
}

}  // namespace sluice::core
