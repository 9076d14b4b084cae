// The plugin host against purpose-built broken plugins (tests/plugins): each is refused with a
// message naming the file and the reason, and none crashes the host.
#include <doctest/doctest.h>

#include <sluice/core/plugin_host.hpp>
#include <sluice/testing.hpp>

#include "test_plugin_dir.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <filesystem>
#include <string>

using sluice::core::PluginError;
using sluice::core::PluginHost;

namespace {

std::string file(const std::string& name) {
  return kTestPluginDir + "/sluice_" + name + ".so";
}

// The error text loading `name` gives, or "" when it loads.
std::string load_error(const std::string& name, PluginHost::ApiVersion api = {}) {
  PluginHost host("", api);
  try {
    host.load(name, {kTestPluginDir});
    return "";
  } catch (const PluginError& e) {
    return e.what();
  }
}

}  // namespace

TEST_CASE("plugin host: a plugin built for another major version is refused, naming both") {
  CHECK(load_error("wrong_major") ==
        "plugin " + file("wrong_major") +
            " was built for sluice plugin API 2.0; this sluice speaks 1." +
            std::to_string(SLUICE_API_VERSION_MINOR));
}

TEST_CASE("plugin host: a plugin built for a newer minor version is refused") {
  CHECK(load_error("newer_minor") ==
        "plugin " + file("newer_minor") + " was built for sluice plugin API 1." +
            std::to_string(SLUICE_API_VERSION_MINOR + 1) + "; this sluice speaks 1." +
            std::to_string(SLUICE_API_VERSION_MINOR));
}

TEST_CASE("plugin host: a plugin built for an older minor version is accepted") {
  PluginHost::ApiVersion newer_host{1, 3};
  PluginHost host("", newer_host);
  auto p = host.load("older_minor", {kTestPluginDir});
  CHECK(p->name() == "older_minor");
  CHECK(p->descriptor().api_minor == 0);
}

TEST_CASE("plugin host: a library without the entry symbol is refused") {
  CHECK(load_error("no_entry") == "plugin " + file("no_entry") +
                                      " is not a sluice plugin: it exports no "
                                      "'sluice_plugin_entry' symbol");
}

TEST_CASE("plugin host: a loaded plugin stays mapped after its host is gone") {
  // A plugin's threads or its thread-local storage on a host thread may outlive the host's
  // handle; unmapping the library under them crashes the process (or its leak check) at exit.
  const std::string so = file("older_minor");  // C: no STB_GNU_UNIQUE symbol pins it
  {
    PluginHost host("");
    host.load("older_minor", {kTestPluginDir});
  }
  void* still = ::dlopen(so.c_str(), RTLD_NOW | RTLD_NOLOAD);
  CHECK(still != nullptr);
  if (still) ::dlclose(still);
}

TEST_CASE("plugin host: an entry point returning NULL is refused") {
  CHECK(load_error("null_entry") ==
        "plugin " + file("null_entry") + " returned no descriptor (its entry point returned NULL)");
}

TEST_CASE("plugin host: a descriptor smaller than its API minor's minimum is refused") {
  CHECK(load_error("small_struct") ==
        "plugin " + file("small_struct") + " has a descriptor of 24 bytes; plugin API 1." +
            std::to_string(SLUICE_API_VERSION_MINOR) + " needs at least " +
            std::to_string(sluice::core::descriptor_min_sizes().back()));
}

// ---- versions: minimum size per minor, not the host's sizeof ----------------------------------

namespace {

// A host one minor later than this one whose descriptor grew by two more pointers.
constexpr size_t kLaterMinSize = sizeof(sluice_plugin_descriptor) + 16;
PluginHost::ApiVersion later_host() {
  PluginHost::ApiVersion v;
  v.major = 1;
  v.minor = SLUICE_API_VERSION_MINOR + 1;
  v.descriptor_min_size = sluice::core::descriptor_min_sizes();
  v.descriptor_min_size.push_back(kLaterMinSize);
  return v;
}

}  // namespace

