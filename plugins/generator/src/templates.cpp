#include "templates.hpp"

#include <sluice/format.hpp>

#include <charconv>
#include <stdexcept>

namespace sluice::generator {

namespace {

struct Named {
  const char* name;
  Template value;
};
constexpr Named kTemplates[] = {
    {"hmc-os-message", Template::hmc_os_message},
    {"hmc-property-change", Template::hmc_property_change},
    {"hmc-status-change", Template::hmc_status_change},
    {"hmc-job-completion", Template::hmc_job_completion},
    {"hmc-inventory-change", Template::hmc_inventory_change},
    {"ldm-domain", Template::ldm_domain},
    {"ldm-resource", Template::ldm_resource},
    {"ldm-hardware", Template::ldm_hardware},
    {"ldm-progress", Template::ldm_progress},
    {"mixed", Template::mixed},
    {"minimal", Template::minimal},
};

void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out.append(buf, end);
}

void append_uuid(std::string& out, std::mt19937_64& rng) {
  static const char* const hex = "0123456789abcdef";
  uint64_t a = rng(), b = rng();
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) out.push_back('-');
    uint64_t word = i < 16 ? a : b;
    out.push_back(hex[(word >> ((i % 16) * 4)) & 0xf]);
  }
}

// OS messages as z/OS and Linux consoles print them.
struct OsMessage {
  const char* id;
  const char* text;
  const char* os;
};
constexpr OsMessage kOsMessages[] = {
    {"IEE252I", "IEE252I MEMBER CTIEZB00 FOUND IN SYS1.PARMLIB\n", "ZOS1"},
    {"IEF403I", "IEF403I DAILYBKP - STARTED - TIME=02.00.01\n", "ZOS1"},
    {"$HASP373", "$HASP373 DAILYBKP STARTED - INIT 1 - CLASS A - SYS ZOS1\n", "ZOS1"},
    {"IEA989I", "IEA989I SLIP TRAP ID=X33E MATCHED.  JOBNAME=*UNAVAIL, ASID=001A.\n", "ZOS1"},
    {"", "systemd[1]: Started Session 42 of user root.\n", "LINUX1"},
    {"", "kernel: qeth 0.0.0600: The device represents a Bridge Capable Port\n", "LINUX1"},
};

constexpr const char* kStatuses[] = {"active",   "stopped", "starting",  "stopping",
                                     "degraded", "paused",  "terminated"};

constexpr const char* kDomainActions[] = {"add-domain",    "remove-domain", "bind-domain",
                                          "unbind-domain", "start-domain",  "stop-domain",
                                          "domain-reset",  "panic-domain",  "migrate-domain"};

// A resource object of the ldm resource actions, with the Item ldm_xml maps it to.
struct Resource {
  const char* object;
  const char* resource_type;
  const char* keys[3];
  const char* values[3];
};
constexpr Resource kResources[] = {
    {"vcpu", "cpu", {"number"}, {"8"}},
    {"crypto", "mau", {"number"}, {"1"}},
    {"memory", "memory", {"size"}, {"8G"}},
    {"io", "io", {"name"}, {"pci_1"}},
    {"variable", "var", {"name", "value"}, {"auto-boot?", "true"}},
    {"vconscon", "vcc", {"service_name", "min_port", "max_port"}, {"primary-vcc0", "5000", "5100"}},
    {"vdisk",
     "disk",
     {"vdisk_name", "service_name", "vol_name"},
     {"vdisk0", "primary-vds0", "vol0"}},
    {"vdiskserver", "vds", {"service_name"}, {"primary-vds0"}},
    {"vdiskserverdevice",
     "vds_volume",
     {"service_name", "vol_name", "block_dev"},
     {"primary-vds0", "vol0", "/dev/zvol/dsk/ldoms/disk0"}},
    {"vnet", "network", {"vnet_name", "service_name"}, {"vnet0", "primary-vsw0"}},
    {"vswitch", "vsw", {"service_name", "dev_path"}, {"primary-vsw0", "net0"}},
    {"vdpcs", "vdpcs", {"service_name"}, {"primary-vdpcs0"}},
    {"vdpcc", "vdpcc", {"vdpcc_name", "service_name"}, {"vdpcc0", "primary-vdpcs0"}},
    {"vconsole", "vcons", {"service_name", "port"}, {"primary-vcc0", "5001"}},
};
constexpr const char* kVerbs[] = {"add-", "set-", "remove-"};

