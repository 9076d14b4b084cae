#include <doctest/doctest.h>

#include <sluice/fakes/stomp_frame.hpp>

using namespace sluice::fakes::stomp;

TEST_SUITE("frame") {
  TEST_CASE("a frame split across reads is returned once it is complete") {
    FrameParser p;
    Frame f;
    p.feed("SUBSCRI", 7);
    CHECK(p.next(f) == FrameParser::Status::need_more);
    const std::string rest = std::string("BE\nid:sub-1\ndestination:/topic/a\n\n") + '\0';
    p.feed(rest.data(), rest.size());
    REQUIRE(p.next(f) == FrameParser::Status::frame);
    CHECK(f.command == "SUBSCRIBE");
    CHECK(*f.header("id") == "sub-1");
    CHECK(*f.header("destination") == "/topic/a");
    CHECK(p.next(f) == FrameParser::Status::need_more);
  }

  TEST_CASE("two frames and heart-beats in one read") {
    FrameParser p;
    const std::string in = std::string("\n\r\nACK\nid:1\n\n") + '\0' + "\nNACK\nid:2\n\n" + '\0';
    p.feed(in.data(), in.size());
    Frame f;
    REQUIRE(p.next(f) == FrameParser::Status::frame);
    CHECK(f.command == "ACK");
    REQUIRE(p.next(f) == FrameParser::Status::frame);
    CHECK(f.command == "NACK");
    CHECK(p.heartbeats() == 3);
  }

  TEST_CASE("content-length lets the body hold NUL bytes") {
    FrameParser p;
    const std::string in = std::string("SEND\ncontent-length:3\n\na") + '\0' + "b" + '\0';
    p.feed(in.data(), in.size());
    Frame f;
    REQUIRE(p.next(f) == FrameParser::Status::frame);
    CHECK(f.body == std::string("a\0b", 3));
  }

  TEST_CASE("1.2 header escapes are decoded; CONNECT is never unescaped") {
    FrameParser p;
    p.set_version(Version::v1_2);
    const std::string in =
        std::string("SEND\nk\\cx:a\\nb\\\\c\\rd\n\n") + '\0' + "CONNECT\nlogin:a\\nb\n\n" + '\0';
    p.feed(in.data(), in.size());
    Frame f;
    REQUIRE(p.next(f) == FrameParser::Status::frame);
    CHECK(f.headers[0].first == "k:x");
    CHECK(f.headers[0].second == "a\nb\\c\rd");
    REQUIRE(p.next(f) == FrameParser::Status::frame);
    CHECK(*f.header("login") == "a\\nb");
  }

  TEST_CASE("an undefined escape is an error in 1.1; \\r is undefined in 1.1") {
    FrameParser p;
    p.set_version(Version::v1_1);
    const std::string in = std::string("SEND\nk:a\\rb\n\n") + '\0';
    p.feed(in.data(), in.size());
    Frame f;
    CHECK(p.next(f) == FrameParser::Status::error);
    CHECK(p.error().find("invalid escape") != std::string::npos);
  }

  TEST_CASE("the first of repeated headers wins") {
    FrameParser p;
    const std::string in = std::string("SEND\nfoo:1\nfoo:2\n\n") + '\0';
    p.feed(in.data(), in.size());
    Frame f;
    REQUIRE(p.next(f) == FrameParser::Status::frame);
    CHECK(*f.header("foo") == "1");
  }

  TEST_CASE("a frame larger than the limit is an error, not a wait") {
    FrameParser p(64);
    const std::string in = "SEND\n\n" + std::string(100, 'x');
    p.feed(in.data(), in.size());
    Frame f;
    CHECK(p.next(f) == FrameParser::Status::error);
    CHECK(p.error() == "frame exceeds 64 bytes");
  }

  TEST_CASE("bad content-length and a lowercase command are errors") {
    Frame f;
    FrameParser a;
    const std::string bad_len = std::string("SEND\ncontent-length:x\n\n") + '\0';
    a.feed(bad_len.data(), bad_len.size());
    CHECK(a.next(f) == FrameParser::Status::error);
    FrameParser b;
    const std::string lower = std::string("send\n\n") + '\0';
    b.feed(lower.data(), lower.size());
    CHECK(b.next(f) == FrameParser::Status::error);
  }

  TEST_CASE("escaping per version") {
    std::string v10, v11, v12;
    append_escaped(v10, "a:b\nc\\d\re", Version::v1_0);
    append_escaped(v11, "a:b\nc\\d\re", Version::v1_1);
    append_escaped(v12, "a:b\nc\\d\re", Version::v1_2);
    CHECK(v10 == "a:b c\\d e");
    CHECK(v11 == "a\\cb\\nc\\\\d e");
    CHECK(v12 == "a\\cb\\nc\\\\d\\re");
  }
}
