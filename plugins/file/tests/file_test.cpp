#include <doctest/doctest.h>

#include <sluice/testing.hpp>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;
using sluice::Event;
using sluice::testing::Harness;

namespace {

using sluice::testing::read_file;
using sluice::testing::TempDir;

std::string options(const std::string& path, const std::string& more = "") {
  nlohmann::json j = {{"path", path}};
  if (!more.empty()) j.update(nlohmann::json::parse(more));
  return j.dump();
}

Event event(const std::string& id) {
  Event e;
  e.id = id;
  e.source = "hmc://hmc1";
  e.type = "hmc.status-change";
  e.subject = "/api/partitions/p1";
  e.time_unix_ns = 1700000123456000000;  // 2023-11-14T22:15:23.456Z
  e.attribute("notification-type", "status-change");
  e.data = R"({"n":1})";
  return e;
}

// The json line of event(id): 189 bytes + id.
std::string json_line(const std::string& id) {
  return R"({"id":")" + id +
         R"(","source":"hmc://hmc1","type":"hmc.status-change","subject":"/api/partitions/p1","time":"2023-11-14T22:15:23.456Z","attributes":{"notification-type":"status-change"},"data":{"n":1}})"
         "\n";
}

}  // namespace

TEST_SUITE("descriptor") {
  TEST_CASE("file: descriptor is a sink with a strict schema; path required, others defaulted") {
    Harness h(FILE_SO);
    CHECK(std::string(h.descriptor().name) == "file");
    CHECK(h.descriptor().kind == SLUICE_KIND_SINK);
    auto schema = nlohmann::json::parse(h.descriptor().options_schema);
    CHECK(schema["additionalProperties"] == false);
    CHECK(schema["required"] == nlohmann::json({"path"}));
    for (const auto& [key, prop] : schema["properties"].items()) {
      INFO(key);
      CHECK(prop.contains("description"));
      if (key != "path" && key != "rotate") CHECK(prop.contains("default"));
    }
    for (const auto& [key, prop] : schema["properties"]["rotate"]["properties"].items()) {
      INFO(key);
      CHECK(prop.contains("description"));
      CHECK(prop.contains("default"));
    }
    CHECK(schema["properties"]["format"]["enum"] ==
          nlohmann::json({"json", "cloudevents", "text"}));
  }

  TEST_CASE("file: bad options are refused at create with the option's name") {
    Harness h(FILE_SO);
    CHECK_THROWS_WITH(h.create("{}"), "path: a file name is required");
    CHECK_THROWS_WITH(h.create(R"({"path":"/tmp/x","format":"cloudevents-batch"})"),
                      "format: 'cloudevents-batch' is not one of json, cloudevents, text");
    CHECK_THROWS_WITH(h.create(R"({"path":"/tmp/x","mode":"rw-r-----"})"),
                      "mode: 'rw-r-----' is not an octal mode such as \"0640\"");
    CHECK_THROWS_WITH(h.create(R"({"path":"/tmp/x","fsync":"always"})"),
                      "fsync: 'always' is not one of never, batch, interval");
    // Every rotation renames each kept file: a billion would stall the sink.
    CHECK_THROWS_WITH(h.create(R"({"path":"/tmp/x","rotate":{"keep":1000000000}})"),
                      "rotate.keep: too large: 1000000000 (at most 1000)");
  }

  TEST_CASE("file: check_options refuses what create refuses, each at its option") {
    TempDir dir;
    Harness h(FILE_SO);
    CHECK(h.check(options(dir.file("out.jsonl"))).empty());
    nlohmann::json bad = {{"path", dir.file("out.jsonl")},
                          {"mode", "rw-r-----"},
                          {"rotate", {{"max_bytes", 0}, {"keep", 0}}},
                          {"fsync", "always"},
                          {"fsync_interval", ".."}};
    CHECK(
        h.check(bad.dump()) ==
        sluice::OptionProblems{{"/mode", "mode: 'rw-r-----' is not an octal mode such as \"0640\""},
                               {"/rotate/max_bytes", "rotate.max_bytes: must be more than 0"},
                               {"/rotate/keep", "rotate.keep: must be at least 1"},
                               {"/fsync", "fsync: 'always' is not one of never, batch, interval"},
                               {"/fsync_interval", "fsync_interval: not a duration: '..'"}});
    CHECK_THROWS_WITH(h.create(bad.dump()),
                      "mode: 'rw-r-----' is not an octal mode such as \"0640\"");
    CHECK(h.check("{}") == sluice::OptionProblems{{"/path", "path: a file name is required"}});
  }
}

