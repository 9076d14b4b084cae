// Whole pipelines through the real `sluice` executable: generator -> webhook -> test receiver.
//  - crash: spool on, receiver down, kill -9 sluice after every event was accepted, start it
//    again with the receiver up: every accepted event arrives, once.
//  - 4xx: rejected events land in the dead-letter file with reason and status, and
//    `sluice dlq replay` delivers them.
//  - per event (body: cloudevents): the receiver refuses one subject; exactly the refused events
//    are dead-lettered, the others count as delivered, and a replay sends only the refused ones.
//    With the spool on and kill -9 while some events of a batch wait for a retry, nothing is
//    lost; the events read from the spool with them are sent again (at least once).
//  - elasticsearch-bulk and splunk-hec against the emulated APIs, partial failures included:
//    which events are delivered, which arrive on a later attempt, which are dead-lettered and why.
#include <doctest/doctest.h>
#include <sluice/testing.hpp>
#include <sluice/testing_child.hpp>

#include "emulators.hpp"
#include "receiver.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

using namespace std::chrono_literals;
using nlohmann::json;
using sluice::webhook::testing::Answer;
using sluice::webhook::testing::BulkEmulator;
using sluice::webhook::testing::HecEmulator;
using sluice::webhook::testing::Receiver;
namespace fs = std::filesystem;

namespace {

using sluice::testing::read_file;
using sluice::testing::TempDir;

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

// A child process running sluice with its stderr (and stdout) in `log`.
struct Sluice : sluice::testing::Child {
  Sluice(const std::vector<std::string>& args, const fs::path& log)
      : Child(SLUICE_EXECUTABLE, args, log, false) {}
};

using sluice::testing::poll_until;

// The records of a JSON-lines file (a dead-letter file), none while it does not exist.
std::vector<json> json_lines(const fs::path& file) {
  std::vector<json> lines;
  std::ifstream in(file);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) lines.push_back(json::parse(l));
  return lines;
}

// Event ids the receiver acknowledged with a 2xx, with how many times each.
std::map<std::string, int> delivered_ids(const Receiver& r) {
  std::map<std::string, int> ids;
  for (const auto& q : r.requests()) {
    if (q.answered < 200 || q.answered > 299) continue;
    for (const auto& ev : json::parse(q.body))
      ++ids[ev["id"].get<std::string>()];
  }
  return ids;
}

std::string pipeline(const std::string& url, const fs::path& state, const std::string& id_prefix,
                     int count, const std::string& sink_extra) {
  return sluice::testing::generator_pipeline(
      {.state_dir = state,
       .generator = "template: minimal, rate: 0, count: " + std::to_string(count) +
                    ", id_prefix: \"" + id_prefix + "\", source_uri: \"test://gen\"",
       .sink_name = "hook",
       .sink_plugin = "webhook",
       .sink_options =
           "url: \"" + url + "\", body: cloudevents-batch, connect_timeout: 1s, read_timeout: 2s",
       .sink_lines = "    batch: {max_events: 50, max_delay: 20ms}\n"
                     "    retry: {initial: 20ms, max: 200ms}\n" +
                     sink_extra});
}

}  // namespace

