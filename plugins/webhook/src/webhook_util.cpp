#include "webhook_util.hpp"

#include <sluice/event.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/sha.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>
#include <memory>
#include <stdexcept>

namespace sluice::webhook {

namespace {

std::string to_hex(const unsigned char* p, size_t n) {
  static const char* const digits = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(digits[p[i] >> 4]);
    out.push_back(digits[p[i] & 0xf]);
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace

Url parse_url(std::string_view text) {
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument("bad url '" + std::string(text) + "': " + why);
  };
  Url url;
  const size_t scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) fail("expected http:// or https://");
  const std::string scheme = lower(text.substr(0, scheme_end));
  if (scheme == "https")
    url.tls = true;
  else if (scheme != "http")
    fail("scheme must be http or https");
  std::string_view rest = text.substr(scheme_end + 3);
  const size_t auth_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, auth_end);
  std::string_view tail = auth_end == std::string_view::npos ? "" : rest.substr(auth_end);
  if (authority.find('@') != std::string_view::npos)
    fail("credentials in the URL are not supported; use auth:");
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) fail("unclosed '[' in host");
    url.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') fail("junk after ']'");
      port = after.substr(1);
    }
  } else {
    const size_t colon = authority.rfind(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (url.host.empty()) fail("no host");
  for (char c : url.host)
    if (static_cast<unsigned char>(c) <= ' ' || c == '/' || c == '\\') fail("bad host");
  if (!port.empty()) {
    if (port.size() > 5) fail("bad port");
    unsigned long n = 0;
    for (char c : port) {
      if (c < '0' || c > '9') fail("bad port");
      n = n * 10 + static_cast<unsigned long>(c - '0');
    }
    if (n == 0 || n > 65535) fail("port out of range");
    url.port = std::to_string(n);
  } else {
    url.port = url.tls ? "443" : "80";
  }
  const size_t hash = tail.find('#');
  if (hash != std::string_view::npos) tail = tail.substr(0, hash);
  for (char c : tail)
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) fail("space or control in path");
  // url.target starts as "/" (an empty path).
  // (Built with push_back/append: GCC 12's -Wrestrict misfires on operator+ and on assigning a
  // literal here in Release builds.)
  if (!tail.empty()) {
    url.target.clear();
    if (tail.front() == '?') url.target.push_back('/');
    url.target.append(tail.data(), tail.size());
  }
  const bool default_port = url.port == (url.tls ? "443" : "80");
  const bool v6 = url.host.find(':') != std::string::npos;
  url.host_header = (v6 ? "[" + url.host + "]" : url.host) + (default_port ? "" : ":" + url.port);
  return url;
}

std::optional<uint64_t> parse_retry_after(std::string_view value,
                                          std::chrono::system_clock::time_point now) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
    value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
    value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (value.find_first_not_of("0123456789") == std::string_view::npos) {
    if (value.size() > 9) return uint64_t{999999999} * 1000;  // absurdly long; the core caps it
    return std::stoull(std::string(value)) * 1000;
  }
  const std::string text(value);
  static const char* const formats[] = {
      "%a, %d %b %Y %H:%M:%S GMT",  // IMF-fixdate
      "%A, %d-%b-%y %H:%M:%S GMT",  // RFC 850
      "%a %b %e %H:%M:%S %Y",       // asctime
  };
  for (const char* format : formats) {
    std::tm tm{};
    const char* end = ::strptime(text.c_str(), format, &tm);
    if (!end || *end != '\0') continue;
    // In whole seconds first: a date in year 1 or 99999 would overflow a nanosecond time_point.
    constexpr int64_t kMaxSeconds = 999999999;  // as for a numeric value; the core caps it
    const int64_t when_s = static_cast<int64_t>(timegm(&tm));
    const int64_t now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    if (when_s < now_ms / 1000) return 0;
    if (when_s - now_ms / 1000 > kMaxSeconds) return uint64_t{kMaxSeconds} * 1000;
    const int64_t wait_ms = when_s * 1000 - now_ms;
    return static_cast<uint64_t>(wait_ms > 0 ? wait_ms : 0);
  }
  return std::nullopt;
}

