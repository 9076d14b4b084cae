// Internal entry points of the pipeline loader (the public one is load_pipeline() in config.hpp).
#pragma once

#include <string>

#include <sluice/core/config.hpp>

namespace sluice::core::config {

// load_pipeline() on text already in memory; `path` names the file in diagnostics and is where
// relative paths start. For the fuzzer and for reloads that already hold the text.
LoadResult load_pipeline_text(const std::string& text, const std::string& path,
                              const PluginSchemaLookup& lookup);

struct LoadOptions {
  // `sluice validate --no-secrets`: a ${NAME} or ${file:PATH} that cannot be resolved is a
  // warning instead of an error; the value keeps the reference's text, and nothing about that
  // value is checked (not its schema, not the plugin's check of that option).
  bool secret_placeholders = false;
};
LoadResult load_pipeline(const std::string& path, const PluginSchemaLookup& lookup,
                         const LoadOptions& options);

}  // namespace sluice::core::config
