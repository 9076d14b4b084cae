// STOMP frames: an incremental parser and a serializer. Pure, no I/O, so it is unit-tested and
// fuzzed on its own. Shared by the plugin (client side) and the fake HMC (broker side, library
// hmc_stomp_frame); the few rules the two sides want differently are parameters. Covers
// STOMP 1.0, 1.1 and 1.2: EOL as \n or \r\n, heart-beat EOLs between frames, bodies by
// content-length or up to the NUL, header escaping per version (CONNECT, STOMP and CONNECTED never
// escaped), repeated headers (the first one counts).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace sluice::hmc::stomp {

enum class Version { v1_0, v1_1, v1_2 };

const char* to_string(Version v);
std::optional<Version> parse_version(std::string_view text);  // "1.0", "1.1", "1.2"

struct FrameView;

struct Frame {
  std::string command;
  std::vector<std::pair<std::string, std::string>> headers;  // in frame order, unescaped
  std::string body;

  // The first value of a header (repeated headers: the first one wins), or nullptr.
  const std::string* header(std::string_view name) const;
  Frame& add(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  // Views into this frame (valid while it is unchanged), for code that takes a FrameView.
  FrameView view() const;
  static Frame copy_of(const FrameView& v);
};

// A parsed frame as views into the parser's buffer: what the hot path reads without copying.
// Valid until the parser is next fed; copy_of() keeps one.
struct FrameView {
  std::string_view command;
  std::vector<std::pair<std::string_view, std::string_view>> headers;  // in frame order, unescaped
  std::string_view body;

  // The first value of a header (repeated headers: the first one wins).
  std::optional<std::string_view> header(std::string_view name) const;
};

// Calls f(name, value) for the first header of each name, in frame order: repeated headers are
// skipped (the first one counts). Linear in the number of headers, so a peer's frame with many
// headers costs time in proportion to its size, never its square.
template <typename F>
void for_each_distinct_header(const FrameView& frame, F&& f) {
  const auto& h = frame.headers;
  // A few headers (every real frame): comparing with the earlier ones is quickest, and only
  // needed for a name whose bit in a 64-bit filter (by length and last byte) an earlier name
  // has set already: the names of an HMC notification nearly all have bits of their own.
  constexpr size_t kSmall = 24;
  if (h.size() <= kSmall) {
    uint64_t seen = 0;
    for (size_t i = 0; i < h.size(); ++i) {
      const std::string_view k = h[i].first;
      const unsigned last = k.empty() ? 0 : static_cast<unsigned char>(k.back());
      const uint64_t bit = uint64_t{1} << ((k.size() * 7 + last) & 63);
      bool repeated = false;
      if (seen & bit)
        for (size_t j = 0; j < i && !repeated; ++j)
          repeated = h[j].first == k;
      seen |= bit;
      if (!repeated) f(k, h[i].second);
    }
    return;
  }
  std::unordered_set<std::string_view> seen;
  seen.reserve(h.size());
  for (const auto& [k, v] : h)
    if (seen.insert(k).second) f(k, v);
}

// A frame the peer sent that cannot be parsed; the stream cannot be trusted after it.
struct FrameError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Escaping rules of a frame: CONNECT, STOMP and CONNECTED are never escaped, others per version.
bool escapes_headers(std::string_view command, Version v);
std::string escape_header(std::string_view text, Version v);
// What append_escaped does with a line break the version has no escape for (CR and LF in 1.0, CR
// in 1.1): `keep` writes it as it is (escape_header's rule), `blank` writes a space so a header
// never breaks its line (the fake broker's rule). With `blank`, 1.0 escapes nothing at all.
enum class RawBreak { keep, blank };
// Appends `text` escaped for `v` (escape_header's rules unless `raw` is `blank`).
void append_escaped(std::string& out, std::string_view text, Version v,
                    RawBreak raw = RawBreak::keep);
// Throws FrameError on an escape the version does not define (1.1: \r is undefined).
std::string unescape_header(std::string_view text, Version v);

// Serialises a frame. A non-empty body gets a content-length header unless the frame has one.
std::string serialize(const Frame& f, Version v);

// Headers a frame may have unless the parser is told otherwise (Parser::set_max_headers).
inline constexpr size_t kDefaultMaxHeaders = 1000;

class Parser {
 public:
  // Command names accepted: ASCII letters and '_' (`lenient`, the client's rule), or only the
  // uppercase letters the STOMP grammar has (`uppercase`, the fake broker's rule).
  enum class Commands { lenient, uppercase };

