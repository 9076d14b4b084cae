// The SDK's side of the ABI rules: optional descriptor entries only for classes that have them,
// and the oldest host minor a plugin needs.
#include <doctest/doctest.h>

#include <sluice/core/plugin_host.hpp>
#include <sluice/sdk.hpp>

#include <string>

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
sluice_plugin_descriptor make() {
  return sluice::detail::Adapter<T>::make("t", "1.0.0", "test", "{}");
}

}  // namespace

TEST_CASE("sdk: reopen is in the descriptor only for a class that defines it") {
  CHECK_FALSE(set(make<PlainSource>().reopen));
  CHECK_FALSE(set(make<PlainSink>().reopen));
  CHECK(set(make<ReopeningSource>().reopen));
  CHECK(set(make<AsyncSink>().reopen));
  CHECK(set(make<DerivedAsyncSink>().reopen));
}

TEST_CASE("sdk: max_in_flight is in the descriptor only for a sink that defines it") {
  CHECK_FALSE(set(make<PlainSource>().max_in_flight));
  CHECK_FALSE(set(make<PlainSink>().max_in_flight));
  auto d = make<DerivedAsyncSink>();
  REQUIRE(set(d.max_in_flight));
  CHECK(set(d.deliver));
}

TEST_CASE("sdk: the descriptor states the oldest host minor the plugin needs") {
  CHECK(make<PlainSink>().api_minor == SLUICE_API_VERSION_MINOR);  // default: the header's
  CHECK(make<ModestSink>().api_minor == ModestSink::sluice_min_host_minor);
  CHECK(make<ModestSink>().struct_size == sizeof(sluice_plugin_descriptor));
  // A host of exactly that minor takes it; one minor older (here: the plugin claiming one more)
  // is refused, naming both versions and the file.
  auto d = make<ModestSink>();
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
