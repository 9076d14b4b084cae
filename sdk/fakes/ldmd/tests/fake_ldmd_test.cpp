// The fake ldmd on its own: script parsing, document shapes, and the XMPP handshake as a raw
// TLS client sees it.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <sluice/fakes/ldmd.hpp>

#include "ldm_event_mapper.hpp"
#include "ldm_protocol.hpp"
#include "xml_stream_framer.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

namespace ldmd = sluice::fakes::ldmd;
namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;

TEST_CASE("script lines: event, xml, sleep, fault; comments and blank lines skipped") {
  auto steps = ldmd::parse_script(
      "# a comment\n"
      R"({"event": "add-vcpu", "domain": "ldg2", "properties": {"number": 8}, "rate": 50, "repeat": 3})"
      "\n\n"
      R"({"xml": "<LDM_event/>"})"
      "\n"
      R"({"sleep": "250ms"})"
      "\n"
      R"({"fault": "oversized", "bytes": "1MiB"})"
      "\n");
  REQUIRE(steps.size() == 4);
  CHECK(steps[0].kind == ldmd::Step::Kind::event);
  CHECK(steps[0].action == "add-vcpu");
  CHECK(steps[0].domain == "ldg2");
  CHECK(steps[0].properties == std::vector<std::pair<std::string, std::string>>{{"number", "8"}});
  CHECK(steps[0].rate == 50);
  CHECK(steps[0].repeat == 3);
  CHECK(steps[1].xml == "<LDM_event/>");
  CHECK(steps[2].sleep == std::chrono::milliseconds(250));
  CHECK(steps[3].fault == "oversized");
  CHECK(steps[3].bytes == 1024 * 1024);
}

TEST_CASE("script mistakes name the line") {
  CHECK_THROWS_WITH(ldmd::parse_script("{\"sleep\": 1}\n{\"fault\": \"boom\"}"),
                    "script line 2: unknown fault 'boom'");
  CHECK_THROWS_WITH(ldmd::parse_script("{\"what\": 1}"),
                    "script line 1: expected one of event, xml, sleep, fault");
  CHECK_THROWS_AS(ldmd::parse_script("not json"), std::invalid_argument);
}

TEST_CASE("script numbers that do not fit are refused, not converted") {
  // Found by fuzz.fake_ldmd_script: a size beyond uint64_t was converted with undefined behaviour.
  CHECK_THROWS_WITH(
      ldmd::parse_script(R"({"fault": "split", "bytes": 155555555555555555555555555555})"),
      doctest::Contains("script line 1"));
  CHECK_THROWS_AS(ldmd::parse_script(R"({"event": "start-domain", "repeat": -1})"),
                  std::invalid_argument);
  CHECK_THROWS_AS(ldmd::parse_script(R"({"event": "start-domain", "repeat": 2.5})"),
                  std::invalid_argument);
  CHECK_THROWS_AS(ldmd::parse_script(R"({"event": "start-domain", "rate": 1e-300})"),
                  std::invalid_argument);
  CHECK_THROWS_AS(ldmd::parse_script(R"({"fault": "glue", "count": 1e30})"), std::invalid_argument);
  CHECK(ldmd::parse_script(R"({"event": "start-domain", "repeat": 3, "rate": 0.5})")[0].repeat ==
        3);
}

TEST_CASE("every documented action renders to a document the plugin's mapper reads") {
  sluice::ldm::EventMapper mapper("h");
  auto steps = ldmd::every_action_script("ldg4");
  CHECK(steps.size() == 9 + 42 + 3 + 1);
  for (const auto& step : steps) {
    CAPTURE(step.action);
    sluice::Event e = mapper.map(ldmd::render_event(step), "1");
    CHECK(e.type == "ldm." + ldmd::event_class(step) + "." + step.action);
    if (ldmd::event_class(step) == "hardware")
      CHECK_FALSE(e.subject);
    else
      CHECK(*e.subject == "ldg4");
  }
}

TEST_CASE("documents carry the documented flaws: id vs ovf:id, _type vs _Type, no xmlns") {
  ldmd::Step domain, resource, hardware;
  domain.action = "start-domain";
  resource.action = "add-vdisk";
  hardware.action = "set-spconfig";
  std::string d = ldmd::render_event(domain), r = ldmd::render_event(resource),
              h = ldmd::render_event(hardware);
  CHECK(d.find("ovf:id='ldg1'") != std::string::npos);
  CHECK(d.find("xmlns") == std::string::npos);
  CHECK(r.find(" id='ldg1'") != std::string::npos);
  CHECK(r.find("ResourceAllocationSection_Type") != std::string::npos);
  CHECK(r.find("<rasd:OtherResourceType>disk</rasd:OtherResourceType>") != std::string::npos);
  CHECK(h.find("ResourceAllocationSection_type") != std::string::npos);
  CHECK(h.find("<Content") == std::string::npos);
  CHECK(h.find("key='spconfig_name'") != std::string::npos);
}