TEST_CASE("pipeline crash: spool on, kill -9 during an outage, restart: every event arrives once") {
  TempDir dir;
  Receiver r;
  r.go_down();
  const fs::path log = dir.path / "sluice.log";
  const fs::path p1 = dir.path / "first.yaml", p2 = dir.path / "second.yaml";
  const std::string spool = "    queue: {policy: spool, max_events: 100000}\n";
  write_file(p1, pipeline(r.url(), dir.path / "state", "first-", 300, spool));
  write_file(p2, pipeline(r.url(), dir.path / "state", "second-", 10, spool));
  {
    Sluice first({"run", p1.string()}, log);
    // Wait until every event is accepted: 300 records in the spool (each starts with "SLR1",
    // see docs/delivery.md; the minimal events never contain that text).
    auto spooled = [&] {
      size_t n = 0;
      const fs::path spool_dir = dir.path / "state" / "spool" / "hook";
      if (!fs::exists(spool_dir)) return n;
      for (const auto& f : fs::directory_iterator(spool_dir)) {
        if (f.path().extension() != ".seg") continue;
        const std::string bytes = read_file(f.path());
        for (size_t pos = 0; (pos = bytes.find("SLR1", pos)) != std::string::npos; pos += 4)
          ++n;
      }
      return n;
    };
    REQUIRE(poll_until([&] { return spooled() >= 300; }));
    first.signal(SIGKILL);
    CHECK(first.wait() == -SIGKILL);
  }
  CHECK(r.request_count() == 0);
  r.come_up();
  Sluice second({"run", p2.string()}, log);
  const bool all = poll_until([&] { return delivered_ids(r).size() >= 310; });
  second.signal(SIGTERM);
  CHECK(second.wait() == 0);
  INFO(read_file(log));
  CHECK(all);
  auto ids = delivered_ids(r);
  for (int i = 1; i <= 300; ++i)
    CHECK_MESSAGE(ids["first-" + std::to_string(i)] == 1, "first-" << i);
  for (int i = 1; i <= 10; ++i)
    CHECK_MESSAGE(ids["second-" + std::to_string(i)] == 1, "second-" << i);
}

TEST_CASE("pipeline 4xx: rejected events go to the dead-letter file and replay delivers them") {
  TempDir dir;
  Receiver r;
  r.set_default(Answer::with_status(400, "unknown event type"));
  const fs::path log = dir.path / "sluice.log";
  const fs::path p = dir.path / "p.yaml", dlq = dir.path / "dlq.jsonl";
  write_file(p, pipeline(r.url(), dir.path / "state", "d-", 20,
                         "    dead_letter: {path: " + dlq.string() + "}\n"));
  auto dlq_lines = [&] { return json_lines(dlq); };
  {
    Sluice run({"run", p.string()}, log);
    REQUIRE(poll_until([&] { return dlq_lines().size() >= 20; }));
    run.signal(SIGTERM);
    CHECK(run.wait() == 0);
  }
  auto lines = dlq_lines();
  REQUIRE(lines.size() == 20);
  for (const auto& l : lines) {
    CHECK(l["sink"] == "hook");
    CHECK(l["status"] == 400);
    CHECK(l["attempts"] == 1);
    CHECK(l["reason"] == "rejected: HTTP 400 Bad Request: unknown event type");
    CHECK(l["event"]["type"] == "generator.minimal");
  }
  CHECK(delivered_ids(r).empty());

  r.set_default(Answer::ok());
  Sluice replay({"dlq", "replay", dlq.string(), "--pipeline", p.string(), "--to", "hook", "--type",
                 "generator.*"},
                log);
  INFO(read_file(log));  // evaluated when a check fails: the replay's own output included
  CHECK(replay.wait() == 0);
  auto ids = delivered_ids(r);
  CHECK(ids.size() == 20);
  for (int i = 1; i <= 20; ++i)
    CHECK_MESSAGE(ids["d-" + std::to_string(i)] == 1, "d-" << i);
}

TEST_CASE("dlq replay: 10 attempts per batch without a limit, --max-attempts overrides it") {
  TempDir dir;
  Receiver r;
  r.set_default(Answer::with_status(503, "busy"));
  const fs::path log = dir.path / "sluice.log";
  const fs::path p = dir.path / "p.yaml", dlq = dir.path / "dlq.jsonl";
  INFO(read_file(log));
  write_file(p, pipeline(r.url(), dir.path / "state", "x-", 1, ""));  // retry.max_attempts: 0
  std::string record =
      R"({"sink":"hook","attempts":1,"event":{"id":"x-1","source":"test://gen","type":"t"}})";
  write_file(dlq, record + "\n");
  const std::vector<std::string> replay = {"dlq",      "replay", dlq.string(), "--pipeline",
                                           p.string(), "--to",   "hook"};

  {
    Sluice run(replay, log);
    CHECK(run.wait() == 3);  // the events failed
    CHECK(r.request_count() == 10);
  }
  {
    std::vector<std::string> args = replay;
    args.insert(args.end(), {"--max-attempts", "3"});
    Sluice run(args, log);
    CHECK(run.wait() == 3);
    CHECK(r.request_count() == 10 + 3);
  }
  {
    // No limit: the receiver recovers after 12 more refusals and the replay delivers.
    r.set_default(Answer::ok());
    r.script(std::vector<Answer>(12, Answer::with_status(503, "busy")));
    std::vector<std::string> args = replay;
    args.insert(args.end(), {"--max-attempts", "0"});
    Sluice run(args, log);
    CHECK(run.wait() == 0);
    CHECK(r.request_count() == 10 + 3 + 13);
    CHECK(delivered_ids(r) == std::map<std::string, int>{{"x-1", 1}});
  }
  {
    std::vector<std::string> args = replay;
    args.insert(args.end(), {"--max-attempts", "-1"});
    Sluice run(args, log);
    CHECK(run.wait() == 2);  // a usage error
  }
}

