// Placeholder entry point; replaced by the source below once it exists.
#include "options.hpp"

#include <sluice/sdk.hpp>

class HmcStompPlaceholder : public sluice::Source {
 public:
  HmcStompPlaceholder(sluice::Host host, const nlohmann::json& options) : sluice::Source(host) {
    hmc::Options::from_json(options);
  }
};

SLUICE_PLUGIN(HmcStompPlaceholder, "hmc_stomp", "0.1.0", "IBM Z HMC notifications over STOMP",
              hmc::options_schema())
