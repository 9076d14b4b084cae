// ldm_event_mapper: LDM_event XML (documented examples and their flaws) → sluice events.
#include <doctest/doctest.h>

#include "ldm_event_mapper.hpp"
#include "ldm_examples.hpp"

#include <nlohmann/json.hpp>

#include <string>

using nlohmann::json;
using sluice::Event;
using sluice::ldm::EventMapper;

namespace {

const EventMapper mapper("t5-primary");

Event map(const std::string& xml) {
  return mapper.map(xml, "t5-primary-1-1");
}

std::string attr(const Event& e, const char* key) {
  auto v = e.find_attribute(key);
  return v ? std::string(*v) : std::string("<absent>");
}

}  // namespace

TEST_CASE("a domain event: type, subject from ovf:id, attributes, data") {
  Event e = map(ldm_examples::kStartDomain);
  CHECK(e.id == "t5-primary-1-1");
  CHECK(e.source == "ldm://t5-primary");
  CHECK(e.type == "ldm.domain.start-domain");
  REQUIRE(e.subject);
  CHECK(*e.subject == "ldg1");
  CHECK(e.time_unix_ns == 0);
  CHECK(attr(e, "ldm-action") == "start-domain");
  CHECK(attr(e, "ldm-class") == "domain");
  CHECK(attr(e, "ldm-version") == "1.0");
  REQUIRE(e.data);
  CHECK(*e.data == R"({"domain":"ldg1","action":"start-domain","sections":[]})");
}

TEST_CASE("Example 22-5 (corrected): Section beside a self-closed Content, _type suffix") {
  Event e = map(ldm_examples::kExample225);
  CHECK(e.type == "ldm.other.Event command here");
  CHECK(*e.subject == "ldg1");
  CHECK(json::parse(*e.data) == json::parse(R"({
    "domain": "ldg1", "action": "Event command here",
    "sections": [{"type": "ResourceAllocationSection",
                  "items": [{"resource_type": "LDom Resource Type",
                             "properties": {"Property name": "Property Value"}}]}]})"));
}

TEST_CASE(
    "Example 22-5 as printed (\"<Envelope\" without '>') becomes sluice.parse-error with the raw "
    "XML") {
  Event e = map(ldm_examples::kExample225AsPrinted);
  CHECK(e.type == "sluice.parse-error");
  CHECK(e.source == "ldm://t5-primary");
  CHECK_FALSE(e.subject);
  json data = json::parse(*e.data);
  CHECK(data["raw"] == ldm_examples::kExample225AsPrinted);
  CHECK(data["error"].get<std::string>().rfind("not well-formed XML: ", 0) == 0);
}

TEST_CASE("Example 12-5: no <cmd>, properties straight inside the Section") {
  Event e = map(ldm_examples::kExample125);
  CHECK(e.type == "ldm.resource.add-vcpu");
  CHECK(*e.subject == "ldg1");
  CHECK(json::parse(*e.data) == json::parse(R"({
    "domain": "ldg1", "action": "add-vcpu",
    "sections": [{"type": "ResourceAllocationSection",
                  "items": [{"resource_type": "cpu", "properties": {"number": "8"}}]}]})"));
}

TEST_CASE("a resource event with plain id, _Type suffix and Section inside Content") {
  Event e = map(ldm_examples::kAddVdisk);
  CHECK(e.type == "ldm.resource.add-vdisk");
  CHECK(*e.subject == "ldg2");
  CHECK(attr(e, "ldm-class") == "resource");
  CHECK(*e.data ==
        R"({"domain":"ldg2","action":"add-vdisk","sections":[{"type":"ResourceAllocationSection",)"
        R"("items":[{"resource_type":"disk","properties":{"vdisk_name":"vdisk0",)"
        R"("service_name":"primary-vds0","vol_name":"vol0"}}]}]})");
}

