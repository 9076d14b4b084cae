// Disk spool. Format (all integers little-endian), see docs/delivery.md:
//   segment file  <directory>/<20-digit sequence>.seg, a sequence of records
//   record        magic "SLR1" | u32 payload length | u32 CRC-32C of (length bytes + payload) |
//                 payload
//   payload       u8 flags (1: subject present, 2: data present) | i64 time_unix_ns |
//                 str id | str source | str type | [str subject] | [str data] |
//                 u32 attribute count | (str key | str value)*      where str = u32 length + bytes
//   cursor file   <directory>/cursor: "sluice-spool-cursor 1 <segment> <offset> crc <crc>\n",
//                 segment and offset 20 digits each, crc 8 hex digits: the CRC-32C of the text
//                 before " crc". Everything before the position is acknowledged. The first save
//                 of a run writes cursor.tmp (created exclusively), fdatasyncs it and renames it
//                 over cursor; later saves overwrite those 73 bytes in place (one pwrite), so
//                 that an acknowledgement costs no rename and no fdatasync. A save torn by a
//                 power loss fails its CRC: recovery then sends everything again from the
//                 oldest segment (at-least-once). The form without " crc ..." (written by
//                 sluice before 0.1 group commit, always by rename) is still read.
//   end marker    <directory>/<sequence>.end: "sluice-spool-end <size>\n", written only when
//                 records that were not accepted could not be cut off a segment for good (a
//                 failed ftruncate, or a cut after the segment's sync failed, which no later
//                 sync of that file makes durable): recovery reads the segment only up to <size>.
//   lock          the directory itself is flock'ed (LOCK_EX) while a Spool has it open.
// Files are created 0600 and opened without following links; the directory is 0700 and must
// be trusted (sluice/trusted_path.hpp).
//
// Group commit (fsync: batch). Invariants, all under mutex_:
//   - Appends write under mutex_ (begin_append); each flushed write gets a ticket, increasing,
//     and is in unsynced_ until a sync settles it. Its records are neither readable (unread_)
//     nor accepted until then: they count in stats_.unsettled.
//   - At most one sync runs at a time (syncing_). Its leader is a thread waiting for its own
//     ticket that finds none running: it takes `upto` = the newest ticket written, and calls
//     fdatasync on write_fd_ (then fsync on the directory if a new segment is not synced in
//     it yet) WITHOUT mutex_, so that other appends write meanwhile; followers wait on synced_.
//   - While syncing_, write_fd_ is neither closed nor replaced: roll_segment() and shutdown()
//     wait for the sync to end first (no roll during a sync, D1).
//   - A sync that succeeds settles the tickets up to `upto` (readable from then on). A sync
//     that fails fails EVERY unsynced ticket, those written during it too (their pages are in
//     the same file, whose later fsyncs may return 0 for lost pages): they are cut off, the
//     error is kept in failed_tickets_ until each append claims it, and the segment is never
//     written or synced again (must_roll_: the next write goes to a fresh file).
//   - Waiting for room (overflow: block) and rolling release mutex_ only with write_buffer_
//     empty, so no other append sees half of another's buffer.
#include <sluice/core/spool.hpp>
#include <sluice/trusted_path.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace sluice::core {

namespace {

constexpr uint32_t kMagic = 0x31524c53;  // "SLR1" read as a little-endian u32
constexpr size_t kHeader = 12;
constexpr uint32_t kMaxRecord = 256u << 20;  // a length above this is corruption, not data

std::runtime_error io_error(const std::string& what, const std::string& path) {
  return std::runtime_error("spool: " + what + " " + path + ": " + std::strerror(errno));
}

uint32_t get_u32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return uint32_t(u[0]) | uint32_t(u[1]) << 8 | uint32_t(u[2]) << 16 | uint32_t(u[3]) << 24;
}

size_t put_str_size(std::string_view s) {
  return 4 + s.size();
}

// The bytes of ev's record, header included.
size_t record_size(const sluice_event& ev) {
  EventRef e(ev);
  size_t n = kHeader + 1 + 8 + put_str_size(e.id()) + put_str_size(e.source()) +
             put_str_size(e.type()) + 4;
  if (e.has_subject()) n += put_str_size(e.subject());
  if (e.has_data()) n += put_str_size(e.data());
  for (size_t i = 0; i < e.attribute_count(); ++i)
    n += put_str_size(e.attribute_key(i)) + put_str_size(e.attribute_value(i));
  return n;
}

// Writes a record's fields into memory record_size() measured: one resize for the whole record,
// no append per field.
class RecordWriter {
 public:
  explicit RecordWriter(char* p) : p_(p) {}
  void u8(uint8_t v) { *p_++ = static_cast<char>(v); }
  void u32(uint32_t v) {
    const char b[4] = {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
                       static_cast<char>(v >> 24)};
    std::memcpy(p_, b, 4);
    p_ += 4;
  }
  void u64(uint64_t v) {
    u32(static_cast<uint32_t>(v));
    u32(static_cast<uint32_t>(v >> 32));
  }
  void str(std::string_view s) {
    u32(static_cast<uint32_t>(s.size()));
    if (!s.empty()) std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }

 private:
  char* p_;
};

// Appends one complete record for `ev` (record_size(ev) bytes) to out.
void encode_record(std::string& out, const sluice_event& ev, size_t size) {
  EventRef e(ev);
  const size_t start = out.size();
  out.resize(start + size);
  char* record = out.data() + start;
  RecordWriter w(record + kHeader);
  w.u8(static_cast<uint8_t>((e.has_subject() ? 1 : 0) | (e.has_data() ? 2 : 0)));
  w.u64(static_cast<uint64_t>(e.time_unix_ns()));
  w.str(e.id());
  w.str(e.source());
  w.str(e.type());
  if (e.has_subject()) w.str(e.subject());
  if (e.has_data()) w.str(e.data());
  w.u32(static_cast<uint32_t>(e.attribute_count()));
  for (size_t i = 0; i < e.attribute_count(); ++i) {
    w.str(e.attribute_key(i));
    w.str(e.attribute_value(i));
  }
  const uint32_t len = static_cast<uint32_t>(size - kHeader);
  RecordWriter head(record);
  head.u32(kMagic);
  head.u32(len);
  head.u32(crc32c(crc32c(0, record + 4, 4), record + kHeader, len));
}

class Decoder {
 public:
  explicit Decoder(std::string_view p) : p_(p) {}
  bool u8(uint8_t& v) {
    if (p_.size() < 1) return false;
    v = static_cast<uint8_t>(p_[0]);
    p_.remove_prefix(1);
    return true;
  }
  bool u32(uint32_t& v) {
    if (p_.size() < 4) return false;
    v = get_u32(p_.data());
    p_.remove_prefix(4);
    return true;
  }
  bool i64(int64_t& v) {
    uint32_t lo, hi;
    if (!u32(lo) || !u32(hi)) return false;
    v = static_cast<int64_t>(uint64_t(hi) << 32 | lo);
    return true;
  }
  // A view into the payload (never absent: data points into it even when empty).
  bool str(sluice_str& s) {
    uint32_t n;
    if (!u32(n) || p_.size() < n) return false;
    s = sluice_str{p_.data(), n};
    p_.remove_prefix(n);
    return true;
  }
  bool done() const { return p_.empty(); }

 private:
  std::string_view p_;
};

