// libFuzzer target for the STOMP frame parser: the bytes come from the network.
// Byte 0 picks the STOMP version, byte 1 where to split the rest into two reads. Properties:
// no crash, no sanitizer report, errors only as FrameError, a split stream gives the same
// frames as the whole stream whenever both parse, next() one frame at a time (reads through
// prepare()/commit()) gives what feed() gives, and the fake HMC's settings (uppercase commands,
// line breaks escaped or blanked) hold.
#include "stomp_frame.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {
bool parse(sluice::hmc::stomp::Version v, std::string_view a, std::string_view b,
           std::vector<sluice::hmc::stomp::Frame>& out) {
  sluice::hmc::stomp::Parser p(4096);
  p.set_version(v);
  try {
    p.feed(a, out);
    p.feed(b, out);
    return true;
  } catch (const sluice::hmc::stomp::FrameError&) {
    return false;
  }
}

// The client's way (StompConnection): each read lands in the room prepare() gives (more room
// than the read fills, as from a socket), commit(), then next() until it wants more.
bool parse_one_by_one(sluice::hmc::stomp::Version v, std::string_view a, std::string_view b,
                      sluice::hmc::stomp::Parser::Commands commands,
                      std::vector<sluice::hmc::stomp::Frame>& out) {
  sluice::hmc::stomp::Parser p(4096, commands);
  p.set_version(v);
  try {
    for (std::string_view part : {a, b}) {
      const std::span<char> room = p.prepare(part.size() + 64);
      std::copy(part.begin(), part.end(), room.begin());
      p.commit(part.size());
      sluice::hmc::stomp::Frame f;
      while (p.next(f))
        out.push_back(std::move(f));
    }
    return true;
  } catch (const sluice::hmc::stomp::FrameError&) {
    return false;
  }
}

bool same(const std::vector<sluice::hmc::stomp::Frame>& x,
          const std::vector<sluice::hmc::stomp::Frame>& y) {
  if (x.size() != y.size()) return false;
  for (size_t i = 0; i < x.size(); ++i)
    if (x[i].command != y[i].command || x[i].headers != y[i].headers || x[i].body != y[i].body)
      return false;
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const sluice::hmc::stomp::Version v = data[0] % 3 == 0   ? sluice::hmc::stomp::Version::v1_0
                                        : data[0] % 3 == 1 ? sluice::hmc::stomp::Version::v1_1
                                                           : sluice::hmc::stomp::Version::v1_2;
  std::string_view rest(reinterpret_cast<const char*>(data + 2), size - 2);
  const size_t cut = rest.empty() ? 0 : data[1] % (rest.size() + 1);

  std::vector<sluice::hmc::stomp::Frame> whole, split;
  const bool ok_whole = parse(v, rest, {}, whole);
  const bool ok_split = parse(v, rest.substr(0, cut), rest.substr(cut), split);
  if (ok_whole && ok_split && !same(whole, split)) abort();

  std::vector<sluice::hmc::stomp::Frame> one_by_one, upper;
  const bool ok_one = parse_one_by_one(v, rest.substr(0, cut), rest.substr(cut),
                                       sluice::hmc::stomp::Parser::Commands::lenient, one_by_one);
  if (ok_one != ok_split || (ok_one && !same(one_by_one, split))) abort();
  if (parse_one_by_one(v, rest.substr(0, cut), rest.substr(cut),
                       sluice::hmc::stomp::Parser::Commands::uppercase, upper)) {
    if (!ok_one) abort();  // uppercase accepts a subset of what lenient accepts
    for (const auto& f : upper) {
      for (char c : f.command)
        if (c < 'A' || c > 'Z') abort();
      // The fake's header writing: no value may break its line.
      for (const auto& [k, val] : f.headers) {
        std::string out;
        sluice::hmc::stomp::append_escaped(out, val, v, sluice::hmc::stomp::RawBreak::blank);
        if (out.find_first_of("\r\n") != std::string::npos) abort();
      }
    }
  }
  // Whatever parsed must serialise and parse back to itself.
  for (const auto& f : whole) {
    if (f.command == "CONNECTED" || f.command == "CONNECT" || f.command == "STOMP") continue;
    std::vector<sluice::hmc::stomp::Frame> again;
    sluice::hmc::stomp::Parser p(1 << 20);
    p.set_version(v);
    p.set_max_headers(f.headers.size() + 1);  // serialize may add content-length
    try {
      p.feed(sluice::hmc::stomp::serialize(f, v), again);
    } catch (const sluice::hmc::stomp::FrameError&) {
      // 1.0 cannot carry a header value with a newline; the parser never produces one there.
      abort();
    }
    if (again.size() != 1 || again[0].body != f.body) abort();
  }
  return 0;
}
