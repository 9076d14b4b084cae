/* A source written against the C ABI whose check_options (API 1.1) answers from its options:
 * {"port": N} with N > 65535 is a problem at /port, {"broken": true} makes the check itself
 * fail. create refuses the same port with the same message, as the contract asks. The source
 * emits nothing. */
#include <sluice/plugin.h>

#include <stdio.h>
#include <string.h>

#ifndef PLUGIN_NAME
#error "PLUGIN_NAME must be defined"
#endif

static int the_instance;
/* What the plugin hands out stays valid until its next call from the same thread. */
static _Thread_local char message[128];
static _Thread_local char answer[256];

/* A crude reader, enough for this test: the number after "port": (0 when absent). */
static long port_of(const char* options) {
  const char* p = options ? strstr(options, "\"port\":") : NULL;
  long port = 0;
  return p && sscanf(p + 7, "%ld", &port) == 1 ? port : 0;
}

static const char* port_problem(const char* options) {
  long port = port_of(options);
  if (port <= 65535) return NULL;
  snprintf(message, sizeof message, "port: %ld is not a TCP port (1 to 65535)", port);
  return message;
}

static sluice_status check_options(const char* options, const char** problems) {
  if (options && strstr(options, "\"broken\":true")) {
    *problems = "cannot check: told to break";
    return SLUICE_ERROR;
  }
  if (!port_problem(options)) return SLUICE_OK;
  snprintf(answer, sizeof answer, "[{\"pointer\":\"/port\",\"message\":\"%s\"}]", message);
  *problems = answer;
  return SLUICE_INVALID;
}

static sluice_status create(const sluice_host_api* host, sluice_host_context* ctx,
                            const char* options, void** out, const char** error) {
  (void)host;
  (void)ctx;
  *error = port_problem(options);
  if (*error) return SLUICE_ERROR;
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

static const sluice_plugin_descriptor descriptor = {
    sizeof(sluice_plugin_descriptor),
    SLUICE_API_VERSION_MAJOR,
    SLUICE_API_VERSION_MINOR,
    PLUGIN_NAME,
    "0.0.1",
    "a C source whose options check (API 1.1) refuses ports above 65535",
    SLUICE_KIND_SOURCE,
    "{\"type\":\"object\",\"properties\":{\"port\":{\"type\":\"integer\",\"default\":80},"
    "\"broken\":{\"type\":\"boolean\",\"default\":false}}}",
    create,
    start,
    stop,
    destroy,
    NULL,
    NULL,
    NULL,
    check_options};

SLUICE_PLUGIN_EXPORT const sluice_plugin_descriptor* sluice_plugin_entry(void) {
  return &descriptor;
}
