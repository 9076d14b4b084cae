// load_pipeline(): read, parse (YAML -> JSON with marks), substitute secrets, check the file's
// structure against its schema, fill PipelineConfig, check each plugin's options against the
// plugin's schema, then cross-check names. Every problem is collected; nothing stops early
// except a YAML syntax error, after which there is no document to check.
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include <sluice/core/config.hpp>
#include <sluice/core/filter.hpp>
#include <sluice/core/redact.hpp>
#include <sluice/json_check.hpp>

#include <functional>
#include <sluice/units.hpp>

#include <boost/asio/ip/address.hpp>

#include "loader.hpp"
#include "pipeline_schema.hpp"
#include "schema_check.hpp"
#include "secrets.hpp"
#include "yaml_json.hpp"

namespace sluice::core {

namespace {

using config::SchemaChecker;
using config::SchemaError;
using nlohmann::json;
using Path = std::vector<std::string>;

// Pipeline files are small; this only keeps a mistaken path (a log file, /dev/zero) harmless.
constexpr size_t kMaxFileBytes = 16u << 20;

std::string pointer(const Path& path) {
  std::string out;
  for (const auto& token : path) {
    out += '/';
    out += sluice::pointer_token(token);
  }
  return out;
}

Path child(Path path, const std::string& token) {
  path.push_back(token);
  return path;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i)
    out += (i ? ", " : "") + items[i];
  return out;
}

class Loader {
 public:
  Loader(const std::string& path, const PluginSchemaLookup& lookup,
         std::optional<std::string> text = std::nullopt,
         config::LoadOptions options = config::LoadOptions())
      : path_(path), lookup_(lookup), text_(std::move(text)), options_(options) {
    std::error_code ec;
    auto absolute = std::filesystem::absolute(path, ec);
    dir_ = (ec ? std::filesystem::path(path) : absolute).parent_path().lexically_normal();
  }

  LoadResult run() {
    LoadResult result;
    PipelineConfig pc;
    if (load(pc)) result.pipeline = std::move(pc);
    finish(result);
    return result;
  }

 private:
  // ---- diagnostics -------------------------------------------------------------------------

  // `taint`: the value at path is wrong, so later stages leave it alone instead of complaining
  // about it a second time.
  // `at_key`: the culprit is the key at the end of path; the message then names the mapping
  // holding it ("log: unknown key 'levle'").
  void add(Diagnostic::Severity severity, const Path& path, bool at_key, const std::string& text,
           bool taint = true, bool prefix = true) {
    Diagnostic d;
    d.severity = severity;
    d.mark = doc_.mark_of(pointer(path), at_key);
    if (d.mark.file.empty()) d.mark.file = path_;
    std::string where;
    if (prefix)
      where = config::human_path(
          doc_.root, at_key && !path.empty() ? Path(path.begin(), path.end() - 1) : path);
    d.message = where.empty() ? text : where + ": " + text;
    if (severity == Diagnostic::Severity::error) {
      ++errors_;
      if (taint && !at_key) bad_.insert(pointer(path));
    }
    diagnostics_.push_back(std::move(d));
  }
  void error(const Path& path, const std::string& text, bool at_key = false) {
    add(Diagnostic::Severity::error, path, at_key, text);
  }
  // Warnings name their subject in the message itself.
  void warning(const Path& path, const std::string& text, bool at_key = false) {
    add(Diagnostic::Severity::warning, path, at_key, text, false, false);
  }
  void file_error(const std::string& text) {
    diagnostics_.push_back({Diagnostic::Severity::error, Mark{path_, 0, 0}, text});
    ++errors_;
  }

  void finish(LoadResult& result) {
    for (auto& d : diagnostics_)
      d.message = redact(d.message, secrets_);
    std::stable_sort(
        diagnostics_.begin(), diagnostics_.end(), [](const Diagnostic& a, const Diagnostic& b) {
          return std::tie(a.mark.line, a.mark.column) < std::tie(b.mark.line, b.mark.column);
        });
    result.diagnostics = std::move(diagnostics_);
    if (errors_ > 0) result.pipeline.reset();
  }

  // ---- reading values ----------------------------------------------------------------------

  const json* at(const Path& path) const {
    const json* v = &doc_.root;
    for (const auto& token : path) {
      if (v->is_object()) {
        auto it = v->find(token);
        if (it == v->end()) return nullptr;
        v = &*it;
      } else if (v->is_array()) {
        size_t index = std::strtoul(token.c_str(), nullptr, 10);
        if (index >= v->size()) return nullptr;
        v = &(*v)[index];
      } else {
        return nullptr;
      }
    }
    return v;
  }
  // The value at path when it is there, of the expected type, and not already reported.
  const json* usable(const Path& path, json::value_t type) const {
    const json* v = at(path);
    if (!v || bad_.count(pointer(path))) return nullptr;
    bool ok =
        v->type() == type || (type == json::value_t::number_integer && v->is_number_integer());
    return ok ? v : nullptr;
  }

  // The value at json_pointer is a --no-secrets stand-in, or inside one. (Not a mapping that
  // holds one: its other problems are real.)
  bool placeholder(const std::string& json_pointer) const {
    for (const auto& p : placeholders_)
      if (json_pointer == p || json_pointer.rfind(p + "/", 0) == 0) return true;
    return false;
  }

