#include "ldm_event_mapper.hpp"

#include <sluice/format.hpp>
#include <sluice/framework_events.hpp>

#include <pugixml.hpp>

#include <array>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

namespace sluice::ldm {

namespace {

constexpr std::array<std::string_view, 9> kDomainActions = {
    "add-domain",  "remove-domain", "bind-domain",  "unbind-domain", "start-domain",
    "stop-domain", "domain-reset",  "panic-domain", "migrate-domain"};

constexpr std::array<std::string_view, 14> kResourceObjects = {
    "vcpu",  "crypto",      "memory",
    "io",    "variable",    "vconscon",
    "vdisk", "vdiskserver", "vdiskserverdevice",
    "vnet",  "vswitch",     "vdpcs",
    "vdpcc", "vconsole"};

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string_view name_of(const pugi::xml_node& n) {
  return local_name(n.name());
}

// First child element with the given local name (any prefix or none).
pugi::xml_node child_named(const pugi::xml_node& parent, std::string_view local) {
  for (pugi::xml_node c = parent.first_child(); c; c = c.next_sibling())
    if (c.type() == pugi::node_element && name_of(c) == local) return c;
  return {};
}

// Attribute by local name: "ovf:id" and "id" both answer "id".
pugi::xml_attribute attribute_named(const pugi::xml_node& n, std::string_view local) {
  for (pugi::xml_attribute a = n.first_attribute(); a; a = a.next_attribute())
    if (local_name(a.name()) == local) return a;
  return {};
}

// Text of an element with surrounding whitespace trimmed (values in the examples are indented).
std::string_view text_of(const pugi::xml_node& n) {
  std::string_view t = n.child_value();
  if (t.empty()) {
    // child_value() only looks at the first PCDATA/CDATA child; a leading comment hides it.
    for (pugi::xml_node c = n.first_child(); c; c = c.next_sibling())
      if (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) {
        t = c.value();
        break;
      }
  }
  while (!t.empty() && std::strchr(" \t\r\n", t.front()))
    t.remove_prefix(1);
  while (!t.empty() && std::strchr(" \t\r\n", t.back()))
    t.remove_suffix(1);
  return t;
}

bool has_element_children(const pugi::xml_node& n) {
  for (pugi::xml_node c = n.first_child(); c; c = c.next_sibling())
    if (c.type() == pugi::node_element) return true;
  return false;
}

struct Item {
  std::string_view resource_type;
  bool has_resource_type = false;
  std::vector<std::pair<std::string_view, std::string_view>> properties;

