// Dead-letter file: the line format, reading back with filters, SIGHUP-style reopen, and no
// planted links, shared directories or loose modes.
#include <doctest/doctest.h>
#include <sluice/testing.hpp>

#include <sluice/core/dead_letter.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using sluice::Event;
using sluice::core::DeadLetterFile;
using sluice::core::DeadLetterFilter;
using sluice::core::DeadLetterInfo;
using sluice::core::DeadLetterReader;

namespace {

// A file name in a private temporary directory (in /tmp itself, which others can write to, the
// dead-letter file refuses to live).
struct TempFile {
  sluice::testing::TempDir dir{"sluice-dlq-test"};
  fs::path path = dir.path / "dlq.jsonl";
};

std::vector<std::string> file_lines(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> v;
  for (std::string l; std::getline(in, l);)
    v.push_back(l);
  return v;
}

Event make_event(std::string id, std::string type, std::optional<std::string> subject) {
  Event e;
  e.id = std::move(id);
  e.source = "hmc://hmc1";
  e.type = std::move(type);
  e.subject = std::move(subject);
  e.time_unix_ns = 1763701432123000000;  // 2025-11-21T05:03:52.123Z
  e.attribute("notification-type", "os-message");
  e.data = R"({"a":[1,2]})";
  return e;
}

DeadLetterInfo info(std::string sink = "alerts") {
  DeadLetterInfo i;
  i.sink = std::move(sink);
  i.reason = "HTTP 400 Bad Request: \"bad\"";
  i.status = 400;
  i.attempts = 1;
  i.time_unix_ns = 1763701500000000000;  // 2025-11-21T05:05:00.000Z
  return i;
}

}  // namespace

TEST_CASE("dead-letter file: one JSON line per event with time, sink, reason, status, attempts") {
  TempFile f;
  {
    DeadLetterFile dlq(f.path.string());
    dlq.write(info(), std::vector<Event>{make_event("1", "hmc.os-message", "/api/lpars/a"),
                                         make_event("2", "hmc.os-message", std::nullopt)});
    CHECK(dlq.events_written() == 2);
  }
  auto lines = file_lines(f.path);
  REQUIRE(lines.size() == 2);
  CHECK(
      lines[0] ==
      R"({"time":"2025-11-21T05:05:00.000Z","sink":"alerts","reason":"HTTP 400 Bad Request: \"bad\"",)"
      R"("status":400,"attempts":1,"event":{"id":"1","source":"hmc://hmc1","type":"hmc.os-message",)"
      R"("subject":"/api/lpars/a","time":"2025-11-21T05:03:52.123Z",)"
      R"("attributes":{"notification-type":"os-message"},"data":{"a":[1,2]}}})");
}

TEST_CASE("dead-letter reader: yields the events back as they were written") {
  TempFile f;
  {
    DeadLetterFile dlq(f.path.string());
    dlq.write(info(), std::vector<Event>{make_event("1", "hmc.os-message", "/api/lpars/a")});
  }
  DeadLetterReader reader(f.path.string());
  auto r = reader.next();
  REQUIRE(r);
  CHECK(r->sink == "alerts");
  CHECK(r->reason == "HTTP 400 Bad Request: \"bad\"");
  CHECK(r->status == 400);
  CHECK(r->attempts == 1);
  CHECK(r->time == "2025-11-21T05:05:00.000Z");
  CHECK(r->line == 1);
  CHECK(r->event.id == "1");
  CHECK(r->event.source == "hmc://hmc1");
  CHECK(r->event.type == "hmc.os-message");
  CHECK(r->event.subject == std::optional<std::string>("/api/lpars/a"));
  CHECK(r->event.time_unix_ns == 1763701432123000000);
  CHECK(r->event.find_attribute("notification-type") ==
        std::optional<std::string_view>("os-message"));
  CHECK(r->event.data == std::optional<std::string>(R"({"a":[1,2]})"));
  CHECK_FALSE(reader.next());
}