TEST_SUITE("formats") {
  TEST_CASE("file: json (the default) writes sluice's JSON lines") {
    TempDir dir;
    Harness h(FILE_SO);
    auto& sink = h.create(options(dir.file("out.jsonl")));
    sink.start();
    CHECK(h.deliver(sink, {event("1"), event("2")}).code == SLUICE_DELIVERY_OK);
    CHECK(read_file(dir.file("out.jsonl")) == json_line("1") + json_line("2"));
    CHECK(h.metric("bytes") == static_cast<int64_t>(json_line("1").size() * 2));
  }

  TEST_CASE("file: cloudevents writes one structured CloudEvent per line") {
    TempDir dir;
    Harness h(FILE_SO);
    auto& sink = h.create(options(dir.file("out.ce"), R"({"format":"cloudevents"})"));
    sink.start();
    CHECK(h.deliver(sink, {event("7")}).code == SLUICE_DELIVERY_OK);
    CHECK(
        read_file(dir.file("out.ce")) ==
        R"({"specversion":"1.0","id":"7","source":"hmc://hmc1","type":"hmc.status-change","subject":"/api/partitions/p1","time":"2023-11-14T22:15:23.456Z","notificationtype":"status-change","datacontenttype":"application/json","data":{"n":1}})"
        "\n");
  }

  TEST_CASE("file: text writes one line per event for people") {
    TempDir dir;
    Harness h(FILE_SO);
    auto& sink = h.create(options(dir.file("out.txt"), R"({"format":"text"})"));
    sink.start();
    CHECK(h.deliver(sink, {event("7")}).code == SLUICE_DELIVERY_OK);
    CHECK(read_file(dir.file("out.txt")) ==
          "2023-11-14T22:15:23.456Z hmc.status-change /api/partitions/p1 hmc://hmc1 {\"n\":1}\n");
  }

  TEST_CASE("file: an existing file is appended to, not truncated") {
    TempDir dir;
    std::ofstream(dir.file("out.jsonl")) << "earlier line\n";
    Harness h(FILE_SO);
    auto& sink = h.create(options(dir.file("out.jsonl")));
    sink.start();
    CHECK(h.deliver(sink, {event("1")}).code == SLUICE_DELIVERY_OK);
    CHECK(read_file(dir.file("out.jsonl")) == "earlier line\n" + json_line("1"));
  }
}

