// sluice dlq replay FILE --pipeline PIPELINE --to SINK [--type G] [--subject G] [--sink G]
//                  [--max-attempts N] [--keep] [--progress-interval D]:
// sends the events of a dead-letter file again, to one sink of a pipeline, with that sink's
// batching and retry settings, and removes each delivered event from the file (atomically,
// after every batch: a rerun, or a run after an interruption, never sends it again). The sink is
// driven directly through the plugin ABI: no sources, no routes, nothing else of the pipeline is
// started.
//
// sluice dlq stats FILE [--type G] [--subject G] [--sink G] [--json]: counts the events of a
// dead-letter file by type, reason, status, original sink and age.
#include "cli.hpp"

#include <sluice/backoff.hpp>
#include <sluice/core/config.hpp>
#include <sluice/core/dead_letter.hpp>
#include <sluice/core/plugin_host.hpp>
#include <sluice/core/redact.hpp>
#include <sluice/format.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>
#include <sluice/units.hpp>

namespace po = boost::program_options;

namespace sluice::cli {

namespace {

// One answer as the replay keeps it: for the batch, or (plugin API 1.1) one per event.
struct ReplayAnswer {
  sluice_delivery_code code = SLUICE_DELIVERY_REJECT;
  uint32_t retry_after_ms = 0;
  std::string reason;
  std::vector<ReplayAnswer> events;  // per-event answers, checked; empty: `code` answers all
};

// The host side of one sink instance: logs go to the core logger, batches complete here.
struct ReplayHost {
  core::Logger* log = nullptr;
  std::string name;
  std::mutex m;
  std::condition_variable done;
  std::map<uint64_t, std::optional<ReplayAnswer>> results;
  std::map<uint64_t, size_t> counts;  // events in each batch handed out

  static ReplayHost* self(sluice_host_context* ctx) { return reinterpret_cast<ReplayHost*>(ctx); }

  sluice_host_api api() {
    sluice_host_api a{};
    a.struct_size = sizeof a;
    a.api_major = SLUICE_API_VERSION_MAJOR;
    a.api_minor = SLUICE_API_VERSION_MINOR;
    // Nothing thrown here may reach the plugin (plugin.h).
    a.log = [](sluice_host_context* ctx, sluice_log_level level, const char* message) {
      try {
        self(ctx)->log->log(static_cast<core::LogLevel>(level), self(ctx)->name,
                            message ? message : "");
      } catch (...) {
      }
    };
    a.emit = [](sluice_host_context*, const sluice_event*, size_t) { return SLUICE_INVALID; };
    a.report_state = [](sluice_host_context*, sluice_state, const char*) {};
    a.count_metric = [](sluice_host_context*, const char*, int64_t) {};
    a.instance_name = [](sluice_host_context* ctx) { return self(ctx)->name.c_str(); };
    a.complete_batch = [](sluice_host_context* ctx, uint64_t id, const sluice_delivery_result* r) {
      ReplayHost* h = self(ctx);
      {
        std::lock_guard lock(h->m);
        ReplayAnswer copy;
        auto text = [](sluice_str s) { return s.data ? std::string(s.data, s.size) : ""; };
        try {
          // Never *r: read struct_size first, the plugin's struct may be shorter (plugin.h); the
          // per-event answers only as the runtime reads them (one per event, frozen size).
          std::string why;
          std::optional<sluice_delivery_result> answer = core::read_delivery_result(r, &why);
          if (answer) {
            why = core::check_event_results(*answer, h->counts[id]);
            if (!why.empty()) answer.reset();
          }
          if (answer) {
            copy.code = answer->code;
            copy.retry_after_ms = answer->retry_after_ms;
            copy.reason = text(answer->reason);
            for (size_t i = 0; answer->event_results && i < answer->event_result_count; ++i) {
              const sluice_event_result& e = answer->event_results[i];
              copy.events.push_back({e.code, e.retry_after_ms, text(e.reason), {}});
            }
          } else {
            copy.reason = "invalid delivery result: " + why;
          }
        } catch (...) {
          copy = ReplayAnswer();  // out of memory: the reason is lost, not the answer
        }
        if (auto slot = h->results.find(id); slot != h->results.end()) slot->second = copy;
      }
      h->done.notify_all();
    };
    return a;
  }
};

volatile sig_atomic_t g_interrupted = 0;

// The first SIGINT/SIGTERM asks the replay to stop after the batch in flight; the handler then
// steps aside, so that a second one ends the process at once.
extern "C" void on_interrupt(int sig) {
  g_interrupted = sig;
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
}

// Progress of a replay on stderr: a bar redrawn in place on a terminal, else a line every
// `interval` (every batch when 0).
class Progress {
 public:
  Progress(uint64_t total_lines, std::chrono::milliseconds interval, bool terminal)
      : total_(total_lines), interval_(interval), terminal_(terminal) {}

