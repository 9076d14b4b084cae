#include "cli.hpp"

#include <sluice/core/redact.hpp>

#include <cstdio>
#include <iostream>
#include <stdexcept>

namespace po = boost::program_options;

namespace sluice::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> list = {
      {"run", "PIPELINE", "run a pipeline until SIGINT/SIGTERM", &cmd_run},
      {"validate", "PIPELINE", "check a pipeline file; list every error", &cmd_validate},
      {"plugins", "[--path DIR...]", "list the plugins found and their options", &cmd_plugins},
      {"dlq", "replay FILE ...", "send the events of a dead-letter file to a sink again", &cmd_dlq},
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
  o.add_options()("log-level", po::value(level)->value_name("LEVEL"),
                  "trace, debug, info, warn or error (overrides the pipeline's log.level)")(
      "log-format", po::value(format)->value_name("FORMAT"),
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

void print_usage(const Command& cmd, const po::options_description& options) {
  std::cout << "Usage: sluice " << cmd.name << " " << cmd.args << "\n\n"
            << cmd.summary << "\n\n"
            << options << std::flush;
}

int parse(const std::vector<std::string>& args, const Command& cmd,
          const po::options_description& options,
          const po::positional_options_description& positional, po::variables_map& vm) {
  try {
    po::store(po::command_line_parser(args).options(options).positional(positional).run(), vm);
    if (vm.count("help")) {
      print_usage(cmd, options);
      return -1;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "sluice " << cmd.name << ": " << e.what() << "\n"
              << "Usage: sluice " << cmd.name << " " << cmd.args << "  (see `sluice " << cmd.name
              << " --help`)\n";
    return kUsage;
  }
  return kOk;
}

int parse_pipeline_command(const std::vector<std::string>& args, const Command& cmd,
                           std::string* pipeline_path, std::string* level, std::string* format) {
  po::options_description options("Options");
  options.add_options()("help,h", "this text")(
      "pipeline", po::value(pipeline_path)->required()->value_name("PIPELINE"),
      "the pipeline file (YAML)");
  options.add(logging_options(level, format));
  po::positional_options_description positional;
  positional.add("pipeline", 1);
  po::variables_map vm;
  return parse(args, cmd, options, positional, vm);
}

Loaded load_and_report(const std::string& pipeline_path, core::PluginHost& plugins,
                       const DiagnosticReport& report) {
  Loaded loaded{core::load_pipeline(pipeline_path, plugins.schema_lookup())};
  const std::vector<std::string> no_secrets;
  const auto& secrets = loaded.result.pipeline ? loaded.result.pipeline->secrets : no_secrets;
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
