/*
 * A source built only against the frozen 1.0 header (include/sluice/plugin.h here, never the
 * SDK): proves a plugin built for API 1.0 keeps loading and running on later hosts. It emits
 * 100 events in batches of 10 from a thread of its own, then reports itself up and idles.
 */
#include <sluice/plugin.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS 100
#define PER_CALL 10

typedef struct instance {
  const sluice_host_api* host;
  sluice_host_context* ctx;
  pthread_t thread;
  int started;
} instance;

static sluice_str str(const char* s) {
  sluice_str out;
  out.data = s;
  out.size = strlen(s);
  return out;
}

static void* run(void* arg) {
  instance* in = (instance*)arg;
  static const sluice_attribute attr[1] = {{{"abi", 3}, {"1.0", 3}}};
  char ids[PER_CALL][16];
  char data[PER_CALL][32];
  sluice_event events[PER_CALL];
  int n = 0;
  while (n < EVENTS) {
    int i;
    for (i = 0; i < PER_CALL; ++i, ++n) {
      snprintf(ids[i], sizeof ids[i], "v10-%d", n);
      snprintf(data[i], sizeof data[i], "{\"n\":%d}", n);
      memset(&events[i], 0, sizeof events[i]);
      events[i].struct_size = sizeof(sluice_event);
      events[i].id = str(ids[i]);
      events[i].source = str("test://abi_v1_0");
      events[i].type = str("test.abi_v1_0");
      events[i].subject = str("frozen");
      events[i].attributes = attr;
      events[i].attribute_count = 1;
      events[i].data = str(data[i]);
    }
    if (in->host->emit(in->ctx, events, PER_CALL) != SLUICE_OK) break;
    in->host->count_metric(in->ctx, "emitted", PER_CALL);
  }
  in->host->report_state(in->ctx, SLUICE_STATE_UP, "all events emitted");
  return NULL;
}

static sluice_status create(const sluice_host_api* host, sluice_host_context* ctx,
                            const char* options, void** out, const char** error) {
  instance* in;
  (void)options;
  if (host->struct_size < sizeof(sluice_host_api) || host->api_major != 1) {
    *error = "host table too small for API 1.0";
    return SLUICE_ERROR;
  }
  in = (instance*)calloc(1, sizeof *in);
  if (!in) {
    *error = "out of memory";
    return SLUICE_ERROR;
  }
  in->host = host;
  in->ctx = ctx;
  *out = in;
  return SLUICE_OK;
}

static sluice_status start(void* p, const char** error) {
  instance* in = (instance*)p;
  if (pthread_create(&in->thread, NULL, run, in) != 0) {
    *error = "pthread_create failed";
    return SLUICE_ERROR;
  }
  in->started = 1;
  return SLUICE_OK;
}

static void stop(void* p) {
  instance* in = (instance*)p;
  if (in->started) pthread_join(in->thread, NULL);
  in->started = 0;
}

static void destroy(void* p) {
  free(p);
}

static const sluice_plugin_descriptor descriptor = {
    sizeof(sluice_plugin_descriptor),
    SLUICE_API_VERSION_MAJOR,
    SLUICE_API_VERSION_MINOR,
    "abi10_source",
    "1.0.0",
    "a source built against the frozen plugin API 1.0 header",
    SLUICE_KIND_SOURCE,
    "{\"type\":\"object\"}",
    create,
    start,
    stop,
    destroy,
    NULL,
    NULL,
    NULL};

SLUICE_PLUGIN_EXPORT const sluice_plugin_descriptor* sluice_plugin_entry(void) {
  return &descriptor;
}
