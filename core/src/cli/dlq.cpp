// sluice dlq replay FILE --pipeline PIPELINE --to SINK [--type G] [--subject G] [--sink G]
//                  [--max-attempts N]:
// sends the events of a dead-letter file again, to one sink of a pipeline, with that sink's
// batching and retry settings. The sink is driven directly through the plugin ABI: no sources,
// no routes, nothing else of the pipeline is started.
#include "cli.hpp"

#include <sluice/backoff.hpp>
#include <sluice/core/config.hpp>
#include <sluice/core/dead_letter.hpp>
#include <sluice/core/plugin_host.hpp>
#include <sluice/core/redact.hpp>

#include <signal.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

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

}  // namespace

int cmd_dlq(const std::vector<std::string>& args) {
  // As in `run`: a sink on a pipe whose reader is gone gets EPIPE, not a silent SIGPIPE death.
  ::signal(SIGPIPE, SIG_IGN);
  const Command& cmd = command("dlq");
  std::string action, file, pipeline_path, to, type_glob, subject_glob, sink_glob, level, format;
  std::optional<uint32_t> max_attempts_option;
  po::options_description options("Options");
  options.add_options()("help,h", "this text")(
      "action", po::value(&action)->required()->value_name("replay"), "what to do: replay")(
      "file", po::value(&file)->required()->value_name("FILE"), "the dead-letter file")(
      "pipeline,p", po::value(&pipeline_path)->required()->value_name("PIPELINE"),
      "the pipeline file that defines the sink")(
      "to", po::value(&to)->required()->value_name("SINK"), "the sink to send the events to")(
      "type", po::value(&type_glob)->value_name("GLOB"), "only events whose type matches")(
      "subject", po::value(&subject_glob)->value_name("GLOB"), "only events whose subject matches")(
      "sink", po::value(&sink_glob)->value_name("GLOB"),
      "only events dead-lettered by a sink whose name matches")(
      "max-attempts",
      po::value<std::string>()->value_name("N")->notifier([&](const std::string& text) {
        uint32_t n = 0;  // from_chars, unlike boost's lexical_cast, refuses "-1" for unsigned
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
        if (ec != std::errc() || end != text.data() + text.size())
          throw po::invalid_option_value(text);
        max_attempts_option = n;
      }),
      "attempts per batch, 0 for no limit (default: the sink's retry.max_attempts, or 10 when "
      "that is 0)");
  options.add(logging_options(&level, &format));
  po::positional_options_description positional;
  positional.add("action", 1).add("file", 1);
  po::variables_map vm;
  if (int rc = parse(args, cmd, options, positional, vm); rc != kOk) return rc < 0 ? kOk : rc;
  if (action != "replay") {
    fprintf(stderr, "sluice dlq: unknown action '%s' (replay)\n", action.c_str());
    return kUsage;
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
  try {
    reader.emplace(file, core::DeadLetterFilter{type_glob, subject_glob, sink_glob});
  } catch (const std::exception& e) {
    fprintf(stderr, "sluice dlq replay: %s\n", e.what());
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

  // Without a limit in the pipeline a replay still ends (10 attempts per batch), unless the
  // command line asks for no limit (--max-attempts 0).
  const uint32_t max_attempts = max_attempts_option
                                    ? *max_attempts_option
                                    : (sink->retry.max_attempts ? sink->retry.max_attempts : 10);
  uint64_t next_id = 1, delivered = 0, failed = 0;
  // Per-event answers (1.1): what was answered OK counts as delivered, REJECT as failed, and
  // only the RETRY events go again.
  auto send = [&](std::vector<Event>& events) {
    if (events.empty()) return;
    Backoff backoff(sink->retry.backoff);
    const auto first = std::chrono::steady_clock::now();
    for (uint32_t attempt = 1; !events.empty(); ++attempt) {
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
      std::vector<Event> again;
      uint32_t retry_after_ms = 0;
      std::string retry_reason;
      // Failed events, logged once per reason: how many, and the first id.
      std::vector<std::pair<std::string, std::pair<uint64_t, std::string>>> failures;
      for (size_t i = 0; i < events.size(); ++i) {
        const ReplayAnswer& a = r.events.empty() ? r : r.events[i];
        if (a.code == SLUICE_DELIVERY_OK) {
          ++delivered;
        } else if (a.code == SLUICE_DELIVERY_RETRY && !give_up) {
          if (again.empty()) retry_reason = a.reason;
          retry_after_ms = std::max(retry_after_ms, a.retry_after_ms);
          again.push_back(std::move(events[i]));
        } else {
          ++failed;
          const std::string why =
              (a.code == SLUICE_DELIVERY_RETRY ? " after " + std::to_string(attempt) + " attempts"
                                               : std::string()) +
              ": " + (a.reason.empty() ? std::string("no reason") : a.reason);
          auto f = std::find_if(failures.begin(), failures.end(),
                                [&](const auto& x) { return x.first == why; });
          if (f == failures.end())
            failures.push_back({why, {1, events[i].id}});
          else
            ++f->second.first;
        }
      }
      for (const auto& [why, what] : failures)
        log.error(sink->name, "replay of " + std::to_string(what.first) + " events failed" + why +
                                  " (first id " + what.second + ")");
      events = std::move(again);
      if (events.empty()) break;
      const auto delay =
          retry_after_ms ? std::chrono::milliseconds(retry_after_ms) : backoff.next();
      log.warn(sink->name, "replay of " + std::to_string(events.size()) + " events failed (" +
                               retry_reason + "); attempt " + std::to_string(attempt + 1) + " in " +
                               std::to_string(delay.count()) + " ms");
      std::this_thread::sleep_for(delay);
    }
    events.clear();
  };

  const size_t batch_size = std::max<uint64_t>(1, sink->batch.max_events);
  std::vector<Event> batch;
  while (auto record = reader->next()) {
    batch.push_back(std::move(record->event));
    if (batch.size() >= batch_size) send(batch);
  }
  send(batch);
  d.stop(instance);
  d.destroy(instance);

  for (const auto& e : reader->errors())
    fprintf(stderr, "%s\n", e.c_str());
  fprintf(stderr,
          "replayed %llu events to %s; %llu failed, %llu left out by the filter, %zu malformed "
          "lines\n",
          static_cast<unsigned long long>(delivered), to.c_str(),
          static_cast<unsigned long long>(failed),
          static_cast<unsigned long long>(reader->skipped_by_filter()), reader->errors().size());
  if (failed) return kRuntime;
  if (!reader->errors().empty()) return kInvalid;
  return kOk;
}

}  // namespace sluice::cli
