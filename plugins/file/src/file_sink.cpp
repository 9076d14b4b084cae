// The file sink: appends each batch to a file with one write(2) (looping over partial writes),
// rotates by size between batches, reopens the path on request (logrotate's move-then-SIGHUP)
// and syncs to disk as configured. A failed write is cut back off the file, so the retried batch
// is never half there twice.
//
// Untrusted places are refused (sluice/trusted_path.hpp): the file's directory must not be
// writable by other users, and a symbolic link is only followed when it sits in such a trusted
// directory and belongs to root or to sluice's user (/dev/stdout), never one another user could
// have planted. A write to a pipe or FIFO whose reader is gone is an error (EPIPE, retried), not
// a SIGPIPE that kills the process (blocked around the write, for hosts that do not ignore it).
#include <sluice/format.hpp>
#include <sluice/sdk.hpp>
#include <sluice/sigpipe.hpp>
#include <sluice/trusted_path.hpp>
#include <sluice/units.hpp>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

enum class Fsync { never, batch, interval };

std::string errno_text(int err) {
  return std::strerror(err);
}

std::string parent_directory(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

mode_t parse_mode(const std::string& text) {
  if (text.empty() || text.size() > 4 || text.find_first_not_of("01234567") != std::string::npos)
    throw std::invalid_argument("'" + text + "' is not an octal mode such as \"0640\"");
  return static_cast<mode_t>(std::stoul(text, nullptr, 8));
}

Fsync parse_fsync(const std::string& text) {
  if (text == "never") return Fsync::never;
  if (text == "batch") return Fsync::batch;
  if (text == "interval") return Fsync::interval;
  throw std::invalid_argument("'" + text + "' is not one of never, batch, interval");
}

sluice::Format parse_file_format(const std::string& text) {
  if (text != "json" && text != "cloudevents" && text != "text")
    throw std::invalid_argument("'" + text + "' is not one of json, cloudevents, text");
  return sluice::parse_format(text);
}

// Why the sink cannot write into the directory of `path` (it does not exist, or it is not
// trusted: sluice/trusted_path.hpp); "" when it can. At start, on reopen and in check_options.
std::string directory_problem(const std::string& path) {
  const std::string dir = parent_directory(path);
  struct stat dst;
  if (::stat(dir.c_str(), &dst) != 0 && errno == ENOENT)
    return "file sink: directory '" + dir +
           "' does not exist (the file sink does not create directories)";
  if (std::string why = sluice::untrusted_directory(dir); !why.empty())
    return "file sink: refusing '" + path + "': " + why;
  return {};
}

// What opening `path` for appending would refuse, seen without opening it: the directory, a
// directory at the path, a link another user planted, no permission. Same words as open_file.
std::string path_problem(const std::string& path) {
  if (std::string why = directory_problem(path); !why.empty()) return why;
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return "file sink: cannot open '" + path + "': " + errno_text(errno);
    if (::access(parent_directory(path).c_str(), W_OK | X_OK) != 0)
      return "file sink: cannot open '" + path + "': " + errno_text(errno);
    return {};
  }
  if (S_ISLNK(st.st_mode) && st.st_uid != 0 && st.st_uid != ::geteuid())
    return "file sink: refusing '" + path + "': it is a symbolic link owned by another user";
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    return "file sink: cannot open '" + path + "': " + errno_text(EISDIR);
  if (::access(path.c_str(), W_OK) != 0 && errno != ENOENT)
    return "file sink: cannot open '" + path + "': " + errno_text(errno);
  return {};
}

// The options as the sink uses them. One code path for the constructor and check_options: every
// bad value is a problem at its option.
struct Settings {
  std::string path;
  sluice::Format format = sluice::Format::json;
  mode_t mode = 0640;
  uint64_t max_bytes = 0;  // 0: no rotation
  int keep = 5;
  Fsync fsync = Fsync::never;
  std::chrono::milliseconds fsync_interval{1000};

