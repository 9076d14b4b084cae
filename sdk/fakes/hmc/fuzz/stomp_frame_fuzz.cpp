// libFuzzer target: the fake HMC's reader of client STOMP frames (network input). The first
// byte picks the negotiated version and how the rest is split into reads.
#include <sluice/fakes/stomp_frame.hpp>

#include <cstddef>
#include <cstdint>

using namespace sluice::fakes::stomp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  FrameParser p(4096);
  p.set_version(static_cast<Version>(data[0] % 3));
  const size_t chunk = 1 + (data[0] >> 2);
  const char* in = reinterpret_cast<const char*>(data + 1);
  size_t left = size - 1;
  Frame f;
  while (left > 0) {
    const size_t n = left < chunk ? left : chunk;
    p.feed(in, n);
    in += n;
    left -= n;
    while (true) {
      auto st = p.next(f);
      if (st != FrameParser::Status::frame) {
        if (st == FrameParser::Status::error) return 0;
        break;
      }
      std::string out;
      for (const auto& [k, v] : f.headers)
        append_escaped(out, v, p.version());
    }
  }
  return 0;
}
