// sluice run PIPELINE: start the pipeline, then wait for signals on a dedicated thread
// (sigwait: no work in a signal handler, safe with every thread the plugins start).
#include "../admin/server.hpp"
#include "cli.hpp"
#include "sd_notify.hpp"

#include <sluice/core/config.hpp>
#include <sluice/core/dead_letter.hpp>
#include <sluice/core/plugin_host.hpp>
#include <sluice/core/runtime.hpp>
#include <sluice/core/spool.hpp>
#include <sluice/core/tap.hpp>
#include <sluice/thread_name.hpp>

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <sstream>
#include <thread>
#include <utility>

namespace sluice::cli {

namespace {

// The dead-letter file (core/delivery) behind the runtime's DeadLetter hook.
class FileDeadLetter final : public core::DeadLetter {
 public:
  FileDeadLetter(const std::string& path, core::Logger& log) : file_(path), log_(log) {}
  bool write(const sluice_event* events, size_t count, std::string_view reason, int32_t status,
             uint32_t attempts, std::string_view sink) override {
    core::DeadLetterInfo info;
    info.sink = sink;
    info.reason = reason;
    info.status = status;
    info.attempts = attempts;
    try {
      file_.write(info, events, count);
    } catch (const std::exception& e) {
      log_.error(sink, "cannot write " + std::to_string(count) +
                           " events to the dead-letter file " + file_.path() + ": " + e.what());
      return false;
    }
    log_.warn(sink, std::to_string(count) + " events dead-lettered to " + file_.path() + ": " +
                        std::string(reason));
    return true;
  }
  void reopen() override { file_.reopen(); }

 private:
  core::DeadLetterFile file_;
  core::Logger& log_;
};

core::RuntimeOptions runtime_options(core::Logger& log, std::shared_ptr<core::Tap> tap) {
  core::RuntimeOptions options;
  options.tap = std::move(tap);
  options.dead_letter_factory =
      [&log](const core::SinkConfig& sink) -> std::unique_ptr<core::DeadLetter> {
    return std::make_unique<FileDeadLetter>(sink.dead_letter.path, log);
  };
  options.spool_queue_factory =
      [&log](const core::SinkConfig& sink) -> std::unique_ptr<core::SinkQueue> {
    try {
      return core::make_spool_queue(
          sink, core::spool_options_for(sink),
          [&log, name = sink.name](const std::string& m) { log.warn(name, m); });
    } catch (const std::exception& e) {
      throw core::StartError("sink '" + sink.name + "': " + e.what());
    }
  };
  return options;
}

// The pipeline file's bytes ("" when unreadable: the loader then reports why).
std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// What decides whether a reload changes anything: the file's bytes and the resolved options
// (a ${file:PATH} value can change while the pipeline file does not, secret or not).
std::string fingerprint(const std::string& bytes, const core::PipelineConfig& p) {
  std::string f = bytes;
  for (const auto& s : p.sources)
    f += '\0' + s.options.dump();
  for (const auto& s : p.sinks)
    f += '\0' + s.options.dump();
  for (const auto& s : p.secrets)
    f += '\0' + s;
  return f;
}

std::string counts(const core::PipelineConfig& p) {
  return std::to_string(p.sources.size()) + " source(s), " + std::to_string(p.sinks.size()) +
         " sink(s), " + std::to_string(p.routes.size()) + " route(s)";
}

// What the sigwait thread and the admin server ask the main thread to do.
struct Requests {
  std::mutex m;
  std::condition_variable cv;
  bool stop = false;
  bool reload = false;  // SIGHUPs and POST /reload not handled yet (several coalesce into one)
  // POST /reload requests waiting for the outcome of the reload that takes them (the next one
  // to begin: a request arriving during a reload gets the one after).
  std::vector<std::function<void(core::admin::ReloadReply)>> reload_waiters;
};

// What a reload did: logged, counted and the answer of the admin server's POST /reload.
struct ReloadOutcome {
  enum class Result {
    unchanged,     // the file and every resolved option are as running
    applied,       // the new pipeline runs
    refused,       // invalid: the running pipeline stays
    restored,      // the new pipeline failed to start: the previous one runs again
    nothing_runs,  // the new pipeline and the previous one both failed to start
  };
  ReloadOutcome() = default;
  ReloadOutcome(Result r, std::string m) : result(r), message(std::move(m)) {}
  Result result = Result::unchanged;
  std::string message;  // one line, as logged
  // applied: which sources and sinks went over running, were started, were stopped.
  core::HandOverResult changes;
  // Reloads so far in this process, this one included: ok (applied, unchanged) and failed
  // (refused, restored, nothing_runs).
  uint64_t reloads_ok = 0;
  uint64_t reloads_failed = 0;
};

// "a, b" or "-".
std::string names(const std::vector<std::string>& list) {
  std::string out;
  for (const auto& n : list)
    out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "-" : out;
}

const char* result_name(ReloadOutcome::Result r) {
  using Result = ReloadOutcome::Result;
  switch (r) {
    case Result::unchanged:
      return "unchanged";
    case Result::applied:
      return "applied";
    case Result::refused:
      return "refused";
    case Result::restored:
      return "restored";
    case Result::nothing_runs:
      return "nothing_runs";
  }
  return "?";
}

// The running runtime: only the main thread replaces it; the admin server's thread reads its
// counters. Replacing waits for a read in progress; the old runtime is destroyed unlocked.
class RuntimeSlot {
 public:
  core::Runtime* operator->() const { return runtime_.get(); }
  explicit operator bool() const { return runtime_ != nullptr; }
  void reset(std::unique_ptr<core::Runtime> next = nullptr) {
    std::unique_ptr<core::Runtime> old;
    {
      std::unique_lock lock(m_);
      old = std::exchange(runtime_, std::move(next));
    }
  }
  RuntimeSlot& operator=(std::unique_ptr<core::Runtime> next) {
    reset(std::move(next));
    return *this;
  }
  std::optional<core::Metrics> metrics() const {
    std::shared_lock lock(m_);
    if (!runtime_) return std::nullopt;
    return runtime_->metrics();
  }

