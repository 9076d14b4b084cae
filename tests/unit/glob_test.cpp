// Route filter globs: `*`, `?`, `[...]`, negation, escapes; lists match when any pattern does.
#include <doctest/doctest.h>

#include <sluice/core/glob.hpp>

using sluice::core::glob_match;
using sluice::core::GlobList;

TEST_CASE("glob: literal text matches only itself") {
  CHECK(glob_match("hmc.os-message", "hmc.os-message"));
  CHECK_FALSE(glob_match("hmc.os-message", "hmc.os-messages"));
  CHECK_FALSE(glob_match("hmc.os-message", "hmc.os-messag"));
}

TEST_CASE("glob: * matches any run, including none and dots and slashes") {
  CHECK(glob_match("hmc.*", "hmc.property-change"));
  CHECK(glob_match("hmc.*", "hmc."));
  CHECK(glob_match("*", ""));
  CHECK(glob_match("ldm.*.start-domain", "ldm.domain.start-domain"));
  CHECK(glob_match("/api/*/lpar", "/api/cpcs/1/lpar"));
  CHECK_FALSE(glob_match("ldm.*.start-domain", "ldm.domain.stop-domain"));
  CHECK(glob_match("*a*b*c", "xxaxxbxxc"));
  CHECK_FALSE(glob_match("*a*b*c", "xxaxxbxx"));
}

TEST_CASE("glob: ? matches exactly one character") {
  CHECK(glob_match("lpar?", "lpar1"));
  CHECK_FALSE(glob_match("lpar?", "lpar"));
  CHECK_FALSE(glob_match("lpar?", "lpar12"));
}

TEST_CASE("glob: [..] classes, ranges and negation") {
  CHECK(glob_match("lpar[0-9]", "lpar7"));
  CHECK_FALSE(glob_match("lpar[0-9]", "lparx"));
  CHECK(glob_match("[abc]x", "bx"));
  CHECK(glob_match("[!abc]x", "dx"));
  CHECK_FALSE(glob_match("[!abc]x", "ax"));
  CHECK(glob_match("[^a]x", "bx"));
  CHECK(glob_match("[]]", "]"));
  CHECK(glob_match("[a-]", "-"));
}

TEST_CASE("glob: backslash escapes a wildcard; an unclosed [ is literal") {
  CHECK(glob_match("a\\*", "a*"));
  CHECK_FALSE(glob_match("a\\*", "ab"));
  CHECK(glob_match("a[b", "a[b"));
}

TEST_CASE("glob: a list matches when any pattern matches; an empty list matches nothing") {
  GlobList list({"hmc.os-message", "ldm.domain.*"});
  CHECK(list.match("hmc.os-message"));
  CHECK(list.match("ldm.domain.panic-domain"));
  CHECK_FALSE(list.match("hmc.property-change"));
  CHECK_FALSE(GlobList(std::vector<std::string>{}).match("x"));
}
