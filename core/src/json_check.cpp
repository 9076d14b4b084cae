#include <sluice/core/json_check.hpp>

#include <sluice/format.hpp>
#include <sluice/json_check.hpp>

#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <nlohmann/json.hpp>

namespace sluice::core {

bool json_valid_rapidjson(std::string_view text) {
  // Iterative: a hostile "[[[[..." cannot overflow the stack. UTF-8 is validated.
  constexpr unsigned flags = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;
  rapidjson::MemoryStream stream(text.data(), text.size());
  rapidjson::BaseReaderHandler<> handler;
  rapidjson::Reader reader;
  return !reader.Parse<flags>(stream, handler).IsError();
}

bool json_valid_nlohmann(std::string_view text) {
  return nlohmann::json::accept(text.begin(), text.end());
}

void append_json_string_lossy(std::string& out, std::string_view text) {
  std::string clean;
  clean.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t n = utf8_sequence_length(text, i);
    if (n == 0) {
      clean += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    } else {
      clean.append(text.data() + i, n);
      i += n;
    }
  }
  append_json_string(out, clean);
}

}  // namespace sluice::core
