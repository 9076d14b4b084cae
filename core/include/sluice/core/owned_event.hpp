// The core's own copy of an event: one allocation holding the sluice_event header, its
// attribute array and every string byte, shared by reference count between the sink queues it
// was routed to. The sluice_event inside is what sinks read (batches copy the header only).
#pragma once

#include <sluice/plugin.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

namespace sluice::core {

// The copy's data (when present) is followed by a NUL byte, not counted in data.size.
// The pieces of a new event. Strings are borrowed for the call; a NULL data pointer means
// absent (subject, data). Attributes come from two lists so the host can append its own
// without building a third.
struct EventParts {
  sluice_str id{};
  sluice_str source{};
  sluice_str type{};
  sluice_str subject{};
  int64_t time_unix_ns = 0;
  const sluice_attribute* attributes = nullptr;
  size_t attribute_count = 0;
  const sluice_attribute* extra_attributes = nullptr;
  size_t extra_attribute_count = 0;
  // Attributes from the first list with this key are left out (the host replaces them).
  std::string_view skip_key{};
  sluice_str data{};

  // Every field of `e` (no extra attributes, nothing skipped).
  static EventParts of(const sluice_event& e) {
    EventParts p;
    p.id = e.id;
    p.source = e.source;
    p.type = e.type;
    p.subject = e.subject;
    p.time_unix_ns = e.time_unix_ns;
    p.attributes = e.attributes;
    p.attribute_count = e.attributes ? e.attribute_count : 0;
    p.data = e.data;
    return p;
  }
};

class EventPtr {
 public:
  EventPtr() = default;
  static EventPtr make(const EventParts& parts);

  EventPtr(const EventPtr& o) : h_(o.h_) {
    if (h_) h_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  EventPtr(EventPtr&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  EventPtr& operator=(EventPtr o) noexcept {
    std::swap(h_, o.h_);
    return *this;
  }
  ~EventPtr() { reset(); }
  void reset() {
    if (h_ && h_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy(h_);
    h_ = nullptr;
  }

  explicit operator bool() const { return h_ != nullptr; }
  const sluice_event& view() const { return h_->event; }
  // Bytes this event holds in memory (header, attributes, strings): the unit of queue limits.
  size_t bytes() const { return h_->bytes; }
  uint32_t use_count() const { return h_ ? h_->refs.load() : 0; }

 private:
  struct Header {
    std::atomic<uint32_t> refs{1};
    uint32_t bytes = 0;
    sluice_event event{};
  };
  static void destroy(Header* h);
  explicit EventPtr(Header* h) : h_(h) {}
  Header* h_ = nullptr;
};

}  // namespace sluice::core