  static Settings read(const nlohmann::json& o, sluice::OptionProblems& problems) {
    using sluice::read_option;
    Settings s;
    if (!o.contains("path") || !o["path"].is_string() || o["path"].get<std::string>().empty())
      problems.push_back({"/path", "path: a file name is required"});
    else
      s.path = o["path"].get<std::string>();
    s.format = read_option(
        problems, "/format",
        [&] { return parse_file_format(o.value("format", std::string("json"))); }, s.format);
    s.mode = read_option(
        problems, "/mode", [&] { return parse_mode(o.value("mode", std::string("0640"))); },
        s.mode);
    if (o.contains("rotate")) {
      const auto& r = o["rotate"];
      s.max_bytes = read_option(problems, "/rotate/max_bytes", [&] {
        const uint64_t n = sluice::size_option(r.value("max_bytes", nlohmann::json("100MiB")));
        if (n == 0) throw std::invalid_argument("must be more than 0");
        return n;
      });
      // Each rotation renames every kept file: a bound keeps it from running for hours.
      if (r.contains("keep"))
        s.keep = read_option(
            problems, "/rotate/keep",
            [&] {
              const int keep = static_cast<int>(sluice::count_option(r["keep"], 1000));
              if (keep < 1) throw std::invalid_argument("must be at least 1");
              return keep;
            },
            s.keep);
    }
    s.fsync = read_option(
        problems, "/fsync", [&] { return parse_fsync(o.value("fsync", std::string("never"))); },
        s.fsync);
    s.fsync_interval = read_option(
        problems, "/fsync_interval",
        [&] { return sluice::duration_option(o.value("fsync_interval", nlohmann::json("1s"))); },
        s.fsync_interval);
    if (!s.path.empty())
      if (std::string why = path_problem(s.path); !why.empty()) problems.push_back({"/path", why});
    return s;
  }
};

class FileSink : public sluice::Sink {
 public:
  static sluice::OptionProblems check_options(const nlohmann::json& options) {
    return sluice::problems_of<Settings>(options);
  }

  FileSink(sluice::Host host, const nlohmann::json& options)
      : sluice::Sink(host), s_(sluice::read_settings<Settings>(options)) {}

  ~FileSink() override {
    stop_syncer();
    close_file();
  }

  void start() override {
    {
      std::lock_guard lock(mutex_);
      open_file();  // throws: a missing directory or a permission problem stops the start
      last_sync_ = std::chrono::steady_clock::now();
      stopping_ = false;
    }
    if (s_.fsync == Fsync::interval) syncer_ = std::thread([this] { sync_periodically(); });
  }

  void stop() override {
    stop_syncer();
    std::lock_guard lock(mutex_);
    if (fd_ >= 0 && s_.fsync != Fsync::never && dirty_) sync("stop");
    close_file();
  }

  // logrotate moved the file away and sent SIGHUP: continue in a new file at the same path.
  void reopen() override {
    std::lock_guard lock(mutex_);
    if (fd_ >= 0 && s_.fsync != Fsync::never && dirty_) sync("reopen");
    close_file();
    host().metric("reopens");
    open_file();  // on failure the next batch tries again (and answers retry while it fails)
  }

  sluice::Delivery deliver(const sluice::Batch& batch) override {
    std::lock_guard lock(mutex_);
    buffer_.clear();  // keeps its capacity: no allocation per batch once warmed up
    sluice::append_batch(buffer_, s_.format, batch.events(), batch.size());

    if (fd_ >= 0 && s_.max_bytes > 0 && size_ > 0 && size_ + buffer_.size() > s_.max_bytes)
      rotate();
    if (fd_ < 0) {
      try {
        open_file();
      } catch (const std::exception& e) {
        return sluice::Delivery::retry(e.what());
      }
    }

    const uint64_t size_before = size_;
    const char* p = buffer_.data();
    size_t left = buffer_.size();
    sluice::SigpipeGuard no_sigpipe;
    while (left > 0) {
      ssize_t n = ::write(fd_, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        return write_failed(errno, size_before, buffer_.size() - left);
      }
      p += n;
      left -= static_cast<size_t>(n);
      size_ += static_cast<uint64_t>(n);
    }
    host().metric("bytes", static_cast<int64_t>(buffer_.size()));
    dirty_ = true;

    // The batch is in the file but maybe not on disk, and the caller asked for durability.
    if (s_.fsync == Fsync::batch && !sync("batch"))
      return sluice::Delivery::retry("fsync '" + s_.path + "': " + errno_text(errno));
    return sluice::Delivery::ok();
  }