// The record's event as views into `payload` (valid while it is), its attributes in `attrs`.
bool decode_payload(std::string_view payload, sluice_event& out,
                    std::vector<sluice_attribute>& attrs) {
  Decoder d(payload);
  out = sluice_event{};
  out.struct_size = sizeof(sluice_event);
  attrs.clear();
  uint8_t flags;
  uint32_t count;
  if (!d.u8(flags) || !d.i64(out.time_unix_ns) || !d.str(out.id) || !d.str(out.source) ||
      !d.str(out.type))
    return false;
  if ((flags & 1) && !d.str(out.subject)) return false;
  if ((flags & 2) && !d.str(out.data)) return false;
  if (!d.u32(count)) return false;
  for (uint32_t i = 0; i < count; ++i) {
    sluice_attribute a{};
    if (!d.str(a.key) || !d.str(a.value)) return false;
    attrs.push_back(a);
  }
  out.attributes = attrs.data();
  out.attribute_count = attrs.size();
  return d.done();
}

void write_all(int fd, const char* data, size_t size, const std::string& path) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw io_error("cannot write", path);
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
}

// The whole file, without following a link (a planted link must not make sluice read, and then
// act on, another file). Empty when it does not exist; throws on other errors.
std::string read_file(const std::string& path, bool* exists = nullptr) {
  if (exists) *exists = false;
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return {};
    throw std::runtime_error("spool: cannot open " + sluice::open_private_error(path));
  }
  if (exists) *exists = true;
  std::string out;
  char buffer[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      errno = err;
      throw io_error("cannot read", path);
    }
    if (n == 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

// A complete record with the right magic, length and checksum at `off`; its payload length.
bool valid_record_at(std::string_view b, uint64_t off, uint32_t& len) {
  if (b.size() - off < kHeader) return false;
  const char* h = b.data() + off;
  if (get_u32(h) != kMagic) return false;
  len = get_u32(h + 4);
  if (len > kMaxRecord || b.size() - off - kHeader < len) return false;
  return crc32c(crc32c(0, h + 4, 4), h + kHeader, len) == get_u32(h + 8);
}

constexpr std::string_view kMagicText("SLR1", 4);

uint64_t headers_in(std::string_view region) {
  uint64_t n = 0;
  for (size_t pos = region.find(kMagicText); pos != std::string_view::npos;
       pos = region.find(kMagicText, pos + 1))
    ++n;
  return std::max<uint64_t>(n, 1);
}

// From `off` on, the bytes look like the start of a record whose append did not complete: a
// header cut short, or a header whose record reaches the end of the file.
bool looks_torn(std::string_view b, uint64_t off) {
  const std::string_view rest = b.substr(off);
  if (rest.size() < 4) return kMagicText.substr(0, rest.size()) == rest;
  if (get_u32(rest.data()) != kMagic) return false;
  if (rest.size() < 8) return true;
  const uint32_t len = get_u32(rest.data() + 4);
  return len <= kMaxRecord && kHeader + uint64_t(len) >= rest.size();
}

}  // namespace

SpoolScan scan_spool_segment(std::string_view bytes, bool last, uint64_t base,
                             const std::function<void(const SpoolScan::Record&)>& on_record) {
  SpoolScan scan;
  // Looking for the next record after damage checksums candidate records; a region full of
  // fake headers could make that quadratic, so the work is capped at a few passes.
  uint64_t budget = 4 * uint64_t(bytes.size()) + (1u << 20);
  uint64_t off = 0;
  while (off < bytes.size()) {
    uint32_t len = 0;
    if (valid_record_at(bytes, off, len)) {
      if (on_record) on_record(SpoolScan::Record{base + off, len});
      ++scan.records;
      off += kHeader + len;
      continue;
    }
    // Resynchronise: the next offset where a valid record starts.
    uint64_t next = bytes.size();
    bool exhausted = false;
    for (size_t pos = bytes.find(kMagicText, off + 1); pos != std::string_view::npos;
         pos = bytes.find(kMagicText, pos + 1)) {
      uint64_t cost = kHeader;
      if (bytes.size() - pos >= kHeader) {
        const uint64_t l = get_u32(bytes.data() + pos + 4);
        if (l <= kMaxRecord && bytes.size() - pos - kHeader >= l) cost += l;
      }
      if (budget < cost) {
        exhausted = true;
        break;
      }
      budget -= cost;
      uint32_t candidate = 0;
      if (valid_record_at(bytes, pos, candidate)) {
        next = pos;
        break;
      }
    }
    if (next == bytes.size() && !exhausted && last && looks_torn(bytes, off)) {
      scan.torn_bytes = bytes.size() - off;
      scan.end = off;
      return scan;
    }
    scan.damage.push_back(
        SpoolScan::Damage{base + off, next - off, headers_in(bytes.substr(off, next - off))});
    off = next;
  }
  scan.end = off;
  return scan;
}

bool decode_spool_payload(std::string_view payload, Event& out) {
  sluice_event view;
  std::vector<sluice_attribute> attrs;
  if (!decode_payload(payload, view, attrs)) return false;
  out = Event::copy_of(view);
  return true;
}

std::string spool_cursor_text(uint64_t segment, uint64_t offset) {
  char text[96];
  int n = std::snprintf(text, sizeof text, "sluice-spool-cursor 1 %020llu %020llu",
                        static_cast<unsigned long long>(segment),
                        static_cast<unsigned long long>(offset));
  const uint32_t crc = crc32c(0, text, static_cast<size_t>(n));
  n += std::snprintf(text + n, sizeof text - static_cast<size_t>(n), " crc %08x\n",
                     static_cast<unsigned>(crc));
  return std::string(text, static_cast<size_t>(n));
}

std::optional<SpoolCursor> parse_spool_cursor(std::string_view text) {
  constexpr std::string_view prefix = "sluice-spool-cursor 1 ";
  if (text.substr(0, prefix.size()) != prefix) return std::nullopt;
  // The form with a checksum (every save since group commit): the CRC must match.
  constexpr std::string_view crc_mark = " crc ";
  if (const size_t at = text.find(crc_mark); at != std::string_view::npos) {
    const std::string_view body = text.substr(0, at);
    const std::string_view tail = text.substr(at + crc_mark.size());
    if (tail.size() != 9 || tail[8] != '\n') return std::nullopt;
    uint32_t crc = 0;
    for (size_t i = 0; i < 8; ++i) {
      const char c = tail[i];
      const int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (v < 0) return std::nullopt;
      crc = crc << 4 | static_cast<uint32_t>(v);
    }
    if (crc32c(0, body.data(), body.size()) != crc) return std::nullopt;
    std::string plain(body);
    plain += '\n';
    return parse_spool_cursor(plain);
  }
  text.remove_prefix(prefix.size());
  auto number = [&](uint64_t& v, char end) {
    size_t i = 0;
    v = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      const uint64_t digit = static_cast<uint64_t>(text[i] - '0');
      if (v > (UINT64_MAX - digit) / 10) return false;
      v = v * 10 + digit;
      ++i;
    }
    if (i == 0 || i >= text.size() || text[i] != end) return false;
    text.remove_prefix(i + 1);
    return true;
  };
  SpoolCursor c;
  if (!number(c.segment, ' ') || !number(c.offset, '\n') || !text.empty()) return std::nullopt;
  return c;
}

SpoolFsync parse_spool_fsync(std::string_view name) {
  if (name == "never") return SpoolFsync::never;
  if (name == "batch") return SpoolFsync::batch;
  if (name == "interval") return SpoolFsync::interval;
  throw std::invalid_argument("unknown spool fsync policy '" + std::string(name) +
                              "' (never, batch, interval)");
}

SpoolOverflow parse_spool_overflow(std::string_view name) {
  if (name == "drop_newest") return SpoolOverflow::drop_newest;
  if (name == "drop_oldest") return SpoolOverflow::drop_oldest;
  if (name == "block") return SpoolOverflow::block;
  throw std::invalid_argument("unknown spool overflow policy '" + std::string(name) +
                              "' (drop_newest, drop_oldest, block)");
}

