// Disk spool. Format (all integers little-endian), see docs/delivery.md:
//   segment file  <directory>/<20-digit sequence>.seg, a sequence of records
//   record        magic "SLR1" | u32 payload length | u32 CRC-32C of (length bytes + payload) |
//                 payload
//   payload       u8 flags (1: subject present, 2: data present) | i64 time_unix_ns |
//                 str id | str source | str type | [str subject] | [str data] |
//                 u32 attribute count | (str key | str value)*      where str = u32 length + bytes
//   cursor file   <directory>/cursor: "sluice-spool-cursor 1 <segment> <offset>\n", replaced
//                 atomically (write + rename); everything before it is acknowledged.
#include <sluice/core/spool.hpp>

#include <dirent.h>
#include <fcntl.h>
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

void put_u32(std::string& out, uint32_t v) {
  char b[4] = {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
               static_cast<char>(v >> 24)};
  out.append(b, 4);
}
void put_u64(std::string& out, uint64_t v) {
  put_u32(out, static_cast<uint32_t>(v));
  put_u32(out, static_cast<uint32_t>(v >> 32));
}
void put_str(std::string& out, std::string_view s) {
  put_u32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}
uint32_t get_u32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return uint32_t(u[0]) | uint32_t(u[1]) << 8 | uint32_t(u[2]) << 16 | uint32_t(u[3]) << 24;
}

// Appends one complete record for `ev` to out.
void encode_record(std::string& out, const sluice_event& ev) {
  EventRef e(ev);
  const size_t start = out.size();
  out.append(kHeader, '\0');
  uint8_t flags = (e.has_subject() ? 1 : 0) | (e.has_data() ? 2 : 0);
  out.push_back(static_cast<char>(flags));
  put_u64(out, static_cast<uint64_t>(e.time_unix_ns()));
  put_str(out, e.id());
  put_str(out, e.source());
  put_str(out, e.type());
  if (e.has_subject()) put_str(out, e.subject());
  if (e.has_data()) put_str(out, e.data());
  put_u32(out, static_cast<uint32_t>(e.attribute_count()));
  for (size_t i = 0; i < e.attribute_count(); ++i) {
    put_str(out, e.attribute_key(i));
    put_str(out, e.attribute_value(i));
  }
  const uint32_t len = static_cast<uint32_t>(out.size() - start - kHeader);
  std::string head;
  put_u32(head, kMagic);
  put_u32(head, len);
  uint32_t crc = crc32c(0, head.data() + 4, 4);
  crc = crc32c(crc, out.data() + start + kHeader, len);
  put_u32(head, crc);
  std::memcpy(out.data() + start, head.data(), kHeader);
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
  bool str(std::string& s) {
    uint32_t n;
    if (!u32(n) || p_.size() < n) return false;
    s.assign(p_.data(), n);
    p_.remove_prefix(n);
    return true;
  }
  bool done() const { return p_.empty(); }

 private:
  std::string_view p_;
};

bool decode_payload(std::string_view payload, Event& out) {
  Decoder d(payload);
  uint8_t flags;
  uint32_t attrs;
  if (!d.u8(flags) || !d.i64(out.time_unix_ns) || !d.str(out.id) || !d.str(out.source) ||
      !d.str(out.type))
    return false;
  if (flags & 1) {
    out.subject.emplace();
    if (!d.str(*out.subject)) return false;
  }
  if (flags & 2) {
    out.data.emplace();
    if (!d.str(*out.data)) return false;
  }
  if (!d.u32(attrs)) return false;
  for (uint32_t i = 0; i < attrs; ++i) {
    std::string k, v;
    if (!d.str(k) || !d.str(v)) return false;
    out.attributes.emplace_back(std::move(k), std::move(v));
  }
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

void sync_directory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

uint32_t crc32c(uint32_t crc, const void* data, size_t size) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k)
        c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (size_t i = 0; i < size; ++i)
    crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
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
  std::error_code ec;
  std::filesystem::create_directories(options_.directory, ec);
  if (ec)
    throw std::runtime_error("spool: cannot create " + options_.directory + ": " + ec.message());
  recover();
  open_writer();
}

Spool::~Spool() {
  close();
  std::lock_guard lock(mutex_);
  if (write_fd_ >= 0) {
    if (options_.fsync != SpoolFsync::never) ::fdatasync(write_fd_);
    ::close(write_fd_);
  }
  if (read_fd_ >= 0) ::close(read_fd_);
}

