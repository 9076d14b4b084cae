// sluice/url.hpp: percent-encoding of query values.
#include <sluice/url.hpp>

#include <doctest/doctest.h>

TEST_CASE("url_encode: unreserved characters stay as they are") {
  CHECK(sluice::url_encode("LINUX-01.a_b~Z9") == "LINUX-01.a_b~Z9");
  CHECK(sluice::url_encode("") == "");
}

TEST_CASE("url_encode: reserved characters, space and wildcards are encoded") {
  CHECK(sluice::url_encode("a b&c=d") == "a%20b%26c%3Dd");
  CHECK(sluice::url_encode("hmc.*/x?y#z+%") == "hmc.%2A%2Fx%3Fy%23z%2B%25");
}

TEST_CASE("url_encode: UTF-8 and control bytes are encoded byte by byte") {
  CHECK(sluice::url_encode("\xC3\xA9") == "%C3%A9");
  CHECK(sluice::url_encode(std::string_view("\0\n\x7F\xFF", 4)) == "%00%0A%7F%FF");
}