  bool tainted(const Path& path) const {
    std::string p;
    if (bad_.count(p)) return true;
    for (const auto& token : path) {
      p += "/" + sluice::pointer_token(token);
      if (bad_.count(p)) return true;
    }
    return false;
  }

  void read_string(const Path& path, std::string& out) {
    if (auto v = usable(path, json::value_t::string)) out = v->get<std::string>();
  }
  // A string or a list of strings.
  std::vector<std::string> read_strings(const Path& path) {
    std::vector<std::string> out;
    const json* v = at(path);
    if (!v || bad_.count(pointer(path))) return out;
    if (v->is_string()) out.push_back(v->get<std::string>());
    if (v->is_array())
      for (const auto& e : *v)
        if (e.is_string()) out.push_back(e.get<std::string>());
    return out;
  }
  void read_count(const Path& path, uint64_t& out,
                  uint64_t max = std::numeric_limits<uint64_t>::max()) {
    if (auto v = usable(path, json::value_t::number_integer)) {
      try {
        out = sluice::count_option(*v, max);
      } catch (const std::exception& e) {
        error(path, e.what());
      }
    }
  }
  void read_count(const Path& path, uint32_t& out) {
    uint64_t wide = out;
    read_count(path, wide, std::numeric_limits<uint32_t>::max());
    out = static_cast<uint32_t>(wide);
  }

  void read_duration(const Path& path, std::chrono::milliseconds& out) {
    const json* v = at(path);
    if (!v || bad_.count(pointer(path))) return;
    try {
      if (v->is_number_integer() || v->is_string()) out = sluice::duration_option(*v);
    } catch (const std::exception& e) {
      error(path, e.what());
    }
  }
  void read_size(const Path& path, uint64_t& out, bool positive) {
    const json* v = at(path);
    if (!v || bad_.count(pointer(path))) return;
    try {
      if (v->is_number_integer() || v->is_string()) {
        uint64_t size = sluice::size_option(*v);
        if (positive && size == 0) {
          error(path, "must be more than 0 bytes");
          return;
        }
        out = size;
      }
    } catch (const std::exception& e) {
      error(path, e.what());
    }
  }

  std::string resolve(const std::string& p) const {
    std::filesystem::path fp(p);
    if (fp.is_relative()) fp = dir_ / fp;
    return fp.lexically_normal().string();
  }

  // ---- the stages --------------------------------------------------------------------------

  bool load(PipelineConfig& pc) {
    std::string text;
    if (text_)
      text = std::move(*text_);
    else if (!read_file(text))
      return false;
    // YAML is Unicode text; and valijson's string-length code reads past its tables on some
    // byte sequences that are not UTF-8, so nothing that is not reaches it.
    if (size_t bad = 0; !utf8_valid(text, &bad)) {
      Mark m{path_, 1, 1};
      for (size_t i = 0; i < bad; ++i) {
        if (text[i] == '\n') {
          ++m.line;
          m.column = 1;
        } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
          ++m.column;
        }
      }
      diagnostics_.push_back({Diagnostic::Severity::error, m, "the file is not valid UTF-8 text"});
      ++errors_;
      return false;
    }
    doc_ = config::yaml_to_json(text, path_);
    for (auto& e : doc_.errors) {
      diagnostics_.push_back(e);
      ++errors_;
    }
    if (!doc_.parsed) return false;
    if (doc_.root.is_null()) {
      file_error("the pipeline file is empty; it needs at least sources, sinks and routes");
      return false;
    }
    substitute_secrets(doc_.root, {});
    check_structure();
    if (!doc_.root.is_object()) return false;

    pc.path = path_;
    read_globals(pc);
    read_sources(pc);
    read_sinks(pc);
    read_routes(pc);
    // JSON objects keep keys sorted; people expect the order they wrote.
    auto by_mark = [](const auto& a, const auto& b) {
      return std::tie(a.mark.line, a.mark.column) < std::tie(b.mark.line, b.mark.column);
    };
    std::stable_sort(pc.sources.begin(), pc.sources.end(), by_mark);
    std::stable_sort(pc.sinks.begin(), pc.sinks.end(), by_mark);
    check_names(pc);
    check_log_components(pc);
    check_plugins(pc);
    pc.secrets = secrets_;  // known once every plugin's schema has marked its secret options
    check_routes(pc);
    return errors_ == 0;
  }

  bool read_file(std::string& text) {
    std::error_code ec;
    if (std::filesystem::is_directory(path_, ec)) {
      file_error("cannot read the pipeline file: it is a directory");
      return false;
    }
    std::ifstream in(path_, std::ios::binary);
    if (!in) {
      file_error(std::string("cannot read the pipeline file: ") + std::strerror(errno));
      return false;
    }
    std::vector<char> buffer(64 * 1024);
    while (in) {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      text.append(buffer.data(), static_cast<size_t>(in.gcount()));
      if (text.size() > kMaxFileBytes) {
        file_error("the pipeline file is larger than " + std::to_string(kMaxFileBytes >> 20) +
                   " MiB; is it the right file?");
        return false;
      }
    }
    return true;
  }

