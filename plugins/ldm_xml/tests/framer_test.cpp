// xml_stream_framer: depth-1 elements out of an XMPP byte stream, whatever the read boundaries.
#include <doctest/doctest.h>

#include "ldm_examples.hpp"
#include "xml_stream_framer.hpp"

#include <string>
#include <vector>

using sluice::ldm::FramedItem;
using sluice::ldm::FramerLimits;
using sluice::ldm::XmlStreamFramer;
using Kind = FramedItem::Kind;

namespace {

const std::string kHeader =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' id='ldmd-1' version='1.0'>";

struct Result {
  bool ok = true;
  std::string error;
  std::vector<FramedItem> items;
  std::vector<std::string> elements() const {
    std::vector<std::string> out;
    for (const auto& i : items)
      if (i.kind == Kind::element) out.push_back(i.text);
    return out;
  }
};

Result feed_chunks(const std::vector<std::string>& chunks, FramerLimits limits = {}) {
  XmlStreamFramer f(limits);
  Result r;
  for (const auto& c : chunks) {
    if (!f.feed(c, r.items)) {
      r.ok = false;
      r.error = f.error();
      break;
    }
  }
  return r;
}

Result feed_all(const std::string& text, FramerLimits limits = {}) {
  return feed_chunks({text}, limits);
}

// Every way of cutting `text` in two, plus one byte per read.
void check_every_split(const std::string& prefix, const std::string& doc) {
  const std::string text = prefix + doc;
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    Result r = feed_chunks({text.substr(0, cut), text.substr(cut)});
    INFO("cut at " << cut);
    REQUIRE(r.ok);
    REQUIRE(r.elements() == std::vector<std::string>{doc});
  }
  XmlStreamFramer f;
  std::vector<FramedItem> items;
  for (char c : text)
    REQUIRE(f.feed(std::string_view(&c, 1), items));
  REQUIRE(items.size() == 2);
  CHECK(items[1].text == doc);
}

}  // namespace

TEST_CASE("the stream header is reported once, with the XML declaration skipped") {
  Result r = feed_all(kHeader);
  REQUIRE(r.ok);
  REQUIRE(r.items.size() == 1);
  CHECK(r.items[0].kind == Kind::stream_open);
  CHECK(r.items[0].text ==
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
        "id='ldmd-1' version='1.0'>");
}

TEST_CASE("a stream header without a declaration and with a different prefix is accepted") {
  Result r = feed_all("<s:stream version='1.0'><a/>");
  REQUIRE(r.ok);
  REQUIRE(r.items.size() == 2);
  CHECK(r.items[1].text == "<a/>");
}

TEST_CASE("every split position of the documented examples yields the same element") {
  for (const char* doc :
       {ldm_examples::kFeaturesSasl, ldm_examples::kFeaturesStartTls, ldm_examples::kProceed,
        ldm_examples::kRegistrationResponse, ldm_examples::kRegistrationFailure,
        ldm_examples::kStartDomain, ldm_examples::kExample225, ldm_examples::kAddVdisk,
        ldm_examples::kAddSpconfig, ldm_examples::kMigrationProgress}) {
    CAPTURE(doc);
    check_every_split(kHeader, doc);
  }
}

TEST_CASE("several documents in one read come out in order") {
  std::string text = kHeader + ldm_examples::kRegistrationResponse + ldm_examples::kStartDomain +
                     ldm_examples::kAddSpconfig;
  Result r = feed_all(text);
  REQUIRE(r.ok);
  CHECK(r.elements() == std::vector<std::string>{ldm_examples::kRegistrationResponse,
                                                 ldm_examples::kStartDomain,
                                                 ldm_examples::kAddSpconfig});
}

TEST_CASE("three glued documents split at every third position") {
  std::string docs = std::string(ldm_examples::kStartDomain) + ldm_examples::kAddVdisk +
                     ldm_examples::kMigrationProgress;
  std::string text = kHeader + docs;
  for (size_t a = 0; a < text.size(); a += 7)
    for (size_t b = a; b < text.size(); b += 53) {
      Result r = feed_chunks({text.substr(0, a), text.substr(a, b - a), text.substr(b)});
      REQUIRE(r.ok);
      REQUIRE(r.elements().size() == 3);
      CHECK(r.elements()[2] == ldm_examples::kMigrationProgress);
    }
}

TEST_CASE("whitespace, comments and processing instructions between elements are skipped") {
  Result r = feed_all(kHeader + "\n  <!-- keepalive -->\n<a/>\r\n\t<?pi x?>  <b>t</b>  ");
  REQUIRE(r.ok);
  CHECK(r.elements() == std::vector<std::string>{"<a/>", "<b>t</b>"});
}

TEST_CASE("stray text between elements is ignored and counted") {
  XmlStreamFramer f;
  std::vector<FramedItem> items;
  REQUIRE(f.feed(kHeader + "xy<a/>", items));
  CHECK(f.stray_text_bytes() == 2);
  REQUIRE(items.size() == 2);
  CHECK(items[1].text == "<a/>");
}

