// libFuzzer target for what every log line and dead-letter reason passes through: the redactor
// (which decodes base64 words of peer text) and the text log's control-character escaping.
// Input: up to three secrets, each one length byte and that many bytes, then the text.
#include <sluice/core/redact.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> secrets;
  for (int i = 0; i < 3 && !in.empty(); ++i) {
    size_t n = static_cast<unsigned char>(in[0]) % 24;
    in.remove_prefix(1);
    if (n > in.size()) n = in.size();
    std::string s(in.substr(0, n));
    in.remove_prefix(n);
    for (char& c : s)
      if (c == '*') c = '+';  // "***" is what redaction writes: a secret holding it proves nothing
    secrets.push_back(std::move(s));
  }
  const std::string out = sluice::core::redact(in, secrets);
  // A secret long enough to be hidden anywhere never survives, not even across a "***".
  for (const auto& s : secrets)
    if (s.size() >= sluice::core::kMinSubstringSecret && out.find(s) != std::string::npos)
      std::abort();
  if (out.size() > in.size() * 3 + 3) std::abort();

  const std::string escaped = sluice::core::escape_controls(in);
  for (size_t i = 0; i < escaped.size(); ++i) {
    const auto c = static_cast<unsigned char>(escaped[i]);
    if (c < 0x20 || c == 0x7F) std::abort();  // one record, one line
    if (c == 0xC2 && i + 1 < escaped.size() && static_cast<unsigned char>(escaped[i + 1]) >= 0x80 &&
        static_cast<unsigned char>(escaped[i + 1]) <= 0x9F)
      std::abort();
  }
  return 0;
}
