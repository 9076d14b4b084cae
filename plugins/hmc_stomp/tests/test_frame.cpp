// STOMP frame parser and serializer: split reads, several frames per read, bodies, escaping per
// version, repeated headers, bad frames, the size limit.
#include "stomp_frame.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

using sluice::hmc::stomp::Frame;
using sluice::hmc::stomp::FrameError;
using sluice::hmc::stomp::Parser;
using sluice::hmc::stomp::Version;
using namespace std::string_literals;

namespace {
std::vector<Frame> parse_all(const std::string& wire, Version v = Version::v1_2,
                             size_t limit = 1 << 20) {
  Parser p(limit);
  p.set_version(v);
  std::vector<Frame> out;
  p.feed(wire, out);
  return out;
}
// Three frames for the split-read tests: a heart-beat, CRLF lines, an escape, content-length
// with a NUL in the body, a body without content-length, an ERROR.
const std::string kThreeFrames =
    "\nMESSAGE\r\ndestination:/topic/a\\cb\r\ncontent-length:4\r\n\r\nab\0c\0\n"
    "MESSAGE\nx:1\n\n{\"k\":\"v\"}\0ERROR\nmessage:bad\n\nstack\0"s;

// `got` holds the same frames as `expected`: command, headers and body of each.
void check_same_frames(const std::vector<Frame>& got, const std::vector<Frame>& expected) {
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i].command == expected[i].command);
    CHECK(got[i].headers == expected[i].headers);
    CHECK(got[i].body == expected[i].body);
  }
}
}  // namespace

TEST_CASE("a MESSAGE with content-length is parsed") {
  auto frames =
      parse_all("MESSAGE\ndestination:/topic/a\nmessage-id:7\ncontent-length:5\n\nhe\0lo\0"s);
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].command == "MESSAGE");
  CHECK(*frames[0].header("destination") == "/topic/a");
  CHECK(*frames[0].header("message-id") == "7");
  CHECK(frames[0].body == "he\0lo"s);
}

TEST_CASE("a body without content-length ends at the NUL") {
  auto frames = parse_all("MESSAGE\na:b\n\n{\"x\":1}\0"s);
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].body == "{\"x\":1}");
}

TEST_CASE("CRLF line endings are accepted") {
  auto frames = parse_all("MESSAGE\r\na:b\r\nc:d\r\n\r\nbody\0"s);
  REQUIRE(frames.size() == 1);
  CHECK(*frames[0].header("a") == "b");
  CHECK(*frames[0].header("c") == "d");
  CHECK(frames[0].body == "body");
}

TEST_CASE("a frame without headers is parsed") {
  auto frames = parse_all("CONNECTED\n\n\0"s);
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].command == "CONNECTED");
  CHECK(frames[0].headers.empty());
  CHECK(frames[0].body.empty());
}

TEST_CASE("heart-beat EOLs between frames are skipped and counted") {
  Parser p;
  std::vector<Frame> out;
  p.feed("\n\r\n\nRECEIPT\nreceipt-id:1\n\n\0\n\n"s, out);
  REQUIRE(out.size() == 1);
  CHECK(*out[0].header("receipt-id") == "1");
  CHECK(p.heartbeats() == 5);
  CHECK(p.buffered() == 0);
}

TEST_CASE("several frames in one read") {
  std::string wire;
  for (int i = 0; i < 5; ++i)
    wire += "MESSAGE\nmessage-id:" + std::to_string(i) + "\n\nbody" + std::to_string(i) + '\0';
  auto frames = parse_all(wire);
  REQUIRE(frames.size() == 5);
  for (int i = 0; i < 5; ++i) {
    CHECK(*frames[i].header("message-id") == std::to_string(i));
    CHECK(frames[i].body == "body" + std::to_string(i));
  }
}

