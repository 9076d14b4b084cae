// Disk spool: an append-only, segmented, checksummed on-disk log of events for one sink.
//
// Events appended to the spool count as accepted once append() returns; the sink drains them in
// order with next_batch() / ack(). The acknowledged position is persisted, so after a crash
// (kill -9) or a restart nothing acknowledged is handed out again; batches handed out but not yet
// acknowledged are handed out again (at-least-once). The on-disk format and the guarantees are
// documented in docs/delivery.md ("Disk spool").
#pragma once

#include <sluice/core/config.hpp>
#include <sluice/core/delivery_hooks.hpp>
#include <sluice/event.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::core {

// SpoolFsync and SpoolOverflow are declared in config.hpp (the pipeline file sets them).
SpoolFsync parse_spool_fsync(std::string_view name);        // never | batch | interval
SpoolOverflow parse_spool_overflow(std::string_view name);  // drop_newest | drop_oldest | block

struct SpoolOptions {
  // Created (mode 0700) if missing; one directory per sink. Refused when it, or a directory above
  // it, could be changed by another user (sluice/trusted_path.hpp).
  std::string directory;
  uint64_t segment_bytes = 16ull << 20;  // a segment is closed once it reaches this size
  uint64_t max_bytes = 1ull << 30;       // cap on the un-acknowledged data on disk
  SpoolOverflow overflow = SpoolOverflow::block;
  SpoolFsync fsync = SpoolFsync::batch;            // batch: fdatasync before every append() returns
  std::chrono::milliseconds fsync_interval{1000};  // for SpoolFsync::interval
  // block: how long append() waits for room before it drops the newest events (counted).
  // 0 waits until there is room or the spool is closed.
  std::chrono::milliseconds block_timeout{0};
  // Tests: called before each write of appended records; a non-zero errno fails that write as
  // if write(2) had (the records of that append() are not accepted).
  std::function<int()> fail_write;
  // Tests: called before each fdatasync/fsync of a segment, the cursor or the directory; a
  // non-zero errno fails that sync as if fdatasync(2) had.
  std::function<int()> fail_sync;
};

// What recovery on open found; every item is also in `messages` as one line for the log.
struct SpoolRecovery {
  uint64_t segments = 0;         // segments kept
  uint64_t pending_events = 0;   // events not yet acknowledged, ready to be sent
  uint64_t truncated_bytes = 0;  // torn tail records cut off (an append that never completed)
  uint64_t damaged_regions = 0;  // stretches of bytes that are no valid record, skipped
  // Events not yet acknowledged that cannot be read back (in damaged regions, an emptied
  // segment): at least one per region, more when record headers are still visible in it.
  uint64_t lost_events = 0;
  std::vector<std::string> messages;
};

struct SpoolStats {
  uint64_t appended = 0;     // events accepted by append() since open
  uint64_t acked = 0;        // events acknowledged since open
  uint64_t dropped = 0;      // events dropped by the overflow policy since open
  uint64_t pending = 0;      // events on disk not yet acknowledged (handed out or not)
  uint64_t bytes = 0;        // bytes of un-deleted segments on disk
  uint64_t lost = 0;         // events that could not be read back since open (recovery included)
  uint64_t sync_errors = 0;  // failed fdatasync/fsync calls since open
};

struct SpoolAppendResult {
  size_t accepted = 0;
  size_t dropped = 0;         // by the overflow policy (drop_newest, block timeout, closed)
  size_t dropped_oldest = 0;  // older, not yet handed out events dropped to make room
  // An I/O error after part of the call was written (a call spanning a segment roll): the
  // events from the failed write on are not accepted; `error` says why.
  size_t failed = 0;
  std::string error;
};

// One batch read back from the spool. Hand it to ack() once the sink is done with it
// (delivered or dead-lettered).
struct SpoolBatch {
  uint64_t id = 0;
  std::vector<Event> events;
};

class Spool {
 public:
  // Opens (creating the directory) and recovers; throws std::runtime_error when the directory
  // cannot be used (or is not trusted). Recovery problems (torn tail, damaged records, a bad
  // cursor) do not throw: see recovery().
  explicit Spool(SpoolOptions options);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  const SpoolRecovery& recovery() const { return recovery_; }

  // Appends events; returns once they are written (and synced as the fsync policy says): one
  // write (and with fsync: batch, one fdatasync) for the whole call, unless it crosses a
  // segment boundary or makes room by dropping the oldest segment. A torn write (a crash
  // in the middle) is recovered as the records before the tear. Thread-safe. Throws
  // std::runtime_error on an I/O error when nothing of this call is accepted; when a part was
  // (written before a segment roll), returns it with the rest counted in `failed`.
  SpoolAppendResult append(const sluice_event* events, size_t count);
  SpoolAppendResult append(const std::vector<Event>& events);

  // The next batch after the last one handed out: at most max_events events and about
  // max_bytes bytes (at least one event). nullopt when there is nothing new. Thread-safe.
  std::optional<SpoolBatch> next_batch(size_t max_events, uint64_t max_bytes = UINT64_MAX);

  // Waits until there is something to hand out, the timeout passes or the spool is closed.
  bool wait_readable(std::chrono::milliseconds timeout);

  // The batch is done with. Batches may be acknowledged in any order; the persisted position
  // advances over the acknowledged prefix, and fully acknowledged segments are deleted.
  void ack(uint64_t batch_id);

  // Hands out again every batch handed out and not acknowledged (e.g. after a sink restart).
  void rewind();

  // Wakes waiters (append in block mode, wait_readable) and refuses further appends.
  void close();

  SpoolStats stats() const;