Spool::Spool(SpoolOptions options) : options_(std::move(options)) {
  if (options_.directory.empty()) throw std::runtime_error("spool: no directory given");
  // Space is only reclaimed by deleting whole segments, so several must fit under the cap.
  options_.segment_bytes =
      std::max<uint64_t>(4096, std::min(options_.segment_bytes, options_.max_bytes / 4));
  // Created 0700; refused when another user could plant links or files in it.
  if (std::string why = sluice::make_private_directory(options_.directory); !why.empty())
    throw std::runtime_error("spool: refusing " + options_.directory + ": " + why);
  // One Spool per directory: a second sluice, or a sink of a reloaded pipeline while the old
  // one still holds it, would append and delete segments under this one's feet.
  lock_fd_ = ::open(options_.directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (lock_fd_ < 0) throw io_error("cannot open", options_.directory);
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(lock_fd_);
    if (err == EWOULDBLOCK)
      throw std::runtime_error("spool: " + options_.directory +
                               " is in use by another spool (another sluice process, or a "
                               "sink that has not let go of it yet); refusing to share it");
    errno = err;
    throw io_error("cannot lock", options_.directory);
  }
  try {
    recover();
    open_writer();
  } catch (...) {
    if (write_fd_ >= 0) ::close(write_fd_);
    ::close(lock_fd_);
    throw;
  }
}

Spool::~Spool() {
  shutdown();
}

void Spool::shutdown() {
  close();
  Lock lock(mutex_);
  if (shut_) return;
  // No sync may be in progress when the segment is closed; appends still waiting for theirs
  // get it here.
  while (syncing_)
    synced_.wait(lock);
  if (options_.fsync == SpoolFsync::batch) sync_all_locked(lock);
  if (write_fd_ >= 0) {
    // Nothing waits for this sync any more: a failure only counts.
    if (options_.fsync != SpoolFsync::never && !must_roll_) sync_fd(write_fd_);
    ::close(write_fd_);
    write_fd_ = -1;
  }
  // An acknowledgement saved without a sync gets one now (a failure leaves it unsynced: the
  // events since the last synced save may be sent again after a power loss).
  if (acked_.before(written_) || written_.before(acked_) || persisted_.before(written_))
    persist_cursor(true);
  if (read_fd_ >= 0) ::close(read_fd_);
  read_fd_ = -1;
  if (cursor_fd_ >= 0) ::close(cursor_fd_);
  cursor_fd_ = -1;
  shut_ = true;
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
  lock_fd_ = -1;
  synced_.notify_all();
  changed_.notify_all();
}

std::string Spool::segment_path(uint64_t seq) const {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu.seg", static_cast<unsigned long long>(seq));
  return options_.directory + "/" + name;
}

std::string Spool::end_path(uint64_t seq) const {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu.end", static_cast<unsigned long long>(seq));
  return options_.directory + "/" + name;
}

int Spool::sync_fd(int fd) {
  int err = options_.fail_sync ? options_.fail_sync() : 0;
  if (!err && ::fdatasync(fd) != 0) err = errno;
  if (err) ++stats_.sync_errors;
  return err;
}

// Puts `text` at `path` whole or not at all: written to path.tmp (created exclusively; one left
// by a crash, or planted, is removed first: unlink removes a link itself, never its target),
// fdatasync'ed, renamed over path. Returns the new file, open read-write (the caller closes or
// keeps it), or -1 with `why` set and nothing left behind. The directory is not synced here.
int Spool::replace_file_synced(const std::string& path, std::string_view text, std::string& why) {
  const std::string tmp = path + ".tmp";
  int fd = sluice::open_private(tmp, O_RDWR, 0600, /*exclusive=*/true);
  if (fd < 0 && errno == EEXIST) {
    ::unlink(tmp.c_str());
    fd = sluice::open_private(tmp, O_RDWR, 0600, true);
  }
  if (fd < 0) {
    why = "cannot create " + sluice::open_private_error(tmp);
    return -1;
  }
  try {
    write_all(fd, text.data(), text.size(), tmp);
    if (int err = sync_fd(fd)) why = "cannot sync (fdatasync) " + tmp + ": " + std::strerror(err);
  } catch (const std::exception& e) {
    why = e.what();
  }
  if (why.empty() && ::rename(tmp.c_str(), path.c_str()) != 0)
    why = "cannot rename " + tmp + ": " + std::strerror(errno);
  if (why.empty()) return fd;
  ::unlink(tmp.c_str());
  ::close(fd);
  return -1;
}