TEST_CASE("plugin host: the 1.0 minimum is the end of the last 1.0 descriptor field") {
  CHECK(sluice::core::descriptor_min_sizes().size() == SLUICE_API_VERSION_MINOR + 1u);
  CHECK(sluice::core::descriptor_min_sizes()[0] ==
        offsetof(sluice_plugin_descriptor, max_in_flight) + sizeof(void (*)(void)));
}

TEST_CASE("plugin host: the 1.1 minimum is the end of check_options, after 1.0's sizeof") {
  CHECK(sluice::core::descriptor_min_sizes().at(1) ==
        offsetof(sluice_plugin_descriptor, check_options) + sizeof(void (*)(void)));
  // Appended fields start at or after the previous minor's end (never in its padding).
  CHECK(offsetof(sluice_plugin_descriptor, check_options) >= SLUICE_DESCRIPTOR_MIN_SIZE_1_0);
  CHECK(offsetof(sluice_host_api, instance_name) >= SLUICE_HOST_API_MIN_SIZE_1_0);
  CHECK(offsetof(sluice_delivery_result, event_results) >=
        ((SLUICE_DELIVERY_RESULT_MIN_SIZE_1_0 + alignof(void*) - 1) & ~(alignof(void*) - 1)));
  CHECK(SLUICE_EVENT_RESULT_SIZE == sizeof(sluice_event_result));
}

TEST_CASE("plugin host: a 1.0 descriptor, shorter than a later host's, still loads there") {
  // The old check demanded the host's own sizeof: the day the descriptor grows, every plugin
  // built for 1.0 would be refused. Here the later host's descriptor is 16 bytes longer.
  for (const char* name : {"older_minor", "abi10_source", "abi10_sink"}) {
    CAPTURE(name);
    CHECK(load_error(name, later_host()) == "");
  }
}

TEST_CASE("plugin host: a plugin claiming a minor needs that minor's descriptor size") {
  // newer_minor claims the next minor but carries this header's descriptor: a host of that
  // minor refuses it.
  CHECK(load_error("newer_minor", later_host()) ==
        "plugin " + file("newer_minor") + " has a descriptor of " +
            std::to_string(sizeof(sluice_plugin_descriptor)) + " bytes; plugin API 1." +
            std::to_string(SLUICE_API_VERSION_MINOR + 1) + " needs at least " +
            std::to_string(kLaterMinSize));
}

TEST_CASE("plugin host: the frozen-1.0 plugins are refused by a host older than they claim") {
  PluginHost::ApiVersion v;
  v.major = 2;  // a host of the next major
  CHECK(load_error("abi10_sink", v) == "plugin " + file("abi10_sink") +
                                           " was built for sluice plugin API 1.0; this sluice "
                                           "speaks 2." +
                                           std::to_string(SLUICE_API_VERSION_MINOR));
}

TEST_CASE("SLUICE_HAS_FIELD: true only when struct_size covers the whole field") {
  sluice_plugin_descriptor d{};
  d.struct_size = SLUICE_DESCRIPTOR_MIN_SIZE_1_0;
  CHECK(SLUICE_HAS_FIELD(&d, sluice_plugin_descriptor, max_in_flight));
  d.struct_size = SLUICE_FIELD_END(sluice_plugin_descriptor, reopen);
  CHECK(SLUICE_HAS_FIELD(&d, sluice_plugin_descriptor, reopen));
  CHECK_FALSE(SLUICE_HAS_FIELD(&d, sluice_plugin_descriptor, max_in_flight));
  d.struct_size = SLUICE_FIELD_END(sluice_plugin_descriptor, max_in_flight) - 1;
  CHECK_FALSE(SLUICE_HAS_FIELD(&d, sluice_plugin_descriptor, max_in_flight));
  sluice_delivery_result r{};
  r.struct_size = SLUICE_DELIVERY_RESULT_MIN_SIZE_1_0;
  CHECK(SLUICE_HAS_FIELD(&r, sluice_delivery_result, status));
}