std::string Spool::segment_path(uint64_t seq) const {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu.seg", static_cast<unsigned long long>(seq));
  return options_.directory + "/" + name;
}

void Spool::recover() {
  std::vector<uint64_t> found;
  for (const auto& entry : std::filesystem::directory_iterator(options_.directory)) {
    const std::string name = entry.path().filename().string();
    if (name.size() != 24 || name.substr(20) != ".seg") continue;
    if (!std::all_of(name.begin(), name.begin() + 20, [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    found.push_back(std::stoull(name.substr(0, 20)));
  }
  std::sort(found.begin(), found.end());

  // The persisted acknowledged position.
  Position cursor{found.empty() ? 1 : found.front(), 0, 0};
  {
    std::istringstream in(read_file(options_.directory + "/cursor"));
    std::string magic;
    int version = 0;
    uint64_t seg = 0, off = 0;
    if (in >> magic >> version >> seg >> off && magic == "sluice-spool-cursor" && version == 1)
      cursor = Position{seg, off, 0};
  }
  for (uint64_t seq : found) {
    if (seq < cursor.segment) {
      // Fully acknowledged before the crash; its deletion did not happen yet.
      std::filesystem::remove(segment_path(seq));
      continue;
    }
    segments_[seq] = Segment{};
  }
  if (segments_.empty() || segments_.begin()->first != cursor.segment)
    cursor = Position{
        segments_.empty() ? std::max<uint64_t>(cursor.segment, 1) : segments_.begin()->first, 0, 0};
  acked_ = cursor;

  const std::vector<uint64_t> seqs = [&] {
    std::vector<uint64_t> v;
    for (const auto& [s, _] : segments_)
      v.push_back(s);
    return v;
  }();
  for (size_t i = 0; i < seqs.size(); ++i)
    recover_segment(seqs[i], i + 1 == seqs.size());

  if (!segments_.count(acked_.segment))
    acked_ = Position{segments_.empty() ? acked_.segment : segments_.begin()->first, 0, 0};
  // Count what is left to send, from the acknowledged position on.
  unread_ = 0;
  for (const auto& [seq, seg] : segments_) {
    if (seq == acked_.segment)
      unread_ += seg.records - acked_.index;
    else if (seq > acked_.segment)
      unread_ += seg.records;
  }
  read_ = acked_;
  recovery_.segments = segments_.size();
  recovery_.pending_events = unread_;
  for (const auto& [seq, seg] : segments_)
    stats_.bytes += seg.size;
  stats_.pending = unread_;
  stats_.quarantined = recovery_.quarantined_segments;
}

void Spool::recover_segment(uint64_t seq, bool last) {
  const std::string path = segment_path(seq);
  const std::string bytes = read_file(path);
  Segment seg;
  uint64_t off = 0;
  std::string problem;
  bool torn = false;
  while (off < bytes.size()) {
    if (seq == acked_.segment && off <= acked_.offset) acked_.index = seg.records;
    if (bytes.size() - off < kHeader) {
      if (last)
        torn = true;
      else
        problem = "record header cut short";
      break;
    }
    const uint32_t magic = get_u32(bytes.data() + off);
    const uint32_t len = get_u32(bytes.data() + off + 4);
    const uint32_t crc = get_u32(bytes.data() + off + 8);
    if (magic != kMagic || len > kMaxRecord) {
      problem = "bad record header";
      break;
    }
    if (bytes.size() - off - kHeader < len) {
      // Only the newest segment is ever written to, so only it can end in a torn record.
      if (last)
        torn = true;
      else
        problem = "record runs past the end of the segment";
      break;
    }
    uint32_t actual = crc32c(0, bytes.data() + off + 4, 4);
    actual = crc32c(actual, bytes.data() + off + kHeader, len);
    if (actual != crc) {
      // A checksum failure in the very last record of the newest segment is a torn write.
      if (last && off + kHeader + len == bytes.size()) {
        torn = true;
      } else {
        problem = "checksum mismatch";
      }
      break;
    }
    off += kHeader + len;
    ++seg.records;
  }
  if (seq == acked_.segment && off <= acked_.offset) {
    acked_.index = seg.records;
    acked_.offset = off;
  } else if (seq == acked_.segment) {
    // Snap a cursor that points into a record (it never should) to that record's start.
    uint64_t o = 0, idx = 0;
    while (o < acked_.offset && o < off) {
      o += kHeader + get_u32(bytes.data() + o + 4);
      ++idx;
    }
    acked_.offset = o;
    acked_.index = idx;
  }
  if (!problem.empty()) {
    const std::string corrupt = path + ".corrupt";
    std::filesystem::rename(path, corrupt);
    segments_.erase(seq);
    ++recovery_.quarantined_segments;
    recovery_.messages.push_back("spool: segment " + path + " quarantined as " + corrupt + ": " +
                                 problem + " at offset " + std::to_string(off) + " (" +
                                 std::to_string(seg.records) +
                                 " readable records before it are not sent; inspect the file)");
    if (seq == acked_.segment) acked_ = Position{seq + 1, 0, 0};
    return;
  }
  if (torn) {
    const uint64_t cut = bytes.size() - off;
    if (::truncate(path.c_str(), static_cast<off_t>(off)) != 0)
      throw io_error("cannot truncate", path);
    recovery_.truncated_bytes += cut;
    recovery_.messages.push_back("spool: segment " + path + ": torn record at the end, " +
                                 std::to_string(cut) + " bytes cut off at offset " +
                                 std::to_string(off));
  }
  seg.size = off;
  segments_[seq] = seg;
}

void Spool::open_writer() {
  if (segments_.empty()) {
    write_seq_ = std::max<uint64_t>(acked_.segment, 1);
    segments_[write_seq_] = Segment{};
    if (acked_.segment != write_seq_) acked_ = Position{write_seq_, 0, 0};
    read_ = acked_;
  } else {
    write_seq_ = segments_.rbegin()->first;
  }
  const std::string path = segment_path(write_seq_);
  write_fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (write_fd_ < 0) throw io_error("cannot open", path);
  if (options_.fsync != SpoolFsync::never) sync_directory(options_.directory);
}

void Spool::roll_segment() {
  if (options_.fsync != SpoolFsync::never) ::fdatasync(write_fd_);
  ::close(write_fd_);
  write_fd_ = -1;
  ++write_seq_;
  segments_[write_seq_] = Segment{};
  const std::string path = segment_path(write_seq_);
  write_fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (write_fd_ < 0) throw io_error("cannot open", path);
  if (options_.fsync != SpoolFsync::never) sync_directory(options_.directory);
}

void Spool::flush_locked() {
  if (write_buffer_.empty()) return;
  Segment& seg = segments_[write_seq_];
  try {
    if (options_.fail_write)
      if (int err = options_.fail_write()) {
        errno = err;
        throw io_error("cannot write", segment_path(write_seq_));
      }
    write_all(write_fd_, write_buffer_.data(), write_buffer_.size(), segment_path(write_seq_));
  } catch (...) {
    // Nothing of the buffer is accepted: cut off whatever part reached the file, so that the
    // segment ends at a record boundary again, and forget the buffered records.
    const int saved = errno;
    if (::ftruncate(write_fd_, static_cast<off_t>(seg.size)) != 0) {
      // The torn tail is cut off by recovery at the next open.
    }
    stats_.appended -= write_buffer_records_;
    write_buffer_.clear();
    write_buffer_records_ = 0;
    errno = saved;
    throw;
  }
  seg.size += write_buffer_.size();
  seg.records += write_buffer_records_;
  stats_.bytes += write_buffer_.size();
  unread_ += write_buffer_records_;
  write_buffer_.clear();
  write_buffer_records_ = 0;
  changed_.notify_all();
}

void Spool::persist_cursor() {
  const std::string tmp = options_.directory + "/cursor.tmp";
  const std::string text = "sluice-spool-cursor 1 " + std::to_string(acked_.segment) + " " +
                           std::to_string(acked_.offset) + "\n";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw io_error("cannot write", tmp);
  write_all(fd, text.data(), text.size(), tmp);
  if (options_.fsync != SpoolFsync::never) ::fdatasync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), (options_.directory + "/cursor").c_str()) != 0)
    throw io_error("cannot rename", tmp);
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
}

