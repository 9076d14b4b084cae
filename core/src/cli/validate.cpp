// sluice validate PIPELINE: every error as file:line:column, exit 0 only when the file is valid.
#include "cli.hpp"

#include <sluice/core/config.hpp>
#include <sluice/core/plugin_host.hpp>

#include <cstdio>

namespace po = boost::program_options;

namespace sluice::cli {

int cmd_validate(const std::vector<std::string>& args) {
  const Command& cmd = command("validate");
  std::string pipeline_path, level, format;
  po::options_description options("Options");
  options.add_options()("help,h", "this text")(
      "pipeline", po::value(&pipeline_path)->required()->value_name("PIPELINE"),
      "the pipeline file (YAML)");
  options.add(logging_options(&level, &format));
  po::positional_options_description positional;
  positional.add("pipeline", 1);
  po::variables_map vm;
  if (int rc = parse(args, cmd, options, positional, vm); rc != kOk) return rc < 0 ? kOk : rc;

  core::PluginHost plugins(core::executable_dir());
  auto [result, errors, warnings] = load_and_report(pipeline_path, plugins);
  if (errors || !result.pipeline) {
    fprintf(stderr, "%s: invalid (%d error(s), %d warning(s))\n", pipeline_path.c_str(),
            errors ? errors : 1, warnings);
    return kInvalid;
  }
  const auto& p = *result.pipeline;
  printf("%s: valid (%zu source(s), %zu sink(s), %zu route(s)%s)\n", pipeline_path.c_str(),
         p.sources.size(), p.sinks.size(), p.routes.size(),
         warnings ? (", " + std::to_string(warnings) + " warning(s)").c_str() : "");
  return kOk;
}

}  // namespace sluice::cli
