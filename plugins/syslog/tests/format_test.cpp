// The RFC 5424 formatter and the RFC 6587 framings: input and expected bytes side by side.
#include <doctest/doctest.h>

#include "syslog_format.hpp"

#include <sluice/event.hpp>

#include <string>

using namespace sluice::syslog;

namespace {

sluice::Event event(std::string id, std::string type, std::optional<std::string> subject,
                    std::optional<std::string> data) {
  sluice::Event e;
  e.id = std::move(id);
  e.source = "hmc://hmc1";
  e.type = std::move(type);
  e.subject = std::move(subject);
  e.time_unix_ns = 1764615600123456789;  // 2025-12-01T19:00:00.123456789Z
  e.data = std::move(data);
  return e;
}

std::string format(const FormatOptions& o, const sluice::Event& e) {
  sluice::EventViews v(&e, &e + 1);
  auto f = format_message(o, v.data()[0]);
  REQUIRE(f);
  return f->message;
}

FormatOptions text_options() {
  FormatOptions o;
  o.hostname = "host1";
  o.body = Body::text;
  return o;
}

}  // namespace

TEST_CASE("a whole message: PRI, VERSION, TIMESTAMP, header fields, SD, MSG") {
  FormatOptions o = text_options();
  o.procid = "42";
  auto e = event("e-1", "hmc.os-message", std::string("cpc1/lpar2"), R"("hello world")");
  CHECK(format(o, e) ==
        R"(<13>1 2025-12-01T19:00:00.123456Z host1 sluice 42 hmc.os-message )"
        R"([sluice@32473 id="e-1" source="hmc://hmc1" subject="cpc1/lpar2"] hello world)");
}

TEST_CASE("NILVALUE for empty header fields, unknown time, no subject, no SD, no MSG") {
  FormatOptions o = text_options();
  o.hostname = "";
  o.app_name = "";
  o.sd_id = "";
  auto e = event("e-2", "t", std::nullopt, std::nullopt);
  e.time_unix_ns = 0;
  CHECK(format(o, e) == "<13>1 - - - - t -");
  o.sd_id = "x@1";
  CHECK(format(o, e) == R"(<13>1 - - - - t [x@1 id="e-2" source="hmc://hmc1"])");
}

TEST_CASE("header fields: PRINTUSASCII only, limited to the RFC's lengths") {
  CHECK(header_field("a b\tc\x7f"
                     "d\xc3\xa9",
                     255) == "a_b_c_d__");
  CHECK(header_field("", 48) == "-");
  CHECK(header_field(std::string(300, 'h'), kHostnameMax) == std::string(255, 'h'));
  FormatOptions o = text_options();
  o.app_name = std::string(60, 'a');
  o.procid = std::string(200, 'p');
  o.sd_id = "";
  auto e = event("1", "com.example.a-very-long-event-type-name.that-goes-on", std::nullopt,
                 std::nullopt);
  e.time_unix_ns = 0;
  CHECK(format(o, e) == "<13>1 - host1 " + std::string(48, 'a') + " " + std::string(128, 'p') +
                            " com.example.a-very-long-event-ty -");
}

TEST_CASE("SD-PARAM values escape \" \\ and ] and keep UTF-8; bad UTF-8 becomes U+FFFD") {
  std::string out;
  append_param_value(out, R"(a"b\c]d)");
  CHECK(out == R"(a\"b\\c\]d)");
  out.clear();
  append_param_value(out, "caf\xc3\xa9 [x] \xff!");
  CHECK(out == "caf\xc3\xa9 [x\\] \xef\xbf\xbd!");
  FormatOptions o = text_options();
  auto e = event("id\"]", "t", std::string("s\\1"), std::nullopt);
  e.time_unix_ns = 0;
  CHECK(
      format(o, e) ==
      R"(<13>1 - host1 sluice - t [sluice@32473 id="id\"\]" source="hmc://hmc1" subject="s\\1"])");
}

TEST_CASE("SD-NAME rules") {
  CHECK_FALSE(sd_name_problem("sluice@32473"));
  CHECK(sd_name_problem("")->find("empty") != std::string::npos);
  CHECK(sd_name_problem(std::string(33, 'a'))->find("at most 32") != std::string::npos);
  for (std::string bad : {"a b", "a=b", "a]b", "a\"b", "caf\xc3\xa9"})
    CHECK_MESSAGE(sd_name_problem(bad), bad);
}

TEST_CASE("severity and facility: names, numbers, type globs, first match wins") {
  CHECK(parse_severity("emerg") == 0);
  CHECK(parse_severity("warn") == 4);
  CHECK(parse_severity("7") == 7);
  CHECK_THROWS_WITH(parse_severity("loud"), doctest::Contains("unknown severity 'loud'"));
  CHECK(parse_facility("local7") == 23);
  CHECK(parse_facility("23") == 23);
  CHECK_THROWS(parse_facility("24"));
  CHECK_THROWS(parse_facility("local8"));
  FormatOptions o = text_options();
  o.sd_id = "";
  o.levels = {{"hmc.*-error", 3, 16}, {"hmc.*", 4, 17}};
  auto e = event("1", "hmc.disk-error", std::nullopt, std::nullopt);
  e.time_unix_ns = 0;
  CHECK(format(o, e) == "<131>1 - host1 sluice - hmc.disk-error -");  // 16*8+3
  e.type = "hmc.os-message";
  CHECK(format(o, e) == "<140>1 - host1 sluice - hmc.os-message -");  // 17*8+4
  e.type = "ldm.x";
  CHECK(format(o, e) == "<13>1 - host1 sluice - ldm.x -");  // user.notice
}

