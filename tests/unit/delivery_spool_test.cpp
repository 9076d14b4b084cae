// Disk spool: order, acknowledgement, recovery from torn and damaged segments (only damaged
// records are lost, and counted), failed syncs, links and foreign directories, overflow policies,
// and a real kill -9 of a process in the middle of appending.
#include <doctest/doctest.h>
#include <sluice/testing.hpp>

#include <sluice/core/spool.hpp>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using sluice::Event;
using sluice::EventViews;
using sluice::core::Spool;
using sluice::core::SpoolFsync;
using sluice::core::SpoolOptions;
using sluice::core::SpoolOverflow;

namespace {

using sluice::testing::TempDir;

Event make_event(int i, std::string payload = "") {
  Event e;
  e.id = "ev-" + std::to_string(i);
  e.source = "test://spool";
  e.type = "test.event";
  e.time_unix_ns = 1700000000123456789 + i;
  e.data =
      "{\"n\":" + std::to_string(i) + (payload.empty() ? "" : ",\"p\":\"" + payload + "\"") + "}";
  return e;
}

std::vector<Event> make_events(int from, int to, std::string payload = "") {
  std::vector<Event> v;
  for (int i = from; i < to; ++i)
    v.push_back(make_event(i, payload));
  return v;
}

std::vector<std::string> drain_ids(Spool& s, bool do_ack = true) {
  std::vector<std::string> ids;
  while (auto b = s.next_batch(7)) {
    for (auto& e : b->events)
      ids.push_back(e.id);
    if (do_ack) s.ack(b->id);
  }
  return ids;
}

std::vector<std::string> id_range(int from, int to) {
  std::vector<std::string> v;
  for (int i = from; i < to; ++i)
    v.push_back("ev-" + std::to_string(i));
  return v;
}

std::vector<fs::path> files_with(const fs::path& dir, const std::string& suffix) {
  std::vector<fs::path> v;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().string().size() >= suffix.size() &&
        e.path().string().compare(e.path().string().size() - suffix.size(), suffix.size(),
                                  suffix) == 0)
      v.push_back(e.path());
  std::sort(v.begin(), v.end());
  return v;
}

SpoolOptions options_for(const TempDir& d) {
  SpoolOptions o;
  o.directory = d.path.string();
  o.fsync = SpoolFsync::never;
  return o;
}

// fsync: batch (group commit), with the sync-fault hook: an errno, 0 for none.
SpoolOptions synced_options(const TempDir& d, std::function<int()> fail_sync = nullptr) {
  SpoolOptions o = options_for(d);
  o.fsync = SpoolFsync::batch;
  o.fail_sync = std::move(fail_sync);
  return o;
}

}  // namespace

TEST_CASE("crc32c of \"123456789\" is the standard check value 0xE3069283") {
  const char* s = "123456789";
  CHECK(sluice::core::crc32c(0, s, 9) == 0xE3069283u);
  CHECK(sluice::core::crc32c_by_table(0, s, 9) == 0xE3069283u);
}

TEST_CASE("crc32c: the instruction and the tables agree with the bit-by-bit definition") {
  // The definition, one bit at a time (reflected polynomial 0x82F63B78, inverted in and out).
  auto reference = [](uint32_t crc, const unsigned char* p, size_t n) {
    crc = ~crc;
    for (size_t i = 0; i < n; ++i) {
      crc ^= p[i];
      for (int k = 0; k < 8; ++k)
        crc = crc & 1 ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
    }
    return ~crc;
  };
  std::mt19937 rng(11);
  std::vector<unsigned char> bytes(300);
  for (auto& b : bytes)
    b = static_cast<unsigned char>(rng());
  // Every length up to 80 at every alignment, so each tail length (0-7) meets each 8-byte path.
  for (size_t offset = 0; offset < 8; ++offset)
    for (size_t n = 0; n <= 80; ++n) {
      CAPTURE(offset);
      CAPTURE(n);
      const uint32_t want = reference(0, bytes.data() + offset, n);
      CHECK(sluice::core::crc32c(0, bytes.data() + offset, n) == want);
      CHECK(sluice::core::crc32c_by_table(0, bytes.data() + offset, n) == want);
    }
  // Continuing from an earlier CRC (how a record's header and payload are checksummed).
  for (size_t split : {0, 1, 4, 9, 150, 300}) {
    CAPTURE(split);
    const uint32_t whole = reference(0, bytes.data(), bytes.size());
    const uint32_t head = sluice::core::crc32c(0, bytes.data(), split);
    CHECK(sluice::core::crc32c(head, bytes.data() + split, bytes.size() - split) == whole);
    const uint32_t head_t = sluice::core::crc32c_by_table(0, bytes.data(), split);
    CHECK(sluice::core::crc32c_by_table(head_t, bytes.data() + split, bytes.size() - split) ==
          whole);
  }
}

TEST_CASE("spool: events come back in order with every field intact") {
  TempDir dir;
  Spool spool(options_for(dir));
  Event full = make_event(1);
  full.subject = "/api/partitions/p1";
  full.attribute("notification-type", "os-message").attribute("empty", "");
  Event bare;
  bare.id = "bare";
  bare.source = "s";
  bare.type = "t";
  auto r = spool.append(std::vector<Event>{full, bare});
  CHECK(r.accepted == 2);
  CHECK(r.dropped == 0);
  auto batch = spool.next_batch(10);
  REQUIRE(batch);
  REQUIRE(batch->events.size() == 2);
  const Event& a = batch->events[0];
  CHECK(a.id == "ev-1");
  CHECK(a.source == "test://spool");
  CHECK(a.type == "test.event");
  CHECK(a.subject == std::optional<std::string>("/api/partitions/p1"));
  CHECK(a.time_unix_ns == 1700000000123456790);
  CHECK(a.data == std::optional<std::string>("{\"n\":1}"));
  REQUIRE(a.attributes.size() == 2);
  CHECK(a.attributes[0] == std::pair<std::string, std::string>("notification-type", "os-message"));
  CHECK(a.attributes[1] == std::pair<std::string, std::string>("empty", ""));
  const Event& b = batch->events[1];
  CHECK(b.id == "bare");
  CHECK_FALSE(b.subject.has_value());
  CHECK_FALSE(b.data.has_value());
  CHECK(b.time_unix_ns == 0);
  CHECK_FALSE(spool.next_batch(10).has_value());
}