 private:
  mutable std::shared_mutex m_;
  std::unique_ptr<core::Runtime> runtime_;
};

// The running pipeline and what a SIGHUP reload needs: the configuration it runs (to start it
// again when a new one fails to start) and the fingerprint of the file it came from.
class Daemon {
 public:
  // `tap`: the admin server's live tap (null without an admin server), shared by every runtime
  // this daemon starts, so that tap clients stay attached across reloads.
  Daemon(std::string path, core::PluginHost& plugins, core::Logger& log, std::string cli_level,
         std::string cli_format, std::shared_ptr<core::Tap> tap)
      : path_(std::move(path)),
        plugins_(plugins),
        log_(log),
        cli_level_(std::move(cli_level)),
        cli_format_(std::move(cli_format)),
        tap_(std::move(tap)) {}

  // Starts `pipeline`; throws what Runtime::start throws.
  void start(core::PipelineConfig pipeline, std::string fingerprint) {
    add_secrets(pipeline.secrets);
    running_ = std::move(pipeline);
    fingerprint_ = std::move(fingerprint);
    launch(running_);
  }

  // SIGHUP: reopen, then reload the pipeline file if it changed and is valid. Logged and
  // counted (ReloadOutcome::reloads_ok / reloads_failed).
  ReloadOutcome reload() {
    ReloadOutcome outcome = reload_once();
    const bool ok = outcome.result == ReloadOutcome::Result::applied ||
                    outcome.result == ReloadOutcome::Result::unchanged;
    ++(ok ? reloads_ok_ : reloads_failed_);
    outcome.reloads_ok = reloads_ok_;
    outcome.reloads_failed = reloads_failed_;
    log_.info("core", "reloads so far: " + std::to_string(reloads_ok_) + " ok, " +
                          std::to_string(reloads_failed_) + " failed");
    return outcome;
  }

  // The running pipeline's counters (any thread); nullopt while none runs.
  std::optional<core::Metrics> metrics() const { return runtime_.metrics(); }

  // True when a plugin did not return and was abandoned (its thread still runs).
  bool stop() {
    if (!runtime_) return false;
    runtime_->stop();
    return runtime_->stuck();
  }

