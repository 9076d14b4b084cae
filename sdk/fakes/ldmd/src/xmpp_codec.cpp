#include "xmpp_codec.hpp"

#include <pugixml.hpp>

#include <array>

namespace sluice::fakes::ldmd::xmpp {

namespace {
constexpr size_t npos = std::string::npos;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// The end of a start or end tag that begins at `from` ('<'): the index of its '>', skipping
// quoted attribute values; npos while it is incomplete.
size_t tag_end(const std::string& s, size_t from) {
  char quote = 0;
  for (size_t i = from + 1; i < s.size(); ++i) {
    const char c = s[i];
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '>') {
      return i;
    }
  }
  return npos;
}

std::string_view local(std::string_view qname) {
  size_t colon = qname.find(':');
  return colon == std::string_view::npos ? qname : qname.substr(colon + 1);
}
}  // namespace

bool StreamReader::fail(std::string why) {
  error_ = std::move(why);
  return false;
}

void StreamReader::restart() {
  buf_.clear();
  pos_ = 0;
  element_ = npos;
  depth_ = 0;
  error_.clear();
}

bool StreamReader::feed(std::string_view bytes, std::vector<Item>& out) {
  if (!error_.empty()) return false;
  buf_.append(bytes);
  while (pos_ < buf_.size()) {
    const size_t lt = buf_.find('<', pos_);
    if (lt == npos) {  // character data: part of the element, or whitespace between stanzas
      pos_ = buf_.size();
      break;
    }
    pos_ = lt;
    const std::string_view rest = std::string_view(buf_).substr(lt);
    if (rest.size() < 2) break;
    if (rest[1] == '?') {  // XML declaration or processing instruction
      const size_t end = buf_.find("?>", lt + 2);
      if (end == npos) break;
      pos_ = end + 2;
      continue;
    }
    if (rest[1] == '!') {
      static constexpr std::string_view comment = "<!--", cdata = "<![CDATA[";
      const auto starts = [&](std::string_view p) {
        return rest.substr(0, p.size()) == p.substr(0, std::min(p.size(), rest.size()));
      };
      if (starts(comment) && rest.size() >= comment.size()) {
        const size_t end = buf_.find("-->", lt + comment.size());
        if (end == npos) break;
        pos_ = end + 3;
        continue;
      }
      if (starts(cdata) && rest.size() >= cdata.size()) {
        if (element_ == npos) return fail("CDATA outside an element");
        const size_t end = buf_.find("]]>", lt + cdata.size());
        if (end == npos) break;
        pos_ = end + 3;
        continue;
      }
      if (starts(comment) || starts(cdata)) break;  // too few bytes to tell
      // RFC 6120 11.1: an XML stream must not contain a DTD (or any other declaration).
      return fail("a DOCTYPE or other markup declaration in the stream");
    }
    const size_t gt = tag_end(buf_, lt);
    if (gt == npos) break;
    const std::string_view tag = std::string_view(buf_).substr(lt, gt - lt + 1);
    if (tag[1] == '/') {  // end tag
      if (depth_ == 0) return fail("an end tag before the stream's opening tag");
      --depth_;
      pos_ = gt + 1;
      if (depth_ == 0) {  // the stream itself ends
        out.push_back({Item::Kind::close, std::string(tag)});
        buf_.erase(0, pos_);
        pos_ = 0;
        continue;
      }
      if (depth_ == 1) {
        out.push_back({Item::Kind::element, buf_.substr(element_, pos_ - element_)});
        element_ = npos;
      }
      continue;
    }
    const bool empty_element = gt > lt + 1 && buf_[gt - 1] == '/';
    pos_ = gt + 1;
    if (depth_ == 0) {
      out.push_back({Item::Kind::open, std::string(tag)});
      if (empty_element)
        out.push_back({Item::Kind::close, std::string(tag)});
      else
        depth_ = 1;
      continue;
    }
    if (depth_ == 1) element_ = lt;
    if (empty_element) {
      if (depth_ == 1) {
        out.push_back({Item::Kind::element, std::string(tag)});
        element_ = npos;
      }
      continue;
    }
    if (++depth_ > max_depth_ + 1)
      return fail("elements nested deeper than " + std::to_string(max_depth_));
  }
  // Keep only what is still needed: the element being read, or the token not yet complete.
  const size_t keep = element_ != npos ? element_ : pos_;
  if (keep > 0) {
    buf_.erase(0, keep);
    pos_ -= keep;
    if (element_ != npos) element_ = 0;
  }
  if (buf_.size() > max_bytes_)
    return fail("an element over " + std::to_string(max_bytes_) + " bytes");
  return true;
}