TEST_CASE("spool: next_batch respects max_events and hands out each event once") {
  TempDir dir;
  Spool spool(options_for(dir));
  spool.append(make_events(0, 10));
  auto b1 = spool.next_batch(4);
  auto b2 = spool.next_batch(4);
  auto b3 = spool.next_batch(4);
  REQUIRE(b1);
  REQUIRE(b2);
  REQUIRE(b3);
  CHECK(b1->events.size() == 4);
  CHECK(b2->events.size() == 4);
  CHECK(b3->events.size() == 2);
  CHECK(b2->events.front().id == "ev-4");
  CHECK_FALSE(spool.next_batch(4));
  CHECK(spool.stats().pending == 10);
}

TEST_CASE("spool: acknowledged events are not handed out again after reopening") {
  TempDir dir;
  {
    Spool spool(options_for(dir));
    spool.append(make_events(0, 10));
    auto b = spool.next_batch(6);
    REQUIRE(b);
    spool.ack(b->id);
  }
  Spool again(options_for(dir));
  CHECK(again.recovery().pending_events == 4);
  CHECK(drain_ids(again) == id_range(6, 10));
}

TEST_CASE("spool: a batch handed out but not acknowledged is handed out again after reopening") {
  TempDir dir;
  {
    Spool spool(options_for(dir));
    spool.append(make_events(0, 5));
    auto b1 = spool.next_batch(2);
    auto b2 = spool.next_batch(2);
    REQUIRE(b1);
    REQUIRE(b2);
    spool.ack(b1->id);  // b2 was "in flight" when the process went away
  }
  Spool again(options_for(dir));
  CHECK(drain_ids(again) == id_range(2, 5));
}

TEST_CASE("spool: out-of-order acks persist only the acknowledged prefix") {
  TempDir dir;
  {
    Spool spool(options_for(dir));
    spool.append(make_events(0, 6));
    auto b1 = spool.next_batch(2);
    auto b2 = spool.next_batch(2);
    auto b3 = spool.next_batch(2);
    REQUIRE(b3);
    spool.ack(b2->id);
    spool.ack(b3->id);  // b1 still out: nothing persisted past ev-0
    CHECK(spool.stats().pending == 2);
  }
  {
    Spool again(options_for(dir));
    CHECK(again.recovery().pending_events == 6);
    auto b1 = again.next_batch(2);
    REQUIRE(b1);
    auto b2 = again.next_batch(2);
    REQUIRE(b2);
    again.ack(b2->id);
    again.ack(b1->id);  // now the prefix covers ev-0..ev-3
  }
  Spool third(options_for(dir));
  CHECK(drain_ids(third) == id_range(4, 6));
}

TEST_CASE("spool: rewind hands out un-acknowledged batches again") {
  TempDir dir;
  Spool spool(options_for(dir));
  spool.append(make_events(0, 4));
  auto b1 = spool.next_batch(2);
  REQUIRE(b1);
  spool.ack(b1->id);
  REQUIRE(spool.next_batch(2));
  spool.rewind();
  CHECK(drain_ids(spool) == id_range(2, 4));
}

TEST_CASE("spool: segments roll at segment_bytes and fully acknowledged ones are deleted") {
  TempDir dir;
  SpoolOptions o = options_for(dir);
  o.segment_bytes = 4096;
  Spool spool(o);
  spool.append(make_events(0, 200, std::string(100, 'x')));  // ~30 KiB
  CHECK(files_with(dir.path, ".seg").size() >= 5);
  auto ids = drain_ids(spool);
  CHECK(ids == id_range(0, 200));
  CHECK(files_with(dir.path, ".seg").size() <= 1);
  CHECK(spool.stats().pending == 0);
  spool.append(make_events(200, 201));
  CHECK(drain_ids(spool) == id_range(200, 201));
}

TEST_CASE("spool recovery: a torn record at the end is cut off, the rest is kept") {
  TempDir dir;
  {
    Spool spool(options_for(dir));
    spool.append(make_events(0, 5));
  }
  auto segs = files_with(dir.path, ".seg");
  REQUIRE(segs.size() == 1);
  const auto full = fs::file_size(segs[0]);
  fs::resize_file(segs[0], full - 7);  // the last record loses its last 7 bytes
  Spool again(options_for(dir));
  CHECK(again.recovery().truncated_bytes > 0);
  CHECK(again.recovery().damaged_regions == 0);
  CHECK(again.recovery().lost_events == 0);
  CHECK(again.recovery().messages.size() == 1);
  CHECK(drain_ids(again) == id_range(0, 4));
  again.append(make_events(5, 6));  // appends continue after the cut
  CHECK(drain_ids(again) == id_range(5, 6));
}

namespace {

// Flips one byte at `offset` of `file`.
void flip_byte(const fs::path& file, uint64_t offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  const char c = static_cast<char>(f.get());
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x5a));
}

// The offsets of the records in a segment file, by walking the headers (magic, length, crc).
std::vector<uint64_t> record_offsets(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<uint64_t> v;
  for (uint64_t off = 0; off + 12 <= bytes.size();) {
    v.push_back(off);
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + off + 4);
    off +=
        12 + (uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24);
  }
  return v;
}

std::vector<std::string> without(std::vector<std::string> ids, const std::string& gone) {
  ids.erase(std::remove(ids.begin(), ids.end(), gone), ids.end());
  return ids;
}

}  // namespace

TEST_CASE("spool recovery: one flipped byte in the middle loses only the record it is in") {
  TempDir dir;
  SpoolOptions o = options_for(dir);
  o.segment_bytes = 4096;
  {
    Spool spool(o);
    spool.append(make_events(0, 120, std::string(100, 'x')));
  }
  auto segs = files_with(dir.path, ".seg");
  REQUIRE(segs.size() >= 3);
  // The payload of the second segment's third record: which event that is follows from the
  // number of records in the first segment.
  const auto first = record_offsets(segs[0]);
  const auto second = record_offsets(segs[1]);
  REQUIRE(second.size() >= 4);
  flip_byte(segs[1], second[2] + 40);
  const std::string victim = "ev-" + std::to_string(first.size() + 2);

  Spool again(o);
  CHECK(drain_ids(again) == without(id_range(0, 120), victim));
  CHECK(again.recovery().damaged_regions == 1);
  CHECK(again.recovery().lost_events == 1);
  CHECK(again.stats().lost == 1);
  CHECK(files_with(dir.path, ".corrupt").empty());
  REQUIRE(again.recovery().messages.size() == 1);
  CHECK(again.recovery().messages[0].find(segs[1].string()) != std::string::npos);
  CHECK(again.recovery().messages[0].find("1 event(s) lost") != std::string::npos);
}