// A new segment's directory entry must reach the disk too, or a power loss can take the whole
// segment even though its records were synced.
void Spool::sync_directory_locked() {
  int fd = ::open(options_.directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int err = fd < 0 ? errno : (options_.fail_sync ? options_.fail_sync() : 0);
  if (fd >= 0 && !err && ::fsync(fd) != 0) err = errno;
  if (fd >= 0) ::close(fd);
  if (err) {
    ++stats_.sync_errors;
    errno = err;
    return;
  }
  directory_dirty_ = false;
}

void Spool::recover() {
  std::vector<uint64_t> found;
  std::map<uint64_t, uint64_t> ends;  // end markers: segment -> bytes to read of it
  for (const auto& entry : std::filesystem::directory_iterator(options_.directory)) {
    const std::string name = entry.path().filename().string();
    if (name.size() == 24 && name.substr(20) == ".end" &&
        std::all_of(name.begin(), name.begin() + 20, [](char c) { return c >= '0' && c <= '9'; })) {
      const std::string text = read_file(entry.path().string());
      constexpr std::string_view prefix = "sluice-spool-end ";
      uint64_t size = 0;
      size_t i = prefix.size();
      bool ok =
          text.compare(0, prefix.size(), prefix) == 0 && text.size() > i + 1 && text.back() == '\n';
      for (; ok && i + 1 < text.size(); ++i) {
        if (text[i] < '0' || text[i] > '9' || size > (UINT64_MAX - 9) / 10)
          ok = false;
        else
          size = size * 10 + static_cast<uint64_t>(text[i] - '0');
      }
      if (ok)
        ends[std::stoull(name.substr(0, 20))] = size;
      else
        recovery_.messages.push_back("spool: end marker " + entry.path().string() +
                                     " is unreadable; ignored");
      continue;
    }
    if (name.size() != 24 || name.substr(20) != ".seg") continue;
    if (!std::all_of(name.begin(), name.begin() + 20, [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(entry.symlink_status(ec))) {
      recovery_.messages.push_back("spool: " + entry.path().string() +
                                   " is not a regular file (a link?); ignored");
      continue;
    }
    found.push_back(std::stoull(name.substr(0, 20)));
  }
  std::sort(found.begin(), found.end());

  // The persisted acknowledged position. A cursor that cannot be right is not trusted with
  // deleting anything: everything still on disk is sent again (at-least-once).
  const std::string cursor_path = options_.directory + "/cursor";
  bool have_cursor = false;
  const std::string cursor_text = read_file(cursor_path, &have_cursor);
  const std::optional<SpoolCursor> parsed = parse_spool_cursor(cursor_text);
  const uint64_t oldest = found.empty() ? 1 : found.front();
  Position cursor{oldest, 0, 0};
  auto distrust = [&](const std::string& why) {
    recovery_.messages.push_back("spool: cursor " + cursor_path + " " + why +
                                 "; every event in the spool is sent again from its oldest "
                                 "segment (duplicates possible, nothing deleted)");
    cursor = Position{oldest, 0, 0};
  };
  if (have_cursor && !parsed) {
    distrust("is unreadable");
  } else if (parsed) {
    const std::string says = "names segment " + std::to_string(parsed->segment) + " offset " +
                             std::to_string(parsed->offset);
    // The newest segment + 1 at offset 0 is what a crash right after rolling leaves behind.
    constexpr uint64_t kMaxSegment = uint64_t(1) << 62;
    if (parsed->segment == 0 || parsed->segment > kMaxSegment)
      distrust(says + ", which no spool writes");
    else if (found.empty())
      cursor = Position{parsed->segment, 0, 0};
    else if (parsed->segment > found.back() + 1 ||
             (parsed->segment == found.back() + 1 && parsed->offset != 0))
      distrust(says + ", beyond the newest segment " + std::to_string(found.back()));
    else
      cursor = Position{parsed->segment, parsed->offset, 0};
  }
  for (uint64_t seq : found) {
    if (seq < cursor.segment) {
      // Fully acknowledged before the crash; its deletion did not happen yet.
      std::filesystem::remove(segment_path(seq));
      continue;
    }
    segments_[seq] = Segment{};
  }
  for (const auto& [seq, size] : ends)
    if (!segments_.count(seq)) {
      std::error_code ec;
      std::filesystem::remove(end_path(seq), ec);
    }
  if (segments_.empty() || segments_.begin()->first != cursor.segment) {
    if (!segments_.empty())
      recovery_.messages.push_back("spool: cursor " + cursor_path + " names segment " +
                                   std::to_string(cursor.segment) +
                                   ", which is missing; continuing with segment " +
                                   std::to_string(segments_.begin()->first));
    cursor = Position{segments_.empty() ? cursor.segment : segments_.begin()->first, 0, 0};
  }
  acked_ = cursor;

  const std::vector<uint64_t> seqs = [&] {
    std::vector<uint64_t> v;
    for (const auto& [s, _] : segments_)
      v.push_back(s);
    return v;
  }();
  for (size_t i = 0; i < seqs.size(); ++i) {
    auto end = ends.find(seqs[i]);
    recover_segment(seqs[i], i + 1 == seqs.size(), end == ends.end() ? UINT64_MAX : end->second);
  }
  normalize_locked(acked_);

  // Count what is left to send, from the acknowledged position on.
  unread_ = 0;
  for (const auto& [seq, seg] : segments_) {
    if (seq == acked_.segment)
      unread_ += seg.records - acked_.index;
    else if (seq > acked_.segment)
      unread_ += seg.records;
  }
  read_ = acked_;
  persisted_ = acked_;
  written_ = acked_;
  recovery_.segments = segments_.size();
  recovery_.pending_events = unread_;
  for (const auto& [seq, seg] : segments_)
    stats_.bytes += seg.size;
  stats_.pending = unread_;
  stats_.lost = recovery_.lost_events;
}

void Spool::recover_segment(uint64_t seq, bool last, uint64_t limit) {
  const std::string path = segment_path(seq);
  std::string bytes = read_file(path);
  if (limit != UINT64_MAX) {
    // Records after `limit` were not accepted (their sync failed) and could not be cut off
    // then: they must not come back. Cut them now; the marker goes once they are gone.
    bool cut = bytes.size() <= limit;
    if (!cut) {
      bytes.resize(limit);
      int fd = ::open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
      cut = fd >= 0 && ::ftruncate(fd, static_cast<off_t>(limit)) == 0 && ::fdatasync(fd) == 0;
      if (fd >= 0) ::close(fd);
      recovery_.messages.push_back(
          "spool: segment " + path + ": records after offset " + std::to_string(limit) +
          " were never accepted (a failed sync) and are ignored" +
          (cut ? std::string(", cut off now") : std::string(" (they could not be cut off yet)")));
    }
    if (cut) {
      std::error_code ec;
      std::filesystem::remove(end_path(seq), ec);
    } else if (last) {
      must_roll_ = true;  // never append after bytes that must not be read
    }
  }
  const bool has_cursor = seq == acked_.segment;
  const uint64_t cursor = has_cursor ? acked_.offset : 0;
  uint64_t before = 0;           // readable records that end at or before the cursor
  uint64_t inside = UINT64_MAX;  // the start of a record the cursor points into
  SpoolScan scan = scan_spool_segment(bytes, last, 0, [&](const SpoolScan::Record& r) {
    if (!has_cursor || r.offset >= cursor) return;
    if (r.offset + kHeader + r.length <= cursor)
      ++before;
    else
      inside = r.offset;
  });
  Segment seg;
  seg.records = scan.records;
  seg.size = scan.end;

  if (has_cursor) {
    uint64_t at = cursor;
    if (cursor > scan.end) {
      recovery_.messages.push_back("spool: cursor offset " + std::to_string(cursor) +
                                   " is beyond the end of " + path + " (" +
                                   std::to_string(scan.end) +
                                   " bytes); its events are sent again (duplicates possible)");
      at = 0;
      before = 0;
    } else if (inside != UINT64_MAX) {
      recovery_.messages.push_back("spool: cursor offset " + std::to_string(cursor) +
                                   " points into a record of " + path +
                                   "; that record is sent again");
      at = inside;
    } else {
      for (const auto& d : scan.damage)
        if (d.offset < cursor && cursor < d.offset + d.length) at = d.offset + d.length;
    }
    acked_.offset = at;
    acked_.index = before;
  }

  for (const auto& d : scan.damage) {
    seg.skips[d.offset] = d.offset + d.length;
    ++recovery_.damaged_regions;
    const std::string where = path + " at offset " + std::to_string(d.offset) + " (" +
                              std::to_string(d.length) + " bytes)";
    if (has_cursor && d.offset < acked_.offset) {
      recovery_.messages.push_back("spool: damaged bytes in " + where +
                                   ", already acknowledged: nothing lost");
      continue;
    }
    recovery_.lost_events += d.records;
    recovery_.messages.push_back("spool: damaged bytes in " + where + " skipped; " +
                                 std::to_string(d.records) +
                                 " event(s) lost (an estimate: the record headers seen in them, "
                                 "at least 1); the records around them are kept");
  }
  if (bytes.empty() && !last && limit != 0) {
    // Only the newest segment is ever empty, or one whose end marker says so (a failed sync
    // refused all its records): this one was emptied outside sluice.
    ++recovery_.damaged_regions;
    ++recovery_.lost_events;
    recovery_.messages.push_back("spool: segment " + path +
                                 " is empty though newer segments exist; at least 1 event lost");
  }
  if (scan.torn_bytes) {
    int fd = ::open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(scan.end)) != 0) {
      const int err = errno;
      if (fd >= 0) ::close(fd);
      errno = err;
      throw io_error("cannot truncate", path);
    }
    ::close(fd);
    recovery_.truncated_bytes += scan.torn_bytes;
    recovery_.messages.push_back("spool: segment " + path + ": torn record at the end, " +
                                 std::to_string(scan.torn_bytes) + " bytes cut off at offset " +
                                 std::to_string(scan.end) + " (an append that never completed)");
  }
  segments_[seq] = std::move(seg);
}

// Opens (creating it 0600) a segment to append to; never through a link.
static int open_segment(const std::string& path) {
  int fd = sluice::open_private(path, O_WRONLY | O_APPEND, 0600);
  if (fd < 0) throw std::runtime_error("spool: cannot open " + sluice::open_private_error(path));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw std::runtime_error("spool: " + path + " is not a regular file");
  }
  return fd;
}