  void update(uint64_t lines, uint64_t delivered, uint64_t failed, bool force = false) {
    const auto now = std::chrono::steady_clock::now();
    const auto every = terminal_ ? std::chrono::milliseconds(100) : interval_;
    if (!force && shown_ && now - last_ < every) return;
    const std::array<uint64_t, 3> state{lines, delivered, failed};
    if (shown_ && state == state_) return;  // said already
    state_ = state;
    last_ = now;
    shown_ = true;
    const uint64_t percent = total_ ? std::min<uint64_t>(100, lines * 100 / total_) : 100;
    char counts[160];
    snprintf(counts, sizeof counts, "%llu/%llu lines, %llu delivered, %llu failed",
             static_cast<unsigned long long>(lines), static_cast<unsigned long long>(total_),
             static_cast<unsigned long long>(delivered), static_cast<unsigned long long>(failed));
    if (terminal_) {
      constexpr int kWidth = 30;
      std::string bar(kWidth, ' ');
      for (uint64_t i = 0; i < percent * kWidth / 100; ++i)
        bar[i] = '#';
      fprintf(stderr, "\r\033[K[%s] %3llu%% %s", bar.c_str(),
              static_cast<unsigned long long>(percent), counts);
      drawn_ = true;
    } else {
      fprintf(stderr, "replay progress: %llu%%, %s\n", static_cast<unsigned long long>(percent),
              counts);
    }
    fflush(stderr);
  }
  // Ends the bar's line, before anything else is printed.
  void finish() {
    if (drawn_) fprintf(stderr, "\n");
    drawn_ = false;
  }