TEST_CASE("spool recovery: a bad length in the newest segment is not a torn tail") {
  TempDir dir;
  {
    Spool spool(options_for(dir));
    spool.append(make_events(0, 10));
  }
  auto segs = files_with(dir.path, ".seg");
  REQUIRE(segs.size() == 1);
  const auto offsets = record_offsets(segs[0]);
  REQUIRE(offsets.size() == 10);
  {
    // Record 3's length now reaches past the end of the file.
    std::fstream f(segs[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(offsets[3] + 6));
    f.put('\x10');
  }
  Spool again(options_for(dir));
  CHECK(drain_ids(again) == without(id_range(0, 10), "ev-3"));
  CHECK(again.recovery().truncated_bytes == 0);
  CHECK(again.recovery().lost_events == 1);
  again.append(make_events(10, 11));  // appends continue at the end, after the kept records
  CHECK(drain_ids(again) == id_range(10, 11));
}

TEST_CASE("spool recovery: an empty segment between others is reported and counted") {
  TempDir dir;
  SpoolOptions o = options_for(dir);
  o.segment_bytes = 4096;
  {
    Spool spool(o);
    spool.append(make_events(0, 120, std::string(100, 'x')));
  }
  auto segs = files_with(dir.path, ".seg");
  REQUIRE(segs.size() >= 3);
  const size_t in_first = record_offsets(segs[0]).size();
  const size_t in_second = record_offsets(segs[1]).size();
  fs::resize_file(segs[1], 0);
  Spool again(o);
  auto expected = id_range(0, static_cast<int>(in_first));
  auto rest = id_range(static_cast<int>(in_first + in_second), 120);
  expected.insert(expected.end(), rest.begin(), rest.end());
  CHECK(drain_ids(again) == expected);
  CHECK(again.recovery().lost_events >= 1);
  REQUIRE(again.recovery().messages.size() == 1);
  CHECK(again.recovery().messages[0].find("is empty though newer segments exist") !=
        std::string::npos);
}

TEST_CASE("spool recovery: a cursor beyond the newest segment deletes nothing") {
  TempDir dir;
  SpoolOptions o = options_for(dir);
  o.segment_bytes = 4096;
  {
    Spool spool(o);
    spool.append(make_events(0, 60, std::string(100, 'x')));
  }
  const auto segs = files_with(dir.path, ".seg");
  REQUIRE(segs.size() >= 2);
  std::ofstream(dir.path / "cursor") << "sluice-spool-cursor 1 18446744073709551615 0\n";
  Spool again(o);
  CHECK(files_with(dir.path, ".seg").size() == segs.size());
  CHECK(again.recovery().pending_events == 60);
  CHECK(drain_ids(again) == id_range(0, 60));
  REQUIRE(again.recovery().messages.size() == 1);
  CHECK(again.recovery().messages[0].find("every event in the spool is sent again") !=
        std::string::npos);
}

TEST_CASE(
    "spool recovery: a cursor one past the newest segment at offset 0 is a roll, not damage") {
  TempDir dir;
  {
    Spool spool(options_for(dir));
    spool.append(make_events(0, 3));
  }
  // What a crash right after rolling to segment 2 (and before deleting 1) leaves behind.
  std::ofstream(dir.path / "cursor") << "sluice-spool-cursor 1 2 0\n";
  Spool again(options_for(dir));
  CHECK(again.recovery().pending_events == 0);
  CHECK(again.recovery().messages.empty());
  CHECK(drain_ids(again).empty());
}

TEST_CASE("spool recovery: a cursor pointing into a record sends that record again") {
  TempDir dir;
  {
    Spool spool(options_for(dir));
    spool.append(make_events(0, 5));
  }
  const auto offsets = record_offsets(files_with(dir.path, ".seg")[0]);
  std::ofstream(dir.path / "cursor")
      << "sluice-spool-cursor 1 1 " << offsets[2] + 5 << "\n";  // inside record 2
  Spool again(options_for(dir));
  CHECK(drain_ids(again) == id_range(2, 5));
}

TEST_CASE("spool: a record damaged after open loses only that record, counted exactly") {
  TempDir dir;
  SpoolOptions o = options_for(dir);
  o.segment_bytes = 4096;
  Spool spool(o);
  spool.append(make_events(0, 120, std::string(100, 'x')));
  auto segs = files_with(dir.path, ".seg");
  REQUIRE(segs.size() >= 3);
  flip_byte(segs[0], 100);  // inside the first record's payload
  auto ids = drain_ids(spool);
  CHECK(ids == id_range(1, 120));
  auto messages = spool.take_messages();
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].find("1 event(s) lost") != std::string::npos);
  CHECK(spool.stats().lost == 1);
  CHECK(spool.stats().pending == 0);
  CHECK(spool.stats().dropped == 0);
}