void Spool::open_writer() {
  if (segments_.empty()) {
    write_seq_ = std::max<uint64_t>(acked_.segment, 1);
    segments_[write_seq_] = Segment{};
    if (acked_.segment != write_seq_) acked_ = Position{write_seq_, 0, 0};
    read_ = acked_;
    persisted_ = acked_;
    written_ = acked_;
  } else if (must_roll_) {
    // The newest segment ends in bytes that must not be read (see recover_segment): never
    // append after them.
    write_seq_ = segments_.rbegin()->first + 1;
    segments_[write_seq_] = Segment{};
    must_roll_ = false;
  } else {
    write_seq_ = segments_.rbegin()->first;
  }
  write_fd_ = open_segment(segment_path(write_seq_));
  directory_dirty_ = true;
  if (options_.fsync != SpoolFsync::never) sync_directory_locked();
}

void Spool::roll_segment(Lock& lock) {
  // No roll while a sync runs: the leader syncs write_fd_ without the lock, and its outcome
  // must be the outcome of the records it covers (D1). Callers get here with write_buffer_
  // empty, so waiting (which lets other appends in) splits no append.
  const uint64_t seq = write_seq_;
  while (syncing_)
    synced_.wait(lock);
  if (write_seq_ != seq) return;  // another append rolled meanwhile
  if (options_.fsync == SpoolFsync::batch) {
    // Writes waiting for their sync: this one, under the lock, settles them.
    sync_all_locked(lock);
  } else if (options_.fsync != SpoolFsync::never && write_fd_ >= 0 && !must_roll_) {
    if (int err = sync_fd(write_fd_))
      // This sync covers the tail of fsync: interval. Nothing is acknowledged on its strength.
      messages_.push_back("spool: fdatasync of " + segment_path(write_seq_) +
                          " before closing it failed: " + std::strerror(err) +
                          "; its newest events may not survive a power loss");
  }
  if (write_fd_ >= 0) ::close(write_fd_);
  write_fd_ = -1;
  must_roll_ = false;
  ++write_seq_;
  segments_[write_seq_] = Segment{};
  write_fd_ = open_segment(segment_path(write_seq_));
  directory_dirty_ = true;
  if (options_.fsync != SpoolFsync::never) sync_directory_locked();
}

void Spool::cut_back_locked(uint64_t size, bool after_failed_sync) {
  int err = write_fd_ < 0 ? EBADF : options_.fail_truncate ? options_.fail_truncate() : 0;
  if (!err && ::ftruncate(write_fd_, static_cast<off_t>(size)) != 0) err = errno;
  if (read_fd_seq_ == write_seq_) read_buffer_.clear();  // those offsets are written again
  if (!err && !after_failed_sync) return;
  // The records after `size` stay in the file though they were not accepted (the cut failed,
  // or it worked but may not reach the disk: this file's sync failed, and no later sync of it
  // is trusted). This segment is not written again (the next write starts a new one), and
  // recovery must not read them: an end marker, synced and renamed into place, tells it where
  // the segment ends.
  must_roll_ = true;
  const std::string path = end_path(write_seq_);
  std::string why;
  if (int fd = replace_file_synced(path, "sluice-spool-end " + std::to_string(size) + "\n", why);
      fd >= 0) {
    ::close(fd);
    sync_directory_locked();
    if (directory_dirty_) why = "cannot sync the directory " + options_.directory;
  }
  if (!err) {
    // Cut in the page cache: only a crash before the cut reaches the disk brings the records
    // back, as duplicates of events their sources were told failed. Not worth refusing appends.
    if (!why.empty())
      messages_.push_back("spool: cannot mark where " + segment_path(write_seq_) + " ends (" + why +
                          "); after a crash, events it did not accept may be delivered");
    return;
  }
  const std::string cut = "spool: cannot cut records that were not accepted off " +
                          segment_path(write_seq_) + " (ftruncate: " + std::strerror(err) + ")";
  if (why.empty()) {
    messages_.push_back(cut + "; " + path + " marks where the segment ends, later events go to a " +
                        "new segment");
    return;
  }
  // Nothing on disk says where the segment ends: a later open could read those records. Take
  // no more appends (the events that are not accepted are told so) until the spool is reopened.
  poisoned_ =
      cut + " and cannot mark its end (" + why + "); appends refused until the spool is reopened";
  messages_.push_back(poisoned_);
}

void Spool::flush_locked(Lock& lock, Tickets* tickets) {
  if (write_buffer_.empty()) return;
  // Taken out of write_buffer_ first: a roll below may wait (releasing the lock), and another
  // append must not see these records as its own.
  std::string buffer;
  buffer.swap(write_buffer_);
  const uint64_t records = std::exchange(write_buffer_records_, 0);
  std::string path = segment_path(write_seq_);
  uint64_t size_before = segments_[write_seq_].size;
  bool wrote = false;
  try {
    if (!poisoned_.empty()) throw std::runtime_error(poisoned_);
    // A failed sync or cut left the write segment unusable: a fresh one.
    if (must_roll_) roll_segment(lock);
    path = segment_path(write_seq_);
    size_before = segments_[write_seq_].size;
    if (write_fd_ < 0) {
      // A roll could not create this segment (ENOSPC, EMFILE): open it now, so that the spool
      // works again once the cause is gone.
      write_fd_ = open_segment(path);
      directory_dirty_ = true;
    }
    if (options_.fail_write)
      if (int err = options_.fail_write()) {
        errno = err;
        throw io_error("cannot write", path);
      }
    wrote = true;
    write_all(write_fd_, buffer.data(), buffer.size(), path);
    // fsync: batch. The records count as accepted only once they are on disk, together with
    // the directory entry of a new segment: the group commit (wait_synced_locked) does both.
  } catch (...) {
    // Nothing of the buffer is accepted: cut off whatever part reached the file, so that the
    // segment ends at a record boundary again, and forget the buffered records.
    const int saved = errno;
    if (wrote && write_fd_ >= 0) cut_back_locked(size_before);
    stats_.appended -= records;
    failed_records_ = records;
    errno = saved;
    throw;
  }
  Segment& seg = segments_[write_seq_];
  seg.size += buffer.size();
  seg.records += records;
  stats_.bytes += buffer.size();
  if (options_.fsync == SpoolFsync::batch) {
    const uint64_t ticket = next_ticket_++;
    unsynced_.push_back(Unsynced{ticket, records, buffer.size()});
    stats_.unsettled += records;
    if (tickets) tickets->emplace_back(ticket, records);
  } else {
    unread_ += records;
    changed_.notify_all();
  }
  if (write_buffer_.empty()) {  // keep the allocation
    buffer.clear();
    write_buffer_.swap(buffer);
  }
}

void Spool::wait_synced_locked(Lock& lock, uint64_t ticket) {
  while (ticket > settled_ticket_) {
    if (syncing_) {
      // A leader is syncing; its sync may cover this ticket (else the next one will).
      synced_.wait(lock);
      continue;
    }
    // The leader: one fdatasync for every write so far, without the lock. Nothing between
    // syncing_ = true and syncing_ = false may throw: the followers (and roll_segment,
    // shutdown) would wait for it forever.
    const std::string what = "cannot sync (fdatasync)";
    const std::string what_directory = "cannot sync the directory";
    bool directory_failed = false;
    syncing_ = true;
    const uint64_t upto = next_ticket_ - 1;
    const int fd = write_fd_;
    const bool directory = directory_dirty_;
    lock.unlock();
    int err = 0;
    try {
      if (options_.fail_sync) err = options_.fail_sync();
    } catch (...) {
      err = EIO;  // the test seam threw: a sync that did not happen
    }
    if (!err && ::fdatasync(fd) != 0) err = errno;
    int dir_fd = -1;
    if (!err && directory) {
      // The directory entry of a new segment, or a power loss can take the whole file.
      dir_fd = ::open(options_.directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dir_fd < 0 || ::fsync(dir_fd) != 0) err = errno ? errno : EIO;
      directory_failed = err != 0;
      if (dir_fd >= 0) ::close(dir_fd);
    }
    lock.lock();
    syncing_ = false;
    // Even if settling throws (bad_alloc): nobody may go on waiting for this sync.
    struct NotifyAll {
      std::condition_variable& cv;
      ~NotifyAll() { cv.notify_all(); }
    } notify{synced_};
    ++stats_.syncs;
    if (err) ++stats_.sync_errors;
    if (!err && directory) directory_dirty_ = false;
    settle_synced_locked(upto, err, directory_failed ? what_directory : what);
  }
}

