// Whether this process can read a file or directory an option names, in the system's words: for
// the check_options of plugins (ABI 1.1), which refuse files that cannot be read before create().
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace sluice {

// Why `path` cannot be read as a file (want_dir: listed as a directory) by this process, in the
// system's words ("No such file or directory", "Is a directory", "Permission denied"); "" when
// it can.
inline std::string unreadable_reason(const std::string& path, bool want_dir = false) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::strerror(errno);
  if (want_dir && !S_ISDIR(st.st_mode)) return std::strerror(ENOTDIR);
  if (!want_dir && S_ISDIR(st.st_mode)) return std::strerror(EISDIR);
  if (::access(path.c_str(), want_dir ? (R_OK | X_OK) : R_OK) != 0) return std::strerror(errno);
  return {};
}

}  // namespace sluice
