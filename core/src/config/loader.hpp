// Internal entry points of the pipeline loader (the public one is load_pipeline() in config.hpp).
#pragma once

#include <string>

#include <sluice/core/config.hpp>

namespace sluice::core::config {

// load_pipeline() on text already in memory; `path` names the file in diagnostics and is where
// relative paths start. For the fuzzer and for reloads that already hold the text.
LoadResult load_pipeline_text(const std::string& text, const std::string& path,
                              const PluginSchemaLookup& lookup);

}  // namespace sluice::core::config