TEST_CASE("a hardware event: spconfig item, no Content, so no subject and null domain") {
  Event e = map(ldm_examples::kAddSpconfig);
  CHECK(e.type == "ldm.hardware.add-spconfig");
  CHECK_FALSE(e.subject);
  CHECK(attr(e, "ldm-class") == "hardware");
  CHECK(*e.data ==
        R"({"domain":null,"action":"add-spconfig","sections":[{"type":"ResourceAllocationSection",)"
        R"("items":[{"resource_type":"spconfig","properties":{"spconfig_name":"primary-with-ldg1",)"
        R"("spconfig_status":"next"}}]}]})");
}

TEST_CASE("a progress event: ldom_info with progress/status/source, progress as a number") {
  Event e = map(ldm_examples::kMigrationProgress);
  CHECK(e.type == "ldm.progress.migrate-domain");
  CHECK(*e.subject == "ldg1");
  CHECK(attr(e, "ldm-class") == "progress");
  CHECK(attr(e, "ldm-action") == "migrate-domain");
  CHECK(
      *e.data ==
      R"({"domain":"ldg1","action":"migrate-domain","sections":[{"type":"ResourceAllocationSection",)"
      R"("items":[{"resource_type":"ldom_info","properties":{"progress":"45%","status":"ongoing",)"
      R"("source":"t5-primary"}}]}],"progress":45,"status":"ongoing","source":"t5-primary"})");
}

TEST_CASE("progress that is not a percentage is null; status done without progress still counts") {
  std::string xml = ldm_examples::kMigrationProgress;
  xml.replace(xml.find("45%"), 3, "n/a");
  CHECK(json::parse(*map(xml).data)["progress"].is_null());
  std::string done = R"(<LDM_event><cmd><action>migrate-domain</action><data><Content id='ldg1'>
    <Section><Item><rasd:OtherResourceType>ldom_info</rasd:OtherResourceType>
    <gprop:GenericProperty key='status'>done</gprop:GenericProperty>
    <gprop:GenericProperty key='source'>t5-a</gprop:GenericProperty></Item></Section>
    </Content></data></cmd></LDM_event>)";
  Event e = map(done);
  CHECK(e.type == "ldm.progress.migrate-domain");
  json d = json::parse(*e.data);
  CHECK(d["progress"].is_null());
  CHECK(d["status"] == "done");
  CHECK(d["source"] == "t5-a");
}

TEST_CASE("migrate-domain without progress properties is a domain event") {
  Event e = map(R"(<LDM_event version='1.0'><cmd><action>migrate-domain</action><data version='3.0'>
    <Envelope><Content ovf:id='ldg3'/></Envelope></data></cmd></LDM_event>)");
  CHECK(e.type == "ldm.domain.migrate-domain");
  CHECK(*e.subject == "ldg3");
}

TEST_CASE("every documented action is classified") {
  using sluice::ldm::classify_action;
  using sluice::ldm::EventClass;
  for (const char* a :
       {"add-domain", "remove-domain", "bind-domain", "unbind-domain", "start-domain",
        "stop-domain", "domain-reset", "panic-domain", "migrate-domain"})
    CHECK(classify_action(a) == EventClass::domain);
  for (const char* a : {"add-spconfig", "set-spconfig", "remove-spconfig"})
    CHECK(classify_action(a) == EventClass::hardware);
  for (const char* verb : {"add-", "set-", "remove-"})
    for (const char* o :
         {"vcpu", "crypto", "memory", "io", "variable", "vconscon", "vdisk", "vdiskserver",
          "vdiskserverdevice", "vnet", "vswitch", "vdpcs", "vdpcc", "vconsole"})
      CHECK(classify_action(std::string(verb) + o) == EventClass::resource);
  CHECK(classify_action("migration-process") == EventClass::progress);
  CHECK(classify_action("frobnicate-domain") == EventClass::other);
  CHECK(classify_action("add-") == EventClass::other);
}

