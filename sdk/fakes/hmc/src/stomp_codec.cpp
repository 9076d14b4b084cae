#include "stomp_codec.hpp"

#include <charconv>
#include <limits>

namespace sluice::fakes::hmc::stomp {

std::optional<Version> parse_version(std::string_view text) {
  if (text == "1.0") return Version::v1_0;
  if (text == "1.1") return Version::v1_1;
  if (text == "1.2") return Version::v1_2;
  return std::nullopt;
}

const char* version_name(Version v) {
  switch (v) {
    case Version::v1_0:
      return "1.0";
    case Version::v1_1:
      return "1.1";
    case Version::v1_2:
      return "1.2";
  }
  return "1.0";
}

const std::string* Frame::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return &v;
  return nullptr;
}

bool escaped_frame(std::string_view command, Version v) {
  if (v == Version::v1_0) return false;
  return command != "CONNECT" && command != "STOMP" && command != "CONNECTED";
}

std::string unescape(std::string_view text, Version v) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (i + 1 == text.size()) throw FrameError("bad frame: a header ends with a lone backslash");
    const char e = text[++i];
    switch (e) {
      case 'n':
        out.push_back('\n');
        break;
      case 'c':
        out.push_back(':');
        break;
      case '\\':
        out.push_back('\\');
        break;
      case 'r':
        if (v == Version::v1_2) {
          out.push_back('\r');
          break;
        }
        [[fallthrough]];
      default:
        throw FrameError(std::string("bad frame: undefined escape '\\") + e + "' in STOMP " +
                         version_name(v) + " header");
    }
  }
  return out;
}

void append_escaped(std::string& out, std::string_view text, Version v) {
  for (const char c : text) {
    if (v == Version::v1_0) {
      out.push_back(c == '\n' || c == '\r' ? ' ' : c);
      continue;
    }
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case ':':
        out += "\\c";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        if (v == Version::v1_2)
          out += "\\r";
        else
          out.push_back(' ');
        break;
      default:
        out.push_back(c);
    }
  }
}

void append_frame(std::string& out, std::string_view command, const HeaderList& headers,
                  std::string_view body, Version v, bool content_length) {
  const bool esc = escaped_frame(command, v);
  out += command;
  out.push_back('\n');
  for (const auto& [k, val] : headers) {
    if (esc) {
      append_escaped(out, k, v);
      out.push_back(':');
      append_escaped(out, val, v);
    } else {
      // Never escaped, yet a header must not break its line.
      append_escaped(out, k, Version::v1_0);
      out.push_back(':');
      append_escaped(out, val, Version::v1_0);
    }
    out.push_back('\n');
  }
  if (content_length || !body.empty()) {
    out += "content-length:";
    out += std::to_string(body.size());
    out.push_back('\n');
  }
  out.push_back('\n');
  out.append(body);
  out.push_back('\0');
}

// ---------------------------------------------------------------------------------------------
void Reader::fail(const std::string& why) {
  failed_ = true;
  throw FrameError(why);
}

void Reader::append(std::string_view bytes) {
  // Drop what earlier frames used once it is most of the buffer (amortised linear).
  if (start_ > 0 && start_ >= buf_.size() / 2) {
    buf_.erase(0, start_);
    start_ = 0;
  }
  buf_.append(bytes);
}

namespace {
// A line without its EOL (LF or CR LF).
std::string_view strip_cr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}
}  // namespace

void Reader::parse_head(Frame& out) {
  std::string_view head(buf_.data() + start_, head_end_);
  size_t nl = head.find('\n');
  const std::string_view command = strip_cr(head.substr(0, nl));
  bool ok = !command.empty();
  for (char c : command)
    ok = ok && c >= 'A' && c <= 'Z';
  if (!ok) fail("bad frame: '" + std::string(command) + "' is not a STOMP command");
  out.command.assign(command);
  out.headers.clear();
  out.body.clear();
  const bool esc = escaped_frame(command, version_);
  length_.reset();
  size_t pos = nl + 1;
  while (true) {
    nl = head.find('\n', pos);
    const std::string_view line = strip_cr(head.substr(pos, nl - pos));
    pos = nl + 1;
    if (line.empty()) break;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) fail("bad frame: header line without ':'");
    std::string name(line.substr(0, colon)), value(line.substr(colon + 1));
    if (esc) {
      try {
        name = unescape(name, version_);
        value = unescape(value, version_);
      } catch (const FrameError& e) {
        fail(e.what());
      }
    }
    if (name == "content-length" && !length_) {
      size_t n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (value.empty() || ec != std::errc() || p != value.data() + value.size())
        fail("bad frame: content-length '" + value + "' is not a number");
      length_ = n;
    }
    out.headers.emplace_back(std::move(name), std::move(value));
  }
}

bool Reader::next(Frame& out) {
  if (failed_) throw FrameError("the frame reader failed before");
  // Heart-beats: EOLs before a frame.
  if (head_end_ == 0 && scanned_ == 0) {
    while (start_ < buf_.size()) {
      if (buf_[start_] == '\n') {
        ++heartbeats_;
        ++start_;
      } else if (buf_[start_] == '\r' && start_ + 1 < buf_.size() && buf_[start_ + 1] == '\n') {
        ++heartbeats_;
        start_ += 2;
      } else if (buf_[start_] == '\r' && start_ + 1 == buf_.size()) {
        return false;  // CR of a CR LF still to come
      } else {
        break;
      }
    }
  }
  const size_t have = buf_.size() - start_;
  if (have == 0) return false;

  if (head_end_ == 0) {
    // Find the empty line that ends the head, line by line, from where the last call stopped.
    while (true) {
      const size_t nl = buf_.find('\n', start_ + scanned_);
      if (nl == std::string::npos) break;
      const size_t line_len = nl - (start_ + scanned_);
      const bool empty = line_len == 0 || (line_len == 1 && buf_[nl - 1] == '\r');
      scanned_ = nl + 1 - start_;
      if (empty && lines_ > 0) {
        head_end_ = scanned_;
        break;
      }
      if (++lines_ > max_headers_ + 1)
        fail("frame too large (more headers than max_headers " + std::to_string(max_headers_) +
             ")");
    }
    if (head_end_ == 0) {
      if (have > max_frame_)
        fail("frame too large (" + std::to_string(have) + " bytes without end > max_frame_bytes " +
             std::to_string(max_frame_) + ")");
      return false;
    }
    parse_head(pending_);
    if (length_ && *length_ > max_frame_ - std::min(max_frame_, head_end_))
      fail("frame too large (content-length " + std::to_string(*length_) + " > max_frame_bytes " +
           std::to_string(max_frame_) + ")");
  }

  size_t body_len = 0;
  if (length_) {
    if (have < head_end_ + *length_ + 1) {
      if (have > max_frame_) fail("frame too large");
      return false;
    }
    if (buf_[start_ + head_end_ + *length_] != '\0')
      fail("bad frame: no NUL after the content-length body");
    body_len = *length_;
  } else {
    const size_t nul = buf_.find('\0', start_ + head_end_);
    if (nul == std::string::npos) {
      if (have > max_frame_)
        fail("frame too large (" + std::to_string(have) + " bytes without end > max_frame_bytes " +
             std::to_string(max_frame_) + ")");
      return false;
    }
    body_len = nul - (start_ + head_end_);
  }
  out = std::move(pending_);
  out.body.assign(buf_, start_ + head_end_, body_len);
  start_ += head_end_ + body_len + 1;
  pending_ = Frame{};
  scanned_ = lines_ = head_end_ = 0;
  length_.reset();
  return true;
}

}  // namespace sluice::fakes::hmc::stomp