 private:
  // Opens path for appending. A file this call creates gets exactly `mode` (whatever the umask);
  // an existing file keeps its mode. O_NONBLOCK for the open only: a FIFO nobody reads is an
  // error (ENXIO) instead of a deliver() that hangs in open(2).
  void open_file() {
    if (std::string why = directory_problem(s_.path); !why.empty()) throw std::runtime_error(why);
    for (int attempt = 0; attempt < 3; ++attempt) {
      bool created = false;
      int fd =
          sluice::open_private(s_.path, O_WRONLY | O_APPEND | O_NONBLOCK, s_.mode, false, &created);
      if (fd < 0 && errno == ELOOP) fd = open_trusted_link();
      if (fd >= 0) {
        const int flags = ::fcntl(fd, F_GETFL);
        if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
        adopt(fd);
        return;
      }
      if (errno != ENOENT) throw open_error(errno);
      // Removed between the two opens (a rotation by someone else): try creating it again.
    }
    throw open_error(ENOENT);
  }

  // The path is a symbolic link in a trusted directory (checked by the caller). Only root or
  // sluice's own user can have made it, but check who did: follow it only then.
  int open_trusted_link() {
    struct stat st;
    if (::lstat(s_.path.c_str(), &st) != 0) return -1;
    if (!S_ISLNK(st.st_mode) || (st.st_uid != 0 && st.st_uid != ::geteuid())) {
      errno = ELOOP;
      return -1;
    }
    return ::open(s_.path.c_str(), O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC);
  }

  std::runtime_error open_error(int err) const {
    if (err == ELOOP)
      return std::runtime_error("file sink: refusing '" + s_.path +
                                "': it is a symbolic link owned by another user");
    if (err == ENXIO)
      return std::runtime_error("file sink: cannot open '" + s_.path +
                                "': it is a FIFO that no process has open for reading");
    return std::runtime_error("file sink: cannot open '" + s_.path + "': " + errno_text(err));
  }

  void adopt(int fd) {
    fd_ = fd;
    struct stat st;
    size_ = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0;
  }

