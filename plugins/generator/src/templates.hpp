// Synthetic events shaped like what the real sources emit: HMC notifications as hmc_stomp maps
// them, LDoms events as ldm_xml maps them, and a tiny event for benchmarks.
#pragma once

#include <sluice/event.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::generator {

enum class Template {
  hmc_os_message,
  hmc_property_change,
  hmc_status_change,
  hmc_job_completion,
  hmc_inventory_change,
  ldm_domain,
  ldm_resource,
  ldm_hardware,
  ldm_progress,
  mixed,
  minimal
};

// "hmc-os-message" → Template::hmc_os_message; throws std::invalid_argument naming the choices.
Template parse_template(std::string_view name);

// Fills events in place: every string is assigned, not rebuilt, so an Event reused from the
// previous batch costs no allocation once its strings have grown to size.
class TemplateFiller {
 public:
  TemplateFiller(Template t, uint64_t seed, std::string source);

  // Fills `e` as the n-th event (n from 1) with id `id` and time `time_unix_ns`.
  void fill(Event& e, std::string_view id, uint64_t n, int64_t time_unix_ns);

 private:
  struct Object {  // a partition or LPAR the fake HMC knows
    std::string cls, name, object_id, object_uri, os_topic;
  };
  struct Destination {
    std::string name, subscription;
    uint64_t sequence = 0;
  };

  void hmc_common(Event& e, std::string_view id, Destination& dest, std::string_view type,
                  const Object* object, int64_t time_unix_ns);
  void finish_hmc(Event& e);
  void os_message(Event& e, std::string_view id, int64_t time_unix_ns);
  void property_change(Event& e, std::string_view id, int64_t time_unix_ns);
  void status_change(Event& e, std::string_view id, int64_t time_unix_ns);
  void job_completion(Event& e, std::string_view id, int64_t time_unix_ns);
  void inventory_change(Event& e, std::string_view id, int64_t time_unix_ns);
  void ldm_common(Event& e, std::string_view id, std::string_view cls, std::string_view action,
                  const std::string* domain, int64_t time_unix_ns);
  void ldm_domain(Event& e, std::string_view id, int64_t time_unix_ns);
  void ldm_resource(Event& e, std::string_view id, int64_t time_unix_ns);
  void ldm_hardware(Event& e, std::string_view id, int64_t time_unix_ns);
  void ldm_progress(Event& e, std::string_view id, int64_t time_unix_ns);
  void minimal(Event& e, std::string_view id, uint64_t n, int64_t time_unix_ns);

  size_t pick(size_t n) { return static_cast<size_t>(rng_() % n); }
  // Sets attribute slot i (growing the list only when it is too short).
  void set_attribute(Event& e, size_t i, std::string_view key, std::string_view value);

  Template template_;
  std::mt19937_64 rng_;
  std::string source_;
  std::vector<Object> objects_;
  std::vector<Destination> os_destinations_;  // one per object: its OS message channel
  Destination object_topic_, job_topic_;
  std::vector<std::string> domains_;
  uint64_t global_sequence_ = 0;
  uint64_t os_sequence_ = 0;
  size_t attribute_count_ = 0;  // attributes set on the event being filled
  std::string scratch_;
};

}  // namespace sluice::generator
