// libFuzzer target for the fake HMC's own STOMP reader (src/stomp_codec.*): what a client sends
// the fake. The first byte picks the version the reader starts with and a read size, the rest is
// the byte stream, fed in pieces of that size. Properties: no crash, no sanitizer report, only
// FrameError as failure; every frame read has an uppercase command; a frame the writer makes
// from a frame read (escaped for the same version) reads back to the same headers and body.
#include "stomp_codec.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace stomp = sluice::fakes::hmc::stomp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0) return 0;
  const stomp::Version v = static_cast<stomp::Version>(bytes[0] % 3);
  const size_t chunk = 1 + (bytes[0] >> 2);
  const std::string_view wire(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  stomp::Reader reader(1 << 16, 64);
  reader.set_version(v);
  stomp::Frame f;
  try {
    for (size_t i = 0; i < wire.size(); i += chunk) {
      reader.append(wire.substr(i, chunk));
      while (reader.next(f)) {
        for (char c : f.command)
          if (c < 'A' || c > 'Z') std::abort();
        if (!stomp::escaped_frame(f.command, v)) continue;
        // Escaping is lossless in 1.2; in 1.1 a CR becomes a blank, in 1.0 nothing is escaped.
        if (v != stomp::Version::v1_2) continue;
        std::string again;
        stomp::append_frame(again, f.command, f.headers, f.body, v);
        stomp::Reader back(1 << 20, 1 << 10);
        back.set_version(v);
        stomp::Frame g;
        back.append(again);
        if (!back.next(g)) std::abort();
        if (g.command != f.command || g.body != f.body || g.headers.size() < f.headers.size())
          std::abort();
        for (size_t k = 0; k < f.headers.size(); ++k)
          if (g.headers[k] != f.headers[k]) std::abort();
      }
    }
  } catch (const stomp::FrameError&) {
    // a client frame the fake refuses with ERROR: the only way the reader may fail
  }
  return 0;
}
