#include "stomp_frame.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace stomp {

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
// Unescapes into `out` (overwritten), reusing its storage.
void unescape_into(std::string& out, std::string_view text, Version v) {
  const char* bs = static_cast<const char*>(std::memchr(text.data(), '\\', text.size()));
  if (!bs) {  // the common case
    out.assign(text.data(), text.size());
    return;
  }
  out.assign(text.data(), static_cast<size_t>(bs - text.data()));
  for (size_t i = static_cast<size_t>(bs - text.data()); i < text.size(); ++i) {
    char c = text[i];
    if (c != '\\') {
      out += c;
      continue;
    }
    if (i + 1 == text.size()) throw FrameError("bad frame: header ends with a lone backslash");
    char e = text[++i];
    switch (e) {
      case '\\':
        out += '\\';
        break;
      case 'n':
        out += '\n';
        break;
      case 'c':
        out += ':';
        break;
      case 'r':
        if (v == Version::v1_2) {
          out += '\r';
          break;
        }
        [[fallthrough]];
      default:
        throw FrameError(std::string("bad frame: undefined escape '\\") + e + "' in STOMP " +
                         to_string(v) + " header");
    }
  }
}
}  // namespace

std::string unescape_header(std::string_view text, Version v) {
  std::string out;
  unescape_into(out, text, v);
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
  if (failed_) throw FrameError("bad frame: parser used after an error");
  // Drop consumed bytes before growing the buffer so it holds at most one partial frame.
  if (pos_ > 0) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(data.data(), data.size());
}

bool Parser::next(Frame& out) {
  if (failed_) throw FrameError("bad frame: parser used after an error");
  return parse_one(out);
}

void Parser::feed(std::string_view data, std::vector<Frame>& out) {
  append(data);
  // Frames are parsed in place at the end of `out`: no moves of their headers.
  for (;;) {
    out.emplace_back();
    bool complete = false;
    try {
      complete = parse_one(out.back());
    } catch (...) {
      out.pop_back();  // `out` holds complete frames only
      throw;
    }
    if (!complete) {
      out.pop_back();
      return;
    }
  }
}

namespace {
bool is_command_char(char c, Parser::Commands commands) {
  if (c >= 'A' && c <= 'Z') return true;
  return commands == Parser::Commands::lenient && ((c >= 'a' && c <= 'z') || c == '_');
}
}  // namespace

// One frame from buf_[pos_...]: false when more bytes are needed.
bool Parser::parse_one(Frame& f) {
  if (head_len_ == 0) {
    // Heart-beats: bare EOLs between frames.
    while (pos_ < buf_.size()) {
      if (buf_[pos_] == '\n') {
        ++pos_;
        ++heartbeats_;
      } else if (buf_[pos_] == '\r') {
        if (pos_ + 1 == buf_.size()) return false;
        if (buf_[pos_ + 1] != '\n') fail("bad frame: carriage return without line feed");
        pos_ += 2;
        ++heartbeats_;
      } else {
        break;
      }
    }
    if (pos_ == buf_.size()) return false;

    // End of the headers: a '\n' followed by an empty line ("\n" or "\r\n").
    const char* b = buf_.data() + pos_;
    const size_t n = buf_.size() - pos_;
    size_t i = scan_off_;
    for (; i < n; ++i) {
      const void* nl = std::memchr(b + i, '\n', n - i);
      if (!nl) {
        i = n;
        break;
      }
      i = static_cast<size_t>(static_cast<const char*>(nl) - b);
      if (i + 1 >= n) break;
      if (b[i + 1] == '\n') {
        head_len_ = i + 2;
        break;
      }
      if (b[i + 1] == '\r') {
        if (i + 2 >= n) break;
        if (b[i + 2] == '\n') {
          head_len_ = i + 3;
          break;
        }
      }
    }
    if (head_len_ == 0) {
      scan_off_ = i;  // i sits on the '\n' that may start the blank line, or at the end
      if (n > max_frame_)
        fail("frame too large (" + std::to_string(n) + " bytes of headers > max_frame_bytes " +
             std::to_string(max_frame_) + ")");
      return false;
    }
    if (head_len_ > max_frame_)
      fail("frame too large (" + std::to_string(head_len_) +
           " bytes of headers > max_frame_bytes " + std::to_string(max_frame_) + ")");
    parse_head(std::string_view(b, head_len_));
  }

  const size_t n = buf_.size() - pos_;
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
  f = std::move(pending_);
  f.body.assign(buf_.data() + pos_ + head_len_, body_end - head_len_);
  pos_ += body_end + 1;
  pending_ = Frame();
  head_len_ = 0;
  scan_off_ = 0;
  nul_off_ = 0;
  content_length_.reset();
  return true;
}

void Parser::parse_head(std::string_view head) {
  // head: command EOL, header lines (each ending in EOL), then the blank line ending the head.
  auto next_line = [&head](size_t& start) {
    size_t nl = head.find('\n', start);
    std::string_view line = head.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    start = nl + 1;
    return line;
  };
  size_t start = 0;
  std::string_view line = next_line(start);
  if (line.empty()) fail("bad frame: missing command");
  Frame& f = pending_;
  f.command.assign(line);
  for (char c : f.command)
    if (!is_command_char(c, commands_))
      fail("bad frame: '" + f.command.substr(0, 40) + "' is not a STOMP command");
  const bool esc = escapes_headers(f.command, version_);
  // One line per '\n' after the command; the last one is the blank line.
  f.headers.reserve(static_cast<size_t>(std::count(head.begin() + start, head.end(), '\n')) - 1);
  while (start < head.size()) {
    line = next_line(start);
    if (start >= head.size()) break;  // the blank line
    size_t colon = line.find(':');
    if (colon == std::string_view::npos)
      fail("bad frame: header line without ':' in " + f.command + " frame");
    std::string_view k = line.substr(0, colon), v = line.substr(colon + 1);
    auto& [key, value] = f.headers.emplace_back();
    try {
      if (esc) {
        unescape_into(key, k, version_);
        unescape_into(value, v, version_);
      } else {
        key.assign(k);
        value.assign(v);
      }
    } catch (const FrameError& e) {
      f.headers.pop_back();
      fail(e.what());
    }
    if (!content_length_ && key == "content-length") {
      size_t len = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), len);
      if (value.empty() || ec != std::errc() || p != value.data() + value.size())
        fail("bad frame: content-length '" + value.substr(0, 40) + "' is not a number");
      if (len > max_frame_ || len + head.size() > max_frame_)
        fail("frame too large (content-length " + std::to_string(len) + " > max_frame_bytes " +
             std::to_string(max_frame_) + ")");
      content_length_ = len;
    }
  }
}

}  // namespace stomp