void Spool::normalize_locked(Position& p) const {
  // The end of a closed segment is the start of the next one.
  for (;;) {
    auto it = segments_.find(p.segment);
    if (it == segments_.end()) {
      auto next = segments_.upper_bound(p.segment);
      if (next == segments_.end()) return;
      p = Position{next->first, 0, 0};
      continue;
    }
    if (p.segment == write_seq_ || p.offset < it->second.size) return;
    auto next = std::next(it);
    if (next == segments_.end()) return;
    p = Position{next->first, 0, 0};
  }
}

void Spool::reclaim_locked(bool force) {
  // A fully acknowledged write segment can only be deleted once writing has moved on.
  const Segment& w = segments_[write_seq_];
  if (acked_.segment == write_seq_ && acked_.offset == w.size && w.size > 0 &&
      read_.segment == write_seq_ && read_.offset == w.size && write_buffer_.empty() &&
      (force || w.size >= options_.segment_bytes / 4)) {
    roll_segment();
    normalize_locked(acked_);
    normalize_locked(read_);
    persist_cursor();
  }
  while (!segments_.empty() && segments_.begin()->first < acked_.segment)
    delete_segment_locked(segments_.begin()->first);
}

bool Spool::drop_oldest_locked(SpoolAppendResult& result) {
  flush_locked();
  if (segments_.begin()->first == write_seq_) {
    if (segments_[write_seq_].records == 0) return false;
    roll_segment();
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
    persist_cursor();
  }
  delete_segment_locked(seq);
  return true;
}