// The sections array of ldm_xml's data with one section holding one item.
void append_one_item_section(std::string& out, std::string_view resource_type,
                             const char* const* keys, const std::string_view* values, size_t n) {
  out += "[{\"type\":\"ResourceAllocationSection\",\"items\":[{\"resource_type\":";
  append_json_string(out, resource_type);
  out += ",\"properties\":{";
  for (size_t i = 0; i < n; ++i) {
    if (i) out.push_back(',');
    append_json_string(out, keys[i]);
    out.push_back(':');
    append_json_string(out, values[i]);
  }
  out += "}}]}]";
}

std::string& data_of(Event& e) {
  if (!e.data) e.data.emplace();
  e.data->clear();
  return *e.data;
}

}  // namespace

Template parse_template(std::string_view name) {
  for (const auto& t : kTemplates)
    if (name == t.name) return t.value;
  std::string choices;
  for (const auto& t : kTemplates)
    choices += (choices.empty() ? "" : ", ") + std::string(t.name);
  throw std::invalid_argument("template: '" + std::string(name) + "' is not one of " + choices);
}

TemplateFiller::TemplateFiller(Template t, uint64_t seed, std::string source)
    : template_(t), rng_(seed), source_(std::move(source)) {
  // A small estate, the same for the same seed: 4 DPM partitions and 4 classic LPARs.
  for (int i = 0; i < 8; ++i) {
    Object o;
    bool dpm = i < 4;
    o.cls = dpm ? "partition" : "logical-partition";
    o.name = (dpm ? "PART0" : "LPAR0") + std::to_string(i % 4 + 1);
    append_uuid(o.object_id, rng_);
    o.object_uri = (dpm ? "/api/partitions/" : "/api/logical-partitions/") + o.object_id;
    Destination d;
    d.name = "/topic/generator." + std::to_string(i + 1) + "osm." + o.object_id;
    d.subscription = "sub-" + std::to_string(i + 3);
    os_destinations_.push_back(std::move(d));
    objects_.push_back(std::move(o));
  }
  object_topic_ = {"/topic/generator.notifications", "sub-1", 0};
  job_topic_ = {"/topic/generator.job-notifications", "sub-2", 0};
  domains_ = {"primary", "ldg1", "ldg2", "ldg3", "ldg4"};
}

void TemplateFiller::set_attribute(Event& e, size_t i, std::string_view key,
                                   std::string_view value) {
  if (e.attributes.size() <= i) {
    e.attributes.emplace_back(key, value);
  } else {
    e.attributes[i].first.assign(key);
    e.attributes[i].second.assign(value);
  }
}

void TemplateFiller::fill(Event& e, std::string_view id, uint64_t n, int64_t time_unix_ns) {
  attribute_count_ = 0;
  Template t = template_;
  if (t == Template::mixed) t = static_cast<Template>(pick(static_cast<size_t>(Template::mixed)));
  switch (t) {
    case Template::hmc_os_message:
      os_message(e, id, time_unix_ns);
      break;
    case Template::hmc_property_change:
      property_change(e, id, time_unix_ns);
      break;
    case Template::hmc_status_change:
      status_change(e, id, time_unix_ns);
      break;
    case Template::hmc_job_completion:
      job_completion(e, id, time_unix_ns);
      break;
    case Template::hmc_inventory_change:
      inventory_change(e, id, time_unix_ns);
      break;
    case Template::ldm_domain:
      ldm_domain(e, id, time_unix_ns);
      break;
    case Template::ldm_resource:
      ldm_resource(e, id, time_unix_ns);
      break;
    case Template::ldm_hardware:
      ldm_hardware(e, id, time_unix_ns);
      break;
    case Template::ldm_progress:
      ldm_progress(e, id, time_unix_ns);
      break;
    case Template::mixed:
    case Template::minimal:
      minimal(e, id, n, time_unix_ns);
      break;
  }
  // Only shrinks when a mixed stream goes from a longer attribute list to a shorter one.
  e.attributes.resize(attribute_count_);
}

// --- HMC ----------------------------------------------------------------------------------
// The headers of a MESSAGE frame in the order the HMC's broker sends them; hmc_stomp turns
// every header into an attribute, the message-id into the id, the timestamp into the time.
void TemplateFiller::hmc_common(Event& e, std::string_view id, Destination& dest,
                                std::string_view type, const Object* object, int64_t time_unix_ns) {
  e.id.assign(id);
  e.source.assign(source_);
  e.type.assign("hmc.");
  e.type.append(type);
  if (object)
    e.subject = object->object_uri;
  else
    e.subject.reset();
  e.time_unix_ns = time_unix_ns;
  size_t& i = attribute_count_;
  set_attribute(e, i++, "destination", dest.name);
  set_attribute(e, i++, "subscription", dest.subscription);
  set_attribute(e, i++, "message-id", id);
  set_attribute(e, i++, "notification-type", type);
  scratch_.clear();
  append_uint(scratch_, ++dest.sequence);
  set_attribute(e, i++, "session-sequence-nr", scratch_);
  scratch_.clear();
  append_uint(scratch_, ++global_sequence_);
  set_attribute(e, i++, "global-sequence-nr", scratch_);
  if (object) {
    set_attribute(e, i++, "class", object->cls);
    set_attribute(e, i++, "name", object->name);
    set_attribute(e, i++, "object-uri", object->object_uri);
    set_attribute(e, i++, "object-id", object->object_id);
  }
}

