// sluice::core::EventPtr::make (core/src/owned_event.cpp): the host's one copy of an emitted
// event. Fields that lie back to back in the plugin's memory (as PackedEvents writes them) are
// moved in one piece; any other layout field by field. Both must give the same event.
#include <sluice/core/owned_event.hpp>
#include <sluice/event.hpp>
#include <sluice/packed_events.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using sluice::EventRef;
using sluice::PackedEvents;
using sluice::core::EventParts;
using sluice::core::EventPtr;

namespace {

sluice_str str(std::string_view s) {
  return sluice_str{s.data(), s.size()};
}

// Every field as text, "-" for an absent one: two events are the same when these are equal.
std::vector<std::string> fields(const sluice_event& e) {
  auto text = [](sluice_str s) {
    return s.data ? std::string("=").append(s.data, s.size) : std::string("-");
  };
  std::vector<std::string> out = {
      text(e.id),  text(e.source), text(e.type), text(e.subject), std::to_string(e.time_unix_ns),
      text(e.data)};
  for (size_t i = 0; i < e.attribute_count; ++i)
    out.push_back(text(e.attributes[i].key) + ":" + text(e.attributes[i].value));
  return out;
}

// In the host's block: the event struct, the attribute array, then the text.
bool inside(const EventPtr& ev, sluice_str s) {
  const auto at = reinterpret_cast<uintptr_t>(s.data);
  const auto block = reinterpret_cast<uintptr_t>(&ev.view());
  return at >= block && at <= block + ev.bytes();
}

// The same fields, every byte of them overwritten with `c`.
void overwrite(PackedEvents& batch, char c) {
  const std::string_view sizes[] = {"id-1",         "hmc://h",     "hmc.os-message",
                                    "/api/cpcs/c1", "destination", "/topic/t",
                                    "priority",     "4",           R"({"a":1})"};
  auto x = [&](size_t i) { return std::string(sizes[i].size(), c); };
  batch.clear();
  batch.begin(x(0), x(1), x(2));
  batch.subject(x(3));
  batch.attribute(x(4), x(5));
  batch.attribute(x(6), x(7));
  batch.data(x(8));
}

}  // namespace

TEST_CASE("EventPtr::make: fields back to back come out as given, the host's attributes after") {
  PackedEvents batch;
  batch.begin("id-1", "hmc://h", "hmc.os-message");
  batch.subject("/api/cpcs/c1");
  batch.time_unix_ns(7);
  batch.attribute("destination", "/topic/t");
  batch.attribute("priority", "4");
  batch.data(R"({"a":1})");
  EventParts p = EventParts::of(batch.views()[0]);
  const sluice_attribute extra{str("sluice-source"), str("hmc")};
  p.extra_attributes = &extra;
  p.extra_attribute_count = 1;
  EventPtr ev = EventPtr::make(p);

  CHECK(fields(ev.view()) == std::vector<std::string>{"=id-1", "=hmc://h", "=hmc.os-message",
                                                      "=/api/cpcs/c1", "7", R"(={"a":1})",
                                                      "=destination:=/topic/t", "=priority:=4",
                                                      "=sluice-source:=hmc"});
  CHECK(ev.view().data.data[ev.view().data.size] == '\0');  // the JSON check relies on it
  for (sluice_str s :
       {ev.view().id, ev.view().subject, ev.view().data, ev.view().attributes[1].value})
    CHECK(inside(ev, s));

  // One move: the host's attribute came first, the plugin's run after it (field by field, the
  // host's attribute is copied after the plugin's fields).
  CHECK(ev.view().attributes[2].value.data < ev.view().id.data);

  // The copy is the host's own: the plugin's buffer may change at once, every byte of it.
  overwrite(batch, 'X');
  CHECK(fields(ev.view()) == std::vector<std::string>{"=id-1", "=hmc://h", "=hmc.os-message",
                                                      "=/api/cpcs/c1", "7", R"(={"a":1})",
                                                      "=destination:=/topic/t", "=priority:=4",
                                                      "=sluice-source:=hmc"});
}

