/*
 * sluice plugin ABI — the one contract between the sluice host and a plugin.
 *
 * Plain C so that a plugin built with another compiler, or in another language, still loads.
 * Rules that keep it stable:
 *  - A plugin exports one symbol, SLUICE_PLUGIN_ENTRY_SYMBOL, returning a constant descriptor.
 *    The host reads api_major/api_minor first: the major must equal the host's, the plugin's
 *    minor must be <= the host's. Anything else is refused before any other field is read.
 *  - Every struct that may grow starts with `struct_size`; readers check it before touching a
 *    field added by a later minor version. New fields are only ever appended.
 *  - Strings are UTF-8 (pointer + length, not NUL-terminated unless said so). A NULL pointer
 *    means "absent", which is not the same as empty.
 *  - Memory a call hands back (error text, result reason) stays owned by the plugin and valid
 *    until the next call on the same instance. Memory the host hands in is valid for the call
 *    only, except a sink batch, which stays valid until the plugin completes it.
 *  - No exception and no C++ type crosses this boundary.
 */
#ifndef SLUICE_PLUGIN_H
#define SLUICE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SLUICE_API_VERSION_MAJOR 1
#define SLUICE_API_VERSION_MINOR 0

/* The exported entry point: `const sluice_plugin_descriptor* sluice_plugin_entry(void)`. */
#define SLUICE_PLUGIN_ENTRY_SYMBOL "sluice_plugin_entry"

#if defined(_WIN32)
#define SLUICE_PLUGIN_EXPORT __declspec(dllexport)
#else
#define SLUICE_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

typedef enum sluice_plugin_kind { SLUICE_KIND_SOURCE = 1, SLUICE_KIND_SINK = 2 } sluice_plugin_kind;

typedef enum sluice_status {
  SLUICE_OK = 0,
  SLUICE_ERROR = 1,   /* failed; error text says why */
  SLUICE_STOPPED = 2, /* the host is shutting down: stop producing */
  SLUICE_INVALID = 3  /* arguments broke the contract */
} sluice_status;

typedef enum sluice_log_level {
  SLUICE_LOG_TRACE = 0,
  SLUICE_LOG_DEBUG = 1,
  SLUICE_LOG_INFO = 2,
  SLUICE_LOG_WARN = 3,
  SLUICE_LOG_ERROR = 4
} sluice_log_level;

typedef enum sluice_state {
  SLUICE_STATE_CONNECTING = 0,
  SLUICE_STATE_UP = 1,
  SLUICE_STATE_DEGRADED = 2,
  SLUICE_STATE_DOWN = 3
} sluice_state;

typedef struct sluice_str {
  const char* data; /* NULL: absent */
  size_t size;
} sluice_str;

typedef struct sluice_attribute {
  sluice_str key;
  sluice_str value;
} sluice_attribute;

/*
 * One event, a view that maps 1:1 onto CloudEvents 1.0. All strings are borrowed.
 * id, source and type are required. time_unix_ns == 0 means "unknown": the host stamps the
 * time of receipt. data is JSON text; data.data == NULL means null data.
 */
typedef struct sluice_event {
  uint32_t struct_size;
  sluice_str id;
  sluice_str source;
  sluice_str type;
  sluice_str subject;
  int64_t time_unix_ns;
  const sluice_attribute* attributes;
  size_t attribute_count;
  sluice_str data;
} sluice_event;

typedef enum sluice_delivery_code {
  SLUICE_DELIVERY_OK = 0,    /* the whole batch is delivered */
  SLUICE_DELIVERY_RETRY = 1, /* transient failure: the host retries the batch later */
  SLUICE_DELIVERY_REJECT = 2 /* permanent failure: the host dead-letters the batch */
} sluice_delivery_code;

typedef struct sluice_delivery_result {
  uint32_t struct_size;
  sluice_delivery_code code;
  uint32_t retry_after_ms; /* RETRY only; 0: the host's back-off decides */
  sluice_str reason;       /* optional; copied by the host during complete_batch */
  int32_t status;          /* optional protocol status (HTTP code...), 0 if none */
} sluice_delivery_result;

