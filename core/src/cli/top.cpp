// sluice top PIPELINE: every source and sink of a running `sluice run`, refreshed every second
// from its admin server's GET /status. Plain ANSI escapes on the alternate screen (no curses):
// q or Ctrl-C quits and gives the terminal back as it was; a resize redraws at once.
#include "admin_client.hpp"
#include "cli.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace po = boost::program_options;
using json = nlohmann::json;

namespace sluice::cli {

namespace {

using Clock = std::chrono::steady_clock;

int g_signal_pipe[2] = {-1, -1};

void on_signal(int sig) {
  const int saved = errno;
  const char c = static_cast<char>(sig);
  [[maybe_unused]] ssize_t n = ::write(g_signal_pipe[1], &c, 1);
  errno = saved;
}

// The terminal as it was, given back however top ends (q, a signal, an error).
class Screen {
 public:
  bool enter() {
    if (tcgetattr(STDIN_FILENO, &saved_) != 0) return false;
    termios raw = saved_;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);  // keys one by one, not shown; ISIG
    raw.c_cc[VMIN] = 0;                                    // stays: Ctrl-C is SIGINT
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) != 0) return false;
    entered_ = true;
    put("\x1b[?1049h\x1b[?25l");  // alternate screen, cursor hidden
    return true;
  }
  ~Screen() {
    if (!entered_) return;
    put("\x1b[?25h\x1b[?1049l");
    tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  static void put(const std::string& s) {
    size_t done = 0;
    while (done < s.size()) {
      const ssize_t n = ::write(STDOUT_FILENO, s.data() + done, s.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      done += static_cast<size_t>(n);
    }
  }
  static std::pair<int, int> size() {  // columns, rows
    winsize ws{};
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0)
      return {ws.ws_col, ws.ws_row};
    return {80, 24};
  }

 private:
  termios saved_{};
  bool entered_ = false;
};

// Display width of a UTF-8 string, counting code points (names are mostly ASCII).
size_t width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s)
    n += (c & 0xC0) != 0x80;
  return n;
}

// `s` cut or padded to `w` columns.
std::string fit(const std::string& s, size_t w, bool right = false) {
  std::string out;
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) != 0x80) {
      if (n == w) break;
      ++n;
    }
    out += s[i];
  }
  const std::string pad(w - n, ' ');
  return right ? pad + out : out + pad;
}

std::string count(uint64_t v) {
  if (v < 100000) return std::to_string(v);
  char buf[32];
  if (v < 100000000)
    snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  else
    snprintf(buf, sizeof buf, "%.1fM", v / 1e6);
  return buf;
}

std::string per_second(double v) {
  char buf[32];
  snprintf(buf, sizeof buf, v < 100 ? "%.1f" : "%.0f", v);
  return buf;
}

std::string duration(double seconds) {
  const auto s = static_cast<uint64_t>(seconds);
  char buf[48];
  if (s >= 86400)
    snprintf(buf, sizeof buf, "%llud%02lluh", static_cast<unsigned long long>(s / 86400),
             static_cast<unsigned long long>(s % 86400 / 3600));
  else if (s >= 3600)
    snprintf(buf, sizeof buf, "%lluh%02llum", static_cast<unsigned long long>(s / 3600),
             static_cast<unsigned long long>(s % 3600 / 60));
  else
    snprintf(buf, sizeof buf, "%llum%02llus", static_cast<unsigned long long>(s / 60),
             static_cast<unsigned long long>(s % 60));
  return buf;
}