TEST_CASE("spool recovery: scanning skips garbage between records and counts headers seen") {
  // Three records, then garbage holding two record headers of nothing, then two more records.
  TempDir dir;
  {
    Spool spool(options_for(dir));
    spool.append(make_events(0, 3));
  }
  const fs::path seg = files_with(dir.path, ".seg")[0];
  std::string bytes;
  {
    std::ifstream in(seg, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const std::string good = bytes;
  const std::string garbage("SLR1\xff\xff\x00\x00junkSLR1\x01\x00\x00\x00zzzz!", 25);
  const std::string all = good + garbage + good;
  uint64_t seen = 0;
  auto scan = sluice::core::scan_spool_segment(
      all, true, 0, [&](const sluice::core::SpoolScan::Record&) { ++seen; });
  CHECK(scan.records == 6);
  CHECK(seen == 6);
  REQUIRE(scan.damage.size() == 1);
  CHECK(scan.damage[0].offset == good.size());
  CHECK(scan.damage[0].length == garbage.size());
  CHECK(scan.damage[0].records == 2);
  CHECK(scan.end == all.size());
  CHECK(scan.torn_bytes == 0);
  // The same bytes cut inside the last record: a torn tail, not damage.
  auto torn =
      sluice::core::scan_spool_segment(std::string_view(all).substr(0, all.size() - 3), true);
  CHECK(torn.records == 5);
  CHECK(torn.torn_bytes > 0);
  CHECK(torn.damage.size() == 1);
}

TEST_CASE("spool cursor text: exactly one form is accepted") {
  using sluice::core::parse_spool_cursor;
  auto c = parse_spool_cursor("sluice-spool-cursor 1 7 4096\n");
  REQUIRE(c);
  CHECK(c->segment == 7);
  CHECK(c->offset == 4096);
  CHECK_FALSE(parse_spool_cursor("sluice-spool-cursor 1 7 4096"));
  CHECK_FALSE(parse_spool_cursor("sluice-spool-cursor 1 -7 4096\n"));
  CHECK_FALSE(parse_spool_cursor("sluice-spool-cursor 1 18446744073709551616 0\n"));
  CHECK_FALSE(parse_spool_cursor("sluice-spool-cursor 2 7 4096\n"));
  CHECK_FALSE(parse_spool_cursor("sluice-spool-cursor 1 7 4096\nx"));
}

TEST_CASE("spool overflow drop_newest: events beyond the cap are refused and counted") {
  TempDir dir;
  SpoolOptions o = options_for(dir);
  o.max_bytes = 20000;
  o.overflow = SpoolOverflow::drop_newest;
  Spool spool(o);
  auto r = spool.append(make_events(0, 400, std::string(100, 'x')));
  CHECK(r.accepted > 0);
  CHECK(r.dropped > 0);
  CHECK(r.accepted + r.dropped == 400);
  CHECK(spool.stats().dropped == r.dropped);
  auto ids = drain_ids(spool);
  CHECK(ids == id_range(0, static_cast<int>(r.accepted)));  // the oldest are kept
}

TEST_CASE("spool overflow drop_oldest: the oldest segment goes, the newest events are kept") {
  TempDir dir;
  SpoolOptions o = options_for(dir);
  o.max_bytes = 20000;
  o.overflow = SpoolOverflow::drop_oldest;
  Spool spool(o);
  auto r = spool.append(make_events(0, 400, std::string(100, 'x')));
  CHECK(r.accepted == 400);
  CHECK(r.dropped == 0);
  CHECK(r.dropped_oldest > 0);
  CHECK(spool.stats().bytes <= 20000);
  auto ids = drain_ids(spool);
  CHECK(ids.back() == "ev-399");
  CHECK(ids.size() + r.dropped_oldest == 400);
  CHECK(ids.front() == "ev-" + std::to_string(r.dropped_oldest));
}

TEST_CASE("spool overflow block: append waits until acknowledgements free room") {
  TempDir dir;
  SpoolOptions o = options_for(dir);
  o.max_bytes = 20000;
  o.overflow = SpoolOverflow::block;
  o.block_timeout = std::chrono::seconds(30);  // bounded; the consumer frees room long before
  Spool spool(o);
  std::atomic<bool> done{false};
  std::vector<std::string> got;
  std::thread consumer([&] {
    while (!done || spool.stats().pending > 0) {
      if (!spool.wait_readable(std::chrono::milliseconds(50))) continue;
      while (auto b = spool.next_batch(10)) {
        for (auto& e : b->events)
          got.push_back(e.id);
        spool.ack(b->id);
      }
    }
  });
  auto r = spool.append(make_events(0, 1000, std::string(100, 'x')));  // ~5x the cap
  done = true;
  consumer.join();
  CHECK(r.accepted == 1000);
  CHECK(r.dropped == 0);
  CHECK(got == id_range(0, 1000));
}

TEST_CASE("spool overflow block: with nobody draining, the block timeout drops and counts") {
  TempDir dir;
  SpoolOptions o = options_for(dir);
  o.max_bytes = 20000;
  o.overflow = SpoolOverflow::block;
  o.block_timeout = std::chrono::milliseconds(20);
  Spool spool(o);
  auto r = spool.append(make_events(0, 300, std::string(100, 'x')));
  CHECK(r.dropped > 0);
  CHECK(r.accepted + r.dropped == 300);
  CHECK(spool.stats().dropped == r.dropped);
}

TEST_CASE("spool: a closed spool refuses appends and counts them dropped") {
  TempDir dir;
  Spool spool(options_for(dir));
  spool.close();
  auto r = spool.append(make_events(0, 3));
  CHECK(r.accepted == 0);
  CHECK(r.dropped == 3);
}

TEST_CASE("spool fsync policies parse, and unknown names are errors") {
  CHECK(sluice::core::parse_spool_fsync("interval") == SpoolFsync::interval);
  CHECK(sluice::core::parse_spool_overflow("drop_oldest") == SpoolOverflow::drop_oldest);
  CHECK_THROWS_WITH_AS(sluice::core::parse_spool_fsync("always"),
                       "unknown spool fsync policy 'always' (never, batch, interval)",
                       std::invalid_argument);
}

TEST_CASE("spool survives kill -9 of a process in the middle of appending") {
  TempDir dir;
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // Child: append forever, one small batch at a time, with fsync batch (the default); after
    // each append returns, tell the parent how many events are accepted so far.
    ::close(fds[0]);
    SpoolOptions o;
    o.directory = dir.path.string();
    o.segment_bytes = 8192;
    Spool spool(o);
    for (int i = 0;; i += 5) {
      spool.append(make_events(i, i + 5, std::string(50, 'y')));
      const int accepted = i + 5;
      if (::write(fds[1], &accepted, sizeof accepted) != sizeof accepted) ::_exit(1);
    }
  }
  ::close(fds[1]);
  int accepted = 0;
  while (accepted < 500) {
    int n = 0;
    if (::read(fds[0], &n, sizeof n) != sizeof n) break;
    accepted = n;
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ::close(fds[0]);
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(accepted >= 500);

  SpoolOptions o = options_for(dir);
  o.segment_bytes = 8192;
  Spool spool(o);
  CHECK(spool.recovery().lost_events == 0);
  auto ids = drain_ids(spool);
  // Every event whose append() returned is there, in order, each once; the child may have got
  // further before it died.
  REQUIRE(ids.size() >= static_cast<size_t>(accepted));
  CHECK(std::vector<std::string>(ids.begin(), ids.begin() + accepted) == id_range(0, accepted));
  CHECK(ids == id_range(0, static_cast<int>(ids.size())));
}

// ---- failed syncs acknowledge nothing --------------------------------------------------------

TEST_CASE("spool fsync batch: a failed fdatasync accepts nothing of that append") {
  TempDir dir;
  int fail = 0;
  SpoolOptions o = synced_options(dir, [&] { return fail; });
  {
    Spool spool(o);
    spool.append(make_events(0, 1));
    fail = EIO;
    CHECK_THROWS_WITH_AS(spool.append(make_events(1, 4)),
                         doctest::Contains("cannot sync (fdatasync)"), std::runtime_error);
    CHECK(spool.stats().appended == 1);
    CHECK(spool.stats().pending == 1);
    CHECK(spool.stats().sync_errors >= 1);
    fail = 0;
    spool.append(make_events(4, 5));
    CHECK(drain_ids(spool, false) == std::vector<std::string>{"ev-0", "ev-4"});
  }
  Spool again(o);
  CHECK(drain_ids(again) == std::vector<std::string>{"ev-0", "ev-4"});
}

TEST_CASE("spool: a failed cursor sync does not acknowledge; the events come back after restart") {
  TempDir dir;
  int fail = 0;
  SpoolOptions o = synced_options(dir, [&] { return fail; });
  {
    Spool spool(o);
    spool.append(make_events(0, 5));
    auto batch = spool.next_batch(10);
    REQUIRE(batch);
    fail = EIO;
    spool.ack(batch->id);
    auto messages = spool.take_messages();
    REQUIRE(messages.size() == 1);
    CHECK(messages[0].find("cannot sync (fdatasync)") != std::string::npos);
    CHECK(messages[0].find("stays where it was") != std::string::npos);
    CHECK_FALSE(fs::exists(dir.path / "cursor.tmp"));
  }
  fail = 0;
  Spool again(o);
  CHECK(again.recovery().pending_events == 5);
  CHECK(drain_ids(again) == id_range(0, 5));
}

TEST_CASE("spool: a segment that cannot be created at a roll does not break the spool for good") {
  // Creating the next segment fails (ENOSPC or EMFILE in real life; here its name is taken by a
  // directory): that append fails, but once the cause is gone the spool takes events again.
  TempDir dir;
  SpoolOptions o = options_for(dir);
  o.segment_bytes = 4096;
  Spool spool(o);
  const fs::path next = dir.path / "00000000000000000002.seg";
  fs::create_directory(next);
  int failed_at = -1;
  for (int i = 0; i < 100 && failed_at < 0; ++i) {
    try {
      spool.append(make_events(i, i + 1, std::string(100, 'x')));
    } catch (const std::runtime_error&) {
      failed_at = i;
    }
  }
  REQUIRE(failed_at > 0);
  CHECK_THROWS_AS(spool.append(make_events(500, 501)), std::runtime_error);  // still taken
  fs::remove(next);
  CHECK_NOTHROW(spool.append(make_events(1000, 1001)));
  std::vector<std::string> expected = id_range(0, failed_at);
  expected.push_back("ev-1000");
  CHECK(drain_ids(spool) == expected);
  CHECK(spool.stats().pending == 0);
}

// ---- links, foreign directories, modes -------------------------------------------------------

namespace {
std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
}  // namespace

TEST_CASE("spool: a link planted as cursor.tmp does not make sluice truncate its target") {
  TempDir dir, elsewhere;
  const fs::path victim = elsewhere.path / "shadow";
  std::ofstream(victim) << "root:secret\n";
  fs::create_directory_symlink(victim, dir.path / "cursor.tmp");  // a link, dangling or not
  {
    Spool spool(options_for(dir));
    spool.append(make_events(0, 3));
    auto batch = spool.next_batch(10);
    REQUIRE(batch);
    spool.ack(batch->id);
  }
  CHECK(slurp(victim) == "root:secret\n");
  CHECK(slurp(dir.path / "cursor").rfind("sluice-spool-cursor 1 ", 0) == 0);
}

TEST_CASE("spool: a link planted as a segment is refused, its target left alone") {
  TempDir dir, elsewhere;
  const fs::path victim = elsewhere.path / "shadow";
  std::ofstream(victim) << "root:secret\n";
  fs::create_symlink(victim, dir.path / "00000000000000000001.seg");
  CHECK_THROWS_WITH_AS(Spool(options_for(dir)), doctest::Contains("is a symbolic link"),
                       std::runtime_error);
  CHECK(slurp(victim) == "root:secret\n");
}

TEST_CASE("spool: a group- or world-writable directory is refused, naming it and why") {
  TempDir dir;
  fs::permissions(dir.path, fs::perms(0777));
  const std::string expected = dir.path.string() + " is writable by group or others";
  CHECK_THROWS_WITH_AS(Spool(options_for(dir)), doctest::Contains(expected.c_str()),
                       std::runtime_error);
  fs::permissions(dir.path, fs::perms(0770));
  CHECK_THROWS_AS(Spool(options_for(dir)), std::runtime_error);
}

TEST_CASE("spool: a directory owned by another (non-root) user is refused") {
  if (::geteuid() != 0) return;  // only root can give a directory away
  TempDir dir;
  REQUIRE(::chown(dir.path.c_str(), 65534, 65534) == 0);
  CHECK_THROWS_WITH_AS(Spool(options_for(dir)), doctest::Contains("is owned by uid 65534"),
                       std::runtime_error);
}

TEST_CASE("spool: directories are created 0700 and files 0600 whatever the umask") {
  TempDir dir;
  const mode_t old = ::umask(0);
  SpoolOptions o = options_for(dir);
  o.directory = (dir.path / "state" / "spool" / "sink").string();
  {
    Spool spool(o);
    spool.append(make_events(0, 2));
    auto batch = spool.next_batch(10);
    REQUIRE(batch);
    spool.ack(batch->id);
  }
  ::umask(old);
  auto mode = [](const fs::path& p) {
    struct stat st;
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_mode & 07777;
  };
  CHECK(mode(dir.path / "state") == 0700);
  CHECK(mode(dir.path / "state" / "spool") == 0700);
  CHECK(mode(o.directory) == 0700);
  const auto segs = files_with(o.directory, ".seg");
  REQUIRE_FALSE(segs.empty());
  for (const auto& seg : segs)
    CHECK(mode(seg) == 0600);
  CHECK(mode(fs::path(o.directory) / "cursor") == 0600);
}

// ---- a batch per append ------------------------------------------------------------------------

TEST_CASE("spool: one append of many events is one write and one fdatasync") {
  TempDir dir;
  int writes = 0, syncs = 0;
  SpoolOptions o = synced_options(dir);
  o.fail_write = [&] { return ++writes, 0; };
  o.fail_sync = [&] { return ++syncs, 0; };
  Spool spool(o);
  spool.append(make_events(0, 1));  // the segment and its directory entry exist from here on
  writes = syncs = 0;
  const auto r = spool.append(make_events(1, 21));
  CHECK(r.accepted == 20);
  CHECK(writes == 1);
  CHECK(syncs == 1);
  CHECK(drain_ids(spool) == id_range(0, 21));
}

TEST_CASE(
    "spool recovery: a batch torn anywhere comes back whole or as a prefix, nothing damaged") {
  TempDir dir;
  {
    Spool spool(options_for(dir));
    spool.append(make_events(0, 1));
    spool.append(make_events(1, 11));  // the batch: one write
  }
  auto segs = files_with(dir.path, ".seg");
  REQUIRE(segs.size() == 1);
  const auto offsets = record_offsets(segs[0]);
  REQUIRE(offsets.size() == 11);
  const uint64_t full = fs::file_size(segs[0]);
  // A crash in the middle of the batch's write leaves any prefix of its bytes: cut at every
  // record boundary and a few bytes past it.
  for (size_t rec = 1; rec <= 11; ++rec) {
    const uint64_t boundary = rec < offsets.size() ? offsets[rec] : full;
    for (uint64_t extra : {uint64_t(0), uint64_t(5), uint64_t(13)}) {
      const uint64_t cut = boundary + extra;
      if (cut > full || (rec == 11 && extra)) continue;
      CAPTURE(rec);
      CAPTURE(extra);
      TempDir copy;
      fs::copy_file(segs[0], copy.path / segs[0].filename());
      fs::resize_file(copy.path / segs[0].filename(), cut);
      Spool again(options_for(copy));
      CHECK(again.recovery().damaged_regions == 0);
      CHECK(again.recovery().lost_events == 0);
      CHECK((again.recovery().truncated_bytes > 0) == (extra > 0));
      CHECK(drain_ids(again) == id_range(0, static_cast<int>(rec)));
    }
  }
}

TEST_CASE("spool: an append that fails after a segment roll keeps what was written") {
  TempDir dir;
  SpoolOptions o = options_for(dir);
  o.segment_bytes = 4096;
  int writes = 0;
  o.fail_write = [&] { return ++writes >= 2 ? EIO : 0; };  // the write after the first roll
  Spool spool(o);
  const auto r = spool.append(make_events(0, 40, std::string(200, 'x')));
  REQUIRE(writes >= 2);
  CHECK(r.accepted > 0);
  CHECK(r.accepted < 40);
  CHECK(r.failed == 40 - r.accepted);
  CHECK(r.error.find("cannot write") != std::string::npos);
  CHECK(spool.stats().appended == r.accepted);
  CHECK(drain_ids(spool) == id_range(0, static_cast<int>(r.accepted)));
  // Written means on disk: a reopened spool has the same (once this one let go of the
  // directory: one Spool per directory).
  spool.shutdown();
  Spool again(options_for(dir));
  CHECK(again.recovery().damaged_regions == 0);
}

// ---- group commit (issue 11): the review's defects D1-D6 as tests ---------------------------

namespace {

// A sync seam whose first armed call blocks (the leader "in fdatasync") until released or
// `hold` passes, then fails with EIO; every other call succeeds, as Linux may report success
// for pages an earlier writeback error lost.
struct BlockingSync {
  std::mutex m;
  std::condition_variable cv;
  bool armed = false, in_sync = false, released = false;
  int calls = 0;
  std::chrono::milliseconds hold{300};
  int operator()() {
    std::unique_lock lock(m);
    ++calls;
    if (!armed) return 0;
    armed = false;
    in_sync = true;
    cv.notify_all();
    cv.wait_for(lock, hold, [&] { return released; });
    return EIO;
  }
  void wait_in_sync() {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return in_sync; });
  }
  void release() {
    std::lock_guard lock(m);
    released = true;
    cv.notify_all();
  }
};

}  // namespace

