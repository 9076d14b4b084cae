#include "emulators.hpp"

#include <cctype>
#include <cstdlib>
#include <functional>
#include <sstream>

namespace sluice::webhook::testing {

using nlohmann::json;

namespace {

Answer json_answer(int status, const json& body) {
  Answer a = Answer::with_status(status, body.dump());
  a.headers.emplace_back("Content-Type", "application/json; charset=UTF-8");
  return a;
}

Answer hec(int status, const std::string& text, int code) {
  return json_answer(status, json{{"text", text}, {"code", code}});
}

std::string path_of(const std::string& target) {
  return target.substr(0, target.find('?'));
}

}  // namespace

// ---- HEC ------------------------------------------------------------------------------------

void HecEmulator::allow_indexes(std::set<std::string> indexes) {
  std::lock_guard lock(mutex_);
  allowed_ = std::move(indexes);
}

void HecEmulator::busy(int requests) {
  std::lock_guard lock(mutex_);
  busy_ = requests;
}

std::vector<json> HecEmulator::indexed() const {
  std::lock_guard lock(mutex_);
  return indexed_;
}

Answer HecEmulator::operator()(const Recorded& request) {
  const std::string path = path_of(request.target);
  if (path != "/services/collector/event" && path != "/services/collector" &&
      path != "/services/collector/event/1.0")
    return hec(404, "The requested URL was not found on this server.", 404);
  const std::string auth = request.header("authorization");
  if (auth.empty()) return hec(401, "Token is required", 2);
  if (auth.rfind("Splunk ", 0) != 0) return hec(401, "Invalid authorization", 3);
  if (auth.substr(7) != token_) return hec(403, "Invalid token", 4);
  std::lock_guard lock(mutex_);
  if (busy_ > 0) {
    --busy_;
    return hec(503, "Server is busy", 9);
  }
  // The events, one JSON object after the other (whitespace between them allowed).
  std::istringstream in(request.body);
  std::vector<json> events;
  auto refuse = [&](const std::string& text, int code) {
    // The events before the refused one are indexed; it and those after it are not.
    for (auto& e : events)
      indexed_.push_back(std::move(e));
    return json_answer(400, json{{"text", text},
                                 {"code", code},
                                 {"invalid-event-number", static_cast<int>(events.size())}});
  };
  while (true) {
    in >> std::ws;
    if (in.peek() == std::char_traits<char>::eof()) break;
    json e;
    try {
      in >> e;
    } catch (const json::exception&) {
      return refuse("Invalid data format", 6);
    }
    if (!e.is_object()) return refuse("Invalid data format", 6);
    if (!e.contains("event")) return refuse("Event field is required", 12);
    if (e["event"].is_null() || e["event"] == "") return refuse("Event field cannot be blank", 13);
    if (e.contains("time") && !e["time"].is_number()) return refuse("Invalid data format", 6);
    for (const char* key : {"host", "source", "sourcetype", "index"})
      if (e.contains(key) && !e[key].is_string()) return refuse("Invalid data format", 6);
    if (e.contains("index") && !allowed_.empty() && !allowed_.count(e["index"].get<std::string>()))
      return refuse("Incorrect index", 7);
    events.push_back(std::move(e));
  }
  if (events.empty()) return hec(400, "No data", 5);
  for (auto& e : events)
    indexed_.push_back(std::move(e));
  return hec(200, "Success", 0);
}

// ---- Elasticsearch _bulk ----------------------------------------------------------------------

namespace {

json error_of(const std::string& type, const std::string& reason) {
  return json{{"type", type}, {"reason", reason}};
}

// The index name rules of the create index API.
std::string index_name_problem(const std::string& name) {
  if (name.empty()) return "must not be empty";
  for (char c : name)
    if (std::isupper(static_cast<unsigned char>(c))) return "must be lowercase";
  if (name.find_first_of("\\/*?\"<>| ,#:") != std::string::npos)
    return "must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?, #, :]";
  if (name[0] == '-' || name[0] == '_' || name[0] == '+')
    return "must not start with '_', '-', or '+'";
  if (name == "." || name == "..") return "must not be '.' or '..'";
  if (name.size() > 255) return "index name is too long";
  return {};
}

bool numeric_text(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return end && *end == '\0';
}

}  // namespace

void BulkEmulator::fail(const std::string& id, int status, const std::string& type,
                        const std::string& reason, int times) {
  std::lock_guard lock(mutex_);
  failures_[id] = Failure{status, type, reason, times};
}

std::map<std::string, std::map<std::string, json>> BulkEmulator::documents() const {
  std::lock_guard lock(mutex_);
  return documents_;
}

int BulkEmulator::creates(const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto it = creates_.find(id);
  return it == creates_.end() ? 0 : it->second;
}

json BulkEmulator::create(const std::string& index, const std::string& id, const json& doc) {
  json item = {{"_index", index}, {"_id", id}};
  ++creates_[id];
  if (auto f = failures_.find(id); f != failures_.end() && f->second.times != 0) {
    if (f->second.times > 0) --f->second.times;
    item["status"] = f->second.status;
    item["error"] = error_of(f->second.type, f->second.reason);
    return item;
  }
  if (auto why = index_name_problem(index); !why.empty()) {
    item["status"] = 400;
    item["error"] =
        error_of("invalid_index_name_exception", "Invalid index name [" + index + "], " + why);
    return item;
  }
  auto& docs = documents_[index];
  if (docs.count(id)) {
    item["status"] = 409;
    item["error"] = error_of("version_conflict_engine_exception",
                             "[" + id +
                                 "]: version conflict, document already exists (current "
                                 "version [1])");
    return item;
  }
  // Dynamic mapping: the first value of a field sets its type in the index.
  auto& mapping = mappings_[index];
  std::map<std::string, std::string> added;
  std::string problem;
  std::function<void(const json&, const std::string&)> walk = [&](const json& v,
                                                                  const std::string& path) {
    if (!problem.empty()) return;
    if (v.is_object()) {
      for (auto it = v.begin(); it != v.end(); ++it)
        walk(it.value(), path.empty() ? it.key() : path + "." + it.key());
      return;
    }
    if (v.is_array()) {
      for (const auto& x : v)
        walk(x, path);
      return;
    }
    if (v.is_null()) return;
    const std::string type = v.is_number_integer() ? "long"
                             : v.is_number()       ? "float"
                             : v.is_boolean()      ? "boolean"
                                                   : "text";
    auto known = mapping.find(path);
    const std::string mapped = known != mapping.end() ? known->second
                               : added.count(path)    ? added[path]
                                                      : std::string();
    if (mapped.empty()) {
      added[path] = type;
    } else if ((mapped == "long" || mapped == "float") && v.is_string() &&
               !numeric_text(v.get<std::string>())) {
      problem = "failed to parse field [" + path + "] of type [" + mapped +
                "] in document with id '" + id + "'. Preview of field's value: '" +
                v.get<std::string>() + "'";
    }
  };
  walk(doc, "");
  if (!problem.empty()) {
    item["status"] = 400;
    item["error"] = error_of("mapper_parsing_exception", problem);
    return item;
  }
  mapping.insert(added.begin(), added.end());
  docs[id] = doc;
  item["_version"] = 1;
  item["result"] = "created";
  item["_shards"] = {{"total", 2}, {"successful", 1}, {"failed", 0}};
  item["_seq_no"] = seq_no_++;
  item["_primary_term"] = 1;
  item["status"] = 201;
  return item;
}

Answer BulkEmulator::operator()(const Recorded& request) {
  const std::string path = path_of(request.target);
  const bool bulk =
      path == "/_bulk" || (path.size() > 6 && path.compare(path.size() - 6, 6, "/_bulk") == 0);
  if (!bulk)
    return json_answer(404,
                       json{{"error", "no handler found for uri [" + path + "]"}, {"status", 404}});
  // /<index>/_bulk: the default index of actions that name none.
  const std::string default_index = path == "/_bulk" ? "" : path.substr(1, path.size() - 7);
  const std::string type = request.header("content-type");
  if (type.rfind("application/x-ndjson", 0) != 0 && type.rfind("application/json", 0) != 0)
    return json_answer(406, json{{"error", "Content-Type header [" + type + "] is not supported"},
                                 {"status", 406}});
  auto bad_request = [](const std::string& type, const std::string& reason) {
    return json_answer(400, json{{"error",
                                  {{"root_cause", json::array({error_of(type, reason)})},
                                   {"type", type},
                                   {"reason", reason}}},
                                 {"status", 400}});
  };
  const std::string& body = request.body;
  if (body.empty()) return bad_request("action_request_validation_exception", "no requests added");
  if (body.back() != '\n')
    return bad_request("illegal_argument_exception",
                       "The bulk request must be terminated by a newline [\\n]");
  std::vector<std::string> lines;
  for (size_t at = 0; at < body.size();) {
    const size_t nl = body.find('\n', at);
    lines.push_back(body.substr(at, nl - at));
    at = nl + 1;
  }
  // Read every action first: a malformed line refuses the whole request.
  struct Action {
    std::string op, index, id;
    json doc;
  };
  std::vector<Action> actions;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    const json meta = json::parse(lines[i], nullptr, false);
    if (!meta.is_object() || meta.size() != 1 || !meta.begin().value().is_object())
      return bad_request(
          "illegal_argument_exception",
          "Malformed action/metadata line [" + std::to_string(i + 1) + "], expected START_OBJECT");
    Action a;
    a.op = meta.begin().key();
    const json& m = meta.begin().value();
    a.index = m.value("_index", default_index);
    a.id = m.value("_id", std::string());
    if (a.op == "create" || a.op == "index") {
      if (i + 1 >= lines.size())
        return bad_request("illegal_argument_exception",
                           "The bulk request must be terminated by a newline [\\n]");
      a.doc = json::parse(lines[++i], nullptr, false);
      if (!a.doc.is_object())
        return bad_request("x_content_parse_exception",
                           "[" + std::to_string(i + 1) + ":1] failed to parse the document");
    } else if (a.op != "delete" && a.op != "update") {
      return bad_request("illegal_argument_exception", "Malformed action/metadata line [" +
                                                           std::to_string(i + 1) +
                                                           "], expected field [create], [delete], "
                                                           "[index] or [update] but found [" +
                                                           a.op + "]");
    }
    actions.push_back(std::move(a));
  }
  std::lock_guard lock(mutex_);
  json items = json::array();
  bool errors = false;
  for (const auto& a : actions) {
    json item;
    if (a.op == "create" && !a.id.empty()) {
      item = create(a.index, a.id, a.doc);
    } else {  // the sink sends only create with an _id
      item = {{"_index", a.index},
              {"_id", a.id},
              {"status", 400},
              {"error", error_of("illegal_argument_exception", "not emulated: " + a.op)}};
    }
    errors = errors || item["status"].get<int>() >= 300;
    items.push_back(json{{a.op, item}});
  }
  return json_answer(200, json{{"took", 3}, {"errors", errors}, {"items", items}});
}

}  // namespace sluice::webhook::testing