TEST_CASE("dead-letter reader: filters by type, subject and sink globs") {
  TempFile f;
  {
    DeadLetterFile dlq(f.path.string());
    dlq.write(info("alerts"),
              std::vector<Event>{make_event("1", "hmc.os-message", "/api/lpars/a"),
                                 make_event("2", "hmc.status-change", "/api/cpcs/c"),
                                 make_event("3", "ldm.domain.start-domain", "ldg1")});
    dlq.write(info("archive"), std::vector<Event>{make_event("4", "hmc.os-message", std::nullopt)});
  }
  auto ids = [&](DeadLetterFilter filter) {
    DeadLetterReader reader(f.path.string(), filter);
    std::vector<std::string> v;
    while (auto r = reader.next())
      v.push_back(r->event.id);
    return v;
  };
  CHECK(ids({}) == std::vector<std::string>{"1", "2", "3", "4"});
  CHECK(ids({"hmc.*", "", ""}) == std::vector<std::string>{"1", "2", "4"});
  CHECK(ids({"", "/api/lpars/*", ""}) == std::vector<std::string>{"1"});
  CHECK(ids({"", "*", ""}) == std::vector<std::string>{"1", "2", "3", "4"});
  CHECK(ids({"hmc.os-message", "", "arch*"}) == std::vector<std::string>{"4"});
}

TEST_CASE("dead-letter reader: a malformed line is skipped and reported with its line number") {
  TempFile f;
  {
    DeadLetterFile dlq(f.path.string());
    dlq.write(info(), std::vector<Event>{make_event("1", "t", std::nullopt)});
  }
  {
    std::ofstream out(f.path, std::ios::app);
    out << "{not json\n";
    out << R"({"sink":"s","event":{"id":"x"}})"
        << "\n";
  }
  {
    DeadLetterFile dlq(f.path.string());
    dlq.write(info(), std::vector<Event>{make_event("2", "t", std::nullopt)});
  }
  DeadLetterReader reader(f.path.string());
  std::vector<std::string> ids;
  while (auto r = reader.next())
    ids.push_back(r->event.id);
  CHECK(ids == std::vector<std::string>{"1", "2"});
  REQUIRE(reader.errors().size() == 2);
  CHECK(reader.errors()[0].find(":2: not JSON") != std::string::npos);
  CHECK(reader.errors()[1].find(":3: missing \"source\"") != std::string::npos);
}

TEST_CASE("dead-letter reader: a negative attempt count is an error, not 4294967295 attempts") {
  const std::string line =
      R"({"sink":"s","attempts":-1,"event":{"id":"1","source":"x","type":"t"}})";
  CHECK_THROWS_WITH_AS(sluice::core::parse_dead_letter_line(line),
                       "\"attempts\": must not be negative: -1", std::invalid_argument);
}

TEST_CASE("dead-letter file: reopen starts a new file after rotation moved the old one") {
  TempFile f;
  DeadLetterFile dlq(f.path.string());
  dlq.write(info(), std::vector<Event>{make_event("1", "t", std::nullopt)});
  fs::rename(f.path, f.path.string() + ".1");  // logrotate
  dlq.reopen();
  dlq.write(info(), std::vector<Event>{make_event("2", "t", std::nullopt)});
  CHECK(file_lines(f.path.string() + ".1").size() == 1);
  auto now = file_lines(f.path);
  REQUIRE(now.size() == 1);
  CHECK(now[0].find(R"("id":"2")") != std::string::npos);
}

TEST_CASE("dead-letter file: an unwritable path is an error naming it") {
  CHECK_THROWS_WITH_AS(DeadLetterFile("/nonexistent-dir/x.jsonl"),
                       "dead-letter file /nonexistent-dir/x.jsonl: cannot open: No such file or "
                       "directory",
                       std::runtime_error);
}