TEST_CASE("a stream split at every byte position gives the same frames") {
  const std::string& wire = kThreeFrames;
  const auto whole = parse_all(wire);
  REQUIRE(whole.size() == 3);
  for (size_t cut = 0; cut <= wire.size(); ++cut) {
    CAPTURE(cut);
    Parser p;
    p.set_version(Version::v1_2);
    std::vector<Frame> out;
    p.feed(std::string_view(wire).substr(0, cut), out);
    p.feed(std::string_view(wire).substr(cut), out);
    check_same_frames(out, whole);
  }
  // One byte at a time, too.
  Parser p;
  p.set_version(Version::v1_2);
  std::vector<Frame> out;
  for (char c : wire)
    p.feed(std::string_view(&c, 1), out);
  REQUIRE(out.size() == 3);
  CHECK(*out[0].header("destination") == "/topic/a:b");
  CHECK(out[0].body == "ab\0c"s);
  CHECK(out[2].body == "stack");
}

TEST_CASE("repeated headers: the first value wins") {
  auto frames = parse_all("MESSAGE\nfoo:first\nfoo:second\n\n\0"s);
  REQUIRE(frames.size() == 1);
  CHECK(*frames[0].header("foo") == "first");
  CHECK(frames[0].headers.size() == 2);
}

TEST_CASE("a header value may contain colons in 1.0 and be empty") {
  auto frames = parse_all("MESSAGE\nurl:http://x:1/\nempty:\n\n\0"s, Version::v1_0);
  REQUIRE(frames.size() == 1);
  CHECK(*frames[0].header("url") == "http://x:1/");
  CHECK(*frames[0].header("empty") == "");
}

TEST_CASE("STOMP 1.2 escapes: \\r \\n \\c \\\\ are decoded") {
  auto frames = parse_all("MESSAGE\nk\\cey:a\\nb\\rc\\cd\\\\e\n\n\0"s, Version::v1_2);
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].headers[0].first == "k:ey");
  CHECK(frames[0].headers[0].second == "a\nb\rc:d\\e");
}

TEST_CASE("STOMP 1.1 escapes: \\n \\c \\\\ decoded, \\r is undefined") {
  auto frames = parse_all("MESSAGE\nk:a\\nb\\cc\\\\d\n\n\0"s, Version::v1_1);
  REQUIRE(frames.size() == 1);
  CHECK(*frames[0].header("k") == "a\nb:c\\d");
  CHECK_THROWS_WITH_AS(parse_all("MESSAGE\nk:a\\rb\n\n\0"s, Version::v1_1),
                       "bad frame: undefined escape '\\r' in STOMP 1.1 header", FrameError);
}

TEST_CASE("STOMP 1.0 has no escaping: backslashes are literal") {
  auto frames = parse_all("MESSAGE\nk:a\\nb\\t\n\n\0"s, Version::v1_0);
  REQUIRE(frames.size() == 1);
  CHECK(*frames[0].header("k") == "a\\nb\\t");
}

TEST_CASE("CONNECTED headers are never unescaped") {
  auto frames = parse_all("CONNECTED\nserver:Active\\MQ\nversion:1.2\n\n\0"s, Version::v1_2);
  REQUIRE(frames.size() == 1);
  CHECK(*frames[0].header("server") == "Active\\MQ");
}

TEST_CASE("an undefined escape in 1.2 is a bad frame") {
  CHECK_THROWS_WITH_AS(parse_all("MESSAGE\nk:a\\tb\n\n\0"s),
                       "bad frame: undefined escape '\\t' in STOMP 1.2 header", FrameError);
  CHECK_THROWS_WITH_AS(parse_all("MESSAGE\nk:ab\\\n\n\0"s),
                       "bad frame: header ends with a lone backslash", FrameError);
}

TEST_CASE("bad frames are errors with a clear message") {
  CHECK_THROWS_WITH_AS(parse_all("MESSAGE\nno colon here\n\n\0"s),
                       "bad frame: header line without ':' in MESSAGE frame", FrameError);
  CHECK_THROWS_WITH_AS(parse_all("MESS{AGE\n\n\0"s), "bad frame: 'MESS{AGE' is not a STOMP command",
                       FrameError);
  CHECK_THROWS_WITH_AS(parse_all("MESSAGE\ncontent-length:abc\n\n\0"s),
                       "bad frame: content-length 'abc' is not a number", FrameError);
  CHECK_THROWS_WITH_AS(parse_all("MESSAGE\ncontent-length:2\n\nabc\0"s),
                       "bad frame: body longer than content-length (no NUL after it)", FrameError);
  CHECK_THROWS_WITH_AS(parse_all("\rX"s), "bad frame: carriage return without line feed",
                       FrameError);
}

