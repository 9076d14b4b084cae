// The STOMP connection's decisions without a socket: the answer to STOMP/CONNECT (CONNECTED,
// ERROR, anything else), heart-beat negotiation, and when CONNECT is worth a try.
#include "stomp_handshake.hpp"

#include <doctest/doctest.h>

#include <string>

using sluice::hmc::ConnectAnswer;
using sluice::hmc::negotiate_heartbeats;
using sluice::hmc::stomp::Frame;
using std::chrono::milliseconds;

namespace {
bool warned(const sluice::hmc::Heartbeats& hb, const std::string& text) {
  for (const auto& w : hb.warnings)
    if (w.find(text) != std::string::npos) return true;
  return false;
}

Frame error_frame(std::string message, std::string body = {}) {
  Frame f;
  f.command = "ERROR";
  if (!message.empty()) f.add("message", std::move(message));
  f.body = std::move(body);
  return f;
}
}  // namespace

TEST_CASE("heart-beats: each direction takes the larger value, 0 on either side turns it off") {
  auto hb = negotiate_heartbeats(milliseconds(10000), milliseconds(10000), "5000,20000");
  CHECK(hb.send == milliseconds(20000));
  CHECK(hb.receive == milliseconds(10000));
  CHECK(hb.warnings.empty());
  hb = negotiate_heartbeats(milliseconds(0), milliseconds(1000), "0,5000");
  CHECK(hb.send == milliseconds(0));
  CHECK(hb.receive == milliseconds(0));
  hb = negotiate_heartbeats(milliseconds(0), milliseconds(0), "0,0");
  CHECK(hb.warnings.empty());  // nothing asked for, nothing to say
}

TEST_CASE("heart-beats: values near 2^63 or past 2^64 are clamped to an hour, with a warning") {
  for (const char* header :
       {"9223372036854775807,9223372036854775807", "9223372036854775806,9223372036854775806",
        "18446744073709551615,18446744073709551615", "99999999999999999999999,3600001"}) {
    CAPTURE(header);
    auto hb = negotiate_heartbeats(milliseconds(100), milliseconds(100), header);
    CHECK(hb.send == milliseconds(sluice::hmc::kMaxBrokerHeartbeatMs));
    CHECK(hb.receive == milliseconds(sluice::hmc::kMaxBrokerHeartbeatMs));
    CHECK(warned(hb, "clamped to at most 3600000 ms"));
    // The timers computed from them stay positive (they overflowed before).
    CHECK(2 * std::chrono::nanoseconds(hb.receive) > std::chrono::nanoseconds(0));
  }
  // Exactly an hour is no clamp.
  auto hb = negotiate_heartbeats(milliseconds(100), milliseconds(100), "3600000,3600000");
  CHECK(hb.receive == milliseconds(3600000));
  CHECK(hb.warnings.empty());
}

TEST_CASE("heart-beats: a malformed header counts as 0,0 and says so") {
  for (const char* header : {"", "1000", "-5,-5", "+5,5", "a,b", "1000,", "0x10,10", "1 0,10"}) {
    CAPTURE(header);
    auto hb = negotiate_heartbeats(milliseconds(100), milliseconds(100), header);
    CHECK(hb.send == milliseconds(0));
    CHECK(hb.receive == milliseconds(0));
    CHECK(warned(hb, "is not two numbers of milliseconds: taken as 0,0"));
  }
  // Blanks around the numbers are tolerated.
  auto hb = negotiate_heartbeats(milliseconds(100), milliseconds(100), " 200 , 300 ");
  CHECK(hb.send == milliseconds(300));
  CHECK(hb.receive == milliseconds(200));
}

TEST_CASE("heart-beats: a broker that declines them gets a warning about dead peers") {
  auto hb = negotiate_heartbeats(milliseconds(10000), milliseconds(10000), "0,0");
  CHECK(hb.receive == milliseconds(0));
  CHECK(warned(hb, "noticed only through TCP"));
  hb = negotiate_heartbeats(milliseconds(10000), milliseconds(10000), std::nullopt);
  CHECK(warned(hb, "header missing"));
  CHECK(warned(hb, "noticed only through TCP"));
}