TEST_CASE(
    "group commit D1: a roll while the leader syncs never accepts what its failed sync covered") {
  // The reverted attempt let another append roll the segment during the leader's fdatasync;
  // the roll's own sync returned 0 and accepted the leader's records, whose sync then failed.
  TempDir dir;
  auto sync = std::make_shared<BlockingSync>();
  SpoolOptions o = synced_options(dir);
  o.segment_bytes = 4096;
  o.fail_sync = [sync] { return (*sync)(); };
  {
    Spool spool(o);
    spool.append(make_events(0, 1));  // segment and directory entry synced
    sync->armed = true;
    std::atomic<bool> a_threw{false};
    std::thread a([&] {
      try {
        spool.append(make_events(1, 4));
      } catch (const std::runtime_error&) {
        a_threw = true;
      }
    });
    sync->wait_in_sync();
    // B crosses segment_bytes: it writes, then must roll while A's sync runs.
    sluice::core::SpoolAppendResult rb;
    std::thread b([&] { rb = spool.append(make_events(100, 140, std::string(200, 'x'))); });
    b.join();  // the attempt's roll returned at once; here it waits for A's sync (300 ms)
    sync->release();
    a.join();
    CHECK(a_threw);  // A's sync failed: none of A is accepted
    // B's records written before the roll were in the failed file: not accepted either.
    CHECK(rb.failed > 0);
    CHECK(rb.accepted + rb.failed == 40);
    CHECK(spool.stats().unsettled == 0);
    CHECK(spool.stats().appended == 1 + rb.accepted);
  }
  Spool again(options_for(dir));
  auto ids = drain_ids(again);
  CHECK(std::find(ids.begin(), ids.end(), "ev-1") == ids.end());
  CHECK(std::find(ids.begin(), ids.end(), "ev-3") == ids.end());
  CHECK(ids.front() == "ev-0");
  CHECK(ids.back() == "ev-139");
  CHECK(again.recovery().lost_events == 0);
}