TEST_CASE("the parser refuses to go on after an error") {
  Parser p;
  std::vector<Frame> out;
  CHECK_THROWS_AS(p.feed("MESSAGE\nbad\n\n\0"s, out), FrameError);
  CHECK_THROWS_WITH_AS(p.feed("MESSAGE\n\n\0"s, out), "bad frame: parser used after an error",
                       FrameError);
}

TEST_CASE("a bad frame after good ones in the same read: the good ones are handed out") {
  Parser p;
  std::vector<Frame> out;
  CHECK_THROWS_AS(p.feed("MESSAGE\na:1\n\nx\0RECEIPT\nreceipt-id:r\n\n\0MESSAGE\nbad\n\n\0"s, out),
                  FrameError);
  REQUIRE(out.size() == 2);
  CHECK(out[0].command == "MESSAGE");
  CHECK(out[0].headers == std::vector<std::pair<std::string, std::string>>{{"a", "1"}});
  CHECK(out[0].body == "x");
  CHECK(out[1].command == "RECEIPT");
  CHECK(*out[1].header("receipt-id") == "r");
}

TEST_CASE("frame size limit: content-length over the limit is refused before the body comes") {
  Parser p(100);
  std::vector<Frame> out;
  CHECK_THROWS_WITH_AS(
      p.feed("MESSAGE\ncontent-length:1000\n\n"s, out),
      "frame too large (1029 bytes: 29 of headers + content-length 1000 > max_frame_bytes 100)",
      FrameError);
}

TEST_CASE("frame size limit: the message gives the frame's size, not the body's") {
  // A body under the limit whose frame is over it: 29 bytes of head + 90 of body = 119.
  Parser p(100);
  std::vector<Frame> out;
  CHECK_THROWS_WITH_AS(
      p.feed("MESSAGE\ncontent-length:90\n\n"s + std::string(90, 'x') + '\0', out),
      "frame too large (117 bytes: 27 of headers + content-length 90 > max_frame_bytes 100)",
      FrameError);
}

namespace {
std::string headers_frame(size_t n) {
  std::string wire = "MESSAGE\n";
  for (size_t i = 0; i < n; ++i) {
    wire += 'h';
    wire += std::to_string(i);
    wire += ":v\n";
  }
  return wire;
}
}  // namespace

TEST_CASE("max_headers: 1000 by default; more is an error as soon as the extra header arrives") {
  {
    Parser p;
    CHECK(p.max_headers() == 1000);
    std::vector<Frame> out;
    p.feed(headers_frame(1000) + "\n" + '\0', out);
    REQUIRE(out.size() == 1);
    CHECK(out[0].headers.size() == 1000);
  }
  {
    // The frame is not complete (no blank line, no NUL): the limit is found while it arrives.
    Parser p;
    std::vector<Frame> out;
    CHECK_THROWS_WITH_AS(p.feed(headers_frame(1001), out),
                         "frame too large (more headers than max_headers 1000)", FrameError);
  }
  {
    Parser p;
    p.set_max_headers(2);
    std::vector<Frame> out;
    p.feed(headers_frame(2) + "\n" + '\0', out);
    CHECK(out.size() == 1);
    CHECK_THROWS_WITH_AS(p.feed(headers_frame(3) + "\n" + '\0', out),
                         "frame too large (more headers than max_headers 2)", FrameError);
  }
}

