// Is this text one valid JSON value? The check every event's data passes on emit, and the one a
// source uses to decide between an event and a sluice.parse-error.
//
// RFC 8259 exactly, as nlohmann::json::accept() reads it: one value, whitespace around it
// allowed, strings valid UTF-8 (RFC 3629) without raw control characters, \u escapes paired
// where they encode a surrogate, numbers by the grammar (any size: 1e400 passes). Nesting of any
// depth is checked without recursion. Strings (most of a typical body) are scanned sixteen bytes
// at a time where SSE2 is there; no allocation below 64 levels of nesting.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace sluice {

// Length of the valid UTF-8 sequence starting at s[i] (i < s.size()), or 0 when there is none
// (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
inline size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  auto cont = [&](size_t k) { return i + k < s.size() && (b(k) & 0xC0) == 0x80; };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(1) >= 0xA0) return 0;  // surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && b(1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

// True when text is valid UTF-8; otherwise *bad_at (if given) is the offset of the first byte
// that is not. ASCII runs are checked eight bytes at a time.
inline bool utf8_valid(std::string_view text, size_t* bad_at = nullptr) {
  size_t i = 0;
  while (i < text.size()) {
    if (i + 8 <= text.size()) {
      uint64_t word;
      __builtin_memcpy(&word, text.data() + i, 8);
      if (!(word & 0x8080808080808080ull)) {
        i += 8;
        continue;
      }
    }
    const size_t n = utf8_sequence_length(text, i);
    if (!n) {
      if (bad_at) *bad_at = i;
      return false;
    }
    i += n;
  }
  return true;
}

namespace detail {

// The bytes of an 8-byte word (in memory order) that a JSON string cannot hold as they are, or
// that need a closer look: '"', '\\', control characters (< 0x20) and every byte >= 0x80. Bit 7
// of each such byte is set in the result, no other bit. Exact per byte (no carry crosses from one
// byte into the next), so the lowest set bit is the first such byte on a little-endian machine.
inline uint64_t json_special_bytes(uint64_t w) {
  constexpr uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
  const uint64_t low7 = w & ~high;                                       // each byte <= 0x7f
  const uint64_t control = ~(low7 + ones * (0x80 - 0x20)) & high;        // low7 < 0x20
  const uint64_t quote = ~((low7 ^ (ones * '"')) + ones * 0x7f) & high;  // low7 == '"'
  const uint64_t backslash = ~((low7 ^ (ones * '\\')) + ones * 0x7f) & high;
  return (w & high) | control | quote | backslash;
}

// Offset of the first byte json_special_bytes flags in `mask` (not 0) of a word loaded with
// memcpy from memory.
inline size_t json_first_special(uint64_t mask) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  return static_cast<size_t>(__builtin_clzll(mask)) / 8;
#else
  return static_cast<size_t>(__builtin_ctzll(mask)) / 8;
#endif
}

inline uint64_t json_load8(const char* p) {
  uint64_t w;
  __builtin_memcpy(&w, p, 8);
  return w;
}

// Length of the prefix of p[0, n) that a JSON string literal holds as it is: printable ASCII but
// '"' and '\\'. Sixteen bytes at a time where SSE2 is there, else eight (json_special_bytes); the
// last bytes with one load that overlaps bytes already checked, so a short string (an id, an
// attribute) costs a few loads, never a loop over its bytes. Reads nothing outside p[0, n).
inline size_t json_plain_prefix(const char* p, size_t n) {
  size_t i = 0;
#if defined(__SSE2__)
  if (n >= 16) {
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'),
                  space = _mm_set1_epi8(0x20);
    // Bit k set: byte k of the 16 at q is special (the signed compare against 0x20 catches
    // control characters and every byte >= 0x80 at once).
    auto special16 = [&](const char* q) {
      const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
      return static_cast<unsigned>(_mm_movemask_epi8(
          _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(block, quote), _mm_cmpeq_epi8(block, backslash)),
                       _mm_cmplt_epi8(block, space))));
    };
    for (; i + 16 <= n; i += 16)
      if (const unsigned mask = special16(p + i))
        return i + static_cast<size_t>(__builtin_ctz(mask));
    if (i == n) return n;
    // The last 16 bytes; the first (i - (n - 16)) of them are checked already and plain.
    const unsigned mask = special16(p + n - 16) >> (i - (n - 16));
    return mask ? i + static_cast<size_t>(__builtin_ctz(mask)) : n;
  }
