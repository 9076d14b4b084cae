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
  // non-zero errno fails that sync as if fdatasync(2) had. With fsync: batch it is called
  // without the spool's lock by whichever appending thread leads a group commit (it may sleep
  // to play a slow disk).
  std::function<int()> fail_sync;
  // Tests: called before each in-place write of the cursor file; non-zero fails it (as pwrite).
  std::function<int()> fail_cursor_write;
  // Tests: called before each ftruncate that cuts records that were not accepted off a segment;
  // non-zero fails it (as ftruncate).
  std::function<int()> fail_truncate;
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
  // fsync: batch: events written by begin_append() whose outcome the caller has not taken yet
  // (waiting for their fdatasync, or failed and not claimed). Not in `pending`.
  uint64_t unsettled = 0;
  uint64_t syncs = 0;  // fdatasync calls of group commits (fsync: batch) since open
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

// An append written and not yet settled (fsync: batch): begin_append()'s result, for
// wait_synced() and claim_append().
struct SpoolPendingAppend {
  SpoolAppendResult result;
  std::vector<std::pair<uint64_t, uint64_t>> tickets;  // (write ticket, records) of the call
};

// One batch read back from the spool. Hand it to ack() once the sink is done with it
// (delivered or dead-lettered).
struct SpoolBatch {
  uint64_t id = 0;
  std::vector<Event> events;
};

// Concurrency (the invariants in full are at the top of spool.cpp): one mutex (mutex_) guards
// every member; condition variables changed_ (room, readable records) and synced_ (group
// commit) wait on it. With fsync: batch, one thread at a time (the leader, syncing_) calls
// fdatasync without mutex_ for every write so far; no segment is rolled or closed while it
// does; a failed sync fails every write not synced yet and retires the segment's file.
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
  // std::runtime_error on an I/O error when nothing of this call is accepted and nothing was
  // dropped or evicted for it; else returns the result with the events not accepted counted in
  // `failed` (the evicted ones in `dropped_oldest` must be counted even when the write fails).
  SpoolAppendResult append(const sluice_event* events, size_t count);
  SpoolAppendResult append(const std::vector<Event>& events);

  // append() in three steps, for a caller that keeps its own lock while writing (the sink
  // channel) and waits for the disk without it, so that several callers share one fdatasync
  // (group commit, fsync: batch; with the other policies nothing waits):
  //   begin_append  writes (appends are ordered as their begin calls); throws like append when
  //                 nothing could be written.
  //   wait_synced   waits, without any lock of the caller, until the sync that covers the
  //                 call's bytes is done (the calling thread may be the one that syncs).
  //   claim_append  the outcome (waits first if wait_synced was not called): records are
  //                 accepted, and readable, only once synced; a failed sync accepts none of the
  //                 records it covered. Throws like append. Until it
  //                 is called, the failed records count in stats().unsettled, so a caller that
  //                 claims under its own lock sees its accounting change in one step.
  // Call claim_append exactly once for every begin_append that returned.
  SpoolPendingAppend begin_append(const sluice_event* events, size_t count);
  void wait_synced(const SpoolPendingAppend& pending);
  SpoolAppendResult claim_append(SpoolPendingAppend& pending);

  // The next batch after the last one handed out: at most max_events events and about
  // max_bytes bytes (at least one event). nullopt when there is nothing new. Thread-safe.
  std::optional<SpoolBatch> next_batch(size_t max_events, uint64_t max_bytes = UINT64_MAX);
  // The same without building Events: `take` sees each event as views into the spool's read
  // buffer, valid during the call only (the runtime copies it into its own EventPtr). Returns
  // the batch id for ack().
  std::optional<uint64_t> next_batch(size_t max_events, uint64_t max_bytes,
                                     const std::function<void(const sluice_event&)>& take);

  // Waits until there is something to hand out, the timeout passes or the spool is closed.
  bool wait_readable(std::chrono::milliseconds timeout);

  // The batch is done with. Batches may be acknowledged in any order; the persisted position
  // advances over the acknowledged prefix, and fully acknowledged segments are deleted.
  void ack(uint64_t batch_id);

  // Hands out again every batch handed out and not acknowledged (e.g. after a sink restart).
  void rewind();

  // Wakes waiters (append in block mode, wait_readable) and refuses further appends.
  void close();

  // close(), then waits for a sync in progress, syncs what is written, saves the acknowledged
  // position, closes every file and releases the directory lock: another Spool may open the
  // directory from here on. This one only answers stats() and takes no more acknowledgements
  // to disk. The destructor does it too.
  void shutdown();

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

  using Lock = std::unique_lock<std::mutex>;
  using Tickets = std::vector<std::pair<uint64_t, uint64_t>>;
  struct Unsynced {
    uint64_t ticket;
    uint64_t records;
    uint64_t bytes;
  };

  void append_locked(Lock& lock, const sluice_event* events, size_t count,
                     SpoolAppendResult& result, Tickets& tickets);
  // Group commit: returns once every write up to `ticket` is synced or failed.
  void wait_synced_locked(Lock& lock, uint64_t ticket);
  // Syncs, holding the lock, every write not synced yet, and settles them (a roll, shutdown).
  void sync_all_locked(Lock& lock);
  // The sync of writes up to `upto` ended with `err`: 0 makes them readable; else every
  // write not synced yet fails (cut off the segment, which is never written or synced again).
  void settle_synced_locked(uint64_t upto, int err, const std::string& what);
  // Cuts the write segment back to `size` after records that are not accepted (D3: when that
  // fails, the segment's end is recorded in <seq>.end for recovery, or the spool refuses appends).
  // after_failed_sync: the file's sync failed, so even a cut that works is not durable (no
  // later sync of that file is trusted): the end marker is written whatever ftruncate did.
  void cut_back_locked(uint64_t size, bool after_failed_sync = false);
  void recover();
  void recover_segment(uint64_t seq, bool last, uint64_t limit);
  void open_writer();
  void roll_segment(Lock& lock);
  bool persist_cursor(bool sync);
  int sync_fd(int fd);
  int replace_file_synced(const std::string& path, std::string_view text, std::string& why);
  void delete_segment_locked(uint64_t seq);
  bool drop_oldest_locked(Lock& lock, SpoolAppendResult& result, Tickets& tickets);
  void ack_locked(Lock& lock, uint64_t batch_id);
  std::string segment_path(uint64_t seq) const;
  std::string end_path(uint64_t seq) const;
  void normalize_locked(Position& p) const;
  void reclaim_locked(Lock& lock, bool force);
  void flush_locked(Lock& lock, Tickets* tickets = nullptr);
  void damaged_while_reading_locked(uint64_t seq);
  void sync_directory_locked();
  bool read_record_locked(std::string_view& payload);

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
  Position persisted_;  // the acknowledged position the cursor file holds, synced
  Position written_;    // the position the cursor file holds, synced or not
  std::chrono::steady_clock::time_point last_cursor_sync_{};  // of persisted_
  int cursor_fd_ = -1;  // the cursor file once this run replaced it: later saves in place
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

  // Group commit (fsync: batch), see the invariants at the top of spool.cpp.
  std::deque<Unsynced> unsynced_;  // written to the write segment, not synced yet, in order
  uint64_t next_ticket_ = 1;       // of the next write
  uint64_t settled_ticket_ = 0;    // every write up to it is synced or failed
  bool syncing_ = false;           // a leader is in fdatasync, without mutex_
  std::condition_variable synced_;
  std::map<uint64_t, std::string> failed_tickets_;  // failed writes not claimed yet: why
  bool must_roll_ = false;  // the write segment is not written again (failed sync or cut)
  std::string poisoned_;    // non-empty: appends are refused until the spool is reopened
  int lock_fd_ = -1;        // the directory, flock'ed while this Spool uses it
  bool shut_ = false;       // shutdown(): no more file access
  int read_fd_ = -1;
  uint64_t read_fd_seq_ = 0;
  std::string read_buffer_;  // bytes of the read segment starting at read_buffer_offset_
  uint64_t read_buffer_offset_ = 0;
};

