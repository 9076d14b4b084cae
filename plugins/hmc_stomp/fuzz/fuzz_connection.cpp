// libFuzzer target for the STOMP connection's handling of the broker's frames, without a socket:
// the bytes are what a broker sends after our STOMP frame. They go through the parser the way
// StompConnection reads them (version 1.0 until CONNECTED, then the broker's), the first frame
// through read_connect_answer (CONNECTED, ERROR or anything else), heart-beat EOLs counted after.
// Byte 0 picks the heart-beats we want to send, byte 1 those we want to receive, byte 2 the
// max_headers limit and where to split the stream into two reads. Properties: no crash, no
// sanitizer report (the timers' arithmetic included), errors only as FrameError, negotiated
// intervals within [what we want, max(what we want, kMaxBrokerHeartbeatMs)] or 0, warnings and
// reasons never break a log line.
#include "stomp_frame.hpp"
#include "stomp_handshake.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {
using std::chrono::milliseconds;

// Ours: off, tiny, usual, and the largest duration an option takes (sluice::kMaxDurationMs).
milliseconds wish(uint8_t b) {
  static constexpr int64_t kChoices[] = {0, 1, 10000, 1000000000000};
  return milliseconds(kChoices[b % 4]);
}

bool one_line(std::string_view s) {
  for (char c : s)
    if (c == '\n' || c == '\r') return false;
  return true;
}

void check_interval(milliseconds got, milliseconds want) {
  if (got.count() == 0) return;
  if (want.count() == 0) abort();  // a direction we turned off stays off
  if (got < want) abort();
  if (got.count() > std::max<int64_t>(want.count(), sluice::hmc::kMaxBrokerHeartbeatMs)) abort();
  // What the heart-beat timer and the watchdog compute must not overflow the clock.
  using Clock = std::chrono::steady_clock;
  const auto twice = std::chrono::duration_cast<Clock::duration>(2 * got);
  if (twice.count() <= 0 || twice / 2 != std::chrono::duration_cast<Clock::duration>(got)) abort();
}

void check(const sluice::hmc::Heartbeats& hb, milliseconds send, milliseconds receive) {
  check_interval(hb.send, send);
  check_interval(hb.receive, receive);
  for (const auto& w : hb.warnings)
    if (!one_line(w)) abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const milliseconds send = wish(data[0]), receive = wish(data[1]);
  static constexpr size_t kMaxHeaders[] = {1, 4, 1000};
  const size_t max_headers = kMaxHeaders[data[2] % 3];
  std::string_view rest(reinterpret_cast<const char*>(data + 3), size - 3);
  const size_t cut = rest.empty() ? 0 : (data[2] / 3) % (rest.size() + 1);

  // The header alone, as a broker could write it.
  check(sluice::hmc::negotiate_heartbeats(send, receive, rest.substr(0, 64)), send, receive);

  sluice::hmc::stomp::Parser parser(4096);
  parser.set_max_headers(max_headers);
  bool connected = false;
  try {
    for (std::string_view part : {rest.substr(0, cut), rest.substr(cut)}) {
      parser.append(part);
      sluice::hmc::stomp::FrameView f;
      while (parser.next(f)) {
        if (f.headers.size() > max_headers) abort();
        if (connected) continue;  // later frames go to the listener (fuzz_events covers them)
        const sluice::hmc::ConnectAnswer a = sluice::hmc::read_connect_answer(f, send, receive);
        switch (a.kind) {
          case sluice::hmc::ConnectAnswer::Kind::connected:
            if (f.command != "CONNECTED") abort();
            check(a.heartbeats, send, receive);
            if (a.version == sluice::hmc::stomp::Version::v1_0 &&
                (a.heartbeats.send.count() || a.heartbeats.receive.count()))
              abort();  // 1.0 has no heart-beats
            parser.set_version(a.version);
            connected = true;
            break;
          case sluice::hmc::ConnectAnswer::Kind::rejected:
            if (f.command != "ERROR") abort();
            if (a.reason.rfind("broker refused the connection: ", 0) != 0) abort();
            break;
          case sluice::hmc::ConnectAnswer::Kind::unexpected:
            if (f.command == "CONNECTED" || f.command == "ERROR") abort();
            if (a.reason.rfind("expected CONNECTED, got ", 0) != 0) abort();
            break;
        }
        if (a.kind != sluice::hmc::ConnectAnswer::Kind::connected)
          return 0;  // the connection closes
      }
    }
  } catch (const sluice::hmc::stomp::FrameError&) {
    // The connection closes; nothing else may escape.
  }
  return 0;
}
