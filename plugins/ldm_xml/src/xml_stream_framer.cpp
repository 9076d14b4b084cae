#include "xml_stream_framer.hpp"

#include <cstring>

namespace sluice::ldm {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool is_name_start(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':' || u >= 0x80;
}

std::string_view local_part(std::string_view name) {
  size_t colon = name.rfind(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

bool starts_with_nocase(std::string_view text, std::string_view upper_prefix) {
  if (text.size() > upper_prefix.size()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c != upper_prefix[i]) return false;
  }
  return true;
}

}  // namespace

void XmlStreamFramer::reset() {
  state_ = State::text;
  depth_ = 0;
  opened_ = closed_ = capturing_ = false;
  mark_ = nullptr;
  capture_.clear();
  bang_.clear();
  name_.clear();
  quote_ = 0;
  match_ = 0;
  error_.clear();
}

bool XmlStreamFramer::fail(std::string message) {
  error_ = std::move(message);
  capture_.clear();
  capturing_ = false;
  return false;
}

void XmlStreamFramer::begin_capture(const char* p) {
  capturing_ = true;
  mark_ = p;
  capture_.clear();
}

bool XmlStreamFramer::check_size(const char* p) {
  size_t size = capture_.size() + static_cast<size_t>(p - mark_);
  if (size <= limits_.max_element_bytes) return true;
  return fail("element larger than max_element_bytes (" +
              std::to_string(limits_.max_element_bytes) + " bytes)");
}

void XmlStreamFramer::finish_markup(const char* end, std::vector<FramedItem>& out,
                                    FramedItem::Kind kind) {
  if (!check_size(end)) return;
  FramedItem item;
  item.kind = kind;
  item.text = std::move(capture_);
  item.text.append(mark_, end);
  capture_.clear();
  capturing_ = false;
  out.push_back(std::move(item));
}

void XmlStreamFramer::on_start_tag_end(bool self_closing, const char* end,
                                       std::vector<FramedItem>& out) {
  state_ = State::text;
  if (depth_ == 0) {
    if (local_part(name_) != "stream") {
      fail("expected the <stream:stream> header, got <" + name_ + ">");
      return;
    }
    opened_ = true;
    finish_markup(end, out, FramedItem::Kind::stream_open);
    if (self_closing) {
      closed_ = true;
      out.push_back({FramedItem::Kind::stream_close, {}});
    } else {
      depth_ = 1;
    }
    return;
  }
  // The new element's level below the stream element: depth-1 children are level 1.
  if (depth_ > limits_.max_depth) {
    fail("elements nested deeper than max_depth (" + std::to_string(limits_.max_depth) + ")");
    return;
  }
  if (self_closing) {
    if (depth_ == 1) finish_markup(end, out, FramedItem::Kind::element);
    return;
  }
  ++depth_;
}

void XmlStreamFramer::on_end_tag_end(const char* end, std::vector<FramedItem>& out) {
  state_ = State::text;
  if (depth_ == 0) {
    fail("end tag </" + name_ + "> before the stream header");
    return;
  }
  if (depth_ == 1) {
    if (local_part(name_) != "stream") {
      fail("unexpected </" + name_ + "> at stream level");
      return;
    }
    finish_markup(end, out, FramedItem::Kind::stream_close);
    depth_ = 0;
    closed_ = true;
    return;
  }
  if (--depth_ == 1) finish_markup(end, out, FramedItem::Kind::element);
}

bool XmlStreamFramer::feed(std::string_view data, std::vector<FramedItem>& out) {
  if (failed()) return false;
  if (closed_) return true;  // after </stream:stream> nothing more belongs to this stream
  const char* p = data.data();
  const char* const end = p + data.size();
  mark_ = p;

  while (p < end) {
    const char c = *p;
    switch (state_) {
      case State::text:
        if (depth_ >= 2) {
          // Inside an element: character data is captured as is; only '<' matters.
          const void* lt = std::memchr(p, '<', static_cast<size_t>(end - p));
          if (!lt) {
            p = end;
            continue;
          }
          p = static_cast<const char*>(lt);
          state_ = State::lt;
        } else if (c == '<') {
          begin_capture(p);
          state_ = State::lt;
        } else if (!is_space(c)) {
          if (depth_ == 0) return fail("text before the <stream:stream> header");
          ++stray_text_;
        }
        break;

      case State::lt:
        if (c == '?') {
          state_ = State::pi;
          match_ = 0;
        } else if (c == '!') {
          state_ = State::bang;
          bang_.clear();
        } else if (c == '/') {
          state_ = State::end_tag;
          name_.clear();
        } else if (is_name_start(c)) {
          state_ = State::start_name;
          if (depth_ <= 1) name_.assign(1, c);
        } else {
          return fail(std::string("invalid character '") + c + "' after '<'");
        }
        break;

      case State::bang:
        bang_.push_back(c);
        if (bang_ == "--") {
          state_ = State::comment;
          match_ = 0;
        } else if (bang_ == "[CDATA[") {
          state_ = State::cdata;
          match_ = 0;
        } else if (starts_with_nocase(bang_, "DOCTYPE")) {
          if (bang_.size() == 7) return fail("DOCTYPE refused (no DTDs in an ldmd stream)");
        } else if (bang_ != "-" && !std::string_view("[CDATA[").starts_with(bang_)) {
          return fail("markup declaration <!" + bang_ + "... refused");
        }
        break;

      case State::comment:
      case State::cdata:
      case State::pi: {
        const char dash = state_ == State::comment ? '-' : state_ == State::cdata ? ']' : '?';
        const int need = state_ == State::pi ? 1 : 2;
        if (c == dash) {
          if (match_ < need) ++match_;
        } else if (c == '>' && match_ >= need) {
          if (depth_ <= 1) {
            // Between elements: declarations, comments, stray CDATA are skipped.
            if (state_ == State::cdata) stray_text_ += capture_.size() + (p + 1 - mark_);
            capture_.clear();
            capturing_ = false;
          }
          state_ = State::text;
        } else {
          match_ = 0;
        }
        break;
      }

      case State::start_name:
        if (is_space(c)) {
          state_ = State::start_attrs;
        } else if (c == '/') {
          state_ = State::start_slash;
        } else if (c == '>') {
          on_start_tag_end(false, p + 1, out);
        } else if (c == '<' || c == '"' || c == '\'' || c == '=') {
          return fail(std::string("invalid character '") + c + "' in a tag name");
        } else if (depth_ <= 1) {
          name_.push_back(c);
        }
        break;

      case State::start_slash:
        if (c == '>') {
          on_start_tag_end(true, p + 1, out);
          break;
        }
        state_ = State::start_attrs;
        [[fallthrough]];
      case State::start_attrs:
        if (c == '"' || c == '\'') {
          quote_ = c;
          state_ = State::start_quoted;
        } else if (c == '/') {
          state_ = State::start_slash;
        } else if (c == '>') {
          on_start_tag_end(false, p + 1, out);
        } else if (c == '<') {
          return fail("'<' inside a tag");
        }
        break;

      case State::start_quoted: {
        const void* q = std::memchr(p, quote_, static_cast<size_t>(end - p));
        if (!q) {
          p = end;
          continue;
        }
        p = static_cast<const char*>(q);
        state_ = State::start_attrs;
        break;
      }

      case State::end_tag:
        if (c == '>') {
          on_end_tag_end(p + 1, out);
        } else if (c == '<') {
          return fail("'<' inside an end tag");
        } else if (depth_ == 1 && !is_space(c)) {
          name_.push_back(c);
        }
        break;
    }
    if (failed()) return false;
    ++p;
    if (closed_) return true;
    if (capturing_ && !check_size(p)) return false;
  }
  if (capturing_) {
    if (!check_size(end)) return false;
    capture_.append(mark_, end);
    mark_ = nullptr;
  }
  return true;
}

}  // namespace sluice::ldm