TEST_CASE("parse_rfc3339 reads Z and numeric offsets and refuses garbage") {
  using sluice::core::parse_rfc3339;
  CHECK(parse_rfc3339("1970-01-01T00:00:01Z") == 1000000000);
  CHECK(parse_rfc3339("2025-11-21T05:03:52.123Z") == 1763701432123000000);
  CHECK(parse_rfc3339("2025-11-21T07:03:52.123+02:00") == 1763701432123000000);
  CHECK_THROWS_AS(parse_rfc3339("2025-11-21 nope"), std::invalid_argument);
  CHECK_THROWS_AS(parse_rfc3339("2025-11-21T05:03:52"), std::invalid_argument);
}

TEST_CASE(
    "parse_rfc3339 refuses times whose Unix nanoseconds do not fit 64 bits (found by fuzzing)") {
  using sluice::core::parse_rfc3339;
  CHECK_THROWS_WITH_AS(parse_rfc3339("9999-12-31T23:59:59Z"),
                       "time out of range (1678-2261): '9999-12-31T23:59:59Z'",
                       std::invalid_argument);
  CHECK_THROWS_AS(parse_rfc3339("1000-01-01T00:00:00Z"), std::invalid_argument);
  CHECK(parse_rfc3339("2261-12-31T23:59:59Z") == 9214646399000000000);
  CHECK(parse_rfc3339("1969-12-31T23:59:59Z") == -1000000000);
}

TEST_CASE("dead-letter file: a link planted at the path is refused; its target is untouched") {
  sluice::testing::TempDir dir, elsewhere;
  const fs::path victim = elsewhere.path / "shadow";
  std::ofstream(victim) << "root:secret\n";
  fs::create_symlink(victim, dir.path / "dlq.jsonl");
  CHECK_THROWS_WITH_AS(DeadLetterFile((dir.path / "dlq.jsonl").string()),
                       doctest::Contains("is a symbolic link"), std::runtime_error);
  std::ifstream in(victim);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text == "root:secret\n");
}

TEST_CASE("dead-letter file: a directory others can write to is refused, naming it and why") {
  sluice::testing::TempDir dir;
  fs::permissions(dir.path, fs::perms(01777));
  const std::string expected = dir.path.string() + " is writable by group or others";
  CHECK_THROWS_WITH_AS(DeadLetterFile((dir.path / "dlq.jsonl").string()),
                       doctest::Contains(expected.c_str()), std::runtime_error);
  CHECK_FALSE(fs::exists(dir.path / "dlq.jsonl"));
}

TEST_CASE("dead-letter file: a directory owned by another (non-root) user is refused") {
  if (::geteuid() != 0) return;  // only root can give a directory away
  sluice::testing::TempDir dir;
  REQUIRE(::chown(dir.path.c_str(), 65534, 65534) == 0);
  CHECK_THROWS_WITH_AS(DeadLetterFile((dir.path / "dlq.jsonl").string()),
                       doctest::Contains("is owned by uid 65534"), std::runtime_error);
}

