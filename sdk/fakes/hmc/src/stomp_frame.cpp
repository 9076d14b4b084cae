#include <sluice/fakes/stomp_frame.hpp>

#include <charconv>
#include <cstring>

namespace sluice::fakes::stomp {

std::string_view to_string(Version v) {
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

std::optional<Version> parse_version(std::string_view text) {
  if (text == "1.0") return Version::v1_0;
  if (text == "1.1") return Version::v1_1;
  if (text == "1.2") return Version::v1_2;
  return std::nullopt;
}

const std::string* Frame::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return &v;
  return nullptr;
}

void append_escaped(std::string& out, std::string_view value, Version v) {
  if (v == Version::v1_0) {
    // 1.0 has no escapes; a line break would end the header, so it becomes a blank.
    for (char c : value)
      out.push_back(c == '\n' || c == '\r' ? ' ' : c);
    return;
  }
  for (char c : value) {
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
          out.push_back(' ');  // 1.1 has no escape for CR
        break;
      default:
        out.push_back(c);
    }
  }
}

void FrameParser::feed(const char* data, size_t size) {
  // Compact before growing so a long-lived connection does not keep consumed bytes.
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 65536) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(data, size);
}

FrameParser::Status FrameParser::fail(std::string why) {
  error_ = std::move(why);
  return Status::error;
}

bool FrameParser::unescape(std::string_view in, std::string& out, bool escaped) {
  out.clear();
  if (!escaped) {
    out.assign(in);
    return true;
  }
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (++i == in.size()) return false;
    switch (in[i]) {
      case '\\':
        out.push_back('\\');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'c':
        out.push_back(':');
        break;
      case 'r':
        if (version_ != Version::v1_2) return false;
        out.push_back('\r');
        break;
      default:
        return false;  // undefined escapes are fatal (STOMP 1.1/1.2)
    }
  }
  return true;
}

FrameParser::Status FrameParser::next(Frame& out) {
  if (!error_.empty()) return Status::error;
  // Heart-beats: end-of-line bytes between frames.
  while (pos_ < buf_.size() && (buf_[pos_] == '\n' || buf_[pos_] == '\r')) {
    if (buf_[pos_] == '\n') ++heartbeats_;
    ++pos_;
  }
  const std::string_view data(buf_.data() + pos_, buf_.size() - pos_);
  if (data.empty()) return Status::need_more;

  // Headers end at the first empty line.
  size_t line_start = 0;
  size_t header_end = std::string_view::npos;
  std::vector<std::string_view> lines;
  while (true) {
    size_t nl = data.find('\n', line_start);
    if (nl == std::string_view::npos) break;
    std::string_view line = data.substr(line_start, nl - line_start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    line_start = nl + 1;
    if (line.empty()) {
      header_end = line_start;
      break;
    }
    lines.push_back(line);
  }
  if (header_end == std::string_view::npos) {
    if (data.size() > max_frame_)
      return fail("frame headers exceed " + std::to_string(max_frame_) + " bytes");
    return Status::need_more;
  }

  Frame f;
  f.command.assign(lines.front());
  for (char c : f.command)
    if (c < 'A' || c > 'Z') return fail("invalid command line '" + f.command + "'");
  const bool escaped = version_ != Version::v1_0 && f.command != "CONNECT" && f.command != "STOMP";
  std::string key, value;
  std::optional<size_t> content_length;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    size_t colon = line.find(':');
    if (colon == std::string_view::npos)
      return fail("header line without ':' in " + f.command + " frame");
    if (!unescape(line.substr(0, colon), key, escaped) ||
        !unescape(line.substr(colon + 1), value, escaped))
      return fail("invalid escape sequence in a header of the " + f.command + " frame");
    if (key == "content-length" && !content_length && f.header(key) == nullptr) {
      size_t n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || p != value.data() + value.size() || value.empty())
        return fail("invalid content-length '" + value + "'");
      if (n > max_frame_)
        return fail("content-length " + value + " exceeds " + std::to_string(max_frame_));
      content_length = n;
    }
    f.headers.emplace_back(key, value);
  }

  size_t body_end;
  if (content_length) {
    if (data.size() < header_end + *content_length + 1) return Status::need_more;
    body_end = header_end + *content_length;
    if (data[body_end] != '\0') return fail("frame body not followed by NUL after content-length");
  } else {
    size_t nul = data.find('\0', header_end);
    if (nul == std::string_view::npos) {
      if (data.size() > max_frame_)
        return fail("frame exceeds " + std::to_string(max_frame_) + " bytes");
      return Status::need_more;
    }
    body_end = nul;
  }
  f.body.assign(data.substr(header_end, body_end - header_end));
  pos_ += body_end + 1;
  out = std::move(f);
  return Status::frame;
}

}  // namespace sluice::fakes::stomp
