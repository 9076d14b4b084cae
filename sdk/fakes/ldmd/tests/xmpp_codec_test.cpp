// The fake ldmd's own XMPP pieces (src/xmpp_codec.hpp). Inputs and expected outputs come from
// RFC 6120 (stream framing, SASL data), RFC 4616 (PLAIN), RFC 4648 (base64 test vectors) and
// the LDoms XML interface guide (registration request), not from the ldm_xml plugin.
#include <doctest/doctest.h>

#include "xmpp_codec.hpp"

#include <stdexcept>
#include <string>
#include <vector>

using namespace sluice::fakes::ldmd::xmpp;
using namespace std::string_literals;

namespace {
// Feeds `wire` in pieces of `chunk` bytes; returns the items, or throws with the error.
std::vector<Item> read_stream(const std::string& wire, size_t chunk = std::string::npos,
                              StreamReader r = StreamReader()) {
  std::vector<Item> out;
  for (size_t i = 0; i < wire.size(); i += chunk)
    if (!r.feed(std::string_view(wire).substr(i, chunk), out)) throw std::runtime_error(r.error());
  return out;
}

// RFC 6120 9.1 style: the client's stream header, two stanzas with the awkward bits (a comment,
// a processing instruction, CDATA holding markup, a quoted '>' and '/', a nested element of the
// stream's own name, a self-closed stanza), whitespace pings between them, and the close.
const std::string kStream =
    "<?xml version='1.0'?>"
    "<stream:stream to='ldmd' xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
    " \n"
    "<LDM_interface version=\"1.0\"><!-- a <comment> --><cmd a='x>y' b=\"/>\">"
    "<?pi <stuff>?><action>reg-domain-events</action>"
    "<data version='3.0'><![CDATA[<not-a-tag></cmd>]]><stream:stream/></data></cmd>"
    "</LDM_interface>"
    "\n  "
    "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
    "</stream:stream>";
}  // namespace