#endif
  for (; i + 8 <= n; i += 8)
    if (const uint64_t mask = json_special_bytes(json_load8(p + i)))
      return i + json_first_special(mask);
  if (i == n) return n;
  if (n >= 8) {
    // The last 8 bytes; the first (i - (n - 8)) of them are checked already and plain.
    const size_t from = n - 8, skip = 8 * (i - from);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    const uint64_t mask = json_special_bytes(json_load8(p + from)) & (~0ull >> skip);
#else
    const uint64_t mask = json_special_bytes(json_load8(p + from)) & (~0ull << skip);
#endif
    return mask ? from + json_first_special(mask) : n;
  }
  if (n >= 4) {  // 4 to 7 bytes: the first four and the last four in one word
    char word[8];
    __builtin_memcpy(word, p, 4);
    __builtin_memcpy(word + 4, p + n - 4, 4);
    const uint64_t mask = json_special_bytes(json_load8(word));
    if (!mask) return n;
    const size_t k = json_first_special(mask);
    return k < 4 ? k : n - 8 + k;
  }
  for (; i < n; ++i) {
    const auto c = static_cast<unsigned char>(p[i]);
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') return i;
  }
  return n;
}

inline size_t json_plain_prefix(std::string_view s) {
  return json_plain_prefix(s.data(), s.size());
}

class JsonChecker {
 public:
  explicit JsonChecker(std::string_view text) : text_(text), p_(0) {}

  bool valid() {
    enum class Next { value, key, after_value };
    Next next = Next::value;
    for (;;) {
      skip_whitespace();
      if (p_ == text_.size()) return false;  // every state wants a byte here
      const char c = text_[p_];
      switch (next) {
        case Next::value:
          if (c == '{' || c == '[') {
            push(c);
            ++p_;
            skip_whitespace();
            if (p_ < text_.size() && text_[p_] == (c == '{' ? '}' : ']')) {
              pop();
              ++p_;
              next = Next::after_value;
            } else {
              next = c == '{' ? Next::key : Next::value;
            }
            break;
          }
          if (!scalar(c)) return false;
          next = Next::after_value;
          break;
        case Next::key:
          // The members of one object in one loop: "key": scalar, "key": scalar, ... up to a
          // container value (the value state opens it) or the end of the object (after_value).
          for (int k = static_cast<unsigned char>(c);;) {
            if (k != '"' || !string()) return false;
            if (peek() != ':') return false;
            ++p_;
            const int v = peek();
            if (v < 0) return false;
            if (v == '{' || v == '[') {
              next = Next::value;
              break;
            }
            if (!scalar(static_cast<char>(v))) return false;
            if (peek() != ',') {
              next = Next::after_value;
              break;
            }
            ++p_;
            k = peek();  // -1 at the end: not a key
          }
          break;
        case Next::after_value:
          if (depth_ == 0) return false;  // a second value after the first one
          if (c == ',') {
            ++p_;
            next = top() == '{' ? Next::key : Next::value;
          } else if (c == (top() == '{' ? '}' : ']')) {
            ++p_;
            pop();
          } else {
            return false;
          }
          break;
      }
      if (next == Next::after_value && depth_ == 0) {
        skip_whitespace();
        return p_ == text_.size();
      }
    }
  }

 private:
  bool at(char c) const { return p_ < text_.size() && text_[p_] == c; }

  // The byte at p_ once whitespace is skipped (p_ left on it), as 0..255, or -1 at the end of
  // the text. Between the tokens of a compact body there is no whitespace: one bound check and
  // one compare.
  int peek() {
    if (p_ < text_.size() && static_cast<unsigned char>(text_[p_]) > ' ')
      return static_cast<unsigned char>(text_[p_]);
    skip_whitespace();
    return p_ < text_.size() ? static_cast<unsigned char>(text_[p_]) : -1;
  }

  void skip_whitespace() {
    while (p_ < text_.size()) {
      const char c = text_[p_];
      // One compare for the usual case, a byte above the space.
      if (static_cast<unsigned char>(c) > ' ' || (c != ' ' && c != '\n' && c != '\r' && c != '\t'))
        return;
      ++p_;
    }
  }

  // A string, number or literal starting with c at p_.
  bool scalar(char c) {
    switch (c) {
      case '"':
        return string();
      case 't':
        return literal("true");
      case 'f':
        return literal("false");
      case 'n':
        return literal("null");
      default:
        return number();
    }
  }

  bool literal(std::string_view word) {
    if (text_.substr(p_, word.size()) != word) return false;
    p_ += word.size();
    return true;
  }

  bool digits() {
    const size_t start = p_;
    while (p_ < text_.size() && text_[p_] >= '0' && text_[p_] <= '9')
      ++p_;
    return p_ > start;
  }

