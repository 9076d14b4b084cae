// The core's copies of events (sluice/core/owned_event.hpp): EventPtr::make, EventPtr::make_many
// (the events of one emit call in one recycled block) and the in-memory sink queue they wait in.
#include <doctest/doctest.h>

#include <sluice/core/delivery_hooks.hpp>
#include <sluice/core/owned_event.hpp>
#include <sluice/event.hpp>

#include <cstring>
#include <deque>
#include <string>
#include <thread>
#include <vector>

using namespace sluice::core;

namespace {

std::string text(sluice_str s) {
  return s.data ? std::string(s.data, s.size) : std::string("<absent>");
}

// Everything a sink can read of an event, as one string (pointers left out).
std::string dump(const sluice_event& e) {
  std::string s = text(e.id) + "|" + text(e.source) + "|" + text(e.type) + "|" + text(e.subject) +
                  "|" + std::to_string(e.time_unix_ns) + "|" + text(e.data) + "|";
  for (size_t i = 0; i < e.attribute_count; ++i)
    s += text(e.attributes[i].key) + "=" + text(e.attributes[i].value) + ";";
  return s;
}

// Owns the strings the parts of event `i` point to.
struct Source {
  std::string id, data, subject, big;
  std::vector<sluice_attribute> attrs;
  sluice_attribute extra{sluice::to_str("sluice-source"), sluice::to_str("in")};
  explicit Source(int i, size_t data_size = 40) {
    id = "id-" + std::to_string(i);
    subject = "subject " + std::to_string(i);
    data = "{\"n\":" + std::to_string(i) + ",\"pad\":\"" + std::string(data_size, 'x') + "\"}";
    attrs = {{sluice::to_str("a"), sluice::to_str("1")},
             {sluice::to_str("sluice-source"), sluice::to_str("forged")},  // skipped
             {sluice::to_str("b"), sluice::to_str(id)}};
  }
  EventParts parts() const {
    EventParts p;
    p.id = sluice::to_str(id);
    p.source = sluice::to_str("test://x");
    p.type = sluice::to_str("test.event");
    p.subject = sluice::to_str(subject);
    p.time_unix_ns = 7;
    p.attributes = attrs.data();
    p.attribute_count = attrs.size();
    p.skip_key = "sluice-source";
    p.extra_attributes = &extra;
    p.extra_attribute_count = 1;
    p.data = sluice::to_str(data);
    return p;
  }
};

}  // namespace

TEST_CASE(
    "make_many: every event as make copies it (attributes skipped and added, NUL after data)") {
  std::deque<Source> src;  // stable addresses: a Source points into itself
  for (int i = 0; i < 5; ++i)
    src.emplace_back(i, 10 + 50 * i);
  src[2].subject.clear();
  std::vector<EventParts> parts;
  for (const auto& s : src)
    parts.push_back(s.parts());
  parts[3].subject = sluice_str{nullptr, 0};  // absent
  parts[4].data = sluice_str{nullptr, 0};
  parts[1].attributes = nullptr;
  parts[1].attribute_count = 0;

  std::vector<EventPtr> many(parts.size());
  EventPtr::make_many(parts.data(), parts.size(), many.data());
  for (size_t i = 0; i < parts.size(); ++i) {
    CAPTURE(i);
    const EventPtr one = EventPtr::make(parts[i]);
    REQUIRE(many[i]);
    CHECK(dump(many[i].view()) == dump(one.view()));
    CHECK(many[i].view().struct_size == sizeof(sluice_event));
    if (many[i].view().data.data) CHECK(many[i].view().data.data[many[i].view().data.size] == '\0');
    // Its own bytes, rounded up to the alignment of the next event at most.
    CHECK(many[i].bytes() >= one.bytes());
    CHECK(many[i].bytes() < one.bytes() + alignof(std::max_align_t));
    CHECK(many[i].use_count() == 1);
    // Copies, not the plugin's memory.
    CHECK(many[i].view().id.data != parts[i].id.data);
  }
  CHECK(many[2].view().subject.data != nullptr);  // empty stays empty, not absent
  CHECK(many[2].view().subject.size == 0);
  CHECK(many[3].view().subject.data == nullptr);
  CHECK(many[1].view().attribute_count == 1);  // just the host's own
  CHECK(many[0].view().attribute_count == 3);  // a, b, sluice-source (the forged one left out)
  CHECK(text(many[0].view().attributes[2].value) == "in");
}

TEST_CASE("make: fields adjacent in the plugin's memory (as PackedEvents lays them out)") {
  // One buffer: id, source, type, subject, attribute keys and values, data, one after the
  // other, with an empty field and a skipped attribute among them, and one attribute value from
  // elsewhere. The copy is taken in runs; every field must come out as given.
  const std::string buf = "id1test://xtest.eventsubjk1v1sluice-sourceforgedk2v2{\"a\":1}";
  auto at = [&](size_t from, size_t n) { return sluice_str{buf.data() + from, n}; };
  const std::string elsewhere = "far";
  const sluice_attribute attrs[] = {
      {at(25, 2), at(27, 2)},                 // k1=v1
      {at(29, 13), at(42, 6)},                // sluice-source=forged: skipped
      {at(48, 2), at(50, 2)},                 // k2=v2
      {at(52, 0), sluice::to_str(elsewhere)}  // ""=far
  };
  const sluice_attribute extra{sluice::to_str("sluice-source"), sluice::to_str("in")};
  EventParts p;
  p.id = at(0, 3);
  p.source = at(3, 8);
  p.type = at(11, 10);
  p.subject = at(21, 4);
  p.attributes = attrs;
  p.attribute_count = 4;
  p.skip_key = "sluice-source";
  p.extra_attributes = &extra;
  p.extra_attribute_count = 1;
  p.data = at(52, 7);
  REQUIRE(std::string(p.data.data, p.data.size) == "{\"a\":1}");
  const EventPtr e = EventPtr::make(p);
  CHECK(dump(e.view()) ==
        "id1|test://x|test.event|subj|0|{\"a\":1}|k1=v1;k2=v2;=far;sluice-source=in;");
  CHECK(e.view().data.data[e.view().data.size] == '\0');
  CHECK(e.view().attributes[2].key.data != nullptr);  // empty, not absent
  // The same through make_many, twice in one block.
  const EventParts two[] = {p, p};
  EventPtr out[2];
  EventPtr::make_many(two, 2, out);
  CHECK(dump(out[0].view()) == dump(e.view()));
  CHECK(dump(out[1].view()) == dump(e.view()));
}