TEST_CASE(
    "group commit D1: appends written during a failed sync fail too, though the next sync says 0") {
  TempDir dir;
  auto sync = std::make_shared<BlockingSync>();
  SpoolOptions o = synced_options(dir, [sync] { return (*sync)(); });
  {
    Spool spool(o);
    spool.append(make_events(0, 1));
    sync->armed = true;
    std::atomic<bool> a_threw{false};
    std::thread a([&] {
      try {
        spool.append(make_events(1, 3));
      } catch (const std::runtime_error&) {
        a_threw = true;
      }
    });
    sync->wait_in_sync();
    auto b = spool.begin_append(EventViews(make_events(3, 5)).data(), 2);  // during A's sync
    sync->release();
    a.join();
    CHECK(a_threw);
    // B's bytes were in the file whose sync failed; the next fdatasync (which would return 0)
    // must not accept them.
    CHECK_THROWS_WITH_AS(spool.claim_append(b), doctest::Contains("cannot sync (fdatasync)"),
                         std::runtime_error);
    // Later appends go to a fresh file and are accepted.
    CHECK(spool.append(make_events(5, 6)).accepted == 1);
    CHECK(drain_ids(spool, false) == std::vector<std::string>{"ev-0", "ev-5"});
  }
  Spool again(options_for(dir));
  CHECK(drain_ids(again) == std::vector<std::string>{"ev-0", "ev-5"});
  CHECK(again.recovery().lost_events == 0);
}

