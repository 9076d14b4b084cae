#include "ldm_protocol.hpp"

#include "ldm_event_mapper.hpp"

#include <pugixml.hpp>

#include <cstring>

namespace sluice::ldm {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

bool load(pugi::xml_document& doc, std::string_view xml) {
  if (has_doctype(xml)) return false;
  return static_cast<bool>(
      doc.load_buffer(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_utf8));
}

std::string trimmed(const char* text) {
  std::string_view t = text;
  while (!t.empty() && std::strchr(" \t\r\n", t.front()))
    t.remove_prefix(1);
  while (!t.empty() && std::strchr(" \t\r\n", t.back()))
    t.remove_suffix(1);
  return std::string(t);
}

void walk_responses(const pugi::xml_node& node, Response& r, bool& any_status, int depth) {
  if (depth > 16) return;
  for (pugi::xml_node c = node.first_child(); c; c = c.next_sibling()) {
    if (c.type() != pugi::node_element) continue;
    std::string_view name = local_name(c.name());
    if (name == "response") {
      for (pugi::xml_node f = c.first_child(); f; f = f.next_sibling()) {
        std::string_view field = local_name(f.name());
        if (field == "status") {
          any_status = true;
          if (trimmed(f.child_value()) != "success") r.success = false;
        } else if (field == "resp_msg") {
          std::string msg = trimmed(f.child_value());
          // ldmd may repeat one text at the data, cmd and interface levels: name it once.
          bool seen = false;
          for (const auto& m : r.messages)
            seen = seen || m == msg;
          if (!msg.empty() && !seen) r.messages.push_back(std::move(msg));
        }
      }
    } else {
      walk_responses(c, r, any_status, depth + 1);
    }
  }
}

}  // namespace

std::string interface_request(std::string_view action) {
  std::string out = "<LDM_interface version=\"1.0\"><cmd><action>";
  out += action;
  out += "</action><data version=\"3.0\"/></cmd></LDM_interface>";
  return out;
}

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v =
        (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    if (i + 1 < in.size()) v |= uint32_t(uint8_t(in[i + 1])) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool base64_decode(std::string_view text, std::string& out) {
  out.clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=' || c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    const char* pos = std::strchr(kAlphabet, c);
    if (!pos || c == '\0') return false;
    acc = (acc << 6) | static_cast<uint32_t>(pos - kAlphabet);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return true;
}

std::string sasl_plain_auth(std::string_view user, std::string_view password) {
  std::string creds;
  creds.push_back('\0');
  creds += user;
  creds.push_back('\0');
  creds += password;
  return "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" +
         base64_encode(creds) + "</auth>";
}

bool Features::offers(std::string_view mechanism) const {
  for (const auto& m : mechanisms)
    if (m == mechanism) return true;
  return false;
}

Features parse_features(std::string_view xml) {
  Features f;
  pugi::xml_document doc;
  if (!load(doc, xml)) return f;
  pugi::xml_node root = doc.document_element();
  if (local_name(root.name()) != "features") return f;
  f.parsed = true;
  for (pugi::xml_node c = root.first_child(); c; c = c.next_sibling()) {
    std::string_view name = local_name(c.name());
    if (name == "starttls") f.starttls = true;
    if (name == "mechanisms")
      for (pugi::xml_node m = c.first_child(); m; m = m.next_sibling())
        if (local_name(m.name()) == "mechanism") f.mechanisms.push_back(trimmed(m.child_value()));
  }
  return f;
}

Response parse_response(std::string_view xml) {
  Response r;
  pugi::xml_document doc;
  if (!load(doc, xml)) {
    r.error = "response is not well-formed XML";
    return r;
  }
  pugi::xml_node root = doc.document_element();
  if (local_name(root.name()) != "LDM_interface") {
    r.error = "expected <LDM_interface>, got <" + std::string(root.name()) + ">";
    return r;
  }
  r.parsed = true;
  for (pugi::xml_node c = root.first_child(); c; c = c.next_sibling())
    if (local_name(c.name()) == "cmd") {
      for (pugi::xml_node a = c.first_child(); a; a = a.next_sibling())
        if (local_name(a.name()) == "action") r.action = trimmed(a.child_value());
      break;
    }
  r.success = true;
  bool any_status = false;
  walk_responses(root, r, any_status, 0);
  if (!any_status) {
    r.success = false;
    r.error = "response carries no <status>";
  }
  return r;
}

std::string request_action(std::string_view xml) {
  pugi::xml_document doc;
  if (!load(doc, xml)) return {};
  pugi::xml_node root = doc.document_element();
  for (pugi::xml_node c = root.first_child(); c; c = c.next_sibling())
    if (local_name(c.name()) == "cmd")
      for (pugi::xml_node a = c.first_child(); a; a = a.next_sibling())
        if (local_name(a.name()) == "action") return trimmed(a.child_value());
  return {};
}

std::string element_summary(std::string_view xml, size_t max) {
  // Child element names carry the meaning of <failure> and <stream:error> conditions
  // (<not-authorized/>, <system-shutdown/>): keep them, with any text.
  std::string out;
  bool first_tag = true;
  size_t i = 0;
  while (i < xml.size() && out.size() < max) {
    if (xml[i] != '<') {
      size_t lt = xml.find('<', i);
      std::string_view text = xml.substr(i, lt == std::string_view::npos ? xml.npos : lt - i);
      size_t a = text.find_first_not_of(" \t\r\n"), b = text.find_last_not_of(" \t\r\n");
      if (a != std::string_view::npos) {
        if (!out.empty()) out += ' ';
        out += text.substr(a, b - a + 1);
      }
      i = lt == std::string_view::npos ? xml.size() : lt;
      continue;
    }
    size_t gt = xml.find('>', i);
    if (gt == std::string_view::npos) break;
    std::string_view tag = xml.substr(i + 1, gt - i - 1);
    if (!tag.empty() && tag[0] != '/' && tag[0] != '?' && tag[0] != '!') {
      size_t end = tag.find_first_of(" \t\r\n/");
      std::string_view name = local_name(tag.substr(0, end));
      if (!first_tag && name != "text") {
        if (!out.empty()) out += ' ';
        out += name;
      }
      first_tag = false;
    }
    i = gt + 1;
  }
  if (out.size() > max) out.resize(max);
  return out;
}

}  // namespace sluice::ldm
