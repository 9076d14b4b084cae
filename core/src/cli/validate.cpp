// sluice validate PIPELINE: every error as file:line:column, exit 0 only when the file is valid.
#include "cli.hpp"

#include <sluice/core/config.hpp>
#include <sluice/core/plugin_host.hpp>

#include <cstdio>

namespace sluice::cli {

int cmd_validate(const std::vector<std::string>& args) {
  const Command& cmd = command("validate");
  std::string pipeline_path, level, format;
  bool no_secrets = false;
  boost::program_options::options_description extra;
  extra.add_options()("no-secrets", boost::program_options::bool_switch(&no_secrets),
                      "check without the secrets: a ${NAME} or ${file:PATH} that cannot be "
                      "resolved is a warning, and what depends on its value is not checked "
                      "(for CI)");
  if (int rc = parse_pipeline_command(args, cmd, &pipeline_path, &level, &format, &extra);
      rc != kOk)
    return rc < 0 ? kOk : rc;

  core::PluginHost plugins(core::executable_dir());
  auto [result, errors, warnings] = load_and_report(pipeline_path, plugins, {}, no_secrets);
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