  const std::string_view* find(std::string_view key) const {
    for (const auto& [k, v] : properties)
      if (k == key) return &v;
    return nullptr;
  }
};

struct Section {
  std::string type;
  std::vector<Item> items;
};

// An Item (or a Section written without Items, as the 1.3 guide shows): its resource type,
// its GenericProperty key/values, and other leaf children (rasd:Address...) under their local
// names. The first occurrence of a key wins.
Item read_item(const pugi::xml_node& node) {
  Item item;
  for (pugi::xml_node c = node.first_child(); c; c = c.next_sibling()) {
    if (c.type() != pugi::node_element) continue;
    std::string_view name = name_of(c);
    if (name == "OtherResourceType") {
      if (!item.has_resource_type) {
        item.resource_type = text_of(c);
        item.has_resource_type = true;
      }
      continue;
    }
    if (name == "Item" || name == "Section" || has_element_children(c)) continue;
    std::string_view key = name;
    if (name == "GenericProperty") {
      pugi::xml_attribute k = attribute_named(c, "key");
      if (!k) continue;
      key = k.value();
    }
    if (!item.find(key)) item.properties.emplace_back(key, text_of(c));
  }
  return item;
}

std::string section_type(const pugi::xml_node& node) {
  std::string_view type = name_of(node);
  if (pugi::xml_attribute t = attribute_named(node, "type")) type = local_name(t.value());
  for (std::string_view suffix : {"_type", "_Type", "_TYPE"})
    if (ends_with(type, suffix) && type.size() > suffix.size()) {
      type.remove_suffix(suffix.size());
      break;
    }
  return std::string(type);
}

// Sections may sit inside Content (later releases) or beside it (the 1.x guides); look at the
// whole data subtree and take every element whose local name ends in "Section".
void collect_sections(const pugi::xml_node& node, std::vector<Section>& out, int depth = 0) {
  if (depth > 32) return;
  for (pugi::xml_node c = node.first_child(); c; c = c.next_sibling()) {
    if (c.type() != pugi::node_element) continue;
    if (ends_with(name_of(c), "Section")) {
      Section s;
      s.type = section_type(c);
      bool any_item = false;
      for (pugi::xml_node i = c.first_child(); i; i = i.next_sibling())
        if (i.type() == pugi::node_element && name_of(i) == "Item") {
          s.items.push_back(read_item(i));
          any_item = true;
        }
      if (!any_item) {
        Item bare = read_item(c);
        if (bare.has_resource_type || !bare.properties.empty()) s.items.push_back(std::move(bare));
      }
      out.push_back(std::move(s));
    } else {
      collect_sections(c, out, depth + 1);
    }
  }
}

pugi::xml_node find_content(const pugi::xml_node& node, int depth = 0) {
  if (depth > 32) return {};
  for (pugi::xml_node c = node.first_child(); c; c = c.next_sibling()) {
    if (c.type() != pugi::node_element) continue;
    if (name_of(c) == "Content") return c;
    if (pugi::xml_node found = find_content(c, depth + 1)) return found;
  }
  return {};
}

}  // namespace

const char* class_name(EventClass c) {
  switch (c) {
    case EventClass::domain:
      return "domain";
    case EventClass::resource:
      return "resource";
    case EventClass::hardware:
      return "hardware";
    case EventClass::progress:
      return "progress";
    case EventClass::other:
      return "other";
  }
  return "other";
}

EventClass classify_action(std::string_view action) {
  for (std::string_view a : kDomainActions)
    if (action == a) return EventClass::domain;
  if (action == "add-spconfig" || action == "set-spconfig" || action == "remove-spconfig")
    return EventClass::hardware;
  if (action == "migration-process") return EventClass::progress;
  for (std::string_view verb : {"add-", "set-", "remove-"}) {
    if (action.substr(0, verb.size()) != verb) continue;
    std::string_view object = action.substr(verb.size());
    for (std::string_view o : kResourceObjects)
      if (object == o) return EventClass::resource;
  }
  return EventClass::other;
}

std::string_view local_name(std::string_view qualified) {
  size_t colon = qualified.rfind(':');
  return colon == std::string_view::npos ? qualified : qualified.substr(colon + 1);
}

std::string_view root_name(std::string_view xml) {
  size_t i = 0;
  while (true) {
    i = xml.find('<', i);
    if (i == std::string_view::npos || i + 1 >= xml.size()) return {};
    char next = xml[i + 1];
    if (next != '?' && next != '!' && next != '/') break;
    ++i;  // a declaration, comment or PI before the element
  }
  size_t start = i + 1, end = start;
  while (end < xml.size() && !std::strchr(" \t\r\n/>", xml[end]))
    ++end;
  return local_name(xml.substr(start, end - start));
}

bool has_doctype(std::string_view xml) {
  for (size_t i = xml.find("<!"); i != std::string_view::npos; i = xml.find("<!", i + 2)) {
    std::string_view rest = xml.substr(i + 2, 7);
    if (rest.size() < 7) return false;
    bool match = true;
    for (size_t k = 0; k < 7 && match; ++k)
      match = (rest[k] & ~0x20) == "DOCTYPE"[k];
    if (match) return true;
  }
  return false;
}

bool parse_percent(std::string_view text, double& value) {
  while (!text.empty() && text.back() == ' ')
    text.remove_suffix(1);
  if (!text.empty() && text.back() == '%') text.remove_suffix(1);
  while (!text.empty() && text.back() == ' ')
    text.remove_suffix(1);
  if (text.empty() || text.size() > 32) return false;
  std::string copy(text);
  char* end = nullptr;
  double v = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || v != v) return false;
  value = v;
  return true;
}

EventMapper::EventMapper(const std::string& host) : source_("ldm://" + host) {}

Event EventMapper::parse_error(std::string_view raw, std::string_view reason,
                               std::string id) const {
  return sluice::framework_events::parse_error(std::move(id), source_, reason, raw);
}

