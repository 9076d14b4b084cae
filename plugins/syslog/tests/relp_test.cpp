// The sink's own RELP client against a fake RELP server (fake_relp.hpp, written from the protocol
// document) that acknowledges, withholds acknowledgements or answers hostile bytes: an event is
// ok only once its rsp arrived; every malformed answer closes the connection with a clear error
// and answers the unacknowledged events retry. And a whole pipeline (the sluice executable,
// generator -> syslog relp with a spool): kill -9 while the fake withholds acknowledgements,
// restart against a real rsyslog: every event id arrives.
#include <doctest/doctest.h>

#include "fake_relp.hpp"
#include "relp_client.hpp"
#include "rsyslog.hpp"

#include <sluice/testing_child.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using sluice::syslog::testing::FakeRelp;
using sluice::syslog::testing::Rsyslog;
using sluice::testing::Harness;
using sluice::testing::TempDir;
namespace fs = std::filesystem;

sluice::Event event(size_t i) {
  sluice::Event e;
  e.id = "ev-" + std::to_string(i);
  e.source = "test://relp";
  e.type = "test.relp";
  e.time_unix_ns = 1764615600000000000 + static_cast<int64_t>(i) * 1000;
  e.data = json("message " + std::to_string(i)).dump();
  return e;
}

std::vector<sluice::Event> events(size_t from, size_t to) {
  std::vector<sluice::Event> out;
  for (size_t i = from; i < to; ++i)
    out.push_back(event(i));
  return out;
}

std::string options(uint16_t port, json extra = json::object()) {
  json o = {{"host", "127.0.0.1"},     {"port", port},
            {"transport", "relp"},     {"app_name", "sluicetest"},
            {"connect_timeout", "2s"}, {"ack_timeout", "1s"}};
  o.update(extra);
  return o.dump();
}

bool logged(const Harness& h, const std::string& needle) {
  for (const auto& l : h.logs())
    if (l.message.find(needle) != std::string::npos) return true;
  return false;
}

std::string all_logs(const Harness& h) {
  std::string s;
  for (const auto& l : h.logs())
    s += l.message + "\n";
  return s;
}

}  // namespace

TEST_CASE("withheld acknowledgements: only the acknowledged events are ok, the rest retry") {
  // Acknowledges the first 30 syslog commands, withholds the rest.
  FakeRelp fake([](size_t n, const std::string& txnr) {
    return n < 30 ? FakeRelp::ack(txnr) : std::string();
  });
  Harness h(SYSLOG_SO);
  auto& sink = h.create(options(fake.port()));
  sink.start();
  auto d = h.deliver(sink, events(0, 100));
  REQUIRE(d.events.size() == 100);
  size_t ok = 0, retry = 0;
  for (size_t k = 0; k < 100; ++k) {
    CAPTURE(k);
    if (k < 30) CHECK(d.events[k].code == SLUICE_DELIVERY_OK);
    if (k >= 30) {
      CHECK(d.events[k].code == SLUICE_DELIVERY_RETRY);
      CHECK(d.events[k].reason.find("no rsp for transaction 32 within 1000 ms") !=
            std::string::npos);
    }
    ok += d.events[k].code == SLUICE_DELIVERY_OK;
    retry += d.events[k].code == SLUICE_DELIVERY_RETRY;
  }
  CHECK(ok == 30);
  CHECK(retry == 70);
  CHECK(fake.syslog_count() == 100);  // all were sent (window 128), 70 never acknowledged
  CHECK(h.metric("syslog.messages_sent") == 30);
  CHECK(h.metric("syslog.connections_lost") == 1);
  sink.stop();
}

