// The JSON Schema of the pipeline file itself, checked by the same validator as plugin options.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace sluice::core::config {

// Source and sink names: what routes, metrics and spool directories call them.
// Letters, digits, '_', '-' and '.', not starting with '-' or '.'.
bool valid_name(const std::string& name);

const nlohmann::json& pipeline_schema();

}  // namespace sluice::core::config