TEST_CASE("group commit: several appenders share one fdatasync") {
  TempDir dir;
  std::atomic<int> syncs{0};
  SpoolOptions o = synced_options(dir);
  o.fail_sync = [&] {
    ++syncs;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a slow disk
    return 0;
  };
  Spool spool(o);
  spool.append(make_events(0, 1));
  syncs = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i)
        spool.append(make_events(1000 * (t + 1) + i, 1000 * (t + 1) + i + 1));
    });
  for (auto& t : threads)
    t.join();
  CHECK(spool.stats().appended == 41);
  CHECK(spool.stats().unsettled == 0);
  CHECK(syncs < 40);  // one per append without group commit
  CHECK(drain_ids(spool).size() == 41);
}

TEST_CASE("group commit D2: failed records count as unsettled until the append claims them") {
  // The channel claims under its lock: the events leave `spooled` and enter dropped_spool_error
  // in one step. The attempt moved them out of the spool's count when the sync failed, before
  // the channel had counted them anywhere.
  TempDir dir;
  SpoolOptions o = synced_options(dir);
  int fail = 0;
  o.fail_sync = [&] { return fail; };
  Spool spool(o);
  spool.append(make_events(0, 1));
  fail = EIO;
  auto pending = spool.begin_append(EventViews(make_events(1, 4)).data(), 3);
  CHECK(spool.stats().unsettled == 3);
  spool.wait_synced(pending);  // the sync fails here
  CHECK(spool.stats().unsettled == 3);
  CHECK(spool.stats().pending == 1);
  CHECK(spool.stats().sync_errors >= 1);
  CHECK_THROWS_AS(spool.claim_append(pending), std::runtime_error);
  CHECK(spool.stats().unsettled == 0);
  CHECK(spool.stats().pending == 1);
  CHECK(spool.stats().appended == 1);
}

TEST_CASE("group commit D3: records a failed ftruncate could not cut off never come back") {
  TempDir dir;
  int fail = 0;
  SpoolOptions o =
      synced_options(dir, [&] { return std::exchange(fail, 0); });  // the next sync fails, once
  o.fail_truncate = [] { return EIO; };
  {
    Spool spool(o);
    spool.append(make_events(0, 2));
    fail = EIO;
    CHECK_THROWS_AS(spool.append(make_events(2, 5)), std::runtime_error);
    // Still in the file, but marked: <seq>.end.
    CHECK(files_with(dir.path, ".end").size() == 1);
    spool.append(make_events(5, 6));  // a new segment
    CHECK(drain_ids(spool, false) == std::vector<std::string>{"ev-0", "ev-1", "ev-5"});
  }
  Spool again(options_for(dir));
  CHECK(drain_ids(again) == std::vector<std::string>{"ev-0", "ev-1", "ev-5"});
  CHECK(again.recovery().lost_events == 0);
  CHECK(files_with(dir.path, ".end").empty());  // cut off at recovery, marker gone
}

TEST_CASE(
    "group commit D3: records a failed sync refused stay refused when their cut never reached "
    "the disk") {
  // The cut after a failed sync is an ftruncate of a file no later sync is trusted for: a crash
  // may undo it. Simulated here: the segment as it was when the sync failed (the refused
  // records in it) is put back before the spool is opened again.
  TempDir dir;
  int fail = 0;
  std::string segment_at_failure;
  fs::path segment;
  SpoolOptions o = synced_options(dir);
  o.fail_sync = [&] {
    if (fail && segment_at_failure.empty()) {
      segment = files_with(dir.path, ".seg").back();
      segment_at_failure = slurp(segment);
    }
    return std::exchange(fail, 0);  // the next sync fails, once
  };
  {
    Spool spool(o);
    spool.append(make_events(0, 2));
    fail = EIO;
    CHECK_THROWS_AS(spool.append(make_events(2, 5)), std::runtime_error);
    CHECK(files_with(dir.path, ".end").size() == 1);
    spool.append(make_events(5, 6));  // a new segment
    CHECK(drain_ids(spool, false) == std::vector<std::string>{"ev-0", "ev-1", "ev-5"});
  }
  REQUIRE_FALSE(segment_at_failure.empty());
  REQUIRE(fs::file_size(segment) < segment_at_failure.size());  // cut in the page cache
  std::ofstream(segment, std::ios::binary | std::ios::trunc) << segment_at_failure;
  Spool again(options_for(dir));
  CHECK(drain_ids(again) == std::vector<std::string>{"ev-0", "ev-1", "ev-5"});
  CHECK(again.recovery().lost_events == 0);
}

TEST_CASE(
    "group commit D3: a failed sync on a segment's first records: an empty segment, no loss, "
    "no marker left") {
  TempDir dir;
  int fail = 0;
  SpoolOptions o = synced_options(dir, [&] { return std::exchange(fail, 0); });
  {
    Spool spool(o);
    fail = EIO;
    CHECK_THROWS_AS(spool.append(make_events(0, 3)), std::runtime_error);
    CHECK(files_with(dir.path, ".end").size() == 1);  // says 0: the segment is empty
    spool.append(make_events(3, 5));                  // in the next segment
  }
  {
    // The empty segment before a newer one is sluice's own doing: nothing was lost.
    Spool again(o);
    CHECK(again.recovery().lost_events == 0);
    CHECK(again.recovery().damaged_regions == 0);
    CHECK(files_with(dir.path, ".end").empty());  // cut at recovery, marker gone
    CHECK(drain_ids(again, false) == std::vector<std::string>{"ev-3", "ev-4"});
  }
  {
    Spool spool(o);
    drain_ids(spool);  // acknowledged
    fail = EIO;
    CHECK_THROWS_AS(spool.append(make_events(5, 6)), std::runtime_error);
    spool.append(make_events(6, 7));
    CHECK(files_with(dir.path, ".end").size() == 1);
    CHECK(drain_ids(spool) == std::vector<std::string>{"ev-6"});
    // Acknowledged past the refused segment: it is deleted, and its marker with it.
    CHECK(files_with(dir.path, ".end").empty());
  }
}