  void substitute_secrets(json& node, const Path& path) {
    if (node.is_object()) {
      for (auto& [key, value] : node.items())
        substitute_secrets(value, child(path, key));
    } else if (node.is_array()) {
      for (size_t i = 0; i < node.size(); ++i)
        substitute_secrets(node[i], child(path, std::to_string(i)));
    } else if (node.is_string()) {
      const std::string& s = node.get_ref<const std::string&>();
      if (s.find('$') == std::string::npos) return;
      config::SecretSource source;
      source.env = [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        if (!v) return std::nullopt;
        return std::string(v);
      };
      source.base_dir = dir_.string();
      source.placeholders = options_.secret_placeholders;
      // What is a secret is decided by the plugin's schema (check_instance), not by where a
      // value came from: a host name or userid from ${ENV} is not hidden.
      config::Substitution sub = config::substitute(s, source);
      for (auto& e : sub.errors)
        error(path, e);
      if (sub.errors.empty() && !sub.unresolved.empty()) {
        // --no-secrets: the reference stands in for the value, which nothing checks.
        placeholders_.insert(pointer(path));
        std::string why;
        for (const auto& u : sub.unresolved)
          why += (why.empty() ? "" : "; ") + u;
        warning(path, config::human_path(doc_.root, path) + ": " + why +
                          " (--no-secrets: this value is not checked)");
        node = std::move(sub.value);
        return;
      }
      if (sub.errors.empty() && !utf8_valid(sub.value)) {
        error(path, "a value put in by ${...} is not valid UTF-8 text");
        sub.value.clear();
      }
      // `!!int ${PORT}` and the like: the resolved text becomes the tagged type.
      auto marks = doc_.marks.find(pointer(path));
      if (sub.errors.empty() && marks != doc_.marks.end() &&
          marks->second.convert != config::TaggedType::none) {
        if (auto typed = config::convert_tagged(sub.value, marks->second.convert)) {
          node = std::move(*typed);
          return;
        }
        std::string why = "'";
        why += s;
        why += "' does not give a valid ";
        why += config::tag_name(marks->second.convert);
        error(path, why);
      }
      node = std::move(sub.value);
    }
  }

  void report(const Path& base, const std::vector<SchemaError>& errors) {
    for (const auto& e : errors) {
      Path full = base;
      full.insert(full.end(), e.path.begin(), e.path.end());
      if (tainted(full)) continue;  // e.g. a value whose ${...} failed: said once already
      if (placeholder(pointer(full))) continue;  // --no-secrets: not checked
      // A missing key leaves the rest of its mapping usable (a sink without `plugin` is still
      // a name routes may use).
      bool missing = e.message.rfind("missing required key", 0) == 0;
      add(Diagnostic::Severity::error, full, e.at_key, e.message, !missing);
    }
  }

  void check_structure() {
    static const SchemaChecker checker(config::pipeline_schema());
    report({}, checker.check(doc_.root));
  }

  void read_globals(PipelineConfig& pc) {
    read_string({"log", "level"}, pc.log.level);
    read_string({"log", "format"}, pc.log.format);
    if (auto c = usable({"log", "components"}, json::value_t::object))
      for (auto& [name, level] : c->items())
        if (level.is_string() && !bad_.count(pointer({"log", "components", name})))
          pc.log.components[name] = level.get<std::string>();
    for (const auto& p : read_strings({"plugins", "path"}))
      pc.plugin_paths.push_back(resolve(p));
    read_duration({"shutdown", "drain_timeout"}, pc.drain_timeout);
    read_duration({"metrics", "interval"}, pc.metrics.interval);
    pc.state_dir = (dir_ / ".sluice-state").lexically_normal().string();
    if (auto v = usable({"state_dir"}, json::value_t::string))
      pc.state_dir = resolve(v->get<std::string>());
    read_admin(pc.admin);
  }