TEST_CASE("for_each_distinct_header: the first of each name, in order, for few and many headers") {
  for (size_t n : {size_t{0}, size_t{5}, size_t{24}, size_t{25}, size_t{200000}}) {
    CAPTURE(n);
    // Names repeat with period n/2 (at least 1): the second half repeats the first.
    const size_t period = std::max<size_t>(1, n / 2);
    std::vector<std::string> names, values;
    for (size_t i = 0; i < n; ++i) {
      names.push_back(std::string(1, 'k').append(std::to_string(i % period)));
      values.push_back(std::string(1, 'v').append(std::to_string(i)));
    }
    sluice::hmc::stomp::FrameView f;
    for (size_t i = 0; i < n; ++i)
      f.headers.emplace_back(names[i], values[i]);
    std::vector<std::pair<std::string_view, std::string_view>> seen;
    sluice::hmc::stomp::for_each_distinct_header(
        f, [&](std::string_view k, std::string_view v) { seen.emplace_back(k, v); });
    std::vector<std::pair<std::string_view, std::string_view>> expected;
    for (size_t i = 0; i < std::min(n, period); ++i)
      expected.emplace_back(names[i], values[i]);
    CHECK(seen == expected);
  }
}

TEST_CASE("frame size limit: a NUL-terminated body growing past the limit is refused") {
  Parser p(100);
  std::vector<Frame> out;
  p.feed("MESSAGE\n\n"s + std::string(50, 'x'), out);
  CHECK(out.empty());
  CHECK_THROWS_WITH_AS(p.feed(std::string(60, 'x'), out),
                       "frame too large (119 bytes without end > max_frame_bytes 100)", FrameError);
}

TEST_CASE("frame size limit: endless headers are refused") {
  Parser p(100);
  std::vector<Frame> out;
  CHECK_THROWS_WITH_AS(p.feed("MESSAGE\n"s + std::string(200, 'h'), out),
                       "frame too large (208 bytes of headers > max_frame_bytes 100)", FrameError);
}

TEST_CASE("frame size limit: a frame exactly at the limit passes") {
  // "MESSAGE\n\n" is 9 bytes; 9 + 91 body = 100 bytes before the NUL.
  Parser p(100);
  std::vector<Frame> out;
  p.feed("MESSAGE\n\n"s + std::string(91, 'x') + '\0', out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].body.size() == 91);
}

TEST_CASE("serialize: content-length is added and headers escaped per version") {
  Frame f;
  f.command = "SEND";
  f.add("destination", "/topic/a:b").add("k", "x\ny\rz\\");
  f.body = "hi";
  CHECK(sluice::hmc::stomp::serialize(f, Version::v1_2) ==
        "SEND\ndestination:/topic/a\\cb\nk:x\\ny\\rz\\\\\ncontent-length:2\n\nhi\0"s);
  CHECK(sluice::hmc::stomp::serialize(f, Version::v1_1) ==
        "SEND\ndestination:/topic/a\\cb\nk:x\\ny\rz\\\\\ncontent-length:2\n\nhi\0"s);
  CHECK(sluice::hmc::stomp::serialize(f, Version::v1_0) ==
        "SEND\ndestination:/topic/a:b\nk:x\ny\rz\\\ncontent-length:2\n\nhi\0"s);
}

TEST_CASE("serialize: CONNECT and STOMP frames are not escaped") {
  Frame f;
  f.command = "STOMP";
  f.add("login", "a:b\\c");
  CHECK(sluice::hmc::stomp::serialize(f, Version::v1_2) == "STOMP\nlogin:a:b\\c\n\n\0"s);
  f.command = "CONNECT";
  CHECK(sluice::hmc::stomp::serialize(f, Version::v1_2) == "CONNECT\nlogin:a:b\\c\n\n\0"s);
}

TEST_CASE("serialize then parse gives the frame back, for every version") {
  for (Version v : {Version::v1_0, Version::v1_1, Version::v1_2}) {
    CAPTURE(sluice::hmc::stomp::to_string(v));
    Frame f;
    f.command = "MESSAGE";
    f.add("weird", v == Version::v1_0 ? "a:b\\c" : "a:b\\c\nd");
    f.body = "x\0y"s;
    auto frames = parse_all(sluice::hmc::stomp::serialize(f, v), v);
    REQUIRE(frames.size() == 1);
    CHECK(*frames[0].header("weird") == *f.header("weird"));
    CHECK(frames[0].body == f.body);
  }
}

