// Reading one HTTP response with bounded memory: the one HTTP-reading helper of sluice and its
// plugins (the webhook sink, the HMC WS API client, any future HTTP client).
//
// Why not plain http::async_read: Beast 1.74's parser ignores body_limit when body bytes arrive
// in the same read as the header. basic_parser::put sets the body_limit error in finish_header,
// then, eager, goes on parsing the glued body bytes, which overwrites the error and makes the
// string body reserve Content-Length bytes: one response with `Content-Length: 107374182400` and
// a few body bytes in the same segment ends in std::bad_alloc (or, a little smaller, in a body
// that grows to whatever the peer sends). And a response parser has no body limit by default.
//
// async_read_response therefore
//   - reads the header alone first (not eager: no body byte is parsed with it),
//   - compares Content-Length with the limit itself and fails with http::error::body_limit
//     before any body byte is stored,
//   - reads the body with the parser's body_limit, which Beast enforces on every later path
//     (Content-Length, chunked: each chunk size counts; no length: read to EOF),
//   - bounds the read buffer (header limit + one socket read), so a chunk-size line or a header
//     that never ends cannot grow it either.
// Peak memory is then the body limit (at most) plus the bounded read buffer.
//
// After http::error::body_limit with parser.is_header_done() the status line and fields are
// valid (the caller may act on the status) but the body is not: close the connection, the rest
// of the body is still on its way.
//
//   sluice::http::async_read_response(stream, buffer, parser, {limit}, handler);
//   co_await sluice::http::async_read_response(stream, buffer, parser, {limit}, use_awaitable);
//
// C++17, header-only, Boost.Beast only.
#pragma once

#include <boost/asio/compose.hpp>
#include <boost/asio/coroutine.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace sluice::http {

struct ResponseLimits {
  std::uint64_t body = 1u << 20;     // bytes of body, after chunked decoding
  std::uint32_t header = 16u << 10;  // status line and fields (and chunked trailers)
};

// Beast reads at most this much per socket read.
inline constexpr std::size_t kReadChunk = 65536;

// The most the read buffer may hold: a whole header plus one socket read.
inline std::size_t read_buffer_limit(const ResponseLimits& limits) {
  return static_cast<std::size_t>(limits.header) + kReadChunk;
}

// Sets the limits on a parser and its (empty) read buffer; async_read_response does this.
template <class Body, class Allocator>
void apply_limits(boost::beast::http::response_parser<Body, Allocator>& parser,
                  boost::beast::flat_buffer& buffer, const ResponseLimits& limits) {
  parser.header_limit(limits.header);
  parser.body_limit(limits.body);
  buffer.max_size(read_buffer_limit(limits));
}

// Whether a parsed header announces a body larger than the limit (Content-Length).
template <class Body, class Allocator>
bool announces_too_much(const boost::beast::http::response_parser<Body, Allocator>& parser,
                        const ResponseLimits& limits) {
  if (!parser.is_header_done()) return false;
  const auto length = parser.content_length();
  return length && *length > limits.body;
}

namespace detail {

template <class Stream, class Parser>
struct ReadResponseOp : boost::asio::coroutine {
  Stream& stream;
  boost::beast::flat_buffer& buffer;
  Parser& parser;
  ResponseLimits limits;
  std::size_t total = 0;

  ReadResponseOp(Stream& s, boost::beast::flat_buffer& b, Parser& p, const ResponseLimits& l)
      : stream(s), buffer(b), parser(p), limits(l) {}

  template <class Self>
  void operator()(Self& self, boost::system::error_code ec = {}, std::size_t n = 0) {
    BOOST_ASIO_CORO_REENTER(*this) {
      apply_limits(parser, buffer, limits);
      BOOST_ASIO_CORO_YIELD boost::beast::http::async_read_header(stream, buffer, parser,
                                                                  std::move(self));
      total += n;
      if (!ec && announces_too_much(parser, limits)) ec = boost::beast::http::error::body_limit;
      if (ec || parser.is_done()) {
        self.complete(ec, total);
        return;
      }
      BOOST_ASIO_CORO_YIELD boost::beast::http::async_read(stream, buffer, parser, std::move(self));
      total += n;
      self.complete(ec, total);
    }
  }
};

}  // namespace detail

// Reads one response into `parser` (fresh, nothing parsed yet) through `buffer` (empty, or
// holding bytes that came after an earlier message). Completes with (error_code, bytes read).
template <class AsyncReadStream, class Body, class Allocator, class CompletionToken>
auto async_read_response(AsyncReadStream& stream, boost::beast::flat_buffer& buffer,
                         boost::beast::http::response_parser<Body, Allocator>& parser,
                         const ResponseLimits& limits, CompletionToken&& token) {
  using Parser = boost::beast::http::response_parser<Body, Allocator>;
  return boost::asio::async_compose<CompletionToken, void(boost::system::error_code, std::size_t)>(
      detail::ReadResponseOp<AsyncReadStream, Parser>(stream, buffer, parser, limits), token,
      stream);
}

}  // namespace sluice::http