TEST_CASE("make_many: the events share one block that lives until the last of them is released") {
  std::deque<Source> src;  // stable addresses: a Source points into itself
  for (int i = 0; i < 64; ++i)
    src.emplace_back(i, 200);
  std::vector<EventParts> parts;
  for (const auto& s : src)
    parts.push_back(s.parts());
  std::vector<EventPtr> many(parts.size());
  EventPtr::make_many(parts.data(), parts.size(), many.data());
  // One piece of memory: each event's copy starts where the one before ended.
  for (size_t i = 1; i < many.size(); ++i)
    CHECK(reinterpret_cast<const char*>(&many[i].view()) ==
          reinterpret_cast<const char*>(&many[i - 1].view()) + many[i - 1].bytes());
  const std::string last = dump(many.back().view());
  EventPtr copy = many.back();
  CHECK(many.back().use_count() == 2);
  CHECK(many.front().use_count() == 1);  // per event, not per block
  many.clear();
  // The others are gone; this one (and with it the block) is still there to read (ASan).
  CHECK(dump(copy.view()) == last);
  CHECK(copy.use_count() == 1);
}

TEST_CASE("make_many: released on other threads, in any order; the block's memory is reused") {
  std::deque<Source> src;  // stable addresses: a Source points into itself
  for (int i = 0; i < 100; ++i)
    src.emplace_back(i, 300);
  std::vector<EventParts> parts;
  for (const auto& s : src)
    parts.push_back(s.parts());
  const void* first_block = nullptr;
  for (int round = 0; round < 20; ++round) {
    std::vector<EventPtr> many(parts.size());
    EventPtr::make_many(parts.data(), parts.size(), many.data());
    const void* block = &many[0].view();
    if (round == 0) first_block = block;
    // The same size again: the memory the last round gave back, not a new allocation.
    CHECK(block == first_block);
    // Two threads release alternate events, copying some first (as sinks and the tap do).
    std::vector<EventPtr> odd, even;
    for (size_t i = 0; i < many.size(); ++i)
      (i % 2 ? odd : even).push_back(std::move(many[i]));
    std::thread a([&] {
      for (auto& e : odd) {
        EventPtr c = e;
        CHECK(c.view().id.size > 0);
        e.reset();
      }
    });
    std::thread b([&] {
      for (size_t i = even.size(); i-- > 0;)
        even[i].reset();
    });
    a.join();
    b.join();
  }
}

TEST_CASE("make_many: one event is made as make makes it; none is nothing") {
  Source s(1);
  const EventParts p = s.parts();
  EventPtr out[1];
  EventPtr::make_many(&p, 1, out);
  REQUIRE(out[0]);
  CHECK(dump(out[0].view()) == dump(EventPtr::make(p).view()));
  CHECK(out[0].bytes() == EventPtr::make(p).bytes());
  EventPtr none;
  EventPtr::make_many(&p, 0, &none);
  CHECK_FALSE(none);
}

TEST_CASE("MemoryQueue: first in, first out across wrap-around and growth; bytes balance") {
  MemoryQueue q(1000000, UINT64_MAX);
  std::deque<Source> src;  // stable addresses: a Source points into itself
  for (int i = 0; i < 300; ++i)
    src.emplace_back(i, i % 7);
  int pushed = 0, popped = 0;
  uint64_t bytes = 0;
  // Push 3, pop 2, repeatedly: the ring wraps and grows with events in it.
  while (pushed < 300) {
    for (int k = 0; k < 3 && pushed < 300; ++k, ++pushed) {
      EventPtr e = EventPtr::make(src[pushed].parts());
      bytes += e.bytes();
      q.push(std::move(e));
    }
    for (int k = 0; k < 2; ++k, ++popped) {
      EventPtr e = q.pop();
      REQUIRE(e);
      CHECK(text(e.view().id) == "id-" + std::to_string(popped));
      bytes -= e.bytes();
    }
    CHECK(q.bytes() == bytes);
    CHECK(q.events() == static_cast<size_t>(pushed - popped));
  }
  while (EventPtr e = q.pop()) {
    CHECK(text(e.view().id) == "id-" + std::to_string(popped++));
  }
  CHECK(popped == 300);
  CHECK(q.bytes() == 0);
  CHECK_FALSE(q.pop());
}

TEST_CASE("MemoryQueue: a steady push/pop cycle allocates no more slots") {
  MemoryQueue q(1000000, UINT64_MAX);
  Source s(1);
  for (int round = 0; round < 50; ++round) {
    for (int k = 0; k < 100; ++k)
      q.push(EventPtr::make(s.parts()));
    while (q.pop()) {
    }
    if (round == 0) REQUIRE(q.capacity() == 128);
    CHECK(q.capacity() == 128);
  }
}