TEST_CASE("pipeline outage: receiver down while events keep coming; all arrive after it returns") {
  TempDir dir;
  Receiver r;
  r.go_down();
  const fs::path log = dir.path / "sluice.log";
  const fs::path p = dir.path / "p.yaml";
  // 100 events per second for 3 s: most are emitted while the receiver is down or failing.
  std::string text = pipeline(r.url(), dir.path / "state", "o-", 300, "");
  text.replace(text.find("rate: 0"), 7, "rate: 100");
  write_file(p, text);
  Sluice run({"run", p.string()}, log);
  REQUIRE(poll_until(
      [&] { return read_file(log).find("failed (connect 127.0.0.1:") != std::string::npos; }));
  r.come_up();
  r.answer_for(Answer::with_status(503), 300ms);  // then a while of 503s
  const bool all = poll_until([&] { return delivered_ids(r).size() >= 300; });
  run.signal(SIGTERM);
  CHECK(run.wait() == 0);
  INFO(read_file(log));
  CHECK(all);
  // Each event arrived once; a batch that was sent more than once (503 first) carried the same
  // idempotency key every time.
  auto ids = delivered_ids(r);
  for (int i = 1; i <= 300; ++i)
    CHECK_MESSAGE(ids["o-" + std::to_string(i)] == 1, "o-" << i);
  std::map<std::string, std::set<std::string>> keys_by_first_id;
  for (const auto& q : r.requests())
    keys_by_first_id[json::parse(q.body)[0]["id"].get<std::string>()].insert(
        q.header("idempotency-key"));
  for (const auto& [first, keys] : keys_by_first_id)
    CHECK_MESSAGE(keys.size() == 1, first);
}

namespace {

// Writes `count` events (ids <prefix>1..., in sluice's JSON form) for the generator's `replay`;
// those for which `odd(i)` holds get the subject `odd_subject`, the others "/fine". Returns the
// ids of the odd ones.
std::set<std::string> write_events(const fs::path& file, int count, const std::string& prefix,
                                   bool (*odd)(int), const std::string& odd_subject) {
  std::set<std::string> odd_ids;
  std::ofstream out(file);
  for (int i = 1; i <= count; ++i) {
    const std::string id = prefix + std::to_string(i);
    if (odd(i)) odd_ids.insert(id);
    out << json{{"id", id},
                {"source", "test://gen"},
                {"type", "test.per-event"},
                {"subject", odd(i) ? odd_subject : std::string("/fine")},
                {"data", {{"n", i}}}}
               .dump()
        << "\n";
  }
  return odd_ids;
}

// The pipeline() text with the generator replaying `events` and the webhook in body: cloudevents.
std::string per_event_pipeline(std::string text, const fs::path& events) {
  text.replace(text.find("template: minimal"), 17, "replay: \"" + events.string() + "\"");
  text.replace(text.find("body: cloudevents-batch"), 23, "body: cloudevents");
  return text;
}

// Event ids the receiver answered 2xx (one CloudEvent per request) from request `from` on.
std::map<std::string, int> accepted_events(const Receiver& r, size_t from = 0) {
  std::map<std::string, int> ids;
  const auto reqs = r.requests();
  for (size_t i = from; i < reqs.size(); ++i)
    if (reqs[i].answered >= 200 && reqs[i].answered <= 299)
      ++ids[json::parse(reqs[i].body)["id"].get<std::string>()];
  return ids;
}

}  // namespace

