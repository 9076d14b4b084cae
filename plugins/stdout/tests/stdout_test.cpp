#include <doctest/doctest.h>

#include <sluice/testing.hpp>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

using sluice::Event;
using sluice::testing::Harness;

namespace {

// Points file descriptor 1 somewhere else for the lifetime of the object.
class RedirectStdout {
 public:
  explicit RedirectStdout(int fd) {
    std::cout.flush();
    std::fflush(stdout);
    saved_ = ::dup(STDOUT_FILENO);
    if (fd >= 0)
      ::dup2(fd, STDOUT_FILENO);
    else
      ::close(STDOUT_FILENO);
  }
  ~RedirectStdout() {
    ::dup2(saved_, STDOUT_FILENO);
    ::close(saved_);
  }

 private:
  int saved_;
};

// Runs one batch through a stdout sink with fd 1 redirected to a temporary file; returns what
// the sink wrote.
std::string capture(const std::string& options, const std::vector<Event>& events,
                    sluice::Delivery* answer = nullptr) {
  char path[] = "/tmp/sluice-stdout-test-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  Harness h(STDOUT_SO);
  auto& sink = h.create(options);
  sink.start();
  sluice::Delivery d;
  {
    RedirectStdout redirect(fd);
    d = h.deliver(sink, events);
  }
  ::close(fd);
  if (answer) *answer = d;
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  ::unlink(path);
  return ss.str();
}

Event os_message(std::string id) {
  Event e;
  e.id = std::move(id);
  e.source = "hmc://hmc1";
  e.type = "hmc.os-message";
  e.subject = "/api/logical-partitions/1";
  e.time_unix_ns = 1700000123456000000;  // 2023-11-14T22:15:23.456Z
  e.attribute("notification-type", "os-message");
  e.data = R"({"a":1})";
  return e;
}

}  // namespace

TEST_SUITE("descriptor") {
  TEST_CASE("stdout: descriptor is a sink with a strict schema that documents every key") {
    Harness h(STDOUT_SO);
    CHECK(std::string(h.descriptor().name) == "stdout");
    CHECK(h.descriptor().kind == SLUICE_KIND_SINK);
    auto schema = nlohmann::json::parse(h.descriptor().options_schema);
    CHECK(schema["additionalProperties"] == false);
    for (const auto& [key, prop] : schema["properties"].items()) {
      INFO(key);
      CHECK(prop.contains("description"));
      CHECK(prop.contains("default"));
    }
    CHECK(schema["properties"]["format"]["enum"] ==
          nlohmann::json({"text", "json", "cloudevents", "cloudevents-batch"}));
  }

  TEST_CASE("stdout: an unknown format is refused at create") {
    Harness h(STDOUT_SO);
    CHECK_THROWS_WITH(h.create(R"({"format":"xml"})"),
                      "format: unknown format 'xml' (text, json, cloudevents, cloudevents-batch)");
  }

  TEST_CASE("stdout: check_options refuses what create refuses, each at its option") {
    Harness h(STDOUT_SO);
    CHECK(h.check(R"({"format": "json", "stream": "stderr"})").empty());
    CHECK(h.check(R"({"format": "xml", "stream": "stdlog"})") ==
          sluice::OptionProblems{
              {"/format",
               "format: unknown format 'xml' (text, json, cloudevents, cloudevents-batch)"},
              {"/stream", "stream: 'stdlog' is not one of stdout, stderr"}});
    CHECK_THROWS_WITH(h.create(R"({"stream": "stdlog"})"),
                      "stream: 'stdlog' is not one of stdout, stderr");
  }
}