// The broker's trailing headers; content-length is the body's size.
void TemplateFiller::finish_hmc(Event& e) {
  size_t& i = attribute_count_;
  scratch_.clear();
  append_uint(scratch_, static_cast<uint64_t>(e.time_unix_ns / 1000000));
  set_attribute(e, i++, "timestamp", scratch_);
  set_attribute(e, i++, "expires", "0");
  set_attribute(e, i++, "priority", "4");
  scratch_.clear();
  append_uint(scratch_, e.data ? e.data->size() : 0);
  set_attribute(e, i++, "content-length", scratch_);
}

void TemplateFiller::os_message(Event& e, std::string_view id, int64_t time_unix_ns) {
  size_t k = pick(objects_.size());
  hmc_common(e, id, os_destinations_[k], "os-message", &objects_[k], time_unix_ns);
  const OsMessage& m = kOsMessages[pick(std::size(kOsMessages))];
  std::string& d = data_of(e);
  d += "{\"os-messages\":[{\"sequence-number\":";
  append_uint(d, ++os_sequence_);
  d += ",\"message-id\":";
  append_json_string(d, m.id);
  d += ",\"message-text\":";
  append_json_string(d, m.text);
  d += ",\"timestamp\":";
  append_uint(d, static_cast<uint64_t>(time_unix_ns / 1000000));
  d += ",\"sound-alarm\":false,\"is-priority\":false,\"is-held\":false,\"prompt-text\":\"\","
       "\"os-name\":";
  append_json_string(d, m.os);
  d += ",\"is-refresh\":false}]}";
  finish_hmc(e);
}

void TemplateFiller::property_change(Event& e, std::string_view id, int64_t time_unix_ns) {
  const Object& o = objects_[pick(objects_.size())];
  hmc_common(e, id, object_topic_, "property-change", &o, time_unix_ns);
  std::string& d = data_of(e);
  if (pick(2) == 0) {
    set_attribute(e, attribute_count_++, "property-names", " description ");
    d += "{\"change-reports\":[{\"property-name\":\"description\",\"old-value\":";
    scratch_.assign("generated description ");
    append_uint(scratch_, pick(100));
    append_json_string(d, scratch_);
    d += ",\"new-value\":";
    scratch_.assign("generated description ");
    append_uint(scratch_, pick(100));
    append_json_string(d, scratch_);
    d += "}]}";
  } else {
    set_attribute(e, attribute_count_++, "property-names", " cp-processors ");
    d += "{\"change-reports\":[{\"property-name\":\"cp-processors\",\"old-value\":";
    append_uint(d, 1 + pick(8));
    d += ",\"new-value\":";
    append_uint(d, 1 + pick(8));
    d += "}]}";
  }
  finish_hmc(e);
}

void TemplateFiller::status_change(Event& e, std::string_view id, int64_t time_unix_ns) {
  const Object& o = objects_[pick(objects_.size())];
  hmc_common(e, id, object_topic_, "status-change", &o, time_unix_ns);
  const char* from = kStatuses[pick(std::size(kStatuses))];
  const char* to = kStatuses[pick(std::size(kStatuses))];
  std::string& d = data_of(e);
  d += "{\"change-reports\":[{\"old-status\":";
  append_json_string(d, from);
  d += ",\"new-status\":";
  append_json_string(d, to);
  d += ",\"old-additional-status\":\"\",\"new-additional-status\":\"\","
       "\"has-unacceptable-status\":";
  d +=
      std::string_view(to) == "degraded" || std::string_view(to) == "terminated" ? "true" : "false";
  d += "}]}";
  finish_hmc(e);
}

void TemplateFiller::job_completion(Event& e, std::string_view id, int64_t time_unix_ns) {
  hmc_common(e, id, job_topic_, "job-completion", nullptr, time_unix_ns);
  scratch_ = "/api/jobs/";
  append_uuid(scratch_, rng_);
  set_attribute(e, attribute_count_++, "job-uri", scratch_);
  e.data.reset();  // the HMC sends an empty body: null data
  finish_hmc(e);
}