TEST_CASE("plugin host: a delivery result is read by its struct_size, never past it") {
  std::string why;
  CHECK_FALSE(sluice::core::read_delivery_result(nullptr, &why));
  CHECK(why == "no delivery result (NULL)");
  sluice_delivery_result r{};
  r.struct_size = 8;
  r.code = SLUICE_DELIVERY_OK;
  CHECK_FALSE(sluice::core::read_delivery_result(&r, &why));
  CHECK(why == "a delivery result of 8 bytes (struct_size); plugin API 1.0 needs at least " +
                   std::to_string(SLUICE_DELIVERY_RESULT_MIN_SIZE_1_0));
  r.struct_size = SLUICE_DELIVERY_RESULT_MIN_SIZE_1_0;
  r.code = SLUICE_DELIVERY_RETRY;
  r.retry_after_ms = 7;
  r.status = 503;
  auto got = sluice::core::read_delivery_result(&r, &why);
  REQUIRE(got);
  CHECK(got->code == SLUICE_DELIVERY_RETRY);
  CHECK(got->retry_after_ms == 7);
  CHECK(got->status == 503);
}

TEST_CASE("plugin host: a file that is not a shared library is refused") {
  std::string e = load_error("garbage");
  CHECK(e.rfind("plugin " + file("garbage") + " cannot be loaded: ", 0) == 0);
  CHECK(e.find("invalid ELF header") != std::string::npos);
  CHECK(e.find("boost::") == std::string::npos);
}

TEST_CASE("plugin host: a library whose dependency is missing is refused") {
  std::string e = load_error("missing_dep");
  CHECK(e.rfind("plugin " + file("missing_dep") + " cannot be loaded: ", 0) == 0);
  CHECK(e.find("libsluice_test_dependency.so: cannot open shared object file") !=
        std::string::npos);
}

TEST_CASE("plugin host: a plugin that cannot be found names the search path") {
  PluginHost host("");
  std::string e;
  try {
    host.find("nosuch", {kTestPluginDir});
  } catch (const PluginError& x) {
    e = x.what();
  }
  CHECK(e.rfind("plugin 'nosuch' not found: no sluice_nosuch.so in ", 0) == 0);
  CHECK(e.find(kTestPluginDir) != std::string::npos);
}

TEST_CASE("plugin host: create that throws comes back as an error, not a crash") {
  PluginHost host("");
  auto p = host.load("create_fails", {kTestPluginDir});
  void* instance = nullptr;
  const char* error = nullptr;
  sluice_host_api api{};
  CHECK(p->descriptor().create(&api, nullptr, "{}", &instance, &error) == SLUICE_ERROR);
  REQUIRE(error != nullptr);
  CHECK(std::string(error) == "this plugin always fails to create");
  CHECK(instance == nullptr);
}

TEST_CASE("plugin host: a file whose name disagrees with the plugin's name is refused") {
  sluice_plugin_descriptor d{};
  d.struct_size = sizeof d;
  d.api_major = 1;
  d.name = "alpha";
  std::string e;
  try {
    sluice::core::check_descriptor(&d, "/x/sluice_beta.so", std::string("beta"), {});
  } catch (const PluginError& x) {
    e = x.what();
  }
  CHECK(e == "plugin /x/sluice_beta.so calls itself 'alpha'; its file name says 'beta'");
}

TEST_CASE("plugin host: discover lists every plugin file, refused ones with their error") {
  PluginHost host("");
  auto found = host.discover({kTestPluginDir});
  int loaded = 0, refused = 0;
  bool saw_scripted = false, saw_garbage = false;
  for (const auto& f : found) {
    (f.plugin ? loaded : refused)++;
    if (f.plugin && f.plugin->name() == "scripted") saw_scripted = true;
    if (!f.plugin && f.file == file("garbage")) saw_garbage = true;
  }
  CHECK(saw_scripted);
  CHECK(saw_garbage);
  CHECK(loaded == 8);   // older_minor, create_fails, scripted, counting, abi10_source, abi10_sink,
                        // short_result, checking
  CHECK(refused == 7);  // wrong_major, newer_minor, no_entry, null_entry, small_struct, garbage,
                        // missing_dep
}

