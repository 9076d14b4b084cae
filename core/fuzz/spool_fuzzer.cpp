// libFuzzer target for the spool's reading side: what recovery and reading make of any bytes in
// a segment and in the cursor file.
//
// Input: a cursor file's text up to the first '\n' (inclusive), then up to three segment files
// separated by the 4 bytes FF FE FD FC. Each input is checked twice:
//  - scan_spool_segment / decode_spool_payload / parse_spool_cursor on the raw bytes: the
//    records and damaged regions found tile the scanned bytes exactly, in order;
//  - the files are written to a private directory (in /dev/shm when there is one) and a Spool
//    opened on them: recovery must not crash or throw, everything it counts as pending comes out
//    (or is counted lost), and the spool still takes and returns a new event.
#include <sluice/core/spool.hpp>

#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace fs = std::filesystem;
using sluice::core::SpoolScan;

namespace {

void check_tiling(std::string_view bytes, bool last) {
  std::vector<std::pair<uint64_t, uint64_t>> pieces;  // offset, length
  const SpoolScan scan =
      sluice::core::scan_spool_segment(bytes, last, 0, [&](const SpoolScan::Record& r) {
        pieces.emplace_back(r.offset, 12 + uint64_t(r.length));
        sluice::Event e;
        (void)sluice::core::decode_spool_payload(bytes.substr(r.offset + 12, r.length), e);
      });
  if (pieces.size() != scan.records) abort();
  for (const auto& d : scan.damage) {
    if (d.length == 0 || d.records == 0) abort();
    pieces.emplace_back(d.offset, d.length);
  }
  std::sort(pieces.begin(), pieces.end());
  uint64_t at = 0;
  for (const auto& [off, len] : pieces) {
    if (off != at) abort();
    at += len;
  }
  if (at != scan.end || scan.end + scan.torn_bytes != bytes.size()) abort();
  if (!last && scan.torn_bytes) abort();
}

// Where the per-input directories go: /dev/shm (memory) when there is one, so that writing,
// reading and removing the files costs no disk I/O; the spool's code runs the same either way.
// Otherwise the usual temporary folder.
const fs::path& scratch_root() {
  static const fs::path root = [] {
    std::error_code ec;
    if (fs::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK | X_OK) == 0)
      return fs::path("/dev/shm");
    return fs::temp_directory_path();
  }();
  return root;
}

// A private directory for one input, removed again when the input is done.
struct WorkDir {
  fs::path path;
  WorkDir() {
    std::string tmpl = (scratch_root() / "sluice-spool-fuzz-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) abort();
    path = tmpl;
  }
  ~WorkDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

void write(const fs::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nl = in.find('\n');
  const std::string_view cursor = nl == std::string_view::npos ? in : in.substr(0, nl + 1);
  std::string_view rest = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  std::vector<std::string_view> segments;
  constexpr std::string_view sep("\xff\xfe\xfd\xfc", 4);
  while (segments.size() < 2) {
    const size_t at = rest.find(sep);
    if (at == std::string_view::npos) break;
    segments.push_back(rest.substr(0, at));
    rest.remove_prefix(at + sep.size());
  }
  segments.push_back(rest);

  // Whatever parses, written back the way a save writes it (fixed width, CRC), parses the same.
  if (const auto c = sluice::core::parse_spool_cursor(cursor)) {
    const auto again =
        sluice::core::parse_spool_cursor(sluice::core::spool_cursor_text(c->segment, c->offset));
    if (!again || again->segment != c->segment || again->offset != c->offset) abort();
  }
  for (size_t i = 0; i < segments.size(); ++i)
    check_tiling(segments[i], i + 1 == segments.size());

  const WorkDir work;
  const fs::path& dir = work.path;
  write(dir / "cursor", cursor);
  for (size_t i = 0; i < segments.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "%020zu.seg", i + 1);
    write(dir / name, segments[i]);
  }
  sluice::core::SpoolOptions o;
  o.directory = dir.string();
  o.fsync = sluice::core::SpoolFsync::never;
  o.segment_bytes = 4096;
  sluice::core::Spool spool(o);  // destroyed before `work` removes the directory
  const auto& rec = spool.recovery();
  uint64_t read = 0;
  while (auto batch = spool.next_batch(7)) {
    read += batch->events.size();
    spool.ack(batch->id);
  }
  const auto stats = spool.stats();
  if (stats.pending != 0) abort();
  if (read + (stats.lost - rec.lost_events) != rec.pending_events) abort();
  sluice::Event e;
  e.id = "after";
  e.source = "fuzz://";
  e.type = "t";
  if (spool.append(std::vector<sluice::Event>{e}).accepted != 1) abort();
  auto batch = spool.next_batch(10);
  if (!batch || batch->events.size() != 1 || batch->events[0].id != "after") abort();
  return 0;
}