TEST_SUITE("mode") {
  TEST_CASE("file: a created file gets mode 0640 by default, whatever the umask") {
    TempDir dir;
    mode_t old = ::umask(0077);
    Harness h(FILE_SO);
    auto& sink = h.create(options(dir.file("out")));
    sink.start();
    ::umask(old);
    struct stat st;
    REQUIRE(::stat(dir.file("out").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0640);
  }

  TEST_CASE("file: mode 0600 is applied on create") {
    TempDir dir;
    Harness h(FILE_SO);
    auto& sink = h.create(options(dir.file("out"), R"({"mode":"0600"})"));
    sink.start();
    struct stat st;
    REQUIRE(::stat(dir.file("out").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
  }

  TEST_CASE("file: an existing file keeps its own mode") {
    TempDir dir;
    std::ofstream(dir.file("out")) << "";
    REQUIRE(::chmod(dir.file("out").c_str(), 0604) == 0);
    Harness h(FILE_SO);
    auto& sink = h.create(options(dir.file("out"), R"({"mode":"0600"})"));
    sink.start();
    struct stat st;
    REQUIRE(::stat(dir.file("out").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0604);
  }
}

TEST_SUITE("rotation") {
  TEST_CASE("file: rotation names path.1 .. path.keep, newest first, and deletes the oldest") {
    TempDir dir;
    const std::string path = dir.file("out.jsonl");
    const size_t line = json_line("1").size();
    Harness h(FILE_SO);
    // Room for two one-event batches per file: the third batch rotates.
    auto& sink = h.create(
        options(path, R"({"rotate":{"max_bytes":)" + std::to_string(line * 2) + R"(,"keep":2}})"));
    sink.start();
    for (int i = 1; i <= 9; ++i)
      REQUIRE(h.deliver(sink, {event(std::to_string(i))}).code == SLUICE_DELIVERY_OK);
    // Batches 1-2, 3-4, 5-6, 7-8 filled files; 9 started a new one; 1-4 were deleted (keep 2).
    CHECK(read_file(path) == json_line("9"));
    CHECK(read_file(path + ".1") == json_line("7") + json_line("8"));
    CHECK(read_file(path + ".2") == json_line("5") + json_line("6"));
    CHECK_FALSE(fs::exists(path + ".3"));
    CHECK(h.metric("rotations") == 4);
  }

  TEST_CASE("file: a batch is never split across files, even one bigger than max_bytes") {
    TempDir dir;
    const std::string path = dir.file("out.jsonl");
    Harness h(FILE_SO);
    auto& sink = h.create(options(path, R"({"rotate":{"max_bytes":300,"keep":3}})"));
    sink.start();
    REQUIRE(h.deliver(sink, {event("1")}).code == SLUICE_DELIVERY_OK);
    REQUIRE(h.deliver(sink, {event("2"), event("3"), event("4")}).code == SLUICE_DELIVERY_OK);
    REQUIRE(h.deliver(sink, {event("5")}).code == SLUICE_DELIVERY_OK);
    CHECK(read_file(path + ".2") == json_line("1"));
    CHECK(read_file(path + ".1") == json_line("2") + json_line("3") + json_line("4"));
    CHECK(read_file(path) == json_line("5"));
  }

  TEST_CASE("file: rotation keeps the configured mode on the new file") {
    TempDir dir;
    const std::string path = dir.file("out.jsonl");
    Harness h(FILE_SO);
    auto& sink = h.create(options(path, R"({"mode":"0600","rotate":{"max_bytes":10,"keep":1}})"));
    sink.start();
    REQUIRE(h.deliver(sink, {event("1")}).code == SLUICE_DELIVERY_OK);
    REQUIRE(h.deliver(sink, {event("2")}).code == SLUICE_DELIVERY_OK);
    struct stat st;
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    CHECK(read_file(path + ".1") == json_line("1"));
  }
}

TEST_SUITE("reopen") {
  TEST_CASE("file: after the file is renamed, reopen continues in a new file at the path") {
    TempDir dir;
    const std::string path = dir.file("out.jsonl");
    Harness h(FILE_SO);
    auto& sink = h.create(options(path));
    sink.start();
    REQUIRE(h.deliver(sink, {event("1")}).code == SLUICE_DELIVERY_OK);
    fs::rename(path, path + ".old");  // what logrotate does before it sends SIGHUP
    REQUIRE(h.deliver(sink, {event("2")}).code == SLUICE_DELIVERY_OK);
    sink.reopen();
    REQUIRE(h.deliver(sink, {event("3")}).code == SLUICE_DELIVERY_OK);
    CHECK(read_file(path + ".old") == json_line("1") + json_line("2"));
    CHECK(read_file(path) == json_line("3"));
    CHECK(h.metric("reopens") == 1);
  }

  TEST_CASE("file: a failed reopen is reported, and batches retry until the path works again") {
    TempDir dir;
    fs::create_directory(dir.file("logs"));
    const std::string path = dir.file("logs/out.jsonl");
    Harness h(FILE_SO);
    auto& sink = h.create(options(path));
    sink.start();
    fs::rename(dir.file("logs"), dir.file("logs.gone"));
    CHECK_THROWS_WITH(sink.reopen(),
                      ("reopen failed: file sink: directory '" + dir.file("logs") +
                       "' does not exist (the file sink does not create directories)")
                          .c_str());
    auto d = h.deliver(sink, {event("1")});
    CHECK(d.code == SLUICE_DELIVERY_RETRY);
    CHECK(d.reason.find("does not exist") != std::string::npos);
    fs::create_directory(dir.file("logs"));
    CHECK(h.deliver(sink, {event("1")}).code == SLUICE_DELIVERY_OK);
    CHECK(read_file(path) == json_line("1"));
  }
}

TEST_SUITE("fsync") {
  TEST_CASE("file: fsync batch syncs once per batch") {
    TempDir dir;
    Harness h(FILE_SO);
    auto& sink = h.create(options(dir.file("out"), R"({"fsync":"batch"})"));
    sink.start();
    CHECK(h.deliver(sink, {event("1")}).code == SLUICE_DELIVERY_OK);
    CHECK(h.deliver(sink, {event("2")}).code == SLUICE_DELIVERY_OK);
    CHECK(h.metric("fsyncs") == 2);
  }

  TEST_CASE("file: fsync interval is accepted and syncs on stop") {
    TempDir dir;
    Harness h(FILE_SO);
    auto& sink =
        h.create(options(dir.file("out"), R"({"fsync":"interval","fsync_interval":"1h"})"));
    sink.start();
    CHECK(h.deliver(sink, {event("1")}).code == SLUICE_DELIVERY_OK);
    CHECK(h.metric("fsyncs") == 0);  // an hour has not passed
    sink.stop();
    CHECK(h.metric("fsyncs") == 1);
    CHECK(read_file(dir.file("out")) == json_line("1"));
  }

  TEST_CASE("file: fsync interval syncs written data without waiting for another batch") {
    TempDir dir;
    Harness h(FILE_SO);
    auto& sink =
        h.create(options(dir.file("out"), R"({"fsync":"interval","fsync_interval":"20ms"})"));
    sink.start();
    CHECK(h.deliver(sink, {event("1")}).code == SLUICE_DELIVERY_OK);
    for (int i = 0; i < 2000 && h.metric("fsyncs") == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    CHECK(h.metric("fsyncs") == 1);
    // Nothing new written: further intervals do not sync again, and neither does stop.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    sink.stop();
    CHECK(h.metric("fsyncs") == 1);
  }

  TEST_CASE("file: fsync never does not sync") {
    TempDir dir;
    Harness h(FILE_SO);
    auto& sink = h.create(options(dir.file("out"), R"({"fsync":"never"})"));
    sink.start();
    CHECK(h.deliver(sink, {event("1")}).code == SLUICE_DELIVERY_OK);
    sink.stop();
    CHECK(h.metric("fsyncs") == 0);
  }
}

TEST_SUITE("errors") {
  TEST_CASE("file: a missing directory is a clear error of the check and at create") {
    TempDir dir;
    Harness h(FILE_SO);
    const std::string message = "file sink: directory '" + dir.file("nope") +
                                "' does not exist (the file sink does not create directories)";
    CHECK(h.check(options(dir.file("nope/out.jsonl"))) ==
          sluice::OptionProblems{{"/path", message}});
    CHECK_THROWS_WITH(h.create(options(dir.file("nope/out.jsonl"))), message.c_str());
    CHECK_FALSE(fs::exists(dir.file("nope")));
  }

  TEST_CASE("file: a path that cannot be opened names the reason at start") {
    TempDir dir;
    fs::create_directory(dir.file("sub"));
    Harness h(FILE_SO);
    // A directory, not a file.
    const std::string message = "file sink: cannot open '" + dir.file("sub") + "': Is a directory";
    CHECK(h.check(options(dir.file("sub"))) == sluice::OptionProblems{{"/path", message}});
    CHECK_THROWS_WITH(h.create(options(dir.file("sub"))), message.c_str());
  }

  TEST_CASE("file: a full disk (ENOSPC) is a retry naming the error") {
    Harness h(FILE_SO);
    auto& sink = h.create(options("/dev/full"));
    sink.start();
    auto d = h.deliver(sink, {event("1")});
    CHECK(d.code == SLUICE_DELIVERY_RETRY);
    CHECK(d.reason == "write '/dev/full': No space left on device");
    CHECK(h.metric("write_errors") == 1);
  }

  TEST_CASE("file: a write cut short is removed again, so the retry leaves whole lines only") {
    TempDir dir;
    const std::string path = dir.file("out.jsonl");
    Harness h(FILE_SO);
    auto& sink = h.create(options(path));
    sink.start();
    REQUIRE(h.deliver(sink, {event("1")}).code == SLUICE_DELIVERY_OK);
    const size_t line = json_line("1").size();

    // A file size limit lets the write through partly, then fails it with EFBIG.
    std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit old;
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
    struct rlimit small = old;
    small.rlim_cur = line * 2 + line / 2;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    auto d = h.deliver(sink, {event("2"), event("3")});
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &old) == 0);

    CHECK(d.code == SLUICE_DELIVERY_RETRY);
    CHECK(d.reason == "write '" + path + "': File too large");
    CHECK(read_file(path) == json_line("1"));  // the 1.5 lines that got through are gone
    CHECK(h.deliver(sink, {event("2"), event("3")}).code == SLUICE_DELIVERY_OK);
    CHECK(read_file(path) == json_line("1") + json_line("2") + json_line("3"));
  }
}

TEST_SUITE("security") {
  TEST_CASE("file: a link another user planted at the path is refused; its target is untouched") {
    if (::geteuid() != 0) return;  // only root can make a link owned by another user
    TempDir dir, elsewhere;
    const std::string victim = elsewhere.file("shadow");
    std::ofstream(victim) << "root:secret\n";
    const std::string path = dir.file("out.jsonl");
    fs::create_symlink(victim, path);
    REQUIRE(::lchown(path.c_str(), 65534, 65534) == 0);
    Harness h(FILE_SO);
    CHECK_THROWS_WITH(h.create(options(path)),
                      doctest::Contains("it is a symbolic link owned by another user"));
    REQUIRE(h.check(options(path)).size() == 1);
    CHECK(h.check(options(path))[0].message ==
          "file sink: refusing '" + path + "': it is a symbolic link owned by another user");
    CHECK(read_file(victim) == "root:secret\n");
  }

  TEST_CASE("file: a directory writable by group or others is refused, naming it and why") {
    TempDir dir;
    fs::create_directory(dir.file("shared"));
    fs::permissions(dir.file("shared"), fs::perms(01777));  // like /tmp: sticky does not help
    Harness h(FILE_SO);
    const std::string expected = dir.file("shared") + " is writable by group or others";
    CHECK_THROWS_WITH(h.create(options(dir.file("shared/out.jsonl"))),
                      doctest::Contains(expected.c_str()));
    auto problems = h.check(options(dir.file("shared/out.jsonl")));
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].pointer == "/path");
    CHECK(problems[0].message.find(expected) != std::string::npos);
    CHECK_FALSE(fs::exists(dir.file("shared/out.jsonl")));
  }

  TEST_CASE("file: a directory owned by another (non-root) user is refused") {
    if (::geteuid() != 0) return;  // only root can give a directory away
    TempDir dir;
    fs::create_directory(dir.file("theirs"));
    REQUIRE(::chown(dir.file("theirs").c_str(), 65534, 65534) == 0);
    Harness h(FILE_SO);
    CHECK_THROWS_WITH(h.create(options(dir.file("theirs/out.jsonl"))),
                      doctest::Contains("is owned by uid 65534"));
  }

  TEST_CASE("file: /dev/stderr, a link root owns in a trusted directory, is still accepted") {
    Harness h(FILE_SO);
    auto& sink = h.create(options("/dev/stderr"));
    CHECK_NOTHROW(sink.start());
    sink.stop();
  }

  TEST_CASE("file: a FIFO whose reader exits gives EPIPE (retried, counted), not a SIGPIPE death") {
    // SIGPIPE keeps its default action here (the harness is a host that does not ignore it): the
    // sink must not die of it. That `sluice run` survives is integration.run_fifo_reader_exits.
    TempDir dir;
    const std::string fifo = dir.file("events.fifo");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
    REQUIRE(reader >= 0);
    Harness h(FILE_SO);
    auto& sink = h.create(options(fifo));
    sink.start();
    REQUIRE(h.deliver(sink, {event("1")}).code == SLUICE_DELIVERY_OK);
    char buffer[4096];
    ssize_t n = ::read(reader, buffer, sizeof buffer);
    CHECK(std::string(buffer, n > 0 ? static_cast<size_t>(n) : 0) == json_line("1"));
    ::close(reader);  // the reader goes away, like `head` after its lines

    auto d = h.deliver(sink, {event("2")});
    CHECK(d.code == SLUICE_DELIVERY_RETRY);
    CHECK(d.reason == "write '" + fifo + "': Broken pipe");
    CHECK(h.metric("write_errors") == 1);
    CHECK(h.metric("pipe_errors") == 1);

    // Nobody reads: the retry does not hang in open(2), it fails and says why.
    d = h.deliver(sink, {event("2")});
    CHECK(d.code == SLUICE_DELIVERY_RETRY);
    CHECK(d.reason.find("no process has open for reading") != std::string::npos);

    // A new reader gets the retried batch.
    reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
    REQUIRE(reader >= 0);
    CHECK(h.deliver(sink, {event("2")}).code == SLUICE_DELIVERY_OK);
    n = ::read(reader, buffer, sizeof buffer);
    CHECK(std::string(buffer, n > 0 ? static_cast<size_t>(n) : 0) == json_line("2"));
    ::close(reader);
    sink.stop();
  }
}
