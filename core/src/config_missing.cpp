// Linked only while core/src/config/ has no loader yet: `validate` and `run` say so.
#include <sluice/core/config.hpp>

namespace sluice::core {

LoadResult load_pipeline(const std::string& path, const PluginSchemaLookup&) {
  LoadResult r;
  Diagnostic d;
  d.mark.file = path;
  d.message = "this build has no pipeline loader (core/src/config is missing)";
  r.diagnostics.push_back(d);
  return r;
}

}  // namespace sluice::core
