// libFuzzer target for what the emit path does with a plugin's bytes: the JSON check (data),
// checked against nlohmann::json::accept, the data of a parse-error event (lossy for bad UTF-8),
// the event copy, and the route globs (config). Input: pattern '\n' text, where text is also used
// as event data. The event copy is also made of text cut into fields at each \x01 byte, once from
// a PackedEvents (fields back to back: one move) and once from separate strings (field by field):
// both copies must be the same event.
#include <sluice/core/glob.hpp>
#include <sluice/core/owned_event.hpp>
#include <sluice/format.hpp>
#include <sluice/framework_events.hpp>
#include <sluice/json_check.hpp>
#include <sluice/packed_events.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::vector<std::string> fields_of(const sluice_event& e) {
  auto text = [](sluice_str s) {
    return s.data ? std::string("=").append(s.data, s.size) : std::string("-");
  };
  std::vector<std::string> out = {text(e.id), text(e.source), text(e.type), text(e.subject),
                                  text(e.data)};
  for (size_t i = 0; i < e.attribute_count; ++i)
    out.push_back(text(e.attributes[i].key) + text(e.attributes[i].value));
  return out;
}

// Fields cut at \x01: id, source, type, subject, then key/value pairs; an odd last piece is data.
void copy_both_ways(std::string_view text) {
  std::vector<std::string> pieces;
  for (size_t at = 0;;) {
    const size_t cut = text.find('\x01', at);
    pieces.emplace_back(text.substr(at, cut == std::string_view::npos ? cut : cut - at));
    if (cut == std::string_view::npos || pieces.size() == 64) break;
    at = cut + 1;
  }
  while (pieces.size() < 4)
    pieces.emplace_back();
  sluice::PackedEvents batch;
  batch.begin(pieces[0], pieces[1], pieces[2]);
  batch.subject(pieces[3]);
  std::vector<sluice_attribute> attrs;
  auto str = [](const std::string& s) { return sluice_str{s.data(), s.size()}; };
  size_t i = 4;
  for (; i + 1 < pieces.size(); i += 2) {
    batch.attribute(pieces[i], pieces[i + 1]);
    attrs.push_back({str(pieces[i]), str(pieces[i + 1])});
  }
  const bool has_data = i < pieces.size();
  if (has_data) batch.data(pieces[i]);

  sluice::core::EventParts scattered;
  scattered.id = str(pieces[0]);
  scattered.source = str(pieces[1]);
  scattered.type = str(pieces[2]);
  scattered.subject = str(pieces[3]);
  scattered.attributes = attrs.data();
  scattered.attribute_count = attrs.size();
  if (has_data) scattered.data = str(pieces[i]);
  sluice::core::EventParts packed = sluice::core::EventParts::of(batch.views()[0]);
  const sluice_attribute extra{{"sluice-source", 13}, {"fuzz", 4}};
  for (auto* p : {&scattered, &packed}) {
    p->extra_attributes = &extra;
    p->extra_attribute_count = 1;
    p->skip_key = pieces[0].size() % 3 == 0 && attrs.size() ? std::string_view(pieces[4]) : "";
  }
  sluice::core::EventPtr a = sluice::core::EventPtr::make(scattered);
  sluice::core::EventPtr b = sluice::core::EventPtr::make(packed);
  if (fields_of(a.view()) != fields_of(b.view()) || a.bytes() != b.bytes()) abort();
  for (const auto* ev : {&a, &b}) {
    const sluice_str d = ev->view().data;
    if (d.data && d.data[d.size] != '\0') abort();  // data ends with a NUL
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(bytes), size);
  size_t nl = in.find('\n');
  std::string_view pattern = nl == std::string_view::npos ? in : in.substr(0, nl);
  std::string_view text = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);

  (void)sluice::core::glob_match(pattern, text);
  copy_both_ways(text);

  sluice::core::EventParts p;
  p.id = {"1", 1};
  p.source = {"fuzz://", 7};
  p.type = {"fuzz", 4};
  p.data = {text.data(), text.size()};
  sluice::core::EventPtr ev = sluice::core::EventPtr::make(p);
  const sluice_str& d = ev.view().data;
  const bool valid = sluice::json_valid(std::string_view(d.data, d.size));
  // The same verdict as nlohmann, but where it is lenient: it skips a leading byte order mark
  // and takes a NUL byte for the end of the input.
  const bool nlohmann_lenient =
      text.substr(0, 3) == "\xEF\xBB\xBF" || text.find('\0') != std::string_view::npos;
  if (!nlohmann_lenient && valid != nlohmann::json::accept(text)) abort();
  if (!valid) {
    // What the core puts in the sluice.parse-error it makes of this event: always valid JSON.
    const std::string s =
        sluice::framework_events::parse_error_data("data is not valid JSON", text);
    if (!sluice::json_valid(s)) abort();
  }
  return 0;
}