  void close_file() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // fsync: interval. A thread of its own, so the last batches before a quiet spell reach the
  // disk within the interval too, not only when the next batch comes.
  void sync_periodically() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      wake_.wait_until(lock, last_sync_ + s_.fsync_interval, [this] { return stopping_; });
      if (stopping_) break;
      if (fd_ >= 0 && dirty_)
        sync("interval");
      else
        last_sync_ = std::chrono::steady_clock::now();
    }
  }

  void stop_syncer() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (syncer_.joinable()) syncer_.join();
  }

  bool sync(const char* why) {
    last_sync_ = std::chrono::steady_clock::now();
    if (::fdatasync(fd_) == 0) {
      host().metric("fsyncs");
      dirty_ = false;
      return true;
    }
    int err = errno;
    host().metric("fsync_errors");
    host().warn(std::string("file sink: fsync (") + why + ") of '" + s_.path +
                "' failed: " + errno_text(err));
    errno = err;
    return false;
  }

  // path -> path.1 -> ... -> path.keep; the oldest is deleted. Between batches only.
  void rotate() {
    if (s_.fsync != Fsync::never && dirty_) sync("rotate");
    close_file();
    auto numbered = [this](int i) { return s_.path + "." + std::to_string(i); };
    if (::unlink(numbered(s_.keep).c_str()) != 0 && errno != ENOENT)
      host().warn("file sink: cannot delete '" + numbered(s_.keep) + "': " + errno_text(errno));
    for (int i = s_.keep - 1; i >= 1; --i)
      if (::rename(numbered(i).c_str(), numbered(i + 1).c_str()) != 0 && errno != ENOENT)
        host().warn("file sink: cannot rename '" + numbered(i) + "': " + errno_text(errno));
    if (::rename(s_.path.c_str(), numbered(1).c_str()) != 0) {
      // Keep writing into the current file rather than stall the pipeline.
      host().metric("rotation_errors");
      host().warn("file sink: cannot rotate '" + s_.path + "': " + errno_text(errno));
    } else {
      host().metric("rotations");
    }
    try {
      open_file();
    } catch (const std::exception& e) {
      host().error(e.what());  // fd_ stays closed: deliver answers retry
    }
  }

  sluice::Delivery write_failed(int err, uint64_t size_before, size_t written) {
    host().metric("write_errors");
    std::string reason = "write '" + s_.path + "': " + errno_text(err);
    if (err == EPIPE) {
      // The reader of a pipe or FIFO is gone. The retry opens the path again: a new reader of
      // the FIFO gets the batch; without one, opening fails (ENXIO) and the batch waits.
      host().metric("pipe_errors");
      host().warn("file sink: the reader of '" + s_.path + "' went away (EPIPE); will reopen");
      close_file();
      return sluice::Delivery::retry(reason);
    }
    if (written > 0) {
      // Cut the partial batch off again: the retry writes it whole, and no line is torn.
      if (::ftruncate(fd_, static_cast<off_t>(size_before)) == 0) {
        size_ = size_before;
      } else {
        reason += " (" + std::to_string(written) +
                  " bytes of the batch could not be removed: " + errno_text(errno) + ")";
      }
    }
    return sluice::Delivery::retry(reason);
  }

  const Settings s_;

  std::mutex mutex_;  // deliver and reopen (SIGHUP) come from different threads
  int fd_ = -1;
  uint64_t size_ = 0;
  std::string buffer_;
  bool dirty_ = false;  // written since the last sync
  std::chrono::steady_clock::time_point last_sync_{};
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread syncer_;
};

// Same defaults as the constructor: the host fills them in, the test harness does not.
constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["path"],
  "properties": {
    "path": {"type": "string", "minLength": 1, "x-sluice-path": true,
             "description": "file to append to; its directory must exist (a relative path is relative to the pipeline file's folder)"},
    "format": {"type": "string", "enum": ["json", "cloudevents", "text"], "default": "json",
               "description": "json: sluice's JSON lines (what the generator source replays); cloudevents: CloudEvents 1.0 structured JSON, one per line; text: one line per event for people"},
    "mode": {"type": "string", "pattern": "^[0-7]{3,4}$", "default": "0640",
             "description": "permission bits (octal string) given to the file when the sink creates it, regardless of the umask; an existing file keeps its mode"},
    "rotate": {"type": "object", "additionalProperties": false,
               "description": "size-based rotation: path -> path.1 -> ... -> path.<keep>, the oldest deleted; absent: no rotation (use reopen with an external logrotate)",
               "properties": {
                 "max_bytes": {"type": ["integer", "string"], "pattern": "^[0-9.]+ ?(B|K|M|G|KiB|MiB|GiB|KB|kB|MB|GB)?$", "default": "100MiB",
                               "description": "rotate before a batch that would take the file past this size; integer bytes or a size such as 64MiB"},
                 "keep": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 5,
                          "description": "how many rotated files are kept"}
               }},
    "fsync": {"type": "string", "enum": ["never", "batch", "interval"], "default": "never",
              "description": "when written data is forced to disk: never (the OS decides), batch (before each batch is answered ok), interval (every fsync_interval while there is unsynced data, and on stop, reopen and rotation)"},
    "fsync_interval": {"type": ["integer", "string"], "pattern": "^[0-9.]+ ?(ms|s|m|min|h)?$", "default": "1s",
                       "description": "with fsync: interval, how often written data is synced; integer milliseconds or a duration such as 500ms, 1s"}
  }
})json";

}  // namespace

SLUICE_PLUGIN(FileSink, "file", "1.0.0",
              "Sink that appends events to a file (JSON lines, CloudEvents or text) with rotation",
              kSchema)
