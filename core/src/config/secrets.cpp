#include "secrets.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace sluice::core::config {

namespace {

constexpr size_t kMaxSecretBytes = 1u << 20;

bool valid_variable_name(const std::string& name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::optional<std::string> read_secret_file(const std::string& path, const std::string& base,
                                            std::string* error) {
  std::filesystem::path p(path);
  if (p.is_relative() && !base.empty()) p = std::filesystem::path(base) / p;
  std::error_code ec;
  auto status = std::filesystem::status(p, ec);
  if (ec) {
    *error = "cannot read secret file '" + p.string() + "': " + ec.message();
    return std::nullopt;
  }
  // Not a FIFO or a device: reading one could block or never end.
  if (!std::filesystem::is_regular_file(status)) {
    *error = "cannot read secret file '" + p.string() + "': not a regular file";
    return std::nullopt;
  }
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    *error = "cannot read secret file '" + p.string() + "': " + std::strerror(errno);
    return std::nullopt;
  }
  std::string s(kMaxSecretBytes + 1, '\0');
  in.read(s.data(), static_cast<std::streamsize>(s.size()));
  s.resize(static_cast<size_t>(in.gcount()));
  if (s.size() > kMaxSecretBytes) {
    *error = "secret file '" + p.string() + "' is larger than 1 MiB";
    return std::nullopt;
  }
  if (!s.empty() && s.back() == '\n') {
    s.pop_back();
    if (!s.empty() && s.back() == '\r') s.pop_back();
  }
  return s;
}

}  // namespace

Substitution substitute(const std::string& text, const SecretSource& source) {
  Substitution out;
  if (text.find('$') == std::string::npos) {
    out.value = text;
    return out;
  }
  std::string& v = out.value;
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, 3, "$${") == 0) {
      v += "${";
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      v += text[i++];
      continue;
    }
    size_t close = text.find('}', i + 2);
    if (close == std::string::npos) {
      out.errors.push_back("unterminated '${' (write '$${' for a literal '${')");
      v.append(text, i, std::string::npos);
      break;
    }
    std::string ref = text.substr(i + 2, close - i - 2);
    i = close + 1;
    if (ref.compare(0, 5, "file:") == 0) {
      std::string path = ref.substr(5);
      if (path.empty()) {
        out.errors.push_back("'${file:}' names no file");
        continue;
      }
      std::string error;
      if (auto content = read_secret_file(path, source.base_dir, &error)) {
        v += *content;
        out.secrets.push_back(*content);
      } else if (source.placeholders) {
        v += "${" + ref + "}";
        out.unresolved.push_back(error);
      } else {
        out.errors.push_back(error);
      }
      continue;
    }
    if (!valid_variable_name(ref)) {
      out.errors.push_back("'${" + ref +
                           "}' is not a valid reference: use ${NAME} for an environment "
                           "variable or ${file:PATH} for a file");
      continue;
    }
    std::optional<std::string> value = source.env ? source.env(ref) : std::nullopt;
    if (!value) {
      if (source.placeholders) {
        v += "${" + ref + "}";
        out.unresolved.push_back("environment variable " + ref + " is not set");
      } else {
        out.errors.push_back("environment variable " + ref + " is not set");
      }
      continue;
    }
    v += *value;
    out.secrets.push_back(*value);
  }
  return out;
}

}  // namespace sluice::core::config
