// The fake HMC's own STOMP codec (src/stomp_codec.hpp). Inputs and expected outputs are taken
// from the STOMP 1.2 specification (stomp.github.io/stomp-specification-1.2.html: "Augmented
// BNF", "Value Encoding", "Repeated Header Entries", "Heart-beating", "Body") and the 1.1 one
// for what 1.1 defines differently, not from the hmc_stomp plugin's codec.
#include <doctest/doctest.h>

#include "stomp_codec.hpp"

#include <string>

using namespace sluice::fakes::hmc::stomp;
using namespace std::string_literals;

namespace {
// Every frame `wire` holds, read with the given version from the first frame on.
std::vector<Frame> read_all(const std::string& wire, Version v = Version::v1_2,
                            size_t chunk = std::string::npos) {
  Reader r(1 << 20);
  r.set_version(v);
  std::vector<Frame> out;
  Frame f;
  for (size_t i = 0; i < wire.size(); i += chunk) {
    r.append(std::string_view(wire).substr(i, chunk));
    while (r.next(f))
      out.push_back(f);
  }
  return out;
}
}  // namespace

TEST_SUITE("frame") {
  TEST_CASE("spec: repeated header entries: only the first one counts") {
    // 1.2 "Repeated Header Entries": MESSAGE foo:World foo:Hello -> foo is World.
    auto frames = read_all("MESSAGE\nfoo:World\nfoo:Hello\n\n\0"s);
    REQUIRE(frames.size() == 1);
    CHECK(*frames[0].header("foo") == "World");
    CHECK(frames[0].headers.size() == 2);  // both kept, in frame order
  }

  TEST_CASE("spec: value decoding \\r \\n \\c \\\\ in 1.2; undefined escapes are fatal") {
    auto frames = read_all("SEND\nk\\cx:a\\nb\\\\c\\rd\n\n\0"s);
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].headers[0].first == "k:x");
    CHECK(frames[0].headers[0].second == "a\nb\\c\rd");
    // "Undefined escape sequences such as \t (octet 92 and 116) MUST be treated as a fatal
    // protocol error."
    CHECK_THROWS_WITH_AS(read_all("SEND\nk:a\\tb\n\n\0"s),
                         "bad frame: undefined escape '\\t' in STOMP 1.2 header", FrameError);
    CHECK_THROWS_AS(read_all("SEND\nk:a\\\n\n\0"s), FrameError);
  }

  TEST_CASE("spec 1.1: \\r is not an escape of 1.1; 1.0 decodes nothing") {
    CHECK_THROWS_WITH_AS(read_all("SEND\nk:a\\rb\n\n\0"s, Version::v1_1),
                         "bad frame: undefined escape '\\r' in STOMP 1.1 header", FrameError);
    auto v11 = read_all("SEND\nk:a\\cb\\nc\n\n\0"s, Version::v1_1);
    CHECK(*v11[0].header("k") == "a:b\nc");
    auto v10 = read_all("SEND\nk:a\\cb\\tc\n\n\0"s, Version::v1_0);
    CHECK(*v10[0].header("k") == "a\\cb\\tc");
  }

  TEST_CASE("spec: CONNECT and STOMP frames are never unescaped") {
    auto frames = read_all("CONNECT\nlogin:a\\nb\npasscode:x:y\n\n\0STOMP\nlogin:c\\d\n\n\0"s);
    REQUIRE(frames.size() == 2);
    CHECK(*frames[0].header("login") == "a\\nb");
    CHECK(*frames[0].header("passcode") == "x:y");  // the first ':' ends the name
    CHECK(*frames[1].header("login") == "c\\d");
  }

  TEST_CASE("spec: EOL is LF or CR LF, mixed within one frame") {
    auto frames = read_all("SUBSCRIBE\r\nid:0\r\ndestination:/topic/x\nack:auto\r\n\r\n\0"s);
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].command == "SUBSCRIBE");
    CHECK(*frames[0].header("id") == "0");
    CHECK(*frames[0].header("destination") == "/topic/x");
    CHECK(*frames[0].header("ack") == "auto");
  }

  TEST_CASE("spec: content-length bodies may hold NUL octets; the next frame follows") {
    const std::string wire = "SEND\ncontent-length:4\n\na\0b\0\0ACK\nid:7\n\n\0"s;
    auto frames = read_all(wire);
    REQUIRE(frames.size() == 2);
    CHECK(frames[0].body == "a\0b\0"s);
    CHECK(frames[1].command == "ACK");
    CHECK(*frames[1].header("id") == "7");
    // Split at every byte: the same frames.
    auto bytewise = read_all(wire, Version::v1_2, 1);
    REQUIRE(bytewise.size() == 2);
    CHECK(bytewise[0].body == "a\0b\0"s);
  }

  TEST_CASE("content-length: the first one counts; not a number or no NUL after it is fatal") {
    auto frames = read_all("SEND\ncontent-length:1\ncontent-length:3\n\nx\0"s);
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].body == "x");
    CHECK_THROWS_WITH_AS(read_all("SEND\ncontent-length:x\n\n\0"s),
                         "bad frame: content-length 'x' is not a number", FrameError);
    CHECK_THROWS_WITH_AS(read_all("SEND\ncontent-length:-1\n\n\0"s),
                         "bad frame: content-length '-1' is not a number", FrameError);
    CHECK_THROWS_WITH_AS(read_all("SEND\ncontent-length:1\n\nxy\0"s),
                         "bad frame: no NUL after the content-length body", FrameError);
  }

  TEST_CASE("spec: heart-beats are EOLs between frames, counted, never frames") {
    Reader r(1 << 20);
    r.append("\n\r\nACK\nid:1\n\n\0\nNACK\nid:2\n\n\0\r"s);
    Frame f;
    REQUIRE(r.next(f));
    CHECK(f.command == "ACK");
    REQUIRE(r.next(f));
    CHECK(f.command == "NACK");
    CHECK_FALSE(r.next(f));  // a CR alone may be the start of a CR LF
    r.append("\n");
    CHECK_FALSE(r.next(f));
    CHECK(r.heartbeats() == 4);
    CHECK(r.buffered() == 0);
  }

  TEST_CASE("a frame arriving in pieces is returned once, when complete") {
    Reader r(1 << 20);
    Frame f;
    r.append("SUBSCRI");
    CHECK_FALSE(r.next(f));
    r.append("BE\nid:sub-1\ndestination:/topic/a\n");
    CHECK_FALSE(r.next(f));
    r.append("\n");
    CHECK_FALSE(r.next(f));
    r.append("\0"s);
    REQUIRE(r.next(f));
    CHECK(f.command == "SUBSCRIBE");
    CHECK(*f.header("id") == "sub-1");
    CHECK_FALSE(r.next(f));
  }

  TEST_CASE("the version set after CONNECT applies to the next frame of the same read") {
    Reader r(1 << 20);
    r.append("CONNECT\naccept-version:1.2\n\n\0SEND\nk:a\\cb\n\n\0"s);
    Frame f;
    REQUIRE(r.next(f));
    CHECK(f.command == "CONNECT");
    r.set_version(Version::v1_2);
    REQUIRE(r.next(f));
    CHECK(*f.header("k") == "a:b");
  }

  TEST_CASE("grammar errors: command, header line, limits") {
    CHECK_THROWS_WITH_AS(read_all("send\n\n\0"s), "bad frame: 'send' is not a STOMP command",
                         FrameError);
    CHECK_THROWS_WITH_AS(read_all("SEND\nno colon\n\n\0"s), "bad frame: header line without ':'",
                         FrameError);
    Reader big(64);
    big.append("SEND\n\n" + std::string(100, 'x'));
    Frame f;
    CHECK_THROWS_WITH_AS(
        big.next(f), "frame too large (106 bytes without end > max_frame_bytes 64)", FrameError);
    CHECK_THROWS_AS(big.next(f), FrameError);  // spent
    Reader declared(64);
    declared.append("SEND\ncontent-length:1000\n\n");
    CHECK_THROWS_AS(declared.next(f), FrameError);  // known too large before the body comes
    Reader many(1 << 20, 3);
    many.append("SEND\na:1\nb:2\nc:3\nd:4\n");  // the fourth header, head not even complete
    CHECK_THROWS_WITH_AS(many.next(f), "frame too large (more headers than max_headers 3)",
                         FrameError);
  }

  TEST_CASE("writing: escapes per version; line breaks a version cannot escape become blanks") {
    const std::string text = "a:b\nc\\d\re";
    std::string v10, v11, v12;
    append_escaped(v10, text, Version::v1_0);
    append_escaped(v11, text, Version::v1_1);
    append_escaped(v12, text, Version::v1_2);
    CHECK(v10 == "a:b c\\d e");
    CHECK(v11 == "a\\cb\\nc\\\\d e");
    CHECK(v12 == "a\\cb\\nc\\\\d\\re");
  }

  TEST_CASE("writing frames: MESSAGE escaped, CONNECTED never, content-length for a body") {
    std::string out;
    append_frame(out, "MESSAGE", {{"message-id", "ID:x:1"}, {"destination", "/topic/t"}}, "{}",
                 Version::v1_2);
    CHECK(out == "MESSAGE\nmessage-id:ID\\cx\\c1\ndestination:/topic/t\ncontent-length:2\n\n{}\0"s);
    out.clear();
    append_frame(out, "CONNECTED", {{"version", "1.2"}, {"server", "ActiveMQ/5.17.2:x"}}, "",
                 Version::v1_2);
    CHECK(out == "CONNECTED\nversion:1.2\nserver:ActiveMQ/5.17.2:x\n\n\0"s);
    out.clear();
    append_frame(out, "ERROR", {{"message", "m"}}, "", Version::v1_2, true);
    CHECK(out == "ERROR\nmessage:m\ncontent-length:0\n\n\0"s);
    out.clear();
    append_frame(out, "RECEIPT", {{"receipt-id", "r\n1"}}, "", Version::v1_0);
    CHECK(out == "RECEIPT\nreceipt-id:r 1\n\n\0"s);
  }

  TEST_CASE("what the writer escapes, the reader of the same version restores") {
    const std::string nasty = "x:\\y\nz\rw";
    for (Version v : {Version::v1_1, Version::v1_2}) {
      std::string wire;
      append_frame(wire, "SEND", {{nasty, nasty}}, "b\0dy"s, v);
      auto frames = read_all(wire, v);
      REQUIRE(frames.size() == 1);
      const std::string expect = v == Version::v1_2 ? nasty : "x:\\y\nz w";
      CHECK(frames[0].headers[0].first == expect);
      CHECK(frames[0].headers[0].second == expect);
      CHECK(frames[0].body == "b\0dy"s);
    }
  }

  TEST_CASE("versions") {
    CHECK(parse_version("1.1") == Version::v1_1);
    CHECK_FALSE(parse_version("1.3"));
    CHECK_FALSE(parse_version(""));
    CHECK(std::string(version_name(Version::v1_2)) == "1.2");
  }
}
