// The serialisations every sink uses (sdk/include/sluice/format.hpp): exact output per format,
// and the CloudEvents 1.0 rules on required attributes and attribute names.
#include <doctest/doctest.h>

#include <sluice/format.hpp>

#include <random>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

sluice::Event os_message_event() {
  sluice::Event e;
  e.id = "ID:hmc1-1:42";
  e.source = "hmc://hmc1.example.com";
  e.type = "hmc.os-message";
  e.subject = "/api/logical-partitions/5f6d";
  e.time_unix_ns = 1700000123456000000;  // 2023-11-14T22:15:23.456Z
  e.attribute("notification-type", "os-message")
      .attribute("session-sequence-nr", "41")
      .attribute("sluice-source", "hmc1");
  e.data = R"({"os-messages":[{"message-text":"IEE252I\n"}]})";
  return e;
}

std::string format_one(sluice::Format f, const sluice::Event& e) {
  sluice::EventViews views(&e, &e + 1);
  std::string out;
  sluice::append_batch(out, f, views.data(), views.size());
  return out;
}

std::string json_string(std::string_view s) {
  std::string out;
  sluice::append_json_string(out, s);
  return out;
}

}  // namespace

TEST_CASE("text format: one line with time, type, subject, source and data") {
  CHECK(format_one(sluice::Format::text, os_message_event()) ==
        "2023-11-14T22:15:23.456Z hmc.os-message /api/logical-partitions/5f6d "
        "hmc://hmc1.example.com {\"os-messages\":[{\"message-text\":\"IEE252I\\n\"}]}\n");
}

TEST_CASE("text format: no subject prints '-' and null data prints nothing") {
  sluice::Event e = os_message_event();
  e.subject.reset();
  e.data.reset();
  CHECK(format_one(sluice::Format::text, e) ==
        "2023-11-14T22:15:23.456Z hmc.os-message - hmc://hmc1.example.com\n");
}

TEST_CASE("json format: sluice's own form keeps attribute names as they are") {
  CHECK(format_one(sluice::Format::json, os_message_event()) ==
        R"({"id":"ID:hmc1-1:42","source":"hmc://hmc1.example.com","type":"hmc.os-message",)"
        R"("subject":"/api/logical-partitions/5f6d","time":"2023-11-14T22:15:23.456Z",)"
        R"("attributes":{"notification-type":"os-message","session-sequence-nr":"41",)"
        R"("sluice-source":"hmc1"},"data":{"os-messages":[{"message-text":"IEE252I\n"}]}})"
        "\n");
}

TEST_CASE("json format: null data is written as null") {
  sluice::Event e = os_message_event();
  e.data.reset();
  auto j = nlohmann::json::parse(format_one(sluice::Format::json, e));
  CHECK(j["data"].is_null());
}

TEST_CASE("cloudevents format: structured mode with extension attributes") {
  CHECK(format_one(sluice::Format::cloudevents, os_message_event()) ==
        R"({"specversion":"1.0","id":"ID:hmc1-1:42","source":"hmc://hmc1.example.com",)"
        R"("type":"hmc.os-message","subject":"/api/logical-partitions/5f6d",)"
        R"("time":"2023-11-14T22:15:23.456Z","notificationtype":"os-message",)"
        R"("sessionsequencenr":"41","sluicesource":"hmc1","datacontenttype":"application/json",)"
        R"("data":{"os-messages":[{"message-text":"IEE252I\n"}]}})"
        "\n");
}

