// Must NOT compile: a sink class that defines neither deliver nor deliver_async
// (ctest sdk.sink_without_deliver_does_not_compile expects sdk.hpp's static_assert message).
#include <sluice/sdk.hpp>

class NoDeliver : public sluice::Sink {
 public:
  NoDeliver(sluice::Host host, const nlohmann::json&) : Sink(host) {}
};

SLUICE_PLUGIN(NoDeliver, "no_deliver", "0.0.1", "a sink that forgot deliver", "{}")
