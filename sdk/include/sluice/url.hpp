// Percent-encoding of a URL query value (RFC 3986 section 2): the one encoder of sluice and its
// plugins (the HMC WS API client's `?name=` queries, `sluice tap`'s filters).
//
// Everything but the unreserved characters (ALPHA / DIGIT / "-" / "." / "_" / "~") is encoded,
// byte by byte, so UTF-8 text and reserved characters ("&", "=", "*", "/", " ") arrive intact.
//
// C++17, header-only.
#pragma once

#include <string>
#include <string_view>

namespace sluice {

inline std::string url_encode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (const unsigned char c : value) {
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace sluice
