#include <sluice/core/dead_letter.hpp>
#include <sluice/core/glob.hpp>
#include <sluice/format.hpp>
#include <sluice/trusted_path.hpp>
#include <sluice/units.hpp>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <iterator>
#include <optional>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace sluice::core {

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool glob(const std::string& pattern, std::string_view text) {
  return pattern.empty() || glob_match(pattern, text);
}

}  // namespace

std::string dead_letter_line(const DeadLetterInfo& info, const sluice_event& event) {
  std::string out;
  out += "{\"time\":\"";
  append_rfc3339(out, info.time_unix_ns ? info.time_unix_ns : now_ns());
  out += "\",\"sink\":";
  append_json_string(out, info.sink);
  out += ",\"reason\":";
  append_json_string(out, info.reason);
  out += ",\"status\":" + std::to_string(info.status);
  out += ",\"attempts\":" + std::to_string(info.attempts);
  out += ",\"event\":";
  append_json(out, event);
  out.push_back('}');
  return out;
}

DeadLetterFile::DeadLetterFile(std::string path) : path_(std::move(path)) {
  std::lock_guard lock(mutex_);
  open_locked();
}

DeadLetterFile::~DeadLetterFile() = default;

std::shared_ptr<std::FILE> DeadLetterFile::open_file() const {
  std::lock_guard lock(mutex_);
  return file_;
}

// Created 0600 whatever the umask, never through a link, and only in a directory no other user
// can write to: a planted link must not make sluice append event data to another file.
std::shared_ptr<std::FILE> DeadLetterFile::open_locked() {
  const size_t slash = path_.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path_.substr(0, slash);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0)
    throw std::runtime_error("dead-letter file " + path_ +
                             ": cannot open: " + std::strerror(errno));
  if (std::string why = sluice::untrusted_directory(dir); !why.empty())
    throw std::runtime_error("dead-letter file " + path_ + ": refusing it: " + why);
  int fd = sluice::open_private(path_, O_WRONLY | O_APPEND, 0600);
  if (fd < 0)
    throw std::runtime_error("dead-letter file " + path_ +
                             ": cannot open: " + sluice::open_private_error(path_));
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw std::runtime_error("dead-letter file " + path_ + ": not a regular file");
  }
  std::FILE* f = ::fdopen(fd, "a");
  if (!f) {
    const int err = errno;
    ::close(fd);
    throw std::runtime_error("dead-letter file " + path_ + ": cannot open: " + std::strerror(err));
  }
  file_ = std::shared_ptr<std::FILE>(f, [](std::FILE* p) { std::fclose(p); });
  return file_;
}

void DeadLetterFile::write(const DeadLetterInfo& info, const std::vector<Event>& events) {
  EventViews views(events);
  write(info, views.data(), views.size());
}

