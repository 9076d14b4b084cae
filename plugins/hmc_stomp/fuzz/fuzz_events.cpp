// libFuzzer target for the frame-to-event mapping (events.cpp): the bytes are a broker's stream
// after CONNECTED. Byte 0 picks the STOMP version, byte 1 split_lists and the max_headers limit.
// Every frame goes through map_message (MESSAGE) or error_event (ERROR). Properties: no crash, no
// sanitizer report; every MESSAGE gives at least one event; every event's data is valid JSON;
// attribute names are distinct and keep the first value of a repeated header; a body with a
// UTF-8 byte order mark maps like the body without it.
#include "events.hpp"
#include "stomp_frame.hpp"

#include <sluice/json_check.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

namespace {
const std::string kSource = "hmc://fuzz";

void check_event(const sluice::Event& e, const sluice::hmc::stomp::FrameView& f) {
  if (e.type.rfind("hmc.", 0) != 0 && e.type.rfind("sluice.", 0) != 0) abort();
  if (e.data && !sluice::json_valid(*e.data)) abort();
  if (e.type == "sluice.gap") return;  // its attributes are its own
  std::set<std::string_view> names;
  for (const auto& [k, v] : e.attributes) {
    if (!names.insert(k).second) abort();             // one attribute per name
    if (f.header(k) != std::string_view(v)) abort();  // the first value of that header
  }
  if (names.size() > f.headers.size()) abort();
}

void map(const sluice::hmc::stomp::FrameView& f, bool split, sluice::hmc::SequenceTracker& seq,
         sluice::PackedEvents& out) {
  sluice::hmc::MapStats stats;
  out.clear();
  sluice::hmc::map_message(f, kSource, split, seq, out, stats);
  if (out.size() == 0) abort();
  for (size_t i = 0; i < out.size(); ++i)
    check_event(out.event(i), f);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const sluice::hmc::stomp::Version v = data[0] % 3 == 0   ? sluice::hmc::stomp::Version::v1_0
                                        : data[0] % 3 == 1 ? sluice::hmc::stomp::Version::v1_1
                                                           : sluice::hmc::stomp::Version::v1_2;
  const bool split = data[1] & 1;
  std::string_view rest(reinterpret_cast<const char*>(data + 2), size - 2);

  sluice::hmc::stomp::Parser parser(1 << 16);
  parser.set_version(v);
  parser.set_max_headers(data[1] & 2 ? 8 : 1000);
  sluice::hmc::SequenceTracker seq, seq_bom;
  sluice::PackedEvents out, out_bom;
  uint64_t errors = 0;
  const sluice::hmc::Secrets no_secrets;
  try {
    parser.append(rest);
    sluice::hmc::stomp::FrameView f;
    while (parser.next(f)) {
      if (f.command == "ERROR") {
        const sluice::Event e = sluice::hmc::error_event(
            f, kSource, "error-" + std::to_string(++errors), std::nullopt, no_secrets);
        check_event(e, f);
        continue;
      }
      map(f, split, seq, out);
      // The same frame with a byte order mark before its body: the same events.
      if (f.body.substr(0, 3) == "\xEF\xBB\xBF") continue;
      const std::string with_bom = "\xEF\xBB\xBF" + std::string(f.body);
      sluice::hmc::stomp::FrameView g = f;
      g.body = with_bom;
      map(g, split, seq_bom, out_bom);
      if (out_bom.size() != out.size()) abort();
      for (size_t i = 0; i < out.size(); ++i) {
        const sluice::Event a = out.event(i), b = out_bom.event(i);
        if (a.type != b.type || a.id != b.id) abort();
        if (a.type != "sluice.parse-error" && a.data != b.data) abort();
      }
    }
  } catch (const sluice::hmc::stomp::FrameError&) {
  }
  return 0;
}
