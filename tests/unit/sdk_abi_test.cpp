// The SDK's side of the ABI rules: optional descriptor entries only for classes that have them,
// the oldest host minor a plugin needs, and a test harness that checks struct_size as the host
// does.
#include <doctest/doctest.h>

#include <sluice/core/plugin_host.hpp>
#include <sluice/sdk.hpp>
#include <sluice/testing.hpp>

#include "test_plugin_dir.hpp"

#include <string>
#include <thread>

namespace {

struct PlainSource : sluice::Source {
  PlainSource(sluice::Host h, const nlohmann::json&) : Source(h) {}
};
struct ReopeningSource : sluice::Source {
  ReopeningSource(sluice::Host h, const nlohmann::json&) : Source(h) {}
  void reopen() override {}
};
struct PlainSink : sluice::Sink {
  PlainSink(sluice::Host h, const nlohmann::json&) : Sink(h) {}
  sluice::Delivery deliver(const sluice::Batch&) override { return sluice::Delivery::ok(); }
};
struct AsyncSink : sluice::Sink {
  AsyncSink(sluice::Host h, const nlohmann::json&) : Sink(h) {}
  void deliver_async(const sluice::Batch&, sluice::Completion done) override {
    done(sluice::Delivery::ok());
  }
  uint32_t max_in_flight() const override { return 8; }
  void reopen() override {}
};
struct DerivedAsyncSink : AsyncSink {  // inherits all three from AsyncSink
  using AsyncSink::AsyncSink;
};
struct ModestSink : PlainSink {
  using PlainSink::PlainSink;
  static constexpr uint16_t sluice_min_host_minor = 0;
};

// Is this descriptor entry filled in?
template <typename F>
bool set(F* f) {
  return f != nullptr;
}

template <typename T>
sluice_plugin_descriptor descriptor_of() {
  return sluice::detail::Adapter<T>::make("t", "1.0.0", "test", "{}");
}

}  // namespace

TEST_CASE("sdk: reopen is in the descriptor only for a class that defines it") {
  CHECK_FALSE(set(descriptor_of<PlainSource>().reopen));
  CHECK_FALSE(set(descriptor_of<PlainSink>().reopen));
  CHECK(set(descriptor_of<ReopeningSource>().reopen));
  CHECK(set(descriptor_of<AsyncSink>().reopen));
  CHECK(set(descriptor_of<DerivedAsyncSink>().reopen));
}

TEST_CASE("sdk: max_in_flight is in the descriptor only for a sink that defines it") {
  CHECK_FALSE(set(descriptor_of<PlainSource>().max_in_flight));
  CHECK_FALSE(set(descriptor_of<PlainSink>().max_in_flight));
  auto d = descriptor_of<DerivedAsyncSink>();
  REQUIRE(set(d.max_in_flight));
  CHECK(set(d.deliver));
}

TEST_CASE("sdk: the descriptor states the oldest host minor the plugin needs") {
  CHECK(descriptor_of<PlainSink>().api_minor == SLUICE_API_VERSION_MINOR);  // default: the header's
  CHECK(descriptor_of<ModestSink>().api_minor == ModestSink::sluice_min_host_minor);
  CHECK(descriptor_of<ModestSink>().struct_size == sizeof(sluice_plugin_descriptor));
  // A host of exactly that minor takes it; one minor older (here: the plugin claiming one more)
  // is refused, naming both versions and the file.
  auto d = descriptor_of<ModestSink>();
  CHECK_NOTHROW(sluice::core::check_descriptor(&d, "/p/sluice_t.so", std::nullopt,
                                               {1, ModestSink::sluice_min_host_minor}));
  d.api_minor = ModestSink::sluice_min_host_minor + 1;
  std::string e;
  try {
    sluice::core::check_descriptor(&d, "/p/sluice_t.so", std::nullopt,
                                   {1, ModestSink::sluice_min_host_minor});
  } catch (const sluice::core::PluginError& x) {
    e = x.what();
  }
  CHECK(e == "plugin /p/sluice_t.so was built for sluice plugin API 1." +
                 std::to_string(ModestSink::sluice_min_host_minor + 1) + "; this sluice speaks 1." +
                 std::to_string(ModestSink::sluice_min_host_minor));
}

// ---- the SDK's test harness holds plugins to the same struct_size rules as the host ----------

namespace {

// Emits one event with the given struct_size from start() and remembers what emit returned.
struct SizedEmitter : sluice::Source {
  SizedEmitter(sluice::Host h, const nlohmann::json& o) : Source(h), size(o.value("size", 0u)) {}
  void start() override {
    sluice_event e{};
    e.struct_size = size;
    e.id = sluice::to_str("1");
    e.source = sluice::to_str("test://sized");
    e.type = sluice::to_str("test.sized");
    status() = host().api()->emit(host().context(), &e, 1);
  }
  static sluice_status& status() {
    static sluice_status s = SLUICE_ERROR;
    return s;
  }
  uint32_t size;
};

}  // namespace