TEST_SUITE("formats") {
  TEST_CASE("stdout: text is one line per event: time type subject source data") {
    sluice::Delivery d;
    std::string out = capture(R"({"format":"text"})", {os_message("42")}, &d);
    CHECK(d.code == SLUICE_DELIVERY_OK);
    CHECK(out ==
          "2023-11-14T22:15:23.456Z hmc.os-message /api/logical-partitions/1 hmc://hmc1 "
          "{\"a\":1}\n");
  }

  TEST_CASE("stdout: the default format is text") {
    CHECK(capture("{}", {os_message("42")}) ==
          "2023-11-14T22:15:23.456Z hmc.os-message /api/logical-partitions/1 hmc://hmc1 "
          "{\"a\":1}\n");
  }

  TEST_CASE("stdout: json is sluice's JSON form, one line per event") {
    CHECK(
        capture(R"({"format":"json"})", {os_message("1"), os_message("2")}) ==
        R"({"id":"1","source":"hmc://hmc1","type":"hmc.os-message","subject":"/api/logical-partitions/1","time":"2023-11-14T22:15:23.456Z","attributes":{"notification-type":"os-message"},"data":{"a":1}})"
        "\n"
        R"({"id":"2","source":"hmc://hmc1","type":"hmc.os-message","subject":"/api/logical-partitions/1","time":"2023-11-14T22:15:23.456Z","attributes":{"notification-type":"os-message"},"data":{"a":1}})"
        "\n");
  }

  TEST_CASE("stdout: cloudevents is one structured CloudEvent per line") {
    CHECK(
        capture(R"({"format":"cloudevents"})", {os_message("42")}) ==
        R"({"specversion":"1.0","id":"42","source":"hmc://hmc1","type":"hmc.os-message","subject":"/api/logical-partitions/1","time":"2023-11-14T22:15:23.456Z","notificationtype":"os-message","datacontenttype":"application/json","data":{"a":1}})"
        "\n");
  }

  TEST_CASE("stdout: cloudevents-batch is one JSON array per batch") {
    std::string out =
        capture(R"({"format":"cloudevents-batch"})", {os_message("1"), os_message("2")});
    REQUIRE(out.size() > 2);
    CHECK(out.back() == '\n');
    CHECK(out.find('\n') == out.size() - 1);
    auto array = nlohmann::json::parse(out);
    REQUIRE(array.is_array());
    REQUIRE(array.size() == 2);
    CHECK(array[0]["id"] == "1");
    CHECK(array[1]["id"] == "2");
    CHECK(array[1]["specversion"] == "1.0");
  }

  TEST_CASE("stdout: a batch bigger than a pipe buffer arrives whole through a pipe") {
    std::vector<Event> events;
    for (int i = 0; i < 2000; ++i)
      events.push_back(os_message(std::to_string(i)));
    int p[2];
    REQUIRE(::pipe(p) == 0);
    std::string received;
    std::thread reader([&] {
      char buf[4096];
      ssize_t n;
      while ((n = ::read(p[0], buf, sizeof buf)) > 0)
        received.append(buf, static_cast<size_t>(n));
    });
    Harness h(STDOUT_SO);
    auto& sink = h.create(R"({"format":"json"})");
    sink.start();
    sluice::Delivery d;
    {
      RedirectStdout redirect(p[1]);
      ::close(p[1]);  // fd 1 now holds the only write end
      d = h.deliver(sink, events);
    }  // restoring fd 1 closes the write end: the reader sees EOF
    reader.join();
    ::close(p[0]);
    CHECK(d.code == SLUICE_DELIVERY_OK);
    size_t lines = 0;
    for (char c : received)
      lines += c == '\n';
    CHECK(lines == 2000);
    CHECK(h.metric("bytes") == static_cast<int64_t>(received.size()));
  }
}

TEST_SUITE("errors") {
  TEST_CASE("stdout: a reader that went away (EPIPE) is a retry naming the error") {
    std::signal(SIGPIPE, SIG_IGN);  // as the sluice host does
    int p[2];
    REQUIRE(::pipe(p) == 0);
    ::close(p[0]);
    sluice::Delivery d;
    Harness h(STDOUT_SO);
    auto& sink = h.create("{}");
    sink.start();
    {
      RedirectStdout redirect(p[1]);
      d = h.deliver(sink, {os_message("1")});
    }
    ::close(p[1]);
    CHECK(d.code == SLUICE_DELIVERY_RETRY);
    CHECK(d.reason == "write to stdout: Broken pipe");
    CHECK(h.metric("write_errors") == 1);
  }

  TEST_CASE("stdout: EPIPE does not kill the process even when SIGPIPE is not ignored") {
    std::signal(SIGPIPE, SIG_DFL);  // a host that forgot: the signal would end the process
    int p[2];
    REQUIRE(::pipe(p) == 0);
    ::close(p[0]);
    sluice::Delivery d;
    Harness h(STDOUT_SO);
    auto& sink = h.create("{}");
    sink.start();
    {
      RedirectStdout redirect(p[1]);
      d = h.deliver(sink, {os_message("1")});
    }
    ::close(p[1]);
    std::signal(SIGPIPE, SIG_IGN);
    CHECK(d.code == SLUICE_DELIVERY_RETRY);
    CHECK(d.reason == "write to stdout: Broken pipe");
    sigset_t pending;
    sigpending(&pending);
    CHECK(sigismember(&pending, SIGPIPE) == 0);  // nothing left to fire later
  }

  TEST_CASE("stdout: a closed stdout is a retry, not a crash") {
    sluice::Delivery d;
    Harness h(STDOUT_SO);
    auto& sink = h.create("{}");
    sink.start();
    {
      RedirectStdout redirect(-1);
      d = h.deliver(sink, {os_message("1")});
    }
    CHECK(d.code == SLUICE_DELIVERY_RETRY);
    CHECK(d.reason == "write to stdout: Bad file descriptor");
  }

  TEST_CASE("stdout: a full device (ENOSPC) is a retry naming the error") {
    int fd = ::open("/dev/full", O_WRONLY);
    REQUIRE(fd >= 0);
    sluice::Delivery d;
    Harness h(STDOUT_SO);
    auto& sink = h.create("{}");
    sink.start();
    {
      RedirectStdout redirect(fd);
      d = h.deliver(sink, {os_message("1")});
    }
    ::close(fd);
    CHECK(d.code == SLUICE_DELIVERY_RETRY);
    CHECK(d.reason == "write to stdout: No space left on device");
  }
}