uint64_t num(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

struct Row {
  std::string kind, name, plugin, state, rate, total, queue, errors, retries, deadlet, dropped;
};

// The rows of one /status answer. Events/s from the previous answer's totals.
class Table {
 public:
  std::vector<Row> rows(const json& status, Clock::time_point at) {
    std::vector<Row> out;
    std::map<std::string, uint64_t> totals;
    const double elapsed = std::chrono::duration<double>(at - previous_at_).count();
    auto rate = [&](const std::string& key, uint64_t total) {
      totals[key] = total;
      auto it = previous_.find(key);
      if (it == previous_.end() || elapsed <= 0 || total < it->second) return std::string("-");
      return per_second(static_cast<double>(total - it->second) / elapsed);
    };
    auto state = [](const json& j) {
      std::string s = j.value("state", "");
      return s.empty() ? std::string("-") : s;
    };
    for (const auto& s : status.value("sources", json::array())) {
      const std::string name = s.value("name", "");
      const uint64_t emitted = num(s, "emitted");
      out.push_back({"source", name, s.value("plugin", ""), state(s),
                     rate("source/" + name, emitted), count(emitted), "-",
                     count(num(s, "parse_errors")), "-", "-", count(num(s, "refused"))});
    }
    for (const auto& s : status.value("sinks", json::array())) {
      const std::string name = s.value("name", "");
      const uint64_t delivered = num(s, "delivered");
      const uint64_t queue = num(s, "queued") + num(s, "in_flight") + num(s, "spooled");
      const uint64_t errors =
          num(s, "dropped_rejected") + num(s, "dropped_spool_error") + num(s, "spool_lost");
      out.push_back({"sink", name, s.value("plugin", ""), state(s), rate("sink/" + name, delivered),
                     count(delivered), count(queue), count(errors), count(num(s, "retries")),
                     count(num(s, "dead_lettered")), count(num(s, "dropped"))});
    }
    previous_ = std::move(totals);
    previous_at_ = at;
    return out;
  }

 private:
  std::map<std::string, uint64_t> previous_;
  Clock::time_point previous_at_;
};

std::string render(const std::string& title, const std::vector<Row>& rows,
                   const std::string& message, int cols, int lines) {
  const Row head{"KIND",  "NAME",   "PLUGIN",  "STATE",   "EVENTS/S", "TOTAL",
                 "QUEUE", "ERRORS", "RETRIES", "DEADLET", "DROPPED"};
  size_t name_w = width(head.name), plugin_w = width(head.plugin);
  for (const auto& r : rows) {
    name_w = std::max(name_w, width(r.name));
    plugin_w = std::max(plugin_w, width(r.plugin));
  }
  name_w = std::min<size_t>(name_w, 32);
  plugin_w = std::min<size_t>(plugin_w, 16);
  auto line = [&](const Row& r) {
    return fit(r.kind, 6) + "  " + fit(r.name, name_w) + "  " + fit(r.plugin, plugin_w) + "  " +
           fit(r.state, 10) + " " + fit(r.rate, 9, true) + " " + fit(r.total, 9, true) + " " +
           fit(r.queue, 8, true) + " " + fit(r.errors, 7, true) + " " + fit(r.retries, 7, true) +
           " " + fit(r.deadlet, 7, true) + " " + fit(r.dropped, 7, true);
  };
  std::vector<std::string> out{title, "", "\x1b[7m" + line(head) + "\x1b[0m"};
  for (const auto& r : rows)
    out.push_back(line(r));
  if (!message.empty()) {
    out.emplace_back();
    out.push_back(message);
  }
  std::string frame = "\x1b[H";
  const auto w = static_cast<size_t>(std::max(cols, 1));
  for (size_t i = 0; i < out.size() && i < static_cast<size_t>(std::max(lines, 1)); ++i) {
    const std::string& l = out[i];
    if (l.starts_with("\x1b[7m"))  // the header: cut inside the highlight
      frame += "\x1b[7m" + fit(l.substr(4, l.size() - 8), w).substr(0) + "\x1b[0m";
    else
      frame += fit(l, w);
    frame += i + 1 < out.size() && i + 1 < static_cast<size_t>(lines) ? "\r\n" : "";
  }
  frame += "\x1b[J";  // whatever the previous frame left below
  return frame;
}

}  // namespace

int cmd_top(const std::vector<std::string>& args) {
  const Command& cmd = command("top");
  std::string pipeline_path, level, format;
  if (int rc = parse_pipeline_command(args, cmd, &pipeline_path, &level, &format); rc != kOk)
    return rc < 0 ? kOk : rc;
  if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
    fprintf(stderr,
            "sluice top: needs a terminal (stdin and stdout); scripts read GET /status of the "
            "admin server instead\n");
    return kUsage;
  }
  AdminTarget to;
  if (int rc = admin_target(pipeline_path, "top", &to); rc != kOk) return rc;

  if (pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    perror("sluice top: pipe");
    return kRuntime;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGWINCH})
    sigaction(s, &sa, nullptr);

  Screen screen;
  if (!screen.enter()) {
    perror("sluice top: cannot set up the terminal");
    return kRuntime;
  }
  Table table;
  std::vector<Row> rows;
  std::string title, message;
  auto fetch = [&] {
    const auto at = Clock::now();
    HttpReply r = http_get(to, "/status", std::chrono::milliseconds(900));
    const std::string head = "sluice top  " + pipeline_path + "  " + to.url();
    if (r.status != 200) {
      message = r.status ? to.url() + "/status answered " + std::to_string(r.status) + ": " + r.body
                         : r.error;
      if (!message.empty() && message.back() == '\n') message.pop_back();
      message += " (trying again every second)";
      title = head + "  (q quits)";
      return;
    }
    json status = json::parse(r.body, nullptr, false);
    if (!status.is_object()) {
      message = "an answer of /status that is not JSON (trying again every second)";
      return;
    }
    message = status.value("running", false) ? "" : "no pipeline runs (a reload is restarting it)";
    rows = table.rows(status, at);
    title = head + "  up " + duration(status.value("uptime_seconds", 0.0)) + "  sluice " +
            status.value("version", "") + "  (q quits)";
  };
  auto draw = [&] {
    const auto [cols, lines] = Screen::size();
    Screen::put(render(title, rows, message, cols, lines));
  };

  fetch();
  draw();
  auto next = Clock::now() + std::chrono::seconds(1);
  for (;;) {
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {g_signal_pipe[0], POLLIN, 0}};
    const auto wait =
        std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now()).count();
    const int n = poll(fds, 2, static_cast<int>(std::max<long long>(wait, 0)));
    if (n < 0 && errno != EINTR) break;
    if (n > 0 && (fds[1].revents & POLLIN)) {
      bool quit = false;
      char sig;
      while (::read(g_signal_pipe[0], &sig, 1) == 1)
        quit = quit || sig != SIGWINCH;
      if (quit) break;
      draw();  // resized
    }
    if (n > 0 && (fds[0].revents & (POLLIN | POLLHUP))) {
      char keys[64];
      const ssize_t got = ::read(STDIN_FILENO, keys, sizeof keys);
      if (got == 0) break;  // the terminal is gone
      if (std::find(keys, keys + std::max<ssize_t>(got, 0), 'q') !=
              keys + std::max<ssize_t>(got, 0) ||
          std::find(keys, keys + std::max<ssize_t>(got, 0), 'Q') !=
              keys + std::max<ssize_t>(got, 0))
        break;
    }
    if (Clock::now() >= next) {
      fetch();
      draw();
      next = Clock::now() + std::chrono::seconds(1);
    }
  }
  return kOk;
}

}  // namespace sluice::cli
