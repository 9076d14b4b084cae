/* One source file, many broken plugins: each build picks its fault with -DFAULT_<name>. */
#include <sluice/plugin.h>

#include <stddef.h>

#ifndef PLUGIN_NAME
#error "PLUGIN_NAME must be defined"
#endif

static sluice_status create(const sluice_host_api* host, sluice_host_context* ctx,
                            const char* options, void** instance, const char** error) {
  (void)host;
  (void)ctx;
  (void)options;
  (void)error;
  static int dummy;
  *instance = &dummy;
  return SLUICE_OK;
}
static sluice_status start(void* instance, const char** error) {
  (void)instance;
  (void)error;
  return SLUICE_OK;
}
static void stop(void* instance) {
  (void)instance;
}
static void destroy(void* instance) {
  (void)instance;
}

__attribute__((unused)) static sluice_plugin_descriptor descriptor = {
    sizeof(sluice_plugin_descriptor),
#if defined(FAULT_WRONG_MAJOR)
    2,
    0,
#elif defined(FAULT_NEWER_MINOR)
    SLUICE_API_VERSION_MAJOR,
    SLUICE_API_VERSION_MINOR + 1,
#elif defined(OLDER_MINOR)
    SLUICE_API_VERSION_MAJOR,
    0,
#else
    SLUICE_API_VERSION_MAJOR,
    SLUICE_API_VERSION_MINOR,
#endif
    PLUGIN_NAME,
    "0.0.1",
    "a deliberately broken test plugin",
    SLUICE_KIND_SOURCE,
    "{\"type\":\"object\"}",
    create,
    start,
    stop,
    destroy,
    NULL,
    NULL,
    NULL,
    NULL /* check_options (1.1) */};

#if !defined(FAULT_NO_ENTRY)
SLUICE_PLUGIN_EXPORT const sluice_plugin_descriptor* sluice_plugin_entry(void) {
#if defined(FAULT_NULL_ENTRY)
  return NULL;
#else
#if defined(FAULT_SMALL_STRUCT)
  descriptor.struct_size = 24; /* holds the version, not the functions */
#elif defined(OLDER_MINOR)
  descriptor.struct_size = SLUICE_DESCRIPTOR_MIN_SIZE_1_0; /* as a 1.0 plugin's descriptor */
#endif
  return &descriptor;
#endif
}
#else
SLUICE_PLUGIN_EXPORT int not_the_entry_point(void) {
  return 42;
}
#endif

#if defined(FAULT_MISSING_DEP)
extern int sluice_test_dependency_function(void);
SLUICE_PLUGIN_EXPORT int uses_the_dependency(void) {
  return sluice_test_dependency_function();
}
#endif
