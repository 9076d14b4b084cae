// A plugin whose create always fails (its constructor throws).
#include <sluice/sdk.hpp>

#include <stdexcept>

class CreateFails : public sluice::Source {
 public:
  CreateFails(sluice::Host host, const nlohmann::json&) : sluice::Source(host) {
    throw std::runtime_error("this plugin always fails to create");
  }
};

SLUICE_PLUGIN(CreateFails, "create_fails", "0.0.1", "Test plugin: create throws",
              R"({"type":"object"})")
