// libFuzzer target for the fake ldmd's own XMPP pieces (src/xmpp_codec.*): what a client sends
// the fake. The first byte picks a read size; the rest is the stream, fed in pieces of that
// size. Every element the reader yields also goes through root_name, sasl_plain and
// request_action. Properties: no crash, no sanitizer report; failures only as feed() == false;
// an element starts with '<' and ends with '>'; the same bytes read whole give the same items.
#include "xmpp_codec.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace xmpp = sluice::fakes::ldmd::xmpp;

namespace {
bool read(std::string_view wire, size_t chunk, std::vector<xmpp::Item>& out) {
  xmpp::StreamReader reader(1 << 16, 16);
  for (size_t i = 0; i < wire.size(); i += chunk)
    if (!reader.feed(wire.substr(i, chunk), out)) return false;
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + bytes[0];
  const std::string_view wire(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  std::vector<xmpp::Item> pieces, whole;
  const bool ok = read(wire, chunk, pieces);
  for (const auto& item : pieces) {
    if (item.text.empty() || item.text.front() != '<' || item.text.back() != '>') std::abort();
    if (item.kind != xmpp::Item::Kind::element) continue;
    (void)xmpp::root_name(item.text);
    (void)xmpp::sasl_plain(item.text);
    (void)xmpp::request_action(item.text);
  }
  // Read boundaries do not matter (while no limit is hit: limits may be reached at a different
  // point of a different split).
  if (ok && read(wire, wire.size() + 1, whole)) {
    if (whole.size() != pieces.size()) std::abort();
    for (size_t i = 0; i < whole.size(); ++i)
      if (whole[i].text != pieces[i].text || whole[i].kind != pieces[i].kind) std::abort();
  }
  std::string decoded;
  (void)xmpp::base64_decode(wire, decoded);
  return 0;
}
