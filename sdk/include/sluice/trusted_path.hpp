// Trusted paths: the one check of who may have placed a file or directory sluice is about to use,
// and the one way to open a file of its own without following a link someone else planted.
//
// A path is trusted when nobody but root and the user sluice runs as could have put it there,
// the rule sshd applies to authorized_keys:
//   - the directory itself, and a plugin file, is owned by root or by this process's effective
//     user and is writable by neither group nor others;
//   - every directory above it is owned by root or by that user and is writable by neither group
//     nor others, unless it is sticky (like /tmp: others cannot rename or delete what they do
//     not own there).
// The check resolves symbolic links first (realpath) and checks the real components. The spool,
// the dead-letter file, the file sink and the plugin loader all use it (docs/delivery.md).
//
// C++17 and POSIX only, like the rest of the public SDK.
#pragma once

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace sluice {

namespace trusted_path_detail {

inline std::string octal_mode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

inline bool trusted_owner(uid_t uid) {
  return uid == 0 || uid == ::geteuid();
}

inline std::string owner_problem(const std::string& what, const std::string& path,
                                 const struct stat& st) {
  if (!trusted_owner(st.st_uid))
    return what + " " + path + " is owned by uid " + std::to_string(st.st_uid) +
           ", not by root or by the user sluice runs as (uid " + std::to_string(::geteuid()) +
           "): another user could replace what sluice reads or writes there";
  return {};
}

// `strict`: group/world-writable is refused even when sticky (the directory that holds the file
// itself, and the file); otherwise a sticky directory is accepted (an ancestor such as /tmp).
inline std::string check_one(const std::string& what, const std::string& path, bool strict) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0)
    return what + " " + path + ": cannot stat: " + std::strerror(errno);
  if (std::string p = owner_problem(what, path, st); !p.empty()) return p;
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (strict || !(st.st_mode & S_ISVTX)))
    return what + " " + path + " is writable by group or others (mode " + octal_mode(st.st_mode) +
           "): another user could plant files or links there; make it writable by its owner "
           "only (chmod go-w)";
  return {};
}

inline bool real_path(const std::string& path, std::string& out, std::string& error,
                      const char* what) {
  char buffer[PATH_MAX];
  if (::realpath(path.c_str(), buffer) == nullptr) {
    error = std::string(what) + " " + path + ": cannot resolve: " + std::strerror(errno);
    return false;
  }
  out = buffer;
  return true;
}

// Every directory above `real` (an absolute path without links), from "/" down.
inline std::string check_ancestors(const std::string& real) {
  std::string prefix = "/";
  if (std::string p = check_one("directory", prefix, false); !p.empty() && real != "/") return p;
  size_t pos = 1;
  for (;;) {
    const size_t slash = real.find('/', pos);
    if (slash == std::string::npos) return {};  // `real` itself is left to the caller
    prefix = real.substr(0, slash);
    if (std::string p = check_one("directory", prefix, false); !p.empty()) return p;
    pos = slash + 1;
  }
}

}  // namespace trusted_path_detail

// Why `dir` must not be used for sluice's own files (a spool, a dead-letter file, a file sink's
// output, plugins), or "" when it is trusted. The text names the path and the reason.
inline std::string untrusted_directory(const std::string& dir) {
  using namespace trusted_path_detail;
  std::string real, error;
  if (!real_path(dir, real, error, "directory")) return error;
  struct stat st;
  if (::stat(real.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return "directory " + dir + " is not a directory";
  if (std::string p = check_ancestors(real); !p.empty()) return p;
  return check_one("directory", real, true);
}

// The same for a file that is read as code or trusted data (a plugin): the file must be a regular
// file owned by root or this user and writable by neither group nor others, in a trusted
// directory.
inline std::string untrusted_file(const std::string& file) {
  using namespace trusted_path_detail;
  std::string real, error;
  if (!real_path(file, real, error, "file")) return error;
  struct stat st;
  if (::stat(real.c_str(), &st) != 0)
    return "file " + file + ": cannot stat: " + std::strerror(errno);
  if (!S_ISREG(st.st_mode)) return "file " + real + " is not a regular file";
  const size_t slash = real.find_last_of('/');
  const std::string dir = slash == 0 ? "/" : real.substr(0, slash);
  if (std::string p = untrusted_directory(dir); !p.empty()) return p;
  return check_one("file", real, true);
}

// Creates `dir` and any missing parent with mode 0700 whatever the umask (directories that
// exist keep their mode), then checks it as untrusted_directory() does. Returns "" or why the
// directory cannot be used.
inline std::string make_private_directory(const std::string& dir) {
  if (dir.empty()) return "no directory given";
  std::string prefix;
  size_t pos = 0;
  while (pos <= dir.size()) {
    size_t slash = dir.find('/', pos);
    if (slash == std::string::npos) slash = dir.size();
    prefix = dir.substr(0, slash);
    pos = slash + 1;
    if (prefix.empty() || prefix == "." || prefix == "..") continue;
    if (::mkdir(prefix.c_str(), 0700) == 0) {
      // mkdir applies the umask; the directory must end up exactly 0700 regardless.
      if (::chmod(prefix.c_str(), 0700) != 0)
        return "directory " + prefix + ": cannot set mode 0700: " + std::strerror(errno);
    } else if (errno != EEXIST) {
      return "directory " + prefix + ": cannot create: " + std::strerror(errno);
    }
  }
  return untrusted_directory(dir);
}

// Opens `path` (flags such as O_WRONLY | O_APPEND) without following a symbolic link in its last
// component, creating it with exactly `mode` (whatever the umask) when it does not exist.
// `exclusive`: the file must not exist yet (a temporary file). Returns the descriptor, or -1 with
// errno set (ELOOP: the path is a symbolic link). *created says whether this call created it.
inline int open_private(const std::string& path, int flags, mode_t mode, bool exclusive = false,
                        bool* created = nullptr) {
  if (created) *created = false;
  int fd = ::open(path.c_str(), flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd >= 0) {
    if (::fchmod(fd, mode) != 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(path.c_str());
      errno = err;
      return -1;
    }
    if (created) *created = true;
    return fd;
  }
  if (errno != EEXIST || exclusive) return -1;
  return ::open(path.c_str(), (flags & ~(O_CREAT | O_EXCL)) | O_NOFOLLOW | O_CLOEXEC);
}

// The text for an open_private() failure (errno): a link gets a reason of its own.
inline std::string open_private_error(const std::string& path) {
  if (errno == ELOOP)
    return path +
           " is a symbolic link; sluice does not follow links for its own files "
           "(someone could point it at another file)";
  return path + ": " + std::strerror(errno);
}

}  // namespace sluice