// Held while appending: `sluice dlq replay` takes the same lock while it copies the file and
// renames the copy over it, so an append lands either in what it copies or, after the rename,
// in the new file (found below), never in the unlinked original.
namespace {

class FileLock {
 public:
  explicit FileLock(int fd) : fd_(fd) {
    while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  ~FileLock() { ::flock(fd_, LOCK_UN); }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_;
};

bool names_same_file(const std::string& path, int fd) {
  struct stat at_path, open;
  return ::stat(path.c_str(), &at_path) == 0 && ::fstat(fd, &open) == 0 &&
         at_path.st_dev == open.st_dev && at_path.st_ino == open.st_ino;
}

}  // namespace

void DeadLetterFile::write(const DeadLetterInfo& info, const sluice_event* events, size_t count) {
  DeadLetterInfo stamped = info;
  if (!stamped.time_unix_ns) stamped.time_unix_ns = now_ns();
  std::string text;
  for (size_t i = 0; i < count; ++i) {
    text += dead_letter_line(stamped, events[i]);
    text.push_back('\n');
  }
  // Writers queue here, not on mutex_: the wait for the file lock below (a replay copying a
  // large file) holds up no reopen(), no events_written().
  std::lock_guard writing(write_mutex_);
  std::shared_ptr<std::FILE> file = open_file();
  std::optional<FileLock> file_lock(std::in_place, ::fileno(file.get()));
  // A replay rewrote the file, or someone moved it away: append to what the path names now
  // (created afresh when nothing is there), as after a SIGHUP.
  // Checked again once locked: a replay may rename another copy over the path while this waits
  // for the lock of the file it just opened.
  while (!names_same_file(path_, ::fileno(file.get()))) {
    file_lock.reset();
    {
      std::lock_guard lock(mutex_);
      file = open_locked();
    }
    file_lock.emplace(::fileno(file.get()));
  }
  if (std::fwrite(text.data(), 1, text.size(), file.get()) != text.size() ||
      std::fflush(file.get()) != 0)
    throw std::runtime_error("dead-letter file " + path_ +
                             ": write failed: " + std::strerror(errno));
  written_ += count;
}

void DeadLetterFile::reopen() {
  std::lock_guard lock(mutex_);
  open_locked();
}

uint64_t DeadLetterFile::events_written() const {
  return written_.load();
}

int64_t parse_rfc3339(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)
  auto fail = [&] {
    throw std::invalid_argument("not an RFC 3339 time: '" + std::string(text) + "'");
  };
  auto digits = [&](size_t pos, size_t n) {
    if (pos + n > text.size()) fail();
    int v = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (text[i] < '0' || text[i] > '9') fail();
      v = v * 10 + (text[i] - '0');
    }
    return v;
  };
  auto expect = [&](size_t pos, const char* chars) {
    if (pos >= text.size() || !std::strchr(chars, text[pos])) fail();
  };
  std::tm tm{};
  tm.tm_year = digits(0, 4) - 1900;
  expect(4, "-");
  tm.tm_mon = digits(5, 2) - 1;
  expect(7, "-");
  tm.tm_mday = digits(8, 2);
  expect(10, "Tt ");
  tm.tm_hour = digits(11, 2);
  expect(13, ":");
  tm.tm_min = digits(14, 2);
  expect(16, ":");
  tm.tm_sec = digits(17, 2);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60)
    fail();
  size_t pos = 19;
  int64_t frac_ns = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int64_t scale = 100000000;
    size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      frac_ns += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) fail();
  }
  int64_t offset_s = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const int sign = text[pos] == '-' ? -1 : 1;
    const int hh = digits(pos + 1, 2);
    expect(pos + 3, ":");
    const int mm = digits(pos + 4, 2);
    offset_s = sign * (hh * 3600 + mm * 60);
    pos += 6;
  } else {
    fail();
  }
  if (pos != text.size()) fail();
  const int64_t secs = static_cast<int64_t>(timegm(&tm)) - offset_s;
  // Unix nanoseconds in an int64 reach from 1677 to 2262; outside that the product overflows.
  constexpr int64_t kMaxSecs = INT64_MAX / 1000000000 - 1;
  if (secs > kMaxSecs || secs < -kMaxSecs)
    throw std::invalid_argument("time out of range (1678-2261): '" + std::string(text) + "'");
  return secs * 1000000000 + frac_ns;
}

DeadLetterRecord parse_dead_letter_line(std::string_view line) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(std::string("not JSON: ") + e.what());
  }
  if (!j.is_object()) throw std::invalid_argument("not a JSON object");
  auto str = [&](const nlohmann::json& o, const char* key, bool required) -> std::string {
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) {
      if (required) throw std::invalid_argument(std::string("missing \"") + key + "\"");
      return {};
    }
    if (!it->is_string())
      throw std::invalid_argument(std::string("\"") + key + "\" is not a string");
    return it->get<std::string>();
  };
  DeadLetterRecord r;
  r.time = str(j, "time", false);
  r.sink = str(j, "sink", true);
  r.reason = str(j, "reason", false);
  if (auto it = j.find("status"); it != j.end() && it->is_number_integer())
    r.status = it->get<int32_t>();
  if (auto it = j.find("attempts"); it != j.end() && it->is_number_integer()) {
    try {
      r.attempts = static_cast<uint32_t>(sluice::count_option(*it, UINT32_MAX));
    } catch (const std::exception& e) {
      throw std::invalid_argument(std::string("\"attempts\": ") + e.what());
    }
  }
  auto ev = j.find("event");
  if (ev == j.end() || !ev->is_object()) throw std::invalid_argument("missing \"event\" object");
  r.event.id = str(*ev, "id", true);
  r.event.source = str(*ev, "source", true);
  r.event.type = str(*ev, "type", true);
  if (ev->contains("subject") && !(*ev)["subject"].is_null())
    r.event.subject = str(*ev, "subject", true);
  const std::string time = str(*ev, "time", false);
  if (!time.empty()) r.event.time_unix_ns = parse_rfc3339(time);
  if (auto a = ev->find("attributes"); a != ev->end()) {
    if (!a->is_object()) throw std::invalid_argument("\"attributes\" is not an object");
    for (auto it = a->begin(); it != a->end(); ++it) {
      if (!it.value().is_string())
        throw std::invalid_argument("attribute \"" + it.key() + "\" is not a string");
      r.event.attributes.emplace_back(it.key(), it.value().get<std::string>());
    }
  }
  if (auto d = ev->find("data"); d != ev->end() && !d->is_null()) r.event.data = d->dump();
  return r;
}