TEST_CASE("cloudevents format: required attributes and attribute-name rules of the spec") {
  sluice::Event e = os_message_event();
  // Header names that are not valid CloudEvents names, and some that collide with context ones.
  e.attribute("Content-Length", "12")
      .attribute("id", "x")
      .attribute("data", "y")
      .attribute("--", "z");
  auto ce = nlohmann::json::parse(format_one(sluice::Format::cloudevents, e));

  // Required context attributes (CloudEvents 1.0, "Required Attributes"): non-empty strings.
  for (const char* required : {"id", "source", "specversion", "type"}) {
    INFO(required);
    REQUIRE(ce.contains(required));
    CHECK(ce[required].is_string());
    CHECK_FALSE(ce[required].get<std::string>().empty());
  }
  CHECK(ce["specversion"] == "1.0");
  CHECK(ce["id"] == "ID:hmc1-1:42");  // not overwritten by the attribute named "id"
  // Attribute names: lower-case ASCII letters and digits only (the spec's naming convention).
  const std::regex name_rule("^[a-z0-9]+$");
  for (const auto& [name, value] : ce.items()) {
    INFO(name);
    CHECK(std::regex_match(name, name_rule));
    if (name != "data") CHECK(value.is_string());  // extension values are strings here
  }
  CHECK(ce["contentlength"] == "12");
  CHECK(ce["xid"] == "x");
  CHECK(ce["xdata"] == "y");
  CHECK(ce["x"] == "z");
  // time is an RFC 3339 timestamp.
  CHECK(std::regex_match(ce["time"].get<std::string>(),
                         std::regex(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$)")));
}

TEST_CASE("cloudevents format: null data leaves out data and datacontenttype") {
  sluice::Event e = os_message_event();
  e.data.reset();
  auto ce = nlohmann::json::parse(format_one(sluice::Format::cloudevents, e));
  CHECK_FALSE(ce.contains("data"));
  CHECK_FALSE(ce.contains("datacontenttype"));
}

TEST_CASE("cloudevents-batch format: one JSON array of structured events") {
  std::vector<sluice::Event> events{os_message_event(), os_message_event()};
  events[1].id = "ID:hmc1-1:43";
  sluice::EventViews views(events);
  std::string out;
  sluice::append_batch(out, sluice::Format::cloudevents_batch, views.data(), views.size());
  REQUIRE(out.back() == '\n');
  auto batch = nlohmann::json::parse(out);
  REQUIRE(batch.is_array());
  REQUIRE(batch.size() == 2);
  CHECK(batch[0]["id"] == "ID:hmc1-1:42");
  CHECK(batch[1]["id"] == "ID:hmc1-1:43");
  CHECK(batch[1]["specversion"] == "1.0");
}

TEST_CASE("cloudevents-batch format: an empty batch is an empty array") {
  std::string out;
  sluice::append_batch(out, sluice::Format::cloudevents_batch, nullptr, 0);
  CHECK(out == "[]\n");
}

TEST_CASE("parse_format knows the four names and refuses others") {
  CHECK(sluice::parse_format("text") == sluice::Format::text);
  CHECK(sluice::parse_format("json") == sluice::Format::json);
  CHECK(sluice::parse_format("cloudevents") == sluice::Format::cloudevents);
  CHECK(sluice::parse_format("cloudevents-batch") == sluice::Format::cloudevents_batch);
  CHECK_THROWS_WITH(sluice::parse_format("xml"),
                    "unknown format 'xml' (text, json, cloudevents, cloudevents-batch)");
}

TEST_CASE("JSON strings: quotes, backslashes and control characters are escaped") {
  CHECK(json_string("plain") == R"("plain")");
  CHECK(json_string("a\"b\\c") == R"("a\"b\\c")");
  CHECK(json_string("\n\r\t\b\f") == R"("\n\r\t\b\f")");
  CHECK(json_string(std::string("\x01\x1f", 2)) == R"("\u0001\u001f")");
  CHECK(json_string(std::string("nul\0byte", 8)) == R"("nul\u0000byte")");
}

TEST_CASE("JSON strings: valid UTF-8 is kept, ill-formed bytes become U+FFFD") {
  CHECK(json_string("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80") ==
        "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
  CHECK(json_string("\xFF") == "\"\xEF\xBF\xBD\"");                  // never valid
  CHECK(json_string("\xC3") == "\"\xEF\xBF\xBD\"");                  // truncated sequence
  CHECK(json_string("\xC0\xAF") == "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");  // overlong '/'
  CHECK(json_string("\xED\xA0\x80") == "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");  // surrogate
  // Whatever the bytes, the result parses as JSON.
  std::string all;
  for (int c = 0; c < 256; ++c)
    all.push_back(static_cast<char>(c));
  CHECK_NOTHROW(nlohmann::json::parse(json_string(all)));
}

TEST_CASE("JSON strings: a byte to escape at every position of the 16-byte scan") {
  // The plain runs are found sixteen bytes at a time: put each kind of special byte at every
  // offset of strings up to three blocks long, alone and after another one, and compare with
  // escaping byte by byte.
  auto by_byte = [](std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"')
        out += "\\\"";
      else if (c == '\\')
        out += "\\\\";
      else if (c == '\n')
        out += "\\n";
      else if (c == '\x01')
        out += "\\u0001";
      else
        out.push_back(c);
    }
    return out + "\"";
  };
  for (const std::string special : {"\"", "\\", "\n", "\x01", "\xC3\xA9", "\xFF"}) {
    for (size_t len = 0; len <= 48; ++len) {
      for (size_t at = 0; at <= len; ++at) {
        std::string s(len, 'x');
        s.insert(at, special);
        std::string twice = s;
        twice.insert(std::min(twice.size(), at + 17), special);
        for (const std::string& text : {s, twice}) {
          std::string want;
          if (special == "\xFF") {  // ill-formed: U+FFFD
            want = by_byte(text);
            for (size_t k; (k = want.find('\xFF')) != std::string::npos;)
              want.replace(k, 1, "\xEF\xBF\xBD");
          } else {
            want = by_byte(text);
          }
          INFO("len " << len << " at " << at);
          CHECK(json_string(text) == want);
        }
      }
    }
  }
  // Appended to what is there already, also from an empty string and past the capacity.
  std::string out = "x";
  sluice::append_json_string(out, "");
  sluice::append_json_string(out, std::string(100, 'y'));
  CHECK(out == "x\"\"\"" + std::string(100, 'y') + "\"");
}

TEST_CASE("RFC 3339 times: UTC, millisecond precision, before 1970 too") {
  CHECK(sluice::rfc3339(0) == "1970-01-01T00:00:00.000Z");
  CHECK(sluice::rfc3339(1700000123456999999) == "2023-11-14T22:15:23.456Z");
  CHECK(sluice::rfc3339(-1000000) == "1969-12-31T23:59:59.999Z");
}

TEST_CASE("RFC 3339 times: the second changes between calls and comes back") {
  // The part up to the second is cached per thread: it must follow every change.
  CHECK(sluice::rfc3339(1700000123000000000) == "2023-11-14T22:15:23.000Z");
  CHECK(sluice::rfc3339(1700000123999000000) == "2023-11-14T22:15:23.999Z");
  CHECK(sluice::rfc3339(1700000124000000000) == "2023-11-14T22:15:24.000Z");
  CHECK(sluice::rfc3339(1700000123500000000) == "2023-11-14T22:15:23.500Z");
  CHECK(sluice::rfc3339(-1000000) == "1969-12-31T23:59:59.999Z");
  CHECK(sluice::rfc3339(-1001000000) == "1969-12-31T23:59:58.999Z");
  CHECK(sluice::rfc3339(0) == "1970-01-01T00:00:00.000Z");
  CHECK(sluice::rfc3339(86400000000000) == "1970-01-02T00:00:00.000Z");
  std::string out;
  sluice::append_rfc3339(out, 1700000123456000000);
  sluice::append_rfc3339(out, 1700000123457000000);
  CHECK(out == "2023-11-14T22:15:23.456Z2023-11-14T22:15:23.457Z");
}

namespace {

// JSON string escaping one byte at a time: the rule append_json_string had before it scanned
// eight and sixteen bytes at a time (control characters as \u00xx but for the five short forms,
// valid UTF-8 kept, each byte of an ill-formed sequence one U+FFFD). The reference below.
std::string reference_json_string(std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      if (const size_t len = sluice::utf8_sequence_length(s, i)) {
        out.append(s.substr(i, len));
        i += len;
      } else {
        out += "\xEF\xBF\xBD";
        ++i;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 0xf]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  return out + "\"";
}

// Random strings: mostly plain ASCII, with quotes, backslashes, control characters, valid and
// ill-formed UTF-8 mixed in at random places, of every length up to 80.
std::string random_text(std::mt19937& rng) {
  static const std::vector<std::string> pieces = {"\"",
                                                  "\\",
                                                  "\n",
                                                  "\r",
                                                  "\t",
                                                  "\b",
                                                  "\f",
                                                  std::string(1, '\0'),
                                                  "\x01",
                                                  "\x1f",
                                                  "\x7f",
                                                  "\xC3\xA9",
                                                  "\xE2\x82\xAC",
                                                  "\xF0\x9F\x98\x80",
                                                  "\xFF",
                                                  "\xC3",
                                                  "\xE2\x82",
                                                  "\xC0\xAF",
                                                  "\xED\xA0\x80",
                                                  "\xF4\x90\x80\x80",
                                                  "\x80",
                                                  " ",
                                                  "/",
                                                  "!",
                                                  "#",
                                                  "[",
                                                  "]",
                                                  "~",
                                                  "\x1f\x20"};
  std::string s;
  const size_t len = rng() % 81;
  const unsigned special_percent = rng() % 3 == 0 ? 0 : rng() % 30;  // a third all plain
  while (s.size() < len) {
    if (rng() % 100 < special_percent)
      s += pieces[rng() % pieces.size()];
    else
      s.push_back(static_cast<char>(0x20 + rng() % 0x5f));  // printable ASCII
  }
  return s;
}

}  // namespace

TEST_CASE("JSON strings: random and edge-case text is escaped exactly as byte by byte") {
  std::mt19937 rng(20261201);
  size_t special = 0;
  for (int round = 0; round < 20000; ++round) {
    const std::string s = random_text(rng);
    CAPTURE(s);
    const std::string got = json_string(s);
    REQUIRE(got == reference_json_string(s));
    if (got.size() != s.size() + 2) ++special;
    // Valid UTF-8 is written as nlohmann::json writes it.
    if (sluice::utf8_valid(s)) CHECK(got == nlohmann::json(s).dump());
  }
  CHECK(special > 5000);  // the escaping paths ran, not only the plain copy
  // One special byte at every position of every length up to 40, each kind.
  for (const char* piece : {"\"", "\\", "\x1f", "\x80", "\xC3\xA9", "\x7f", "\x20"}) {
    for (size_t len = 1; len <= 40; ++len) {
      for (size_t at = 0; at < len; ++at) {
        std::string s(len, 'a');
        s.replace(at, 1, piece);
        CAPTURE(s);
        CHECK(json_string(s) == reference_json_string(s));
      }
    }
  }
}

TEST_CASE("json format: every line equals the one built string by string") {
  // append_json writes an event whose strings need no escaping in one step and falls back to
  // escaping string by string otherwise: both give the line built from the reference escaper.
  std::mt19937 rng(11);
  for (int round = 0; round < 3000; ++round) {
    sluice::Event e;
    auto text = [&rng] {
      // Half the events all plain (the one-step path), of lengths around the 4/8/16 loads.
      if (rng() % 2) return std::string(rng() % 40, static_cast<char>('a' + rng() % 26));
      return random_text(rng);
    };
    e.id = text();
    e.source = text();
    e.type = text();
    if (rng() % 4) e.subject = text();
    e.time_unix_ns = static_cast<int64_t>(rng()) * 1000003;
    const size_t attributes = rng() % 20;
    for (size_t i = 0; i < attributes; ++i)
      e.attribute(text(), text());
    if (rng() % 5) e.data = R"({"n":)" + std::to_string(rng()) + "}";

    std::string want = "{\"id\":" + reference_json_string(e.id) +
                       ",\"source\":" + reference_json_string(e.source) +
                       ",\"type\":" + reference_json_string(e.type);
    if (e.subject) want += ",\"subject\":" + reference_json_string(*e.subject);
    want += ",\"time\":\"" + sluice::rfc3339(e.time_unix_ns) + "\",\"attributes\":{";
    for (size_t i = 0; i < e.attributes.size(); ++i) {
      if (i) want += ',';
      want += reference_json_string(e.attributes[i].first) + ":" +
              reference_json_string(e.attributes[i].second);
    }
    want += "},\"data\":" + e.data.value_or("null") + "}\n";
    CAPTURE(want);
    // Twice in one batch: the second line goes after text already in the buffer.
    const std::vector<sluice::Event> two = {e, e};
    sluice::EventViews views(two.data(), two.data() + two.size());
    std::string got = "x";
    sluice::append_batch(got, sluice::Format::json, views.data(), views.size());
    REQUIRE(got == "x" + want + want);
    CHECK(nlohmann::json::parse(want).is_object());
  }
}