SpoolAppendResult Spool::append(const std::vector<Event>& events) {
  EventViews views(events);
  return append(views.data(), views.size());
}

SpoolAppendResult Spool::append(const sluice_event* events, size_t count) {
  SpoolAppendResult result;
  std::unique_lock lock(mutex_);
  std::string record;
  for (size_t i = 0; i < count; ++i) {
    if (closed_) {
      result.dropped += count - i;
      stats_.dropped += count - i;
      break;
    }
    record.clear();
    encode_record(record, events[i]);
    if (record.size() > options_.max_bytes) {
      ++result.dropped;
      ++stats_.dropped;
      continue;
    }
    bool room = true;
    while (stats_.bytes + write_buffer_.size() + record.size() > options_.max_bytes) {
      reclaim_locked(true);
      if (stats_.bytes + write_buffer_.size() + record.size() <= options_.max_bytes) break;
      if (options_.overflow == SpoolOverflow::drop_oldest) {
        if (drop_oldest_locked(result)) continue;
        room = false;
        break;
      }
      if (options_.overflow == SpoolOverflow::drop_newest) {
        room = false;
        break;
      }
      flush_locked();
      auto has_room = [&] { return closed_ || stats_.bytes + record.size() <= options_.max_bytes; };
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
        w.size + write_buffer_.size() + record.size() > options_.segment_bytes) {
      flush_locked();
      roll_segment();
    }
    write_buffer_ += record;
    ++write_buffer_records_;
    ++result.accepted;
    ++stats_.appended;
  }
  flush_locked();
  if (options_.fsync == SpoolFsync::batch && result.accepted > 0) {
    ::fdatasync(write_fd_);
  } else if (options_.fsync == SpoolFsync::interval && result.accepted > 0) {
    auto now = std::chrono::steady_clock::now();
    if (now - last_sync_ >= options_.fsync_interval) {
      ::fdatasync(write_fd_);
      last_sync_ = now;
    }
  }
  return result;
}

void Spool::quarantine_locked(uint64_t seq, const std::string& why) {
  const Segment seg = segments_[seq];
  const uint64_t lost = read_.segment == seq ? seg.records - read_.index : 0;
  const std::string path = segment_path(seq);
  if (seq == write_seq_) roll_segment();
  if (read_fd_ >= 0 && read_fd_seq_ == seq) {
    ::close(read_fd_);
    read_fd_ = -1;
    read_buffer_.clear();
  }
  std::filesystem::rename(path, path + ".corrupt");
  stats_.bytes -= seg.size;
  segments_.erase(seq);
  unread_ -= lost;
  stats_.dropped += lost;
  ++stats_.quarantined;
  messages_.push_back("spool: segment " + path + " quarantined as " + path + ".corrupt: " + why +
                      "; " + std::to_string(lost) + " events in it were not sent");
  read_ = Position{seq + 1, 0, 0};
  normalize_locked(read_);
  if (acked_.segment == seq) {
    acked_ = Position{seq + 1, 0, 0};
    normalize_locked(acked_);
    persist_cursor();
  }
}