void Spool::sync_all_locked(Lock& lock) {
  (void)lock;
  if (unsynced_.empty()) return;
  const uint64_t upto = next_ticket_ - 1;
  std::string what = "cannot sync (fdatasync)";
  int err = sync_fd(write_fd_);
  ++stats_.syncs;
  if (!err && directory_dirty_) {
    sync_directory_locked();
    if (directory_dirty_) {
      err = errno ? errno : EIO;
      what = "cannot sync the directory";
    }
  }
  settle_synced_locked(upto, err, what);
  synced_.notify_all();
}

void Spool::settle_synced_locked(uint64_t upto, int err, const std::string& what) {
  if (!err) {
    while (!unsynced_.empty() && unsynced_.front().ticket <= upto) {
      unread_ += unsynced_.front().records;
      stats_.unsettled -= unsynced_.front().records;
      unsynced_.pop_front();
    }
    settled_ticket_ = std::max(settled_ticket_, upto);
    changed_.notify_all();
    return;
  }
  // Every write not synced yet fails, those after `upto` too: they are in the same file,
  // whose later fsyncs may report success for pages this error lost.
  errno = err;
  const std::string message =
      io_error(what,
               what == "cannot sync the directory" ? options_.directory : segment_path(write_seq_))
          .what();
  uint64_t bytes = 0, records = 0;
  for (const Unsynced& u : unsynced_) {
    bytes += u.bytes;
    records += u.records;
    failed_tickets_[u.ticket] = message;
  }
  unsynced_.clear();
  settled_ticket_ = next_ticket_ - 1;
  Segment& seg = segments_[write_seq_];
  cut_back_locked(seg.size - bytes, /*after_failed_sync=*/true);
  seg.size -= bytes;
  seg.records -= records;
  stats_.bytes -= bytes;
  stats_.appended -= records;
  // stats_.unsettled keeps them until each append claims its failure.
  // This file's sync failed once: it is never written or synced again; writing goes on in a
  // new segment (cut_back_locked set must_roll_ and marked where this one ends).
  if (write_fd_ >= 0) ::close(write_fd_);
  write_fd_ = -1;
  messages_.push_back(message + ": " + std::to_string(records) +
                      " event(s) not accepted; later events go to a fresh file");
}

SpoolAppendResult Spool::append(const std::vector<Event>& events) {
  EventViews views(events);
  return append(views.data(), views.size());
}
SpoolAppendResult Spool::append(const sluice_event* events, size_t count) {
  SpoolPendingAppend pending = begin_append(events, count);
  return claim_append(pending);
}

SpoolPendingAppend Spool::begin_append(const sluice_event* events, size_t count) {
  SpoolPendingAppend pending;
  SpoolAppendResult& result = pending.result;
  Lock lock(mutex_);
  failed_records_ = 0;
  try {
    append_locked(lock, events, count, result, pending.tickets);
  } catch (const std::exception& e) {
    // Records of this call reach the disk only through flush_locked(): those a failed flush
    // lost are in failed_records_; the ones flushed before it (a roll) are accepted. Whatever
    // is still buffered (a throw elsewhere) is not: it must not be written by a later call.
    if (write_buffer_records_) {
      stats_.appended -= write_buffer_records_;
      failed_records_ += write_buffer_records_;
      write_buffer_.clear();
      write_buffer_records_ = 0;
    }
    const size_t written = result.accepted - failed_records_;
    // A throw reports nothing: only when there is nothing to report. Events this call dropped,
    // or evicted to make room (dropped_oldest), must reach the caller's counters.
    if (written == 0 && result.dropped == 0 && result.dropped_oldest == 0) throw;
    result.accepted = written;
    result.failed = count - written - result.dropped;
    result.error = e.what();
  }
  return pending;
}

void Spool::wait_synced(const SpoolPendingAppend& pending) {
  if (pending.tickets.empty()) return;
  Lock lock(mutex_);
  wait_synced_locked(lock, pending.tickets.back().first);
}

SpoolAppendResult Spool::claim_append(SpoolPendingAppend& pending) {
  SpoolAppendResult result = pending.result;
  if (pending.tickets.empty()) return result;
  Lock lock(mutex_);
  wait_synced_locked(lock, pending.tickets.back().first);
  size_t failed = 0;
  for (const auto& [ticket, records] : pending.tickets) {
    auto it = failed_tickets_.find(ticket);
    if (it == failed_tickets_.end()) continue;
    failed += records;
    stats_.unsettled -= records;
    result.error = it->second;
    failed_tickets_.erase(it);
  }
  pending.tickets.clear();
  if (!failed) return result;
  result.accepted -= failed;
  result.failed += failed;
  if (result.accepted == 0 && result.dropped == 0 && result.dropped_oldest == 0)
    throw std::runtime_error(result.error);
  return result;
}

// Saves the acknowledged position in the cursor file. On any failure (a failed sync included)
// the file keeps a position saved before: what was acknowledged since is sent again after a
// restart, never skipped. Segments are only deleted below the position saved AND synced
// (persisted_).
//
// The first save of a run (and the first after a failure) replaces the file: cursor.tmp is
// written, ALWAYS fdatasync'ed, then renamed over cursor (a rename of unsynced data can leave
// an empty file after a power loss, D5); it stays open. Later saves overwrite its fixed-width
// text in place with one pwrite; a torn one fails the text's CRC at recovery (D4), which then
// sends everything again. `sync` false (fsync: batch or interval, within fsync_interval of the
// last synced save, no segment to delete): no fdatasync. kill -9 cannot lose such a save (the
// kernel has it); a power loss can leave an older position or a torn one, and then events
// acknowledged since are sent again (at-least-once, never skipped).
bool Spool::persist_cursor(bool sync) {
  if (shut_) return false;
  if (options_.fsync == SpoolFsync::never) sync = false;
  const std::string text = spool_cursor_text(acked_.segment, acked_.offset);
  const std::string path = options_.directory + "/cursor";
  std::string why;
  bool synced = false;
  if (cursor_fd_ >= 0) {
    int err = options_.fail_cursor_write ? options_.fail_cursor_write() : 0;
    if (!err) {
      const ssize_t n = ::pwrite(cursor_fd_, text.data(), text.size(), 0);
      if (n != static_cast<ssize_t>(text.size())) err = n < 0 ? errno : EIO;
    }
    if (err) {
      why = "cannot write " + path + ": " + std::strerror(err);
    } else if (sync) {
      if (int e = sync_fd(cursor_fd_)) {
        // Written, not synced: kill -9 keeps it, a power loss may not (those events are then
        // sent again). That file is not trusted again (its errors are sticky).
        written_ = acked_;
        ::close(cursor_fd_);
        cursor_fd_ = -1;
        messages_.push_back("spool: cannot sync (fdatasync) " + path + ": " + std::strerror(e) +
                            "; the acknowledged position saved may not survive a power loss "
                            "(those events are then sent again)");
        return false;
      }
      synced = true;
    }
    if (!why.empty()) {
      // That file is not trusted again (its errors are sticky): the next save replaces it.
      ::close(cursor_fd_);
      cursor_fd_ = -1;
    }
  } else {
    // Synced whatever the policy: never rename a cursor that is not on disk (D5).
    const int fd = replace_file_synced(path, text, why);
    if (fd >= 0) {
      cursor_fd_ = fd;  // now the cursor file itself
      synced = true;
    }
  }
  if (!why.empty()) {
    messages_.push_back("spool: " + why +
                        "; the acknowledged position on disk stays where it was (those events "
                        "are sent again after a restart)");
    return false;
  }
  written_ = acked_;
  if (synced || options_.fsync == SpoolFsync::never) {
    persisted_ = acked_;
    last_cursor_sync_ = std::chrono::steady_clock::now();
  }
  return true;
}