std::string root_name(std::string_view element) {
  pugi::xml_document doc;
  if (!doc.load_buffer(element.data(), element.size())) return {};
  return std::string(local(doc.document_element().name()));
}

bool base64_decode(std::string_view text, std::string& out) {
  out.clear();
  if (text == "=") return true;  // RFC 6120 6.4.2: the empty response
  if (text.size() % 4 != 0) return false;
  static const std::array<int8_t, 256> value = [] {
    std::array<int8_t, 256> v{};
    v.fill(-1);
    const std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < alphabet.size(); ++i)
      v[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
    return v;
  }();
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int q[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + k];
      if (c == '=' && last && k >= 2) {
        q[k] = 0;
        ++pad;
        continue;
      }
      if (pad) return false;  // data after padding
      q[k] = value[static_cast<unsigned char>(c)];
      if (q[k] < 0) return false;
    }
    const uint32_t n = (static_cast<uint32_t>(q[0]) << 18) | (static_cast<uint32_t>(q[1]) << 12) |
                       (static_cast<uint32_t>(q[2]) << 6) | static_cast<uint32_t>(q[3]);
    out.push_back(static_cast<char>(n >> 16));
    if (pad < 2) out.push_back(static_cast<char>((n >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(n & 0xff));
    // RFC 4648 3.5: the bits under the padding must be zero (canonical encoding).
    if ((pad == 1 && (n & 0xff) != 0) || (pad == 2 && (n & 0xffff) != 0)) return false;
  }
  return true;
}

std::optional<PlainCredentials> sasl_plain(std::string_view auth_element) {
  pugi::xml_document doc;
  if (!doc.load_buffer(auth_element.data(), auth_element.size())) return std::nullopt;
  const pugi::xml_node auth = doc.document_element();
  if (local(auth.name()) != "auth") return std::nullopt;
  const std::string_view mechanism = auth.attribute("mechanism").value();
  if (!mechanism.empty() && mechanism != "PLAIN") return std::nullopt;
  std::string message;
  if (!base64_decode(auth.child_value(), message)) return std::nullopt;
  // message = [authzid] UTF8NUL authcid UTF8NUL passwd; authcid and passwd are not empty.
  const size_t a = message.find('\0');
  if (a == npos) return std::nullopt;
  const size_t b = message.find('\0', a + 1);
  if (b == npos || message.find('\0', b + 1) != npos) return std::nullopt;
  PlainCredentials c{message.substr(0, a), message.substr(a + 1, b - a - 1), message.substr(b + 1)};
  if (c.authcid.empty() || c.password.empty()) return std::nullopt;
  return c;
}

std::optional<std::string> request_action(std::string_view request) {
  pugi::xml_document doc;
  if (!doc.load_buffer(request.data(), request.size())) return std::nullopt;
  const pugi::xml_node root = doc.document_element();
  if (local(root.name()) != "LDM_interface") return std::nullopt;
  std::string_view action = root.child("cmd").child("action").child_value();
  while (!action.empty() && is_space(action.front()))
    action.remove_prefix(1);
  while (!action.empty() && is_space(action.back()))
    action.remove_suffix(1);
  if (action.empty()) return std::nullopt;
  return std::string(action);
}

}  // namespace sluice::fakes::ldmd::xmpp