TEST_CASE("an unknown action is delivered as class other") {
  Event e = map(R"(<LDM_event version='1.0'><cmd><action>grow-tentacles</action><data version='3.0'>
    <Envelope><Content ovf:id='ldg9'/></Envelope></data></cmd></LDM_event>)");
  CHECK(e.type == "ldm.other.grow-tentacles");
  CHECK(attr(e, "ldm-class") == "other");
  CHECK(*e.subject == "ldg9");
}

TEST_CASE("differing and declared prefixes are matched on local names") {
  Event e =
      map(R"(<x:LDM_event xmlns:x='urn:x' version='2.0'><x:cmd><x:action>stop-domain</x:action>
    <x:data><o:Envelope xmlns:o='./schemas/envelope'><o:Content o:id='web1'>
    <o:Section q:type='o:VirtualHardwareSection_Type'><o:Item>
    <r:OtherResourceType>memory</r:OtherResourceType><r:Address>0x1000</r:Address>
    <g:GenericProperty g:key='size'>4G</g:GenericProperty></o:Item></o:Section>
    </o:Content></o:Envelope></x:data></x:cmd></x:LDM_event>)");
  CHECK(e.type == "ldm.domain.stop-domain");
  CHECK(*e.subject == "web1");
  CHECK(attr(e, "ldm-version") == "2.0");
  CHECK(json::parse(*e.data)["sections"] == json::parse(R"([{"type": "VirtualHardwareSection",
    "items": [{"resource_type": "memory", "properties": {"Address": "0x1000", "size": "4G"}}]}])"));
}

TEST_CASE("a Section without a type attribute is named after its element") {
  Event e = map(R"(<LDM_event><cmd><action>add-vnet</action><data><Envelope><Content id='a'/>
    <Section><Item><rasd:OtherResourceType>network</rasd:OtherResourceType></Item></Section>
    </Envelope></data></cmd></LDM_event>)");
  CHECK(json::parse(*e.data)["sections"] == json::parse(R"([{"type":"Section",
    "items":[{"resource_type":"network","properties":{}}]}])"));
}

TEST_CASE("text needing JSON escapes and invalid UTF-8 stay valid JSON") {
  Event e = map(
      "<LDM_event><cmd><action>add-variable</action><data><Content id='q\"\\'/>"
      "<Section><Item><gprop:GenericProperty key='boot-command'>a\tb \xff c</gprop:GenericProperty>"
      "</Item></Section></data></cmd></LDM_event>");
  json d = json::parse(*e.data);
  CHECK(d["domain"] == "q\"\\");
  CHECK(d["sections"][0]["items"][0]["resource_type"].is_null());
  CHECK(d["sections"][0]["items"][0]["properties"]["boot-command"] == "a\tb \xEF\xBF\xBD c");
}

TEST_CASE("what cannot be read becomes sluice.parse-error carrying the raw text") {
  for (const char* xml :
       {"<LDM_event><cmd></wrong></LDM_event>", "<LDM_event><cmd><data/></cmd></LDM_event>",
        "<LDM_interface/>", "not xml at all"}) {
    CAPTURE(xml);
    Event e = map(xml);
    CHECK(e.type == "sluice.parse-error");
    CHECK(json::parse(*e.data)["raw"] == xml);
  }
  CHECK(json::parse(*map("<LDM_event><cmd><data/></cmd></LDM_event>").data)["error"] ==
        "LDM_event without an <action>");
}

TEST_CASE("a document with a DOCTYPE is refused before parsing") {
  const char* xml =
      "<!DOCTYPE LDM_event [<!ENTITY x "
      "'boom'>]><LDM_event><cmd><action>&x;</action></cmd></LDM_event>";
  Event e = map(xml);
  CHECK(e.type == "sluice.parse-error");
  CHECK(json::parse(*e.data)["error"] == "DOCTYPE refused");
}