  // A number by the grammar whose value also fits a double, as parsers that read numbers as
  // doubles (nlohmann, RapidJSON) require: 1e400 is refused, 1e-400 (zero) passes.
  bool number() {
    const size_t start = p_;
    if (at('-')) ++p_;
    // Decimal magnitude: the value lies below 10^magnitude.
    long long magnitude = 0;
    bool zero = false;  // so far, every digit is 0
    if (at('0')) {
      ++p_;
      zero = true;
    } else if (p_ < text_.size() && text_[p_] >= '1' && text_[p_] <= '9') {
      const size_t int_start = p_;
      digits();
      magnitude = static_cast<long long>(p_ - int_start);
    } else {
      return false;
    }
    if (at('.')) {
      ++p_;
      const size_t fraction_start = p_;
      if (!digits()) return false;
      if (zero) {  // 0.000123: the magnitude is minus the zeros before the first other digit
        const size_t lead = text_.find_first_not_of('0', fraction_start);
        if (lead < p_) {
          zero = false;
          magnitude = -static_cast<long long>(lead - fraction_start);
        }
      }
    }
    if (at('e') || at('E')) {
      ++p_;
      const bool negative = at('-');
      if (at('+') || at('-')) ++p_;
      long long exponent = 0;
      const size_t exp_start = p_;
      for (; p_ < text_.size() && text_[p_] >= '0' && text_[p_] <= '9'; ++p_)
        if (exponent < 100000) exponent = exponent * 10 + (text_[p_] - '0');
      if (p_ == exp_start) return false;
      magnitude += negative ? -exponent : exponent;
    }
    if (zero || magnitude < 309) return true;  // zero, or below 1e308: fits
    if (magnitude > 309) return false;
    // Near DBL_MAX (1.79e308): let the library decide.
    double value = 0;
    const auto result = std::from_chars(text_.data() + start, text_.data() + p_, value);
    return result.ec == std::errc();
  }

  // Four hex digits at p_ as a number, or -1.
  long hex4() {
    if (p_ + 4 > text_.size()) return -1;
    long v = 0;
    for (size_t k = 0; k < 4; ++k) {
      const char h = text_[p_ + k];
      const int d = h >= '0' && h <= '9'   ? h - '0'
                    : h >= 'a' && h <= 'f' ? h - 'a' + 10
                    : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                           : -1;
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    p_ += 4;
    return v;
  }

  // p_ is on the backslash.
  bool escape() {
    if (p_ + 1 >= text_.size()) return false;
    const char e = text_[p_ + 1];
    p_ += 2;
    switch (e) {
      case '"':
      case '\\':
      case '/':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't':
        return true;
      case 'u': {
        const long unit = hex4();
        if (unit < 0) return false;
        if (unit >= 0xDC00 && unit <= 0xDFFF) return false;  // a low surrogate alone
        if (unit < 0xD800 || unit > 0xDBFF) return true;
        // A high surrogate: the low one must follow as \uDC00..\uDFFF.
        if (!at('\\') || p_ + 1 >= text_.size() || text_[p_ + 1] != 'u') return false;
        p_ += 2;
        const long low = hex4();
        return low >= 0xDC00 && low <= 0xDFFF;
      }
      default:
        return false;
    }
  }

  // p_ is on the opening quote; leaves p_ after the closing one.
  bool string() {
    ++p_;
    for (;;) {
#if defined(__SSE2__)
      // Skip ordinary bytes: anything but '"', '\\', a control character or a non-ASCII byte
      // (the signed compare below catches both of the last two).
      const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'),
                    space = _mm_set1_epi8(0x20);
      while (p_ + 16 <= text_.size()) {
        const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(text_.data() + p_));
        const unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(block, quote), _mm_cmpeq_epi8(block, backslash)),
            _mm_cmplt_epi8(block, space))));
        if (mask) {
          p_ += static_cast<size_t>(__builtin_ctz(mask));
          break;
        }
        p_ += 16;
      }
#else
      // Eight bytes at a time.
      for (uint64_t mask; p_ + 8 <= text_.size(); p_ += 8)
        if ((mask = json_special_bytes(json_load8(text_.data() + p_)))) {
          p_ += json_first_special(mask);
          break;
        }
#endif
      if (p_ >= text_.size()) return false;
      const unsigned char c = static_cast<unsigned char>(text_[p_]);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c == '\\') {
        if (!escape()) return false;
      } else if (c < 0x20) {
        return false;
      } else if (c >= 0x80) {
        const size_t n = utf8_sequence_length(text_, p_);
        if (!n) return false;
        p_ += n;
      } else {
        ++p_;
      }
    }
  }

  // The open containers, innermost last: '{' or '['. The first 64 live in the object.
  void push(char c) {
    if (depth_ < sizeof(inline_stack_))
      inline_stack_[depth_] = c;
    else
      deep_stack_.push_back(c);
    ++depth_;
  }
  void pop() {
    --depth_;
    if (depth_ >= sizeof(inline_stack_)) deep_stack_.pop_back();
  }
  char top() const {
    return depth_ > sizeof(inline_stack_) ? deep_stack_.back() : inline_stack_[depth_ - 1];
  }

  std::string_view text_;
  size_t p_;
  size_t depth_ = 0;
  char inline_stack_[64];
  std::string deep_stack_;
};

}  // namespace detail

// True when text is exactly one valid JSON value (see the top of this file).
inline bool json_valid(std::string_view text) {
  return detail::JsonChecker(text).valid();
}

}  // namespace sluice