TEST_CASE("plugin host: the schema lookup gives core-config the plugin's kind and schema") {
  PluginHost host("");
  auto lookup = host.schema_lookup();
  std::string error;
  auto info = lookup("scripted", {kTestPluginDir}, &error);
  REQUIRE(info);
  CHECK(info->name == "scripted");
  CHECK(info->is_sink);
  CHECK(info->options_schema.find("\"answers\"") != std::string::npos);
  CHECK(info->file == file("scripted"));
  CHECK_FALSE(lookup("wrong_major", {kTestPluginDir}, &error));
  CHECK(error.find("was built for sluice plugin API 2.0") != std::string::npos);
}

TEST_CASE("plugin host: the default search path is exe dir, ../lib/sluice/plugins, prefix") {
  PluginHost host("/opt/sluice/bin");
  auto paths = host.default_paths();
  REQUIRE(paths.size() == 3);
  CHECK(paths[0] == "/opt/sluice/bin");
  CHECK(paths[1] == "/opt/sluice/lib/sluice/plugins");
  CHECK(host.search_path({"/extra"}).back() == "/extra");
}

// ---- trust: who could have changed the file or its directory ----------------------------------

namespace {

// A loadable plugin copied into a fresh private directory.
struct PluginCopy {
  sluice::testing::TempDir dir{"sluice-plugin-trust"};
  std::string path = (dir.path / "sluice_scripted.so").string();
  PluginCopy() { std::filesystem::copy_file(file("scripted"), path); }
  std::string load_error() const {
    PluginHost host("");
    try {
      host.load("scripted", {dir.path.string()});
      return "";
    } catch (const PluginError& e) {
      return e.what();
    }
  }
};

}  // namespace

TEST_CASE("plugin host: a plugin in a private directory owned by this user loads") {
  PluginCopy copy;
  std::filesystem::permissions(copy.path, std::filesystem::perms(0644));
  CHECK(copy.load_error() == "");
}

TEST_CASE("plugin host: a group- or world-writable plugin file is refused, and not loaded") {
  PluginCopy copy;
  std::filesystem::permissions(copy.path, std::filesystem::perms(0666));
  CHECK(copy.load_error() == "plugin " + copy.path + " refused: file " + copy.path +
                                 " is writable by group or others (mode 0666): another user "
                                 "could plant files or links there; make it writable by its "
                                 "owner only (chmod go-w)");
}

TEST_CASE("plugin host: a plugin in a world-writable directory is refused, even sticky") {
  PluginCopy copy;
  std::filesystem::permissions(copy.path, std::filesystem::perms(0644));
  std::filesystem::permissions(copy.dir.path, std::filesystem::perms(01777));
  const std::string e = copy.load_error();
  CHECK(e.find("refused: directory " + copy.dir.path.string() +
               " is writable by group or others (mode 1777)") != std::string::npos);
}

TEST_CASE("plugin host: a plugin owned by another (non-root) user is refused") {
  if (::geteuid() != 0) return;  // only root can give a file away
  PluginCopy copy;
  std::filesystem::permissions(copy.path, std::filesystem::perms(0644));
  REQUIRE(::chown(copy.path.c_str(), 65534, 65534) == 0);
  CHECK(copy.load_error().find("is owned by uid 65534") != std::string::npos);
}

TEST_CASE("plugin host: discover reports an untrusted plugin as refused instead of loading it") {
  PluginCopy copy;
  std::filesystem::permissions(copy.path, std::filesystem::perms(0646));
  PluginHost host("");
  auto found = host.discover({copy.dir.path.string()});
  REQUIRE(found.size() == 1);
  CHECK_FALSE(found[0].plugin);
  CHECK(found[0].error.find("writable by group or others") != std::string::npos);
}
