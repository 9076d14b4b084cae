// libFuzzer target for the HMC WS API's JSON answers (sluice::hmc::answers: logon,
// get-notification- topics, the CPC / partition / LPAR list operations, open-os-message-channel,
// error bodies; the inventory's readers of the list answers and of property-change bodies that
// name the attributes cpc and partition). The first byte is a flag (whether logon needs a session
// credential), the rest the body, parsed as the client parses it. Invariant: sluice::hmc::ApiError
// is the only exception.
#include "inventory.hpp"
#include "ws_api_answers.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool need_credential = data[0] & 1;
  const unsigned status = 400 + data[0] % 200;
  nlohmann::json body =
      nlohmann::json::parse(reinterpret_cast<const char*>(data + 1),
                            reinterpret_cast<const char*>(data + size), nullptr, false);
  if (body.is_discarded()) body = nullptr;
  namespace a = sluice::hmc::answers;
  try {
    (void)a::logon(body, need_credential);
  } catch (const sluice::hmc::ApiError&) {
  }
  try {
    const nlohmann::json topics = a::topics(body);
    (void)a::topics_of_types(topics, {"object-notification", "os-message-notification"});
    (void)a::channel_topic(topics, "/api/partitions/p2");
  } catch (const sluice::hmc::ApiError&) {
  }
  (void)a::topics_of_types(body, {"object-notification"});
  (void)a::channel_topic(body, "");
  for (const char* list : {"cpcs", "partitions", "logical-partitions"})
    for (const char* name : {"CPC1", "LINUX1", ""})
      (void)a::uri_by_name(body, list, name);
  // The inventory skips what it cannot read, and never throws.
  sluice::hmc::Inventory inv;
  for (const auto& cpc : inv.add_cpcs(body)) {
    if (sluice::hmc::object_kind(cpc.uri) != sluice::hmc::ObjectKind::cpc) __builtin_trap();
    (void)inv.add_members(body, "partitions", cpc.uri);
    (void)inv.add_members(body, "logical-partitions", cpc.uri);
  }
  (void)sluice::hmc::renamed_to(
      std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
  try {
    (void)a::opened_topic(body);
  } catch (const sluice::hmc::ApiError&) {
  }
  const sluice::hmc::ApiError e = a::error("GET /api/cpcs", status, body);
  if (e.status != status || e.reason < 0) __builtin_trap();
  (void)e.session_gone();
  return 0;
}
