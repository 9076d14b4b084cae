// LDoms source throughput: events per second from the fake ldmd over loopback TLS through the
// ldm_xml plugin (framing, XML parsing, mapping to JSON) into a counting in-memory host.
// Baseline in the same run: reading the same byte stream over the same TLS path with no parsing.
//
//   ldm_bench [events]      (default 300000; ctest runs it with a tiny count)
#include <sluice/plugin.h>
#include <sluice/fakes/ldmd.hpp>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <dlfcn.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <string>

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace ldmd = sluice::fakes::ldmd;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// The smallest documented shape (a domain event) and a resource event with an Item and three
// properties, which costs more to parse and map.
ldmd::Step shape(const std::string& which, uint64_t n) {
  ldmd::Step s;
  s.domain = "ldg1";
  s.repeat = n;
  if (which == "resource") {
    s.action = "add-vdisk";
    s.properties = {
        {"vdisk_name", "vdisk0"}, {"service_name", "primary-vds0"}, {"vol_name", "vol0"}};
  } else {
    s.action = "start-domain";
  }
  return s;
}

ldmd::Step g_shape;

ldmd::Options fake_options(uint64_t n) {
  ldmd::Options o;
  o.local_mode = true;
  o.close_after_script = true;
  ldmd::Step s = g_shape;
  s.repeat = n;
  o.script = {s};
  return o;
}

// --- baseline: the XMPP handshake by hand, then count bytes until the fake closes ------------
template <typename Stream>
void read_until(Stream& s, std::string& buf, const std::string& needle) {
  char chunk[4096];
  while (buf.find(needle) == std::string::npos) {
    size_t n = s.read_some(asio::buffer(chunk));
    buf.append(chunk, n);
  }
  buf.clear();
}

double baseline(uint64_t n, uint64_t& bytes) {
  ldmd::FakeLdmd fake(fake_options(n));
  asio::io_context io;
  ssl::context ctx(ssl::context::tls_client);
  ctx.set_verify_mode(ssl::verify_none);
  ssl::stream<tcp::socket> stream(io, ctx);
  stream.next_layer().connect({asio::ip::make_address("127.0.0.1"), fake.port()});
  std::string buf;
  const std::string header = "<?xml version='1.0'?><stream:stream xml:lang=\"en\" version=\"1.0\">";
  asio::write(stream.next_layer(), asio::buffer(header));
  read_until(stream.next_layer(), buf, "</stream:features>");
  asio::write(stream.next_layer(),
              asio::buffer(std::string("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")));
  read_until(stream.next_layer(), buf, "<proceed");
  stream.handshake(ssl::stream_base::client);
  asio::write(stream, asio::buffer(header));
  read_until(stream, buf, "</stream:features>");
  const std::string reg =
      "<LDM_interface version=\"1.0\"><cmd><action>reg-all-events</action><data "
      "version=\"3.0\"/></cmd></LDM_interface>";
  auto t0 = Clock::now();
  asio::write(stream, asio::buffer(reg));
  static char chunk[64 * 1024];
  boost::system::error_code ec;
  bytes = 0;
  while (!ec)
    bytes += stream.read_some(asio::buffer(chunk), ec);
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  if (fake.stats().events_sent != n) throw std::runtime_error("baseline: fake sent too few");
  return secs;
}

// --- the plugin into a counting host -----------------------------------------------------------
struct CountingHost {
  std::mutex mutex;
  std::condition_variable done;
  uint64_t events = 0;
  uint64_t want = 0;
};

double through_plugin(uint64_t n, const char* plugin_path) {
  ldmd::FakeLdmd fake(fake_options(n));
  void* lib = dlopen(plugin_path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) throw std::runtime_error(std::string("dlopen: ") + dlerror());
  auto entry = reinterpret_cast<sluice_plugin_entry_fn>(dlsym(lib, SLUICE_PLUGIN_ENTRY_SYMBOL));
  const sluice_plugin_descriptor* d = entry();

  CountingHost counter;
  counter.want = n;
  sluice_host_api api{};
  api.struct_size = sizeof api;
  api.api_major = SLUICE_API_VERSION_MAJOR;
  api.api_minor = SLUICE_API_VERSION_MINOR;
  api.log = [](sluice_host_context*, sluice_log_level level, const char* message) {
    if (level >= SLUICE_LOG_WARN) fprintf(stderr, "plugin: %s\n", message);
  };
  api.emit = [](sluice_host_context* ctx, const sluice_event*, size_t count) {
    auto* c = reinterpret_cast<CountingHost*>(ctx);
    std::lock_guard lock(c->mutex);
    c->events += count;
    if (c->events >= c->want) c->done.notify_all();
    return SLUICE_OK;
  };
  api.report_state = [](sluice_host_context*, sluice_state, const char*) {};
  api.count_metric = [](sluice_host_context*, const char*, int64_t) {};
  api.complete_batch = [](sluice_host_context*, uint64_t, const sluice_delivery_result*) {};

  const std::string options = "{\"host\":\"127.0.0.1\",\"port\":" + std::to_string(fake.port()) +
                              ",\"mode\":\"local\",\"tls\":{\"verify\":false}}";
  void* instance = nullptr;
  const char* error = nullptr;
  if (d->create(&api, reinterpret_cast<sluice_host_context*>(&counter), options.c_str(), &instance,
                &error) != SLUICE_OK)
    throw std::runtime_error(std::string("create: ") + (error ? error : "?"));
  auto t0 = Clock::now();
  if (d->start(instance, &error) != SLUICE_OK)
    throw std::runtime_error(std::string("start: ") + (error ? error : "?"));
  {
    std::unique_lock lock(counter.mutex);
    if (!counter.done.wait_for(lock, std::chrono::minutes(5),
                               [&] { return counter.events >= counter.want; }))
      throw std::runtime_error("plugin: only " + std::to_string(counter.events) + " of " +
                               std::to_string(n) + " events arrived");
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  d->stop(instance);
  d->destroy(instance);
  dlclose(lib);
  return secs;
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t n = argc > 1 ? std::stoull(argv[1]) : 300000;
  try {
    bool all_met = true;
    for (const char* which : {"domain", "resource"}) {
      g_shape = shape(which, n);
      uint64_t bytes = 0;
      double base = baseline(n, bytes);
      double plugin = through_plugin(n, LDM_XML_SO);
      const double doc = static_cast<double>(bytes) / static_cast<double>(n);
      printf("ldm_xml benchmark: %llu %s LDM_event documents (%s, %.0f bytes each), loopback TLS\n",
             static_cast<unsigned long long>(n), which, g_shape.action.c_str(), doc);
      printf("  baseline  raw TLS read, no parsing : %10.0f docs/s  (%.1f MB/s)\n", n / base,
             bytes / base / 1e6);
      printf("  ldm_xml   framed, parsed, mapped   : %10.0f events/s\n", n / plugin);
      printf("  ratio     ldm_xml / baseline       : %10.3f\n", base / plugin);
      all_met = all_met && n / plugin >= 150000;
    }
    printf("goal >= 150000 events/s for both shapes: %s\n", all_met ? "met" : "not met");
  } catch (const std::exception& e) {
    fprintf(stderr, "ldm_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