bool DeadLetterFilter::matches(const DeadLetterRecord& r) const {
  if (!glob(type, r.event.type)) return false;
  if (!subject.empty()) {
    if (!r.event.subject) return subject == "*";
    if (!glob(subject, *r.event.subject)) return false;
  }
  return glob(sink, r.sink);
}

DeadLetterReader::DeadLetterReader(const std::string& path, DeadLetterFilter filter)
    : in_(path), path_(path), filter_(std::move(filter)) {
  if (!in_)
    throw std::runtime_error("dead-letter file " + path + ": cannot open: " + std::strerror(errno));
}

std::optional<DeadLetterRecord> DeadLetterReader::next() {
  std::string text;
  while (std::getline(in_, text)) {
    ++line_;
    if (text.empty()) continue;
    DeadLetterRecord r;
    try {
      r = parse_dead_letter_line(text);
    } catch (const std::exception& e) {
      errors_.push_back(path_ + ":" + std::to_string(line_) + ": " + e.what());
      continue;
    }
    r.line = line_;
    if (!filter_.matches(r)) {
      ++filtered_;
      continue;
    }
    return r;
  }
  return std::nullopt;
}

const char* DeadLetterStats::age_name(int bucket) {
  static const char* const names[kAgeBuckets] = {"under 1h", "1h to 1d", "1d to 7d", "7d or more",
                                                 "no time"};
  return bucket >= 0 && bucket < kAgeBuckets ? names[bucket] : "?";
}

void DeadLetterStats::add(const DeadLetterRecord& r, int64_t now_unix_ns) {
  ++events;
  ++by_type[r.event.type];
  ++by_reason[r.reason];
  ++by_sink[r.sink];
  ++by_status[r.status];
  int64_t t = 0;
  try {
    if (!r.time.empty()) t = parse_rfc3339(r.time);
  } catch (const std::exception&) {
    t = 0;
  }
  if (!t) {
    ++by_age[kNoTime];
    return;
  }
  if (!oldest_ns || t < oldest_ns) oldest_ns = t;
  if (!newest_ns || t > newest_ns) newest_ns = t;
  constexpr int64_t hour = 3600LL * 1000000000LL;
  const int64_t age = now_unix_ns - t;
  ++by_age[age < hour            ? kUnderHour
           : age < 24 * hour     ? kUnderDay
           : age < 7 * 24 * hour ? kUnderWeek
                                 : kOlder];
}

namespace {

std::string directory_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

std::string io_error(const std::string& path, const char* what) {
  return "dead-letter file " + path + ": " + what + ": " + std::strerror(errno);
}

bool write_all(int fd, const char* data, size_t size) {
  while (size) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

DeadLetterRemover::DeadLetterRemover(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw std::runtime_error(io_error(path_, "cannot open"));
  struct stat st;
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw std::runtime_error("dead-letter file " + path_ + ": not a regular file");
  }
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  const std::string dir = directory_of(path_);
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    const std::string why = io_error(dir, "cannot write to its directory");
    ::close(fd_);
    throw std::runtime_error("dead-letter file " + path_ + ": cannot remove what is delivered: " +
                             why.substr(why.find(": ") + 2));
  }
}

