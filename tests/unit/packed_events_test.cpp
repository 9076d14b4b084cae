// sluice::PackedEvents (sdk/include/sluice/packed_events.hpp): events packed into flat buffers,
// seen through the C ABI exactly as the fields were given.
#include <sluice/packed_events.hpp>

#include <doctest/doctest.h>

#include <string>
#include <utility>

using sluice::Event;
using sluice::EventRef;
using sluice::PackedEvents;

TEST_CASE("packed events: every field as given, in order") {
  PackedEvents batch;
  batch.begin("id-1", "hmc://h", "hmc.os-message");
  batch.subject("/api/cpcs/c1");
  batch.time_unix_ns(1700000000000000000);
  batch.attribute("destination", "/topic/t");
  batch.attribute("priority", "4");
  batch.data(R"({"a":1})");
  batch.begin("id-2", "hmc://h", "hmc.status-change");
  REQUIRE(batch.size() == 2);

  const sluice_event* views = batch.views();
  EventRef first(views[0]);
  CHECK(first.id() == "id-1");
  CHECK(first.source() == "hmc://h");
  CHECK(first.type() == "hmc.os-message");
  CHECK(first.subject() == "/api/cpcs/c1");
  CHECK(first.time_unix_ns() == 1700000000000000000);
  REQUIRE(first.attribute_count() == 2);
  CHECK(first.attribute_key(0) == "destination");
  CHECK(first.attribute_value(0) == "/topic/t");
  CHECK(first.attribute("priority") == "4");
  CHECK(first.data() == R"({"a":1})");
  CHECK(views[0].struct_size == sizeof(sluice_event));

  EventRef second(views[1]);
  CHECK(second.id() == "id-2");
  CHECK(second.type() == "hmc.status-change");
  CHECK_FALSE(second.has_subject());  // never set: absent, not empty
  CHECK_FALSE(second.has_data());     // null data
  CHECK(second.time_unix_ns() == 0);  // the host stamps it
  CHECK(second.attribute_count() == 0);
}

TEST_CASE("packed events: an empty subject or data is present, not absent") {
  PackedEvents batch;
  batch.begin("", "s", "t");
  batch.subject("");
  batch.data("");
  EventRef e(batch.views()[0]);
  CHECK(e.id().empty());
  CHECK(e.raw().id.data != nullptr);
  CHECK(e.has_subject());
  CHECK(e.subject().empty());
  CHECK(e.has_data());
}

TEST_CASE("packed events: add() copies a sluice::Event; event() gives it back") {
  const Event in{.id = "x",
                 .source = "src",
                 .type = "t",
                 .subject = "subj",
                 .time_unix_ns = 42,
                 .attributes = {{"k1", "v1"}, {"k2", "v2"}},
                 .data = "[1,2]"};
  PackedEvents batch;
  batch.add(in);
  Event out = batch.event(0);
  CHECK(out.id == in.id);
  CHECK(out.source == in.source);
  CHECK(out.type == in.type);
  CHECK(out.subject == in.subject);
  CHECK(out.time_unix_ns == 42);
  CHECK(out.attributes == in.attributes);
  CHECK(out.data == in.data);
}

TEST_CASE("packed events: append() keeps both batches' events and attributes apart") {
  PackedEvents a, b;
  a.begin("a1", "s", "t");
  a.attribute("ka", "va");
  b.begin("b1", "s", "t");
  b.attribute("kb1", "vb1");
  b.attribute("kb2", "vb2");
  b.data("true");
  b.begin("b2", "s", "t");
  b.subject("sb2");
  a.append(b);
  REQUIRE(a.size() == 3);
  const sluice_event* v = a.views();
  CHECK(EventRef(v[0]).id() == "a1");
  CHECK(EventRef(v[0]).attribute_count() == 1);
  CHECK(EventRef(v[0]).attribute("ka") == "va");
  CHECK(EventRef(v[1]).id() == "b1");
  CHECK(EventRef(v[1]).attribute_count() == 2);
  CHECK(EventRef(v[1]).attribute_key(0) == "kb1");
  CHECK(EventRef(v[1]).attribute("kb2") == "vb2");
  CHECK(EventRef(v[1]).data() == "true");
  CHECK(EventRef(v[2]).id() == "b2");
  CHECK(EventRef(v[2]).subject() == "sb2");
  CHECK_FALSE(EventRef(v[2]).has_data());
  CHECK(b.size() == 2);  // the source batch is unchanged
}

