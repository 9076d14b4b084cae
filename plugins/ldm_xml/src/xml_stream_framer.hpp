// Incremental framer for an XMPP stream as ldmd speaks it: skips the XML declaration, reports the
// `<stream:stream ...>` opening, yields every complete depth-1 element as text whatever the read
// boundaries are, and reports `</stream:stream>`. Pure (no I/O), so it is tested and fuzzed alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::ldm {

struct FramerLimits {
  size_t max_element_bytes = 4u << 20;  // one depth-1 element, tags and all
  size_t max_depth = 64;                // nesting inside the stream element
};

struct FramedItem {
  enum class Kind { stream_open, element, stream_close };
  Kind kind = Kind::element;
  std::string text;  // stream_open: the opening tag; element: the whole element; close: the tag
};

class XmlStreamFramer {
 public:
  explicit XmlStreamFramer(FramerLimits limits = {}) : limits_(limits) {}

  // Consumes `data`, appending what completed to `out`. Returns false once the stream broke a
  // rule (limit, DOCTYPE, not XML); error() says which. After an error, feed() does nothing
  // until reset().
  bool feed(std::string_view data, std::vector<FramedItem>& out);

  // Forget everything: a new stream starts (after STARTTLS or SASL success, or a reconnect).
  void reset();

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  bool stream_open() const { return opened_ && !closed_; }
  bool stream_closed() const { return closed_; }
  // Bytes of an element begun but not finished (what a connection loss would cut off).
  size_t pending_bytes() const { return capture_.size(); }
  // Non-whitespace characters found between depth-1 elements (ignored, counted).
  uint64_t stray_text_bytes() const { return stray_text_; }

 private:
  enum class State {
    text,          // character data (between elements or inside one)
    lt,            // just read '<'
    bang,          // read "<!", collecting up to 8 characters to tell comment/CDATA/DOCTYPE
    comment,       // inside <!-- ... -->
    cdata,         // inside <![CDATA[ ... ]]>
    pi,            // inside <? ... ?>
    start_name,    // start tag name
    start_attrs,   // start tag, between or inside attribute names
    start_quoted,  // start tag, inside a quoted attribute value
    start_slash,   // start tag, read '/' (self-closing unless something else follows)
    end_tag,       // end tag, up to '>'
  };

  bool fail(std::string message);
  void begin_capture(const char* p);
  void finish_markup(const char* end, std::vector<FramedItem>& out, FramedItem::Kind kind);
  void on_start_tag_end(bool self_closing, const char* end, std::vector<FramedItem>& out);
  void on_end_tag_end(const char* end, std::vector<FramedItem>& out);
  bool check_size(const char* p);

  FramerLimits limits_;
  State state_ = State::text;
  size_t depth_ = 0;  // 0: before the stream opening; 1: between stream children; n: inside
  bool opened_ = false;
  bool closed_ = false;
  bool capturing_ = false;
  const char* mark_ = nullptr;  // where capturing started in the current chunk
  std::string capture_;         // bytes captured in earlier chunks
  std::string bang_;            // characters after "<!"
  std::string name_;            // name of the tag being read (depth <= 1 only)
  char quote_ = 0;
  int match_ = 0;  // progress through the terminator of a comment/CDATA/PI
  uint64_t stray_text_ = 0;
  std::string error_;
};

}  // namespace sluice::ldm
