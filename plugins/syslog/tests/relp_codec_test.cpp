// The RELP codec (src/relp_codec.hpp): the frames the client writes, the server's answers as the
// reader takes them in (whole, split across reads, several in one read), and every malformed
// input the reader must refuse with a reason instead of crashing or holding unbounded data.
#include <doctest/doctest.h>

#include "relp_codec.hpp"

#include <string>
#include <vector>

namespace relp = sluice::syslog::relp;

namespace {

std::string frame(uint32_t txnr, const std::string& command, const std::string& data) {
  std::string out;
  relp::append_frame(out, txnr, command, data);
  return out;
}

// Feeds `input` in pieces of `step` bytes; returns the frames, or the error in `why`.
std::vector<relp::Frame> read_all(const std::string& input, size_t step, std::string* why,
                                  size_t limit = 64 * 1024) {
  relp::Reader r(limit);
  std::vector<relp::Frame> out;
  for (size_t at = 0; at < input.size(); at += step)
    if (!r.feed(input.data() + at, std::min(step, input.size() - at), out)) {
      *why = r.error();
      return out;
    }
  why->clear();
  return out;
}

std::string error_of(const std::string& input, size_t limit = 64 * 1024) {
  std::string why;
  read_all(input, 1, &why, limit);
  std::string whole_why;
  read_all(input, input.size(), &whole_why, limit);
  CHECK(why == whole_why);  // the same verdict whatever the reads
  return why;
}

}  // namespace

TEST_CASE("encode: syslog frame with data") {
  CHECK(frame(2, "syslog", "<13>1 - - - - - - hello") == "2 syslog 23 <13>1 - - - - - - hello\n");
}

TEST_CASE("encode: a frame without data has no SP after the length") {
  CHECK(frame(5, "close", "") == "5 close 0\n");
}

TEST_CASE("encode: data with LFs is carried as it is (the length frames it)") {
  CHECK(frame(3, "syslog", "a\nb") == "3 syslog 3 a\nb\n");
}

TEST_CASE("encode: open offers") {
  CHECK(frame(1, "open", relp::open_offers("sluice,0.1.0")) ==
        "1 open 57 relp_version=0\nrelp_software=sluice,0.1.0\ncommands=syslog\n");
}

TEST_CASE("txnr: 1, 2, ... 999999999, then 1 again") {
  CHECK(relp::next_txnr(0) == 1);
  CHECK(relp::next_txnr(1) == 2);
  CHECK(relp::next_txnr(999999998) == 999999999);
  CHECK(relp::next_txnr(999999999) == 1);
}

TEST_CASE("read: one rsp") {
  std::string why;
  auto f = read_all("2 rsp 6 200 OK\n", 100, &why);
  REQUIRE(why.empty());
  REQUIRE(f.size() == 1);
  CHECK(f[0].txnr == 2);
  CHECK(f[0].command == "rsp");
  CHECK(f[0].data == "200 OK");
}

TEST_CASE("read: several frames in one read, and the same split at every byte") {
  const std::string in =
      "1 rsp 53 200 OK\nrelp_version=0\nrelp_software=x\ncommands=syslog\n"
      "2 rsp 6 200 OK\n3 rsp 19 500 queue is full\nx\n0 serverclose 0\n";
  for (size_t step : {size_t{1}, size_t{2}, size_t{7}, in.size()}) {
    CAPTURE(step);
    std::string why;
    auto f = read_all(in, step, &why);
    REQUIRE(why.empty());
    REQUIRE(f.size() == 4);
    CHECK(f[0].data == "200 OK\nrelp_version=0\nrelp_software=x\ncommands=syslog");
    CHECK(f[1].txnr == 2);
    CHECK(f[2].data == "500 queue is full\nx");
    CHECK(f[3].txnr == 0);
    CHECK(f[3].command == "serverclose");
    CHECK(f[3].data.empty());
  }
}

TEST_CASE("read: a partial frame waits for the rest") {
  relp::Reader r;
  std::vector<relp::Frame> out;
  CHECK(r.feed("7 rsp 6 200", 11, out));
  CHECK(out.empty());
  CHECK(!r.idle());
  CHECK(r.feed(" OK", 3, out));
  CHECK(out.empty());  // the LF trailer is not there yet
  CHECK(r.feed("\n", 1, out));
  REQUIRE(out.size() == 1);
  CHECK(out[0].data == "200 OK");
  CHECK(r.idle());
}

TEST_CASE("malformed: non-digit transaction number") {
  CHECK(error_of("x rsp 6 200 OK\n") == "RELP frame: transaction number expected, got 'x'");
  CHECK(error_of("1a rsp 6 200 OK\n") == "RELP frame: transaction number expected, got 'a'");
  CHECK(error_of(" 1 rsp 6 200 OK\n") == "RELP frame: transaction number expected, got ' '");
}