  // `admin:`: listen is HOST:PORT with an IP address (IPv6 in brackets). Anything but loopback
  // is refused unless allow_remote says so, and then a token is required.
  void read_admin(AdminConfig& a) {
    const json* block = at({"admin"});
    if (!block || !block->is_object() || bad_.count(pointer({"admin"}))) return;
    const Path listen_path{"admin", "listen"};
    const json* listen = usable(listen_path, json::value_t::string);
    if (!listen) return;
    if (auto v = usable({"admin", "allow_remote"}, json::value_t::boolean))
      a.allow_remote = v->get<bool>();
    const bool token_placeholder = placeholder(pointer({"admin", "token"}));
    if (auto v = usable({"admin", "token"}, json::value_t::string)) {
      a.token = v->get<std::string>();
      if (!token_placeholder &&
          std::find(secrets_.begin(), secrets_.end(), a.token) == secrets_.end())
        secrets_.push_back(a.token);
      if (!token_placeholder && a.token.size() < kMinSubstringSecret)
        add(Diagnostic::Severity::warning, {"admin", "token"}, false,
            "this token is shorter than " + std::to_string(kMinSubstringSecret) +
                " characters: easy to guess, and logs hide it only where it stands alone as a "
                "word; use a longer one",
            false);
    }
    const std::string text = listen->get<std::string>();
    std::string host, port;
    if (!text.empty() && text.front() == '[') {
      const size_t close = text.find(']');
      if (close != std::string::npos && close + 1 < text.size() && text[close + 1] == ':') {
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
      }
    } else if (const size_t colon = text.rfind(':');
               colon != std::string::npos && text.find(':') == colon) {
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
    }
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(host, ec);
    const bool bracketed = !text.empty() && text.front() == '[';
    if (host.empty() || ec || address.is_v6() != bracketed) {
      error(listen_path, "'" + text +
                             "' is not HOST:PORT with an IP address (127.0.0.1:9464, "
                             "[::1]:9464)");
      return;
    }
    unsigned long number = 0;
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos ||
        (number = std::stoul(port)) == 0 || number > 65535) {
      error(listen_path, "'" + port + "' is not a port number (1-65535)");
      return;
    }
    if (!address.is_loopback() && !a.allow_remote) {
      error(listen_path, "'" + text +
                             "' is not a loopback address: the admin server answers anyone who "
                             "can reach it; set allow_remote: true and a token to allow that");
      return;
    }
    if (a.allow_remote && a.token.empty() && !token_placeholder) {
      error({"admin"},
            "allow_remote: true needs a token (requests then carry "
            "`Authorization: Bearer <token>`)");
      return;
    }
    a.enabled = true;
    a.host = address.to_string();
    a.port = static_cast<uint16_t>(number);
  }

  // Names end up in metrics, log lines and spool directory names.
  void check_name(const Path& path) {
    if (!config::valid_name(path.back()))
      error(path,
            "'" + path.back() +
                "' is not a valid name: use letters, digits, '_', '-' and '.', and do not start "
                "with '-' or '.'",
            true);
  }

  void read_sources(PipelineConfig& pc) {
    const json* sources = at({"sources"});
    if (!sources || !sources->is_object()) return;
    for (auto& [name, body] : sources->items()) {
      check_name({"sources", name});
      if (!body.is_object() || bad_.count(pointer({"sources", name}))) continue;
      SourceConfig s;
      s.name = name;
      s.mark = doc_.mark_of(pointer({"sources", name}), true);
      read_string({"sources", name, "plugin"}, s.plugin);
      if (auto o = usable({"sources", name, "options"}, json::value_t::object)) s.options = *o;
      pc.sources.push_back(std::move(s));
    }
  }

  void read_sinks(PipelineConfig& pc) {
    const json* sinks = at({"sinks"});
    if (!sinks || !sinks->is_object()) return;
    for (auto& [name, body] : sinks->items()) {
      check_name({"sinks", name});
      if (!body.is_object() || bad_.count(pointer({"sinks", name}))) continue;
      Path p{"sinks", name};
      SinkConfig s;
      s.name = name;
      s.mark = doc_.mark_of(pointer(p), true);
      read_string(child(p, "plugin"), s.plugin);
      if (auto o = usable(child(p, "options"), json::value_t::object)) s.options = *o;

      read_count({"sinks", name, "queue", "max_events"}, s.queue.max_events);
      read_size({"sinks", name, "queue", "max_bytes"}, s.queue.max_bytes, true);
      std::string policy;
      read_string({"sinks", name, "queue", "policy"}, policy);
      if (policy == "block") s.queue.policy = QueuePolicy::block;
      if (policy == "drop_newest") s.queue.policy = QueuePolicy::drop_newest;
      if (policy == "drop_oldest") s.queue.policy = QueuePolicy::drop_oldest;
      if (policy == "spool") s.queue.policy = QueuePolicy::spool;

      read_count({"sinks", name, "batch", "max_events"}, s.batch.max_events);
      read_size({"sinks", name, "batch", "max_bytes"}, s.batch.max_bytes, true);
      read_duration({"sinks", name, "batch", "max_delay"}, s.batch.max_delay);

      Path r{"sinks", name, "retry"};
      read_duration(child(r, "initial"), s.retry.backoff.initial);
      read_duration(child(r, "max"), s.retry.backoff.max);
      if (auto m = at(child(r, "multiplier"));
          m && m->is_number() && !bad_.count(pointer(child(r, "multiplier"))))
        s.retry.backoff.multiplier = m->get<double>();
      std::string jitter;
      read_string(child(r, "jitter"), jitter);
      if (jitter == "half") s.retry.backoff.jitter = BackoffPolicy::Jitter::half;
      if (jitter == "full") s.retry.backoff.jitter = BackoffPolicy::Jitter::full;
      read_count(child(r, "max_attempts"), s.retry.max_attempts);
      read_duration(child(r, "max_elapsed"), s.retry.max_elapsed);
      if (s.retry.backoff.max < s.retry.backoff.initial && at(child(r, "max")) &&
          !bad_.count(pointer(child(r, "max"))))
        error(child(r, "max"), "the longest retry delay (" +
                                   std::to_string(s.retry.backoff.max.count()) +
                                   "ms) is shorter than the first one (" +
                                   std::to_string(s.retry.backoff.initial.count()) + "ms)");

      read_string({"sinks", name, "spool", "directory"}, s.spool.directory);
      s.spool.directory = s.spool.directory.empty()
                              ? (std::filesystem::path(pc.state_dir) / "spool" / name).string()
                              : resolve(s.spool.directory);
      read_size({"sinks", name, "spool", "max_bytes"}, s.spool.max_bytes, true);
      std::string fsync, overflow;
      read_string({"sinks", name, "spool", "fsync"}, fsync);
      if (fsync == "never") s.spool.fsync = SpoolFsync::never;
      if (fsync == "batch") s.spool.fsync = SpoolFsync::batch;
      if (fsync == "interval") s.spool.fsync = SpoolFsync::interval;
      read_duration({"sinks", name, "spool", "fsync_interval"}, s.spool.fsync_interval);
      read_size({"sinks", name, "spool", "segment_bytes"}, s.spool.segment_bytes, true);
      read_string({"sinks", name, "spool", "overflow"}, overflow);
      if (overflow == "drop_newest") s.spool.overflow = SpoolOverflow::drop_newest;
      if (overflow == "drop_oldest") s.spool.overflow = SpoolOverflow::drop_oldest;
      if (overflow == "block") s.spool.overflow = SpoolOverflow::block;
      read_string({"sinks", name, "dead_letter", "path"}, s.dead_letter.path);
      if (!s.dead_letter.path.empty()) s.dead_letter.path = resolve(s.dead_letter.path);
      pc.sinks.push_back(std::move(s));
    }
  }

  void read_routes(PipelineConfig& pc) {
    const json* routes = at({"routes"});
    if (!routes || !routes->is_array()) return;
    for (size_t i = 0; i < routes->size(); ++i) {
      Path p{"routes", std::to_string(i)};
      if (!(*routes)[i].is_object()) continue;
      RouteConfig r;
      r.name = "route-" + std::to_string(i + 1);
      read_string(child(p, "name"), r.name);
      r.mark = doc_.mark_of(pointer(p));
      r.from = read_strings(child(p, "from"));
      r.to = read_strings(child(p, "to"));
      Path f = child(p, "filter");
      if (auto spec = usable(f, json::value_t::object)) read_filter(f, *spec, r.filter);
      pc.routes.push_back(std::move(r));
    }
  }

  // A route's filter: compiled here to find every problem (unknown keys and operators, invalid
  // regular expressions and JSON Pointers, values of the wrong type) at its position; the
  // runtime compiles it again from `spec`.
  void read_filter(const Path& f, const json& spec, FilterConfig& out) {
    DataPointers pointers;
    std::vector<FilterError> errors;
    Filter::compile(spec, pointers, &errors);
    for (const auto& e : errors) {
      Path at = f;
      at.insert(at.end(), e.path.begin(), e.path.end());
      error(at, e.message, e.at_key);
    }
    if (!errors.empty()) return;
    out.spec = spec;
    // The plain form's glob lists, for display.
    auto globs = [](const json* v, std::vector<std::string>& to) {
      if (v && v->is_string()) to.push_back(v->get<std::string>());
      if (v && v->is_array() &&
          std::all_of(v->begin(), v->end(), [](const json& x) { return x.is_string(); }))
        for (const auto& x : *v)
          to.push_back(x.get<std::string>());
    };
    globs(spec.contains("type") ? &spec["type"] : nullptr, out.types);
    globs(spec.contains("subject") ? &spec["subject"] : nullptr, out.subjects);
    if (spec.contains("attributes") && spec["attributes"].is_object())
      for (const auto& [key, value] : spec["attributes"].items()) {
        std::vector<std::string> list;
        globs(&value, list);
        if (!list.empty()) out.attributes[key] = list;
      }
  }

  // Sources and sinks share one namespace: a route's `from`/`to` would be ambiguous otherwise.
  void check_names(const PipelineConfig& pc) {
    for (const auto& sink : pc.sinks) {
      auto source = std::find_if(pc.sources.begin(), pc.sources.end(),
                                 [&](const SourceConfig& s) { return s.name == sink.name; });
      if (source == pc.sources.end()) continue;
      bool sink_later = std::tie(sink.mark.line, sink.mark.column) >
                        std::tie(source->mark.line, source->mark.column);
      const Mark& first = sink_later ? source->mark : sink.mark;
      error({sink_later ? "sinks" : "sources", sink.name},
            "the name '" + sink.name + "' is already used by a " +
                (sink_later ? "source" : "sink") + " (line " + std::to_string(first.line) +
                "); sources and sinks share one set of names",
            true);
    }
  }

  struct PluginEntry {
    std::optional<PluginSchemaInfo> info;
    std::string error;
    std::shared_ptr<SchemaChecker> checker;  // null: the plugin declares no schema
    std::string schema_error;
  };

  PluginEntry& plugin(const std::string& name, const std::vector<std::string>& paths) {
    auto it = plugins_.find(name);
    if (it != plugins_.end()) return it->second;
    PluginEntry& e = plugins_[name];
    try {
      e.info = lookup_ ? lookup_(name, paths, &e.error) : std::nullopt;
    } catch (const std::exception& ex) {
      e.info.reset();
      e.error = ex.what();
    }
    if (!e.info) {
      if (e.error.empty()) e.error = "plugin '" + name + "' not found";
      return e;
    }
    if (e.info->options_schema.empty()) return e;
    try {
      e.checker = std::make_shared<SchemaChecker>(json::parse(e.info->options_schema));
    } catch (const std::exception& ex) {
      e.schema_error = "plugin '" + name + "'" +
                       (e.info->file.empty() ? "" : " (" + e.info->file + ")") +
                       " declares an options schema that cannot be used: " + ex.what();
    }
    return e;
  }

  // Checks one instance's options; returns them with defaults filled when they are valid.
  void check_instance(const Path& p, const std::string& plugin_name, bool want_sink,
                      const std::vector<std::string>& plugin_paths, json& options) {
    Path plugin_path = child(p, "plugin");
    if (plugin_name.empty() || bad_.count(pointer(plugin_path))) return;
    PluginEntry& e = plugin(plugin_name, plugin_paths);
    if (!e.info) {
      std::string message = e.error;
      if (message.find(plugin_name) == std::string::npos)
        message = "plugin '" + plugin_name + "': " + message;
      error(plugin_path, message);
      return;
    }
    if (e.info->is_sink != want_sink) {
      error(plugin_path, "'" + plugin_name + "' is a " + (e.info->is_sink ? "sink" : "source") +
                             " plugin; a " + (want_sink ? "sink" : "source") + " needs a " +
                             (want_sink ? "sink" : "source") + " plugin");
      return;
    }
    if (!e.schema_error.empty()) {
      error(plugin_path, e.schema_error);
      return;
    }
    Path options_path = child(p, "options");
    if (bad_.count(pointer(options_path))) return;
    if (e.checker) {
      // Before the check, so that an invalid secret is hidden in the errors about it too.
      std::vector<Path> secret_paths = collect_secrets(e.checker->schema(), options, options_path);
      std::vector<SchemaError> errors = e.checker->check(options);
      if (!errors.empty()) {
        report(options_path, errors);
        return;
      }
      e.checker->fill_defaults(options);
      resolve_paths(e.checker->schema(), options, options_path);
      warn_insecure(e.checker->schema(), options, options_path, secret_paths);
    }
    if (e.info->check_options) check_with_plugin(p, plugin_name, *e.info, options);
  }

  // The plugin's own check (ABI 1.1 check_options) of options the schema accepted, as create()
  // would get them: each problem at the line and column of the option its pointer names, or of
  // the nearest enclosing key in the file (an option left to its default: `options:`, or the
  // instance).
  void check_with_plugin(const Path& p, const std::string& plugin_name,
                         const PluginSchemaInfo& info, const json& options) {
    const std::string options_pointer = pointer(child(p, "options"));
    for (const auto& b : bad_)  // a value whose ${...} failed: said once already
      if (b.rfind(options_pointer, 0) == 0) return;
    const std::string instance = config::human_path(doc_.root, p);
    OptionProblems problems;
    try {
      problems = info.check_options(options.dump());
    } catch (const std::exception& ex) {
      error(child(p, "plugin"),
            "plugin '" + plugin_name + "'" + (info.file.empty() ? "" : " (" + info.file + ")") +
                " could not check the options of " + instance + ": " + ex.what());
      return;
    }
    for (const auto& problem : problems) {
      if (placeholder(options_pointer + problem.pointer)) continue;  // --no-secrets
      Diagnostic d;
      d.mark = key_mark(options_pointer + problem.pointer);
      if (d.mark.file.empty()) d.mark.file = path_;
      d.message = instance + ": " + problem.message;
      ++errors_;
      diagnostics_.push_back(std::move(d));
    }
  }

  // The mark of the key that names `json_pointer` (of the value, for an item of a list), or of
  // the nearest ancestor that is in the file.
  Mark key_mark(std::string json_pointer) const {
    for (;;) {
      if (auto it = doc_.marks.find(json_pointer); it != doc_.marks.end()) {
        if (it->second.key.line > 0) return it->second.key;
        if (it->second.value.line > 0) return it->second.value;
      }
      if (json_pointer.empty()) return doc_.mark_of("");
      json_pointer.erase(json_pointer.rfind('/'));
    }
  }

  // ---- secrets and insecure settings, as the plugin's schema marks them ------------------
  //
  // `"writeOnly": true` (JSON Schema's annotation for passwords) marks a secret option; its value
  // is hidden everywhere. `"x-sluice-cleartext": S` on an option says that a value matching the
  // schema S makes the plugin talk without TLS (`transport: tcp`, an http:// URL);
  // `"x-sluice-unverified": S` that it turns certificate verification off (`tls.verify: false`).

  using Visit = std::function<void(const json& schema, const json& value, const Path& at)>;

  // Every schema node that applies to `value`, through properties, additionalProperties, items,
  // allOf/anyOf/oneOf, if/then/else (both branches) and local $ref. Bounded in depth and in
  // visits, so that a recursive or branching schema costs little.
  static void walk_schema(const json& root, const json& schema, const json& value, const Path& at,
                          const Visit& visit) {
    size_t budget = 20000;
    walk_schema(root, schema, value, at, visit, 0, budget);
  }
  static void walk_schema(const json& root, const json& schema, const json& value, const Path& at,
                          const Visit& visit, int depth, size_t& budget) {
    if (depth > 32 || budget == 0 || !schema.is_object()) return;
    --budget;
    visit(schema, value, at);
    if (auto ref = schema.find("$ref"); ref != schema.end() && ref->is_string()) {
      const std::string& r = ref->get_ref<const std::string&>();
      if (r.rfind('#', 0) == 0) {
        try {
          walk_schema(root, root.at(json::json_pointer(r.substr(1))), value, at, visit, depth + 1,
                      budget);
        } catch (const std::exception&) {
        }
      }
    }
    for (const char* key : {"allOf", "anyOf", "oneOf"})
      if (auto list = schema.find(key); list != schema.end() && list->is_array())
        for (const auto& sub : *list)
          walk_schema(root, sub, value, at, visit, depth + 1, budget);
    for (const char* key : {"then", "else"})
      if (auto sub = schema.find(key); sub != schema.end())
        walk_schema(root, *sub, value, at, visit, depth + 1, budget);
    if (value.is_object()) {
      auto props = schema.find("properties");
      auto extra = schema.find("additionalProperties");
      for (auto& [key, v] : value.items()) {
        if (props != schema.end() && props->is_object() && props->contains(key))
          walk_schema(root, (*props)[key], v, child(at, key), visit, depth + 1, budget);
        else if (extra != schema.end() && extra->is_object())
          walk_schema(root, *extra, v, child(at, key), visit, depth + 1, budget);
      }
    } else if (value.is_array()) {
      auto items = schema.find("items");
      if (items == schema.end()) return;
      for (size_t i = 0; i < value.size(); ++i) {
        const json* sub =
            items->is_array() ? (i < items->size() ? &(*items)[i] : nullptr) : &*items;
        if (sub)
          walk_schema(root, *sub, value[i], child(at, std::to_string(i)), visit, depth + 1, budget);
      }
    }
  }

  // `"x-sluice-path": true` marks an option that names a file or directory: a relative one is
  // made absolute against the pipeline file's folder here, once for every plugin, so that the
  // plugin's check, create() and the messages about it all see the same file whatever the
  // working directory.
  void resolve_paths(const json& schema, json& options, const Path& base) {
    std::vector<Path> found;
    walk_schema(schema, schema, options, base, [&](const json& s, const json& v, const Path& at) {
      auto marked = s.find("x-sluice-path");
      if (marked == s.end() || *marked != true || !v.is_string() ||
          v.get_ref<const std::string&>().empty())
        return;
      if (placeholder(pointer(at))) return;  // --no-secrets: not a real value
      if (std::find(found.begin(), found.end(), at) == found.end()) found.push_back(at);
    });
    for (const auto& at : found) {
      json& v = options.at(json::json_pointer(pointer(Path(at.begin() + base.size(), at.end()))));
      v = resolve(v.get<std::string>());
    }
  }

  // Records the values of secret options; returns their paths. Warns about a secret too short
  // to be hidden safely (core/redact.hpp).
  std::vector<Path> collect_secrets(const json& schema, const json& options, const Path& base) {
    std::vector<Path> paths;
    walk_schema(schema, schema, options, base, [&](const json& s, const json& v, const Path& at) {
      auto marked = s.find("writeOnly");
      if (marked == s.end() || *marked != true || v.is_object() || v.is_array() || v.is_null())
        return;
      if (std::find(paths.begin(), paths.end(), at) != paths.end()) return;
      if (placeholder(pointer(at))) {  // --no-secrets: no value to hide, but a secret all the same
        paths.push_back(at);
        return;
      }
      std::string value = v.is_string() ? v.get<std::string>() : v.dump();
      if (value.empty()) return;
      paths.push_back(at);
      if (std::find(secrets_.begin(), secrets_.end(), value) == secrets_.end())
        secrets_.push_back(value);
      if (value.size() < kMinSubstringSecret)
        add(Diagnostic::Severity::warning, at, false,
            "this secret is shorter than " + std::to_string(kMinSubstringSecret) +
                " characters: logs hide it only where it stands alone as a word, not inside "
                "longer text (where hiding it would garble the text and give it away); use a "
                "longer one",
            false);
    });
    return paths;
  }

  static bool matches(const json& marker, const json& value) {
    try {
      return SchemaChecker(marker).check(value).empty();
    } catch (const std::exception&) {
      return false;  // a marker that is not a schema marks nothing
    }
  }

  // Clear-text credentials and unverified TLS: warnings from `validate` and at every start.
  void warn_insecure(const json& schema, const json& options, const Path& base,
                     const std::vector<Path>& secret_paths) {
    std::string secrets;
    for (const auto& sp : secret_paths)
      secrets += (secrets.empty() ? "" : ", ") +
                 config::human_path(options, Path(sp.begin() + base.size(), sp.end()));
    std::set<std::pair<Path, std::string>> said;
    walk_schema(schema, schema, options, base, [&](const json& s, const json& v, const Path& at) {
      for (const char* kind : {"x-sluice-cleartext", "x-sluice-unverified"}) {
        auto marker = s.find(kind);
        if (marker == s.end() || !matches(*marker, v) || !said.insert({at, kind}).second) continue;
        if (std::string(kind) == "x-sluice-cleartext") {
          if (secrets.empty()) continue;
          add(Diagnostic::Severity::warning, at, false,
              "no TLS: this connection is clear text and carries credentials (" + secrets +
                  "): anyone on the network path can read or replay them",
              false);
        } else {
          add(Diagnostic::Severity::warning, at, false,
              "TLS certificate verification is off: anyone on the network path can pose as the "
              "peer" +
                  (secrets.empty() ? std::string() : " and receive " + secrets),
              false);
        }
      }
    });
  }

  void check_plugins(PipelineConfig& pc) {
    for (auto& s : pc.sources)
      check_instance({"sources", s.name}, s.plugin, false, pc.plugin_paths, s.options);
    for (auto& s : pc.sinks)
      check_instance({"sinks", s.name}, s.plugin, true, pc.plugin_paths, s.options);
  }

  // log.components names "core", an instance or a plugin the pipeline uses.
  void check_log_components(PipelineConfig& pc) {
    std::vector<std::string> known{"core"};
    auto add_known = [&known](const std::string& name) {
      if (!name.empty() && std::find(known.begin(), known.end(), name) == known.end())
        known.push_back(name);
    };
    for (const auto& s : pc.sources)
      add_known(s.name);
    for (const auto& s : pc.sinks)
      add_known(s.name);
    for (const auto& s : pc.sources)
      add_known(s.plugin);
    for (const auto& s : pc.sinks)
      add_known(s.plugin);
    for (auto it = pc.log.components.begin(); it != pc.log.components.end();) {
      if (std::find(known.begin(), known.end(), it->first) != known.end()) {
        ++it;
        continue;
      }
      std::string best = config::closest(it->first, known);
      error({"log", "components", it->first},
            "unknown component '" + it->first + "' (" +
                (best.empty() ? "components: " + join(known) : "did you mean '" + best + "'?") +
                ")",
            true);
      it = pc.log.components.erase(it);
    }
  }

  void check_routes(const PipelineConfig& pc) {
    const json* routes = at({"routes"});
    if (routes && routes->is_array() && routes->empty()) {
      error({"routes"},
            "there are no routes; at least one must take events from a source to a sink");
      return;
    }
    std::set<std::string> sources, sinks, read, fed;
    for (const auto& s : pc.sources)
      sources.insert(s.name);
    for (const auto& s : pc.sinks)
      sinks.insert(s.name);
    std::map<std::string, size_t> route_names;
    for (size_t i = 0; routes && routes->is_array() && i < routes->size(); ++i) {
      Path p{"routes", std::to_string(i)};
      const json& route = (*routes)[i];
      if (!route.is_object()) continue;
      if (auto name = usable(child(p, "name"), json::value_t::string)) {
        auto [it, inserted] = route_names.emplace(name->get<std::string>(), i);
        if (!inserted)
          error(child(p, "name"), "the route name '" + it->first + "' is already used by routes[" +
                                      std::to_string(it->second) + "]");
      }
      check_ends(child(p, "from"), sources, sinks, "source", read);
      check_ends(child(p, "to"), sinks, sources, "sink", fed);
    }
    if (!routes || !routes->is_array() || routes->empty()) return;
    for (const auto& s : pc.sources)
      if (!read.count(s.name))
        warning({"sources", s.name}, "source '" + s.name + "' is not read by any route", true);
    for (const auto& s : pc.sinks)
      if (!fed.count(s.name))
        warning({"sinks", s.name}, "sink '" + s.name + "' is not fed by any route", true);
  }

  void check_ends(const Path& p, const std::set<std::string>& wanted,
                  const std::set<std::string>& others, const std::string& kind,
                  std::set<std::string>& used) {
    const json* v = at(p);
    if (!v || bad_.count(pointer(p))) return;
    auto one = [&](const std::string& name, const Path& where) {
      used.insert(name);
      if (wanted.count(name)) return;
      std::string other = kind == "source" ? "sink" : "source";
      if (others.count(name)) {
        error(where, "'" + name + "' is a " + other + ", not a " + kind);
      } else {
        std::vector<std::string> known(wanted.begin(), wanted.end());
        error(where, "unknown " + kind + " '" + name + "'" +
                         (known.empty() ? " (there are no " + kind + "s)"
                                        : " (" + kind + "s: " + join(known) + ")"));
      }
    };
    if (v->is_string()) one(v->get<std::string>(), p);
    if (v->is_array())
      for (size_t i = 0; i < v->size(); ++i)
        if ((*v)[i].is_string()) one((*v)[i].get<std::string>(), child(p, std::to_string(i)));
  }

  std::string path_;
  const PluginSchemaLookup& lookup_;
  std::optional<std::string> text_;
  config::LoadOptions options_;
  std::set<std::string> placeholders_;  // pointers of values --no-secrets left unresolved
  std::filesystem::path dir_;
  config::YamlDocument doc_;
  std::vector<Diagnostic> diagnostics_;
  std::vector<std::string> secrets_;
  std::set<std::string> bad_;  // pointers already reported: no second complaint about them
  std::map<std::string, PluginEntry> plugins_;
  size_t errors_ = 0;
};

