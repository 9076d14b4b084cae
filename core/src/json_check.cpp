#include <sluice/core/json_check.hpp>

#include <sluice/format.hpp>

#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <nlohmann/json.hpp>

namespace sluice::core {

bool json_valid_rapidjson(std::string_view text) {
  // Iterative: a hostile "[[[[..." cannot overflow the stack. UTF-8 is validated.
  constexpr unsigned flags = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;
  rapidjson::MemoryStream stream(text.data(), text.size());
  rapidjson::BaseReaderHandler<> handler;
  rapidjson::Reader reader;
  return !reader.Parse<flags>(stream, handler).IsError();
}

bool json_valid_nlohmann(std::string_view text) {
  return nlohmann::json::accept(text.begin(), text.end());
}

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not one (RFC 3629: no
// overlongs, no surrogates, nothing above U+10FFFF).
size_t utf8_sequence(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  auto cont = [&](size_t k) { return i + k < s.size() && (b(k) & 0xC0) == 0x80; };
  unsigned char c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;
    if (c == 0xED && b(1) >= 0xA0) return 0;
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;
    if (c == 0xF4 && b(1) >= 0x90) return 0;
    return 4;
  }
  return 0;
}

}  // namespace

bool utf8_valid(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (i + 8 <= s.size()) {
      uint64_t word;
      memcpy(&word, s.data() + i, 8);
      if (!(word & 0x8080808080808080ull)) {
        i += 8;
        continue;
      }
    }
    size_t n = utf8_sequence(s, i);
    if (!n) return false;
    i += n;
  }
  return true;
}

bool json_valid_terminated(const char* text, size_t size) {
  if (!text) return false;
  // A NUL inside would end the stream early and hide what follows: JSON never holds a raw NUL.
  if (memchr(text, 0, size) || !utf8_valid(std::string_view(text, size))) return false;
  // StringStream takes rapidjson's SIMD paths; the encoding was checked above.
  constexpr unsigned flags = rapidjson::kParseIterativeFlag;
  rapidjson::StringStream stream(text);
  rapidjson::BaseReaderHandler<> handler;
  rapidjson::Reader reader;
  return !reader.Parse<flags>(stream, handler).IsError();
}

bool json_valid(std::string_view text) {
  std::string copy(text);  // NUL-terminated
  return json_valid_terminated(copy.c_str(), copy.size());
}

void append_json_string_lossy(std::string& out, std::string_view text) {
  std::string clean;
  clean.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t n = utf8_sequence(text, i);
    if (n == 0) {
      clean += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    } else {
      clean.append(text.data() + i, n);
      i += n;
    }
  }
  append_json_string(out, clean);
}

}  // namespace sluice::core