namespace {

// Reads whole depth-1 elements with the plugin's framer.
struct Reader {
  sluice::ldm::XmlStreamFramer framer;
  std::vector<sluice::ldm::FramedItem> items;

  void reset() {
    framer.reset();
    items.clear();
  }

  template <typename Stream>
  std::string next(Stream& s) {
    while (true) {
      for (size_t i = 0; i < items.size(); ++i)
        if (items[i].kind != sluice::ldm::FramedItem::Kind::stream_open) {
          std::string text = items[i].text;
          items.erase(items.begin(), items.begin() + static_cast<long>(i) + 1);
          return text;
        }
      items.clear();
      char buf[4096];
      size_t n = s.read_some(asio::buffer(buf));
      REQUIRE(framer.feed(std::string_view(buf, n), items));
    }
  }
};

}  // namespace

TEST_CASE(
    "remote-mode handshake as a raw client sees it: STARTTLS, SASL PLAIN, restart, register") {
  ldmd::Options o;
  ldmd::Step s;
  s.action = "start-domain";
  o.script = {s};
  ldmd::FakeLdmd fake(o);
  asio::io_context io;
  ssl::context ctx(ssl::context::tls_client);
  ctx.set_verify_mode(ssl::verify_none);
  ssl::stream<tcp::socket> tls(io, ctx);
  tls.next_layer().connect({asio::ip::make_address("127.0.0.1"), fake.port()});
  Reader f;
  const std::string header(sluice::ldm::kStreamHeader);

  asio::write(tls.next_layer(), asio::buffer(header));
  CHECK(sluice::ldm::parse_features(f.next(tls.next_layer())).starttls);
  asio::write(tls.next_layer(), asio::buffer(std::string(sluice::ldm::kStartTls)));
  CHECK(sluice::ldm::root_name(f.next(tls.next_layer())) == "proceed");
  tls.handshake(ssl::stream_base::client);
  f.reset();
  asio::write(tls, asio::buffer(header));
  CHECK(sluice::ldm::parse_features(f.next(tls)).offers("PLAIN"));
  asio::write(tls, asio::buffer(sluice::ldm::sasl_plain_auth("admin", "secret")));
  CHECK(sluice::ldm::root_name(f.next(tls)) == "success");
  f.reset();
  asio::write(tls, asio::buffer(header));
  CHECK(sluice::ldm::parse_features(f.next(tls)).parsed);
  asio::write(tls, asio::buffer(sluice::ldm::interface_request("reg-domain-events")));
  auto response = sluice::ldm::parse_response(f.next(tls));
  CHECK(response.success);
  CHECK(response.action == "reg-domain-events");
  CHECK(sluice::ldm::root_name(f.next(tls)) == "LDM_event");
  CHECK(fake.wait([](const ldmd::Stats& st) { return st.script_done && st.events_sent == 1; }));
  CHECK(fake.stats().auth_ok == 1);
  CHECK(fake.stats().requests == std::vector<std::string>{"reg-domain-events"});
}

TEST_CASE("hardware registration does not bring domain events (they are counted as skipped)") {
  ldmd::Options o;
  o.local_mode = true;
  o.script = ldmd::every_action_script();
  ldmd::FakeLdmd fake(o);
  asio::io_context io;
  ssl::context ctx(ssl::context::tls_client);
  ctx.set_verify_mode(ssl::verify_none);
  ssl::stream<tcp::socket> tls(io, ctx);
  tls.next_layer().connect({asio::ip::make_address("127.0.0.1"), fake.port()});
  Reader f;
  const std::string header(sluice::ldm::kStreamHeader);
  asio::write(tls.next_layer(), asio::buffer(header));
  f.next(tls.next_layer());
  asio::write(tls.next_layer(), asio::buffer(std::string(sluice::ldm::kStartTls)));
  f.next(tls.next_layer());
  tls.handshake(ssl::stream_base::client);
  f.reset();
  asio::write(tls, asio::buffer(header));
  f.next(tls);  // local mode: features without SASL, requests go straight in
  asio::write(tls, asio::buffer(sluice::ldm::interface_request("reg-hardware-events")));
  CHECK(sluice::ldm::parse_response(f.next(tls)).success);
  REQUIRE(fake.wait([](const ldmd::Stats& st) { return st.script_done; }));
  CHECK(fake.stats().events_sent == 4);  // three spconfig actions + the progress event
  CHECK(fake.stats().events_skipped == 51);
}
