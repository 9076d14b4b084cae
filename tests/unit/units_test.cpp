// sluice/units.hpp: durations, sizes and counts as people write them in pipeline files and in
// the fakes' scripts. Bad values are refused with an exception, never converted.
#include <sluice/units.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>

using namespace std::chrono_literals;
using nlohmann::json;

TEST_CASE("units: durations with and without a unit") {
  CHECK(sluice::parse_duration("250") == 250ms);
  CHECK(sluice::parse_duration("250ms") == 250ms);
  CHECK(sluice::parse_duration("1.5s") == 1500ms);
  CHECK(sluice::parse_duration("2 m") == 120000ms);
  CHECK(sluice::parse_duration("2min") == 120000ms);
  CHECK(sluice::parse_duration("1h") == 3600000ms);
}

TEST_CASE("units: a bad duration is refused") {
  CHECK_THROWS_AS(sluice::parse_duration(""), std::invalid_argument);
  CHECK_THROWS_AS(sluice::parse_duration("s"), std::invalid_argument);
  CHECK_THROWS_AS(sluice::parse_duration("5d"), std::invalid_argument);
  CHECK_THROWS_AS(sluice::parse_duration(".."), std::invalid_argument);
  CHECK_THROWS_AS(sluice::parse_duration("99999999999999999999h"), std::out_of_range);
}

TEST_CASE("units: a duration is at most about 31 years, so that now() + it cannot overflow") {
  CHECK(sluice::parse_duration("1000000000000") == std::chrono::milliseconds(1000000000000));
  CHECK(sluice::duration_option(json(1000000000000)) == std::chrono::milliseconds(1000000000000));
  CHECK_THROWS_WITH_AS(sluice::parse_duration("300000h"),
                       "duration too large: '300000h' (at most 1000000000000 ms, about 31 years)",
                       std::out_of_range);
  CHECK_THROWS_AS(sluice::duration_option(json(1000000000001)), std::out_of_range);
  CHECK_THROWS_AS(sluice::duration_option(json(std::int64_t{9000000000000000000})),
                  std::out_of_range);
  // The largest one still fits in nanoseconds after now().
  const auto far = std::chrono::steady_clock::now() + sluice::parse_duration("1000000000000");
  CHECK(far > std::chrono::steady_clock::now());
}

TEST_CASE("units: sizes in binary and decimal units") {
  CHECK(sluice::parse_size("512") == 512);
  CHECK(sluice::parse_size("512B") == 512);
  CHECK(sluice::parse_size("64KiB") == 64 * 1024);
  CHECK(sluice::parse_size("64K") == 64 * 1024);
  CHECK(sluice::parse_size("16 MiB") == 16u << 20);
  CHECK(sluice::parse_size("1GiB") == 1u << 30);
  CHECK(sluice::parse_size("2kB") == 2000);
  CHECK(sluice::parse_size("1GB") == 1000000000);
}

TEST_CASE("units: a bad size is refused") {
  CHECK_THROWS_AS(sluice::parse_size("MiB"), std::invalid_argument);
  CHECK_THROWS_AS(sluice::parse_size("5TB"), std::invalid_argument);
  CHECK_THROWS_AS(sluice::parse_size("-5"), std::invalid_argument);
  CHECK_THROWS_AS(sluice::parse_size("20000000000GB"), std::out_of_range);
}

TEST_CASE("units: an option value is a number (ms, bytes) or a string with a unit") {
  CHECK(sluice::duration_option(json(1500)) == 1500ms);
  CHECK(sluice::duration_option(json("1.5s")) == 1500ms);
  CHECK(sluice::size_option(json(4096)) == 4096);
  CHECK(sluice::size_option(json("4KiB")) == 4096);
  CHECK(sluice::size_option(json(1000.0)) == 1000);  // YAML's 1e3 reaches us as a float
}

TEST_CASE("units: a count is a whole number from 0 to its maximum") {
  CHECK(sluice::count_option(json(0)) == 0);
  CHECK(sluice::count_option(json(std::uint64_t{18446744073709551615u})) == 18446744073709551615u);
  CHECK(sluice::count_option(json(7), 7) == 7);
  CHECK(sluice::count_option(json(3e3)) == 3000);
  CHECK_THROWS_AS(sluice::count_option(json(8), 7), std::out_of_range);
  CHECK_THROWS_AS(sluice::count_option(json(-1)), std::out_of_range);
  CHECK_THROWS_AS(sluice::count_option(json(-0.5)), std::out_of_range);
  CHECK_THROWS_AS(sluice::count_option(json(2.5)), std::invalid_argument);
  CHECK_THROWS_AS(sluice::count_option(json("5")), std::invalid_argument);
  CHECK_THROWS_AS(sluice::count_option(json(nullptr)), std::invalid_argument);
}

// Found by fuzz.fake_ldmd_script: a JSON number beyond uint64_t (nlohmann reads it as a double)
// was converted with undefined behaviour instead of refused.
TEST_CASE("units: numbers beyond the integer range are refused, not converted") {
  const json huge = json::parse("155555555555555555555555555555");
  REQUIRE(huge.is_number_float());
  CHECK_THROWS_AS(sluice::size_option(huge), std::out_of_range);
  CHECK_THROWS_AS(sluice::duration_option(huge), std::out_of_range);
  CHECK_THROWS_AS(sluice::count_option(json(1e300)), std::out_of_range);
  CHECK_THROWS_AS(sluice::duration_option(json(std::uint64_t{9223372036854775808u})),
                  std::out_of_range);
  CHECK_THROWS_AS(sluice::size_option(json(-1)), std::out_of_range);
  CHECK_THROWS_AS(sluice::duration_option(json(-1)), std::out_of_range);
  CHECK_THROWS_AS(sluice::count_option(json(std::numeric_limits<double>::quiet_NaN())),
                  std::out_of_range);
}

TEST_CASE("units: a rate is 0 or from 1e-06 to 1e9 events per second") {
  CHECK(sluice::rate_option(json(0)) == 0);
  CHECK(sluice::rate_option(json(0.5)) == 0.5);
  CHECK(sluice::rate_option(json(1e-6)) == 1e-6);
  CHECK(sluice::rate_option(json(1000000000)) == 1e9);
  CHECK_THROWS_AS(sluice::rate_option(json(-1)), std::out_of_range);
  CHECK_THROWS_AS(sluice::rate_option(json(1e-300)), std::out_of_range);
  CHECK_THROWS_AS(sluice::rate_option(json(1e10)), std::out_of_range);
  CHECK_THROWS_AS(sluice::rate_option(json("10")), std::invalid_argument);
}