void Spool::delete_segment_locked(uint64_t seq) {
  auto it = segments_.find(seq);
  if (it == segments_.end() || seq == write_seq_) return;
  stats_.bytes -= it->second.size;
  segments_.erase(it);
  if (read_fd_ >= 0 && read_fd_seq_ == seq) {
    ::close(read_fd_);
    read_fd_ = -1;
    read_buffer_.clear();
  }
  std::filesystem::remove(segment_path(seq));
  std::error_code ignored;  // its end marker, if any, means nothing once the segment is gone
  std::filesystem::remove(end_path(seq), ignored);
}

void Spool::normalize_locked(Position& p) const {
  // The end of a closed segment is the start of the next one; a damaged region already counted
  // is stepped over.
  for (;;) {
    auto it = segments_.find(p.segment);
    if (it == segments_.end()) {
      auto next = segments_.upper_bound(p.segment);
      if (next == segments_.end()) return;
      p = Position{next->first, 0, 0};
      continue;
    }
    if (auto skip = it->second.skips.find(p.offset); skip != it->second.skips.end()) {
      p.offset = skip->second;
      continue;
    }
    if (p.segment == write_seq_ || p.offset < it->second.size) return;
    auto next = std::next(it);
    if (next == segments_.end()) return;
    p = Position{next->first, 0, 0};
  }
}

void Spool::reclaim_locked(Lock& lock, bool force) {
  // A fully acknowledged write segment can only be deleted once writing has moved on.
  const Segment& w = segments_[write_seq_];
  if (acked_.segment == write_seq_ && acked_.offset == w.size && w.size > 0 &&
      read_.segment == write_seq_ && read_.offset == w.size && write_buffer_.empty() &&
      (force || w.size >= options_.segment_bytes / 4)) {
    // Nothing is unsynced (all of it is read), so no sync runs: the roll does not wait.
    roll_segment(lock);
    normalize_locked(acked_);
    normalize_locked(read_);
    persist_cursor(true);
  }
  // Only below the position the cursor file holds: a cursor that could not be saved must not
  // point into a deleted segment.
  while (!segments_.empty() && segments_.begin()->first < persisted_.segment)
    delete_segment_locked(segments_.begin()->first);
}

bool Spool::drop_oldest_locked(Lock& lock, SpoolAppendResult& result, Tickets& tickets) {
  flush_locked(lock, &tickets);
  if (segments_.begin()->first == write_seq_) {
    if (segments_[write_seq_].records == 0) return false;
    roll_segment(lock);  // syncs (and settles) what is not synced yet
  }
  const uint64_t seq = segments_.begin()->first;
  const Segment seg = segments_.begin()->second;
  uint64_t dropped = 0;
  if (read_.segment == seq) {
    dropped = seg.records - read_.index;
    read_ = Position{seq + 1, 0, 0};
    normalize_locked(read_);
  } else if (read_.segment < seq) {
    dropped = seg.records;
  }
  unread_ -= dropped;
  stats_.dropped += dropped;
  result.dropped_oldest += dropped;
  if (acked_.segment == seq) {
    // Batches still out from it keep going; their acknowledgement cannot move back.
    acked_ = Position{seq + 1, 0, 0};
    normalize_locked(acked_);
    persist_cursor(true);
  }
  delete_segment_locked(seq);
  return true;
}

void Spool::append_locked(Lock& lock, const sluice_event* events, size_t count,
                          SpoolAppendResult& result, Tickets& tickets) {
  for (size_t i = 0; i < count; ++i) {
    if (closed_) {
      result.dropped += count - i;
      stats_.dropped += count - i;
      break;
    }
    const size_t record = record_size(events[i]);
    if (record > options_.max_bytes) {
      ++result.dropped;
      ++stats_.dropped;
      continue;
    }
    bool room = true;
    while (stats_.bytes + write_buffer_.size() + record > options_.max_bytes) {
      reclaim_locked(lock, true);
      if (stats_.bytes + write_buffer_.size() + record <= options_.max_bytes) break;
      if (options_.overflow == SpoolOverflow::drop_oldest) {
        if (drop_oldest_locked(lock, result, tickets)) continue;
        room = false;
        break;
      }
      if (options_.overflow == SpoolOverflow::drop_newest) {
        room = false;
        break;
      }
      flush_locked(lock, &tickets);
      // What this call wrote must be readable (synced) before it waits for room, or nothing
      // could make room.
      if (!tickets.empty()) wait_synced_locked(lock, tickets.back().first);
      auto has_room = [&] { return closed_ || stats_.bytes + record <= options_.max_bytes; };
      if (options_.block_timeout.count() > 0) {
        if (!changed_.wait_for(lock, options_.block_timeout, has_room)) {
          room = false;
          break;
        }
      } else {
        changed_.wait(lock, has_room);
      }
      if (closed_) {
        room = false;
        break;
      }
    }
    if (!room) {
      ++result.dropped;
      ++stats_.dropped;
      continue;
    }
    const Segment& w = segments_[write_seq_];
    if (w.size + write_buffer_.size() > 0 &&
        w.size + write_buffer_.size() + record > options_.segment_bytes) {
      flush_locked(lock, &tickets);
      roll_segment(lock);
    }
    encode_record(write_buffer_, events[i], record);
    ++write_buffer_records_;
    ++result.accepted;
    ++stats_.appended;
  }
  // fsync: batch: synced by the group commit (claim_append; a failed sync accepts nothing).
  flush_locked(lock, &tickets);
  if (options_.fsync == SpoolFsync::interval && result.accepted > 0 && write_fd_ >= 0) {
    auto now = std::chrono::steady_clock::now();
    if (now - last_sync_ >= options_.fsync_interval) {
      last_sync_ = now;
      if (directory_dirty_) sync_directory_locked();
      if (int err = sync_fd(write_fd_))
        messages_.push_back("spool: fdatasync of " + segment_path(write_seq_) +
                            " failed: " + std::strerror(err) +
                            "; events appended since the last sync may not survive a power loss");
    }
  }
}

