// libFuzzer target for the dead-letter line reader (`sluice dlq replay`): any line either parses
// or is refused with std::invalid_argument, and a line that parses survives being written back
// with dead_letter_line() and read again with the same sink, reason and event.
//
// Input: a dead-letter file; each line is checked, and the filter globs run over each record.
#include <sluice/core/dead_letter.hpp>

#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {

void check_line(std::string_view line) {
  sluice::core::DeadLetterRecord r;
  try {
    r = sluice::core::parse_dead_letter_line(line);
  } catch (const std::invalid_argument&) {
    return;
  }
  sluice::core::DeadLetterFilter f{"hmc.*", "/api/*", "s?nk"};
  (void)f.matches(r);

  sluice::core::DeadLetterInfo info;
  info.sink = r.sink;
  info.reason = r.reason;
  info.status = r.status;
  info.attempts = r.attempts;
  info.time_unix_ns = 1;
  sluice::EventViews views(&r.event, &r.event + 1);
  const std::string again = sluice::core::dead_letter_line(info, views.data()[0]);
  sluice::core::DeadLetterRecord back;
  try {
    back = sluice::core::parse_dead_letter_line(again);
  } catch (const std::invalid_argument&) {
    abort();  // sluice wrote a line it cannot read back
  }
  if (back.sink != r.sink || back.reason != r.reason || back.status != r.status ||
      back.attempts != r.attempts || back.event.id != r.event.id ||
      back.event.source != r.event.source || back.event.type != r.event.type ||
      back.event.subject != r.event.subject || back.event.attributes != r.event.attributes ||
      back.event.data != r.event.data)
    abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  while (!in.empty()) {
    const size_t nl = in.find('\n');
    check_line(in.substr(0, nl));
    if (nl == std::string_view::npos) break;
    in.remove_prefix(nl + 1);
  }
  return 0;
}
