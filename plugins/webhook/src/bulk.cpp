#include "bulk.hpp"

#include <sluice/event.hpp>
#include <sluice/event_template.hpp>
#include <sluice/format.hpp>

#include <nlohmann/json.hpp>

#include <cinttypes>
#include <cstdio>
#include <ctime>

namespace sluice::webhook {

namespace {

using nlohmann::json;

void split_time(int64_t ns, int64_t& secs, int64_t& ms) {
  secs = ns / 1000000000;
  ms = (ns % 1000000000) / 1000000;
  if (ns % 1000000000 < 0) {  // floor, so that the fraction is never negative
    secs -= 1;
    ms = (ns % 1000000000 + 1000000000) / 1000000;
  }
}

// A member "name":"value" after a comma, left out when the value is empty.
void append_member(std::string& out, const char* name, const std::string& value) {
  if (value.empty()) return;
  out.push_back(',');
  out.push_back('"');
  out += name;
  out += "\":";
  append_json_string(out, value);
}

bool index_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
         c == '+';
}

// A whole-request retry for a bulk response that cannot be read item by item.
Outcome unreadable(const Outcome& whole, const std::string& why) {
  Outcome o;
  o.action = Action::retry;
  o.status = whole.status;
  o.reason = "elasticsearch-bulk: " + why +
             "; the request is sent again (a create whose document arrived answers 409: ok)";
  return o;
}

std::string text_of(const json& object, const char* key) {
  if (!object.is_object()) return {};
  auto it = object.find(key);
  if (it == object.end()) return {};
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

}  // namespace

std::string epoch_seconds(int64_t time_unix_ns) {
  int64_t secs = 0, ms = 0;
  split_time(time_unix_ns, secs, ms);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%" PRId64 ".%03" PRId64, secs, ms);
  return buf;
}

void append_hec_event(std::string& out, const sluice_event& event, const HecFields& fields) {
  EventRef e(event);
  out += "{\"time\":";
  out += epoch_seconds(e.time_unix_ns());
  append_member(out, "host", expand_template(fields.host, event));
  append_member(out, "source", expand_template(fields.source, event));
  append_member(out, "sourcetype", expand_template(fields.sourcetype, event));
  append_member(out, "index", expand_template(fields.index, event));
  out += ",\"event\":";
  append_cloudevent(out, event);
  out.push_back('}');
}

Outcome read_hec_answer(const Outcome& whole, std::string_view body, size_t count,
                        const std::map<int, Action>& status_map) {
  if (whole.action == Action::ok) return whole;
  const json answer = json::parse(body.begin(), body.end(), nullptr, false);
  if (!answer.is_object() || !answer.contains("code")) return whole;
  const std::string hec =
      "HEC code " + snippet(text_of(answer, "code")) + ": " + snippet(text_of(answer, "text"));
  Outcome o = whole;
  o.reason = "HTTP " + std::to_string(whole.status) + " " + hec;
  if (whole.action != Action::reject || whole.status != 400 || status_map.count(400)) return o;
  auto k = answer.find("invalid-event-number");
  if (k == answer.end() || !k->is_number_integer()) return o;
  const int64_t bad = k->get<int64_t>();
  if (bad < 0 || static_cast<uint64_t>(bad) >= count) return o;
  const auto at = static_cast<size_t>(bad);
  o.events.resize(count);
  for (size_t i = at; i < count; ++i) {
    Outcome& e = o.events[i];
    e.status = whole.status;
    if (i == at) {
      e.action = Action::reject;
      e.reason = "HTTP 400 " + hec + " (event " + std::to_string(at + 1) + " of " +
                 std::to_string(count) + " in the request)";
    } else {
      e.action = Action::retry;
      e.reason = "not indexed: HEC stopped at event " + std::to_string(at + 1) + " of " +
                 std::to_string(count) + " (" + hec + ")";
    }
  }
  return o;
}

std::optional<std::string> index_template_problem(std::string_view tpl) {
  if (tpl.empty()) return std::string("an index name cannot be empty");
  std::string literal;  // the template without its placeholders and conversions
  for (size_t i = 0; i < tpl.size(); ++i) {
    const char c = tpl[i];
    if (c == '{') {
      const size_t close = tpl.find('}', i);
      const std::string_view name =
          close == std::string_view::npos ? std::string_view() : tpl.substr(i + 1, close - i - 1);
      if (name == "type" || name == "source" || name == "subject" || name == "id" ||
          name.substr(0, 5) == "attr:") {
        if (i == 0) literal.push_back('x');  // starts with event text: checked per event
        i = close;
        continue;
      }
      return "'{' starts no placeholder ({type} {source} {subject} {id} {attr:NAME})";
    }
    if (c == '%') {
      const char conv = i + 1 < tpl.size() ? tpl[i + 1] : '\0';
      if (conv == 'Y' || conv == 'm' || conv == 'd' || conv == 'H') {
        if (i == 0) literal.push_back('0');
        ++i;
        continue;
      }
      if (conv == '%') return std::string("'%' cannot be in an index name");
      return std::string("%") + (conv ? std::string(1, conv) : std::string()) +
             " is not a conversion of index names (%Y %m %d %H)";
    }
    if (c >= 'A' && c <= 'Z') return "index names are lower case: '" + std::string(1, c) + "'";
    if (!index_char(c)) {
      const auto u = static_cast<unsigned char>(c);
      char shown[16];
      if (u < 0x20 || u >= 0x7f)
        std::snprintf(shown, sizeof shown, "byte 0x%02x", u);
      else
        std::snprintf(shown, sizeof shown, "'%c'", c);
      return std::string(shown) + " cannot be in an index name (a-z 0-9 . _ - +)";
    }
    literal.push_back(c);
  }
  if (literal.front() == '-' || literal.front() == '_' || literal.front() == '+')
    return "an index name cannot start with '" + std::string(1, literal.front()) + "'";
  if (literal == "." || literal == "..") return "an index name cannot be '" + literal + "'";
  return std::nullopt;
}

IndexName expand_index(std::string_view tpl, const sluice_event& event) {
  IndexName out;
  std::string& name = out.name;
  std::tm tm{};
  bool have_tm = false;
  auto time_part = [&](char conv) {
    if (!have_tm) {
      int64_t secs = 0, ms = 0;
      split_time(EventRef(event).time_unix_ns(), secs, ms);
      const auto t = static_cast<std::time_t>(secs);
      gmtime_r(&t, &tm);
      have_tm = true;
    }
    char buf[16];
    const int v = conv == 'Y'   ? tm.tm_year + 1900
                  : conv == 'm' ? tm.tm_mon + 1
                  : conv == 'd' ? tm.tm_mday
                                : tm.tm_hour;
    std::snprintf(buf, sizeof buf, conv == 'Y' ? "%04d" : "%02d", v);
    name += buf;
  };
  for (size_t i = 0; i < tpl.size(); ++i) {
    const char c = tpl[i];
    if (c == '{') {
      const size_t close = tpl.find('}', i);
      if (close != std::string_view::npos) {
        const std::string braced(tpl.substr(i, close - i + 1));
        const std::string value = expand_template(braced, event);
        if (value != braced) {  // a placeholder: the event's text, made an index name's
          for (char v : value) {
            const char l = v >= 'A' && v <= 'Z' ? static_cast<char>(v - 'A' + 'a') : v;
            name.push_back(index_char(l) ? l : '_');
          }
          i = close;
          continue;
        }
      }
    }
    if (c == '%' && i + 1 < tpl.size() &&
        (tpl[i + 1] == 'Y' || tpl[i + 1] == 'm' || tpl[i + 1] == 'd' || tpl[i + 1] == 'H')) {
      time_part(tpl[++i]);
      continue;
    }
    name.push_back(c);
  }
  if (name.empty())
    out.problem = "index name is empty";
  else if (name.front() == '-' || name.front() == '_' || name.front() == '+')
    out.problem = "index name '" + snippet(name) + "' starts with '" + name.front() + "'";
  else if (name == "." || name == "..")
    out.problem = "index name cannot be '" + name + "'";
  else if (name.size() > 255)
    out.problem = "index name '" + snippet(name) + "' is over 255 bytes";
  return out;
}

void append_bulk_create(std::string& out, std::string_view index, std::string_view id,
                        const sluice_event& event) {
  out += "{\"create\":{\"_index\":";
  append_json_string(out, index);
  out += ",\"_id\":";
  append_json_string(out, id);
  out += "}}\n{\"@timestamp\":\"";
  append_rfc3339(out, EventRef(event).time_unix_ns());
  out += "\",";
  const size_t at = out.size();
  append_cloudevent(out, event);
  out.erase(at, 1);  // the CloudEvent's '{': its members follow @timestamp
  out.push_back('\n');
}

Outcome read_bulk_answer(const Outcome& whole, std::string_view body,
                         const std::vector<std::string>& ids,
                         const std::map<int, Action>& status_map) {
  if (whole.action != Action::ok || whole.status < 200 || whole.status > 299) return whole;
  const json answer = json::parse(body.begin(), body.end(), nullptr, false);
  if (answer.is_discarded() || !answer.is_object())
    return unreadable(whole, "the response is not a JSON object: '" + snippet(body) + "'");
  auto items = answer.find("items");
  if (items == answer.end() || !items->is_array())
    return unreadable(whole, "the response has no items array: '" + snippet(body) + "'");
  if (items->size() != ids.size())
    return unreadable(whole, "the response has " + std::to_string(items->size()) +
                                 " items for the request's " + std::to_string(ids.size()) +
                                 " documents");
  Outcome o = whole;
  o.events.resize(ids.size());
  bool all_ok = true;
  for (size_t i = 0; i < ids.size(); ++i) {
    const json& item = (*items)[i];
    const std::string which = "item " + std::to_string(i + 1) + " of " + std::to_string(ids.size());
    if (!item.is_object() || item.size() != 1 || !item.begin().value().is_object())
      return unreadable(whole, which + " is not {\"<action>\": {...}}");
    if (item.begin().key() != "create")
      return unreadable(
          whole, which + " answers '" + snippet(item.begin().key()) + "', the request sent create");
    const json& result = item.begin().value();
    auto status = result.find("status");
    if (status == result.end() || !status->is_number_integer())
      return unreadable(whole, which + " has no status");
    if (auto id = result.find("_id");
        id != result.end() && (!id->is_string() || id->get<std::string>() != ids[i]))
      return unreadable(whole, which + " is for _id '" +
                                   snippet(id->is_string() ? id->get<std::string>() : id->dump()) +
                                   "', the request's document " + std::to_string(i + 1) +
                                   " has _id '" + snippet(ids[i]) + "'");
    const int64_t code = status->get<int64_t>();
    Outcome& e = o.events[i];
    e.status = code >= 100 && code <= 999 ? static_cast<int>(code) : 0;
    if (auto it = status_map.find(e.status); it != status_map.end())
      e.action = it->second;
    else if ((code >= 200 && code <= 299) || code == 409)
      e.action = Action::ok;
    else if (code == 408 || code == 429 || code >= 500)
      e.action = Action::retry;
    else
      e.action = Action::reject;
    if (e.action == Action::ok) continue;
    all_ok = false;
    const json error = result.value("error", json());
    e.reason = "elasticsearch " + std::to_string(code);
    const std::string type = text_of(error, "type"), why = text_of(error, "reason");
    if (!type.empty()) e.reason += " " + snippet(type);
    if (!why.empty()) e.reason += ": " + snippet(why);
    if (error.is_object() && error.contains("caused_by")) {
      const json& cause = error["caused_by"];
      const std::string ctype = text_of(cause, "type"), cwhy = text_of(cause, "reason");
      if (!ctype.empty() || !cwhy.empty())
        e.reason +=
            " (caused by " + snippet(ctype) + (cwhy.empty() ? "" : ": " + snippet(cwhy)) + ")";
    }
    if (type.empty() && why.empty() && !error.is_null()) e.reason += ": " + snippet(error.dump());
  }
  if (all_ok) o.events.clear();
  return o;
}

}  // namespace sluice::webhook