TEST_CASE("malformed: transaction number longer than 9 digits") {
  CHECK(error_of("1000000000 rsp 6 200 OK\n") ==
        "RELP frame: transaction number longer than 9 digits");
}

TEST_CASE("malformed: non-digit data length") {
  CHECK(error_of("2 rsp x 200 OK\n") == "RELP frame 2: data length expected, got 'x'");
  CHECK(error_of("2 rsp 6x 200 OK\n") ==
        "RELP frame 2: SP expected after the data length, got 'x'");
  CHECK(error_of("2 rsp -6 200 OK\n") == "RELP frame 2: data length expected, got '-'");
}

TEST_CASE("malformed: data length above the limit is refused before any data is held") {
  CHECK(error_of("2 rsp 100 200 OK\n", 64) == "RELP frame 2: data length above 64 bytes");
  CHECK(error_of("2 rsp 999999999 ", 64 * 1024) == "RELP frame 2: data length above 65536 bytes");
  // With a limit above any 9-digit length, a 10th digit is refused for itself.
  CHECK(error_of("2 rsp 1234567890 x\n", 2000000000) ==
        "RELP frame 2: data length longer than 9 digits");
}

TEST_CASE("malformed: missing LF trailer") {
  CHECK(error_of("2 rsp 6 200 OKX") ==
        "RELP frame 2 (rsp): LF trailer expected after 6 data bytes, got 'X'");
  CHECK(error_of("2 rsp 3 200 OK\n") ==
        "RELP frame 2 (rsp): LF trailer expected after 3 data bytes, got ' '");
  CHECK(error_of("0 serverclose 0 \n") ==
        "RELP frame 0 (serverclose): LF trailer expected after 0 data bytes, got ' '");
}

TEST_CASE("malformed: bad command") {
  CHECK(error_of("2 r_p 6 200 OK\n") == "RELP frame 2: command expected, got '_'");
  CHECK(error_of("2  6 200 OK\n") == "RELP frame 2: command expected, got ' '");
  CHECK(error_of("2 " + std::string(33, 'a') + " 0\n") ==
        "RELP frame 2: command longer than 32 letters");
}

TEST_CASE("malformed: control bytes are shown escaped, and the reader stays failed") {
  relp::Reader r;
  std::vector<relp::Frame> out;
  CHECK(!r.feed("\x01", 1, out));
  CHECK(r.error() == "RELP frame: transaction number expected, got '\\x01'");
  CHECK(!r.feed("2 rsp 6 200 OK\n", 15, out));  // no frame after an error
  CHECK(out.empty());
}

TEST_CASE("huge data within the limit is read whole, in pieces") {
  const std::string body = "200 " + std::string(60000, 'x');
  const std::string in = frame(9, "rsp", body);
  std::string why;
  auto f = read_all(in, 4096, &why);
  REQUIRE(why.empty());
  REQUIRE(f.size() == 1);
  CHECK(f[0].data == body);
}

TEST_CASE("rsp: code, text, body") {
  std::string why;
  auto r = relp::parse_rsp("200 OK\nrelp_version=0\ncommands=syslog", &why);
  REQUIRE(r);
  CHECK(r->code == 200);
  CHECK(r->text == "OK");
  CHECK(r->body == "relp_version=0\ncommands=syslog");
  r = relp::parse_rsp("500 error: queue full", &why);
  REQUIRE(r);
  CHECK(r->code == 500);
  CHECK(r->text == "error: queue full");
  CHECK(r->body.empty());
  r = relp::parse_rsp("200", &why);
  REQUIRE(r);
  CHECK(r->code == 200);
  CHECK(r->text.empty());
}

TEST_CASE("rsp: malformed codes") {
  std::string why;
  CHECK(!relp::parse_rsp("OK", &why));
  CHECK(why == "rsp without a 3-digit code: 'OK'");
  CHECK(!relp::parse_rsp("20 OK", &why));
  CHECK(!relp::parse_rsp("2000 OK", &why));
  CHECK(!relp::parse_rsp("", &why));
}

TEST_CASE("offers: commands=syslog among others") {
  CHECK(relp::offers_command("relp_version=0\nrelp_software=x\ncommands=syslog", "syslog"));
  CHECK(relp::offers_command("commands=foo,syslog,bar\nrelp_version=0", "syslog"));
  CHECK(!relp::offers_command("relp_version=0\ncommands=sysl", "syslog"));
  CHECK(!relp::offers_command("relp_version=0\ncommands=", "syslog"));
  CHECK(!relp::offers_command("relp_version=0\nxcommands=syslog", "syslog"));
  CHECK(!relp::offers_command("", "syslog"));
}
