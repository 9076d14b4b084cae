// sluice/event_template.hpp: the {placeholder} templates of the webhook's headers and bulk
// metadata, the kafka sink's topic and key and the syslog sink's text body; and
// sluice/option_problem.hpp's pointer_token, the pointer to a key of a free-form option mapping.
#include <sluice/event.hpp>
#include <sluice/event_template.hpp>
#include <sluice/option_problem.hpp>

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

using sluice::expand_template;

TEST_CASE("expand_template replaces the four names and leaves the rest") {
  sluice::Event e;
  e.id = "42";
  e.source = "hmc://h1";
  e.type = "hmc.os-message";
  e.subject = "/api/lpars/x";
  const std::vector<sluice::Event> ev{e};
  sluice::EventViews v(ev);
  CHECK(expand_template("{type}|{source}|{subject}|{id}|{other}|{", v.data()[0]) ==
        "hmc.os-message|hmc://h1|/api/lpars/x|42|{other}|{");
  CHECK(expand_template("}{}{{id}}", v.data()[0]) == "}{}{42}");
  e.subject.reset();
  const std::vector<sluice::Event> ew{e};
  sluice::EventViews w(ew);
  CHECK(expand_template("s={subject}", w.data()[0]) == "s=");
}

TEST_CASE("expand_template: {attr:NAME} is the attribute's value, empty when the event has none") {
  sluice::Event e;
  e.id = "1";
  e.source = "s";
  e.type = "t";
  e.attribute("cpc-name", "CPC1");
  const std::vector<sluice::Event> ev{e};
  sluice::EventViews v(ev);
  CHECK(expand_template("{attr:cpc-name}/{attr:lpar}/{attr:}", v.data()[0]) == "CPC1//");
}

TEST_CASE("expand_template: a plugin's own names come first, the common ones still work") {
  sluice::Event e;
  e.id = "7";
  e.source = "s";
  e.type = "t";
  const std::vector<sluice::Event> ev{e};
  sluice::EventViews v(ev);
  std::vector<std::string> asked;
  auto extra = [&](std::string_view name, std::string& out) {
    asked.emplace_back(name);
    if (name == "time") {
      out += "T";
      return true;
    }
    if (name == "id") {  // a plugin may give a common name its own meaning
      out += "own-id";
      return true;
    }
    return false;
  };
  CHECK(expand_template("{time} {id} {type} {nope} {", v.data()[0], extra) ==
        "T own-id t {nope} {");
  CHECK(asked == std::vector<std::string>{"time", "id", "type", "nope"});
  // Without the plugin's names, {time} is other text.
  CHECK(expand_template("{time}", v.data()[0]) == "{time}");
}

TEST_CASE("pointer_token: '~' and '/' escaped as RFC 6901 says, the rest as it is") {
  CHECK(sluice::pointer_token("X-Trace") == "X-Trace");
  CHECK(sluice::pointer_token("a/b~c") == "a~1b~0c");
  CHECK(sluice::pointer_token("~1") == "~01");  // not "~1": that would read back as "/"
  CHECK(sluice::pointer_token("") == "");
  CHECK(sluice::option_name("/headers/" + sluice::pointer_token("a/b~c")) == "headers.a/b~c");
}
