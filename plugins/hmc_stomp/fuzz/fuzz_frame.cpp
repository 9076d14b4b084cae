// libFuzzer target for the STOMP frame parser: the bytes come from the network.
// Byte 0 picks the STOMP version, byte 1 where to split the rest into two reads. Properties:
// no crash, no sanitizer report, errors only as FrameError, and a split stream gives the same
// frames as the whole stream whenever both parse.
#include "stomp_frame.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace {
bool parse(stomp::Version v, std::string_view a, std::string_view b,
           std::vector<stomp::Frame>& out) {
  stomp::Parser p(4096);
  p.set_version(v);
  try {
    p.feed(a, out);
    p.feed(b, out);
    return true;
  } catch (const stomp::FrameError&) {
    return false;
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const stomp::Version v = data[0] % 3 == 0   ? stomp::Version::v1_0
                           : data[0] % 3 == 1 ? stomp::Version::v1_1
                                              : stomp::Version::v1_2;
  std::string_view rest(reinterpret_cast<const char*>(data + 2), size - 2);
  const size_t cut = rest.empty() ? 0 : data[1] % (rest.size() + 1);

  std::vector<stomp::Frame> whole, split;
  const bool ok_whole = parse(v, rest, {}, whole);
  const bool ok_split = parse(v, rest.substr(0, cut), rest.substr(cut), split);
  if (ok_whole && ok_split) {
    if (whole.size() != split.size()) abort();
    for (size_t i = 0; i < whole.size(); ++i)
      if (whole[i].command != split[i].command || whole[i].headers != split[i].headers ||
          whole[i].body != split[i].body)
        abort();
  }
  // Whatever parsed must serialise and parse back to itself.
  for (const auto& f : whole) {
    if (f.command == "CONNECTED" || f.command == "CONNECT" || f.command == "STOMP") continue;
    std::vector<stomp::Frame> again;
    stomp::Parser p(1 << 20);
    p.set_version(v);
    try {
      p.feed(stomp::serialize(f, v), again);
    } catch (const stomp::FrameError&) {
      // 1.0 cannot carry a header value with a newline; the parser never produces one there.
      abort();
    }
    if (again.size() != 1 || again[0].body != f.body) abort();
  }
  return 0;
}
