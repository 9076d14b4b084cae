#include "stomp_frame.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace sluice::hmc::stomp {

const char* to_string(Version v) {
  switch (v) {
    case Version::v1_0:
      return "1.0";
    case Version::v1_1:
      return "1.1";
    case Version::v1_2:
      return "1.2";
  }
  return "?";
}

std::optional<Version> parse_version(std::string_view t) {
  if (t == "1.0") return Version::v1_0;
  if (t == "1.1") return Version::v1_1;
  if (t == "1.2") return Version::v1_2;
  return std::nullopt;
}

const std::string* Frame::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return &v;
  return nullptr;
}

std::optional<std::string_view> FrameView::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return std::nullopt;
}

FrameView Frame::view() const {
  FrameView v;
  v.command = command;
  v.headers.reserve(headers.size());
  for (const auto& [k, val] : headers)
    v.headers.emplace_back(k, val);
  v.body = body;
  return v;
}

Frame Frame::copy_of(const FrameView& v) {
  Frame f;
  f.command = v.command;
  f.headers.reserve(v.headers.size());
  for (const auto& [k, val] : v.headers)
    f.headers.emplace_back(k, val);
  f.body = v.body;
  return f;
}

bool escapes_headers(std::string_view command, Version v) {
  if (v == Version::v1_0) return false;
  return command != "CONNECT" && command != "STOMP" && command != "CONNECTED";
}

std::string escape_header(std::string_view text, Version v) {
  std::string out;
  out.reserve(text.size());
  append_escaped(out, text, v);
  return out;
}

void append_escaped(std::string& out, std::string_view text, Version v, RawBreak raw) {
  const bool blank = raw == RawBreak::blank;
  if (blank && v == Version::v1_0) {
    // 1.0 has no escapes; a line break would end the header, so it becomes a blank.
    for (char c : text)
      out += c == '\n' || c == '\r' ? ' ' : c;
    return;
  }
  for (char c : text) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case ':':
        out += "\\c";
        break;
      case '\r':
        if (v == Version::v1_2)
          out += "\\r";
        else
          out += blank ? ' ' : c;  // 1.0 and 1.1 have no escape for CR
        break;
      default:
        out += c;
    }
  }
}

namespace {
// Decodes the escapes of `text` (n bytes) into `out`, which may be `text` itself: the result is
// never longer. Returns its length. Throws FrameError on an escape `v` does not define.
size_t unescape_to(char* out, const char* text, size_t n, Version v) {
  const char* bs = static_cast<const char*>(std::memchr(text, '\\', n));
  if (!bs) {  // the common case
    if (out != text) std::memcpy(out, text, n);
    return n;
  }
  const size_t plain = static_cast<size_t>(bs - text);
  if (out != text) std::memcpy(out, text, plain);
  size_t o = plain;
  for (size_t i = plain; i < n; ++i) {
    if (text[i] != '\\') {
      // The run up to the next backslash (or the end) in one move; out may be text itself.
      const void* next = std::memchr(text + i, '\\', n - i);
      const size_t run =
          (next ? static_cast<size_t>(static_cast<const char*>(next) - text) : n) - i;
      std::memmove(out + o, text + i, run);
      o += run;
      i += run - 1;
      continue;
    }
    if (i + 1 == n) throw FrameError("bad frame: header ends with a lone backslash");
    const char e = text[++i];
    switch (e) {
      case '\\':
        out[o++] = '\\';
        break;
      case 'n':
        out[o++] = '\n';
        break;
      case 'c':
        out[o++] = ':';
        break;
      case 'r':
        if (v == Version::v1_2) {
          out[o++] = '\r';
          break;
        }
        [[fallthrough]];
      default:
        throw FrameError(std::string("bad frame: undefined escape '\\") + e + "' in STOMP " +
                         to_string(v) + " header");
    }
  }
  return o;
}
}  // namespace

std::string unescape_header(std::string_view text, Version v) {
  std::string out(text.size(), '\0');
  out.resize(unescape_to(out.data(), text.data(), text.size(), v));
  return out;
}

std::string serialize(const Frame& f, Version v) {
  const bool esc = escapes_headers(f.command, v);
  std::string out;
  out.reserve(f.command.size() + f.body.size() + 64 * (f.headers.size() + 1));
  out += f.command;
  out += '\n';
  bool has_length = false;
  for (const auto& [k, val] : f.headers) {
    if (k == "content-length") has_length = true;
    if (esc) {
      out += escape_header(k, v);
      out += ':';
      out += escape_header(val, v);
    } else {
      out += k;
      out += ':';
      out += val;
    }
    out += '\n';
  }
  if (!has_length && !f.body.empty()) {
    out += "content-length:";
    out += std::to_string(f.body.size());
    out += '\n';
  }
  out += '\n';
  out += f.body;
  out += '\0';
  return out;
}