 private:
  uint64_t total_;
  std::chrono::milliseconds interval_;
  bool terminal_;
  bool shown_ = false, drawn_ = false;
  std::chrono::steady_clock::time_point last_;
  std::array<uint64_t, 3> state_{};
};

// Lines in a file as DeadLetterReader numbers them (a last line without newline counts).
uint64_t count_lines(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return 0;
  uint64_t n = 0;
  int c = 0, last = '\n';
  while ((c = std::getc(f)) != EOF) {
    if (c == '\n') ++n;
    last = c;
  }
  std::fclose(f);
  return n + (last != '\n');
}

std::string rfc3339(int64_t ns) {
  std::string out;
  append_rfc3339(out, ns);
  return out;
}

int cmd_stats(const std::string& file, const core::DeadLetterFilter& filter, bool as_json) {
  std::optional<core::DeadLetterReader> reader;
  try {
    reader.emplace(file, filter);
  } catch (const std::exception& e) {
    fprintf(stderr, "sluice dlq stats: %s\n", e.what());
    return kUsage;
  }
  core::DeadLetterStats stats;
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  while (auto record = reader->next())
    stats.add(*record, now);
  for (const auto& e : reader->errors())
    fprintf(stderr, "%s\n", core::escape_controls(e).c_str());

  if (as_json) {
    nlohmann::json j;
    j["file"] = file;
    j["events"] = stats.events;
    j["malformed_lines"] = reader->errors().size();
    j["left_out_by_filter"] = reader->skipped_by_filter();
    j["by_type"] = stats.by_type;
    j["by_reason"] = stats.by_reason;
    j["by_sink"] = stats.by_sink;
    j["by_status"] = nlohmann::json::object();
    for (const auto& [status, n] : stats.by_status)
      j["by_status"][std::to_string(status)] = n;
    j["by_age"] = nlohmann::json::object();
    for (int b = 0; b < core::DeadLetterStats::kAgeBuckets; ++b)
      j["by_age"][core::DeadLetterStats::age_name(b)] = stats.by_age[b];
    j["oldest"] = stats.oldest_ns ? nlohmann::json(rfc3339(stats.oldest_ns)) : nlohmann::json();
    j["newest"] = stats.newest_ns ? nlohmann::json(rfc3339(stats.newest_ns)) : nlohmann::json();
    printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return kOk;
  }

  printf("%s: %llu events", file.c_str(), static_cast<unsigned long long>(stats.events));
  if (reader->skipped_by_filter())
    printf(" (%llu more left out by the filter)",
           static_cast<unsigned long long>(reader->skipped_by_filter()));
  if (!reader->errors().empty()) printf(", %zu malformed lines", reader->errors().size());
  printf("\n");
  if (stats.oldest_ns)
    printf("dead-lettered from %s to %s\n", rfc3339(stats.oldest_ns).c_str(),
           rfc3339(stats.newest_ns).c_str());
  // Largest count first; ties in name order.
  auto table = [](const char* title, std::vector<std::pair<std::string, uint64_t>> rows) {
    if (rows.empty()) return;
    std::stable_sort(rows.begin(), rows.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    printf("\nby %s:\n", title);
    for (const auto& [name, n] : rows)
      printf("  %8llu  %s\n", static_cast<unsigned long long>(n),
             core::escape_controls(name).c_str());  // a peer wrote it: shown, never obeyed
  };
  auto rows = [](const std::map<std::string, uint64_t>& m) {
    return std::vector<std::pair<std::string, uint64_t>>(m.begin(), m.end());
  };
  table("type", rows(stats.by_type));
  std::vector<std::pair<std::string, uint64_t>> reasons;
  for (const auto& [reason, n] : stats.by_reason)
    reasons.push_back({reason.empty() ? "(no reason)" : reason, n});
  table("reason", reasons);
  std::vector<std::pair<std::string, uint64_t>> statuses;
  for (const auto& [status, n] : stats.by_status)
    statuses.push_back({status ? std::to_string(status) : "0 (no protocol status)", n});
  table("status", statuses);
  table("sink", rows(stats.by_sink));
  if (stats.events) {
    printf("\nby age:\n");
    for (int b = 0; b < core::DeadLetterStats::kAgeBuckets; ++b)
      if (stats.by_age[b] || b < core::DeadLetterStats::kNoTime)
        printf("  %8llu  %s\n", static_cast<unsigned long long>(stats.by_age[b]),
               core::DeadLetterStats::age_name(b));
  }
  return kOk;
}

}  // namespace

int cmd_dlq(const std::vector<std::string>& args) {
  // As in `run`: a sink on a pipe whose reader is gone gets EPIPE, not a silent SIGPIPE death.
  ::signal(SIGPIPE, SIG_IGN);
  const Command& cmd = command("dlq");
  std::string action, file, pipeline_path, to, type_glob, subject_glob, sink_glob, level, format,
      interval_text = "10s";
  bool keep = false, as_json = false;
  std::optional<uint32_t> max_attempts_option;
  po::options_description options("Options of replay and stats");
  options.add_options()("help,h", "this text")("type", po::value(&type_glob)->value_name("GLOB"),
                                               "only events whose type matches")(
      "subject", po::value(&subject_glob)->value_name("GLOB"), "only events whose subject matches")(
      "sink", po::value(&sink_glob)->value_name("GLOB"),
      "only events dead-lettered by a sink whose name matches");
  po::options_description replay_options("Options of replay");
  replay_options.add_options()("pipeline,p", po::value(&pipeline_path)->value_name("PIPELINE"),
                               "the pipeline file that defines the sink (required)")(
      "to", po::value(&to)->value_name("SINK"), "the sink to send the events to (required)")(
      "max-attempts",
      po::value<std::string>()->value_name("N")->notifier([&](const std::string& text) {
        uint32_t n = 0;  // from_chars, unlike boost's lexical_cast, refuses "-1" for unsigned
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
        if (ec != std::errc() || end != text.data() + text.size())
          throw po::invalid_option_value(text);
        max_attempts_option = n;
      }),
      "attempts per batch, 0 for no limit (default: the sink's retry.max_attempts, or 10 when "
      "that is 0)")("keep", po::bool_switch(&keep),
                    "leave FILE as it is (by default each delivered event is removed from it)")(
      "progress-interval", po::value(&interval_text)->value_name("DURATION"),
      "when stderr is not a terminal, a progress line this often (default 10s; 0: after every "
      "batch); on a terminal a progress bar");
  po::options_description stats_options("Options of stats");
  stats_options.add_options()("json", po::bool_switch(&as_json), "print the counts as JSON");
  options.add(replay_options).add(stats_options).add(logging_options(&level, &format));
  po::options_description hidden;
  hidden.add_options()("action", po::value(&action)->required()->value_name("replay|stats"), "")(
      "file", po::value(&file)->value_name("FILE"), "");
  po::positional_options_description positional;
  positional.add("action", 1).add("file", 1);
  po::variables_map vm;
  if (int rc = parse(args, cmd, options, positional, vm, &hidden); rc != kOk)
    return rc < 0 ? kOk : rc;
  auto usage_error = [&](const std::string& what) {
    fprintf(stderr, "sluice dlq: %s\nUsage: %s  (see `sluice dlq --help`)\n", what.c_str(),
            usage_line(cmd).c_str());
    return kUsage;
  };
  if (action != "replay" && action != "stats")
    return usage_error("unknown action '" + action + "' (replay, stats)");
  if (file.empty()) return usage_error("missing FILE");
  const core::DeadLetterFilter filter{type_glob, subject_glob, sink_glob};
  if (action == "stats") {
    for (const char* o : {"pipeline", "to", "max-attempts", "keep", "progress-interval"})
      if (vm.count(o) && !vm[o].defaulted())
        return usage_error(std::string("--") + o + " is an option of replay, not of stats");
    return cmd_stats(file, filter, as_json);
  }
  if (as_json) return usage_error("--json is an option of stats, not of replay");
  if (pipeline_path.empty()) return usage_error("replay needs --pipeline PIPELINE");
  if (to.empty()) return usage_error("replay needs --to SINK");
  std::chrono::milliseconds interval{};
  try {
    interval = sluice::duration_option(nlohmann::json(interval_text));
  } catch (const std::exception& e) {
    return usage_error("--progress-interval '" + interval_text + "': " + e.what());
  }

  core::Logger& log = core::default_logger();
  if (!apply_logging(log, "", "", level, format)) return kUsage;

  core::PluginHost plugins(core::executable_dir());
  core::LoadResult loaded = load_and_report(pipeline_path, plugins).result;
  if (!loaded.ok()) {
    fprintf(stderr, "%s: invalid; nothing replayed\n", pipeline_path.c_str());
    return kInvalid;
  }
  core::PipelineConfig pipeline = std::move(*loaded.pipeline);
  log.set_secrets(pipeline.secrets);
  const core::SinkConfig* sink = nullptr;
  for (const auto& s : pipeline.sinks)
    if (s.name == to) sink = &s;
  if (!sink) {
    fprintf(stderr, "sluice dlq replay: the pipeline has no sink '%s'\n", to.c_str());
    return kUsage;
  }

  std::optional<core::DeadLetterReader> reader;
  std::optional<core::DeadLetterRemover> remover;
  try {
    reader.emplace(file, filter);
    if (!keep) remover.emplace(file);  // before anything is sent: can the file be rewritten?
  } catch (const std::exception& e) {
    fprintf(stderr, "sluice dlq replay: %s%s\n", e.what(),
            remover || keep ? "" : " (--keep replays without changing the file)");
    return kUsage;
  }

  std::shared_ptr<const core::LoadedPlugin> plugin;
  try {
    plugin = plugins.load(sink->plugin, pipeline.plugin_paths);
  } catch (const std::exception& e) {
    fprintf(stderr, "sluice dlq replay: %s\n", e.what());
    return kRuntime;
  }
  const sluice_plugin_descriptor& d = plugin->descriptor();
  if (d.kind != SLUICE_KIND_SINK) {
    fprintf(stderr, "sluice dlq replay: '%s' is not a sink\n", to.c_str());
    return kUsage;
  }
  ReplayHost host;
  host.log = &log;
  host.name = sink->name;
  const sluice_host_api api = host.api();
  void* instance = nullptr;
  const char* error = nullptr;
  const std::string options_json = sink->options.dump();
  if (d.create(&api, reinterpret_cast<sluice_host_context*>(&host), options_json.c_str(), &instance,
               &error) != SLUICE_OK) {
    fprintf(stderr, "sluice dlq replay: cannot create sink '%s': %s\n", to.c_str(),
            core::redact(error ? error : "?", pipeline.secrets).c_str());
    return kRuntime;
  }
  if (d.start(instance, &error) != SLUICE_OK) {
    fprintf(stderr, "sluice dlq replay: cannot start sink '%s': %s\n", to.c_str(),
            core::redact(error ? error : "?", pipeline.secrets).c_str());
    d.destroy(instance);
    return kRuntime;
  }

  // From here on the first SIGINT or SIGTERM stops after the batch in flight (its answer is
  // awaited, so that what it delivered is removed from the file), with a summary.
  g_interrupted = 0;
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  // Without a limit in the pipeline a replay still ends (10 attempts per batch), unless the
  // command line asks for no limit (--max-attempts 0).
  const uint32_t max_attempts = max_attempts_option
                                    ? *max_attempts_option
                                    : (sink->retry.max_attempts ? sink->retry.max_attempts : 10);
  uint64_t next_id = 1, delivered = 0, failed = 0, not_sent = 0;
  bool remove_failed = false;
  Progress progress(count_lines(file), interval, ::isatty(STDERR_FILENO) == 1);
  auto show = [&](bool force = false) {
    progress.update(reader->lines_read(), delivered, failed, force);
  };
  // Sleeps up to `delay`; false when interrupted meanwhile.
  auto pause = [&](std::chrono::milliseconds delay) {
    const auto end = std::chrono::steady_clock::now() + delay;
    while (!g_interrupted && std::chrono::steady_clock::now() < end)
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          std::chrono::milliseconds(50), end - std::chrono::steady_clock::now()));
    return !g_interrupted;
  };
  // Per-event answers (1.1): what was answered OK counts as delivered (and leaves the file),
  // REJECT as failed (and stays), and only the RETRY events go again.
  auto send = [&](std::vector<core::DeadLetterRecord>& records) {
    if (records.empty()) return;
    Backoff backoff(sink->retry.backoff);
    const auto first = std::chrono::steady_clock::now();
    for (uint32_t attempt = 1; !records.empty(); ++attempt) {
      std::vector<Event> events;
      events.reserve(records.size());
      for (const auto& r : records)
        events.push_back(r.event);
      EventViews views(events);
      sluice_batch b{};
      b.struct_size = sizeof b;
      b.id = next_id++;
      b.events = views.data();
      b.count = views.size();
      b.attempt = attempt;
      {
        std::lock_guard lock(host.m);
        host.results[b.id] = std::nullopt;
        host.counts[b.id] = views.size();
      }
      d.deliver(instance, &b);
      ReplayAnswer r;
      {
        std::unique_lock lock(host.m);
        host.done.wait(lock, [&] { return host.results[b.id].has_value(); });
        r = std::move(*host.results[b.id]);
        host.results.erase(b.id);
        host.counts.erase(b.id);
      }
      const bool out_of_time = sink->retry.max_elapsed.count() &&
                               std::chrono::steady_clock::now() - first >= sink->retry.max_elapsed;
      const bool give_up = (max_attempts && attempt >= max_attempts) || out_of_time;
      // What each event got: the batch's answer, or its own.
      std::vector<core::DeadLetterRecord> again;
      std::vector<uint64_t> done_lines;
      uint32_t retry_after_ms = 0;
      std::string retry_reason;
      // Failed events, logged once per reason: how many, and the first id.
      std::vector<std::pair<std::string, std::pair<uint64_t, std::string>>> failures;
      for (size_t i = 0; i < records.size(); ++i) {
        const ReplayAnswer& a = r.events.empty() ? r : r.events[i];
        if (a.code == SLUICE_DELIVERY_OK) {
          ++delivered;
          done_lines.push_back(records[i].line);
        } else if (a.code == SLUICE_DELIVERY_RETRY && !give_up) {
          if (again.empty()) retry_reason = a.reason;
          retry_after_ms = std::max(retry_after_ms, a.retry_after_ms);
          again.push_back(std::move(records[i]));
        } else {
          ++failed;
          const std::string why =
              (a.code == SLUICE_DELIVERY_RETRY ? " after " + std::to_string(attempt) + " attempts"
                                               : std::string()) +
              ": " + (a.reason.empty() ? std::string("no reason") : a.reason);
          auto f = std::find_if(failures.begin(), failures.end(),
                                [&](const auto& x) { return x.first == why; });
          if (f == failures.end())
            failures.push_back({why, {1, records[i].event.id}});
          else
            ++f->second.first;
        }
      }
      if (remover && !done_lines.empty() && !remove_failed) {
        try {
          remover->remove(done_lines);
        } catch (const std::exception& e) {
          progress.finish();
          log.error(sink->name,
                    std::string(e.what()) + "; stopping: a rerun would send these events again");
          remove_failed = true;
          g_interrupted = g_interrupted ? g_interrupted : -1;
        }
      }
      if (!failures.empty()) progress.finish();  // the log lines go below the bar
      for (const auto& [why, what] : failures)
        log.error(sink->name, "replay of " + std::to_string(what.first) + " events failed" + why +
                                  " (first id " + what.second + ")");
      records = std::move(again);
      if (records.empty()) break;
      const auto delay =
          retry_after_ms ? std::chrono::milliseconds(retry_after_ms) : backoff.next();
      if (g_interrupted) break;
      progress.finish();
      log.warn(sink->name, "replay of " + std::to_string(records.size()) + " events failed (" +
                               retry_reason + "); attempt " + std::to_string(attempt + 1) + " in " +
                               std::to_string(delay.count()) + " ms");
      if (!pause(delay)) break;
    }
    not_sent += records.size();  // interrupted while these waited for another attempt
    records.clear();
    show();
  };