TEST_CASE("parse_version knows 1.0, 1.1 and 1.2 only") {
  CHECK(sluice::hmc::stomp::parse_version("1.1") == Version::v1_1);
  CHECK(!sluice::hmc::stomp::parse_version("2.0"));
}

// The parameters the fake HMC's broker side uses (sdk/fakes/hmc reads client frames with this
// codec); the defaults above are the client's.
TEST_CASE("append_escaped: `keep` is escape_header, `blank` turns unescapable breaks to blanks") {
  const std::string text = "a:b\nc\\d\re";
  std::string keep11, blank10, blank11, blank12;
  sluice::hmc::stomp::append_escaped(keep11, text, Version::v1_1);
  CHECK(keep11 == sluice::hmc::stomp::escape_header(text, Version::v1_1));
  CHECK(keep11 == "a\\cb\\nc\\\\d\re");
  sluice::hmc::stomp::append_escaped(blank10, text, Version::v1_0,
                                     sluice::hmc::stomp::RawBreak::blank);
  sluice::hmc::stomp::append_escaped(blank11, text, Version::v1_1,
                                     sluice::hmc::stomp::RawBreak::blank);
  sluice::hmc::stomp::append_escaped(blank12, text, Version::v1_2,
                                     sluice::hmc::stomp::RawBreak::blank);
  CHECK(blank10 == "a:b c\\d e");
  CHECK(blank11 == "a\\cb\\nc\\\\d e");
  CHECK(blank12 == "a\\cb\\nc\\\\d\\re");
}

TEST_CASE("next(): one frame at a time, so a version set between frames applies to the next") {
  Parser p;
  p.append("CONNECT\nlogin:a\\c\n\n\0SEND\nk:a\\cb\n\n\0SE"s);
  Frame f;
  REQUIRE(p.next(f));
  CHECK(*f.header("login") == "a\\c");
  p.set_version(Version::v1_1);
  REQUIRE(p.next(f));
  CHECK(*f.header("k") == "a:b");
  CHECK_FALSE(p.next(f));
  CHECK(p.buffered() == 2);
  p.append("ND\n\n\0"s);
  REQUIRE(p.next(f));
  CHECK(f.command == "SEND");
}

TEST_CASE("commands: lenient takes lowercase and '_', uppercase takes only A-Z") {
  Frame f;
  Parser lenient;
  lenient.append("my_send\n\n\0"s);
  REQUIRE(lenient.next(f));
  CHECK(f.command == "my_send");
  Parser strict(1 << 20, Parser::Commands::uppercase);
  strict.append("my_send\n\n\0"s);
  CHECK_THROWS_WITH_AS(strict.next(f), "bad frame: 'my_send' is not a STOMP command", FrameError);
  Parser upper(1 << 20, Parser::Commands::uppercase);
  upper.append("SEND\n\n\0"s);
  REQUIRE(upper.next(f));
  CHECK(f.command == "SEND");
}

TEST_CASE("next(FrameView): views into the buffer, escapes decoded in place, valid until append") {
  Parser p;
  p.set_version(Version::v1_2);
  p.append(
      "MESSAGE\nmessage-id:ID\\chost-1\\c1\nk\\\\ey:a\\nb\ncontent-length:2\n\n{}\0"
      "RECEIPT\r\nreceipt-id:r-1\r\n\r\n\0MESS"s);
  sluice::hmc::stomp::FrameView first, second;
  REQUIRE(p.next(first));
  REQUIRE(p.next(second));
  // The first view is still intact after the second frame was parsed.
  CHECK(first.command == "MESSAGE");
  REQUIRE(first.headers.size() == 3);
  CHECK(first.headers[0] ==
        std::pair<std::string_view, std::string_view>{"message-id", "ID:host-1:1"});
  CHECK(first.headers[1] == std::pair<std::string_view, std::string_view>{"k\\ey", "a\nb"});
  CHECK(first.header("content-length") == "2");
  CHECK(first.body == "{}");
  CHECK(second.command == "RECEIPT");
  CHECK(second.header("receipt-id") == "r-1");
  CHECK(second.body.empty());
  CHECK_FALSE(second.header("message-id"));
  sluice::hmc::stomp::FrameView third;
  CHECK_FALSE(p.next(third));
  CHECK(p.buffered() == 4);
}

