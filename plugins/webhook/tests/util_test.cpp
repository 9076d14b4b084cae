// The webhook sink's helpers without a network: URLs, Retry-After, gzip, signature, keys,
// templates.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "webhook_util.hpp"

#include <sluice/event.hpp>

#include <chrono>

using namespace sluice::webhook;

TEST_CASE("parse_url: http with default port and no path") {
  Url u = parse_url("http://example.com");
  CHECK_FALSE(u.tls);
  CHECK(u.host == "example.com");
  CHECK(u.port == "80");
  CHECK(u.target == "/");
  CHECK(u.host_header == "example.com");
}

TEST_CASE("parse_url: https with port, path and query; fragment dropped") {
  Url u = parse_url("HTTPS://hooks.example.com:8443/api/now/events?x=1#frag");
  CHECK(u.tls);
  CHECK(u.host == "hooks.example.com");
  CHECK(u.port == "8443");
  CHECK(u.target == "/api/now/events?x=1");
  CHECK(u.host_header == "hooks.example.com:8443");
}

TEST_CASE("parse_url: IPv6 literal") {
  Url u = parse_url("http://[::1]:9000/h");
  CHECK(u.host == "::1");
  CHECK(u.port == "9000");
  CHECK(u.host_header == "[::1]:9000");
}

TEST_CASE("parse_url: errors say what is wrong") {
  CHECK_THROWS_WITH_AS(parse_url("ftp://x"), "bad url 'ftp://x': scheme must be http or https",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_url("example.com/x"),
                       "bad url 'example.com/x': expected http:// or https://",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_url("http://h:99999/"), "bad url 'http://h:99999/': port out of range",
                       std::invalid_argument);
  CHECK_THROWS_AS(parse_url("http://user:pw@h/"), std::invalid_argument);
  CHECK_THROWS_AS(parse_url("http:///x"), std::invalid_argument);
}

TEST_CASE("parse_retry_after: seconds and HTTP dates") {
  const auto now = std::chrono::system_clock::from_time_t(1445412480);  // Wed, 21 Oct 2015 07:28:00
  CHECK(parse_retry_after("120", now) == std::optional<uint64_t>(120000));
  CHECK(parse_retry_after(" 0 ", now) == std::optional<uint64_t>(0));
  CHECK(parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now) == std::optional<uint64_t>(30000));
  CHECK(parse_retry_after("Wednesday, 21-Oct-15 07:29:00 GMT", now) ==
        std::optional<uint64_t>(60000));
  CHECK(parse_retry_after("Wed Oct 21 07:28:10 2015", now) == std::optional<uint64_t>(10000));
  CHECK(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now) == std::optional<uint64_t>(0));
  CHECK_FALSE(parse_retry_after("soon", now).has_value());
  CHECK_FALSE(parse_retry_after("", now).has_value());
  CHECK_FALSE(parse_retry_after("-5", now).has_value());
  // Dates far from now neither overflow nor wrap (found by webhook.fuzz_util).
  CHECK(parse_retry_after("Mon, 01 Jan 0001 00:00:00 GMT", now) == std::optional<uint64_t>(0));
  CHECK(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now) ==
        std::optional<uint64_t>(uint64_t{999999999} * 1000));
}

TEST_CASE("gzip round trip, and gunzip refuses garbage") {
  const std::string text(10000, 'a');
  const std::string z = gzip(text);
  CHECK(z.size() < text.size());
  CHECK(static_cast<unsigned char>(z[0]) == 0x1f);  // gzip magic
  CHECK(static_cast<unsigned char>(z[1]) == 0x8b);
  CHECK(gunzip(z) == text);
  CHECK_THROWS_AS(gunzip("not gzip"), std::runtime_error);
  CHECK_THROWS_AS(gunzip(z.substr(0, z.size() / 2)), std::runtime_error);
}

TEST_CASE("sign_v1 is HMAC-SHA256 over timestamp + \".\" + body, in lower-case hex") {
  // Expected value from: printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
  CHECK(sign_v1("secret", "1700000000", R"({"a":1})") ==
        "49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686");
}

TEST_CASE("idempotency_key depends only on (source, id) of the events") {
  sluice::Event a;
  a.id = "1";
  a.source = "s";
  a.type = "t";
  sluice::Event a2 = a;
  a2.type = "other";
  a2.data = "{}";
  sluice::Event b = a;
  b.id = "2";
  // EventViews borrow: the vectors must outlive them.
  const std::vector<sluice::Event> ea{a}, ea2{a2}, eab{a, b}, eba{b, a};
  sluice::EventViews va(ea), va2(ea2), vab(eab), vba(eba);
  const std::string k = idempotency_key(va.data(), 1);
  CHECK(k.size() == 32);
  CHECK(k == idempotency_key(va2.data(), 1));
  CHECK(k != idempotency_key(vab.data(), 2));
  CHECK(idempotency_key(vab.data(), 2) != idempotency_key(vba.data(), 2));
}

TEST_CASE("expand_template replaces the four names and leaves the rest") {
  sluice::Event e;
  e.id = "42";
  e.source = "hmc://h1";
  e.type = "hmc.os-message";
  e.subject = "/api/lpars/x";
  const std::vector<sluice::Event> ev{e};
  sluice::EventViews v(ev);
  CHECK(expand_template("{type}|{source}|{subject}|{id}|{other}|{", v.data()[0]) ==
        "hmc.os-message|hmc://h1|/api/lpars/x|42|{other}|{");
  e.subject.reset();
  const std::vector<sluice::Event> ew{e};
  sluice::EventViews w(ew);
  CHECK(expand_template("s={subject}", w.data()[0]) == "s=");
}

TEST_CASE("base64 as basic auth needs it") {
  CHECK(base64("Aladdin:open sesame") == "QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  CHECK(base64("") == "");
}