  explicit Parser(size_t max_frame_bytes = 16u << 20, Commands commands = Commands::lenient)
      : max_frame_(max_frame_bytes), commands_(commands) {}

  void set_version(Version v) { version_ = v; }
  Version version() const { return version_; }
  // A frame with more headers than this is an error like a frame over max_frame_bytes, found as
  // soon as the header after the last allowed one arrives (not after the whole frame).
  void set_max_headers(size_t n) { max_headers_ = n; }
  size_t max_headers() const { return max_headers_; }

  // Consumes bytes, appending every complete frame to `out`. Bytes of an incomplete frame are
  // kept for the next call. Throws FrameError on a bad or too large frame; the parser is then
  // spent (the caller closes the connection).
  void feed(std::string_view data, std::vector<Frame>& out);

  // One frame at a time, for a reader that acts on each frame as it comes (the client, with no
  // copy) or whose version changes between frames (a broker after CONNECT): append() keeps the
  // bytes, next() parses the next complete frame into `out` and returns true, or returns false
  // when more bytes are needed. A FrameView points into the parser's buffer (headers unescaped
  // in place) and stays valid until the next append(). next() throws FrameError like feed().
  void append(std::string_view data);
  bool next(FrameView& out);
  bool next(Frame& out);

  // append() without the copy, for a reader that reads straight into the parser's buffer:
  // prepare(n) gives room for n more bytes at its end, commit(k) (k <= n, once) adds the k bytes
  // read there. prepare() ends the FrameViews handed out before, like append().
  std::span<char> prepare(size_t n);
  void commit(size_t n);

  // Heart-beat EOLs seen between frames, since construction.
  uint64_t heartbeats() const { return heartbeats_; }
  // Bytes held for an incomplete frame.
  size_t buffered() const { return end_ - pos_; }
  // Bytes the buffer takes, received and room: one partial frame and the room last asked for.
  size_t capacity() const { return buf_.size(); }

 private:
  // A piece of the current frame, as an offset from its first byte (pos_): offsets survive the
  // buffer moving when append() compacts or grows it.
  struct Span {
    size_t offset = 0;
    size_t size = 0;
  };

  // A line of the head, as offsets from the frame's start: its end (before "\r\n" or "\n"),
  // its first ':' (kNone: none) and whether it holds a backslash.
  static constexpr size_t kNone = ~size_t{0};
  struct Line {
    size_t start, end, colon;
    bool escaped;
  };

  bool parse_one(FrameView& f);  // false: need more bytes
  bool scan_head(const char* frame, size_t size);
  void parse_head(char* head);
  Span unescape_in_place(char* frame, size_t offset, size_t size);
  [[noreturn]] void fail(const std::string& why);

  size_t max_frame_;
  size_t max_headers_ = kDefaultMaxHeaders;
  Commands commands_;
  Version version_ = Version::v1_0;
  // Received bytes are buf_[0, end_); the rest of buf_ is room for the next read (buf_ is only
  // resized to grow, so that room is not zero-filled again for every read).
  std::string buf_;
  size_t end_ = 0;
  size_t room_ = 0;  // what the last prepare() offered and commit() may still fill
  size_t pos_ = 0;   // start of the current (unparsed) frame in buf_
  // Progress within the current frame, as offsets from pos_, so a frame arriving in many reads
  // is scanned once, not once per read.
  size_t scan_off_ = 0;  // where scan_head resumes
  size_t head_len_ = 0;  // command + headers + blank line; 0 while not complete
  // scan_head's progress: the lines found so far and the one it is in.
  std::vector<Line> lines_;
  size_t line_start_ = 0;
  size_t line_colon_ = kNone;
  bool line_escaped_ = false;
  std::optional<size_t> content_length_;
  size_t nul_off_ = 0;  // where to resume looking for the NUL (bodies without content-length)
  // The parsed head of the current frame, once head_len_ != 0.
  Span command_;
  std::vector<std::pair<Span, Span>> header_spans_;
  FrameView scratch_;  // next(Frame&)'s view, kept for its storage
  bool failed_ = false;
  uint64_t heartbeats_ = 0;
};

}  // namespace sluice::hmc::stomp
