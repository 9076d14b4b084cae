// libFuzzer target for the webhook's HTTP response handling: raw response bytes through
// sluice::http::async_read_response (the one HTTP-reading helper) into the answer mapping, and
// the body through the splunk-hec and elasticsearch-bulk readers of per-event answers.
// Invariants: no crash, no exception; the body kept never exceeds the limit and the read buffer
// never exceeds its bound, whatever Content-Length, chunking or glued bytes say.
#include "bulk.hpp"
#include "webhook_util.hpp"

#include <sluice/http_read.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace http = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Small limits so that the fuzzer reaches them; the first byte picks the body limit.
  if (size == 0) return 0;
  const sluice::http::ResponseLimits limits{static_cast<uint64_t>(data[0]) * 64, 2048};
  boost::asio::io_context io;
  boost::beast::test::stream client(io);
  client.append(boost::beast::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
  client.close_remote();
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  boost::system::error_code result = boost::asio::error::would_block;
  sluice::http::async_read_response(client, buffer, parser, limits,
                                    [&](boost::system::error_code ec, size_t) { result = ec; });
  io.run();
  if (result == boost::asio::error::would_block) __builtin_trap();  // never completed
  if (parser.get().body().size() > limits.body) __builtin_trap();
  if (buffer.capacity() > sluice::http::read_buffer_limit(limits)) __builtin_trap();
  if (!parser.is_header_done()) return 0;
  if (result && result != http::error::body_limit && !parser.is_done()) return 0;
  const auto& res = parser.get();
  std::optional<std::string_view> retry_after;
  if (auto it = res.find(http::field::retry_after); it != res.end())
    retry_after = std::string_view(it->value().data(), it->value().size());
  static const std::map<int, sluice::webhook::Action> status_map{
      {409, sluice::webhook::Action::ok}, {503, sluice::webhook::Action::reject}};
  const auto o = sluice::webhook::classify_response(
      static_cast<int>(res.result_int()),
      std::string_view(res.reason().data(), res.reason().size()), res.body(), retry_after,
      status_map, std::chrono::system_clock::from_time_t(1700000000));
  for (char c : o.reason)
    if (static_cast<unsigned char>(c) < 0x20) __builtin_trap();  // reasons go to logs
  // Per-event answers: one per event of the request or none, never a control character.
  static const std::vector<std::string> ids{"a", "b", "c"};
  const auto hec = sluice::webhook::read_hec_answer(o, res.body(), ids.size(), status_map);
  const auto bulk = sluice::webhook::read_bulk_answer(o, res.body(), ids, status_map);
  for (const auto* answer : {&hec, &bulk}) {
    if (!answer->events.empty() && answer->events.size() != ids.size()) __builtin_trap();
    for (const auto& e : answer->events)
      for (char c : e.reason)
        if (static_cast<unsigned char>(c) < 0x20) __builtin_trap();
  }
  return 0;
}