 private:
  ReloadOutcome reload_once() {
    using Result = ReloadOutcome::Result;
    log_.info("core", "SIGHUP: reopening sink outputs");
    runtime_->reopen();

    std::string bytes = file_bytes(path_);
    std::vector<std::pair<core::Diagnostic::Severity, std::string>> diagnostics;
    Loaded loaded = load_and_report(
        path_, plugins_, [&diagnostics](core::Diagnostic::Severity s, const std::string& line) {
          diagnostics.emplace_back(s, line);
        });
    if (loaded.result.ok()) add_secrets(loaded.result.pipeline->secrets);  // before any line
    for (const auto& [severity, line] : diagnostics)
      log_.log(severity == core::Diagnostic::Severity::error ? core::LogLevel::error
                                                             : core::LogLevel::warn,
               "core", line);
    if (!loaded.result.ok()) {
      std::string message = "reload refused: the running pipeline stays (" +
                            std::to_string(loaded.errors) + " error(s) in " + path_ + ")";
      log_.error("core", message);
      return {Result::refused, message};
    }
    core::PipelineConfig next = std::move(*loaded.result.pipeline);
    std::string next_fingerprint = fingerprint(bytes, next);
    if (next_fingerprint == fingerprint_) {
      std::string message = path_ + " is unchanged; the running pipeline stays";
      log_.info("core", "SIGHUP: " + message);
      return {Result::unchanged, message};
    }

    // Only the difference: what did not change goes over running (Runtime::hand_over).
    log_.info("core", "reloading " + path_ + ": applying the difference to the running pipeline");
    core::HandOverResult changes;
    try {
      apply_logging(log_, next.log.level, next.log.format, cli_level_, cli_format_);
      auto fresh =
          std::make_unique<core::Runtime>(next, plugins_, log_, runtime_options(log_, tap_));
      try {
        changes = runtime_->hand_over(*fresh);
      } catch (...) {
        fresh.reset();  // stops what went over to it, if its start did not
        throw;
      }
      log_stuck();
      runtime_ = std::move(fresh);  // the old runtime is stopped: gone
    } catch (const std::exception& e) {
      log_.error("core", std::string("reload: cannot start the new pipeline: ") + e.what() +
                             "; starting the previous one again");
      runtime_->stop();
      log_stuck();
      runtime_.reset();
      try {
        launch(running_);
      } catch (const std::exception& e2) {
        std::string message = std::string("cannot start the previous pipeline again: ") + e2.what();
        log_.error("core", message);
        return {Result::nothing_runs, message};
      }
      std::string message = std::string("reload failed (") + e.what() +
                            "): the previous pipeline runs again (" + counts(running_) + ")";
      log_.info("core", message);
      return {Result::restored, message};
    }
    running_ = std::move(next);
    fingerprint_ = std::move(next_fingerprint);
    std::string message =
        "reloaded: " + counts(running_) + "; sources kept: " + names(changes.kept_sources) +
        ", started: " + names(changes.started_sources) +
        ", stopped: " + names(changes.stopped_sources) +
        "; sinks kept: " + names(changes.kept_sinks) +
        ", started: " + names(changes.started_sinks) + ", stopped: " + names(changes.stopped_sinks);
    log_.info("core", message);
    ReloadOutcome outcome{Result::applied, message};
    outcome.changes = std::move(changes);
    return outcome;
  }

  void log_stuck() {
    if (runtime_ && runtime_->stuck())
      log_.error("core",
                 "reload: a plugin of the old pipeline is stuck and was abandoned; its thread "
                 "keeps running (restart sluice to end it)");
  }

  void launch(const core::PipelineConfig& pipeline) {
    runtime_.reset();
    apply_logging(log_, pipeline.log.level, pipeline.log.format, cli_level_, cli_format_);
    apply_component_levels(log_, pipeline);
    auto runtime =
        std::make_unique<core::Runtime>(pipeline, plugins_, log_, runtime_options(log_, tap_));
    runtime->start();
    runtime_ = std::move(runtime);
  }

  // The logger keeps every secret seen (threads of a stopping pipeline may still log old ones).
  void add_secrets(const std::vector<std::string>& secrets) {
    for (const auto& s : secrets)
      if (std::find(secrets_.begin(), secrets_.end(), s) == secrets_.end()) secrets_.push_back(s);
    log_.set_secrets(secrets_);
  }

