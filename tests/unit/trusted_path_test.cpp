// sluice/trusted_path.hpp: the one check of who could have changed a directory or file sluice
// uses (spool, dead-letter file, file sink, plugins), and private creation of files/directories.
#include <doctest/doctest.h>
#include <sluice/testing.hpp>
#include <sluice/trusted_path.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;
using sluice::testing::TempDir;

namespace {
mode_t mode_of(const fs::path& p) {
  struct stat st;
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}
}  // namespace

TEST_CASE("trusted path: a private directory below a sticky shared one (like /tmp) is trusted") {
  TempDir dir;
  fs::create_directory(dir.path / "shared");
  fs::permissions(dir.path / "shared", fs::perms(01777));
  fs::create_directory(dir.path / "shared" / "mine");
  fs::permissions(dir.path / "shared" / "mine", fs::perms(0700));
  CHECK(sluice::untrusted_directory((dir.path / "shared" / "mine").string()) == "");
}

TEST_CASE("trusted path: below a shared directory without the sticky bit nothing is trusted") {
  TempDir dir;
  fs::create_directory(dir.path / "shared");
  fs::create_directory(dir.path / "shared" / "mine");
  fs::permissions(dir.path / "shared", fs::perms(0777));  // others can rename "mine" away
  CHECK(sluice::untrusted_directory((dir.path / "shared" / "mine").string()) ==
        "directory " + (dir.path / "shared").string() +
            " is writable by group or others (mode 0777): another user could plant files or "
            "links there; make it writable by its owner only (chmod go-w)");
}

TEST_CASE("trusted path: a link to an untrusted directory is judged by where it points") {
  TempDir dir;
  fs::create_directory(dir.path / "open");
  fs::permissions(dir.path / "open", fs::perms(0777));
  fs::create_directory_symlink(dir.path / "open", dir.path / "link");
  CHECK(sluice::untrusted_directory((dir.path / "link").string())
            .find((dir.path / "open").string() + " is writable by group or others") !=
        std::string::npos);
}

TEST_CASE("trusted path: a missing directory is named as such") {
  TempDir dir;
  CHECK(sluice::untrusted_directory((dir.path / "nope").string()) ==
        "directory " + (dir.path / "nope").string() +
            ": cannot resolve: No such file or directory");
}

TEST_CASE("trusted path: make_private_directory creates 0700 whatever the umask") {
  TempDir dir;
  const mode_t old = ::umask(0);
  CHECK(sluice::make_private_directory((dir.path / "a" / "b").string()) == "");
  ::umask(old);
  CHECK(mode_of(dir.path / "a") == 0700);
  CHECK(mode_of(dir.path / "a" / "b") == 0700);
}

TEST_CASE("trusted path: open_private creates exactly the mode, never follows a link") {
  TempDir dir;
  const mode_t old = ::umask(0);
  bool created = false;
  int fd = sluice::open_private((dir.path / "f").string(), O_WRONLY, 0600, false, &created);
  ::umask(old);
  REQUIRE(fd >= 0);
  ::close(fd);
  CHECK(created);
  CHECK(mode_of(dir.path / "f") == 0600);

  fd = sluice::open_private((dir.path / "f").string(), O_WRONLY, 0600, true);
  CHECK(fd == -1);
  CHECK(errno == EEXIST);

  std::ofstream(dir.path / "target") << "x";
  fs::create_symlink(dir.path / "target", dir.path / "link");
  fd = sluice::open_private((dir.path / "link").string(), O_WRONLY | O_APPEND, 0600);
  CHECK(fd == -1);
  CHECK(errno == ELOOP);
  CHECK(sluice::open_private_error((dir.path / "link").string()).find("is a symbolic link") !=
        std::string::npos);
}
