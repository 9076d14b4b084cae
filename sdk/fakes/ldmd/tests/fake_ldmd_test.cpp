// The fake ldmd on its own: script parsing, document shapes, and the XMPP handshake as a raw
// TLS client sees it. The client side is written out byte for byte here (no codec of the fake's
// or of the ldm_xml plugin), so neither can hide a framing bug of its own; that the plugin reads
// the fake's documents is tested in plugins/ldm_xml/tests.
#include <doctest/doctest.h>

#include <sluice/fakes/ldmd.hpp>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <string>
#include <utility>

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

// What a client of RFC 6120 writes, spelled out.
const std::string kHeader =
    "<?xml version='1.0'?><stream:stream xml:lang=\"en\" version=\"1.0\" id=\"xmpp\">";
const std::string kStartTls = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
// base64("\0admin\0secret"), RFC 4616 PLAIN without authzid.
const std::string kAuth =
    "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFkbWluAHNlY3JldA==</auth>";
std::string registration(const std::string& action) {
  return "<LDM_interface version=\"1.0\"><cmd><action>" + action +
         "</action><data version=\"3.0\"/></cmd></LDM_interface>";
}

// Bytes from the server, taken up to and including a marker the test names.
struct Reader {
  std::string buf;

  template <typename Stream>
  std::string until(Stream& s, const std::string& marker) {
    while (true) {
      size_t at = buf.find(marker);
      if (at != std::string::npos) {
        std::string text = buf.substr(0, at + marker.size());
        buf.erase(0, at + marker.size());
        return text;
      }
      char tmp[4096];
      size_t n = s.read_some(asio::buffer(tmp));
      buf.append(tmp, n);
    }
  }
};

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A raw client connected to the fake; starttls() does the steps every test shares: stream
// header, features, STARTTLS, proceed, the TLS handshake, the stream header again.
struct Client {
  explicit Client(uint16_t port) {
    ctx.set_verify_mode(ssl::verify_none);
    tls.next_layer().connect({asio::ip::make_address("127.0.0.1"), port});
  }
  // Returns the answers: the first features and the proceed.
  std::pair<std::string, std::string> starttls() {
    asio::write(tls.next_layer(), asio::buffer(kHeader));
    std::string features = f.until(tls.next_layer(), "</stream:features>");
    asio::write(tls.next_layer(), asio::buffer(kStartTls));
    std::string proceed = f.until(tls.next_layer(), "/>");
    REQUIRE(f.buf.empty());  // nothing the TLS handshake should read
    tls.handshake(ssl::stream_base::client);
    asio::write(tls, asio::buffer(kHeader));
    return {features, proceed};
  }
  asio::io_context io;
  ssl::context ctx{ssl::context::tls_client};
  ssl::stream<tcp::socket> tls{io, ctx};
  Reader f;
};

}  // namespace

TEST_CASE(
    "remote-mode handshake as a raw client sees it: STARTTLS, SASL PLAIN, restart, register") {
  ldmd::Options o;
  ldmd::Step s;
  s.action = "start-domain";
  o.script = {s};
  ldmd::FakeLdmd fake(o);
  Client c(fake.port());
  auto& tls = c.tls;
  auto& f = c.f;
  const auto [features, proceed] = c.starttls();
  CHECK(has(features, "<stream:stream "));
  CHECK(has(features, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>"));
  CHECK(has(proceed, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'"));
  CHECK(has(f.until(tls, "</stream:features>"), "<mechanism>PLAIN</mechanism>"));
  asio::write(tls, asio::buffer(kAuth));
  CHECK(has(f.until(tls, "/>"), "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'"));
  asio::write(tls, asio::buffer(kHeader));
  CHECK_FALSE(has(f.until(tls, "</stream:features>"), "mechanism"));
  asio::write(tls, asio::buffer(registration("reg-domain-events")));
  const std::string response = f.until(tls, "</LDM_interface>");
  CHECK(has(response, "<action>reg-domain-events</action>"));
  CHECK(has(response, "<status>success</status>"));
  CHECK_FALSE(has(response, "failure"));
  CHECK(has(f.until(tls, "</LDM_event>"), "<action>start-domain</action>"));
  CHECK(fake.wait([](const ldmd::Stats& st) { return st.script_done && st.events_sent == 1; }));
  CHECK(fake.stats().auth_ok == 1);
  CHECK(fake.stats().requests == std::vector<std::string>{"reg-domain-events"});
}

TEST_CASE("hardware registration does not bring domain events (they are counted as skipped)") {
  ldmd::Options o;
  o.local_mode = true;
  o.script = ldmd::every_action_script();
  ldmd::FakeLdmd fake(o);
  Client c(fake.port());
  auto& tls = c.tls;
  auto& f = c.f;
  c.starttls();
  f.until(tls, "</stream:features>");  // local mode: features without SASL, requests go straight in
  asio::write(tls, asio::buffer(registration("reg-hardware-events")));
  CHECK(has(f.until(tls, "</LDM_interface>"), "<status>success</status>"));
  REQUIRE(fake.wait([](const ldmd::Stats& st) { return st.script_done; }));
  CHECK(fake.stats().events_sent == 4);  // three spconfig actions + the progress event
  CHECK(fake.stats().events_skipped == 51);
}

namespace {
// After STARTTLS and the restarted stream (remote mode): sends `auth`, returns the answer.
std::string sasl_answer(const std::string& auth) {
  ldmd::Options o;
  ldmd::FakeLdmd fake(o);
  Client c(fake.port());
  c.starttls();
  c.f.until(c.tls, "</stream:features>");
  asio::write(c.tls, asio::buffer(auth));
  return c.f.until(c.tls, "/>");
}
}  // namespace

TEST_CASE("SASL PLAIN as RFC 4616 and RFC 4648 define it: anything else is not-authorized") {
  const std::string open = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>";
  // The right user and password, as the RFCs write them: success.
  CHECK(has(sasl_answer(open + "AGFkbWluAHNlY3JldA==</auth>"), "<success"));
  // authzid = authcid: the same identity, success.
  CHECK(has(sasl_answer(open + "YWRtaW4AYWRtaW4Ac2VjcmV0</auth>"), "<success"));
  // authzid "root" for authcid "admin": acting as another identity is not granted.
  CHECK(has(sasl_answer(open + "cm9vdABhZG1pbgBzZWNyZXQ=</auth>"), "<not-authorized"));
  // The same credentials with a line break inside the base64, and without the padding: not
  // canonical base64 (RFC 4648 3.1, 3.2), so not credentials at all.
  CHECK(has(sasl_answer(open + "AGFkbWluAHNl\nY3JldA==</auth>"), "<not-authorized"));
  CHECK(has(sasl_answer(open + "AGFkbWluAHNlY3JldA</auth>"), "<not-authorized"));
}