// A record that was readable at open (or when appended) is not any more: find what is still
// readable in the rest of the segment, skip the damage and count exactly the records that are
// gone (the segment's record count is known).
void Spool::damaged_while_reading_locked(uint64_t seq) {
  Segment& seg = segments_[seq];
  const uint64_t from = read_.offset;
  const std::string path = segment_path(seq);
  std::string bytes(seg.size - from, '\0');
  ssize_t n = ::pread(read_fd_, bytes.data(), bytes.size(), static_cast<off_t>(from));
  if (n < 0) throw io_error("cannot read", path);
  bytes.resize(static_cast<size_t>(n));
  // The newest segment's records were complete when appended: nothing in it is torn now.
  SpoolScan scan = scan_spool_segment(bytes, false, from);
  for (const auto& d : scan.damage)
    seg.skips[d.offset] = d.offset + d.length;
  if (from + bytes.size() < seg.size) seg.skips[from + bytes.size()] = seg.size;  // cut short
  const uint64_t expected = seg.records - read_.index;
  const uint64_t lost = expected > scan.records ? expected - scan.records : 0;
  seg.records = read_.index + std::min(expected, scan.records);
  unread_ -= std::min(lost, unread_);
  stats_.lost += lost;
  read_buffer_.clear();
  read_buffer_offset_ = 0;
  messages_.push_back("spool: damaged records in " + path + " from offset " + std::to_string(from) +
                      " skipped; " + std::to_string(lost) +
                      " event(s) lost, the readable records after them are kept");
}

bool Spool::read_record_locked(std::string_view& payload) {
  for (;;) {
    normalize_locked(read_);
    auto it = segments_.find(read_.segment);
    if (it == segments_.end() || read_.offset >= it->second.size) return false;
    if (read_fd_ < 0 || read_fd_seq_ != read_.segment) {
      if (read_fd_ >= 0) ::close(read_fd_);
      read_fd_ = ::open(segment_path(read_.segment).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      if (read_fd_ < 0)
        throw std::runtime_error("spool: cannot open " +
                                 sluice::open_private_error(segment_path(read_.segment)));
      read_fd_seq_ = read_.segment;
      read_buffer_.clear();
    }
    auto fill = [&](uint64_t need) {
      if (read_.offset >= read_buffer_offset_ &&
          read_.offset + need <= read_buffer_offset_ + read_buffer_.size())
        return true;
      // Read ahead up to 256 KiB, but not past the segment's end: nothing there is read, and a
      // small segment then costs no 256 KiB buffer (zero-filled by resize) per open.
      const uint64_t want =
          std::max<uint64_t>(need, std::min<uint64_t>(256 * 1024, it->second.size - read_.offset));
      read_buffer_.resize(want);
      ssize_t n = ::pread(read_fd_, read_buffer_.data(), want, static_cast<off_t>(read_.offset));
      if (n < 0) throw io_error("cannot read", segment_path(read_.segment));
      read_buffer_.resize(static_cast<size_t>(n));
      read_buffer_offset_ = read_.offset;
      return read_buffer_.size() >= need;
    };
    if (!fill(kHeader)) {
      damaged_while_reading_locked(read_.segment);
      continue;
    }
    const char* h = read_buffer_.data() + (read_.offset - read_buffer_offset_);
    const uint32_t magic = get_u32(h), len = get_u32(h + 4), crc = get_u32(h + 8);
    if (magic != kMagic || len > kMaxRecord ||
        uint64_t(len) + kHeader > it->second.size - read_.offset || !fill(kHeader + len)) {
      damaged_while_reading_locked(read_.segment);
      continue;
    }
    const char* p = read_buffer_.data() + (read_.offset - read_buffer_offset_);
    uint32_t actual = crc32c(crc32c(0, p + 4, 4), p + kHeader, len);
    if (actual != crc) {
      damaged_while_reading_locked(read_.segment);
      continue;
    }
    payload = std::string_view(p + kHeader, len);  // valid until the next read
    read_.offset += kHeader + len;
    ++read_.index;
    return true;
  }
}

std::optional<SpoolBatch> Spool::next_batch(size_t max_events, uint64_t max_bytes) {
  SpoolBatch batch;
  auto id = next_batch(max_events, max_bytes,
                       [&](const sluice_event& e) { batch.events.push_back(Event::copy_of(e)); });
  if (!id) return std::nullopt;
  batch.id = *id;
  return batch;
}

std::optional<uint64_t> Spool::next_batch(size_t max_events, uint64_t max_bytes,
                                          const std::function<void(const sluice_event&)>& take) {
  Lock lock(mutex_);
  if (shut_) return std::nullopt;
  if (unread_ == 0 || max_events == 0) return std::nullopt;
  Outstanding out;
  normalize_locked(read_);
  out.begin = read_;
  uint64_t bytes = 0;
  size_t count = 0;
  std::string_view payload;
  sluice_event view;
  thread_local std::vector<sluice_attribute> attrs;
  while (count < max_events && unread_ > 0 && (count == 0 || bytes < max_bytes)) {
    if (!read_record_locked(payload)) break;
    --unread_;
    if (!decode_payload(payload, view, attrs)) {
      // Checksum right, content wrong: written by a different version. Counted, not sent.
      ++stats_.lost;
      messages_.push_back("spool: undecodable record skipped in segment " +
                          segment_path(read_.segment) + "; 1 event lost");
      continue;
    }
    bytes += payload.size();
    take(view);
    ++count;
  }
  out.end = read_;
  out.count = count;
  if (count == 0 && out.begin.segment == out.end.segment && out.begin.offset == out.end.offset)
    return std::nullopt;
  const uint64_t id = next_batch_id_++;
  in_flight_ += out.count;
  outstanding_.emplace_back(id, out);
  if (count == 0) {
    // Only undecodable records: nothing to send, but the position moves on.
    ack_locked(lock, id);
    return std::nullopt;
  }
  return id;
}

bool Spool::wait_readable(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return closed_ || unread_ > 0; }) && unread_ > 0;
}

void Spool::ack(uint64_t batch_id) {
  Lock lock(mutex_);
  ack_locked(lock, batch_id);
}

void Spool::ack_locked(Lock& lock, uint64_t batch_id) {
  auto it = std::find_if(outstanding_.begin(), outstanding_.end(),
                         [&](const auto& o) { return o.first == batch_id; });
  if (it == outstanding_.end() || it->second.acked) return;
  it->second.acked = true;
  in_flight_ -= it->second.count;
  stats_.acked += it->second.count;
  bool moved = false;
  while (!outstanding_.empty() && outstanding_.front().second.acked) {
    const Position end = outstanding_.front().second.end;
    if (acked_.before(end)) {
      acked_ = end;
      moved = true;
    }
    outstanding_.pop_front();
  }
  if (moved && !shut_) {
    normalize_locked(acked_);
    // Synced when it lets a segment go (segments are only deleted below a synced position)
    // or when the last synced save is fsync_interval old; else written in place unsynced.
    const bool sync =
        acked_.segment > persisted_.segment ||
        std::chrono::steady_clock::now() - last_cursor_sync_ >= options_.fsync_interval;
    persist_cursor(sync);  // first: segments are only deleted below the position saved
    try {
      reclaim_locked(lock, false);
    } catch (const std::exception& e) {
      // A roll that cannot create the next segment (ENOSPC, EMFILE) or a segment that cannot
      // be deleted: the acknowledgement stands, the space comes back at a later one, and the
      // next append opens the write segment again. An acknowledgement never throws: it runs
      // on the sink's dispatcher thread.
      messages_.push_back(std::string(e.what()) +
                          "; acknowledged events stay on disk until a later acknowledgement");
    }
  }
  changed_.notify_all();
}

void Spool::rewind() {
  std::lock_guard lock(mutex_);
  unread_ += in_flight_;
  in_flight_ = 0;
  outstanding_.clear();
  read_ = acked_;
  changed_.notify_all();
}

void Spool::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  changed_.notify_all();
}

SpoolStats Spool::stats() const {
  std::lock_guard lock(mutex_);
  SpoolStats s = stats_;
  s.pending = unread_ + in_flight_;
  return s;
}

std::vector<std::string> Spool::take_messages() {
  std::lock_guard lock(mutex_);
  return std::exchange(messages_, {});
}

}  // namespace sluice::core
