// libFuzzer target: the XMPP stream framer. Differential: framing the input in one read and in
// reads cut where the first byte says must give the same items and the same verdict.
#include "xml_stream_framer.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

using sluice::ldm::FramedItem;
using sluice::ldm::FramerLimits;
using sluice::ldm::XmlStreamFramer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t step = 1 + data[0] % 17;
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  FramerLimits limits{4096, 16};

  XmlStreamFramer whole(limits);
  std::vector<FramedItem> a;
  bool ok_whole = whole.feed(text, a);

  XmlStreamFramer pieces(limits);
  std::vector<FramedItem> b;
  bool ok_pieces = true;
  for (size_t i = 0; i < text.size() && ok_pieces; i += step)
    ok_pieces = pieces.feed(text.substr(i, step), b);

  if (ok_whole != ok_pieces) abort();
  if (ok_whole) {
    if (a.size() != b.size()) abort();
    for (size_t i = 0; i < a.size(); ++i)
      if (a[i].kind != b[i].kind || a[i].text != b[i].text) abort();
    if (whole.pending_bytes() != pieces.pending_bytes()) abort();
  }
  for (const auto& item : a)
    if (item.text.size() > limits.max_element_bytes) abort();
  return 0;
}