TEST_CASE("harness: an emit whose events do not have the frozen struct_size is refused") {
  static const auto d = descriptor_of<SizedEmitter>();
  sluice::testing::Harness h(&d);
  auto& bad = h.create(R"({"size": )" + std::to_string(sizeof(sluice_event) + 8) + "}");
  bad.start();
  CHECK(SizedEmitter::status() == SLUICE_INVALID);
  CHECK(h.events().empty());
  auto& good = h.create(R"({"size": )" + std::to_string(sizeof(sluice_event)) + "}");
  good.start();
  CHECK(SizedEmitter::status() == SLUICE_OK);
  CHECK(h.events().size() == 1);
}

TEST_CASE("harness: a delivery result shorter than 1.0's is a rejection, not OK") {
  sluice::testing::Harness h(kTestPluginDir + "/sluice_short_result.so");
  auto& sink = h.create();
  sluice::Event e;
  e.id = "1";
  e.source = "test://x";
  e.type = "test.event";
  auto d = h.deliver(sink, {e});
  CHECK(d.code == SLUICE_DELIVERY_REJECT);
  CHECK(d.reason == "invalid delivery result: struct_size 8 below API 1.0's " +
                        std::to_string(SLUICE_DELIVERY_RESULT_MIN_SIZE_1_0));
}

TEST_CASE("harness: the frozen-1.0 sink checks the events the SDK hands it") {
  sluice::testing::Harness h(kTestPluginDir + "/sluice_abi10_sink.so");
  auto& sink = h.create();
  std::vector<sluice::Event> evs(3);
  for (size_t i = 0; i < evs.size(); ++i) {
    evs[i].id = std::to_string(i);
    evs[i].source = "test://x";
    evs[i].type = "test.abi_v1_0";
    evs[i].subject = "frozen";
    evs[i].attributes = {{"abi", "1.0"}};
    evs[i].data = "{\"n\":" + std::to_string(i) + "}";
  }
  CHECK(h.deliver(sink, evs).code == SLUICE_DELIVERY_OK);
  CHECK(h.metric("delivered") == 3);
  CHECK(h.metric("malformed") == 0);
}

// ---- 1.1 check_options: only for a class that declares it; problems as a JSON array ---------

namespace {

// Refuses "n" below 1 and, in the same code path as its constructor, a missing "name".
struct CheckedSink : PlainSink {
  static sluice::OptionProblems check_options(const nlohmann::json& o) {
    sluice::OptionProblems problems;
    if (o.value("n", 1) < 1) problems.push_back({"/n", "n must be at least 1"});
    if (!o.contains("name")) problems.push_back({"", "name is required"});
    if (o.value("boom", false)) throw std::runtime_error("the check broke");
    return problems;
  }
  CheckedSink(sluice::Host h, const nlohmann::json& o) : PlainSink(h, o) {
    if (auto p = check_options(o); !p.empty()) throw std::runtime_error(p.front().message);
  }
};
struct DerivedCheckedSink : CheckedSink {
  using CheckedSink::CheckedSink;
};

}  // namespace

TEST_CASE("sdk: check_options is in the descriptor only for a class that declares it") {
  CHECK_FALSE(set(descriptor_of<PlainSource>().check_options));
  CHECK_FALSE(set(descriptor_of<PlainSink>().check_options));
  CHECK_FALSE(set(descriptor_of<ModestSink>().check_options));
  CHECK(set(descriptor_of<CheckedSink>().check_options));
  CHECK(set(descriptor_of<DerivedCheckedSink>().check_options));
  auto d = descriptor_of<CheckedSink>();
  CHECK(SLUICE_HAS_FIELD(&d, sluice_plugin_descriptor, check_options));
}

TEST_CASE("sdk: the check_options entry answers OK, INVALID with a JSON array, or ERROR") {
  auto d = descriptor_of<CheckedSink>();
  const char* text = nullptr;
  CHECK(d.check_options(R"({"name": "x", "n": 2})", &text) == SLUICE_OK);
  REQUIRE(d.check_options(R"({"n": 0})", &text) == SLUICE_INVALID);
  REQUIRE(text != nullptr);
  CHECK(nlohmann::json::parse(text) ==
        nlohmann::json::parse(R"([{"pointer": "/n", "message": "n must be at least 1"},
                                  {"pointer": "", "message": "name is required"}])"));
  CHECK(d.check_options(R"({"name": "x", "boom": true})", &text) == SLUICE_ERROR);
  CHECK(std::string(text) == "the check broke");
  CHECK(d.check_options("{not json", &text) == SLUICE_ERROR);
  CHECK(std::string(text).find("parse") != std::string::npos);
}

