// Events packed into a few flat buffers, for sources whose hot path must not allocate per event.
//
// A sluice::Event owns one std::string per field and a vector of attribute pairs: fine for a few
// events, but at hundreds of thousands per second the allocations (and, when another thread
// frees them, the allocator's lock) cost more than the work itself. PackedEvents copies every
// field of every event into one byte buffer and keeps offsets; clear() keeps the capacity, so a
// batch that is filled, emitted, cleared and filled again allocates nothing once it has grown.
// Moving or swapping a PackedEvents hands the whole batch to another thread in O(1).
//
// The text lives in a buffer of its own rather than a std::string: std::string::append is
// compiled into libstdc++ (never inlined), and a source appends some 35 fields per event; the
// inline capacity check and memcpy here took that cost down (bench/e2e/README.md).
//
//   sluice::PackedEvents batch;
//   batch.begin(id, source, "hmc.os-message");   // starts an event; fields follow
//   batch.subject(uri);
//   batch.attribute("destination", dest);
//   batch.data(json_text);
//   host().emit(batch.views(), batch.size());
#pragma once

#include <sluice/plugin.h>
#include <sluice/event.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

class PackedEvents {
 public:
  size_t size() const { return events_.size(); }
  bool empty() const { return events_.empty(); }
  // Bytes of field text held (an estimate of the batch's size for queue bounds).
  size_t bytes() const { return text_size_; }

  PackedEvents() = default;
  PackedEvents(const PackedEvents&) = default;
  PackedEvents& operator=(const PackedEvents&) = default;
  // A moved-from batch is empty and usable (its text size goes with the buffer).
  PackedEvents(PackedEvents&& o) noexcept { swap(o); }
  PackedEvents& operator=(PackedEvents&& o) noexcept {
    if (this != &o) {
      PackedEvents gone(std::move(*this));
      swap(o);
    }
    return *this;
  }
  void swap(PackedEvents& o) noexcept {
    text_.swap(o.text_);
    std::swap(text_size_, o.text_size_);
    events_.swap(o.events_);
    attributes_.swap(o.attributes_);
    views_.swap(o.views_);
    attribute_views_.swap(o.attribute_views_);
  }
  friend void swap(PackedEvents& a, PackedEvents& b) noexcept { a.swap(b); }

  // Forgets every event; keeps the buffers for the next batch.
  void clear() {
    text_size_ = 0;
    events_.clear();
    attributes_.clear();
  }

  // Starts a new event: the setters below fill it until the next begin().
  void begin(std::string_view id, std::string_view source, std::string_view type) {
    Slot& s = events_.emplace_back();
    s.id = put(id);
    s.source = put(source);
    s.type = put(type);
    s.first_attribute = attributes_.size();
  }
  void subject(std::string_view text) { current().subject = put(text); }
  void time_unix_ns(int64_t t) { current().time_unix_ns = t; }
  // JSON text, stored as given (the host validates it on emit).
  void data(std::string_view json) { current().data = put(json); }
  void attribute(std::string_view key, std::string_view value) {
    attributes_.push_back({put(key), put(value)});
    ++current().attribute_count;
  }

  // Appends a whole event.
  void add(const Event& e) {
    begin(e.id, e.source, e.type);
    if (e.subject) subject(*e.subject);
    time_unix_ns(e.time_unix_ns);
    for (const auto& [k, v] : e.attributes)
      attribute(k, v);
    if (e.data) data(*e.data);
  }
  // Appends every event of `other`, in order (`other` may be this batch itself).
  void append(const PackedEvents& other) {
    if (&other == this) {
      const PackedEvents copy(other);
      return append(copy);
    }
    const size_t text_base = text_size_, attribute_base = attributes_.size();
    put(std::string_view(other.text_.data(), other.text_size_));
    for (Slot s : other.events_) {
      s.id.offset += text_base;
      s.source.offset += text_base;
      s.type.offset += text_base;
      if (s.subject.present()) s.subject.offset += text_base;
      if (s.data.present()) s.data.offset += text_base;
      s.first_attribute += attribute_base;
      events_.push_back(s);
    }
    for (AttributeSlot a : other.attributes_) {
      a.key.offset += text_base;
      a.value.offset += text_base;
      attributes_.push_back(a);
    }
  }

  // The events as the C ABI wants them; valid until this object is next changed.
  const sluice_event* views() {
    views_.resize(events_.size());
    attribute_views_.resize(attributes_.size());
    for (size_t i = 0; i < attributes_.size(); ++i)
      attribute_views_[i] = {view(attributes_[i].key), view(attributes_[i].value)};
    for (size_t i = 0; i < events_.size(); ++i) {
      const Slot& s = events_[i];
      sluice_event& v = views_[i];
      v = sluice_event{};
      v.struct_size = sizeof(sluice_event);
      v.id = view(s.id);
      v.source = view(s.source);
      v.type = view(s.type);
      v.subject = view(s.subject);
      v.time_unix_ns = s.time_unix_ns;
      v.attributes = attribute_views_.data() + s.first_attribute;
      v.attribute_count = s.attribute_count;
      v.data = view(s.data);
    }
    return views_.data();
  }

  // A copy of the i-th event (for tests and slow paths).
  Event event(size_t i) const {
    const Slot& s = events_[i];
    auto text = [this](Span span) { return std::string(text_.data() + span.offset, span.size); };
    Event e;
    e.id = text(s.id);
    e.source = text(s.source);
    e.type = text(s.type);
    if (s.subject.present()) e.subject = text(s.subject);
    e.time_unix_ns = s.time_unix_ns;
    for (size_t a = s.first_attribute; a < s.first_attribute + s.attribute_count; ++a)
      e.attribute(text(attributes_[a].key), text(attributes_[a].value));
    if (s.data.present()) e.data = text(s.data);
    return e;
  }

 private:
  struct Span {
    static constexpr size_t kAbsent = ~size_t{0};
    size_t offset = kAbsent;
    size_t size = 0;
    bool present() const { return offset != kAbsent; }
  };
  struct Slot {
    Span id, source, type, subject, data;
    int64_t time_unix_ns = 0;
    size_t first_attribute = 0;
    size_t attribute_count = 0;
  };
  struct AttributeSlot {
    Span key, value;
  };

  Slot& current() { return events_.back(); }  // begin() must come first
  // Inline: a capacity check and a memcpy; growing is the rare, out-of-line part.
  Span put(std::string_view text) {
    const size_t at = text_size_;
    // Never a null data(): an empty field is present (a pointer), unlike an absent one.
    if (__builtin_expect(text_.size() - at < text.size() || text_.empty(), 0)) grow(text.size());
    if (!text.empty()) std::memcpy(text_.data() + at, text.data(), text.size());
    text_size_ = at + text.size();
    return Span{at, text.size()};
  }
  [[gnu::noinline]] void grow(size_t more) {  // doubling: appends stay amortised O(1)
    text_.resize(std::max({text_.size() * 2, text_size_ + more, size_t{4096}}));
  }
  sluice_str view(Span s) const {
    return s.present() ? sluice_str{text_.data() + s.offset, s.size} : absent_str();
  }

  std::vector<char> text_;  // text_size_ bytes in use; the rest is room to grow
  size_t text_size_ = 0;
  std::vector<Slot> events_;
  std::vector<AttributeSlot> attributes_;
  std::vector<sluice_event> views_;
  std::vector<sluice_attribute> attribute_views_;
};

}  // namespace sluice
