// sluice tap PIPELINE: the live events of a running `sluice run` (its admin server's GET /tap),
// one JSON line each on stdout, until interrupted or until sluice stops. The stream's own lines
// ({"tap":"dropped",...}, {"tap":"end",...}) are said on stderr in words.
#include "admin_client.hpp"
#include "cli.hpp"

#include <nlohmann/json.hpp>
#include <sluice/url.hpp>

#include <cstdio>
#include <string>

namespace po = boost::program_options;

namespace sluice::cli {

namespace {

// What the stream says about itself, for a person.
void control_line(const std::string& line, bool* ended) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  const std::string what = j.is_object() ? j.value("tap", "") : "";
  if (what == "started") {
    fprintf(stderr, "sluice tap: connected (at most %d events/s)\n", j.value("rate", 0));
  } else if (what == "dropped") {
    fprintf(stderr,
            "sluice tap: %llu events not shown (%llu over the rate limit, %llu while this "
            "client was not reading fast enough)\n",
            static_cast<unsigned long long>(j.value("count", 0ull)),
            static_cast<unsigned long long>(j.value("rate_limit", 0ull)),
            static_cast<unsigned long long>(j.value("slow_client", 0ull)));
  } else if (what == "end") {
    *ended = true;
    fprintf(stderr, "sluice tap: the tap ended: %s\n", j.value("reason", "").c_str());
  } else {
    fprintf(stderr, "sluice tap: %s\n", line.c_str());
  }
}

}  // namespace

int cmd_tap(const std::vector<std::string>& args) {
  const Command& cmd = command("tap");
  std::string pipeline_path, level, format, source, sink, type, rate;
  po::options_description extra;
  extra.add_options()("source", po::value(&source)->value_name("NAME"),
                      "only the events of this source (its name under sources:)")(
      "sink", po::value(&sink)->value_name("NAME"), "only the events routed to this sink")(
      "type", po::value(&type)->value_name("GLOB"),
      "only the events whose type matches, e.g. 'hmc.*' (route filter globs)")(
      "rate", po::value(&rate)->value_name("N"),
      "at most N events per second (default 100, at most 10000); what exceeds it is counted "
      "and said on stderr");
  if (int rc = parse_pipeline_command(args, cmd, &pipeline_path, &level, &format, &extra);
      rc != kOk)
    return rc < 0 ? kOk : rc;

  AdminTarget to;
  if (int rc = admin_target(pipeline_path, "tap", &to); rc != kOk) return rc;
  std::string query;
  auto add = [&query](const char* key, const std::string& value) {
    if (value.empty()) return;
    // Appended piece by piece: `"?" + std::string(...)` trips GCC 12's -Wrestrict false positive.
    query += query.empty() ? '?' : '&';
    query += key;
    query += '=';
    query += sluice::url_encode(value);
  };
  add("source", source);
  add("sink", sink);
  add("type", type);
  add("rate", rate);  // checked by the server

  // Events to stdout as they come (flushed per piece), the stream's own lines to stderr.
  std::string partial;
  bool ended = false;
  HttpReply reply =
      http_stream(to, "/tap" + query, std::chrono::seconds(10), [&](std::string_view piece) {
        partial.append(piece);
        size_t start = 0;
        for (size_t nl; (nl = partial.find('\n', start)) != std::string::npos; start = nl + 1) {
          const std::string_view line(partial.data() + start, nl - start);
          if (line.starts_with("{\"tap\":"))
            control_line(std::string(line), &ended);
          else
            fwrite(line.data(), 1, line.size() + 1, stdout);  // with its newline
        }
        partial.erase(0, start);
        fflush(stdout);
      });
  if (reply.status == 0) {
    fprintf(stderr, "sluice tap: %s (is `sluice run %s` running?)\n", reply.error.c_str(),
            pipeline_path.c_str());
    return kRuntime;
  }
  if (reply.status != 200) {
    nlohmann::json j = nlohmann::json::parse(reply.body, nullptr, false);
    const std::string error = j.is_object() ? j.value("error", reply.body) : reply.body;
    fprintf(stderr, "sluice tap: %s answered %u: %s\n", to.url().c_str(), reply.status,
            error.c_str());
    return kRuntime;
  }
  if (!ended) {
    fprintf(stderr, "sluice tap: the stream from %s broke%s%s\n", to.url().c_str(),
            reply.error.empty() ? "" : ": ", reply.error.c_str());
    return kRuntime;
  }
  return kOk;
}

}  // namespace sluice::cli
