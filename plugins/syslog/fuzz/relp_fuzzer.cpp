// libFuzzer target: the RELP frame reader and the rsp parser on what a hostile server could
// send, split at a point the input chooses (frames cut across reads). Checks the reader's own
// promises: it never holds more data than its limit, and fed the same bytes whole or split it
// gives the same frames and the same verdict.
#include "relp_codec.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace relp = sluice::syslog::relp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t split = data[0] % (size);
  const char* p = reinterpret_cast<const char*>(data + 1);
  const size_t n = size - 1;
  constexpr size_t kLimit = 4096;

  relp::Reader whole(kLimit);
  std::vector<relp::Frame> a;
  const bool ok_whole = whole.feed(p, n, a);

  relp::Reader parts(kLimit);
  std::vector<relp::Frame> b;
  const size_t cut = std::min(split, n);
  bool ok_parts = parts.feed(p, cut, b);
  if (ok_parts) ok_parts = parts.feed(p + cut, n - cut, b);

  if (ok_whole != ok_parts || a.size() != b.size()) std::abort();
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].txnr != b[i].txnr || a[i].command != b[i].command || a[i].data != b[i].data)
      std::abort();
    if (a[i].data.size() > kLimit || a[i].txnr > relp::kMaxTxnr || a[i].command.empty() ||
        a[i].command.size() > 32)
      std::abort();
    std::string why;
    if (auto r = relp::parse_rsp(a[i].data, &why)) {
      if (r->code < 0 || r->code > 999) std::abort();
      (void)relp::offers_command(r->body, "syslog");
    } else if (why.empty()) {
      std::abort();
    }
    // What the client would encode from it reads back the same.
    std::string again;
    relp::append_frame(again, a[i].txnr, a[i].command, a[i].data);
    relp::Reader back(kLimit);
    std::vector<relp::Frame> c;
    if (!back.feed(again.data(), again.size(), c) || c.size() != 1 || c[0].data != a[i].data)
      std::abort();
  }
  return 0;
}
