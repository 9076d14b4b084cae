// `sluice`: picks the command and hands it the remaining arguments; commands live in cli/.
#include "cli/cli.hpp"

#include <sluice/plugin.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

void print_help() {
  printf("Usage: sluice COMMAND [OPTIONS]\n\nCommands:\n");
  for (const auto& c : sluice::cli::commands())
    printf("  %-10s %-18s %s\n", c.name, c.args, c.summary);
  printf(
      "\nOptions:\n"
      "  -h, --help     this text (`sluice COMMAND --help` for a command's options)\n"
      "  --version      print the version and the plugin API version\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_help();
    return sluice::cli::kUsage;
  }
  const std::string first = argv[1];
  if (first == "--help" || first == "-h" || first == "help") {
    print_help();
    return sluice::cli::kOk;
  }
  if (first == "--version") {
    printf("sluice %s (plugin API %d.%d)\n", SLUICE_VERSION, SLUICE_API_VERSION_MAJOR,
           SLUICE_API_VERSION_MINOR);
    return sluice::cli::kOk;
  }
  for (const auto& c : sluice::cli::commands())
    if (first == c.name) return c.run(std::vector<std::string>(argv + 2, argv + argc));
  fprintf(stderr, "sluice: unknown command '%s'\n\n", argv[1]);
  print_help();
  return sluice::cli::kUsage;
}
