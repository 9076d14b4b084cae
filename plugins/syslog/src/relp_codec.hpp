// RELP (Reliable Event Logging Protocol, rsyslog's librelp doc/relp.html) framing, without any
// I/O: the client's frame encoder and a bounded, incremental reader for what the server sends.
//
//   RELP-FRAME = TXNR SP COMMAND SP DATALEN [SP DATA] TRAILER      TRAILER = LF
//   TXNR       = 1..9 digits (0 only from the server: serverclose)  COMMAND = 1..32 ALPHA
//   DATALEN    = 1..9 digits, the byte count of DATA (no SP, no DATA when 0)
//   rsp DATA   = RSP-CODE [SP HUMANMSG] [LF CMDDATA]                RSP-CODE = 3 digits
//
// The reader is fed whatever a read returned (frames split anywhere, several in one read) and
// hands back whole frames; hostile input (a non-digit where digits belong, a length above the
// limit, a frame not ended by LF, ...) makes it fail for good with a reason, and it never holds
// more than one frame's data (at most the limit).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::syslog::relp {

constexpr uint32_t kMaxTxnr = 999999999;
// The transaction number after `txnr`: 1, 2, ... 999999999, then 1 again (0 is never sent).
constexpr uint32_t next_txnr(uint32_t txnr) {
  return txnr >= kMaxTxnr ? 1 : txnr + 1;
}

// Appends one frame to `out`.
void append_frame(std::string& out, uint32_t txnr, std::string_view command, std::string_view data);

// The data of the client's `open`: relp_version=0, relp_software=<software>, commands=syslog.
std::string open_offers(std::string_view software);

struct Frame {
  uint32_t txnr = 0;
  std::string command;
  std::string data;
};

class Reader {
 public:
  // Largest DATA accepted; a frame announcing more is an error (rsp and serverclose data is
  // small: a code, a text and the server's offers).
  explicit Reader(size_t max_data = 64 * 1024) : max_data_(max_data) {}

  // Parses `n` bytes, appending every frame they complete to `out`. False once the input is
  // malformed (then and from then on): error() says why.
  bool feed(const char* p, size_t n, std::vector<Frame>& out);
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  // True between frames (nothing of a frame read yet).
  bool idle() const { return state_ == State::txnr && digits_ == 0; }

 private:
  enum class State { txnr, command, datalen, data, trailer };
  bool fail(std::string why);

  size_t max_data_;
  State state_ = State::txnr;
  uint64_t number_ = 0;
  int digits_ = 0;
  size_t want_ = 0;
  bool data_sp_ = false;  // the SP between DATALEN and DATA was read
  Frame frame_;
  std::string error_;
};

// An rsp's DATA: the code, the human-readable text and the data after the first LF.
struct Response {
  int code = 0;
  std::string text;
  std::string body;
};
// nullopt (and `why`) when the data does not start with a 3-digit code.
std::optional<Response> parse_rsp(std::string_view data, std::string* why);

// Whether the server's offers (the open rsp's body: LF-separated name=value) include
// `commands=` with `command` in its comma-separated list.
bool offers_command(std::string_view offers, std::string_view command);

// Printable text of untrusted bytes for an error message: at most `max` bytes, controls and
// non-ASCII bytes as \xNN.
std::string printable(std::string_view s, size_t max = 80);

}  // namespace sluice::syslog::relp