  const size_t batch_size = std::max<uint64_t>(1, sink->batch.max_events);
  std::vector<core::DeadLetterRecord> batch;
  while (!g_interrupted) {
    auto record = reader->next();
    if (!record) break;
    batch.push_back(std::move(*record));
    if (batch.size() >= batch_size) send(batch);
  }
  if (!g_interrupted) send(batch);
  not_sent += batch.size();
  d.stop(instance);
  d.destroy(instance);
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  show(true);
  progress.finish();

  for (const auto& e : reader->errors())
    fprintf(stderr, "%s\n", core::escape_controls(e).c_str());
  const bool interrupted = g_interrupted > 0;
  const std::string kept = keep ? " (--keep: FILE unchanged)"
                           : remove_failed
                               ? ""
                               : " (removed from " + file + ": " +
                                     std::to_string(remover ? remover->removed() : 0) + ")";
  if (interrupted || remove_failed)
    fprintf(
        stderr,
        "%s: replayed %llu events to %s%s; %llu failed, %llu not sent (line %llu of %llu "
        "read; the rest stays in the file for a rerun)\n",
        interrupted ? (g_interrupted == SIGINT ? "interrupted (SIGINT)" : "interrupted (SIGTERM)")
                    : "stopped",
        static_cast<unsigned long long>(delivered), to.c_str(), kept.c_str(),
        static_cast<unsigned long long>(failed), static_cast<unsigned long long>(not_sent),
        static_cast<unsigned long long>(reader->lines_read()),
        static_cast<unsigned long long>(count_lines(file) + (remover ? remover->removed() : 0)));
  else
    fprintf(stderr,
            "replayed %llu events to %s%s; %llu failed, %llu left out by the filter, %zu "
            "malformed lines\n",
            static_cast<unsigned long long>(delivered), to.c_str(), kept.c_str(),
            static_cast<unsigned long long>(failed),
            static_cast<unsigned long long>(reader->skipped_by_filter()), reader->errors().size());
  if (interrupted) return kInterrupted;
  if (failed || remove_failed) return kRuntime;
  if (!reader->errors().empty()) return kInvalid;
  return kOk;
}

}  // namespace sluice::cli
