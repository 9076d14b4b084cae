#include "inventory.hpp"

namespace sluice::hmc {

namespace {

// prefix + one non-empty path segment, nothing after it.
bool one_segment_after(std::string_view uri, std::string_view prefix) {
  if (uri.substr(0, prefix.size()) != prefix) return false;
  const std::string_view id = uri.substr(prefix.size());
  return !id.empty() && id.find_first_of("/?#") == std::string_view::npos;
}

const std::string* string_member(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return nullptr;
  return it->get_ptr<const std::string*>();
}

}  // namespace

ObjectKind object_kind(std::string_view uri) {
  if (one_segment_after(uri, "/api/cpcs/")) return ObjectKind::cpc;
  if (one_segment_after(uri, "/api/partitions/")) return ObjectKind::partition;
  if (one_segment_after(uri, "/api/logical-partitions/")) return ObjectKind::lpar;
  return ObjectKind::other;
}

std::optional<Inventory::Names> Inventory::lookup(std::string_view uri) const {
  auto it = objects_.find(uri);
  if (it == objects_.end()) return std::nullopt;
  const Entry& e = it->second;
  if (e.is_cpc) return Names{e.name, {}};
  auto cpc = e.cpc_uri.empty() ? objects_.end() : objects_.find(std::string_view(e.cpc_uri));
  return Names{cpc == objects_.end() ? std::string_view() : std::string_view(cpc->second.name),
               e.name};
}

std::optional<Inventory::Names> Inventory::names_for(std::string_view object_uri,
                                                     std::string_view destination) const {
  if (!object_uri.empty()) return lookup(object_uri);
  if (destination.empty() || channels_.empty()) return std::nullopt;
  auto it = channels_.find(destination);
  if (it == channels_.end()) return std::nullopt;
  return lookup(it->second);
}

const std::string& Inventory::newest_name(const std::string& uri, const std::string& name,
                                          uint64_t since) const {
  auto r = renamed_.find(uri);
  return r != renamed_.end() && r->second.generation > since ? r->second.name : name;
}

void Inventory::adopt_objects(Inventory&& other, uint64_t since) {
  objects_ = std::move(other.objects_);
  for (auto r = renamed_.begin(); r != renamed_.end();) {
    if (r->second.generation <= since) {  // the listing saw it: nothing left to keep
      r = renamed_.erase(r);
      continue;
    }
    if (auto o = objects_.find(std::string_view(r->first)); o != objects_.end())
      o->second.name = r->second.name;
    ++r;
  }
}

void Inventory::set_cpc(const std::string& uri, const std::string& name, uint64_t since) {
  objects_[uri] = Entry{newest_name(uri, name, since), {}, true};
}

void Inventory::set_member(const std::string& uri, const std::string& name,
                           const std::string& cpc_uri, uint64_t since) {
  objects_[uri] = Entry{newest_name(uri, name, since), cpc_uri, false};
}

void Inventory::remove(std::string_view uri) {
  auto it = objects_.find(uri);
  if (it == objects_.end()) return;
  const bool cpc = it->second.is_cpc;
  const std::string key = it->first;
  objects_.erase(it);
  renamed_.erase(key);
  if (!cpc) return;
  for (auto m = objects_.begin(); m != objects_.end();) {
    if (m->second.cpc_uri != key) {
      ++m;
      continue;
    }
    renamed_.erase(m->first);
    m = objects_.erase(m);
  }
}

bool Inventory::rename(std::string_view uri, const std::string& name) {
  // Renames of objects never known only matter to a listing in flight; an HMC that names
  // endless made-up URIs must not grow this without bound.
  constexpr size_t kMaxRenamed = 65536;
  if (renamed_.size() >= kMaxRenamed)
    for (auto r = renamed_.begin(); r != renamed_.end();)
      r = objects_.count(r->first) ? std::next(r) : renamed_.erase(r);
  Renamed& r = renamed_[std::string(uri)];
  r.generation = ++generation_;
  r.name = name;
  auto it = objects_.find(uri);
  if (it == objects_.end()) return false;
  it->second.name = name;
  return true;
}

std::vector<Inventory::ListedCpc> Inventory::add_cpcs(const nlohmann::json& answer) {
  std::vector<ListedCpc> out;
  if (!answer.is_object()) return out;
  auto list = answer.find("cpcs");
  if (list == answer.end() || !list->is_array()) return out;
  for (const auto& c : *list) {
    const std::string* uri = string_member(c, "object-uri");
    const std::string* name = string_member(c, "name");
    if (!uri || !name || object_kind(*uri) != ObjectKind::cpc) continue;
    set_cpc(*uri, *name);
    ListedCpc l{*uri, std::nullopt};
    if (auto d = c.find("dpm-enabled"); d != c.end() && d->is_boolean()) l.dpm = d->get<bool>();
    out.push_back(std::move(l));
  }
  return out;
}

size_t Inventory::add_members(const nlohmann::json& answer, const std::string& list_key,
                              const std::string& cpc_uri) {
  if (!answer.is_object()) return 0;
  auto list = answer.find(list_key);
  if (list == answer.end() || !list->is_array()) return 0;
  size_t n = 0;
  for (const auto& p : *list) {
    const std::string* uri = string_member(p, "object-uri");
    const std::string* name = string_member(p, "name");
    if (!uri || !name) continue;
    const ObjectKind k = object_kind(*uri);
    if (k != ObjectKind::partition && k != ObjectKind::lpar) continue;
    set_member(*uri, *name, cpc_uri);
    ++n;
  }
  return n;
}

std::optional<std::string> renamed_to(std::string_view body) {
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return std::nullopt;
  auto reports = doc.find("change-reports");
  if (reports == doc.end() || !reports->is_array()) return std::nullopt;
  std::optional<std::string> out;
  for (const auto& r : *reports) {  // oldest first: the last one is the name now
    const std::string* prop = string_member(r, "property-name");
    const std::string* value = string_member(r, "new-value");
    if (prop && value && *prop == "name") out = *value;
  }
  return out;
}

}  // namespace sluice::hmc