  std::string path_;
  core::PluginHost& plugins_;
  core::Logger& log_;
  std::string cli_level_, cli_format_;
  std::shared_ptr<core::Tap> tap_;
  core::PipelineConfig running_;
  std::string fingerprint_;
  std::vector<std::string> secrets_;
  RuntimeSlot runtime_;
  uint64_t reloads_ok_ = 0;
  uint64_t reloads_failed_ = 0;
};

}  // namespace

int cmd_run(const std::vector<std::string>& args) {
  const auto started = std::chrono::steady_clock::now();
  const Command& cmd = command("run");
  std::string pipeline_path, level, format;
  if (int rc = parse_pipeline_command(args, cmd, &pipeline_path, &level, &format); rc != kOk)
    return rc < 0 ? kOk : rc;

  core::Logger& log = core::default_logger();
  if (!apply_logging(log, "", "", level, format)) return kUsage;

  // A sink writing to a pipe or FIFO whose reader is gone gets EPIPE (an error it reports and
  // retries) instead of SIGPIPE killing the daemon without a word or an accounting.
  ::signal(SIGPIPE, SIG_IGN);

  // Block the signals before any thread exists, so that only the sigwait thread sees them.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGUSR2})
    sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  core::PluginHost plugins(core::executable_dir());
  std::string bytes = file_bytes(pipeline_path);
  core::LoadResult loaded = load_and_report(pipeline_path, plugins).result;
  if (!loaded.ok()) {
    fprintf(stderr, "%s: invalid; not started (see `sluice validate`)\n", pipeline_path.c_str());
    return kInvalid;
  }
  core::PipelineConfig pipeline = std::move(*loaded.pipeline);
  log.set_secrets(pipeline.secrets);
  if (!apply_logging(log, pipeline.log.level, pipeline.log.format, level, format)) return kUsage;
  apply_component_levels(log, pipeline);
  std::string first_fingerprint = fingerprint(bytes, pipeline);
  // The live tap of the admin server's GET /tap; it outlives every runtime (reloads keep the
  // tap clients attached).
  std::shared_ptr<core::Tap> tap;
  if (pipeline.admin.enabled) tap = std::make_shared<core::Tap>();
  Daemon daemon(pipeline_path, plugins, log, level, format, tap);

  Requests requests;
  std::thread signal_thread([&] {
    name_this_thread("signals");
    int interrupts = 0;
    for (;;) {
      int sig = 0;
      if (sigwait(&signals, &sig) != 0) continue;
      if (sig == SIGUSR2) return;  // main is done
      std::lock_guard lock(requests.m);
      if (sig == SIGHUP) {
        requests.reload = true;  // the main thread reopens and reloads
        requests.cv.notify_all();
        continue;
      }
      if (sig == SIGINT && ++interrupts >= 2) {
        log.error("core", "second SIGINT: exiting at once, undelivered events are lost");
        std::_Exit(kInterrupted);
      }
      log.info("core", std::string(sig == SIGINT ? "SIGINT" : "SIGTERM") +
                           ": stopping (a second SIGINT exits at once)");
      requests.stop = true;
      requests.cv.notify_all();
    }
  });
  auto end_signal_thread = [&] {
    pthread_kill(signal_thread.native_handle(), SIGUSR2);
    signal_thread.join();
  };

  // The admin server (pipeline `admin:`): started first, so that a port in use stops sluice
  // before any event is taken; read at start only (a reload keeps it as it is).
  std::optional<core::admin::AdminServer> admin;
  // Answers the POST /reload requests waiting; before the admin server stops.
  using Waiters = std::vector<std::function<void(core::admin::ReloadReply)>>;
  auto answer_waiters = [](Waiters waiters, const core::admin::ReloadReply& reply) {
    for (auto& w : waiters)
      w(reply);
  };
  auto stop_admin = [&] {
    Waiters waiters;
    {
      std::lock_guard lock(requests.m);
      requests.stop = true;  // a POST /reload from now on is answered at once
      waiters.swap(requests.reload_waiters);
    }
    answer_waiters(std::move(waiters), {"stopping", "sluice is stopping; no reload was done"});
    if (admin) admin->stop();
  };
  if (pipeline.admin.enabled) {
    core::admin::AdminServer::Hooks hooks;
    hooks.metrics = [&daemon] { return daemon.metrics(); };
    hooks.tap = tap;
    hooks.reload = [&requests](std::function<void(core::admin::ReloadReply)> done) {
      std::lock_guard lock(requests.m);
      if (requests.stop) {
        done({"stopping", "sluice is stopping; no reload was done"});
        return;
      }
      requests.reload_waiters.push_back(std::move(done));
      requests.reload = true;
      requests.cv.notify_all();
    };
    admin.emplace(pipeline.admin, std::move(hooks), log, started);
    try {
      admin->start();
    } catch (const std::exception& e) {
      log.error("core", std::string("cannot start: ") + e.what());
      admin.reset();
      end_signal_thread();
      return kRuntime;
    }
  }

  try {
    daemon.start(std::move(pipeline), std::move(first_fingerprint));
  } catch (const std::exception& e) {
    log.error("core", std::string("cannot start: ") + e.what());
    stop_admin();
    end_signal_thread();
    return kRuntime;
  }
  sd_notify("READY=1");  // every sink and source started (systemd Type=notify)
  for (;;) {
    Waiters waiters;
    {
      std::unique_lock lock(requests.m);
      requests.cv.wait(lock, [&] { return requests.stop || requests.reload; });
      if (requests.stop) break;
      requests.reload = false;
      waiters.swap(requests.reload_waiters);
    }
    sd_notify("RELOADING=1");
    const ReloadOutcome outcome = daemon.reload();
    answer_waiters(std::move(waiters), {result_name(outcome.result), outcome.message});
    if (outcome.result == ReloadOutcome::Result::nothing_runs) {
      stop_admin();
      end_signal_thread();
      return kRuntime;
    }
    sd_notify("READY=1");
  }
  sd_notify("STOPPING=1");
  stop_admin();  // before the pipeline drains: the server reads the runtime
  if (daemon.stop()) {
    // A plugin thread is stuck in plugin code: leave now rather than run exit handlers and
    // unload libraries under it. Every line is written already (the logger flushes each).
    log.error("core", "exiting with a stuck plugin call abandoned (see above)");
    fflush(stdout);
    fflush(stderr);
    std::_Exit(kRuntime);
  }
  end_signal_thread();
  return kOk;
}

}  // namespace sluice::cli
