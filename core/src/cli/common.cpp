#include "cli.hpp"

#include <sluice/core/redact.hpp>

#include "../config/loader.hpp"

#include <cstdio>
#include <iostream>
#include <stdexcept>

namespace po = boost::program_options;

namespace sluice::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> list = {
      {"run", "PIPELINE", "run a pipeline until SIGINT/SIGTERM", &cmd_run},
      {"validate", "PIPELINE", "check a pipeline file; list every error", &cmd_validate,
       "sluice validate PIPELINE [--no-secrets] [OPTIONS]"},
      {"plugins", "[--path DIR...]", "list the plugins found and their options", &cmd_plugins},
      {"dlq", "replay|stats FILE ...",
       "dead-letter files: send the events to a sink again, or count them", &cmd_dlq,
       "sluice dlq replay FILE (-p|--pipeline) PIPELINE --to SINK [OPTIONS]\n"
       "       sluice dlq stats FILE [OPTIONS]"},
      {"tap", "PIPELINE", "print the live events of a running pipeline (its admin server)",
       &cmd_tap, "sluice tap PIPELINE [--source NAME] [--sink NAME] [--type GLOB] [--rate N]"},
      {"top", "PIPELINE", "a live view of a running pipeline's sources and sinks", &cmd_top},
  };
  return list;
}

const Command& command(const char* name) {
  for (const auto& c : commands())
    if (std::string(c.name) == name) return c;
  throw std::logic_error(std::string("no command ") + name);
}

po::options_description logging_options(std::string* level, std::string* format) {
  po::options_description o("Logging");
  // Checked while parsing, so that every command refuses an unknown value the same way (exit 2).
  o.add_options()(
      "log-level", po::value(level)->value_name("LEVEL")->notifier([](const std::string& v) {
        if (!core::parse_log_level(v))
          throw po::error("unknown log level '" + v + "' (trace, debug, info, warn, error)");
      }),
      "trace, debug, info, warn or error (overrides the pipeline's log.level)")(
      "log-format", po::value(format)->value_name("FORMAT")->notifier([](const std::string& v) {
        if (!core::parse_log_format(v))
          throw po::error("unknown log format '" + v + "' (text, json)");
      }),
      "text or json (overrides the pipeline's log.format)");
  return o;
}

bool apply_logging(core::Logger& log, const std::string& pipeline_level,
                   const std::string& pipeline_format, const std::string& cli_level,
                   const std::string& cli_format) {
  const std::string& level = cli_level.empty() ? pipeline_level : cli_level;
  const std::string& format = cli_format.empty() ? pipeline_format : cli_format;
  auto l = core::parse_log_level(level.empty() ? "info" : level);
  auto f = core::parse_log_format(format.empty() ? "text" : format);
  if (!l) {
    fprintf(stderr, "sluice: unknown log level '%s' (trace, debug, info, warn, error)\n",
            level.c_str());
    return false;
  }
  if (!f) {
    fprintf(stderr, "sluice: unknown log format '%s' (text, json)\n", format.c_str());
    return false;
  }
  log.set_level(*l);
  log.set_format(*f);
  return true;
}

void apply_component_levels(core::Logger& log, const core::PipelineConfig& pipeline) {
  core::Logger::ComponentLevels levels;
  for (const auto& [name, level] : core::component_log_levels(pipeline))
    if (auto l = core::parse_log_level(level)) levels[name] = *l;  // the loader checked it
  log.set_component_levels(std::move(levels));
}

std::string usage_line(const Command& cmd) {
  if (cmd.usage && *cmd.usage) return cmd.usage;
  return std::string("sluice ") + cmd.name + " " + cmd.args;
}

void print_usage(const Command& cmd, const po::options_description& options) {
  std::cout << "Usage: " << usage_line(cmd) << "\n\n"
            << cmd.summary << "\n\n"
            << options << std::flush;
}

int parse(const std::vector<std::string>& args, const Command& cmd,
          const po::options_description& options,
          const po::positional_options_description& positional, po::variables_map& vm,
          const po::options_description* hidden) {
  try {
    po::options_description all;
    all.add(options);
    if (hidden) all.add(*hidden);
    po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
    if (vm.count("help")) {
      print_usage(cmd, options);
      return -1;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::string what = e.what();
    // A positional argument is named as the usage line names it, not as its hidden option.
    if (auto* missing = dynamic_cast<const po::required_option*>(&e); missing && hidden) {
      std::string name = missing->get_option_name();
      name.erase(0, name.find_first_not_of('-'));
      if (const auto* o = hidden->find_nothrow(name, false))
        what = "missing " + (o->semantic()->name().empty() ? name : o->semantic()->name());
    }
    std::cerr << "sluice " << cmd.name << ": " << what << "\n"
              << "Usage: " << usage_line(cmd) << "  (see `sluice " << cmd.name << " --help`)\n";
    return kUsage;
  }
  return kOk;
}

int parse_pipeline_command(const std::vector<std::string>& args, const Command& cmd,
                           std::string* pipeline_path, std::string* level, std::string* format,
                           const po::options_description* extra) {
  po::options_description options("Options");
  options.add_options()("help,h", "this text");
  if (extra) options.add(*extra);
  options.add(logging_options(level, format));
  po::options_description hidden;
  hidden.add_options()("pipeline", po::value(pipeline_path)->required()->value_name("PIPELINE"),
                       "the pipeline file (YAML)");
  po::positional_options_description positional;
  positional.add("pipeline", 1);
  po::variables_map vm;
  return parse(args, cmd, options, positional, vm, &hidden);
}

Loaded load_and_report(const std::string& pipeline_path, core::PluginHost& plugins,
                       const DiagnosticReport& report, bool no_secrets) {
  core::config::LoadOptions load_options;
  load_options.secret_placeholders = no_secrets;
  Loaded loaded{core::config::load_pipeline(pipeline_path, plugins.schema_lookup(), load_options)};
  const std::vector<std::string> none;
  const auto& secrets = loaded.result.pipeline ? loaded.result.pipeline->secrets : none;
  for (const auto& d : loaded.result.diagnostics) {
    (d.severity == core::Diagnostic::Severity::error ? loaded.errors : loaded.warnings)++;
    std::string line = core::redact(d.to_string(), secrets);
    if (report)
      report(d.severity, line);
    else
      fprintf(stderr, "%s\n", line.c_str());
  }
  return loaded;
}

}  // namespace sluice::cli