TEST_CASE("the window: at most relp_window commands without their rsp") {
  // Withholds everything: with relp_window 10 only 10 commands go out before the timeout.
  FakeRelp fake([](size_t, const std::string&) { return std::string(); });
  Harness h(SYSLOG_SO);
  auto& sink = h.create(options(fake.port(), {{"relp_window", 10}}));
  sink.start();
  auto d = h.deliver(sink, events(0, 50));
  for (const auto& e : d.events)
    CHECK(e.code == SLUICE_DELIVERY_RETRY);
  CHECK(fake.syslog_count() == 10);
  sink.stop();
}

TEST_CASE("error rsp: 5xx is retried with the server's text, other codes rejected") {
  FakeRelp fake([](size_t n, const std::string& txnr) {
    if (n == 3) return txnr + " rsp 17 500 queue is full\n";
    if (n == 5) return txnr + " rsp 23 403 not from you, sorry\n";
    return FakeRelp::ack(txnr);
  });
  Harness h(SYSLOG_SO);
  auto& sink = h.create(options(fake.port()));
  sink.start();
  auto d = h.deliver(sink, events(0, 8));
  REQUIRE(d.events.size() == 8);
  for (size_t k = 0; k < 8; ++k) {
    CAPTURE(k);
    if (k == 3) {
      CHECK(d.events[k].code == SLUICE_DELIVERY_RETRY);
      CHECK(d.events[k].reason ==
            "RELP server 127.0.0.1:" + std::to_string(fake.port()) + " answered 500 queue is full");
    } else if (k == 5) {
      CHECK(d.events[k].code == SLUICE_DELIVERY_REJECT);
      CHECK(d.events[k].reason == "RELP server 127.0.0.1:" + std::to_string(fake.port()) +
                                      " answered 403 not from you, sorry");
    } else {
      CHECK(d.events[k].code == SLUICE_DELIVERY_OK);
    }
  }
  CHECK(fake.connections() == 1);  // an error answer keeps the session
  sink.stop();
  CHECK(fake.commands().back() == "close");
}

TEST_CASE("hostile server input closes the connection with a clear error") {
  struct Case {
    const char* name;
    std::function<std::string(const std::string& txnr)> answer;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"rsp for an unknown txnr",
       [](const std::string&) { return std::string("77 rsp 6 200 OK\n"); },
       "rsp for unknown transaction 77"},
      {"non-digit txnr", [](const std::string&) { return std::string("2x rsp 6 200 OK\n"); },
       "transaction number expected, got 'x'"},
      {"non-digit length", [](const std::string& t) { return t + " rsp six 200 OK\n"; },
       "data length expected, got 's'"},
      {"length above the limit", [](const std::string& t) { return t + " rsp 999999999 200 OK"; },
       "data length above 65536 bytes"},
      {"missing LF trailer", [](const std::string& t) { return t + " rsp 6 200 OK!"; },
       "LF trailer expected after 6 data bytes, got '!'"},
      {"huge data",
       [](const std::string& t) { return t + " rsp 70000 200 " + std::string(69996, 'x') + "\n"; },
       "data length above 65536 bytes"},
      {"rsp without a code", [](const std::string& t) { return t + " rsp 2 OK\n"; },
       "rsp without a 3-digit code: 'OK'"},
      {"serverclose", [](const std::string&) { return std::string("0 serverclose 0\n"); },
       "the server closed the session (serverclose)"},
      {"a command the server may not send",
       [](const std::string& t) { return t + " syslog 1 x\n"; },
       "unexpected command from the server: syslog"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    FakeRelp fake([&](size_t n, const std::string& txnr) {
      return n == 0 ? c.answer(txnr) : FakeRelp::ack(txnr);
    });
    Harness h(SYSLOG_SO);
    auto& sink = h.create(options(fake.port(), {{"ack_timeout", "20s"}}));
    sink.start();
    const auto began = std::chrono::steady_clock::now();
    auto d = h.deliver(sink, events(0, 5));
    // At once: the bad answer ends the session, not the acknowledgement timeout.
    CHECK(std::chrono::steady_clock::now() - began < 10s);
    CHECK(d.events[0].code == SLUICE_DELIVERY_RETRY);
    CHECK_MESSAGE(d.events[0].reason.find(c.error) != std::string::npos, d.events[0].reason);
    CHECK_MESSAGE(logged(h, c.error), all_logs(h));
    CHECK(h.metric("syslog.connections_lost") == 1);
    // The next batch gets a new session.
    auto d2 = h.deliver(sink, events(5, 7));
    for (const auto& e : d2.events)
      CHECK(e.code == SLUICE_DELIVERY_OK);
    CHECK(fake.connections() == 2);
    sink.stop();
  }
}