std::string gzip(std::string_view data, int level) {
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("gzip: deflateInit2 failed");
  std::string out;
  out.resize(deflateBound(&zs, static_cast<uLong>(data.size())) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  const size_t produced = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error("gzip: deflate failed");
  out.resize(produced);
  return out;
}

std::string gunzip(std::string_view data) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) throw std::runtime_error("gunzip: inflateInit2 failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buf[16384];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      throw std::runtime_error("gunzip: corrupt data");
    }
    out.append(buf, sizeof buf - zs.avail_out);
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      throw std::runtime_error("gunzip: truncated data");
    }
  }
  inflateEnd(&zs);
  return out;
}

std::string sign_v1(std::string_view secret, std::string_view timestamp, std::string_view body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  std::unique_ptr<EVP_MAC, decltype(&EVP_MAC_free)> alg(EVP_MAC_fetch(nullptr, "HMAC", nullptr),
                                                        EVP_MAC_free);
  std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> ctx(EVP_MAC_CTX_new(alg.get()),
                                                                EVP_MAC_CTX_free);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                         OSSL_PARAM_construct_end()};
  size_t out_len = 0;
  if (!ctx ||
      EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                   params) != 1 ||
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(timestamp.data()),
                     timestamp.size()) != 1 ||
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>("."), 1) != 1 ||
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(body.data()), body.size()) !=
          1 ||
      EVP_MAC_final(ctx.get(), mac, &out_len, sizeof mac) != 1)
    throw std::runtime_error("HMAC-SHA256 failed");
  len = static_cast<unsigned int>(out_len);
  return to_hex(mac, len);
}

std::string idempotency_key(const sluice_event* events, size_t count) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  for (size_t i = 0; i < count; ++i) {
    EventRef e(events[i]);
    EVP_DigestUpdate(ctx.get(), e.source().data(), e.source().size());
    EVP_DigestUpdate(ctx.get(), "\n", 1);
    EVP_DigestUpdate(ctx.get(), e.id().data(), e.id().size());
    EVP_DigestUpdate(ctx.get(), "\n", 1);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  return to_hex(md, 16);
}

std::string snippet(std::string_view body) {
  std::string out;
  for (char c : body.substr(0, 200))
    out.push_back(static_cast<unsigned char>(c) < 0x20 ? ' ' : c);
  if (body.size() > 200) out += "...";
  return out;
}

Outcome classify_response(int status, std::string_view reason_phrase, std::string_view body,
                          std::optional<std::string_view> retry_after,
                          const std::map<int, Action>& status_map,
                          std::chrono::system_clock::time_point now) {
  Outcome o;
  o.status = status;
  if (auto it = status_map.find(status); it != status_map.end())
    o.action = it->second;
  else if (status >= 200 && status < 300)
    o.action = Action::ok;
  else if (status == 408 || status == 429 || status >= 500)
    o.action = Action::retry;
  else
    o.action = Action::reject;
  if (o.action == Action::ok) return o;
  o.reason = "HTTP " + std::to_string(status) + " " + snippet(reason_phrase);
  const std::string text = snippet(body);
  if (!text.empty()) o.reason += ": " + text;
  if (o.action == Action::retry && retry_after) {
    auto ms = parse_retry_after(*retry_after, now);
    if (ms) o.retry_after_ms = static_cast<uint32_t>(std::min<uint64_t>(*ms, UINT32_MAX));
  }
  return o;
}

std::optional<std::string> header_value_problem(std::string_view value) {
  for (size_t i = 0; i < value.size(); ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x20 || c == 0x7f) {
      static const char* hex = "0123456789abcdef";
      std::string what = c == '\r'   ? "CR"
                         : c == '\n' ? "LF"
                         : c == 0    ? "NUL"
                                  : std::string("control character 0x") + hex[c >> 4] + hex[c & 15];
      return what + " at offset " + std::to_string(i);
    }
  }
  return std::nullopt;
}

bool is_header_name(std::string_view name) {
  if (name.empty()) return false;
  for (char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    const bool ok =
        std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
    if (!ok || c >= 0x80) return false;
  }
  return true;
}

std::string base64(std::string_view data) {
  std::string out;
  out.resize(4 * ((data.size() + 2) / 3) + 1);
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace sluice::webhook
