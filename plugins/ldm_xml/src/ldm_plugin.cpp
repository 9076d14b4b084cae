// The ldm_xml source plugin: LDoms events from ldmd's XML interface. See README.md.
#include "ldm_client.hpp"

#include <sluice/sdk.hpp>

namespace {

class LdmSource : public sluice::Source {
 public:
  LdmSource(sluice::Host host, const nlohmann::json& options)
      : sluice::Source(host), client_(host, sluice::ldm::ClientOptions::from_json(options)) {}

  // Plugin ABI 1.1 (`sluice validate`, and `sluice run` before create): everything create()
  // and start() would refuse from these options, with the same messages.
  static sluice::OptionProblems check_options(const nlohmann::json& options) {
    return sluice::ldm::check_options(options);
  }

  void start() override { client_.start(); }
  void stop() override { client_.stop(); }

 private:
  sluice::ldm::Client client_;
};

}  // namespace

SLUICE_PLUGIN(LdmSource, "ldm_xml", "1.0.0",
              "LDoms (Oracle VM Server for SPARC) events from ldmd's XML interface",
              sluice::ldm::options_schema())