TEST_CASE("open: withheld answer times out, a server without the syslog command is refused") {
  {
    FakeRelp fake([](size_t, const std::string& t) { return FakeRelp::ack(t); }, "withhold");
    Harness h(SYSLOG_SO);
    auto& sink = h.create(options(fake.port(), {{"connect_timeout", "500ms"}}));
    sink.start();
    auto d = h.deliver(sink, events(0, 3));
    for (const auto& e : d.events) {
      CHECK(e.code == SLUICE_DELIVERY_RETRY);
      CHECK(e.reason == "RELP open with 127.0.0.1:" + std::to_string(fake.port()) +
                            ": no answer within 500 ms");
    }
    CHECK(h.metric("syslog.connect_errors") == 1);
    CHECK(fake.syslog_count() == 0);
    sink.stop();
  }
  {
    const std::string offers = "200 OK\nrelp_version=0\ncommands=other";
    FakeRelp fake([](size_t, const std::string& t) { return FakeRelp::ack(t); },
                  "1 rsp " + std::to_string(offers.size()) + " " + offers + "\n");
    Harness h(SYSLOG_SO);
    auto& sink = h.create(options(fake.port()));
    sink.start();
    auto d = h.deliver(sink, events(0, 1));
    CHECK(d.events[0].code == SLUICE_DELIVERY_RETRY);
    CHECK(d.events[0].reason.find("does not offer the syslog command") != std::string::npos);
    CHECK(fake.syslog_count() == 0);
    sink.stop();
  }
}

TEST_CASE("txnr wraps from 999999999 to 1 on the wire") {
  FakeRelp fake([](size_t, const std::string& t) { return FakeRelp::ack(t); });
  sluice::syslog::RelpClient::Settings s;
  s.host = "127.0.0.1";
  s.port = fake.port();
  sluice::syslog::RelpClient client(s);
  client.open();
  client.set_next_txnr_for_test(999999998);
  const std::vector<std::string_view> messages = {"<13>1 - - - - - - a", "<13>1 - - - - - - b",
                                                  "<13>1 - - - - - - c"};
  std::vector<sluice::syslog::RelpClient::Answer> answers;
  CHECK(!client.send(messages, answers));
  for (const auto& a : answers)
    CHECK(a.kind == sluice::syslog::RelpClient::Answer::Kind::ok);
  CHECK(fake.txnrs() == std::vector<std::string>{"999999998", "999999999", "1"});
  client.close();
}

