// The names behind object URIs: CPCs, DPM partitions and classic-mode LPARs, as the WS API's
// list operations and Get ... Properties answers give them. hmc_stomp adds them to every
// notification it can attribute (attributes `cpc` and `partition`), so routes can filter on
// names instead of object ids. Pure data, no Asio: the plugin fills it from the WS API (after
// each logon, then lazily for URIs it does not know), updates it from inventory-change and
// property-change notifications, and looks URIs up on the read path without a request.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice::hmc {

enum class ObjectKind { cpc, partition, lpar, other };

// By the canonical URI's form: /api/cpcs/{id}, /api/partitions/{id},
// /api/logical-partitions/{id}; anything else (a job, an adapter, an element URI) is other.
ObjectKind object_kind(std::string_view uri);

class Inventory {
 public:
  // What an object URI stands for: the CPC's name (the object's own for a CPC, its parent's for
  // a partition or LPAR; empty when the parent is not known) and the partition's or LPAR's name
  // (empty for a CPC). Views into the inventory: valid until it changes.
  struct Names {
    std::string_view cpc;
    std::string_view partition;
  };
  std::optional<Names> lookup(std::string_view uri) const;
  // The names of a notification's object: by its object-uri, or, without one, by the OS message
  // channel its destination (/topic/<name>) belongs to.
  std::optional<Names> names_for(std::string_view object_uri, std::string_view destination) const;
  bool knows(std::string_view uri) const { return objects_.find(uri) != objects_.end(); }
  size_t size() const { return objects_.size(); }
  // Forgets every object (a new HMC, or a new session's inventory); channels stay.
  void clear() {
    objects_.clear();
    renamed_.clear();
  }

  // The WS API answers a listing or a lookup as of its request, while notifications keep
  // arriving: a rename notified while a request was in flight is newer than its answer. So a
  // listing or a lookup notes generation() before its first request and passes it along with
  // what it read (`since`); a name a notification set after that point wins over the answer's.
  static constexpr uint64_t kNoRequest = ~uint64_t{0};  // `since` of a name known to be current
  uint64_t generation() const { return generation_; }

  // Takes other's objects in place of its own (a fresh listing whose first request went out at
  // generation `since`), keeping the names renames gave them since then; channels stay.
  void adopt_objects(Inventory&& other, uint64_t since);
  // The OS message channel topic `topic` (without /topic/) is object_uri's.
  void set_channel(const std::string& topic, const std::string& object_uri) {
    channels_["/topic/" + topic] = object_uri;
  }
  void clear_channels() { channels_.clear(); }

  // `since`: as for adopt_objects (a lookup's answer); a rename notified later keeps its name.
  void set_cpc(const std::string& uri, const std::string& name, uint64_t since = kNoRequest);
  // A partition or an LPAR of the CPC cpc_uri.
  void set_member(const std::string& uri, const std::string& name, const std::string& cpc_uri,
                  uint64_t since = kNoRequest);
  // inventory-change remove: the object; for a CPC its partitions and LPARs too.
  void remove(std::string_view uri);
  // property-change of `name`; false when the URI is not known (the new name is still kept for
  // a listing or lookup in flight: see generation()).
  bool rename(std::string_view uri, const std::string& name);

  // Readers of the WS API's answers (defensive: entries without a string name and object-uri
  // are skipped). List CPC Objects ({"cpcs":[...]}): every CPC; returns the URIs read, each
  // with dpm-enabled (nullopt when the answer does not say).
  struct ListedCpc {
    std::string uri;
    std::optional<bool> dpm;
  };
  std::vector<ListedCpc> add_cpcs(const nlohmann::json& list_answer);
  // List Partitions of a CPC / List Logical Partitions of CPC ({"partitions"|"logical-partitions":
  // [...]}) of the CPC cpc_uri; returns how many were read.
  size_t add_members(const nlohmann::json& list_answer, const std::string& list_key,
                     const std::string& cpc_uri);

 private:
  struct Entry {
    std::string name;
    std::string cpc_uri;  // a partition's or LPAR's CPC (empty when not known)
    bool is_cpc = false;
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // The name a rename gave `uri` if one was notified after generation `since`, else `name`.
  const std::string& newest_name(const std::string& uri, const std::string& name,
                                 uint64_t since) const;

  std::unordered_map<std::string, Entry, Hash, std::equal_to<>> objects_;
  // The last rename of each URI: its generation and the name. One entry per renamed object
  // (removed with it), so it grows no more than the inventory.
  struct Renamed {
    uint64_t generation = 0;
    std::string name;
  };
  std::unordered_map<std::string, Renamed, Hash, std::equal_to<>> renamed_;
  uint64_t generation_ = 0;
  std::unordered_map<std::string, std::string, Hash, std::equal_to<>> channels_;  // dest -> uri
};

// The new value of `name` in a property-change body ({"change-reports":[{"property-name":
// "name","new-value":...}]}): the last report's, or nullopt.
std::optional<std::string> renamed_to(std::string_view body);

}  // namespace sluice::hmc
