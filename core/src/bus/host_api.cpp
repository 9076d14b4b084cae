// The sluice_host_api trampolines: the C entry points a plugin calls, each guarded so that
// nothing thrown in the host reaches the plugin (plugin.h: no exception crosses the boundary).
// They only find the instance and call it; what emit and complete_batch do is in router.cpp and
// sink_channel.cpp.
#include "instance.hpp"

#include <algorithm>
#include <exception>
#include <string>

namespace sluice::core {

const char* state_name(int s) {
  switch (s) {
    case SLUICE_STATE_CONNECTING:
      return "connecting";
    case SLUICE_STATE_UP:
      return "up";
    case SLUICE_STATE_DEGRADED:
      return "degraded";
    case SLUICE_STATE_DOWN:
      return "down";
    default:
      return "";
  }
}

namespace {

Instance* self(sluice_host_context* ctx) {
  return static_cast<Instance*>(ctx);
}

// What is caught is reported as well as a failing logger or allocator still allows.
template <typename F>
void guarded(Instance* in, const char* call, F&& f) noexcept {
  try {
    f();
  } catch (const std::exception& e) {
    try {
      in->log->error(in->name, std::string(call) + " failed in the host: " + e.what());
    } catch (...) {
    }
  } catch (...) {
    try {
      in->log->error(in->name, std::string(call) + " failed in the host");
    } catch (...) {
    }
  }
}

void host_log(sluice_host_context* ctx, sluice_log_level level, const char* message) {
  if (!ctx) return;
  Instance* in = self(ctx);
  guarded(in, "log", [&] {
    int l = std::clamp(static_cast<int>(level), 0, 4);
    in->log->log(static_cast<LogLevel>(l), in->name, message ? message : "");
  });
}

void host_report_state(sluice_host_context* ctx, sluice_state state, const char* detail) {
  if (!ctx) return;
  Instance* in = self(ctx);
  guarded(in, "report_state", [&] {
    {
      std::lock_guard lock(in->metrics_mutex);
      in->state_detail = detail ? detail : "";
    }
    int old = in->state.exchange(static_cast<int>(state));
    if (old == static_cast<int>(state)) return;
    std::string m = std::string("state: ") + state_name(state);
    if (detail && *detail) m += std::string(" (") + detail + ")";
    bool bad = state == SLUICE_STATE_DEGRADED || state == SLUICE_STATE_DOWN;
    in->log->log(bad ? LogLevel::warn : LogLevel::info, in->name, m);
  });
}

void host_count_metric(sluice_host_context* ctx, const char* name, int64_t delta) {
  if (!ctx || !name) return;
  Instance* in = self(ctx);
  guarded(in, "count_metric", [&] {
    std::lock_guard lock(in->metrics_mutex);
    in->metrics[name] += delta;
  });
}

sluice_status host_emit(sluice_host_context* ctx, const sluice_event* events, size_t count) {
  if (!ctx) return SLUICE_INVALID;
  Instance* in = self(ctx);
  if (count && !events) return SLUICE_INVALID;
  // Queue I/O errors are counted inside (dropped_spool_error); this is the last resort (out
  // of memory, say).
  sluice_status status = SLUICE_ERROR;
  guarded(in, "emit", [&] { status = in->on_emit(events, count); });
  return status;
}

// The name never changes while the instance lives, so the pointer stays valid that long.
const char* host_instance_name(sluice_host_context* ctx) {
  return ctx ? self(ctx)->name.c_str() : "";
}

void host_complete_batch(sluice_host_context* ctx, uint64_t batch_id,
                         const sluice_delivery_result* result) {
  if (!ctx) return;
  Instance* in = self(ctx);
  guarded(in, "complete_batch", [&] { in->on_complete(batch_id, result); });
}

}  // namespace

sluice_status Instance::on_emit(const sluice_event*, size_t) {
  log->error(name, "a sink called emit(); ignored");
  return SLUICE_INVALID;
}

void Instance::on_complete(uint64_t, const sluice_delivery_result*) {}

void Instance::init_host_api(uint16_t major, uint16_t minor) {
  api = {};
  api.struct_size = sizeof api;
  api.api_major = major;
  api.api_minor = minor;
  api.log = &host_log;
  api.emit = &host_emit;
  api.report_state = &host_report_state;
  api.count_metric = &host_count_metric;
  api.complete_batch = &host_complete_batch;
  api.instance_name = &host_instance_name;
}

}  // namespace sluice::core