TEST_CASE("text bodies: the data's text, a template; JSON bodies: the event") {
  FormatOptions o = text_options();
  o.sd_id = "";
  auto e = event("1", "t", std::string("s"), R"("line1\nline2")");
  e.time_unix_ns = 0;
  CHECK(format(o, e) == "<13>1 - host1 sluice - t - line1\nline2");
  e.data = R"({"a":1})";
  CHECK(format(o, e) == R"(<13>1 - host1 sluice - t - {"a":1})");
  o.text_template = "{type} on {subject}: {data} ({nope})";
  CHECK(format(o, e) == R"(<13>1 - host1 sluice - t - t on s: {"a":1} ({nope}))");
  o.body = Body::json;
  CHECK(format(o, e).rfind(R"(<13>1 - host1 sluice - t - {)", 0) == 0);
  CHECK(format(o, e).find(R"("id":"1")") != std::string::npos);
}

TEST_CASE("text templates: the SDK's {attr:NAME} and the syslog sink's {time}") {
  FormatOptions o = text_options();
  o.sd_id = "";
  auto e = event("1", "t", std::nullopt, std::nullopt);
  e.time_unix_ns = 0;
  e.attribute("cpc-name", "CPC1");
  o.text_template = "{attr:cpc-name}/{attr:lpar} at {time}";
  CHECK(format(o, e) == "<13>1 - host1 sluice - t - CPC1/ at -");
}

TEST_CASE("a MSG with non-ASCII text starts with the BOM; invalid UTF-8 is repaired") {
  FormatOptions o = text_options();
  o.sd_id = "";
  auto e = event("1", "t", std::nullopt, "\"gr\\u00fc\\u00df\"");
  e.time_unix_ns = 0;
  CHECK(format(o, e) == "<13>1 - host1 sluice - t - \xef\xbb\xbfgr\xc3\xbc\xc3\x9f");
  o.utf8_bom = false;
  CHECK(format(o, e) == "<13>1 - host1 sluice - t - gr\xc3\xbc\xc3\x9f");
  std::string out;
  CHECK(append_utf8(out, "a\xc3(b\xed\xa0\x80"));  // truncated sequence, a surrogate
  CHECK(out == "a\xef\xbf\xbd(b\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  out.clear();
  CHECK_FALSE(append_utf8(out, "plain"));
}

TEST_CASE("max_message_bytes cuts the MSG at a character boundary, refuses a header too long") {
  FormatOptions o = text_options();
  o.sd_id = "";
  o.max_message_bytes = 480;
  auto e = event("1", "t", std::nullopt, "\"" + std::string(1000, 'x') + "\"");
  e.time_unix_ns = 0;
  sluice::EventViews v(&e, &e + 1);
  auto f = format_message(o, v.data()[0]);
  REQUIRE(f);
  CHECK(f->truncated);
  CHECK(f->message.size() == 480);
  CHECK(f->message == "<13>1 - host1 sluice - t - " + std::string(480 - 27, 'x'));
  // "é" is two bytes: a cut that would split it drops it whole.
  e.data = "\"" + std::string(480 - 27 - 3 - 1, 'y') + "\\u00e9\"";  // BOM + y... + é
  v = sluice::EventViews(&e, &e + 1);
  f = format_message(o, v.data()[0]);
  REQUIRE(f);
  CHECK(f->truncated);
  CHECK(f->message.size() == 479);
  CHECK(f->message.back() == 'y');
  o.hostname = std::string(255, 'h');
  o.app_name = std::string(48, 'a');
  o.procid = std::string(128, 'p');
  o.sd_id = "x@1";
  e.id = std::string(100, 'i');
  v = sluice::EventViews(&e, &e + 1);
  std::string why;
  CHECK_FALSE(format_message(o, v.data()[0], &why));
  CHECK(why.find("over max_message_bytes (480)") != std::string::npos);
}

TEST_CASE("RFC 6587 framing: octet counting counts bytes; non-transparent escapes LF") {
  std::string out;
  append_frame(out, "<13>1 - - - - - - caf\xc3\xa9", Framing::octet_counting);
  CHECK(out == "23 <13>1 - - - - - - caf\xc3\xa9");
  out.clear();
  append_frame(out, "a\nb", Framing::octet_counting);
  CHECK(out == "3 a\nb");
  out.clear();
  CHECK(append_frame(out, "one\ntwo\n", Framing::non_transparent) == 2);
  CHECK(out == "one#012two#012\n");
  out.clear();
  CHECK(append_frame(out, "x\r", Framing::non_transparent) == 0);
  CHECK(out == "x\r\n");
}

TEST_CASE("timestamps: UTC, microseconds, before 1970") {
  CHECK(timestamp(0) == "-");
  CHECK(timestamp(1764615600123456789) == "2025-12-01T19:00:00.123456Z");
  CHECK(timestamp(-1000) == "1969-12-31T23:59:59.999999Z");
}