LoadResult load_guarded(const std::string& path, const PluginSchemaLookup& lookup,
                        std::optional<std::string> text,
                        const config::LoadOptions& options = config::LoadOptions()) {
  try {
    return Loader(path, lookup, std::move(text), options).run();
  } catch (const std::exception& e) {
    // Not expected; a bug here must still not take `sluice validate` down with a stack trace.
    // The fuzzer wants to see it, though.
#ifdef SLUICE_CONFIG_FUZZING
    throw;
#endif
    LoadResult result;
    result.diagnostics.push_back({Diagnostic::Severity::error, Mark{path, 0, 0},
                                  std::string("internal error while loading: ") + e.what()});
    return result;
  }
}

}  // namespace

std::map<std::string, std::string, std::less<>> component_log_levels(const PipelineConfig& pc) {
  std::map<std::string, std::string, std::less<>> out;
  const auto& wanted = pc.log.components;
  if (auto it = wanted.find("core"); it != wanted.end()) out["core"] = it->second;
  auto instance = [&](const std::string& name, const std::string& plugin) {
    if (auto own = wanted.find(name); own != wanted.end())
      out[name] = own->second;
    else if (auto by_plugin = wanted.find(plugin); by_plugin != wanted.end())
      out[name] = by_plugin->second;
  };
  for (const auto& s : pc.sources)
    instance(s.name, s.plugin);
  for (const auto& s : pc.sinks)
    instance(s.name, s.plugin);
  return out;
}

LoadResult load_pipeline(const std::string& path, const PluginSchemaLookup& lookup) {
  return load_guarded(path, lookup, std::nullopt);
}

namespace config {
LoadResult load_pipeline_text(const std::string& text, const std::string& path,
                              const PluginSchemaLookup& lookup) {
  return load_guarded(path, lookup, text);
}
LoadResult load_pipeline(const std::string& path, const PluginSchemaLookup& lookup,
                         const LoadOptions& options) {
  return load_guarded(path, lookup, std::nullopt, options);
}
}  // namespace config

}  // namespace sluice::core