TEST_CASE("dead-letter file: created 0600 whatever the umask") {
  TempFile f;
  const mode_t old = ::umask(0);
  { DeadLetterFile dlq(f.path.string()); }
  ::umask(old);
  struct stat st;
  REQUIRE(::stat(f.path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
}

TEST_CASE("dead-letter stats: counts by type, reason, status, sink and age") {
  using sluice::core::DeadLetterRecord;
  using sluice::core::DeadLetterStats;
  const int64_t hour = 3600LL * 1000000000LL;
  const int64_t now = 1763701500000000000;  // 2025-11-21T05:05:00Z
  auto record = [](std::string type, std::string reason, int32_t status, std::string sink,
                   std::string time) {
    DeadLetterRecord r;
    r.event.type = std::move(type);
    r.reason = std::move(reason);
    r.status = status;
    r.sink = std::move(sink);
    r.time = std::move(time);
    return r;
  };
  DeadLetterStats s;
  s.add(record("a", "HTTP 400", 400, "hook", "2025-11-21T05:00:00Z"), now);  // 5 min
  s.add(record("a", "HTTP 400", 400, "hook", "2025-11-21T03:00:00Z"), now);  // 2 h
  s.add(record("b", "HTTP 503", 503, "hook", "2025-11-19T05:00:00Z"), now);  // 2 d
  s.add(record("b", "", 0, "other", "2025-11-01T05:00:00Z"), now);           // 20 d
  s.add(record("b", "", 0, "other", ""), now);                               // no time
  s.add(record("c", "", 0, "other", "not a time"), now);                     // no time
  s.add(record("c", "", 0, "other", "2025-11-21T06:00:00Z"), now);           // future: under 1h
  CHECK(s.events == 7);
  CHECK(s.by_type == std::map<std::string, uint64_t>{{"a", 2}, {"b", 3}, {"c", 2}});
  CHECK(s.by_reason == std::map<std::string, uint64_t>{{"", 4}, {"HTTP 400", 2}, {"HTTP 503", 1}});
  CHECK(s.by_status == std::map<int32_t, uint64_t>{{0, 4}, {400, 2}, {503, 1}});
  CHECK(s.by_sink == std::map<std::string, uint64_t>{{"hook", 3}, {"other", 4}});
  CHECK(s.by_age[DeadLetterStats::kUnderHour] == 2);
  CHECK(s.by_age[DeadLetterStats::kUnderDay] == 1);
  CHECK(s.by_age[DeadLetterStats::kUnderWeek] == 1);
  CHECK(s.by_age[DeadLetterStats::kOlder] == 1);
  CHECK(s.by_age[DeadLetterStats::kNoTime] == 2);
  CHECK(s.oldest_ns == now - 20 * 24 * hour - 5 * 60 * 1000000000LL);
  CHECK(s.newest_ns == now + hour - 5 * 60 * 1000000000LL);
  CHECK(std::string(DeadLetterStats::age_name(DeadLetterStats::kUnderWeek)) == "1d to 7d");
}

TEST_CASE("dead-letter remover: removed lines leave the file atomically; the rest stays") {
  using sluice::core::DeadLetterRemover;
  TempFile f;
  {
    std::ofstream out(f.path);
    out << "one\n\nthree\nfour\nfive";  // an empty line counts; the last has no newline
  }
  ::chmod(f.path.c_str(), 0640);
  DeadLetterRemover remover(f.path.string());
  struct stat before;
  REQUIRE(::stat(f.path.c_str(), &before) == 0);
  remover.remove({1, 4});
  CHECK(file_lines(f.path) == std::vector<std::string>{"", "three", "five"});
  struct stat after;
  REQUIRE(::stat(f.path.c_str(), &after) == 0);
  CHECK(after.st_ino != before.st_ino);  // a new file renamed over the old one
  CHECK((after.st_mode & 07777) == 0640);
  // Line numbers stay those of the original file; removals add up.
  remover.remove({5});
  CHECK(file_lines(f.path) == std::vector<std::string>{"", "three"});
  CHECK(remover.removed() == 3);
  std::ifstream in(f.path);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(all == "\nthree\n");
  // No temporary file is left beside it.
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(f.dir.path)) {
    (void)e;
    ++files;
  }
  CHECK(files == 1);
}

TEST_CASE("dead-letter remover: a file moved away meanwhile is left alone, with an error") {
  using sluice::core::DeadLetterRemover;
  TempFile f;
  {
    std::ofstream out(f.path);
    out << "a\nb\n";
  }
  DeadLetterRemover remover(f.path.string());
  fs::rename(f.path, f.dir.path / "moved.jsonl");
  {
    std::ofstream out(f.path);
    out << "new\n";
  }
  CHECK_THROWS_WITH_AS(remover.remove({1}), doctest::Contains("moved or replaced"),
                       std::runtime_error);
  CHECK(file_lines(f.path) == std::vector<std::string>{"new"});
  CHECK(file_lines(f.dir.path / "moved.jsonl") == std::vector<std::string>{"a", "b"});
}

TEST_CASE("dead-letter remover: a pipeline appending meanwhile loses nothing") {
  using sluice::core::DeadLetterRemover;
  TempFile f;
  DeadLetterFile writer(f.path.string());
  auto dead_letter = [&](const char* id) {
    writer.write(info(), std::vector<Event>{make_event(id, "hmc.os-message", std::nullopt)});
  };
  auto ids = [&] {
    std::vector<std::string> out;
    for (const std::string& line : file_lines(f.path))
      out.push_back(nlohmann::json::parse(line)["event"]["id"].get<std::string>());
    return out;
  };
  dead_letter("a");
  dead_letter("b");
  dead_letter("c");
  DeadLetterRemover remover(f.path.string());
  dead_letter("d");  // appended before the first removal: copied with the rest
  remover.remove({1});
  CHECK(ids() == std::vector<std::string>{"b", "c", "d"});
  // The writer still has the replaced file open: it must append to the new one.
  dead_letter("e");
  CHECK(ids() == std::vector<std::string>{"b", "c", "d", "e"});
  // Original numbering still: line 3 is "c", line 4 "d", wherever they are now; 1 is gone.
  remover.remove({1, 3, 4});
  CHECK(ids() == std::vector<std::string>{"b", "e"});
  dead_letter("f");
  CHECK(ids() == std::vector<std::string>{"b", "e", "f"});
  CHECK(remover.removed() == 3);
  CHECK(writer.events_written() == 6);
}

TEST_CASE("dead-letter file: moved away, the next dead letter starts a new file at the path") {
  TempFile f;
  DeadLetterFile writer(f.path.string());
  writer.write(info("first"), std::vector<Event>{make_event("1", "t", std::nullopt)});
  fs::rename(f.path, f.dir.path / "aside.jsonl");
  writer.write(info("second"), std::vector<Event>{make_event("2", "t", std::nullopt)});
  REQUIRE(file_lines(f.dir.path / "aside.jsonl").size() == 1);
  REQUIRE(file_lines(f.path).size() == 1);
  CHECK(nlohmann::json::parse(file_lines(f.path)[0])["sink"] == "second");
  struct stat st;
  REQUIRE(::stat(f.path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
}

TEST_CASE("dead-letter file: a write waiting for a replay's lock holds up no reopen, no count") {
  using namespace std::chrono_literals;
  TempFile f;
  DeadLetterFile writer(f.path.string());
  writer.write(info("first"), std::vector<Event>{make_event("1", "t", std::nullopt)});
  // What `sluice dlq replay` holds while it copies a large file.
  const int replay = ::open(f.path.c_str(), O_RDONLY);
  REQUIRE(replay >= 0);
  REQUIRE(::flock(replay, LOCK_EX) == 0);
  auto waiting = std::async(std::launch::async, [&] {
    writer.write(info("second"), std::vector<Event>{make_event("2", "t", std::nullopt)});
  });
  CHECK(waiting.wait_for(300ms) == std::future_status::timeout);  // it waits for the lock
  // Meanwhile a SIGHUP's reopen and the counters' reader return at once.
  auto count = std::async(std::launch::async, [&] { return writer.events_written(); });
  const bool counted = count.wait_for(5s) == std::future_status::ready;
  auto reopen = std::async(std::launch::async, [&] { writer.reopen(); });
  const bool reopened = reopen.wait_for(5s) == std::future_status::ready;
  CHECK(counted);
  CHECK(reopened);
  ::flock(replay, LOCK_UN);
  ::close(replay);
  waiting.get();  // then the waiting write lands, nothing lost
  reopen.get();
  CHECK(count.get() == 1);
  CHECK(writer.events_written() == 2);
  const auto lines = file_lines(f.path);
  REQUIRE(lines.size() == 2);
  CHECK(nlohmann::json::parse(lines[1])["sink"] == "second");
  writer.write(info("third"), std::vector<Event>{make_event("3", "t", std::nullopt)});
  CHECK(file_lines(f.path).size() == 3);
}
