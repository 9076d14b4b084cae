// Disk spool: order, acknowledgement, recovery from torn and corrupt segments, overflow policies,
// and a real kill -9 of a process in the middle of appending.
#include <doctest/doctest.h>
#include <sluice/testing.hpp>

#include <sluice/core/spool.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using sluice::Event;
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

}  // namespace

TEST_CASE("crc32c of \"123456789\" is the standard check value 0xE3069283") {
  const char* s = "123456789";
  CHECK(sluice::core::crc32c(0, s, 9) == 0xE3069283u);
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
  CHECK(again.recovery().quarantined_segments == 0);
  CHECK(again.recovery().messages.size() == 1);
  CHECK(drain_ids(again) == id_range(0, 4));
  again.append(make_events(5, 6));  // appends continue after the cut
  CHECK(drain_ids(again) == id_range(5, 6));
}

TEST_CASE("spool recovery: a bad checksum in the middle quarantines the segment, others flow") {
  TempDir dir;
  SpoolOptions o = options_for(dir);
  o.segment_bytes = 4096;
  {
    Spool spool(o);
    spool.append(make_events(0, 120, std::string(100, 'x')));
  }
  auto segs = files_with(dir.path, ".seg");
  REQUIRE(segs.size() >= 3);
  {
    // Garble one byte in the middle of the second segment.
    std::fstream f(segs[1], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(segs[1]) / 2));
    f.put('\x7f');
  }
  Spool again(o);
  CHECK(again.recovery().quarantined_segments == 1);
  REQUIRE(files_with(dir.path, ".corrupt").size() == 1);
  CHECK(files_with(dir.path, ".corrupt")[0].string() == segs[1].string() + ".corrupt");
  auto ids = drain_ids(again);
  // Everything from the first and the later segments arrives, in order; the quarantined
  // segment's events are missing and reported.
  REQUIRE_FALSE(ids.empty());
  CHECK(ids.front() == "ev-0");
  CHECK(ids.back() == "ev-119");
  CHECK(ids.size() < 120);
  CHECK(again.recovery().messages.at(0).find("quarantined") != std::string::npos);
}

TEST_CASE("spool: a record corrupted after open is quarantined while reading and reported") {
  TempDir dir;
  SpoolOptions o = options_for(dir);
  o.segment_bytes = 4096;
  Spool spool(o);
  spool.append(make_events(0, 120, std::string(100, 'x')));
  auto segs = files_with(dir.path, ".seg");
  REQUIRE(segs.size() >= 3);
  {
    std::fstream f(segs[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);  // inside the first record's payload
    f.put('\x01');
  }
  auto ids = drain_ids(spool);
  CHECK(ids.back() == "ev-119");
  CHECK(ids.size() < 120);
  auto messages = spool.take_messages();
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].find("checksum mismatch") != std::string::npos);
  CHECK(spool.stats().quarantined == 1);
  CHECK(spool.stats().dropped == 120 - ids.size());
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
  CHECK(spool.recovery().quarantined_segments == 0);
  auto ids = drain_ids(spool);
  // Every event whose append() returned is there, in order, each once; the child may have got
  // further before it died.
  REQUIRE(ids.size() >= static_cast<size_t>(accepted));
  CHECK(std::vector<std::string>(ids.begin(), ids.begin() + accepted) == id_range(0, accepted));
  CHECK(ids == id_range(0, static_cast<int>(ids.size())));
}
