// The fake ldmd's own XMPP pieces, written from RFC 6120 (stream framing, SASL), RFC 4616
// (SASL PLAIN), RFC 4648 (base64) and the LDoms XML interface guide. They share nothing with the
// ldm_xml plugin's framer and protocol helpers, so a bug on one side cannot hide the same bug on
// the other.
//
// An XMPP stream is one XML document that stays open: `<stream:stream ...>` is never closed
// until the end, and every stanza (here also bare <LDM_interface> requests) is a child element
// of it. StreamReader tracks the depth with a small tokenizer (declarations, comments, CDATA,
// quoted attribute values, self-closing tags) and hands out each complete depth-1 element as
// text; pugixml then parses that element on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::fakes::ldmd::xmpp {

struct Item {
  enum class Kind { open, element, close };
  Kind kind = Kind::element;
  std::string text;  // open: the opening tag; element: the whole element; close: the end tag
};

class StreamReader {
 public:
  explicit StreamReader(size_t max_element_bytes = 1u << 20, size_t max_depth = 32)
      : max_bytes_(max_element_bytes), max_depth_(max_depth) {}

  // Consumes bytes and appends every item that completed to `out`. Returns false once the bytes
  // break a rule (a DOCTYPE, an end tag with nothing open, an element over the limits); error()
  // says which, and the reader stays failed until restart().
  bool feed(std::string_view bytes, std::vector<Item>& out);
  // A new stream begins on the same connection (after STARTTLS or SASL success; RFC 6120 5.4.3.3
  // and 6.4.6): forget everything.
  void restart();

  const std::string& error() const { return error_; }
  bool open() const { return depth_ > 0; }

 private:
  bool fail(std::string why);

  size_t max_bytes_;
  size_t max_depth_;
  std::string buf_;
  size_t pos_ = 0;                      // next byte to look at
  size_t element_ = std::string::npos;  // start of the depth-1 element being read
  size_t depth_ = 0;                    // 0: before the stream's opening tag
  std::string error_;
};

// The element's local name (prefix dropped) if `element` is well-formed XML, else "".
std::string root_name(std::string_view element);

// RFC 4648 base64 (standard alphabet, '=' padding required). Whitespace is not allowed inside
// XMPP SASL data (RFC 6120 6.4.2), and a lone "=" is the empty response. False: not base64.
bool base64_decode(std::string_view text, std::string& out);

struct PlainCredentials {
  std::string authzid, authcid, password;
};
// The credentials in an `<auth mechanism='PLAIN'>` element (RFC 4616: [authzid] NUL authcid NUL
// passwd, base64), or nullopt if the element, the base64 or the message is malformed.
std::optional<PlainCredentials> sasl_plain(std::string_view auth_element);

// The action of an `<LDM_interface><cmd><action>...` request (whitespace trimmed), or nullopt
// if the request is not well-formed or names no action.
std::optional<std::string> request_action(std::string_view request);

}  // namespace sluice::fakes::ldmd::xmpp