TEST_CASE("'>' and '<' inside comments, CDATA and quoted attributes do not end the element") {
  const std::string doc =
      "<e a='x>y' b=\"/>\"><!-- <not> a tag > --><![CDATA[ </e> <x> ]]><c d='>'/>"
      "<?pi <x> ?>text &amp; more</e>";
  Result r = feed_all(kHeader + doc + "<next/>");
  REQUIRE(r.ok);
  CHECK(r.elements() == std::vector<std::string>{doc, "<next/>"});
}

TEST_CASE("a self-closing depth-1 element is one element") {
  Result r = feed_all(kHeader + "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
  REQUIRE(r.ok);
  CHECK(r.elements() ==
        std::vector<std::string>{"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"});
}

TEST_CASE("</stream:stream> ends the stream and what follows is ignored") {
  XmlStreamFramer f;
  std::vector<FramedItem> items;
  REQUIRE(f.feed(kHeader + "<a/></stream:stream><b/>", items));
  REQUIRE(items.size() == 3);
  CHECK(items[2].kind == Kind::stream_close);
  CHECK(items[2].text == "</stream:stream>");
  CHECK(f.stream_closed());
  CHECK(f.feed("<c/>", items));
  CHECK(items.size() == 3);
}

TEST_CASE("a partial element is held back and reported as pending") {
  XmlStreamFramer f;
  std::vector<FramedItem> items;
  REQUIRE(f.feed(kHeader + "<LDM_event><cmd>", items));
  CHECK(items.size() == 1);
  CHECK(f.pending_bytes() == std::string("<LDM_event><cmd>").size());
}

TEST_CASE("an element over max_element_bytes is an error; one at the limit is not") {
  const std::string doc = "<a>" + std::string(100, 'x') + "</a>";  // 107 bytes
  const std::string kHeader = "<stream:stream>";                   // limited too: 15 bytes
  FramerLimits exact;
  exact.max_element_bytes = doc.size();
  CHECK(feed_all(kHeader + doc, exact).ok);
  FramerLimits small;
  small.max_element_bytes = doc.size() - 1;
  Result r = feed_all(kHeader + doc, small);
  CHECK_FALSE(r.ok);
  CHECK(r.error == "element larger than max_element_bytes (106 bytes)");
  // Same limit when the element arrives in many reads and never ends.
  std::vector<std::string> chunks{kHeader, "<a>"};
  for (int i = 0; i < 50; ++i)
    chunks.push_back(std::string(10, 'y'));
  CHECK_FALSE(feed_chunks(chunks, small).ok);
}

TEST_CASE("nesting deeper than max_depth is an error") {
  FramerLimits limits;
  limits.max_depth = 3;
  CHECK(feed_all(kHeader + "<a><b><c/></b></a>", limits).ok);
  Result r = feed_all(kHeader + "<a><b><c><d/></c></b></a>", limits);
  CHECK_FALSE(r.ok);
  CHECK(r.error == "elements nested deeper than max_depth (3)");
}

TEST_CASE("a DOCTYPE is refused before the stream, inside an element, in any case") {
  for (std::string text :
       {"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]>" + kHeader, kHeader + "<!DOCTYPE x>",
        kHeader + "<a><!doctype x></a>", kHeader + "<a><!ENTITY x 'y'></a>"}) {
    CAPTURE(text);
    Result r = feed_all(text);
    CHECK_FALSE(r.ok);
  }
  CHECK(feed_all(kHeader + "<!DOCTYPE x>").error == "DOCTYPE refused (no DTDs in an ldmd stream)");
}

TEST_CASE("text before the header, a wrong root and an unbalanced end tag are errors") {
  CHECK(feed_all("hello").error == "text before the <stream:stream> header");
  CHECK(feed_all("<LDM_event/>").error == "expected the <stream:stream> header, got <LDM_event>");
  CHECK(feed_all(kHeader + "</other>").error == "unexpected </other> at stream level");
  CHECK(feed_all(kHeader + "<a <b/>").error == "'<' inside a tag");
}

TEST_CASE("after an error nothing is framed until reset, then a new stream works") {
  XmlStreamFramer f;
  std::vector<FramedItem> items;
  CHECK_FALSE(f.feed("junk", items));
  CHECK_FALSE(f.feed(kHeader, items));
  CHECK(items.empty());
  f.reset();
  CHECK(f.feed(kHeader + "<a/>", items));
  CHECK(items.size() == 2);
}

TEST_CASE("mismatched tags with balanced depth are framed (the mapper rejects them later)") {
  Result r = feed_all(kHeader + "<LDM_event><cmd></wrong></LDM_event><a/>");
  REQUIRE(r.ok);
  CHECK(r.elements() == std::vector<std::string>{"<LDM_event><cmd></wrong></LDM_event>", "<a/>"});
}
