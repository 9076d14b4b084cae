/*
 * sluice plugin ABI — the one contract between the sluice host and a plugin.
 *
 * Plain C so that a plugin built with another compiler, or in another language, still loads.
 * Rules that keep it stable:
 *  - A plugin exports one symbol, SLUICE_PLUGIN_ENTRY_SYMBOL, returning a constant descriptor.
 *    The host reads api_major/api_minor first: the major must equal the host's, the plugin's
 *    minor must be <= the host's. Anything else is refused before any other field is read.
 *  - Versions: a later minor version of the same major only appends fields, and only to the
 *    structs passed by pointer (descriptor, host table, batch, delivery result). A field appended
 *    by minor N starts at or after the previous minor's sizeof (never in its tail padding).
 *    Structs that travel in arrays (sluice_event, sluice_attribute, and sluice_event_result
 *    from 1.1) are FROZEN at the layout of the minor that introduced them: later minors extend
 *    them through attributes or a separate pointer, never by growing them, so both sides step
 *    such arrays by the frozen size.
 *  - Every struct that may grow starts with `struct_size`, which its writer sets to the sizeof it
 *    was built with. The SLUICE_*_MIN_SIZE_1_<n> constants below give the least struct_size a
 *    reader accepts from a writer built for minor n; the host checks the descriptor against the
 *    minimum for the plugin's OWN minor (not the host's sizeof), so plugins built for an older
 *    minor keep loading.
 *  - Every read of a field added after 1.0 goes through SLUICE_HAS_FIELD(ptr, type, field), which
 *    is true only when the writer's struct_size covers the field; otherwise the reader uses the
 *    documented default. Fields of 1.0 need no check once the 1.0 minimum was checked.
 *  - A plugin's api_minor is the oldest host minor it needs: a plugin built against a newer
 *    header may state an older minor if it checks SLUICE_HAS_FIELD before using newer entries.
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
#define SLUICE_API_VERSION_MINOR 1

/*
 * The end of `field` in `type`: the least struct_size that covers it.
 * SLUICE_HAS_FIELD(ptr, type, field): does the writer's ptr->struct_size cover `field`?
 * Use it for every read of a field added after 1.0, e.g. (a 1.1 host table entry `name`):
 *   if (SLUICE_HAS_FIELD(host, sluice_host_api, name) && host->name) ... else ... (1.0 fallback)
 */
#define SLUICE_FIELD_END(type, field) (offsetof(type, field) + sizeof(((const type*)0)->field))
#define SLUICE_HAS_FIELD(ptr, type, field) \
  ((size_t)(ptr)->struct_size >= SLUICE_FIELD_END(type, field))

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

/* FROZEN (travels in arrays): its 1.0 layout never changes. */
typedef struct sluice_attribute {
  sluice_str key;
  sluice_str value;
} sluice_attribute;

/*
 * One event, a view that maps 1:1 onto CloudEvents 1.0. All strings are borrowed.
 * id, source and type are required. time_unix_ns == 0 means "unknown": the host stamps the
 * time of receipt. data is JSON text; data.data == NULL means null data.
 * FROZEN (travels in arrays): its 1.0 layout never changes; struct_size must be
 * sizeof(sluice_event) (SLUICE_EVENT_SIZE), and the host refuses an emit() whose events say
 * otherwise. Later minors add to an event through attributes, never by growing this struct.
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
  SLUICE_DELIVERY_OK = 0,    /* delivered */
  SLUICE_DELIVERY_RETRY = 1, /* transient failure: the host retries later */
  SLUICE_DELIVERY_REJECT = 2 /* permanent failure: the host dead-letters */
} sluice_delivery_code;

/*
 * 1.1: the answer for one event of a batch (see sluice_delivery_result.event_results).
 * FROZEN (travels in an array): its layout never changes; struct_size must be
 * sizeof(sluice_event_result) (SLUICE_EVENT_RESULT_SIZE), else the host cannot step the array
 * and treats the whole answer as a contract violation.
 */
typedef struct sluice_event_result {
  uint32_t struct_size;
  sluice_delivery_code code; /* this event: OK, RETRY or REJECT */
  uint32_t retry_after_ms;   /* RETRY only; 0: the host's back-off decides */
  int32_t status;            /* optional protocol status (HTTP code...), 0 if none */
  sluice_str reason;         /* optional; copied by the host during complete_batch */
} sluice_event_result;

/*
 * A sink's answer to a batch. Grows by appending (passed by pointer); the host reads
 * struct_size before any field.
 * 1.0: `code` answers the whole batch.
 * 1.1: a sink may answer each event instead: event_results points to event_result_count
 * answers, one per event in batch order, and event_result_count equals the batch's count. A
 * 1.1 host then retries only the events answered RETRY (once, after the longest retry_after_ms
 * among them, or its back-off), dead-letters only those answered REJECT (each with its own
 * reason and status) and counts the rest delivered; `code`, `reason` and `status` are not used.
 * A 1.0 host reads only `code`: a plugin that states api_minor 0 but answers per event still
 * sets `code` to what the whole batch should get from an old host (the SDK uses RETRY if any
 * event needs a retry, else REJECT if any was rejected, else OK). A count that differs from the
 * batch's is a contract violation: the host dead-letters the batch, saying why.
 */
