// Owning and borrowed C++ views of sluice_event, shared by the SDK, the core and the plugins.
#pragma once

#include <sluice/plugin.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice {

inline std::string_view to_view(sluice_str s) {
  return s.data ? std::string_view(s.data, s.size) : std::string_view();
}
inline sluice_str to_str(std::string_view s) {
  return sluice_str{s.data(), s.size()};
}
inline sluice_str absent_str() {
  return sluice_str{nullptr, 0};
}

// Read access to a borrowed event (what a sink receives).
class EventRef {
 public:
  explicit EventRef(const sluice_event& e) : e_(&e) {}
  std::string_view id() const { return to_view(e_->id); }
  std::string_view source() const { return to_view(e_->source); }
  std::string_view type() const { return to_view(e_->type); }
  std::string_view subject() const { return to_view(e_->subject); }
  bool has_subject() const { return e_->subject.data != nullptr; }
  int64_t time_unix_ns() const { return e_->time_unix_ns; }
  bool has_data() const { return e_->data.data != nullptr; }
  std::string_view data() const { return to_view(e_->data); }
  size_t attribute_count() const { return e_->attribute_count; }
  std::string_view attribute_key(size_t i) const { return to_view(e_->attributes[i].key); }
  std::string_view attribute_value(size_t i) const { return to_view(e_->attributes[i].value); }
  std::optional<std::string_view> attribute(std::string_view key) const {
    for (size_t i = 0; i < e_->attribute_count; ++i)
      if (attribute_key(i) == key) return attribute_value(i);
    return std::nullopt;
  }
  const sluice_event& raw() const { return *e_; }

 private:
  const sluice_event* e_;
};

// An event a source builds and owns. `data` holds JSON text; nullopt is null data.
struct Event {
  std::string id;
  std::string source;
  std::string type;
  std::optional<std::string> subject;
  int64_t time_unix_ns = 0;  // 0: the host stamps the time of receipt
  std::vector<std::pair<std::string, std::string>> attributes;
  std::optional<std::string> data;

  Event& attribute(std::string key, std::string value) {
    attributes.emplace_back(std::move(key), std::move(value));
    return *this;
  }

  std::optional<std::string_view> find_attribute(std::string_view key) const {
    for (const auto& [k, v] : attributes)
      if (k == key) return std::string_view(v);
    return std::nullopt;
  }

  static Event copy_of(const sluice_event& e) {
    EventRef r(e);
    Event out;
    out.id = r.id();
    out.source = r.source();
    out.type = r.type();
    if (r.has_subject()) out.subject = std::string(r.subject());
    out.time_unix_ns = r.time_unix_ns();
    out.attributes.reserve(r.attribute_count());
    for (size_t i = 0; i < r.attribute_count(); ++i)
      out.attributes.emplace_back(std::string(r.attribute_key(i)),
                                  std::string(r.attribute_value(i)));
    if (r.has_data()) out.data = std::string(r.data());
    return out;
  }
};

// Borrowed sluice_event views over a range of owned Events; keeps the attribute arrays alive.
class EventViews {
 public:
  EventViews() = default;
  template <typename It>
  EventViews(It first, It last) {
    assign(first, last);
  }
  explicit EventViews(const std::vector<Event>& events) { assign(events.begin(), events.end()); }

  template <typename It>
  void assign(It first, It last) {
    views_.clear();
    attributes_.clear();
    size_t n = 0, attrs = 0;
    for (It it = first; it != last; ++it, ++n)
      attrs += it->attributes.size();
    views_.reserve(n);
    attributes_.reserve(attrs);  // never reallocates below, so pointers into it stay valid
    for (It it = first; it != last; ++it) {
      const Event& e = *it;
      sluice_event v{};
      v.struct_size = sizeof(sluice_event);
      v.id = to_str(e.id);
      v.source = to_str(e.source);
      v.type = to_str(e.type);
      v.subject = e.subject ? to_str(*e.subject) : absent_str();
      v.time_unix_ns = e.time_unix_ns;
      v.attributes = attributes_.data() + attributes_.size();
      for (const auto& [k, val] : e.attributes)
        attributes_.push_back({to_str(k), to_str(val)});
      v.attribute_count = e.attributes.size();
      v.data = e.data ? to_str(*e.data) : absent_str();
      views_.push_back(v);
    }
  }
  const sluice_event* data() const { return views_.data(); }
  size_t size() const { return views_.size(); }

 private:
  std::vector<sluice_event> views_;
  std::vector<sluice_attribute> attributes_;
};

}  // namespace sluice
