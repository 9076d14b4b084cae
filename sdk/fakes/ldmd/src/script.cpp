// Script parsing and LDM_event rendering for the fake ldmd.
#include <sluice/fakes/ldmd.hpp>
#include <sluice/units.hpp>

#include <nlohmann/json.hpp>

#include <stdexcept>

namespace sluice::fakes::ldmd {

namespace {

const char* const kDomainActions[] = {"add-domain",    "remove-domain", "bind-domain",
                                      "unbind-domain", "start-domain",  "stop-domain",
                                      "domain-reset",  "panic-domain",  "migrate-domain"};
const char* const kResourceObjects[] = {"vcpu",  "crypto",      "memory",
                                        "io",    "variable",    "vconscon",
                                        "vdisk", "vdiskserver", "vdiskserverdevice",
                                        "vnet",  "vswitch",     "vdpcs",
                                        "vdpcc", "vconsole"};

// The rasd:OtherResourceType ldmd writes for each resource object.
std::string resource_type_of(std::string_view object) {
  if (object == "vcpu") return "cpu";
  if (object == "crypto") return "mau";
  if (object == "io") return "physio_device";
  if (object == "variable") return "var";
  if (object == "vconscon") return "vcc";
  if (object == "vdisk") return "disk";
  if (object == "vdiskserver") return "vds";
  if (object == "vdiskserverdevice") return "vds_volume";
  if (object == "vnet") return "network";
  if (object == "vswitch") return "vsw";
  if (object == "vconsole") return "console";
  return std::string(object);
}

std::string escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string value_text(const nlohmann::json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::string items_xml(const std::string& resource_type,
                      const std::vector<std::pair<std::string, std::string>>& props) {
  std::string out =
      "<Item><rasd:OtherResourceType>" + escape(resource_type) + "</rasd:OtherResourceType>";
  for (const auto& [k, v] : props)
    out +=
        "<gprop:GenericProperty key='" + escape(k) + "'>" + escape(v) + "</gprop:GenericProperty>";
  return out + "</Item>";
}

std::vector<std::pair<std::string, std::string>> with_defaults(
    std::vector<std::pair<std::string, std::string>> props,
    std::initializer_list<std::pair<const char*, const char*>> defaults) {
  for (auto [k, v] : defaults) {
    bool present = false;
    for (const auto& p : props)
      present = present || p.first == k;
    if (!present) props.emplace_back(k, v);
  }
  return props;
}

}  // namespace

std::string event_class(const Step& step) {
  if (!step.event_class.empty()) return step.event_class;
  const std::string& a = step.action;
  for (const char* d : kDomainActions)
    if (a == d) return "domain";
  if (a == "add-spconfig" || a == "set-spconfig" || a == "remove-spconfig") return "hardware";
  if (a == "migration-process") return "progress";
  for (const char* verb : {"add-", "set-", "remove-"})
    if (a.rfind(verb, 0) == 0)
      for (const char* o : kResourceObjects)
        if (a.substr(std::string_view(verb).size()) == o) return "resource";
  return "other";
}

std::string render_event(const Step& step) {
  const std::string cls = event_class(step);
  std::string body;
  if (cls == "hardware") {
    // "Hardware events always contain only a <Section> tag": no Content, `_type`.
    body =
        "<Envelope><References/><Section xsi:type='ovf:ResourceAllocationSection_type'>" +
        items_xml("spconfig", with_defaults(step.properties, {{"spconfig_name", "primary-config"},
                                                              {"spconfig_status", "current"}})) +
        "</Section></Envelope>";
  } else if (cls == "resource") {
    // Later releases: plain `id`, Section inside Content, `_Type`.
    std::string object = step.action.substr(step.action.find('-') + 1);
    body = "<Envelope><References/><Content xsi:type='ovf:VirtualSystem_Type' id='" +
           escape(step.domain) + "'><Section xsi:type='ovf:ResourceAllocationSection_Type'>" +
           items_xml(resource_type_of(object), step.properties) + "</Section></Content></Envelope>";
  } else if (cls == "progress") {
    // 1.x namespace declarations with relative URIs, ldom_info carrying the progress.
    body =
        "<Envelope xmlns:ovf='/var/opt/SUNWldom/envelope' "
        "xmlns:rasd='/var/opt/SUNWldom/CIM_ResourceAllocationSettingData' "
        "xmlns:gprop='/var/opt/SUNWldom/GenericProperty' "
        "xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance'><References/>"
        "<Content xsi:type='ovf:VirtualSystem_Type' ovf:id='" +
        escape(step.domain) + "'><Section xsi:type='ovf:ResourceAllocationSection_type'>" +
        items_xml("ldom_info", with_defaults(step.properties, {{"progress", "50%"},
                                                               {"status", "ongoing"},
                                                               {"source", "fake-ldmd"}})) +
        "</Section></Content></Envelope>";
  } else {
    // Domain (and unknown) events: undeclared xsi/ovf prefixes, self-closed Content with ovf:id.
    body = "<Envelope><References/><Content xsi:type='ovf:VirtualSystem_Type' ovf:id='" +
           escape(step.domain) + "'/>";
    if (!step.properties.empty())
      body += "<Section xsi:type='ovf:ResourceAllocationSection_type'>" +
              items_xml("ldom_info", step.properties) + "</Section>";
    body += "</Envelope>";
  }
  return "<LDM_event version='1.0'><cmd><action>" + escape(step.action) +
         "</action><data version='3.0'>" + body + "</data></cmd></LDM_event>";
}

std::vector<Step> parse_script(std::string_view text) {
  std::vector<Step> steps;
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string_view::npos || line[first] == '#') continue;
    auto bad = [&](const std::string& why) {
      return std::invalid_argument("script line " + std::to_string(line_no) + ": " + why);
    };
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception& e) {
      throw bad(std::string("not JSON: ") + e.what());
    }
    if (!j.is_object()) throw bad("expected a JSON object");
    Step s;
    try {
      if (j.contains("event")) {
        s.kind = Step::Kind::event;
        s.action = j.at("event").get<std::string>();
        s.domain = j.value("domain", s.domain);
        s.event_class = j.value("class", std::string());
        if (j.contains("properties"))
          for (auto& [k, v] : j.at("properties").items())
            s.properties.emplace_back(k, value_text(v));
        s.rate = j.contains("rate") ? rate_option(j.at("rate")) : 0.0;
        s.repeat = j.contains("repeat") ? count_option(j.at("repeat")) : 1;
      } else if (j.contains("xml")) {
        s.kind = Step::Kind::xml;
        s.xml = j.at("xml").get<std::string>();
        s.repeat = j.contains("repeat") ? count_option(j.at("repeat")) : 1;
      } else if (j.contains("sleep")) {
        s.kind = Step::Kind::sleep;
        s.sleep = duration_option(j.at("sleep"));
      } else if (j.contains("fault")) {
        s.kind = Step::Kind::fault;
        s.fault = j.at("fault").get<std::string>();
        static const char* const known[] = {
            "split",     "glue",      "close",       "close_mid_document",
            "malformed", "oversized", "stream_error"};
        bool ok = false;
        for (const char* k : known)
          ok = ok || s.fault == k;
        if (!ok) throw bad("unknown fault '" + s.fault + "'");
        if (j.contains("bytes")) s.bytes = size_option(j.at("bytes"));
        s.count = j.contains("count") ? count_option(j.at("count")) : 0;
      } else {
        throw bad("expected one of event, xml, sleep, fault");
      }
    } catch (const std::invalid_argument&) {
      throw;
    } catch (const std::exception& e) {
      throw bad(e.what());
    }
    steps.push_back(std::move(s));
  }
  return steps;
}

std::vector<Step> every_action_script(const std::string& domain) {
  std::vector<Step> steps;
  auto add = [&](std::string action, std::string cls = {}) {
    Step s;
    s.action = std::move(action);
    s.domain = domain;
    s.event_class = std::move(cls);
    steps.push_back(std::move(s));
  };
  for (const char* a : kDomainActions)
    add(a);
  for (const char* verb : {"add-", "set-", "remove-"})
    for (const char* o : kResourceObjects)
      add(std::string(verb) + o);
  for (const char* a : {"add-spconfig", "set-spconfig", "remove-spconfig"})
    add(a);
  add("migrate-domain", "progress");
  return steps;
}

}  // namespace sluice::fakes::ldmd