  // Problems found after open (a record that fails its checksum while reading, a failed sync);
  // the caller logs them. Clears the list.
  std::vector<std::string> take_messages();

 private:
  struct Position {
    uint64_t segment = 0;
    uint64_t offset = 0;
    uint64_t index = 0;  // record number within the segment
    bool before(const Position& o) const {
      return segment < o.segment || (segment == o.segment && offset < o.offset);
    }
  };
  struct Segment {
    uint64_t size = 0;
    uint64_t records = 0;                // readable records
    std::map<uint64_t, uint64_t> skips;  // damaged regions already counted: offset -> end
  };
  struct Outstanding {
    Position begin;
    Position end;
    size_t count = 0;
    bool acked = false;
  };

  void append_locked(std::unique_lock<std::mutex>& lock, const sluice_event* events, size_t count,
                     SpoolAppendResult& result);
  void recover();
  void recover_segment(uint64_t seq, bool last);
  void open_writer();
  void roll_segment();
  bool persist_cursor();
  int sync_fd(int fd);
  void delete_segment_locked(uint64_t seq);
  bool drop_oldest_locked(SpoolAppendResult& result);
  void ack_locked(uint64_t batch_id);
  std::string segment_path(uint64_t seq) const;
  void normalize_locked(Position& p) const;
  void reclaim_locked(bool force);
  void flush_locked();
  void damaged_while_reading_locked(uint64_t seq);
  void sync_directory_locked();
  bool read_record_locked(std::string& payload);

  SpoolOptions options_;
  SpoolRecovery recovery_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool closed_ = false;

  std::map<uint64_t, Segment> segments_;  // on disk, ordered; the last one is written to
  int write_fd_ = -1;
  uint64_t write_seq_ = 0;
  bool directory_dirty_ = false;  // a segment was created and the directory not synced since
  std::chrono::steady_clock::time_point last_sync_{};

  Position acked_;      // everything before it is done
  Position persisted_;  // the acknowledged position the cursor file holds
  Position read_;       // next record to hand out
  std::deque<std::pair<uint64_t, Outstanding>> outstanding_;  // by batch id, in order
  uint64_t next_batch_id_ = 1;
  uint64_t unread_ = 0;     // records after read_
  uint64_t in_flight_ = 0;  // records handed out, not acknowledged

  SpoolStats stats_;
  std::vector<std::string> messages_;
  std::string write_buffer_;  // encoded records of the current append, not yet written
  uint64_t write_buffer_records_ = 0;
  uint64_t failed_records_ = 0;  // records of the buffer the last failing flush_locked() lost
  int read_fd_ = -1;
  uint64_t read_fd_seq_ = 0;
  std::string read_buffer_;  // bytes of the read segment starting at read_buffer_offset_
  uint64_t read_buffer_offset_ = 0;
};

// CRC-32C (Castagnoli), the checksum of every spool record.
uint32_t crc32c(uint32_t crc, const void* data, size_t size);

// ---- the on-disk format, for recovery, tests and the fuzzer ---------------------------------

// What a segment's bytes hold: every record whose header and checksum are right is kept; a
// stretch of bytes that is no valid record is a damaged region, skipped up to the next valid
// record (resynchronisation on the record magic). In the newest segment (`last`), an incomplete
// record at the very end with nothing valid after it is a torn append, not damage.
struct SpoolScan {
  struct Record {
    uint64_t offset;
    uint32_t length;  // payload bytes
  };
  struct Damage {
    uint64_t offset;
    uint64_t length;
    uint64_t records;  // estimate: record headers seen in it, at least 1
  };
  std::vector<Damage> damage;
  uint64_t records = 0;
  uint64_t end = 0;         // where the kept bytes end (the file size unless torn)
  uint64_t torn_bytes = 0;  // `last` only: bytes of an incomplete record at the end
};
// `on_record` (may be empty) sees every valid record in order. Offsets are relative to `bytes`
// plus `base`. The work spent looking for the next record after damage is bounded (a few passes
// over the bytes); past that budget the rest is one damaged region.
SpoolScan scan_spool_segment(std::string_view bytes, bool last, uint64_t base = 0,
                             const std::function<void(const SpoolScan::Record&)>& on_record = {});

// The payload of one record back into an event; false when it does not decode.
bool decode_spool_payload(std::string_view payload, Event& out);

// The cursor file's text: "sluice-spool-cursor 1 <segment> <offset>\n". nullopt when it is not
// exactly that (numbers without sign, no overflow).
struct SpoolCursor {
  uint64_t segment = 0;
  uint64_t offset = 0;
};
std::optional<SpoolCursor> parse_spool_cursor(std::string_view text);

}  // namespace sluice::core

// ---- the spool as a sink's queue (`queue: {policy: spool}`) -------------------------------

namespace sluice::core {

// A SinkQueue whose every event is on disk before push() returns; push_batch() appends a whole
// run of events in one Spool::append (one write, one fdatasync with `fsync: batch`). pop() reads
// ahead from the spool; an event popped into a batch is acknowledged (its spool position persisted)
// once the dispatcher has let go of it, i.e. after the batch was delivered or dead-lettered.
// Batches still out when the process dies are read again at the next start (at-least-once).
// `report` receives one line per problem (recovery on open: torn tail cut off, damaged records
// skipped; later: a record failing its checksum while reading, a failed sync). Throws
// std::runtime_error when the spool directory cannot be used.
std::unique_ptr<SinkQueue> make_spool_queue(const SinkConfig& sink, SpoolOptions options,
                                            std::function<void(const std::string&)> report);

// The SpoolOptions a sink's `spool:` block and queue settings give (docs/delivery.md).
SpoolOptions spool_options_for(const SinkConfig& sink);

}  // namespace sluice::core
