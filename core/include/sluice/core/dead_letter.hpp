// Dead-letter file: events a sink rejected, or whose batch ran out of retries, one JSON line per
// event, so that nothing is lost silently and `sluice dlq replay` can send them again:
//
//   {"time":"2026-11-21T05:03:52.123Z","sink":"alerts","reason":"HTTP 400: bad field",
//    "status":400,"attempts":1,"event":{<sluice JSON form of the event, see format.hpp>}}
//
// The format is documented in docs/delivery.md ("Dead-letter file").
#pragma once

#include <sluice/event.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::core {

// Why a batch is dead-lettered; `status` is the protocol status (HTTP code...) or 0.
struct DeadLetterInfo {
  std::string sink;
  std::string reason;
  int32_t status = 0;
  uint32_t attempts = 0;
  int64_t time_unix_ns = 0;  // 0: now
};

// Appends to one dead-letter file. Thread-safe; every write() is flushed to the kernel before it
// returns, so a crash right after does not lose it.
//
// A write waits for the file's lock while `sluice dlq replay` (or remove) copies the file, which
// takes as long as the copy: only the next writes wait with it (they queue on their own mutex).
// reopen(), events_written() and path() never wait for the file lock: a SIGHUP (every sink's
// reopen, on the thread that handles signals) goes on while a sink's dead letter waits.
class DeadLetterFile {
 public:
  // Opens (creating) the file for appending; throws std::runtime_error when it cannot.
  explicit DeadLetterFile(std::string path);
  ~DeadLetterFile();
  DeadLetterFile(const DeadLetterFile&) = delete;
  DeadLetterFile& operator=(const DeadLetterFile&) = delete;

  // One line per event. Throws std::runtime_error on a write error (the caller counts the
  // events as dropped and says so).
  void write(const DeadLetterInfo& info, const sluice_event* events, size_t count);
  void write(const DeadLetterInfo& info, const std::vector<Event>& events);

  // Closes and opens the path again (SIGHUP after log rotation moved the file away).
  void reopen();

  const std::string& path() const { return path_; }
  uint64_t events_written() const;

 private:
  // The file as open now (mutex_ held to swap it): a writer keeps the one it locked even when a
  // reopen swaps it meanwhile, and appends there (where the rotation moved it).
  std::shared_ptr<std::FILE> open_file() const;
  std::shared_ptr<std::FILE> open_locked();

  std::string path_;
  std::mutex write_mutex_;    // one writer at a time, across its wait for the file lock
  mutable std::mutex mutex_;  // file_ only: held for no more than a pointer copy or an open
  std::shared_ptr<std::FILE> file_;
  std::atomic<uint64_t> written_{0};
};

// The JSON line for one event (without the newline).
std::string dead_letter_line(const DeadLetterInfo& info, const sluice_event& event);

// One record read back.
struct DeadLetterRecord {
  std::string time;  // as written (RFC 3339)
  std::string sink;
  std::string reason;
  int32_t status = 0;
  uint32_t attempts = 0;
  Event event;
  uint64_t line = 0;  // 1-based line number in the file
};

// Globs as in route filters (core/glob.hpp: `*`, `?`, `[...]`; `/` is not special); an empty
// pattern matches everything.
struct DeadLetterFilter {
  std::string type;
  std::string subject;  // an event without subject matches only an empty pattern or `*`
  std::string sink;
  bool matches(const DeadLetterRecord& r) const;
};

// Reads a dead-letter file back, for `sluice dlq replay FILE --to SINK [--type G] [--subject G]`.
class DeadLetterReader {
 public:
  // Throws std::runtime_error when the file cannot be opened.
  explicit DeadLetterReader(const std::string& path, DeadLetterFilter filter = {});

  // The next record that matches the filter; nullopt at the end of the file. Lines that are not
  // valid records are skipped, counted and described in errors() (with their line number).
  std::optional<DeadLetterRecord> next();

  uint64_t lines_read() const { return line_; }
  uint64_t skipped_by_filter() const { return filtered_; }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::ifstream in_;
  std::string path_;
  DeadLetterFilter filter_;
  uint64_t line_ = 0;
  uint64_t filtered_ = 0;
  std::vector<std::string> errors_;
};

// What `sluice dlq stats` counts: events by type, reason, status, original sink and age (the age
// of the dead-letter record, from its "time", at the moment given to add()).
struct DeadLetterStats {
  // Age buckets, in this order; a record without a readable time counts as kNoTime, one from the
  // future (a clock set back) as kUnderHour.
  enum Age { kUnderHour, kUnderDay, kUnderWeek, kOlder, kNoTime, kAgeBuckets };
  static const char* age_name(int bucket);  // "under 1h", "1h to 1d", "1d to 7d", ...

  uint64_t events = 0;
  std::map<std::string, uint64_t> by_type, by_reason, by_sink;
  std::map<int32_t, uint64_t> by_status;
  std::array<uint64_t, kAgeBuckets> by_age{};
  int64_t oldest_ns = 0, newest_ns = 0;  // of the records with a time; 0 when none has one

  void add(const DeadLetterRecord& r, int64_t now_unix_ns);
};

// Removes records from a dead-letter file by line number, atomically: the lines that stay are
// written to a new file beside it (same mode), synced, and renamed over the path, so that the
// file is at every moment either the old or the new one, whatever happens to the process.
// Line numbers are those DeadLetterReader gives (1-based, empty lines counted) in the file as it
// was when the remover was made; lines appended meanwhile are kept. A running pipeline may go on
// appending to the file: DeadLetterFile appends under the lock (flock) the remover holds while
// it copies and renames, and after a rename appends to the new file.
class DeadLetterRemover {
 public:
  // Throws std::runtime_error when the file cannot be opened, or its directory cannot take the
  // new file (not writable by this user).
  explicit DeadLetterRemover(std::string path);
  ~DeadLetterRemover();
  DeadLetterRemover(const DeadLetterRemover&) = delete;
  DeadLetterRemover& operator=(const DeadLetterRemover&) = delete;

  // Adds `lines` to the lines removed so far and rewrites the file without all of them. Throws
  // std::runtime_error (the file is then unchanged) on an I/O error, or when the path no longer
  // names the file this remover last wrote (someone moved or replaced it).
  void remove(const std::vector<uint64_t>& lines);

  uint64_t removed() const { return removed_.size(); }

 private:
  std::string path_;
  int fd_ = -1;                    // the file the path names now (the last one written)
  uint64_t dev_ = 0, ino_ = 0;     // its identity
  std::vector<uint64_t> removed_;  // original line numbers, sorted
};

// Parses one line as written by DeadLetterFile; throws std::invalid_argument saying what is wrong.
DeadLetterRecord parse_dead_letter_line(std::string_view line);

// RFC 3339 ("2026-11-21T05:03:52.123Z", offsets like +02:00 allowed) to Unix nanoseconds;
// throws std::invalid_argument.
int64_t parse_rfc3339(std::string_view text);

}  // namespace sluice::core
