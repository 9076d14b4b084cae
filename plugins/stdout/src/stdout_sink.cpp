// The stdout sink: serialises each batch into one buffer and hands it to write(2) in one call
// (looping only over partial writes), so lines of concurrent writers never interleave within a
// batch and nothing sits in a stdio buffer when the process dies.
#include <sluice/format.hpp>
#include <sluice/sdk.hpp>
#include <sluice/sigpipe.hpp>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <string>

#include <unistd.h>

namespace {

// The options as the sink uses them; every bad value is a problem at its option.
struct Settings {
  sluice::Format format = sluice::Format::text;
  int fd = STDOUT_FILENO;

  static int parse_stream(const std::string& name) {
    if (name == "stdout") return STDOUT_FILENO;
    if (name == "stderr") return STDERR_FILENO;
    throw std::invalid_argument("'" + name + "' is not one of stdout, stderr");
  }

  static Settings read(const nlohmann::json& o, sluice::OptionProblems& problems) {
    Settings s;
    s.format = sluice::read_option(
        problems, "/format",
        [&] { return sluice::parse_format(o.value("format", std::string("text"))); }, s.format);
    s.fd = sluice::read_option(
        problems, "/stream", [&] { return parse_stream(o.value("stream", std::string("stdout"))); },
        s.fd);
    return s;
  }
};

class StdoutSink : public sluice::Sink {
 public:
  static sluice::OptionProblems check_options(const nlohmann::json& options) {
    return sluice::problems_of<Settings>(options);
  }

  StdoutSink(sluice::Host host, const nlohmann::json& options)
      : sluice::Sink(host), s_(sluice::read_settings<Settings>(options)) {}

  sluice::Delivery deliver(const sluice::Batch& batch) override {
    buffer_.clear();  // keeps its capacity: no allocation per batch once warmed up
    sluice::append_batch(buffer_, s_.format, batch.events(), batch.size());
    const char* p = buffer_.data();
    size_t left = buffer_.size();
    sluice::SigpipeGuard no_sigpipe;
    while (left > 0) {
      ssize_t n = ::write(s_.fd, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        // EPIPE (reader gone; the host ignores SIGPIPE), EBADF (stdout closed), ENOSPC...
        int err = errno;
        host().metric("write_errors");
        std::string reason = std::string("write to ") + stream_name() + ": " + std::strerror(err);
        if (left != buffer_.size())
          reason += " (after " + std::to_string(buffer_.size() - left) + " of " +
                    std::to_string(buffer_.size()) + " bytes)";
        return sluice::Delivery::retry(reason);
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
    host().metric("bytes", static_cast<int64_t>(buffer_.size()));
    return sluice::Delivery::ok();
  }

 private:
  const char* stream_name() const { return s_.fd == STDERR_FILENO ? "stderr" : "stdout"; }

  const Settings s_;
  std::string buffer_;
};

// Same defaults as the constructor: the host fills them in, the test harness does not.
constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "format": {"type": "string", "enum": ["text", "json", "cloudevents", "cloudevents-batch"], "default": "text",
               "description": "text: one line per event for people (time type subject source data); json: sluice's JSON lines; cloudevents: CloudEvents 1.0 structured JSON, one per line; cloudevents-batch: one CloudEvents JSON batch array per line"},
    "stream": {"type": "string", "enum": ["stdout", "stderr"], "default": "stdout",
               "description": "which standard stream to write to"}
  }
})json";

}  // namespace

SLUICE_PLUGIN(StdoutSink, "stdout", "1.0.0",
              "Sink that writes events to standard output as text, JSON lines or CloudEvents",
              kSchema)