TEST_CASE("group commit D3: when neither the cut nor the end marker works, appends are refused") {
  TempDir dir;
  int fail = 0;
  SpoolOptions o = synced_options(dir, [&] { return fail; });
  o.fail_truncate = [] { return EIO; };
  Spool spool(o);
  spool.append(make_events(0, 2));
  fail = EIO;  // the append's sync and the marker's sync fail
  CHECK_THROWS_AS(spool.append(make_events(2, 5)), std::runtime_error);
  fail = 0;
  CHECK_THROWS_WITH_AS(spool.append(make_events(5, 6)),
                       doctest::Contains("refused until the spool is reopened"),
                       std::runtime_error);
  CHECK(drain_ids(spool, false) == std::vector<std::string>{"ev-0", "ev-1"});
}

TEST_CASE("group commit D4: the cursor is overwritten in place, and a torn save is detected") {
  using sluice::core::parse_spool_cursor;
  using sluice::core::spool_cursor_text;
  const std::string old_text = spool_cursor_text(3, 4096), new_text = spool_cursor_text(3, 8192);
  REQUIRE(old_text.size() == new_text.size());
  CHECK(parse_spool_cursor(new_text)->offset == 8192);
  // Every mix of the two (a save torn at any byte) that is neither of them is refused.
  for (size_t cut = 1; cut < new_text.size(); ++cut) {
    const std::string torn = new_text.substr(0, cut) + old_text.substr(cut);
    if (torn == old_text || torn == new_text) continue;
    CAPTURE(torn);
    CHECK_FALSE(parse_spool_cursor(torn));
  }
  TempDir dir;
  SpoolOptions o = synced_options(dir);
  {
    Spool spool(o);
    spool.append(make_events(0, 6));
    auto b1 = spool.next_batch(2);
    REQUIRE(b1);
    spool.ack(b1->id);  // the first save: tmp + sync + rename
    struct stat first;
    REQUIRE(::stat((dir.path / "cursor").c_str(), &first) == 0);
    auto b2 = spool.next_batch(2);
    REQUIRE(b2);
    spool.ack(b2->id);  // in place
    struct stat second;
    REQUIRE(::stat((dir.path / "cursor").c_str(), &second) == 0);
    CHECK(first.st_ino == second.st_ino);
    CHECK(parse_spool_cursor(slurp(dir.path / "cursor")));
  }
  // A torn cursor: recovery never skips unacknowledged events; it sends everything again.
  std::string text = slurp(dir.path / "cursor");
  text[30] = text[30] == '9' ? '8' : '9';
  std::ofstream(dir.path / "cursor", std::ios::binary | std::ios::trunc) << text;
  Spool again(o);
  CHECK(again.recovery().messages.size() == 1);
  CHECK(drain_ids(again) == id_range(0, 6));
}

TEST_CASE("group commit D5: the cursor is never renamed into place unsynced, fsync: never too") {
  TempDir dir;
  SpoolOptions o = options_for(dir);  // fsync: never
  int fail = EIO;
  o.fail_sync = [&] { return fail; };
  {
    Spool spool(o);
    spool.append(make_events(0, 3));
    auto batch = spool.next_batch(10);
    REQUIRE(batch);
    spool.ack(batch->id);
    CHECK_FALSE(fs::exists(dir.path / "cursor"));  // its sync failed: not renamed
    CHECK_FALSE(fs::exists(dir.path / "cursor.tmp"));
  }
  fail = 0;
  {
    // After a failed in-place write, the next save goes through the rename path again: synced.
    int write_fail = 0;
    o.fail_cursor_write = [&] { return write_fail; };
    Spool spool(o);
    spool.append(make_events(3, 9));
    auto b1 = spool.next_batch(2);
    spool.ack(b1->id);  // rename path
    REQUIRE(fs::exists(dir.path / "cursor"));
    write_fail = EIO;
    auto b2 = spool.next_batch(2);
    spool.ack(b2->id);  // the in-place write fails
    write_fail = 0;
    const std::string before = slurp(dir.path / "cursor");
    fail = EIO;
    auto b3 = spool.next_batch(2);
    spool.ack(b3->id);  // rename path: its sync fails, so no rename
    CHECK(slurp(dir.path / "cursor") == before);
    fail = 0;
  }
}

TEST_CASE(
    "group commit D6: a second Spool on the same directory is refused until the first lets go") {
  TempDir dir;
  Spool first(options_for(dir));
  first.append(make_events(0, 2));
  CHECK_THROWS_WITH_AS(Spool(options_for(dir)), doctest::Contains("in use by another spool"),
                       std::runtime_error);
  first.shutdown();
  Spool second(options_for(dir));
  CHECK(drain_ids(second) == id_range(0, 2));
}

TEST_CASE("group commit D6: shutdown waits for a sync in progress and settles its appends") {
  TempDir dir;
  std::atomic<bool> in_sync{false}, armed{false};
  SpoolOptions o = synced_options(dir);
  o.fail_sync = [&] {
    if (armed) in_sync = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return 0;
  };
  Spool spool(o);
  armed = true;
  sluice::core::SpoolAppendResult r;
  std::thread a([&] { r = spool.append(make_events(0, 5)); });
  while (!in_sync)
    std::this_thread::yield();
  spool.shutdown();  // must not close the segment under the leader's fdatasync
  a.join();
  CHECK(r.accepted == 5);
  Spool again(options_for(dir));
  CHECK(drain_ids(again) == id_range(0, 5));
}

TEST_CASE("spool fsync batch: a leader whose sync throws fails its appends and wakes the others") {
  // The leader of a group commit syncs without the lock; if it left by an exception with the
  // sync still marked as running, every later append (and shutdown) would wait forever.
  TempDir dir;
  std::atomic<int> throws{0};
  SpoolOptions o = synced_options(dir);
  o.fail_sync = [&]() -> int {
    if (throws.fetch_sub(1) > 0) throw std::bad_alloc();
    return 0;
  };
  auto spool = std::make_unique<Spool>(o);
  throws = 1;
  CHECK_THROWS_AS(spool->append(make_events(0, 2)), std::exception);
  auto next = std::async(std::launch::async, [&] { return spool->append(make_events(2, 3)); });
  if (next.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    // The test cannot end otherwise: the spool's destructor would wait as well.
    FAIL_CHECK("an append after a throwing leader waits forever");
    std::fflush(nullptr);
    std::_Exit(1);
  }
  CHECK(next.get().accepted == 1);
  CHECK(spool->stats().unsettled == 0);
  CHECK(drain_ids(*spool, false) == std::vector<std::string>{"ev-2"});
  spool.reset();
  Spool again(o);
  CHECK(drain_ids(again) == std::vector<std::string>{"ev-2"});
}