TEST_CASE("harness: check() calls check_options as the host does") {
  static const auto checked = descriptor_of<CheckedSink>();
  sluice::testing::Harness h(&checked);
  CHECK(h.check(R"({"name": "x"})").empty());
  CHECK(h.check(R"({"n": -3, "name": "x"})") ==
        sluice::OptionProblems{{"/n", "n must be at least 1"}});
  CHECK_THROWS_WITH(h.check(R"({"name": "x", "boom": true})"),
                    "check_options failed: the check broke");
  // The constructor refuses with the first problem's message: the same code path.
  CHECK_THROWS_WITH(h.create(R"({"n": 0})"), "n must be at least 1");

  static const auto plain = descriptor_of<PlainSink>();
  sluice::testing::Harness without(&plain);
  CHECK_THROWS_WITH(without.check("{}"), "plugin t has no check_options");
}

TEST_CASE("sdk: problems travel as a JSON array; anything else is refused when read") {
  sluice::OptionProblems problems{{"/tls/ca_file", "tls.ca_file: cannot read /x: gone"},
                                  {"", "no single option"}};
  CHECK(sluice::problems_from_json(sluice::problems_to_json(problems)) == problems);
  CHECK(sluice::problems_from_json(R"([{"message": "m"}])") == sluice::OptionProblems{{"", "m"}});
  CHECK_THROWS(sluice::problems_from_json("not json"));
  CHECK_THROWS(sluice::problems_from_json(R"({"message": "m"})"));
  CHECK_THROWS(sluice::problems_from_json(R"([{"pointer": "/a"}])"));
  CHECK_THROWS(sluice::problems_from_json(R"([{"pointer": 3, "message": "m"}])"));
  CHECK_THROWS(sluice::problems_from_json(R"([{"pointer": "a", "message": "m"}])"));
}

TEST_CASE("sdk: read_option records a bad value at its pointer, named as messages name it") {
  sluice::OptionProblems problems;
  CHECK(sluice::read_option(
            problems, "/rate", [] { return 2.5; }, 10.0) == 2.5);
  CHECK(problems.empty());
  CHECK(sluice::read_option(
            problems, "/tls/ca_file", []() -> int { throw std::invalid_argument("bad"); }, 7) == 7);
  CHECK(problems == sluice::OptionProblems{{"/tls/ca_file", "tls.ca_file: bad"}});
  CHECK(sluice::option_name("/a~1b/c~0d") == "a/b.c~d");
  CHECK_THROWS_WITH(sluice::throw_first(problems), "tls.ca_file: bad");
  CHECK_NOTHROW(sluice::throw_first({}));
}

// ---- the host's side of check_options -------------------------------------------------------

namespace {

// A C-style entry answering whatever `answer` and `status` say.
sluice_status g_status = SLUICE_OK;
const char* g_answer = nullptr;
sluice_status scripted_check(const char*, const char** problems) {
  *problems = g_answer;
  return g_status;
}

// Where the check ran: the host calls it on a thread of its own, so that the plugin's
// thread-local answer does not stay on a host thread for the life of the process.
std::thread::id g_checked_on;
sluice_status thread_recording_check(const char*, const char** problems) {
  g_checked_on = std::this_thread::get_id();
  *problems = nullptr;
  return SLUICE_OK;
}

}  // namespace

TEST_CASE("host: check_options answers are read as plugin.h says, anything else is an error") {
  static auto d = descriptor_of<CheckedSink>();
  d.name = "checked";
  sluice::core::PluginHost host;
  host.add_builtin(&d);
  auto plugin = host.load("checked", {});
  CHECK(sluice::core::check_options(*plugin, R"({"name": "x"})") == sluice::OptionProblems{});
  CHECK(sluice::core::check_options(*plugin, R"({"n": 0, "name": "x"})") ==
        sluice::OptionProblems{{"/n", "n must be at least 1"}});
  CHECK_THROWS_WITH(sluice::core::check_options(*plugin, R"({"boom": true})"),
                    "check_options failed: the check broke");

  d.check_options = &scripted_check;
  for (const char* garbage : {"not json", "{}", "[]", R"([{"pointer": "/a"}])"}) {
    g_status = SLUICE_INVALID;
    g_answer = garbage;
    INFO(garbage);
    CHECK_THROWS_WITH(sluice::core::check_options(*plugin, "{}"),
                      doctest::Contains("check_options answered what sluice cannot read"));
  }
  g_status = SLUICE_ERROR;
  g_answer = nullptr;
  CHECK_THROWS_WITH(sluice::core::check_options(*plugin, "{}"),
                    "check_options failed: no reason given");

  d.check_options = &thread_recording_check;
  CHECK(sluice::core::check_options(*plugin, "{}") == sluice::OptionProblems{});
  CHECK(g_checked_on != std::thread::id());
  CHECK(g_checked_on != std::this_thread::get_id());

  // A descriptor too short for the 1.1 entry (a 1.0 plugin) or a NULL entry: nothing to call.
  d.struct_size = SLUICE_DESCRIPTOR_MIN_SIZE_1_0;
  CHECK_FALSE(sluice::core::check_options(*plugin, "{}").has_value());
  d.struct_size = sizeof d;
  d.check_options = nullptr;
  CHECK_FALSE(sluice::core::check_options(*plugin, "{}").has_value());
}