void TemplateFiller::inventory_change(Event& e, std::string_view id, int64_t time_unix_ns) {
  const Object& o = objects_[pick(objects_.size())];
  hmc_common(e, id, object_topic_, "inventory-change", &o, time_unix_ns);
  set_attribute(e, attribute_count_++, "action", pick(2) ? "add" : "remove");
  e.data.reset();  // empty body: null data
  finish_hmc(e);
}

// --- LDoms --------------------------------------------------------------------------------
// As ldm_xml maps an LDM_event: type ldm.<class>.<action>, subject the domain, attributes
// ldm-action, ldm-class, ldm-version, data {"domain", "action", "sections"[, progress...]}.
void TemplateFiller::ldm_common(Event& e, std::string_view id, std::string_view cls,
                                std::string_view action, const std::string* domain,
                                int64_t time_unix_ns) {
  e.id.assign(id);
  e.source.assign(source_);
  e.type.assign("ldm.");
  e.type.append(cls);
  e.type.push_back('.');
  e.type.append(action);
  if (domain)
    e.subject = *domain;
  else
    e.subject.reset();
  e.time_unix_ns = time_unix_ns;
  size_t& i = attribute_count_;
  set_attribute(e, i++, "ldm-action", action);
  set_attribute(e, i++, "ldm-class", cls);
  set_attribute(e, i++, "ldm-version", "1.0");
  std::string& d = data_of(e);
  d += "{\"domain\":";
  if (domain)
    append_json_string(d, *domain);
  else
    d += "null";
  d += ",\"action\":";
  append_json_string(d, action);
  d += ",\"sections\":";
}

void TemplateFiller::ldm_domain(Event& e, std::string_view id, int64_t time_unix_ns) {
  const std::string& domain = domains_[1 + pick(domains_.size() - 1)];
  ldm_common(e, id, "domain", kDomainActions[pick(std::size(kDomainActions))], &domain,
             time_unix_ns);
  *e.data += "[]}";
}

void TemplateFiller::ldm_resource(Event& e, std::string_view id, int64_t time_unix_ns) {
  const Resource& r = kResources[pick(std::size(kResources))];
  scratch_ = kVerbs[pick(std::size(kVerbs))];
  scratch_ += r.object;
  const std::string& domain = domains_[pick(domains_.size())];
  ldm_common(e, id, "resource", scratch_, &domain, time_unix_ns);
  std::string_view values[3];
  size_t n = 0;
  while (n < 3 && r.keys[n]) {
    values[n] = r.values[n];
    ++n;
  }
  append_one_item_section(*e.data, r.resource_type, r.keys, values, n);
  e.data->push_back('}');
}

void TemplateFiller::ldm_hardware(Event& e, std::string_view id, int64_t time_unix_ns) {
  static const char* const kActions[] = {"add-spconfig", "set-spconfig", "remove-spconfig"};
  static const char* const kKeys[] = {"spconfig_name", "spconfig_status"};
  const char* action = kActions[pick(std::size(kActions))];
  ldm_common(e, id, "hardware", action, nullptr, time_unix_ns);  // no Content: no domain
  scratch_.assign("config-");
  append_uint(scratch_, 1 + pick(4));
  std::string_view values[] = {scratch_,
                               std::string_view(action) == "remove-spconfig" ? "removed" : "next"};
  append_one_item_section(*e.data, "spconfig", kKeys, values, 2);
  e.data->push_back('}');
}

void TemplateFiller::ldm_progress(Event& e, std::string_view id, int64_t time_unix_ns) {
  static const char* const kKeys[] = {"progress", "status", "source"};
  const std::string& domain = domains_[1 + pick(domains_.size() - 1)];
  ldm_common(e, id, "progress", "migrate-domain", &domain, time_unix_ns);
  uint64_t pct = pick(11) * 10;
  const char* status = pct == 100 ? "done" : "ongoing";
  scratch_.clear();
  append_uint(scratch_, pct);
  scratch_.push_back('%');
  std::string_view values[] = {scratch_, status, "t5-primary"};
  append_one_item_section(*e.data, "ldom_info", kKeys, values, 3);
  *e.data += ",\"progress\":";
  append_uint(*e.data, pct);
  *e.data += ",\"status\":";
  append_json_string(*e.data, status);
  *e.data += ",\"source\":\"t5-primary\"}";
}

// --- benchmarks ---------------------------------------------------------------------------
void TemplateFiller::minimal(Event& e, std::string_view id, uint64_t n, int64_t time_unix_ns) {
  e.id.assign(id);
  e.source.assign(source_);
  e.type.assign("generator.minimal");
  e.subject.reset();
  e.time_unix_ns = time_unix_ns;
  std::string& d = data_of(e);
  d += "{\"n\":";
  append_uint(d, n);
  d.push_back('}');
}

}  // namespace sluice::generator
