// {placeholder} templates over one event: the webhook's headers and bulk metadata, the kafka
// sink's topic and key, the syslog sink's text body. One syntax for every plugin:
//   {type} {source} {subject} {id}  the event's fields ({subject} is empty when it has none)
//   {attr:NAME}                     the value of the event's attribute NAME, empty without one
// and whatever names a plugin adds with its own `extra` (the syslog sink's {time} and {data}).
// Other text, including unknown names and unpaired braces, stays as it is. The expansion is not
// escaped: a plugin that puts it where some characters are dangerous (an HTTP header, a topic
// name) checks the result itself.
#pragma once

#include <sluice/plugin.h>
#include <sluice/event.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace sluice {

// The value of a name the common syntax knows (see above), or nullopt for any other name.
inline std::optional<std::string_view> template_field(std::string_view name,
                                                      const sluice_event& event) {
  EventRef e(event);
  if (name == "type") return e.type();
  if (name == "source") return e.source();
  if (name == "subject") return e.subject();
  if (name == "id") return e.id();
  if (name.substr(0, 5) == "attr:") return e.attribute(name.substr(5)).value_or(std::string_view());
  return std::nullopt;
}

// Expands `text` for `event`. `extra(name, out)` is asked first about every {name}: it appends
// the value to `out` and returns true for a name of its own, returns false for any other name
// (and leaves `out` alone).
template <typename Extra>
std::string expand_template(std::string_view text, const sluice_event& event, Extra&& extra) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '{') {
      const size_t close = text.find('}', i);
      if (close != std::string_view::npos) {
        const std::string_view name = text.substr(i + 1, close - i - 1);
        bool known = extra(name, out);
        if (!known) {
          if (auto value = template_field(name, event)) {
            out.append(*value);
            known = true;
          }
        }
        if (known) {
          i = close + 1;
          continue;
        }
      }
    }
    out.push_back(text[i++]);
  }
  return out;
}

// Expands `text` for `event` with the common names only.
inline std::string expand_template(std::string_view text, const sluice_event& event) {
  return expand_template(text, event, [](std::string_view, std::string&) { return false; });
}

}  // namespace sluice
