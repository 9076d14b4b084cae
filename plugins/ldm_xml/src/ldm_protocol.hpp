// What the client writes to ldmd and how it reads ldmd's answers during the handshake and the
// registration. Pure functions over text, shared by the plugin, the fake ldmd and the tests.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sluice::ldm {

// The stream header, as the illumos libldom client sends it.
inline constexpr std::string_view kStreamHeader =
    R"(<?xml version='1.0'?><stream:stream xml:lang="en" version="1.0" id="xmpp">)";
inline constexpr std::string_view kStreamClose = "</stream:stream>";
inline constexpr std::string_view kStartTls = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";

// <LDM_interface> asking for `action` (reg-domain-events, unreg-all-events, ...).
std::string interface_request(std::string_view action);

// The SASL PLAIN <auth> element: base64("\0" user "\0" password).
std::string sasl_plain_auth(std::string_view user, std::string_view password);

std::string base64_encode(std::string_view bytes);
// false on characters outside the alphabet
bool base64_decode(std::string_view text, std::string& out);

struct Features {
  bool parsed = false;
  bool starttls = false;
  std::vector<std::string> mechanisms;
  bool offers(std::string_view mechanism) const;
};
// <stream:features> element text → what it offers.
Features parse_features(std::string_view xml);

struct Response {
  bool parsed = false;                // a well-formed LDM_interface
  std::string action;                 // cmd/action echoed back
  bool success = false;               // every status seen (data, cmd, interface level) is "success"
  std::vector<std::string> messages;  // every resp_msg text, outermost last
  std::string error;                  // why it could not be read
};
// An <LDM_interface> response.
Response parse_response(std::string_view xml);

// The action of an <LDM_interface> request ("" if there is none): the fake ldmd reads these.
std::string request_action(std::string_view xml);

// The text inside an element (e.g. <stream:error>), tags stripped, for error messages.
std::string element_summary(std::string_view xml, size_t max = 200);

}  // namespace sluice::ldm
