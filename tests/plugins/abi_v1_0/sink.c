/*
 * A sink built only against the frozen 1.0 header (include/sluice/plugin.h here, never the SDK):
 * checks every batch and event the host hands it against the 1.0 layout, counts what it saw
 * (metrics "delivered", "malformed") and answers each batch OK inside deliver(), with a 1.0
 * result (struct_size 1.0's) that has something in memory right after it.
 */
#include <sluice/plugin.h>

#include <stdlib.h>
#include <string.h>

typedef struct instance {
  const sluice_host_api* host;
  sluice_host_context* ctx;
} instance;

static int equals(sluice_str s, const char* text) {
  return s.data && s.size == strlen(text) && memcmp(s.data, text, s.size) == 0;
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
  (void)p;
  (void)error;
  return SLUICE_OK;
}

static void stop(void* p) {
  (void)p;
}

static void destroy(void* p) {
  free(p);
}

/* What happens to lie in memory after a 1.0 result: here, what a 1.1 host would take for
 * per-event answers (event_results, event_result_count) if it read past struct_size. */
typedef struct padded_result {
  sluice_delivery_result result;
  const void* looks_like_event_results;
  size_t looks_like_event_result_count;
} padded_result;
static const uint32_t not_event_results[8] = {1, 2, 3, 4, 5, 6, 7, 8};

static void deliver(void* p, const sluice_batch* batch) {
  instance* in = (instance*)p;
  padded_result padded;
  int64_t good = 0, bad = 0;
  size_t i, a;
  if (batch->struct_size < sizeof(sluice_batch)) {
    bad = 1;
  } else {
    for (i = 0; i < batch->count; ++i) {
      const sluice_event* e = &batch->events[i]; /* stepped by the 1.0 size */
      int ok = e->struct_size == sizeof(sluice_event) && equals(e->type, "test.abi_v1_0") &&
               equals(e->subject, "frozen") && e->data.data && e->data.size > 5 &&
               memcmp(e->data.data, "{\"n\":", 5) == 0;
      int abi_attr = 0;
      for (a = 0; ok && a < e->attribute_count; ++a)
        if (equals(e->attributes[a].key, "abi") && equals(e->attributes[a].value, "1.0"))
          abi_attr = 1;
      if (ok && abi_attr)
        ++good;
      else
        ++bad;
    }
  }
  in->host->count_metric(in->ctx, "delivered", good);
  in->host->count_metric(in->ctx, "malformed", bad);
  memset(&padded, 0, sizeof padded);
  padded.looks_like_event_results = not_event_results;
  padded.looks_like_event_result_count = 12345;
  padded.result.struct_size = sizeof padded.result;
  padded.result.code = SLUICE_DELIVERY_OK;
  in->host->complete_batch(in->ctx, batch->id, &padded.result);
}

static const sluice_plugin_descriptor descriptor = {
    sizeof(sluice_plugin_descriptor),
    SLUICE_API_VERSION_MAJOR,
    SLUICE_API_VERSION_MINOR,
    "abi10_sink",
    "1.0.0",
    "a sink built against the frozen plugin API 1.0 header",
    SLUICE_KIND_SINK,
    "{\"type\":\"object\"}",
    create,
    start,
    stop,
    destroy,
    deliver,
    NULL,
    NULL};

SLUICE_PLUGIN_EXPORT const sluice_plugin_descriptor* sluice_plugin_entry(void) {
  return &descriptor;
}
