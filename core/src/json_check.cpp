#include <sluice/core/json_check.hpp>

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

}  // namespace sluice::core
