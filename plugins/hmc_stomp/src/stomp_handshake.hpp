// The STOMP handshake's decisions, apart from the socket: what the broker's answer to
// STOMP/CONNECT means (CONNECTED with a version and heart-beats, or an ERROR, and whether that
// ERROR refuses the STOMP command itself), and the heart-beat intervals negotiated. Pure, so it
// is unit-tested and fuzzed on its own; StompConnection acts on what it decides.
#pragma once

#include "stomp_frame.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::hmc {

// The broker's heart-beat values are clamped to this (one hour): a value near 2^63 ms would
// overflow the timers (a "nothing for -2 ms" reconnect loop, or newlines sent without pause).
inline constexpr int64_t kMaxBrokerHeartbeatMs = 3600000;

// Heart-beat intervals negotiated from our wish and the broker's CONNECTED `heart-beat` header
// (STOMP 1.1+: each side uses the larger of what one offers and the other wants; 0 on either
// side turns a direction off). `warnings` says what a user should know: a header that is
// malformed (taken as 0,0) or clamped, or the broker declining heart-beats we asked for.
struct Heartbeats {
  std::chrono::milliseconds send{0};
  std::chrono::milliseconds receive{0};
  std::vector<std::string> warnings;
};
Heartbeats negotiate_heartbeats(std::chrono::milliseconds want_send,
                                std::chrono::milliseconds want_receive,
                                std::optional<std::string_view> broker_header);

// True when an ERROR frame answering our STOMP frame says the broker does not know the STOMP
// command (a STOMP 1.0 broker): only then is CONNECT worth a try. An ERROR about the login, or
// anything else, is not: a second logon with the same credentials would fail too, and under a
// lockout policy every failed logon counts. Decided on the message header (or the body's first line
// without one): it names the command (STOMP, in capitals, as a word), says it is unknown or
// unsupported, and says nothing about a login, password, user, permission or security.
bool rejects_stomp_command(const stomp::FrameView& error);

// What the broker's first frame (its answer to STOMP/CONNECT) means: the whole decision, without
// a socket, so it is unit-tested and fuzzed on its own.
struct ConnectAnswer {
  enum class Kind {
    connected,   // CONNECTED: version and heart-beats below
    rejected,    // ERROR: `reason`; refused_command when it refuses the STOMP command itself
    unexpected,  // any other frame
  };
  Kind kind = Kind::unexpected;
  std::string reason;
  bool refused_command = false;
  stomp::Version version = stomp::Version::v1_0;
  Heartbeats heartbeats;
};
// `want_send` / `want_receive`: the heart-beats we offered (heartbeat.send / heartbeat.receive).
ConnectAnswer read_connect_answer(const stomp::FrameView& first,
                                  std::chrono::milliseconds want_send,
                                  std::chrono::milliseconds want_receive);

}  // namespace sluice::hmc
