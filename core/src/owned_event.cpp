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

// A source's fields often lie back to back in one buffer, in the order they are copied below
// (the SDK's PackedEvents writes them so): id, source, type, subject, each attribute's key and
// value, data. Then one memcpy moves them all, instead of some 35 small ones. Every byte of such
// a run belongs to a field, so nothing else of the plugin's memory is read; that holds too when
// the fields are separate objects that happen to lie back to back.
class Run {
 public:
  void link(sluice_str s) {
    if (broken_ || !s.data || s.size == 0) return;  // an empty field needs no bytes
    if (!begin_) {
      begin_ = s.data;
    } else if (s.data != end_) {
      broken_ = true;
      return;
    }
    end_ = s.data + s.size;
  }
  void break_off() { broken_ = true; }
  bool whole() const { return !broken_ && begin_; }
  const char* begin() const { return begin_; }
  size_t size() const { return static_cast<size_t>(end_ - begin_); }

 private:
  const char* begin_ = nullptr;
  const char* end_ = nullptr;
  bool broken_ = false;
};

EventPtr EventPtr::make(const EventParts& p) {
  size_t attrs = p.extra_attribute_count;
  size_t text = str_bytes(p.id) + str_bytes(p.source) + str_bytes(p.type) + str_bytes(p.subject) +
                str_bytes(p.data);
  Run run;
  run.link(p.id);
  run.link(p.source);
  run.link(p.type);
  run.link(p.subject);
  for (size_t i = 0; i < p.attribute_count; ++i) {
    if (skipped(p.attributes[i], p.skip_key)) {
      run.break_off();  // its bytes would be copied for nothing
      continue;
    }
    ++attrs;
    text += str_bytes(p.attributes[i].key) + str_bytes(p.attributes[i].value);
    run.link(p.attributes[i].key);
    run.link(p.attributes[i].value);
  }
  run.link(p.data);  // last: the NUL below ends it
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
  const size_t plugin_attrs = attrs - p.extra_attribute_count;

  sluice_event& e = h->event;
  e.struct_size = sizeof(sluice_event);
  e.time_unix_ns = p.time_unix_ns;
  if (run.whole()) {
    for (size_t i = 0; i < p.extra_attribute_count; ++i) {
      attr_array[plugin_attrs + i].key = copy(p.extra_attributes[i].key, &cursor);
      attr_array[plugin_attrs + i].value = copy(p.extra_attributes[i].value, &cursor);
    }
    char* const moved = cursor;
    memcpy(moved, run.begin(), run.size());
    cursor += run.size();
    // Where a field landed: same offset in the run; an empty one points at the final NUL.
    auto rebased = [&](sluice_str s) -> sluice_str {
      if (!s.data) return sluice_str{nullptr, 0};
      if (s.size == 0) return sluice_str{cursor, 0};
      return sluice_str{moved + (s.data - run.begin()), s.size};
    };
    e.id = rebased(p.id);
    e.source = rebased(p.source);
    e.type = rebased(p.type);
    e.subject = rebased(p.subject);
    for (size_t i = 0; i < plugin_attrs; ++i) {
      attr_array[i].key = rebased(p.attributes[i].key);
      attr_array[i].value = rebased(p.attributes[i].value);
    }
    e.data = rebased(p.data);
  } else {
    e.id = copy(p.id, &cursor);
    e.source = copy(p.source, &cursor);
    e.type = copy(p.type, &cursor);
    e.subject = copy(p.subject, &cursor);
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
    e.data = copy(p.data, &cursor);
  }
  e.attributes = attrs ? attr_array : nullptr;
  e.attribute_count = attrs;
  *cursor = '\0';
  return EventPtr(h);
}

void EventPtr::destroy(Header* h) {
  h->~Header();
  ::operator delete(static_cast<void*>(h));
}

}  // namespace sluice::core