typedef struct sluice_delivery_result {
  uint32_t struct_size;
  sluice_delivery_code code;
  uint32_t retry_after_ms; /* RETRY only; 0: the host's back-off decides */
  sluice_str reason;       /* optional; copied by the host during complete_batch */
  int32_t status;          /* optional protocol status (HTTP code...), 0 if none */
  /* 1.1 (read through SLUICE_HAS_FIELD): per-event answers; NULL: `code` answers the batch. */
  const sluice_event_result* event_results;
  size_t event_result_count;
} sluice_delivery_result;

/*
 * A batch handed to a sink; valid until the sink completes it with host->complete_batch.
 * Grows by appending (passed by pointer); `events` is an array of the frozen sluice_event.
 */
typedef struct sluice_batch {
  uint32_t struct_size;
  uint64_t id; /* unique per sink instance */
  const sluice_event* events;
  size_t count;
  uint32_t attempt; /* 1 on the first delivery, 2 on the first retry, ... */
} sluice_batch;

/* Opaque handle the host gives each plugin instance; passed back on every host call. */
typedef struct sluice_host_context sluice_host_context;

/* Grows by appending (later minors add host calls): a plugin reads any entry added after 1.0
 * only when SLUICE_HAS_FIELD(host, sluice_host_api, entry) says this host has it. */
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

  /* ---- 1.1 (read through SLUICE_HAS_FIELD(host, sluice_host_api, <entry>)) ---- */

  /*
   * The instance's name in the pipeline (the key under sources: / sinks:), NUL-terminated and
   * valid for the instance's life. Callable from create() on. A 1.0 host has no such entry:
   * fall back to something of the plugin's own.
   */
  const char* (*instance_name)(sluice_host_context* ctx);
} sluice_host_api;

/* Grows by appending. The host checks struct_size against the minimum for the plugin's
 * api_minor (SLUICE_DESCRIPTOR_MIN_SIZE_1_<n>) and reads later entries via SLUICE_HAS_FIELD. */
typedef struct sluice_plugin_descriptor {
  uint32_t struct_size;
  uint16_t api_major; /* SLUICE_API_VERSION_MAJOR the plugin was built with */
  uint16_t api_minor; /* the oldest host minor it needs: normally SLUICE_API_VERSION_MINOR */

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

  /* ---- 1.1 (the host reads these through SLUICE_HAS_FIELD) ---- */

  /*
   * Optional (may be NULL): check options without creating anything. `sluice validate` calls
   * it, and `sluice run` calls it before create(); options_json is what create() would get
   * (validated against options_schema, defaults filled in). It must refuse everything create()
   * would refuse from the options alone (bad values, missing companions, files that cannot be
   * read), with the same message, and may refuse nothing else (no network, no side effects).
   * Returns SLUICE_OK when the options are fine. Otherwise SLUICE_INVALID and *problems_json, a
   * JSON array of objects {"pointer": "<RFC 6901 JSON pointer into the options>", "message":
   * "<text>"}, one per problem ("" for the pointer when no single option is at fault); the host
   * shows each at the pipeline file's line and column. SLUICE_ERROR with *problems_json as plain
   * text when the check itself failed. *problems_json is plugin-owned, NUL-terminated, valid
   * until the next call into the plugin from this thread. Thread-safe: no instance is involved.
   */
  sluice_status (*check_options)(const char* options_json, const char** problems_json);
} sluice_plugin_descriptor;

typedef const sluice_plugin_descriptor* (*sluice_plugin_entry_fn)(void);

/*
 * Minimum struct_size per minor version, for the structs that grow: a reader accepts anything
 * at least this large from a writer built for that minor. A later minor adds its own
 * SLUICE_MIN_SIZE_1_<n> lines here; the 1.0 ones never change.
 */
#define SLUICE_DESCRIPTOR_MIN_SIZE_1_0 SLUICE_FIELD_END(sluice_plugin_descriptor, max_in_flight)
#define SLUICE_HOST_API_MIN_SIZE_1_0 SLUICE_FIELD_END(sluice_host_api, complete_batch)
#define SLUICE_BATCH_MIN_SIZE_1_0 SLUICE_FIELD_END(sluice_batch, attempt)
#define SLUICE_DELIVERY_RESULT_MIN_SIZE_1_0 SLUICE_FIELD_END(sluice_delivery_result, status)
#define SLUICE_DESCRIPTOR_MIN_SIZE_1_1 SLUICE_FIELD_END(sluice_plugin_descriptor, check_options)
#define SLUICE_HOST_API_MIN_SIZE_1_1 SLUICE_FIELD_END(sluice_host_api, instance_name)
#define SLUICE_BATCH_MIN_SIZE_1_1 SLUICE_BATCH_MIN_SIZE_1_0
#define SLUICE_DELIVERY_RESULT_MIN_SIZE_1_1 \
  SLUICE_FIELD_END(sluice_delivery_result, event_result_count)
/* The frozen sizes of the structs that travel in arrays (equal to their sizeof, for ever). */
#define SLUICE_EVENT_SIZE SLUICE_FIELD_END(sluice_event, data)
#define SLUICE_ATTRIBUTE_SIZE SLUICE_FIELD_END(sluice_attribute, value)
#define SLUICE_EVENT_RESULT_SIZE SLUICE_FIELD_END(sluice_event_result, reason) /* since 1.1 */

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_PLUGIN_H */