TEST_CASE("packed events: clear() empties the batch; swapping moves a whole batch") {
  PackedEvents a, b;
  a.begin("1", "s", "t");
  a.data("{}");
  CHECK(a.bytes() == 5);
  std::swap(a, b);
  CHECK(a.empty());
  REQUIRE(b.size() == 1);
  CHECK(EventRef(b.views()[0]).data() == "{}");
  b.clear();
  CHECK(b.empty());
  CHECK(b.bytes() == 0);
  b.begin("2", "s", "t");
  CHECK(EventRef(b.views()[0]).id() == "2");
}

TEST_CASE("packed events: a moved-from batch is empty and takes new events") {
  PackedEvents a;
  a.begin("1", "s", "t");
  a.data("[1]");
  PackedEvents b(std::move(a));
  CHECK(a.empty());
  CHECK(a.bytes() == 0);
  a.begin("2", "s2", "t2");
  CHECK(EventRef(a.views()[0]).source() == "s2");
  REQUIRE(b.size() == 1);
  CHECK(EventRef(b.views()[0]).data() == "[1]");

  PackedEvents c;
  c.begin("3", "s", "t");
  c = std::move(b);
  CHECK(b.empty());
  REQUIRE(c.size() == 1);
  CHECK(EventRef(c.views()[0]).id() == "1");
}

TEST_CASE("packed events: a copy is deep; the original can change afterwards") {
  PackedEvents a;
  a.begin("1", "s", "t");
  a.attribute("k", "v");
  PackedEvents b = a;
  a.clear();
  a.begin("other", "x", "y");
  REQUIRE(b.size() == 1);
  CHECK(EventRef(b.views()[0]).id() == "1");
  CHECK(EventRef(b.views()[0]).attribute("k") == "v");
}

TEST_CASE("packed events: growing past the first buffer keeps every earlier field") {
  PackedEvents batch;
  const std::string big(10000, 'x');  // more than the first buffer at once
  for (int i = 0; i < 500; ++i) {
    batch.begin(std::string("id-").append(std::to_string(i)), "s", "t");
    batch.attribute(std::string("k").append(std::to_string(i)), i == 250 ? big : "v");
  }
  const sluice_event* v = batch.views();
  for (int i = 0; i < 500; ++i) {
    CHECK(EventRef(v[i]).id() == std::string("id-").append(std::to_string(i)));
    CHECK(EventRef(v[i]).attribute_value(0) == (i == 250 ? big : std::string("v")));
  }
  CHECK(batch.bytes() > big.size());
}

TEST_CASE("packed events: only empty fields still give present, empty strings") {
  PackedEvents batch;
  batch.begin("", "", "");
  batch.subject("");
  const sluice_event& e = batch.views()[0];
  CHECK(e.id.data != nullptr);
  CHECK(e.subject.data != nullptr);
  CHECK(e.subject.size == 0);
}

TEST_CASE("packed events: a batch appended to itself holds its events twice") {
  PackedEvents a;
  a.begin("1", "s", "t");
  a.attribute("k", "v");
  a.data("[1]");
  a.append(a);
  REQUIRE(a.size() == 2);
  const sluice_event* v = a.views();
  for (int i = 0; i < 2; ++i) {
    CHECK(EventRef(v[i]).id() == "1");
    CHECK(EventRef(v[i]).attribute("k") == "v");
    CHECK(EventRef(v[i]).data() == "[1]");
  }
}
