// The fake HMC reads client frames with the plugin's codec (plugins/hmc_stomp/stomp_frame.hpp)
// the way the broker side uses it: one frame at a time, uppercase commands only, and line
// breaks it cannot escape written as blanks. The codec's own tests are in plugins/hmc_stomp.
#include <doctest/doctest.h>

#include <stomp_frame.hpp>

using namespace stomp;

namespace {
Parser broker_parser(size_t max = 1 << 20) {
  return Parser(max, Parser::Commands::uppercase);
}
}  // namespace

TEST_SUITE("frame") {
  TEST_CASE("a frame split across reads is returned once it is complete") {
    Parser p = broker_parser();
    Frame f;
    p.append("SUBSCRI");
    CHECK_FALSE(p.next(f));
    p.append(std::string("BE\nid:sub-1\ndestination:/topic/a\n\n") + '\0');
    REQUIRE(p.next(f));
    CHECK(f.command == "SUBSCRIBE");
    CHECK(*f.header("id") == "sub-1");
    CHECK(*f.header("destination") == "/topic/a");
    CHECK_FALSE(p.next(f));
  }

  TEST_CASE("two frames and heart-beats in one read") {
    Parser p = broker_parser();
    p.append(std::string("\n\r\nACK\nid:1\n\n") + '\0' + "\nNACK\nid:2\n\n" + '\0');
    Frame f;
    REQUIRE(p.next(f));
    CHECK(f.command == "ACK");
    REQUIRE(p.next(f));
    CHECK(f.command == "NACK");
    CHECK(p.heartbeats() == 3);
  }

  TEST_CASE("the version set after CONNECT applies to the next frame of the same read") {
    Parser p = broker_parser();
    p.append(std::string("CONNECT\naccept-version:1.2\n\n") + '\0' + "SEND\nk:a\\cb\n\n" + '\0');
    Frame f;
    REQUIRE(p.next(f));
    CHECK(f.command == "CONNECT");
    p.set_version(Version::v1_2);
    REQUIRE(p.next(f));
    CHECK(*f.header("k") == "a:b");
  }

  TEST_CASE("content-length lets the body hold NUL bytes") {
    Parser p = broker_parser();
    p.append(std::string("SEND\ncontent-length:3\n\na") + '\0' + "b" + '\0');
    Frame f;
    REQUIRE(p.next(f));
    CHECK(f.body == std::string("a\0b", 3));
  }

  TEST_CASE("1.2 header escapes are decoded; CONNECT is never unescaped") {
    Parser p = broker_parser();
    p.set_version(Version::v1_2);
    p.append(std::string("SEND\nk\\cx:a\\nb\\\\c\\rd\n\n") + '\0' + "CONNECT\nlogin:a\\nb\n\n" +
             '\0');
    Frame f;
    REQUIRE(p.next(f));
    CHECK(f.headers[0].first == "k:x");
    CHECK(f.headers[0].second == "a\nb\\c\rd");
    REQUIRE(p.next(f));
    CHECK(*f.header("login") == "a\\nb");
  }

  TEST_CASE("an undefined escape is an error in 1.1; \\r is undefined in 1.1") {
    Parser p = broker_parser();
    p.set_version(Version::v1_1);
    p.append(std::string("SEND\nk:a\\rb\n\n") + '\0');
    Frame f;
    CHECK_THROWS_WITH_AS(p.next(f), "bad frame: undefined escape '\\r' in STOMP 1.1 header",
                         FrameError);
  }

  TEST_CASE("the first of repeated headers wins") {
    Parser p = broker_parser();
    p.append(std::string("SEND\nfoo:1\nfoo:2\n\n") + '\0');
    Frame f;
    REQUIRE(p.next(f));
    CHECK(*f.header("foo") == "1");
  }

  TEST_CASE("a frame larger than the limit is an error, not a wait") {
    Parser p = broker_parser(64);
    p.append("SEND\n\n" + std::string(100, 'x'));
    Frame f;
    CHECK_THROWS_WITH_AS(p.next(f), "frame too large (106 bytes without end > max_frame_bytes 64)",
                         FrameError);
  }

  TEST_CASE("bad content-length and a lowercase command are errors") {
    Frame f;
    Parser a = broker_parser();
    a.append(std::string("SEND\ncontent-length:x\n\n") + '\0');
    CHECK_THROWS_WITH_AS(a.next(f), "bad frame: content-length 'x' is not a number", FrameError);
    Parser b = broker_parser();
    b.append(std::string("send\n\n") + '\0');
    CHECK_THROWS_WITH_AS(b.next(f), "bad frame: 'send' is not a STOMP command", FrameError);
  }

  TEST_CASE("escaping per version, line breaks without an escape become blanks") {
    std::string v10, v11, v12;
    append_escaped(v10, "a:b\nc\\d\re", Version::v1_0, RawBreak::blank);
    append_escaped(v11, "a:b\nc\\d\re", Version::v1_1, RawBreak::blank);
    append_escaped(v12, "a:b\nc\\d\re", Version::v1_2, RawBreak::blank);
    CHECK(v10 == "a:b c\\d e");
    CHECK(v11 == "a\\cb\\nc\\\\d e");
    CHECK(v12 == "a\\cb\\nc\\\\d\\re");
  }
}