TEST_SUITE("xmpp") {
  TEST_CASE("the stream: its opening tag, each depth-1 element whole, its close") {
    auto items = read_stream(kStream);
    REQUIRE(items.size() == 4);
    CHECK(items[0].kind == Item::Kind::open);
    CHECK(items[0].text.rfind("<stream:stream to='ldmd'", 0) == 0);
    CHECK(items[1].kind == Item::Kind::element);
    CHECK(items[1].text.rfind("<LDM_interface", 0) == 0);
    CHECK(items[1].text.size() - items[1].text.rfind("</LDM_interface>") ==
          std::string("</LDM_interface>").size());
    CHECK(items[2].kind == Item::Kind::element);
    CHECK(items[2].text == "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    CHECK(items[3].kind == Item::Kind::close);
    CHECK(items[3].text == "</stream:stream>");
  }

  TEST_CASE("read boundaries do not matter: every split gives the same items") {
    const auto whole = read_stream(kStream);
    for (size_t chunk : {1, 2, 3, 7, 16}) {
      CAPTURE(chunk);
      const auto split = read_stream(kStream, chunk);
      REQUIRE(split.size() == whole.size());
      for (size_t i = 0; i < whole.size(); ++i)
        CHECK(split[i].text == whole[i].text);
    }
  }

  TEST_CASE("two stanzas in one read, and a stanza split over two") {
    StreamReader r;
    std::vector<Item> out;
    REQUIRE(r.feed("<stream:stream><a/><b>1</b><c>", out));
    REQUIRE(out.size() == 3);
    CHECK(out[1].text == "<a/>");
    CHECK(out[2].text == "<b>1</b>");
    out.clear();
    REQUIRE(r.feed("2</c>", out));
    REQUIRE(out.size() == 1);
    CHECK(out[0].text == "<c>2</c>");
  }

  TEST_CASE("restart: a new stream after STARTTLS or SASL success") {
    StreamReader r;
    std::vector<Item> out;
    REQUIRE(r.feed("<stream:stream><x>half", out));
    r.restart();
    out.clear();
    REQUIRE(r.feed("<?xml version='1.0'?><stream:stream version='1.0'><y/>", out));
    REQUIRE(out.size() == 2);
    CHECK(out[0].kind == Item::Kind::open);
    CHECK(out[1].text == "<y/>");
  }

  TEST_CASE("rule breaks: a DTD, an end tag before the stream, CDATA between stanzas, limits") {
    // RFC 6120 11.1: no DTD in an XML stream.
    CHECK_THROWS_WITH(read_stream("<!DOCTYPE x [<!ENTITY a 'b'>]><stream:stream>"),
                      "a DOCTYPE or other markup declaration in the stream");
    CHECK_THROWS_WITH(read_stream("</stream:stream>"),
                      "an end tag before the stream's opening tag");
    CHECK_THROWS_WITH(read_stream("<stream:stream><![CDATA[x]]>"), "CDATA outside an element");
    CHECK_THROWS_WITH(read_stream("<s>" + std::string(40, 'x') + "<a><a><a><a>", std::string::npos,
                                  StreamReader(1 << 20, 3)),
                      "elements nested deeper than 3");
    CHECK_THROWS_WITH(
        read_stream("<s><big>" + std::string(100, 'x'), std::string::npos, StreamReader(64, 8)),
        "an element over 64 bytes");
    // Whitespace pings between stanzas are not kept, so they never count against the limit.
    CHECK(read_stream("<s>" + std::string(1000, ' ') + "<a/>", 10, StreamReader(64, 8)).size() ==
          2);
  }

  TEST_CASE("root_name: the local name of a well-formed element") {
    CHECK(root_name("<stream:features><starttls/></stream:features>") == "features");
    CHECK(root_name("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>=</auth>") == "auth");
    CHECK(root_name("<LDM_interface><cmd></LDM_interface>") == "");
  }

  TEST_CASE("base64: the RFC 4648 section 10 test vectors, and what is not base64") {
    const std::vector<std::pair<std::string, std::string>> vectors = {{"", ""},
                                                                      {"Zg==", "f"},
                                                                      {"Zm8=", "fo"},
                                                                      {"Zm9v", "foo"},
                                                                      {"Zm9vYg==", "foob"},
                                                                      {"Zm9vYmE=", "fooba"},
                                                                      {"Zm9vYmFy", "foobar"}};
    std::string out;
    for (const auto& [in, want] : vectors) {
      CAPTURE(in);
      REQUIRE(base64_decode(in, out));
      CHECK(out == want);
    }
    REQUIRE(base64_decode("=", out));  // RFC 6120 6.4.2: the empty response
    CHECK(out.empty());
    for (std::string bad : {"Zg=", "Zg", "Z===", "Zg==Zg==", "Zm9v\n", "Zm 9", "Zm-v", "Zh=="})
      CHECK_MESSAGE(!base64_decode(bad, out), bad);  // "Zh==": non-zero bits under the padding
  }

  TEST_CASE("SASL PLAIN: the RFC 4616 and RFC 6120 examples") {
    // RFC 4616 section 4: authcid "tim", password "tanstaaftanstaaf", no authzid.
    auto tim = sasl_plain(
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
        "mechanism='PLAIN'>AHRpbQB0YW5zdGFhZnRhbnN0YWFm</auth>");
    REQUIRE(tim);
    CHECK(tim->authzid.empty());
    CHECK(tim->authcid == "tim");
    CHECK(tim->password == "tanstaaftanstaaf");
    // RFC 6120 9.2: juliet / r0m30myr0m30.
    auto juliet = sasl_plain(
        "<auth xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\" "
        "mechanism=\"PLAIN\">AGp1bGlldAByMG0zMG15cjBtMzA=</auth>");
    REQUIRE(juliet);
    CHECK(juliet->authcid == "juliet");
    CHECK(juliet->password == "r0m30myr0m30");
    // authzid given: "admin" NUL "admin" NUL "secret".
    auto authz = sasl_plain("<auth mechanism='PLAIN'>YWRtaW4AYWRtaW4Ac2VjcmV0</auth>");
    REQUIRE(authz);
    CHECK(authz->authzid == "admin");
    CHECK(authz->password == "secret");
    // Malformed: another mechanism, one NUL only, an empty password, not base64, not XML.
    CHECK_FALSE(sasl_plain("<auth mechanism='DIGEST-MD5'>AGFkbWluAHNlY3JldA==</auth>"));
    CHECK_FALSE(sasl_plain("<auth mechanism='PLAIN'>YWRtaW4Ac2VjcmV0</auth>"));  // admin NUL secret
    CHECK_FALSE(sasl_plain("<auth mechanism='PLAIN'>AGFkbWluAA==</auth>"));      // NUL admin NUL
    CHECK_FALSE(sasl_plain("<auth mechanism='PLAIN'>not base64!</auth>"));
    CHECK_FALSE(sasl_plain("<auth mechanism='PLAIN'>AGFkbWluAHNlY3JldA=="));
  }

  TEST_CASE("LDM_interface requests: the action, as the guide writes them") {
    CHECK(request_action("<LDM_interface version=\"1.0\">\n  <cmd>\n    <action>reg-domain-events"
                         "</action>\n    <data version=\"3.0\"/>\n  </cmd>\n</LDM_interface>") ==
          "reg-domain-events");
    CHECK(request_action("<LDM_interface version='1.0'><cmd><action>\n unreg-all-events \n"
                         "</action></cmd></LDM_interface>") == "unreg-all-events");
    CHECK_FALSE(request_action("<LDM_interface><cmd><data/></cmd></LDM_interface>"));
    CHECK_FALSE(request_action("<LDM_event><cmd><action>x</action></cmd></LDM_event>"));
    CHECK_FALSE(request_action("<LDM_interface><cmd><action>x</action></cmd>"));
  }
}