TEST_CASE(
    "pipeline per event: one refused subject dead-letters only its events, replay sends them") {
  TempDir dir;
  Receiver r;
  r.answer_subject("/refused", Answer::with_status(400, "unknown subject"));
  const fs::path log = dir.path / "sluice.log";
  const fs::path p = dir.path / "p.yaml", dlq = dir.path / "dlq.jsonl";
  const fs::path events = dir.path / "events.jsonl";
  // 200 events; 1, 13, 25, ... 193 (17 of them) have the subject the receiver refuses.
  const std::set<std::string> refused = write_events(
      events, 200, "pe-", [](int i) { return i % 12 == 1; }, "/refused");
  REQUIRE(refused.size() == 17);
  const std::string text =
      per_event_pipeline(pipeline(r.url(), dir.path / "state", "", 200,
                                  "    dead_letter: {path: " + dlq.string() + "}\n"),
                         events);
  write_file(p, text);
  auto dlq_lines = [&] { return json_lines(dlq); };
  auto accepted = [&](size_t from = 0) { return accepted_events(r, from); };
  {
    Sluice run({"run", p.string()}, log);
    REQUIRE(poll_until([&] { return dlq_lines().size() >= 17 && accepted().size() >= 183; }));
    run.signal(SIGTERM);
    CHECK(run.wait() == 0);
  }
  const std::string run_log = read_file(log);
  INFO(run_log);
  CHECK(r.request_count() == 200);  // nothing sent twice: the host retried nothing
  auto ids = accepted();
  CHECK(ids.size() == 183);
  for (const auto& [id, n] : ids) {
    CHECK_MESSAGE(n == 1, id);
    CHECK_MESSAGE(refused.count(id) == 0, id);
  }
  auto lines = dlq_lines();
  REQUIRE(lines.size() == 17);
  std::set<std::string> dead;
  for (const auto& l : lines) {
    CHECK(l["status"] == 400);
    CHECK(l["attempts"] == 1);
    CHECK(l["reason"] == "rejected: HTTP 400 Bad Request: unknown subject");
    CHECK(l["event"]["subject"] == "/refused");
    dead.insert(l["event"]["id"].get<std::string>());
  }
  CHECK(dead == refused);
  // The accounting at stop: received 200, delivered 183, dead-lettered 17, balanced.
  // (columns: sink received recovered delivered queued inflight spooled deadlet ... balanced)
  CHECK(
      std::regex_search(run_log, std::regex(R"(hook\s+200\s+0\s+183\s+0\s+0\s+0\s+17\s.*\syes)")));

  // The replay sends the 17, and only them; the one the receiver asks to retry goes again
  // alone (one request more), the others are not sent twice.
  r.answer_subject("/refused", Answer::ok());
  r.script({Answer::with_status(503, "busy")});
  const size_t before = r.request_count();
  Sluice replay({"dlq", "replay", dlq.string(), "--pipeline", p.string(), "--to", "hook"}, log);
  CHECK(replay.wait() == 0);
  auto replayed = accepted(before);
  CHECK(r.request_count() - before == 17 + 1);
  std::set<std::string> replayed_ids;
  for (const auto& [id, n] : replayed) {
    CHECK_MESSAGE(n == 1, id);
    replayed_ids.insert(id);
  }
  CHECK(replayed_ids == refused);
}