TEST_CASE("prepare/commit: reads straight into the buffer give the frames append gives") {
  const std::string& wire = kThreeFrames;
  const auto whole = parse_all(wire);
  REQUIRE(whole.size() == 3);
  // Reads of every size from 1 byte to the whole stream, each into room larger than it needs
  // (as a socket read fills less than it was offered), frames taken after every read.
  for (size_t chunk = 1; chunk <= wire.size(); ++chunk) {
    CAPTURE(chunk);
    Parser p;
    p.set_version(Version::v1_2);
    std::vector<Frame> out;
    Frame f;
    for (size_t at = 0; at < wire.size(); at += chunk) {
      const size_t n = std::min(chunk, wire.size() - at);
      const std::span<char> room = p.prepare(n + 7);
      REQUIRE(room.size() == n + 7);
      std::copy_n(wire.data() + at, n, room.data());
      p.commit(n);
      while (p.next(f))
        out.push_back(f);
    }
    check_same_frames(out, whole);
    CHECK(p.buffered() == 0);
  }
}

TEST_CASE("prepare/commit: an incomplete frame's bytes are kept, the room comes after them") {
  Parser p;
  p.set_version(Version::v1_2);
  p.append("RECEIPT\nreceipt-id:1\n\n\0MESS"s);
  sluice::hmc::stomp::FrameView f;
  REQUIRE(p.next(f));
  CHECK(f.command == "RECEIPT");
  CHECK(p.buffered() == 4);
  const std::string rest = "AGE\nx:2\n\nsecond\0"s;
  const std::span<char> room = p.prepare(1024);
  std::copy(rest.begin(), rest.end(), room.begin());
  p.commit(rest.size());
  REQUIRE(p.next(f));
  CHECK(f.command == "MESSAGE");
  CHECK(f.header("x") == "2");
  CHECK(f.body == "second");
  CHECK(p.buffered() == 0);
}

TEST_CASE(
    "prepare/commit: committing more than the room is a logic error; a spent parser refuses") {
  Parser p;
  p.prepare(16);
  std::span<char> room = p.prepare(4);  // the buffer has room for 16, but 4 were offered
  CHECK_THROWS_AS(p.commit(5), std::logic_error);
  std::copy_n("BAD\n", 4, room.data());
  p.commit(4);
  sluice::hmc::stomp::FrameView f;
  CHECK_FALSE(p.next(f));
  room = p.prepare(16);
  std::copy_n("nocolon\n\n", 9, room.data());
  p.commit(9);
  CHECK_THROWS_WITH_AS(p.next(f), "bad frame: header line without ':' in BAD frame", FrameError);
  CHECK_THROWS_AS(p.prepare(16), FrameError);
}

TEST_CASE("prepare/commit: a commit without a prepare, or a second one, is a logic error") {
  Parser p;
  CHECK_THROWS_AS(p.commit(1), std::logic_error);
  std::copy_n("RECEIPT\n", 8, p.prepare(8).data());
  p.commit(8);
  CHECK_THROWS_AS(p.commit(1), std::logic_error);
  CHECK(p.buffered() == 8);
}

