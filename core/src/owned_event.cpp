#include <sluice/core/owned_event.hpp>

#include <cstdlib>
#include <cstring>
#include <new>

namespace sluice::core {

namespace {

size_t str_bytes(sluice_str s) {
  return s.data ? s.size : 0;
}

bool skipped(const sluice_attribute& a, std::string_view key) {
  return !key.empty() && a.key.data && std::string_view(a.key.data, a.key.size) == key;
}

// Copies s to *cursor and returns the copy (absent stays absent, empty stays empty).
sluice_str copy(sluice_str s, char** cursor) {
  if (!s.data) return sluice_str{nullptr, 0};
  char* at = *cursor;
  if (s.size) memcpy(at, s.data, s.size);
  *cursor += s.size;
  return sluice_str{at, s.size};
}

}  // namespace

EventPtr EventPtr::make(const EventParts& p) {
  size_t attrs = p.extra_attribute_count;
  size_t text = str_bytes(p.id) + str_bytes(p.source) + str_bytes(p.type) + str_bytes(p.subject) +
                str_bytes(p.data);
  for (size_t i = 0; i < p.attribute_count; ++i) {
    if (skipped(p.attributes[i], p.skip_key)) continue;
    ++attrs;
    text += str_bytes(p.attributes[i].key) + str_bytes(p.attributes[i].value);
  }
  for (size_t i = 0; i < p.extra_attribute_count; ++i)
    text += str_bytes(p.extra_attributes[i].key) + str_bytes(p.extra_attributes[i].value);

  // One NUL after everything: data is then NUL-terminated, which the JSON check relies on.
  const size_t total = sizeof(Header) + attrs * sizeof(sluice_attribute) + text + 1;
  void* raw = ::operator new(total);
  auto* h = new (raw) Header;
  h->bytes = static_cast<uint32_t>(total > UINT32_MAX ? UINT32_MAX : total);
  auto* attr_array =
      reinterpret_cast<sluice_attribute*>(reinterpret_cast<char*>(raw) + sizeof(Header));
  char* cursor = reinterpret_cast<char*>(attr_array + attrs);

  sluice_event& e = h->event;
  e.struct_size = sizeof(sluice_event);
  e.id = copy(p.id, &cursor);
  e.source = copy(p.source, &cursor);
  e.type = copy(p.type, &cursor);
  e.subject = copy(p.subject, &cursor);
  e.time_unix_ns = p.time_unix_ns;
  size_t n = 0;
  for (size_t i = 0; i < p.attribute_count; ++i) {
    if (skipped(p.attributes[i], p.skip_key)) continue;
    attr_array[n].key = copy(p.attributes[i].key, &cursor);
    attr_array[n].value = copy(p.attributes[i].value, &cursor);
    ++n;
  }
  for (size_t i = 0; i < p.extra_attribute_count; ++i, ++n) {
    attr_array[n].key = copy(p.extra_attributes[i].key, &cursor);
    attr_array[n].value = copy(p.extra_attributes[i].value, &cursor);
  }
  e.attributes = attrs ? attr_array : nullptr;
  e.attribute_count = attrs;
  e.data = copy(p.data, &cursor);
  *cursor = '\0';
  return EventPtr(h);
}

void EventPtr::destroy(Header* h) {
  h->~Header();
  ::operator delete(static_cast<void*>(h));
}

}  // namespace sluice::core
