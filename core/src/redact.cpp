#include <sluice/core/redact.hpp>

#include <algorithm>
#include <array>
#include <cstdint>

namespace sluice::core {

namespace {

bool word_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Marks in `covered` every occurrence of `secret` in `text` that counts (see
// kMinSubstringSecret); returns whether there was one.
bool mark(std::string_view text, std::string_view secret, std::vector<bool>* covered) {
  if (secret.empty() || secret.size() > text.size()) return false;
  const bool anywhere = secret.size() >= kMinSubstringSecret;
  const bool open_left = !word_char(static_cast<unsigned char>(secret.front()));
  const bool open_right = !word_char(static_cast<unsigned char>(secret.back()));
  bool any = false;
  for (size_t at = text.find(secret); at != std::string_view::npos;
       at = text.find(secret, at + 1)) {
    const size_t end = at + secret.size();
    if (!anywhere) {
      bool left = open_left || at == 0 || !word_char(static_cast<unsigned char>(text[at - 1]));
      bool right =
          open_right || end == text.size() || !word_char(static_cast<unsigned char>(text[end]));
      if (!left || !right) continue;
    }
    any = true;
    if (!covered) return true;
    std::fill(covered->begin() + at, covered->begin() + end, true);
  }
  return any;
}

int base64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

// The bytes a base64 word stands for; nullopt-like empty result when it decodes to something
// that is not text (so random words never count as encoded secrets).
std::string decode_text(std::string_view word) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : word) {
    int v = base64_value(c);
    if (v < 0) break;  // '=' padding
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      unsigned char byte = static_cast<unsigned char>((acc >> bits) & 0xFF);
      // user:password, \0user\0password (SASL PLAIN), tokens: printable ASCII and NUL. Bytes
      // outside that mean the word was not encoded text.
      if (byte != 0 && (byte < 0x20 || byte > 0x7E)) return {};
      out.push_back(static_cast<char>(byte));
    }
  }
  return out;
}

}  // namespace

std::string redact(std::string_view text, const std::vector<std::string>& secrets) {
  bool possible = false;
  for (const auto& s : secrets)
    possible = possible || (!s.empty() && s.size() <= text.size());
  if (!possible) return std::string(text);

  std::vector<bool> covered(text.size(), false);
  bool any = false;
  for (const auto& s : secrets)
    any = mark(text, s, &covered) || any;

  // Base64 words (at least 4 characters, standard or URL alphabet, '=' padding) that decode to
  // text holding a secret: hidden whole.
  for (size_t i = 0; i < text.size();) {
    if (base64_value(static_cast<unsigned char>(text[i])) < 0) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < text.size() && base64_value(static_cast<unsigned char>(text[end])) >= 0)
      ++end;
    size_t padded = end;
    while (padded < text.size() && padded - end < 2 && text[padded] == '=')
      ++padded;
    if (end - i >= 4) {
      std::string decoded = decode_text(text.substr(i, end - i));
      if (!decoded.empty())
        for (const auto& s : secrets)
          if (mark(decoded, s, nullptr)) {
            std::fill(covered.begin() + i, covered.begin() + padded, true);
            any = true;
            break;
          }
    }
    i = padded;
  }
  if (!any) return std::string(text);

  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (!covered[i]) {
      out += text[i];
    } else if (i == 0 || !covered[i - 1]) {
      out += "***";
    }
  }
  return out;
}

std::string escape_controls(std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != 0x7F) {
      // C1 controls (U+0080..U+009F, UTF-8 C2 80..C2 9F): NEL (U+0085) breaks lines in some
      // viewers.
      if (c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
          static_cast<unsigned char>(text[i + 1]) <= 0x9F) {
        const auto d = static_cast<unsigned char>(text[i + 1]);
        out += "\\u00";
        out += hex[d >> 4];
        out += hex[d & 0xF];
        ++i;
        continue;
      }
      out += static_cast<char>(c);
      continue;
    }
    switch (c) {
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\x";
        out += hex[c >> 4];
        out += hex[c & 0xF];
    }
  }
  return out;
}

}  // namespace sluice::core