TEST_CASE("rejects_stomp_command: only an ERROR about the STOMP command itself") {
  CHECK(sluice::hmc::rejects_stomp_command(error_frame("Unknown STOMP action: STOMP").view()));
  CHECK(sluice::hmc::rejects_stomp_command(
      error_frame("", "Unsupported command STOMP\nat x\n").view()));
  // The message decides; a stack trace in the body does not turn it into a login error.
  CHECK(sluice::hmc::rejects_stomp_command(
      error_frame("Unknown STOMP action: STOMP",
                  "java.lang.SecurityException: Unknown STOMP action: STOMP")
          .view()));
  CHECK(
      !sluice::hmc::rejects_stomp_command(error_frame("", "Access denied\nUnknown STOMP").view()));
  CHECK(sluice::hmc::rejects_stomp_command(error_frame("STOMP: unrecognized command").view()));
  // Login errors, even those that name STOMP, are not.
  CHECK(!sluice::hmc::rejects_stomp_command(
      error_frame("User name [user] or password is invalid.",
                  "java.lang.SecurityException: User name [user] or password is invalid.\n\tat "
                  "org.apache.activemq.transport.stomp.ProtocolConverter.onStompConnect")
          .view()));
  CHECK(
      !sluice::hmc::rejects_stomp_command(error_frame("Unknown user for STOMP connection").view()));
  CHECK(!sluice::hmc::rejects_stomp_command(error_frame("STOMP logon refused").view()));
  // Other ERRORs, and "stomp" inside a longer name, are not either.
  CHECK(!sluice::hmc::rejects_stomp_command(
      error_frame("Supported protocol versions are 1.0").view()));
  CHECK(!sluice::hmc::rejects_stomp_command(error_frame("unknown transport.stomp failure").view()));
  CHECK(!sluice::hmc::rejects_stomp_command(error_frame("Unknown STOMPX action").view()));
  CHECK(!sluice::hmc::rejects_stomp_command(error_frame("").view()));
}

TEST_CASE("read_connect_answer: CONNECTED, ERROR and anything else") {
  const milliseconds send(1000), receive(2000);

  Frame connected{"CONNECTED", {{"version", "1.2"}, {"heart-beat", "3000,500"}}, {}};
  ConnectAnswer a = sluice::hmc::read_connect_answer(connected.view(), send, receive);
  CHECK(a.kind == ConnectAnswer::Kind::connected);
  CHECK(a.version == sluice::hmc::stomp::Version::v1_2);
  CHECK(a.heartbeats.send == milliseconds(1000));
  CHECK(a.heartbeats.receive == milliseconds(3000));

  // STOMP 1.0 has no heart-beats, whatever the header says.
  Frame v10{"CONNECTED", {{"heart-beat", "9223372036854775807,1"}}, {}};
  a = sluice::hmc::read_connect_answer(v10.view(), send, receive);
  CHECK(a.version == sluice::hmc::stomp::Version::v1_0);
  CHECK(a.heartbeats.send == milliseconds(0));
  CHECK(a.heartbeats.receive == milliseconds(0));

  a = sluice::hmc::read_connect_answer(error_frame("User name [u] or password is invalid.").view(),
                                       send, receive);
  CHECK(a.kind == ConnectAnswer::Kind::rejected);
  CHECK(a.reason == "broker refused the connection: User name [u] or password is invalid.");
  CHECK(!a.refused_command);
  a = sluice::hmc::read_connect_answer(error_frame("Unknown STOMP action: STOMP").view(), send,
                                       receive);
  CHECK(a.kind == ConnectAnswer::Kind::rejected);
  CHECK(a.refused_command);

  Frame other{"MESSAGE", {}, {}};
  a = sluice::hmc::read_connect_answer(other.view(), send, receive);
  CHECK(a.kind == ConnectAnswer::Kind::unexpected);
  CHECK(a.reason == "expected CONNECTED, got MESSAGE");
}
