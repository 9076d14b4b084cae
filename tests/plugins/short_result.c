/* A sink that answers every batch with a delivery result too short for API 1.0 (struct_size 8):
 * the host must read struct_size first and not believe the "OK" that follows. */
#include <sluice/plugin.h>

#include <string.h>

#ifndef PLUGIN_NAME
#error "PLUGIN_NAME must be defined"
#endif

typedef struct instance {
  const sluice_host_api* host;
  sluice_host_context* ctx;
} instance;

static instance the_instance;

static sluice_status create(const sluice_host_api* host, sluice_host_context* ctx,
                            const char* options, void** out, const char** error) {
  (void)options;
  (void)error;
  the_instance.host = host;
  the_instance.ctx = ctx;
  *out = &the_instance;
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
  (void)p;
}
static void deliver(void* p, const sluice_batch* batch) {
  instance* in = (instance*)p;
  sluice_delivery_result r;
  memset(&r, 0, sizeof r);
  r.struct_size = 8; /* covers code only: not a 1.0 result */
  r.code = SLUICE_DELIVERY_OK;
  in->host->complete_batch(in->ctx, batch->id, &r);
}

static const sluice_plugin_descriptor descriptor = {sizeof(sluice_plugin_descriptor),
                                                    SLUICE_API_VERSION_MAJOR,
                                                    SLUICE_API_VERSION_MINOR,
                                                    PLUGIN_NAME,
                                                    "0.0.1",
                                                    "answers with a too short delivery result",
                                                    SLUICE_KIND_SINK,
                                                    "{\"type\":\"object\"}",
                                                    create,
                                                    start,
                                                    stop,
                                                    destroy,
                                                    deliver,
                                                    NULL,
                                                    NULL,
                                                    NULL /* check_options (1.1) */};

SLUICE_PLUGIN_EXPORT const sluice_plugin_descriptor* sluice_plugin_entry(void) {
  return &descriptor;
}