Event EventMapper::map(std::string_view xml, std::string id) const {
  if (has_doctype(xml)) return parse_error(xml, "DOCTYPE refused", std::move(id));
  pugi::xml_document doc;
  // parse_default leaves out parse_doctype, and pugixml never expands DTD entities anyway.
  pugi::xml_parse_result parsed =
      doc.load_buffer(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_utf8);
  if (!parsed)
    return parse_error(xml,
                       std::string("not well-formed XML: ") + parsed.description() + " at offset " +
                           std::to_string(parsed.offset),
                       std::move(id));
  pugi::xml_node root = doc.document_element();
  if (name_of(root) != "LDM_event")
    return parse_error(xml, "not an LDM_event: <" + std::string(root.name()) + ">", std::move(id));

  // <LDM_event><cmd><action/><data/></cmd></LDM_event>; the 1.3 guide leaves out <cmd>.
  pugi::xml_node cmd = child_named(root, "cmd");
  if (!cmd) cmd = root;
  std::string_view action = text_of(child_named(cmd, "action"));
  if (action.empty()) return parse_error(xml, "LDM_event without an <action>", std::move(id));
  pugi::xml_node data = child_named(cmd, "data");

  std::vector<Section> sections;
  pugi::xml_node content;
  if (data) {
    collect_sections(data, sections);
    content = find_content(data);
  }
  pugi::xml_attribute domain_attr =
      content ? attribute_named(content, "id") : pugi::xml_attribute();

  // Progress: an ldom_info item carrying progress (or status and source) properties.
  const Item* progress = nullptr;
  for (const auto& s : sections) {
    for (const auto& item : s.items)
      if (item.resource_type == "ldom_info" &&
          (item.find("progress") || (item.find("status") && item.find("source")))) {
        progress = &item;
        break;
      }
    if (progress) break;
  }
  EventClass cls = progress ? EventClass::progress : classify_action(action);

  Event e;
  e.id = std::move(id);
  e.source = source_;
  e.type.reserve(5 + 9 + action.size());
  e.type = "ldm.";
  e.type += class_name(cls);
  e.type += '.';
  e.type += action;
  if (domain_attr) e.subject = std::string(domain_attr.value());
  e.attributes.reserve(3);
  e.attribute("ldm-action", std::string(action));
  e.attribute("ldm-class", class_name(cls));
  if (pugi::xml_attribute v = root.attribute("version")) e.attribute("ldm-version", v.value());

  std::string out;
  out.reserve(xml.size() / 2 + 64);
  out += "{\"domain\":";
  if (domain_attr)
    append_json_string(out, domain_attr.value());
  else
    out += "null";
  out += ",\"action\":";
  append_json_string(out, action);
  out += ",\"sections\":[";
  for (size_t si = 0; si < sections.size(); ++si) {
    if (si) out += ',';
    out += "{\"type\":";
    append_json_string(out, sections[si].type);
    out += ",\"items\":[";
    for (size_t ii = 0; ii < sections[si].items.size(); ++ii) {
      const Item& item = sections[si].items[ii];
      if (ii) out += ',';
      out += "{\"resource_type\":";
      if (item.has_resource_type)
        append_json_string(out, item.resource_type);
      else
        out += "null";
      out += ",\"properties\":{";
      for (size_t pi = 0; pi < item.properties.size(); ++pi) {
        if (pi) out += ',';
        append_json_string(out, item.properties[pi].first);
        out += ':';
        append_json_string(out, item.properties[pi].second);
      }
      out += "}}";
    }
    out += "]}";
  }
  out += ']';
  if (progress) {
    out += ",\"progress\":";
    double pct = 0;
    const std::string_view* p = progress->find("progress");
    if (p && parse_percent(*p, pct)) {
      char buf[32];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, pct);
      out.append(buf, ec == std::errc() ? end : buf);
    } else {
      out += "null";
    }
    out += ",\"status\":";
    if (const std::string_view* s = progress->find("status"))
      append_json_string(out, *s);
    else
      out += "null";
    out += ",\"source\":";
    if (const std::string_view* s = progress->find("source"))
      append_json_string(out, *s);
    else
      out += "null";
  }
  out += '}';
  e.data = std::move(out);
  return e;
}

}  // namespace sluice::ldm
