// LDM_event documents → sluice events. See plugins/ldm_xml/README.md for the JSON shape.
#pragma once

#include <sluice/event.hpp>

#include <string>
#include <string_view>

namespace sluice::ldm {

enum class EventClass { domain, resource, hardware, progress, other };

const char* class_name(EventClass c);

// The class an action belongs to (progress is decided from the content, not the action).
EventClass classify_action(std::string_view action);

// Local part of a possibly prefixed XML name: "ovf:id" → "id".
std::string_view local_name(std::string_view qualified);

// Local name of the first element of a document, read without parsing it ("" if none).
std::string_view root_name(std::string_view xml);

// True if the text holds a DOCTYPE declaration anywhere (such documents are refused).
bool has_doctype(std::string_view xml);

// "45%" → 45, "12.5 %" → 12.5; false if the text is not a percentage or number.
bool parse_percent(std::string_view text, double& value);

class EventMapper {
 public:
  // host: the ldmd host, making the source URI ldm://<host>.
  explicit EventMapper(const std::string& host);

  // One LDM_event element (its whole text) → event of type ldm.<class>.<action>, or
  // sluice.parse-error carrying the raw text when it cannot be read. `id` is used as given.
  Event map(std::string_view xml, std::string id) const;

  // A sluice.parse-error event: data {"error": reason, "raw": raw}.
  Event parse_error(std::string_view raw, std::string_view reason, std::string id) const;

  const std::string& source() const { return source_; }

 private:
  std::string source_;
};

}  // namespace sluice::ldm
