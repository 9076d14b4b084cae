#include "relp_codec.hpp"

#include <cstdio>

namespace sluice::syslog::relp {

namespace {
constexpr int kMaxDigits = 9;
constexpr size_t kMaxCommand = 32;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
}  // namespace

void append_frame(std::string& out, uint32_t txnr, std::string_view command,
                  std::string_view data) {
  out += std::to_string(txnr);
  out += ' ';
  out += command;
  out += ' ';
  out += std::to_string(data.size());
  if (!data.empty()) {
    out += ' ';
    out += data;
  }
  out += '\n';
}

std::string open_offers(std::string_view software) {
  std::string s = "relp_version=0\nrelp_software=";
  s += software;
  s += "\ncommands=syslog";
  return s;
}

std::string printable(std::string_view s, size_t max) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

bool Reader::fail(std::string why) {
  error_ = std::move(why);
  return false;
}

bool Reader::feed(const char* p, size_t n, std::vector<Frame>& out) {
  if (failed()) return false;
  size_t i = 0;
  while (i < n) {
    const char c = p[i];
    switch (state_) {
      case State::txnr:
        if (is_digit(c)) {
          if (++digits_ > kMaxDigits)
            return fail("RELP frame: transaction number longer than 9 digits");
          number_ = number_ * 10 + static_cast<uint64_t>(c - '0');
        } else if (c == ' ' && digits_ > 0) {
          frame_ = Frame{};
          frame_.txnr = static_cast<uint32_t>(number_);
          state_ = State::command;
        } else {
          return fail("RELP frame: transaction number expected, got '" +
                      printable(std::string_view(p + i, 1)) + "'");
        }
        ++i;
        break;
      case State::command:
        if (is_alpha(c)) {
          if (frame_.command.size() >= kMaxCommand)
            return fail("RELP frame " + std::to_string(frame_.txnr) +
                        ": command longer than 32 letters");
          frame_.command += c;
        } else if (c == ' ' && !frame_.command.empty()) {
          state_ = State::datalen;
          number_ = 0;
          digits_ = 0;
        } else {
          return fail("RELP frame " + std::to_string(frame_.txnr) + ": command expected, got '" +
                      printable(std::string_view(p + i, 1)) + "'");
        }
        ++i;
        break;
      case State::datalen:
        if (is_digit(c)) {
          if (++digits_ > kMaxDigits)
            return fail("RELP frame " + std::to_string(frame_.txnr) +
                        ": data length longer than 9 digits");
          number_ = number_ * 10 + static_cast<uint64_t>(c - '0');
          if (number_ > max_data_)
            return fail("RELP frame " + std::to_string(frame_.txnr) + ": data length above " +
                        std::to_string(max_data_) + " bytes");
          ++i;
        } else if (digits_ == 0) {
          return fail("RELP frame " + std::to_string(frame_.txnr) +
                      ": data length expected, got '" + printable(std::string_view(p + i, 1)) +
                      "'");
        } else {
          want_ = static_cast<size_t>(number_);
          data_sp_ = false;
          frame_.data.reserve(want_);
          state_ = want_ == 0 ? State::trailer : State::data;
          // no ++i: the SP (data) or the LF (trailer) is looked at in the next state
        }
        break;
      case State::data:
        if (!data_sp_) {
          if (c != ' ')
            return fail("RELP frame " + std::to_string(frame_.txnr) +
                        ": SP expected after the data length, got '" +
                        printable(std::string_view(p + i, 1)) + "'");
          data_sp_ = true;
          ++i;
        } else {
          const size_t take = std::min(want_ - frame_.data.size(), n - i);
          frame_.data.append(p + i, take);
          i += take;
          if (frame_.data.size() == want_) state_ = State::trailer;
        }
        break;
      case State::trailer:
        if (c != '\n')
          return fail("RELP frame " + std::to_string(frame_.txnr) + " (" + frame_.command +
                      "): LF trailer expected after " + std::to_string(want_) +
                      " data bytes, got '" + printable(std::string_view(p + i, 1)) + "'");
        out.push_back(std::move(frame_));
        frame_ = Frame{};
        state_ = State::txnr;
        number_ = 0;
        digits_ = 0;
        ++i;
        break;
    }
  }
  return true;
}

std::optional<Response> parse_rsp(std::string_view data, std::string* why) {
  if (data.size() < 3 || !is_digit(data[0]) || !is_digit(data[1]) || !is_digit(data[2]) ||
      (data.size() > 3 && data[3] != ' ' && data[3] != '\n')) {
    if (why) *why = "rsp without a 3-digit code: '" + printable(data) + "'";
    return std::nullopt;
  }
  Response r;
  r.code = (data[0] - '0') * 100 + (data[1] - '0') * 10 + (data[2] - '0');
  std::string_view rest = data.substr(3);
  const size_t lf = rest.find('\n');
  std::string_view line = rest.substr(0, lf);
  if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  r.text = std::string(line);
  if (lf != std::string_view::npos) r.body = std::string(rest.substr(lf + 1));
  return r;
}

bool offers_command(std::string_view offers, std::string_view command) {
  size_t at = 0;
  while (at <= offers.size()) {
    size_t end = offers.find('\n', at);
    if (end == std::string_view::npos) end = offers.size();
    std::string_view line = offers.substr(at, end - at);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    constexpr std::string_view key = "commands=";
    if (line.substr(0, key.size()) == key) {
      std::string_view list = line.substr(key.size());
      size_t p = 0;
      while (p <= list.size()) {
        size_t comma = list.find(',', p);
        if (comma == std::string_view::npos) comma = list.size();
        if (list.substr(p, comma - p) == command) return true;
        p = comma + 1;
      }
    }
    at = end + 1;
  }
  return false;
}

}  // namespace sluice::syslog::relp
