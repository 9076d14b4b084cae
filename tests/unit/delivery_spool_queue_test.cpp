// The spool behind the runtime's SinkQueue hook (`queue: {policy: spool}`): events survive a
// restart until the dispatcher has let go of the batch they were in.
#include <doctest/doctest.h>
#include <sluice/testing.hpp>

#include <sluice/core/owned_event.hpp>
#include <sluice/core/spool.hpp>

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

using namespace sluice::core;

namespace {

using sluice::testing::TempDir;

EventPtr event_with_id(const std::string& id) {
  EventParts p;
  p.id = sluice::to_str(id);
  p.source = sluice::to_str("test://q");
  p.type = sluice::to_str("t");
  p.time_unix_ns = 1;
  return EventPtr::make(p);
}

std::unique_ptr<SinkQueue> open_queue(const TempDir& d) {
  SinkConfig sink;
  sink.name.assign(1, 's');
  sink.batch.max_events = 2;
  sink.spool.directory = d.path.string();
  sink.spool.max_bytes = 1 << 20;
  return make_spool_queue(sink, spool_options_for(sink), [](const std::string&) {});
}

std::string id_of(const EventPtr& e) {
  return std::string(sluice::to_view(e.view().id));
}

}  // namespace

TEST_CASE("spool queue: pushed events pop in order and count as spooled") {
  TempDir d;
  auto q = open_queue(d);
  CHECK(q->durable());
  for (const char* id : {"a", "b", "c"})
    q->push(event_with_id(id));
  CHECK(q->events() == 3);
  CHECK(q->spooled() == 3);
  EventPtr a = q->pop();
  CHECK(id_of(a) == "a");
  CHECK(q->events() == 2);
  CHECK(id_of(q->pop()) == "b");
  CHECK(id_of(q->pop()) == "c");
  CHECK_FALSE(q->pop());
  CHECK(q->events() == 0);
}

TEST_CASE(
    "spool queue: events still held by a batch come back after a restart, released ones "
    "do not") {
  TempDir d;
  {
    auto q = open_queue(d);
    for (const char* id : {"a", "b", "c", "d"})
      q->push(event_with_id(id));
    {
      std::vector<EventPtr> delivered{q->pop(), q->pop()};  // a, b: then let go (delivered)
    }
    EventPtr in_flight = q->pop();  // c: the process dies while this batch is out
    q->push(event_with_id("e"));    // a push acknowledges what is done
    CHECK(id_of(in_flight) == "c");
  }
  auto q = open_queue(d);
  CHECK(q->events() == 3);
  std::vector<std::string> ids;
  while (EventPtr e = q->pop())
    ids.push_back(id_of(e));
  CHECK(ids == std::vector<std::string>{"c", "d", "e"});
}

TEST_CASE("spool queue: full() follows the spool's max_bytes") {
  TempDir d;
  SinkConfig sink;
  sink.spool.directory = d.path.string();
  sink.spool.max_bytes = 16384;
  auto q = make_spool_queue(sink, spool_options_for(sink), [](const std::string&) {});
  CHECK_FALSE(q->full(100));
  CHECK(q->full(20000));
}

TEST_CASE(
    "spool queue: an acknowledgement whose segment roll fails neither throws nor loses events") {
  // The dispatcher acknowledges through pop(); a roll that cannot create the next segment must
  // not end that thread (std::terminate), and the spool works again once the cause is gone.
  TempDir d;
  SinkConfig sink;
  sink.name.assign(1, 's');
  sink.spool.directory = d.path.string();
  sink.spool.max_bytes = 1 << 20;
  sink.spool.segment_bytes = 4096;  // a segment of >= 1 KiB is rolled once all of it is acked
  std::vector<std::string> reports;
  auto q = make_spool_queue(sink, spool_options_for(sink),
                            [&](const std::string& m) { reports.push_back(m); });
  for (int i = 0; i < 40; ++i)
    q->push(event_with_id("first-" + std::to_string(i)));
  {
    std::vector<EventPtr> delivered;
    while (EventPtr e = q->pop())
      delivered.push_back(std::move(e));
    CHECK(delivered.size() == 40);
  }  // let go: the next call acknowledges them and rolls to segment 2
  const auto blocker = d.path / "00000000000000000002.seg";
  std::filesystem::create_directory(blocker);  // the roll cannot open it (EISDIR)
  CHECK_NOTHROW(CHECK_FALSE(q->pop()));
  CHECK(q->events() == 0);

  std::filesystem::remove(blocker);
  q->push(event_with_id("after"));  // opens the write segment again
  EventPtr after = q->pop();
  REQUIRE(after);
  CHECK(id_of(after) == "after");
  bool reported = false;
  for (const auto& m : reports)
    reported = reported || m.find("00000000000000000002.seg") != std::string::npos;
  CHECK(reported);
}