TEST_CASE("prepare/commit: the buffer holds one partial frame and the room, however many frames") {
  Parser p;
  p.set_version(Version::v1_2);
  const std::string frame = "MESSAGE\nmessage-id:1\n\n{}\0"s;  // 25 bytes
  const std::string stream = [&] {
    std::string s;
    for (int i = 0; i < 10000; ++i)
      s += frame;
    return s;
  }();
  sluice::hmc::stomp::FrameView f;
  size_t frames = 0;
  for (size_t at = 0; at < stream.size(); at += 64) {  // reads of 64 bytes, cutting frames
    const size_t n = std::min<size_t>(64, stream.size() - at);
    std::copy_n(stream.data() + at, n, p.prepare(64).data());
    p.commit(n);
    while (p.next(f))
      ++frames;
    CHECK(p.capacity() <= 64 + frame.size());
  }
  CHECK(frames == 10000);
}

TEST_CASE("Frame::copy_of and Frame::view convert between owned frames and views") {
  Frame f;
  f.command = "MESSAGE";
  f.add("a", "1").add("a", "2");
  f.body = "body";
  const sluice::hmc::stomp::FrameView v = f.view();
  CHECK(v.command == "MESSAGE");
  CHECK(v.header("a") == "1");  // the first of a repeated header
  CHECK(v.body == "body");
  const Frame copy = Frame::copy_of(v);
  CHECK(copy.command == f.command);
  CHECK(copy.headers == f.headers);
  CHECK(copy.body == f.body);
}

TEST_CASE("for_each_distinct_header: names that share a bit of the filter, repeated or not") {
  // The small-frame path compares a name with the earlier ones only when its bit (by length and
  // last byte) is taken: random names from a tiny alphabet (same lengths, same last bytes, the
  // empty name, and "x" / "a1", whose bits coincide across lengths) against the plain rule.
  std::mt19937 rng(7);
  const std::vector<std::string> pool = {"",   "x",  "a1", "ab", "cb", "db", "b",
                                         "bb", "xb", "a",  "1",  "zz", "az", "abc"};
  for (int round = 0; round < 2000; ++round) {
    const size_t n = rng() % 25;
    std::vector<std::string> names, values;
    for (size_t i = 0; i < n; ++i) {
      names.push_back(pool[rng() % pool.size()]);
      values.push_back(std::to_string(i));
    }
    sluice::hmc::stomp::FrameView f;
    for (size_t i = 0; i < n; ++i)
      f.headers.emplace_back(names[i], values[i]);
    std::vector<std::pair<std::string_view, std::string_view>> seen, expected;
    sluice::hmc::stomp::for_each_distinct_header(
        f, [&](std::string_view k, std::string_view v) { seen.emplace_back(k, v); });
    for (size_t i = 0; i < n; ++i)
      if (std::find(names.begin(), names.begin() + static_cast<long>(i), names[i]) ==
          names.begin() + static_cast<long>(i))
        expected.emplace_back(names[i], values[i]);
    CAPTURE(round);
    CHECK(seen == expected);
  }
}

TEST_CASE("STOMP 1.2 escapes: random values decode as byte by byte, in place and copied") {
  // unescape_to copies the runs between backslashes whole: runs of every length, escapes next
  // to each other, at the start and at the end.
  std::mt19937 rng(12);
  const std::vector<std::pair<std::string, std::string>> pieces = {
      {"\\c", ":"},
      {"\\n", "\n"},
      {"\\r", "\r"},
      {"\\\\", "\\"},
      {"a", "a"},
      {"bcd", "bcd"},
      {"0123456789abcdef0", "0123456789abcdef0"}};
  for (int round = 0; round < 3000; ++round) {
    std::string wire, want;
    for (size_t k = rng() % 12; k > 0; --k) {
      const auto& [w, d] = pieces[rng() % pieces.size()];
      wire += w;
      want += d;
    }
    CAPTURE(wire);
    CHECK(sluice::hmc::stomp::unescape_header(wire, Version::v1_2) == want);
    // In place, through the parser (a header value and a key).
    const std::string frame = "MESSAGE\nk" + wire + ":" + wire + "\n\n" + std::string(1, '\0');
    auto frames = parse_all(frame, Version::v1_2);
    REQUIRE(frames.size() == 1);
    REQUIRE(frames[0].headers.size() == 1);
    CHECK(frames[0].headers[0].first == "k" + want);
    CHECK(frames[0].headers[0].second == want);
  }
}