/* A batch handed to a sink; valid until the sink completes it with host->complete_batch. */
typedef struct sluice_batch {
  uint32_t struct_size;
  uint64_t id; /* unique per sink instance */
  const sluice_event* events;
  size_t count;
  uint32_t attempt; /* 1 on the first delivery, 2 on the first retry, ... */
} sluice_batch;

/* Opaque handle the host gives each plugin instance; passed back on every host call. */
typedef struct sluice_host_context sluice_host_context;

typedef struct sluice_host_api {
  uint32_t struct_size;
  uint16_t api_major;
  uint16_t api_minor;

  /* Thread-safe. message is NUL-terminated. */
  void (*log)(sluice_host_context* ctx, sluice_log_level level, const char* message);

  /*
   * Sources: hand events to the bus. Thread-safe; may block while a sink with policy `block`
   * is full — that is how back-pressure reaches a source, which then stops reading its input.
   * The events are copied before emit returns. Returns SLUICE_STOPPED once the host is
   * stopping (the events were still accepted where possible and counted otherwise).
   */
  sluice_status (*emit)(sluice_host_context* ctx, const sluice_event* events, size_t count);

  /* Thread-safe. detail is NUL-terminated and may be NULL. */
  void (*report_state)(sluice_host_context* ctx, sluice_state state, const char* detail);

  /* Thread-safe. Adds delta to the instance's counter `name` (NUL-terminated, [a-z0-9_.]). */
  void (*count_metric)(sluice_host_context* ctx, const char* name, int64_t delta);

  /*
   * Sinks: answer a batch handed to deliver(). Call exactly once per batch, from any thread,
   * inside deliver() or later. After it returns the batch memory is gone.
   */
  void (*complete_batch)(sluice_host_context* ctx, uint64_t batch_id,
                         const sluice_delivery_result* result);
} sluice_host_api;

typedef struct sluice_plugin_descriptor {
  uint32_t struct_size;
  uint16_t api_major; /* SLUICE_API_VERSION_MAJOR the plugin was built with */
  uint16_t api_minor; /* SLUICE_API_VERSION_MINOR the plugin was built with */

  const char* name;        /* NUL-terminated, [a-z0-9_]; the `plugin:` value in pipelines */
  const char* version;     /* the plugin's own version, NUL-terminated */
  const char* description; /* one line, NUL-terminated */
  sluice_plugin_kind kind;
  const char* options_schema; /* JSON Schema (draft 7) of the options object, NUL-terminated */

  /*
   * Create an instance from its options (JSON object text, validated against options_schema,
   * defaults filled in). On failure returns SLUICE_ERROR and sets *error (plugin-owned,
   * NUL-terminated, valid until the next call into the plugin from this thread).
   */
  sluice_status (*create)(const sluice_host_api* host, sluice_host_context* ctx,
                          const char* options_json, void** instance, const char** error);

  /* Begin work: a source starts its threads and emits; a sink opens its outputs. */
  sluice_status (*start)(void* instance, const char** error);

  /* Stop work. Returns only when the instance will not call the host any more. */
  void (*stop)(void* instance);

  void (*destroy)(void* instance);

  /* Sinks: deliver a batch; answer it with host->complete_batch. NULL for sources. */
  void (*deliver)(void* instance, const sluice_batch* batch);

  /* Optional (may be NULL): reopen output files (SIGHUP, log rotation). */
  sluice_status (*reopen)(void* instance, const char** error);

  /*
   * Optional, sinks (may be NULL, meaning 1): how many batches this instance accepts in flight
   * at once. The host never hands over more. A sink that answers inside deliver() leaves it NULL.
   */
  uint32_t (*max_in_flight)(void* instance);
} sluice_plugin_descriptor;

typedef const sluice_plugin_descriptor* (*sluice_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_PLUGIN_H */