void Parser::fail(const std::string& why) {
  failed_ = true;
  throw FrameError(why);
}

void Parser::append(std::string_view data) {
  const std::span<char> room = prepare(data.size());
  if (!data.empty()) std::memcpy(room.data(), data.data(), data.size());
  commit(data.size());
}

std::span<char> Parser::prepare(size_t n) {
  if (failed_) throw FrameError("bad frame: parser used after an error");
  // Drop consumed bytes before growing the buffer so it holds at most one partial frame.
  if (pos_ > 0) {
    std::memmove(buf_.data(), buf_.data() + pos_, end_ - pos_);
    end_ -= pos_;
    pos_ = 0;
  }
  if (buf_.size() - end_ < n) buf_.resize(end_ + n);
  room_ = n;
  return {buf_.data() + end_, n};
}

void Parser::commit(size_t n) {
  if (n > room_) throw std::logic_error("stomp::Parser::commit: more than prepare() offered");
  end_ += n;
  room_ = 0;
}

bool Parser::next(FrameView& out) {
  if (failed_) throw FrameError("bad frame: parser used after an error");
  return parse_one(out);
}

bool Parser::next(Frame& out) {
  if (!next(scratch_)) return false;
  out = Frame::copy_of(scratch_);
  return true;
}

void Parser::feed(std::string_view data, std::vector<Frame>& out) {
  append(data);
  // A bad frame throws after the good ones before it are in `out`.
  while (next(scratch_))
    out.push_back(Frame::copy_of(scratch_));
}

namespace {
bool is_command_char(char c, Parser::Commands commands) {
  if (c >= 'A' && c <= 'Z') return true;
  return commands == Parser::Commands::lenient && ((c >= 'a' && c <= 'z') || c == '_');
}
}  // namespace

// One frame from buf_[pos_...]: false when more bytes are needed.
bool Parser::parse_one(FrameView& f) {
  if (head_len_ == 0) {
    // Heart-beats: bare EOLs between frames.
    while (pos_ < end_) {
      if (buf_[pos_] == '\n') {
        ++pos_;
        ++heartbeats_;
      } else if (buf_[pos_] == '\r') {
        if (pos_ + 1 == end_) return false;
        if (buf_[pos_ + 1] != '\n') fail("bad frame: carriage return without line feed");
        pos_ += 2;
        ++heartbeats_;
      } else {
        break;
      }
    }
    if (pos_ == end_) return false;

    const size_t n = end_ - pos_;
    if (!scan_head(buf_.data() + pos_, n)) {
      if (n > max_frame_)
        fail("frame too large (" + std::to_string(n) + " bytes of headers > max_frame_bytes " +
             std::to_string(max_frame_) + ")");
      return false;
    }
    if (head_len_ > max_frame_)
      fail("frame too large (" + std::to_string(head_len_) +
           " bytes of headers > max_frame_bytes " + std::to_string(max_frame_) + ")");
    parse_head(buf_.data() + pos_);
  }

  const size_t n = end_ - pos_;
  size_t body_end;  // offset of the terminating NUL
  if (content_length_) {
    if (n < head_len_ + *content_length_ + 1) return false;
    body_end = head_len_ + *content_length_;
    if (buf_[pos_ + body_end] != '\0')
      fail("bad frame: body longer than content-length (no NUL after it)");
  } else {
    if (nul_off_ < head_len_) nul_off_ = head_len_;
    const void* nul = std::memchr(buf_.data() + pos_ + nul_off_, '\0', n - nul_off_);
    if (!nul) {
      nul_off_ = n;
      if (n > max_frame_)
        fail("frame too large (" + std::to_string(n) + " bytes without end > max_frame_bytes " +
             std::to_string(max_frame_) + ")");
      return false;
    }
    body_end = static_cast<size_t>(static_cast<const char*>(nul) - (buf_.data() + pos_));
  }
  const char* frame = buf_.data() + pos_;
  f.command = std::string_view(frame + command_.offset, command_.size);
  f.headers.clear();
  for (const auto& [k, v] : header_spans_)
    f.headers.emplace_back(std::string_view(frame + k.offset, k.size),
                           std::string_view(frame + v.offset, v.size));
  f.body = std::string_view(frame + head_len_, body_end - head_len_);
  pos_ += body_end + 1;
  head_len_ = 0;
  scan_off_ = 0;
  line_start_ = 0;
  line_colon_ = kNone;
  line_escaped_ = false;
  lines_.clear();
  nul_off_ = 0;
  content_length_.reset();
  return true;
}

