#include "stomp_handshake.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>

namespace sluice::hmc {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// Printable text of a peer's header for a log line: at most 40 bytes, control bytes as '?'.
std::string shown(std::string_view s) {
  std::string out(s.substr(0, 40));
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  if (s.size() > 40) out += "...";
  return out;
}

bool is_letter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// One value of a heart-beat header: digits only, clamped to kMaxBrokerHeartbeatMs.
std::optional<int64_t> heartbeat_value(std::string_view text, bool& clamped) {
  text = trim(text);
  if (text.empty() || text.size() > 40) return std::nullopt;
  for (char c : text)
    if (c < '0' || c > '9') return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range || v > static_cast<uint64_t>(kMaxBrokerHeartbeatMs)) {
    clamped = true;
    return kMaxBrokerHeartbeatMs;
  }
  if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return static_cast<int64_t>(v);
}

}  // namespace

Heartbeats negotiate_heartbeats(std::chrono::milliseconds want_send,
                                std::chrono::milliseconds want_receive,
                                std::optional<std::string_view> header) {
  Heartbeats hb;
  int64_t sx = 0, sy = 0;  // what the broker can send, what it wants to receive
  if (header) {
    const size_t comma = header->find(',');
    bool clamped = false;
    std::optional<int64_t> x, y;
    if (comma != std::string_view::npos) {
      x = heartbeat_value(header->substr(0, comma), clamped);
      y = heartbeat_value(header->substr(comma + 1), clamped);
    }
    if (x && y) {
      sx = *x;
      sy = *y;
      if (clamped)
        hb.warnings.push_back("broker heart-beat '" + shown(*header) + "' clamped to at most " +
                              std::to_string(kMaxBrokerHeartbeatMs) + " ms");
    } else {
      hb.warnings.push_back("broker heart-beat '" + shown(*header) +
                            "' is not two numbers of milliseconds: taken as 0,0");
    }
  }
  // Our wishes come from options bounded by sluice::kMaxDurationMs, so these never overflow.
  const int64_t cx = want_send.count(), cy = want_receive.count();
  hb.send = std::chrono::milliseconds(cx <= 0 || sy == 0 ? 0 : std::max(cx, sy));
  hb.receive = std::chrono::milliseconds(cy <= 0 || sx == 0 ? 0 : std::max(cy, sx));
  if (cy > 0 && sx == 0) {
    // Appended, not "literal" + std::string: GCC 12 reports a false -Wrestrict on that.
    std::string w = "the broker sends no heart-beats (heart-beat ";
    if (header) {
      w += '\'';
      w += shown(*header);
      w += '\'';
    } else {
      w += "header missing";
    }
    w += "): a dead broker or a lost connection is then noticed only through TCP";
    hb.warnings.push_back(std::move(w));
  }
  return hb;
}

bool rejects_stomp_command(const stomp::FrameView& error) {
  // What the broker says: its message header, or without one the first line of the body (a
  // body often carries a stack trace whose class names prove nothing either way).
  std::string_view said = error.header("message").value_or(std::string_view());
  if (said.empty()) said = error.body.substr(0, std::min(error.body.find('\n'), size_t{1024}));
  const std::string text(said);
  // The command named as a word: "STOMP" in capitals, not inside a longer name.
  bool names_command = false;
  for (size_t at = text.find("STOMP"); at != std::string::npos && !names_command;
       at = text.find("STOMP", at + 1))
    names_command = (at == 0 || !is_letter(text[at - 1])) &&
                    (at + 5 == text.size() || !is_letter(text[at + 5]));
  if (!names_command) return false;
  const std::string l = lower(text);
  for (const char* auth : {"login", "logon", "password", "passcode", "credential", "authenticat",
                           "authoriz", "security", "denied", "permission", "user"})
    if (l.find(auth) != std::string::npos) return false;
  for (const char* unknown :
       {"unknown", "unsupported", "not supported", "unrecognized", "unrecognised",
        "invalid command", "bad command", "illegal command", "not implemented", "no such command"})
    if (l.find(unknown) != std::string::npos) return true;
  return false;
}

ConnectAnswer read_connect_answer(const stomp::FrameView& f, std::chrono::milliseconds want_send,
                                  std::chrono::milliseconds want_receive) {
  ConnectAnswer a;
  if (f.command == "ERROR") {
    a.kind = ConnectAnswer::Kind::rejected;
    const auto message = f.header("message");
    a.reason = "broker refused the connection: ";
    a.reason += message && !message->empty() ? *message : f.body.substr(0, 200);
    a.refused_command = rejects_stomp_command(f);
    return a;
  }
  if (f.command != "CONNECTED") {
    a.reason = "expected CONNECTED, got ";
    a.reason += f.command.substr(0, 40);
    return a;
  }
  a.kind = ConnectAnswer::Kind::connected;
  const auto v = f.header("version");
  a.version = v ? stomp::parse_version(*v).value_or(stomp::Version::v1_0) : stomp::Version::v1_0;
  // Heart-beats are STOMP 1.1+; a 1.0 broker has none.
  a.heartbeats = negotiate_heartbeats(
      want_send, want_receive,
      a.version == stomp::Version::v1_0 ? std::nullopt : f.header("heart-beat"));
  return a;
}

}  // namespace sluice::hmc
