// The fake HMC's own STOMP codec, written from the STOMP 1.0/1.1/1.2 specifications and sharing
// nothing with the hmc_stomp plugin's parser, so a bug in one cannot hide the same bug in the
// other. The broker side only: it reads the frames a client sends (CONNECT/STOMP, SUBSCRIBE,
// UNSUBSCRIBE, ACK/NACK, DISCONNECT, heart-beat EOLs, ...) and writes CONNECTED, MESSAGE,
// RECEIPT and ERROR.
//
// Rules (stomp.github.io, "STOMP Protocol Specification" 1.0, 1.1 and 1.2):
// - frame = command EOL, header lines `name:value` EOL, an empty line, the body, NUL;
//   EOL is LF or CR LF; EOLs between frames are heart-beats.
// - the body is `content-length` bytes when that header is present (it may then hold NUL),
//   otherwise everything up to the first NUL.
// - header escaping: 1.1 defines \n \c \\, 1.2 adds \r; any other escape is an error. CONNECT,
//   STOMP and CONNECTED are never escaped; 1.0 has no escaping at all.
// - a repeated header: the first occurrence is the one that counts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::fakes::hmc::stomp {

enum class Version { v1_0, v1_1, v1_2 };

// "1.0", "1.1", "1.2"; anything else is nullopt.
std::optional<Version> parse_version(std::string_view text);
const char* version_name(Version v);

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct Frame {
  std::string command;
  HeaderList headers;  // in frame order, unescaped
  std::string body;
  // The first header called `name` (repeated headers: the first wins), or nullptr.
  const std::string* header(std::string_view name) const;
};

// A client frame that breaks the grammar; the connection cannot be trusted after it.
struct FrameError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Whether the headers of `command` are escaped in version `v`.
bool escaped_frame(std::string_view command, Version v);

// Decodes one escaped header name or value (throws FrameError on an undefined escape).
std::string unescape(std::string_view text, Version v);

// Appends `text` escaped for `v`. A line break the version cannot escape (CR or LF in 1.0, CR in
// 1.1) is written as a blank so a header never breaks its line; 1.0 escapes nothing else.
void append_escaped(std::string& out, std::string_view text, Version v);

// Appends a whole frame. Headers are escaped unless the command is never escaped (CONNECTED).
// `content_length`: add a content-length header (always for a non-empty body).
void append_frame(std::string& out, std::string_view command, const HeaderList& headers,
                  std::string_view body, Version v, bool content_length = false);

// Reads client frames from a byte stream, one at a time: the version negotiated by CONNECT
// applies to the very next frame of the same read.
class Reader {
 public:
  explicit Reader(size_t max_frame_bytes, size_t max_headers = 1000)
      : max_frame_(max_frame_bytes), max_headers_(max_headers) {}

  void set_version(Version v) { version_ = v; }
  Version version() const { return version_; }

  void append(std::string_view bytes);
  // The next complete frame into `out`: true; more bytes needed: false. Throws FrameError on a
  // frame that breaks the grammar or the limits; the reader is then spent.
  bool next(Frame& out);

  uint64_t heartbeats() const { return heartbeats_; }  // EOLs seen between frames
  size_t buffered() const { return buf_.size() - start_; }

 private:
  [[noreturn]] void fail(const std::string& why);
  void parse_head(Frame& out);

  size_t max_frame_;
  size_t max_headers_;
  Version version_ = Version::v1_0;
  std::string buf_;
  size_t start_ = 0;              // first byte of the current frame in buf_
  size_t scanned_ = 0;            // bytes of the current frame already scanned for the head's end
  size_t lines_ = 0;              // head lines found so far (command included)
  size_t head_end_ = 0;           // offset after the empty line; 0: head not complete yet
  std::optional<size_t> length_;  // content-length of the current frame
  bool failed_ = false;
  uint64_t heartbeats_ = 0;
  Frame pending_;  // the current frame's parsed head, once complete
};

}  // namespace sluice::fakes::hmc::stomp