TEST_CASE("pipeline per event + spool: kill -9 while some events wait for a retry loses none") {
  TempDir dir;
  Receiver r;
  r.answer_subject("/later", Answer::with_status(503, "not yet"));
  const fs::path log = dir.path / "sluice.log";
  const fs::path p1 = dir.path / "first.yaml", p2 = dir.path / "second.yaml";
  const fs::path events = dir.path / "events.jsonl";
  // 1, 11, ... 91: retried until the receiver takes them.
  const std::set<std::string> later = write_events(
      events, 100, "k-", [](int i) { return i % 10 == 1; }, "/later");
  const std::string spool = "    queue: {policy: spool, max_events: 100000}\n";
  write_file(p1, per_event_pipeline(pipeline(r.url(), dir.path / "state", "", 100, spool), events));
  std::string text = pipeline(r.url(), dir.path / "state", "second-", 1, spool);
  text.replace(text.find("body: cloudevents-batch"), 23, "body: cloudevents");
  write_file(p2, text);
  auto accepted = [&](size_t from = 0) { return accepted_events(r, from); };
  {
    Sluice first({"run", p1.string()}, log);
    REQUIRE(poll_until([&] { return accepted().size() >= 90; }));
    first.signal(SIGKILL);
    CHECK(first.wait() == -SIGKILL);
  }
  auto before = accepted();
  CHECK(before.size() == 90);
  for (const auto& id : later)
    CHECK_MESSAGE(before.count(id) == 0, id);
  const size_t requests_before = r.request_count();
  r.answer_subject("/later", Answer::ok());
  Sluice second({"run", p2.string()}, log);
  const bool all = poll_until([&] {
    auto ids = accepted(requests_before);
    for (const auto& id : later)
      if (!ids.count(id)) return false;
    return ids.count("second-1") == 1;
  });
  second.signal(SIGTERM);
  CHECK(second.wait() == 0);
  INFO(read_file(log));
  CHECK(all);
  auto after = accepted(requests_before);
  for (const auto& id : later)
    CHECK_MESSAGE(after[id] == 1, id);
  // The delivered events were read from the spool together with the retried ones (one spool
  // read per batch of 50): their records were not acknowledged, so they come again.
  for (const auto& [id, n] : before)
    CHECK_MESSAGE(after[id] == 1, id);
}

namespace {

// The pipeline() text with the generator replaying `events` and the sink options `options`.
std::string replay_pipeline(const std::string& url, const fs::path& dir, const fs::path& events,
                            int count, const std::string& options, const fs::path& dlq) {
  std::string text =
      pipeline(url, dir / "state", "", count, "    dead_letter: {path: " + dlq.string() + "}\n");
  text.replace(text.find("template: minimal"), 17, "replay: \"" + events.string() + "\"");
  text.replace(text.find("body: cloudevents-batch"), 23, options);
  return text;
}

json replay_line(const std::string& id, const json& data, const json& attributes = json::object()) {
  return json{{"id", id},
              {"source", "test://gen"},
              {"type", "test.bulk"},
              {"subject", "/s"},
              {"time", "2025-11-21T05:03:52.123Z"},
              {"attributes", attributes},
              {"data", data}};
}

}  // namespace

TEST_CASE("pipeline elasticsearch-bulk: 201, 409, 429 then 201, 503 then 201, 400 dead-lettered") {
  TempDir dir;
  Receiver r;
  BulkEmulator es;
  r.respond_with(std::ref(es));
  // es-12 is refused twice (429), es-15 once (an item 503): both arrive on a later attempt.
  es.fail("es-12", 429, "es_rejected_execution_exception", "rejected execution", 2);
  es.fail("es-15", 503, "unavailable_shards_exception", "primary shard is not active", 1);
  const fs::path log = dir.path / "sluice.log", p = dir.path / "p.yaml";
  const fs::path dlq = dir.path / "dlq.jsonl", events = dir.path / "events.jsonl";
  {
    std::ofstream out(events);
    for (int i = 1; i <= 30; ++i) {
      // es-7's data.n is a text where es-1 made it a number: a mapping error.
      out << replay_line("es-" + std::to_string(i), i == 7 ? json{{"n", "seven"}} : json{{"n", i}})
                 .dump()
          << "\n";
      if (i == 20) out << replay_line("es-20", json{{"n", 20}}).dump() << "\n";  // again: 409
    }
  }
  write_file(
      p, replay_pipeline(r.url("/_bulk"), dir.path, events, 31, "body: elasticsearch-bulk", dlq));
  const std::string index = "sluice-test.bulk-2025.11.21";
  auto stored = [&] {
    auto docs = es.documents();
    return docs.count(index) ? docs[index].size() : size_t{0};
  };
  {
    Sluice run({"run", p.string()}, log);
    const bool done = poll_until([&] { return json_lines(dlq).size() >= 1 && stored() >= 29; });
    INFO(read_file(log));
    REQUIRE(done);
    run.signal(SIGTERM);
    CHECK(run.wait() == 0);
  }
  const std::string run_log = read_file(log);
  INFO(run_log);
  auto docs = es.documents()[index];
  CHECK(docs.size() == 29);
  for (int i = 1; i <= 30; ++i)
    if (i != 7) CHECK_MESSAGE(docs.count("es-" + std::to_string(i)) == 1, i);
  CHECK(es.creates("es-12") == 3);
  CHECK(es.creates("es-15") == 2);
  CHECK(es.creates("es-20") == 2);  // the second create answered 409: delivered, not dead
  CHECK(es.creates("es-1") == 1);   // nothing that arrived was sent again
  auto lines = json_lines(dlq);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["event"]["id"] == "es-7");
  CHECK(lines[0]["status"] == 400);
  CHECK(lines[0]["reason"] ==
        "rejected: elasticsearch 400 mapper_parsing_exception: failed to parse field [data.n] of "
        "type [long] in document with id 'es-7'. Preview of field's value: 'seven'");
  // The accounting at stop: received 31, delivered 30, dead-lettered 1, balanced.
  CHECK(std::regex_search(run_log, std::regex(R"(hook\s+31\s+0\s+30\s+0\s+0\s+0\s+1\s.*\syes)")));
}