bool Spool::read_record_locked(std::string& payload) {
  for (;;) {
    normalize_locked(read_);
    auto it = segments_.find(read_.segment);
    if (it == segments_.end() || read_.offset >= it->second.size) return false;
    if (read_fd_ < 0 || read_fd_seq_ != read_.segment) {
      if (read_fd_ >= 0) ::close(read_fd_);
      read_fd_ = ::open(segment_path(read_.segment).c_str(), O_RDONLY | O_CLOEXEC);
      if (read_fd_ < 0) throw io_error("cannot open", segment_path(read_.segment));
      read_fd_seq_ = read_.segment;
      read_buffer_.clear();
    }
    auto fill = [&](uint64_t need) {
      if (read_.offset >= read_buffer_offset_ &&
          read_.offset + need <= read_buffer_offset_ + read_buffer_.size())
        return true;
      const uint64_t want = std::max<uint64_t>(need, 256 * 1024);
      read_buffer_.resize(want);
      ssize_t n = ::pread(read_fd_, read_buffer_.data(), want, static_cast<off_t>(read_.offset));
      if (n < 0) throw io_error("cannot read", segment_path(read_.segment));
      read_buffer_.resize(static_cast<size_t>(n));
      read_buffer_offset_ = read_.offset;
      return read_buffer_.size() >= need;
    };
    if (!fill(kHeader)) {
      quarantine_locked(read_.segment, "record header cut short");
      continue;
    }
    const char* h = read_buffer_.data() + (read_.offset - read_buffer_offset_);
    const uint32_t magic = get_u32(h), len = get_u32(h + 4), crc = get_u32(h + 8);
    if (magic != kMagic || len > kMaxRecord) {
      quarantine_locked(read_.segment,
                        "bad record header at offset " + std::to_string(read_.offset));
      continue;
    }
    if (!fill(kHeader + len)) {
      quarantine_locked(read_.segment,
                        "record cut short at offset " + std::to_string(read_.offset));
      continue;
    }
    const char* p = read_buffer_.data() + (read_.offset - read_buffer_offset_);
    uint32_t actual = crc32c(crc32c(0, p + 4, 4), p + kHeader, len);
    if (actual != crc) {
      quarantine_locked(read_.segment,
                        "checksum mismatch at offset " + std::to_string(read_.offset));
      continue;
    }
    payload.assign(p + kHeader, len);
    read_.offset += kHeader + len;
    ++read_.index;
    return true;
  }
}

std::optional<SpoolBatch> Spool::next_batch(size_t max_events, uint64_t max_bytes) {
  std::lock_guard lock(mutex_);
  if (unread_ == 0 || max_events == 0) return std::nullopt;
  SpoolBatch batch;
  Outstanding out;
  normalize_locked(read_);
  out.begin = read_;
  uint64_t bytes = 0;
  std::string payload;
  while (batch.events.size() < max_events && unread_ > 0 &&
         (batch.events.empty() || bytes < max_bytes)) {
    if (!read_record_locked(payload)) break;
    --unread_;
    Event ev;
    if (!decode_payload(payload, ev)) {
      // Checksum right, content wrong: written by a different version. Counted, not sent.
      ++stats_.dropped;
      messages_.push_back("spool: undecodable record skipped in segment " +
                          segment_path(read_.segment));
      continue;
    }
    bytes += payload.size();
    batch.events.push_back(std::move(ev));
  }
  out.end = read_;
  out.count = batch.events.size();
  if (batch.events.empty() && out.begin.segment == out.end.segment &&
      out.begin.offset == out.end.offset)
    return std::nullopt;
  batch.id = next_batch_id_++;
  in_flight_ += out.count;
  outstanding_.emplace_back(batch.id, out);
  if (batch.events.empty()) {
    // Only undecodable records: nothing to send, but the position moves on.
    ack_locked(batch.id);
    return std::nullopt;
  }
  return batch;
}

bool Spool::wait_readable(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return closed_ || unread_ > 0; }) && unread_ > 0;
}

void Spool::ack(uint64_t batch_id) {
  std::lock_guard lock(mutex_);
  ack_locked(batch_id);
}

void Spool::ack_locked(uint64_t batch_id) {
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
  if (moved) {
    normalize_locked(acked_);
    reclaim_locked(false);
    persist_cursor();
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
