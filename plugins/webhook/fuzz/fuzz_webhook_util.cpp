// libFuzzer target for what the webhook sink reads from outside: the URL in the config and the
// Retry-After header of a response, plus gunzip as the test receiver uses it.
#include "webhook_util.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    sluice::webhook::Url u = sluice::webhook::parse_url(text);
    if (u.host.empty() || u.port.empty() || u.target.empty() || u.target[0] != '/')
      __builtin_trap();
  } catch (const std::invalid_argument&) {
  }
  (void)sluice::webhook::parse_retry_after(text,
                                           std::chrono::system_clock::from_time_t(1700000000));
  try {
    (void)sluice::webhook::gunzip(text);
  } catch (const std::runtime_error&) {
  }
  return 0;
}
