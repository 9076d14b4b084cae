// The fake ldmd (sdk/fakes/ldmd) and this plugin agree on the documents: every action the fake
// can send is read by the plugin's mapper as the class and domain it stands for. (Moved here from
// the fake's own tests: the SDK, fakes included, uses no plugin code.)
#include <doctest/doctest.h>

#include <sluice/fakes/ldmd.hpp>

#include "ldm_event_mapper.hpp"

namespace ldmd = sluice::fakes::ldmd;

TEST_CASE("every documented action the fake renders is a document the plugin's mapper reads") {
  sluice::ldm::EventMapper mapper("h");
  auto steps = ldmd::every_action_script("ldg4");
  CHECK(steps.size() == 9 + 42 + 3 + 1);
  for (const auto& step : steps) {
    CAPTURE(step.action);
    sluice::Event e = mapper.map(ldmd::render_event(step), "1");
    CHECK(e.type == "ldm." + ldmd::event_class(step) + "." + step.action);
    if (ldmd::event_class(step) == "hardware")
      CHECK_FALSE(e.subject);
    else
      CHECK(*e.subject == "ldg4");
  }
}
