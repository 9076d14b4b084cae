// CRC-32C (Castagnoli), the checksum of every spool record and of the cursor file. Every event
// that goes through a spool is checksummed twice (append, read back), so this runs over every
// byte a spooled pipeline carries: with SSE4.2 the CPU's crc32 instruction (8 bytes per step),
// otherwise eight table lookups per 8 bytes ("slicing by 8") instead of one per byte.
#include <sluice/core/spool.hpp>

#include <array>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define SLUICE_CRC32C_SSE42 1
#endif

namespace sluice::core {

namespace {

constexpr uint32_t kPolynomial = 0x82f63b78u;  // reflected

// tables[k][b]: the CRC of byte b followed by k zero bytes.
using Tables = std::array<std::array<uint32_t, 256>, 8>;
const Tables& tables() {
  static const Tables t = [] {
    Tables t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k)
        c = c & 1 ? (c >> 1) ^ kPolynomial : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i)
      for (size_t k = 1; k < 8; ++k)
        t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xff];
    return t;
  }();
  return t;
}

// Both work on the register value (the CRC inverted), as the crc32 instruction does.
uint32_t update_by_table(uint32_t reg, const unsigned char* p, size_t n) {
  const Tables& t = tables();
  for (; n >= 8; p += 8, n -= 8) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
    if constexpr (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__) {
      lo = __builtin_bswap32(lo);
      hi = __builtin_bswap32(hi);
    }
    lo ^= reg;
    reg = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
          t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
  }
  for (; n > 0; ++p, --n)
    reg = t[0][(reg ^ *p) & 0xff] ^ (reg >> 8);
  return reg;
}

#ifdef SLUICE_CRC32C_SSE42
__attribute__((target("sse4.2"))) uint32_t update_by_instruction(uint32_t reg,
                                                                 const unsigned char* p, size_t n) {
  uint64_t r = reg;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    r = _mm_crc32_u64(r, v);
  }
  reg = static_cast<uint32_t>(r);
  for (; n > 0; ++p, --n)
    reg = _mm_crc32_u8(reg, *p);
  return reg;
}
#endif

using Update = uint32_t (*)(uint32_t, const unsigned char*, size_t);

Update best_update() {
#ifdef SLUICE_CRC32C_SSE42
  if (__builtin_cpu_supports("sse4.2")) return update_by_instruction;
#endif
  return update_by_table;
}

}  // namespace

uint32_t crc32c(uint32_t crc, const void* data, size_t size) {
  static const Update update = best_update();
  return ~update(~crc, static_cast<const unsigned char*>(data), size);
}

uint32_t crc32c_by_table(uint32_t crc, const void* data, size_t size) {
  return ~update_by_table(~crc, static_cast<const unsigned char*>(data), size);
}

}  // namespace sluice::core