namespace {

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

// A child process running sluice with its stdout and stderr in `log`.
struct Sluice : sluice::testing::Child {
  Sluice(const std::vector<std::string>& args, const fs::path& log)
      : Child(SLUICE_EXECUTABLE, args, log, false) {}
};

using sluice::testing::poll_until;

std::string pipeline(uint16_t port, const fs::path& state, const std::string& id_prefix,
                     int count) {
  return sluice::testing::generator_pipeline(
      {.state_dir = state,
       .generator = "template: minimal, rate: 0, count: " + std::to_string(count) +
                    ", id_prefix: \"" + id_prefix + "\", source_uri: \"test://gen\"",
       .sink_name = "siem",
       .sink_plugin = "syslog",
       .sink_options = "host: 127.0.0.1, port: " + std::to_string(port) +
                       ", transport: relp, app_name: sluicetest, connect_timeout: 2s, "
                       "ack_timeout: 60s",
       .sink_lines = "    batch: {max_events: 50, max_delay: 20ms}\n"
                     "    retry: {initial: 20ms, max: 200ms}\n"
                     "    queue: {policy: spool, max_events: 100000}\n"});
}

size_t spooled(const fs::path& state) {
  size_t n = 0;
  const fs::path dir = state / "spool" / "siem";
  if (!fs::exists(dir)) return n;
  for (const auto& f : fs::directory_iterator(dir)) {
    if (f.path().extension() != ".seg") continue;
    const std::string bytes = sluice::testing::read_file(f.path());
    for (size_t pos = 0; (pos = bytes.find("SLR1", pos)) != std::string::npos; pos += 4)
      ++n;
  }
  return n;
}

std::string id_of(const json& line) {
  const std::string sd = line.value("sd", "");
  const auto at = sd.find("id=\"");
  if (at == std::string::npos) return {};
  return sd.substr(at + 4, sd.find('"', at + 4) - at - 4);
}

}  // namespace

TEST_CASE(
    "pipeline: spool, kill -9 while acknowledgements are withheld, restart: every id arrives") {
  TempDir dir("sluice-relp");
  const fs::path log = dir.path / "sluice.log", state = dir.path / "state";
  // The fake acknowledges the first 20 syslog commands and withholds every later one.
  FakeRelp fake([](size_t n, const std::string& txnr) {
    return n < 20 ? FakeRelp::ack(txnr) : std::string();
  });
  const fs::path p1 = dir.path / "first.yaml", p2 = dir.path / "second.yaml";
  write_file(p1, pipeline(fake.port(), state, "first-", 300));
  {
    Sluice first({"run", p1.string()}, log);
    REQUIRE_MESSAGE(poll_until([&] { return spooled(state) >= 300; }),
                    sluice::testing::read_file(log));
    // The sink has sent what its window allows and waits for acknowledgements (ack_timeout
    // 60s): events sent but not acknowledged.
    REQUIRE(poll_until([&] { return fake.syslog_count() >= 50; }));
    std::this_thread::sleep_for(1s);
    first.signal(SIGKILL);
    CHECK(first.wait() == -SIGKILL);
  }
  const auto acked = fake.acked_ids();
  const size_t withheld = fake.syslog_count() - acked.size();
  CHECK(acked.size() == 20);
  CHECK(withheld > 0);
  Rsyslog r(dir, Rsyslog::relp);
  write_file(p2, pipeline(r.port(), state, "second-", 10));
  Sluice second({"run", p2.string()}, log);
  std::map<std::string, int> seen;
  auto all_arrived = [&] {
    seen.clear();
    for (const auto& l : r.lines())
      ++seen[id_of(l)];
    for (int i = 1; i <= 300; ++i) {
      const std::string id = "first-" + std::to_string(i);
      if (!seen.count(id) && std::find(acked.begin(), acked.end(), id) == acked.end()) return false;
    }
    for (int i = 1; i <= 10; ++i)
      if (!seen.count("second-" + std::to_string(i))) return false;
    return true;
  };
  const bool all = poll_until(all_arrived);
  second.signal(SIGTERM);
  CHECK(second.wait() == 0);
  INFO(sluice::testing::read_file(log));
  CHECK(all);
  size_t duplicates = 0, again = 0;
  for (const auto& [id, count] : seen)
    if (count > 1) duplicates += static_cast<size_t>(count - 1);
  for (const auto& id : acked)
    if (seen.count(id)) ++again;
  MESSAGE("kill -9: " << withheld << " sent without an acknowledgement, " << acked.size()
                      << " acknowledged by the fake; after the restart " << duplicates
                      << " duplicate(s) at rsyslog, " << again
                      << " acknowledged event(s) sent again");
  // Withheld events are sent again (they are still in the spool); nothing rsyslog received
  // arrives twice in this run (rsyslog acknowledged everything it took).
  CHECK(duplicates == 0);
}