// CRC-32C (Castagnoli), the checksum of every spool record: the CPU's crc32 instruction where
// there is one (SSE4.2), else crc32c_by_table. Both continue from `crc` (0 to begin).
uint32_t crc32c(uint32_t crc, const void* data, size_t size);
// The same without the instruction (eight table lookups per 8 bytes), for machines without it
// and for the tests that compare the two.
uint32_t crc32c_by_table(uint32_t crc, const void* data, size_t size);

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

// The cursor file's text: "sluice-spool-cursor 1 <segment> <offset> crc <crc32c>\n" (what
// spool_cursor_text writes: fixed width, so that a save in place overwrites the same bytes), or
// the older "sluice-spool-cursor 1 <segment> <offset>\n". nullopt when it is neither (numbers
// without sign, no overflow; the CRC-32C, 8 lower-case hex digits, of the text before " crc"
// must match: a save torn by a power loss does not).
struct SpoolCursor {
  uint64_t segment = 0;
  uint64_t offset = 0;
};
std::string spool_cursor_text(uint64_t segment, uint64_t offset);
std::optional<SpoolCursor> parse_spool_cursor(std::string_view text);

}  // namespace sluice::core

// ---- the spool as a sink's queue (`queue: {policy: spool}`) -------------------------------

namespace sluice::core {

// A SinkQueue whose every event is on disk before push() returns; push_batch() appends a whole
// run of events in one Spool::append (one write, one fdatasync with `fsync: batch`), and
// push_batch_begin / push_batch_wait / push_batch_claim do the same with the wait for the
// fdatasync outside the sink channel's lock, shared with other pushes (group commit). pop() reads
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