Parser::Span Parser::unescape_in_place(char* frame, size_t offset, size_t size) {
  try {
    return {offset, unescape_to(frame + offset, frame + offset, size, version_)};
  } catch (const FrameError& e) {
    fail(e.what());
  }
  return {};
}

// Finds the lines of the head in one pass over the bytes, resuming where the last call stopped:
// for each line its end, its first ':' and whether it holds a '\\'. True once the blank line
// ending the head is found (head_len_ is then set). Sixteen bytes at a time where SSE2 is there.
bool Parser::scan_head(const char* b, size_t n) {
  size_t i = scan_off_;
  // One special byte at offset k: false when it ended the head.
  auto on_special = [&](size_t k) {
    const char c = b[k];
    if (c == ':') {
      if (line_colon_ == kNone) line_colon_ = k;
    } else if (c == '\\') {
      line_escaped_ = true;
    } else {  // '\n'
      const size_t end = k > line_start_ && b[k - 1] == '\r' ? k - 1 : k;
      if (end == line_start_) {
        head_len_ = k + 1;
        return false;
      }
      // lines_ holds the command line and then one line per header.
      if (lines_.size() > max_headers_)
        fail("frame too large (more headers than max_headers " + std::to_string(max_headers_) +
             ")");
      lines_.push_back({line_start_, end, line_colon_, line_escaped_});
      line_start_ = k + 1;
      line_colon_ = kNone;
      line_escaped_ = false;
    }
    return true;
  };
#if defined(__SSE2__)
  const __m128i newline = _mm_set1_epi8('\n'), colon = _mm_set1_epi8(':'),
                backslash = _mm_set1_epi8('\\');
  for (; i + 16 <= n; i += 16) {
    const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i));
    unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(block, newline), _mm_cmpeq_epi8(block, colon)),
                     _mm_cmpeq_epi8(block, backslash))));
    for (; mask; mask &= mask - 1)
      if (!on_special(i + static_cast<size_t>(__builtin_ctz(mask)))) return true;
  }
#endif
  for (; i < n; ++i)
    if ((b[i] == '\n' || b[i] == ':' || b[i] == '\\') && !on_special(i)) return true;
  scan_off_ = n;
  return false;
}

// Turns the lines scan_head found into the command and header spans. Escaped headers are
// decoded in place: the parser's buffer then holds the unescaped text, which FrameView shows.
void Parser::parse_head(char* head) {
  const Line& first = lines_.front();  // there is one: the head ends at the first blank line
  command_ = {0, first.end};
  const std::string_view command(head, first.end);
  for (char c : command)
    if (!is_command_char(c, commands_))
      fail("bad frame: '" + std::string(command.substr(0, 40)) + "' is not a STOMP command");
  const bool esc = escapes_headers(command, version_);
  header_spans_.clear();
  for (size_t l = 1; l < lines_.size(); ++l) {
    const Line& line = lines_[l];
    if (line.colon == kNone)
      fail("bad frame: header line without ':' in " + std::string(command) + " frame");
    Span key{line.start, line.colon - line.start}, value{line.colon + 1, line.end - line.colon - 1};
    if (esc && line.escaped) {
      key = unescape_in_place(head, key.offset, key.size);
      value = unescape_in_place(head, value.offset, value.size);
    }
    header_spans_.emplace_back(key, value);
    if (!content_length_ && std::string_view(head + key.offset, key.size) == "content-length") {
      const std::string_view text(head + value.offset, value.size);
      size_t len = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), len);
      if (text.empty() || ec != std::errc() || p != text.data() + text.size())
        fail("bad frame: content-length '" + std::string(text.substr(0, 40)) + "' is not a number");
      // The frame's size is what max_frame_bytes limits: its head plus its body.
      if (len > max_frame_ || len + head_len_ > max_frame_)
        fail("frame too large (" +
             (len > SIZE_MAX - head_len_ ? "over " + std::to_string(SIZE_MAX)
                                         : std::to_string(head_len_ + len)) +
             " bytes: " + std::to_string(head_len_) + " of headers + content-length " +
             std::to_string(len) + " > max_frame_bytes " + std::to_string(max_frame_) + ")");
      content_length_ = len;
    }
  }
}

}  // namespace sluice::hmc::stomp