TEST_CASE("EventPtr::make: scattered fields give the same event and the same size") {
  const std::string id = "id-1", source = "hmc://h", type = "t", subject = "s", k = "k", v = "v",
                    data = "[true]";
  const sluice_attribute attrs[] = {{str(k), str(v)}};
  EventParts scattered;
  scattered.id = str(id);
  scattered.source = str(source);
  scattered.type = str(type);
  scattered.subject = str(subject);
  scattered.attributes = attrs;
  scattered.attribute_count = 1;
  scattered.data = str(data);

  PackedEvents batch;
  batch.begin(id, source, type);
  batch.subject(subject);
  batch.attribute(k, v);
  batch.data(data);
  EventPtr a = EventPtr::make(scattered), b = EventPtr::make(EventParts::of(batch.views()[0]));
  CHECK(fields(a.view()) == fields(b.view()));
  CHECK(a.bytes() == b.bytes());
}

TEST_CASE("EventPtr::make: an attribute the host replaces is left out, whatever the layout") {
  PackedEvents batch;
  batch.begin("1", "s", "t");
  batch.attribute("a", "1");
  batch.attribute("sluice-source", "forged");
  batch.attribute("b", "2");
  batch.data("{}");
  EventParts p = EventParts::of(batch.views()[0]);
  p.skip_key = "sluice-source";
  const sluice_attribute extra{str("sluice-source"), str("real")};
  p.extra_attributes = &extra;
  p.extra_attribute_count = 1;
  EventPtr ev = EventPtr::make(p);
  CHECK(fields(ev.view()) == std::vector<std::string>{"=1", "=s", "=t", "-", "0", "={}", "=a:=1",
                                                      "=b:=2", "=sluice-source:=real"});
}

TEST_CASE("EventPtr::make: empty fields stay present and empty; absent ones stay absent") {
  PackedEvents batch;
  batch.begin("", "s", "");
  batch.attribute("", "v");
  batch.data("");
  EventPtr ev = EventPtr::make(EventParts::of(batch.views()[0]));
  CHECK(fields(ev.view()) == std::vector<std::string>{"=", "=s", "=", "-", "0", "=", "=:=v"});
  CHECK(ev.view().id.data != nullptr);
  CHECK(ev.view().data.data != nullptr);
  CHECK(ev.view().data.data[0] == '\0');

  PackedEvents none;
  none.begin("i", "s", "t");  // no subject, no data
  EventPtr bare = EventPtr::make(EventParts::of(none.views()[0]));
  CHECK(bare.view().subject.data == nullptr);
  CHECK(bare.view().data.data == nullptr);
}

TEST_CASE("EventPtr::make: 2000 random events, packed and scattered, come out the same") {
  std::mt19937 rng(11);
  auto random_text = [&](size_t max) {
    std::string s(rng() % (max + 1), ' ');
    for (char& c : s)
      c = static_cast<char>('a' + rng() % 26);
    return s;
  };
  for (int round = 0; round < 2000; ++round) {
    std::vector<std::string> keep;  // the scattered fields, each its own string
    keep.reserve(64);
    auto own = [&](std::string s) { return str(keep.emplace_back(std::move(s))); };
    EventParts scattered;
    PackedEvents batch;
    const std::string id = random_text(8), source = random_text(8), type = random_text(8);
    batch.begin(id, source, type);
    scattered.id = own(id);
    scattered.source = own(source);
    scattered.type = own(type);
    if (rng() % 2) {
      const std::string subject = random_text(6);
      batch.subject(subject);
      scattered.subject = own(subject);
    }
    std::vector<sluice_attribute> attrs;
    const size_t n = rng() % 20;
    for (size_t i = 0; i < n; ++i) {
      const std::string k = random_text(5), v = random_text(12);
      batch.attribute(k, v);
      attrs.push_back({own(k), own(v)});
    }
    scattered.attributes = attrs.data();
    scattered.attribute_count = attrs.size();
    if (rng() % 3) {
      const std::string data = random_text(40);
      batch.data(data);
      scattered.data = own(data);
    }
    EventPtr a = EventPtr::make(scattered), b = EventPtr::make(EventParts::of(batch.views()[0]));
    REQUIRE(fields(a.view()) == fields(b.view()));
    REQUIRE(a.bytes() == b.bytes());
  }
}
