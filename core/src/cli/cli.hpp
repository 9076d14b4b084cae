// The `sluice` command line: one function per command, dispatched by main.cpp.
#pragma once

#include <sluice/core/config.hpp>
#include <sluice/core/log.hpp>
#include <sluice/core/plugin_host.hpp>

#include <boost/program_options.hpp>

#include <functional>
#include <string>
#include <vector>

namespace sluice::cli {

// Exit codes shared by every command (docs/cli.md).
enum Exit : int {
  kOk = 0,
  kInvalid = 1,       // the pipeline (or a plugin) has errors
  kUsage = 2,         // the command line is wrong
  kRuntime = 3,       // the pipeline could not start
  kInterrupted = 130  // a second SIGINT ended `run` at once
};

struct Command {
  const char* name;
  const char* args;     // for the usage line, e.g. "PIPELINE"
  const char* summary;  // one line for `sluice --help`
  int (*run)(const std::vector<std::string>& args);
  // The full usage line(s) for `sluice CMD --help` and usage errors; empty: "sluice NAME ARGS".
  const char* usage = "";
};

// Every command, in the order `sluice --help` lists them. A new command is one more entry.
const std::vector<Command>& commands();

int cmd_run(const std::vector<std::string>& args);
int cmd_validate(const std::vector<std::string>& args);
int cmd_plugins(const std::vector<std::string>& args);
int cmd_dlq(const std::vector<std::string>& args);
int cmd_tap(const std::vector<std::string>& args);
int cmd_top(const std::vector<std::string>& args);

// --- helpers the commands share ------------------------------------------------------------

// --log-level and --log-format, accepted by every command.
boost::program_options::options_description logging_options(std::string* level,
                                                            std::string* format);
// Applies --log-level/--log-format (when given) over the pipeline's log settings.
// Returns false (after printing why) when a value is unknown.
bool apply_logging(core::Logger& log, const std::string& pipeline_level,
                   const std::string& pipeline_format, const std::string& cli_level,
                   const std::string& cli_format);

// Applies the pipeline's log.components (per-component levels). --log-level does not change
// them: it overrides only the global level (log.level).
void apply_component_levels(core::Logger& log, const core::PipelineConfig& pipeline);

// Parses args against options (with positional names); prints the error and usage on failure.
// `hidden` holds the options behind the positional arguments: accepted, not listed by --help
// (the usage line names them). An unknown --log-level or --log-format is a usage error here,
// for every command.
// Returns kOk, kUsage, or -1 when --help was printed (the caller returns kOk).
int parse(const std::vector<std::string>& args, const Command& cmd,
          const boost::program_options::options_description& options,
          const boost::program_options::positional_options_description& positional,
          boost::program_options::variables_map& vm,
          const boost::program_options::options_description* hidden = nullptr);

// Loads and checks a pipeline file, printing every diagnostic (secrets redacted) on stderr.
struct Loaded {
  core::LoadResult result;
  int errors = 0;
  int warnings = 0;
};
// Each diagnostic goes, already redacted, to `report` when given (`run` logs them on a reload),
// else to stderr as one line.
using DiagnosticReport = std::function<void(core::Diagnostic::Severity, const std::string& line)>;
// `no_secrets`: ${...} references that cannot be resolved stand in for their values, and what
// depends on them is not checked (`validate --no-secrets`).
Loaded load_and_report(const std::string& pipeline_path, core::PluginHost& plugins,
                       const DiagnosticReport& report = {}, bool no_secrets = false);

// Parses `sluice CMD PIPELINE [--log-level L] [--log-format F]`, the shape of run and validate,
// plus the command's own `extra` options. Same return convention as parse().
int parse_pipeline_command(const std::vector<std::string>& args, const Command& cmd,
                           std::string* pipeline_path, std::string* level, std::string* format,
                           const boost::program_options::options_description* extra = nullptr);

void print_usage(const Command& cmd, const boost::program_options::options_description& options);
// "sluice NAME ARGS", or the command's own usage lines.
std::string usage_line(const Command& cmd);
const Command& command(const char* name);

}  // namespace sluice::cli