TEST_CASE("pipeline splunk-hec: busy, then the events of a refused index dead-lettered alone") {
  TempDir dir;
  Receiver r;
  HecEmulator hec("tok-0123456789");
  hec.allow_indexes({"main"});
  hec.busy(1);
  r.respond_with(std::ref(hec));
  const fs::path log = dir.path / "sluice.log", p = dir.path / "p.yaml";
  const fs::path dlq = dir.path / "dlq.jsonl", events = dir.path / "events.jsonl";
  {
    std::ofstream out(events);
    for (int i = 1; i <= 20; ++i)
      out << replay_line("hec-" + std::to_string(i), json{{"n", i}},
                         {{"index", i == 5 || i == 13 ? "secret" : "main"}})
                 .dump()
          << "\n";
  }
  write_file(p, replay_pipeline(r.url("/services/collector/event"), dir.path, events, 20,
                                "body: splunk-hec, splunk: {token: tok-0123456789, "
                                "index: \"{attr:index}\", host: \"{attr:sluice-source}\"}",
                                dlq));
  auto ids = [&] {
    std::map<std::string, int> n;
    for (const auto& e : hec.indexed())
      ++n[e["event"]["id"].get<std::string>()];
    return n;
  };
  {
    Sluice run({"run", p.string()}, log);
    const bool done = poll_until([&] { return json_lines(dlq).size() >= 2 && ids().size() >= 18; });
    INFO(read_file(log));
    REQUIRE(done);
    run.signal(SIGTERM);
    CHECK(run.wait() == 0);
  }
  const std::string run_log = read_file(log);
  INFO(run_log);
  auto indexed = ids();
  CHECK(indexed.size() == 18);
  for (const auto& [id, n] : indexed) {
    CHECK_MESSAGE(n == 1, id);
    CHECK_MESSAGE((id != "hec-5" && id != "hec-13"), id);
  }
  for (const auto& e : hec.indexed()) {
    CHECK(e["index"] == "main");
    CHECK(e["host"] == "gen");
    CHECK(e["sourcetype"] == "sluice:test.bulk");
  }
  std::set<std::string> dead;
  for (const auto& l : json_lines(dlq)) {
    dead.insert(l["event"]["id"].get<std::string>());
    CHECK(l["status"] == 400);
    CHECK(l["reason"].get<std::string>().rfind(
              "rejected: HTTP 400 HEC code 7: Incorrect index (event ", 0) == 0);
  }
  CHECK(dead == std::set<std::string>{"hec-5", "hec-13"});
  CHECK(r.requests().front().answered == 503);
  CHECK(std::regex_search(run_log, std::regex(R"(hook\s+20\s+0\s+18\s+0\s+0\s+0\s+2\s.*\syes)")));
}