DeadLetterRemover::~DeadLetterRemover() {
  if (fd_ >= 0) ::close(fd_);
}

void DeadLetterRemover::remove(const std::vector<uint64_t>& lines) {
  // The lines to drop now, numbered as in the current file: an original line L is preceded there
  // by L - 1 lines minus those already removed before it.
  std::vector<uint64_t> fresh(lines.begin(), lines.end());
  std::sort(fresh.begin(), fresh.end());
  fresh.erase(std::unique(fresh.begin(), fresh.end()), fresh.end());
  std::set<uint64_t> drop;
  for (uint64_t line : fresh) {
    auto before = std::lower_bound(removed_.begin(), removed_.end(), line);
    if (before != removed_.end() && *before == line) continue;
    drop.insert(line - static_cast<uint64_t>(before - removed_.begin()));
  }
  // A running pipeline appends under this lock (DeadLetterFile::write): nothing it writes can
  // fall between the copy and the rename.
  std::optional<FileLock> file_lock(std::in_place, fd_);
  struct stat st;
  if (::stat(path_.c_str(), &st) != 0)
    throw std::runtime_error(io_error(path_, "cannot remove the delivered records"));
  if (static_cast<uint64_t>(st.st_dev) != dev_ || static_cast<uint64_t>(st.st_ino) != ino_)
    throw std::runtime_error("dead-letter file " + path_ +
                             ": it was moved or replaced during the replay; the delivered "
                             "records are not removed from it");
  std::string tmp = path_ + ".replay-XXXXXX";
  int out = ::mkstemp(tmp.data());  // 0600, O_EXCL: never through a planted link
  if (out < 0) throw std::runtime_error(io_error(tmp, "cannot create"));
  auto fail = [&](const char* what) {
    const std::string message = io_error(tmp, what);
    ::close(out);
    ::unlink(tmp.c_str());
    throw std::runtime_error(message);
  };
  if (::fchmod(out, st.st_mode & 07777) != 0) fail("cannot set its mode");
  // Copy the current file, line by line, leaving out the dropped lines.
  std::string buffer(64 * 1024, '\0'), kept;
  off_t offset = 0;
  uint64_t line = 1;
  bool dropping = drop.count(1) > 0;
  for (;;) {
    ssize_t n = ::pread(fd_, buffer.data(), buffer.size(), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("cannot read the original");
    if (n == 0) break;
    offset += n;
    kept.clear();
    for (ssize_t i = 0; i < n; ++i) {
      if (!dropping) kept.push_back(buffer[static_cast<size_t>(i)]);
      if (buffer[static_cast<size_t>(i)] == '\n') dropping = drop.count(++line) > 0;
    }
    if (!write_all(out, kept.data(), kept.size())) fail("cannot write");
  }
  // A last line without its newline that stays gets one, so that appending goes on cleanly.
  if (offset > 0) {
    char last = 0;
    if (::pread(fd_, &last, 1, offset - 1) == 1 && last != '\n' && !dropping &&
        !write_all(out, "\n", 1))
      fail("cannot write");
  }
  if (::fsync(out) != 0) fail("cannot sync");
  struct stat written;
  if (::fstat(out, &written) != 0) fail("cannot stat");
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    const std::string message = io_error(path_, "cannot replace");
    ::close(out);
    ::unlink(tmp.c_str());
    throw std::runtime_error(message);
  }
  int dir = ::open(directory_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);  // the rename itself survives a crash
    ::close(dir);
  }
  // From now on the new file is the one copied from (and locked): what a pipeline appends to it
  // stays.
  file_lock.reset();  // before its descriptor is closed and its number free for reuse
  ::close(fd_);
  fd_ = out;
  dev_ = written.st_dev;
  ino_ = written.st_ino;
  std::vector<uint64_t> all;
  all.reserve(removed_.size() + fresh.size());
  std::set_union(removed_.begin(), removed_.end(), fresh.begin(), fresh.end(),
                 std::back_inserter(all));
  removed_ = std::move(all);
}

}  // namespace sluice::core
