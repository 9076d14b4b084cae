// A plugin instance as the host sees it: the opaque sluice_host_context of plugin.h. A source
// (router.hpp) and a sink channel (sink_channel.hpp) are each one; the host-API trampolines
// (host_api.cpp) reach them through the two virtual calls below and nothing else.
#pragma once

#include <sluice/plugin.h>
#include <sluice/core/log.hpp>
#include <sluice/core/plugin_host.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

// The opaque handle of plugin.h: every instance the runtime creates is one.
struct sluice_host_context {
  virtual ~sluice_host_context() = default;
};

namespace sluice::core {

using Clock = std::chrono::steady_clock;

// "connecting", "up", ... for a sluice_state; "" for none (-1) or an unknown value.
const char* state_name(int state);

struct Instance : sluice_host_context {
  Logger* log = nullptr;  // must outlive the instance (and any thread it leaves behind)
  // What the plugin was created with (it may keep the pointer): owned by the instance, so it
  // goes wherever the instance goes (a sink channel handed to another runtime).
  sluice_host_api api{};
  std::string name;
  std::shared_ptr<const LoadedPlugin> plugin;
  void* handle = nullptr;
  bool started = false;
  std::atomic<int> state{-1};
  std::mutex metrics_mutex;
  std::map<std::string, int64_t> metrics;  // count_metric, under metrics_mutex
  std::string state_detail;                // report_state's detail, under metrics_mutex

  // Shutdown: the lifecycle call (stop, destroy) runs on a thread of its own so that a plugin
  // that never returns cannot hold the process. A call still running at its deadline stays
  // here, joined by the reaper if it ever returns.
  std::thread call_thread;
  bool stop_stuck = false;
  bool destroy_stuck = false;

  const sluice_plugin_descriptor& d() const { return plugin->descriptor(); }

  // host_api.emit: a source routes the events; anything else refuses (logged).
  virtual sluice_status on_emit(const sluice_event* events, size_t count);
  // host_api.complete_batch: a sink channel takes the answer; anything else ignores it.
  virtual void on_complete(uint64_t batch_id, const sluice_delivery_result* result);

  // Fills `api` with the trampolines of host_api.cpp, for a host speaking major.minor.
  void init_host_api(uint16_t major, uint16_t minor);
};

}  // namespace sluice::core
