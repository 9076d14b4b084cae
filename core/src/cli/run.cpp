// sluice run PIPELINE: start the pipeline, then wait for signals on a dedicated thread
// (sigwait: no work in a signal handler, safe with every thread the plugins start).
#include "cli.hpp"

#include <sluice/core/config.hpp>
#include <sluice/core/dead_letter.hpp>
#include <sluice/core/plugin_host.hpp>
#include <sluice/core/runtime.hpp>
#include <sluice/core/spool.hpp>

#include <pthread.h>
#include <signal.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace po = boost::program_options;

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

struct StopRequest {
  std::mutex m;
  std::condition_variable cv;
  bool requested = false;
};

}  // namespace

int cmd_run(const std::vector<std::string>& args) {
  const Command& cmd = command("run");
  std::string pipeline_path, level, format;
  po::options_description options("Options");
  options.add_options()("help,h", "this text")(
      "pipeline", po::value(&pipeline_path)->required()->value_name("PIPELINE"),
      "the pipeline file (YAML)");
  options.add(logging_options(&level, &format));
  po::positional_options_description positional;
  positional.add("pipeline", 1);
  po::variables_map vm;
  if (int rc = parse(args, cmd, options, positional, vm); rc != kOk) return rc < 0 ? kOk : rc;

  core::Logger& log = core::default_logger();
  if (!apply_logging(log, "", "", level, format)) return kUsage;

  // Block the signals before any thread exists, so that only the sigwait thread sees them.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGUSR2})
    sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  core::PluginHost plugins(core::executable_dir());
  core::LoadResult loaded = load_and_report(pipeline_path, plugins).result;
  if (!loaded.ok()) {
    fprintf(stderr, "%s: invalid; not started (see `sluice validate`)\n", pipeline_path.c_str());
    return kInvalid;
  }
  core::PipelineConfig pipeline = std::move(*loaded.pipeline);
  log.set_secrets(pipeline.secrets);
  if (!apply_logging(log, pipeline.log.level, pipeline.log.format, level, format)) return kUsage;

  core::RuntimeOptions runtime_options;
  runtime_options.dead_letter_factory =
      [&log](const core::SinkConfig& sink) -> std::unique_ptr<core::DeadLetter> {
    return std::make_unique<FileDeadLetter>(sink.dead_letter.path, log);
  };
  runtime_options.spool_queue_factory =
      [&log](const core::SinkConfig& sink) -> std::unique_ptr<core::SinkQueue> {
    try {
      return core::make_spool_queue(
          sink, core::spool_options_for(sink),
          [&log, name = sink.name](const std::string& m) { log.warn(name, m); });
    } catch (const std::exception& e) {
      throw core::StartError("sink '" + sink.name + "': " + e.what());
    }
  };
  core::Runtime runtime(std::move(pipeline), plugins, log, std::move(runtime_options));

  StopRequest stop;
  std::thread signal_thread([&] {
    int interrupts = 0;
    for (;;) {
      int sig = 0;
      if (sigwait(&signals, &sig) != 0) continue;
      if (sig == SIGUSR2) return;  // main is done
      if (sig == SIGHUP) {
        log.info("core", "SIGHUP: reopening sink outputs");
        runtime.reopen();
        continue;
      }
      if (sig == SIGINT && ++interrupts >= 2) {
        log.error("core", "second SIGINT: exiting at once, undelivered events are lost");
        std::_Exit(kInterrupted);
      }
      log.info("core", std::string(sig == SIGINT ? "SIGINT" : "SIGTERM") +
                           ": stopping (a second SIGINT exits at once)");
      std::lock_guard lock(stop.m);
      stop.requested = true;
      stop.cv.notify_all();
    }
  });
  auto end_signal_thread = [&] {
    pthread_kill(signal_thread.native_handle(), SIGUSR2);
    signal_thread.join();
  };

  try {
    runtime.start();
  } catch (const std::exception& e) {
    log.error("core", std::string("cannot start: ") + e.what());
    end_signal_thread();
    return kRuntime;
  }
  {
    std::unique_lock lock(stop.m);
    stop.cv.wait(lock, [&] { return stop.requested; });
  }
  runtime.stop();
  end_signal_thread();
  return kOk;
}

}  // namespace sluice::cli
