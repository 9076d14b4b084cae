// STOMP 1.0/1.1/1.2 frame codec for the fake HMC's broker side: reads client frames (CONNECT,
// SUBSCRIBE, ...) from a byte stream that may split or join frames anywhere, and escapes the
// header values of frames it sends. Kept apart from the server so a fuzzer can drive it alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::fakes::stomp {

enum class Version { v1_0, v1_1, v1_2 };

std::string_view to_string(Version v);
std::optional<Version> parse_version(std::string_view text);

struct Frame {
  std::string command;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // The first occurrence wins, as STOMP 1.2 says for repeated headers.
  const std::string* header(std::string_view name) const;
};

// Escapes a header value for `v`. CONNECT/CONNECTED frames are never escaped (STOMP 1.2 keeps
// them 1.0-compatible); callers pass Version::v1_0 for those.
void append_escaped(std::string& out, std::string_view value, Version v);

class FrameParser {
 public:
  enum class Status { frame, need_more, error };

  explicit FrameParser(size_t max_frame_bytes = 1 << 20) : max_frame_(max_frame_bytes) {}

  // Escaping rules depend on the negotiated version; 1.0 until CONNECTED says otherwise.
  void set_version(Version v) { version_ = v; }
  Version version() const { return version_; }

  void feed(const char* data, size_t size);

  // Next complete frame, or need_more, or error (then error() says why; the stream is unusable).
  Status next(Frame& out);

  const std::string& error() const { return error_; }
  // End-of-line bytes seen between frames: heart-beats.
  uint64_t heartbeats() const { return heartbeats_; }
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  Status fail(std::string why);
  bool unescape(std::string_view in, std::string& out, bool escaped);

  std::string buf_;
  size_t pos_ = 0;
  size_t max_frame_;
  Version version_ = Version::v1_0;
  std::string error_;
  uint64_t heartbeats_ = 0;
};

}  // namespace sluice::fakes::stomp
