// TLS set-up shared by every networked plugin and fake server, so that verification rules are
// the same everywhere: certificate and host-name verification on by default, IP addresses checked
// against IP SANs, TLS 1.2 minimum, CA file or directory configurable, optional client cert.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <sluice/option_problem.hpp>
#include <sluice/readable.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice::tls {

struct ClientOptions {
  bool verify = true;
  std::string ca_file;              // PEM bundle; empty: the system's default store
  std::string ca_dir;               // hashed directory (c_rehash); empty: none
  std::string cert_file;            // client certificate for mutual TLS (PEM)
  std::string key_file;             // its private key (PEM)
  std::string min_version = "1.2";  // "1.2" or "1.3"

  // Reads {"verify", "ca_file", "ca_dir", "cert_file", "key_file", "min_version"} where present.
  static ClientOptions from_json(const nlohmann::json& j) {
    ClientOptions o;
    if (!j.is_object()) return o;
    o.verify = j.value("verify", o.verify);
    o.ca_file = j.value("ca_file", o.ca_file);
    o.ca_dir = j.value("ca_dir", o.ca_dir);
    o.cert_file = j.value("cert_file", o.cert_file);
    o.key_file = j.value("key_file", o.key_file);
    o.min_version = j.value("min_version", o.min_version);
    return o;
  }
};

// JSON Schema of the object ClientOptions::from_json reads, for plugins' option schemas.
inline constexpr const char* kClientOptionsSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "verify": {"type": "boolean", "default": true, "x-sluice-unverified": {"const": false}, "description": "verify the peer's certificate and host name"},
    "ca_file": {"type": "string", "x-sluice-path": true, "description": "PEM file of trusted CAs (default: system store); relative to the pipeline file's folder"},
    "ca_dir": {"type": "string", "x-sluice-path": true, "description": "directory of hashed CA certificates; relative to the pipeline file's folder"},
    "cert_file": {"type": "string", "x-sluice-path": true, "description": "client certificate (PEM) for mutual TLS; relative to the pipeline file's folder"},
    "key_file": {"type": "string", "x-sluice-path": true, "description": "client private key (PEM); relative to the pipeline file's folder"},
    "min_version": {"type": "string", "enum": ["1.2", "1.3"], "default": "1.2"}
  }
})json";

using sluice::unreadable_reason;  // sluice/readable.hpp

// What make_client_context would refuse from the options alone, one problem per option:
// files that do not exist or cannot be read (naming the file and the system's reason), and a
// client certificate without its key or the other way round. `pointer` is the JSON pointer of
// the TLS options object inside the plugin's options (e.g. "/tls").
inline OptionProblems check_client_files(const ClientOptions& o, const std::string& pointer) {
  OptionProblems problems;
  const std::string where = pointer.empty() ? std::string() : pointer.substr(1) + ".";
  auto check = [&](const std::string& key, const std::string& path, bool dir) {
    if (path.empty()) return;
    const std::string why = unreadable_reason(path, dir);
    if (!why.empty())
      problems.push_back({pointer + "/" + key, where + key + ": cannot read " + path + ": " + why});
  };
  if (o.verify) {
    check("ca_file", o.ca_file, false);
    check("ca_dir", o.ca_dir, true);
  }
  check("cert_file", o.cert_file, false);
  check("key_file", o.key_file, false);
  if (!o.cert_file.empty() && o.key_file.empty())
    problems.push_back({pointer + "/cert_file", where + "cert_file needs " + where + "key_file"});
  if (o.cert_file.empty() && !o.key_file.empty())
    problems.push_back({pointer + "/key_file", where + "key_file needs " + where + "cert_file"});
  return problems;
}

// What make_client_context throws when a file it loads is unusable: the message names the
// option, the file and the reason; `key` is the option (ca_file, ca_dir, cert_file, key_file).
struct ClientFileError : std::runtime_error {
  ClientFileError(std::string k, const std::string& message)
      : std::runtime_error(message), key(std::move(k)) {}
  std::string key;
};

// Throws std::runtime_error naming the option, the file and the reason (a file that is not
// PEM, a key that does not match its certificate: ClientFileError); run check_client_files
// first for the problems the options alone show.
inline boost::asio::ssl::context make_client_context(const ClientOptions& o) {
  namespace ssl = boost::asio::ssl;
  ssl::context ctx(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx.native_handle(),
                                o.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  if (OptionProblems p = check_client_files(o, "/tls"); !p.empty())
    throw std::runtime_error(p.front().message);
  auto load = [](const char* key, const std::string& path, auto&& call) {
    boost::system::error_code ec;
    call(ec);
    if (ec)
      throw ClientFileError(
          key, std::string("tls.") + key + ": cannot use " + path + ": " + ec.message());
  };
  if (o.verify) {
    ctx.set_verify_mode(ssl::verify_peer);
    if (o.ca_file.empty() && o.ca_dir.empty()) ctx.set_default_verify_paths();
    if (!o.ca_file.empty())
      load("ca_file", o.ca_file, [&](auto& ec) { ctx.load_verify_file(o.ca_file, ec); });
    if (!o.ca_dir.empty())
      load("ca_dir", o.ca_dir, [&](auto& ec) { ctx.add_verify_path(o.ca_dir, ec); });
  } else {
    ctx.set_verify_mode(ssl::verify_none);
  }
  if (!o.cert_file.empty())
    load("cert_file", o.cert_file,
         [&](auto& ec) { ctx.use_certificate_chain_file(o.cert_file, ec); });
  if (!o.key_file.empty())
    load("key_file", o.key_file,
         [&](auto& ec) { ctx.use_private_key_file(o.key_file, ssl::context::pem, ec); });
  return ctx;
}

// Everything make_client_context would refuse, as option problems, without any network: the
// problems of check_client_files and, when there are none, what building the context finds (a
// file that is not PEM, a key that does not match its certificate), each at its option under
// `pointer`, with make_client_context's message. For the 1.1 check_options entry of a plugin
// whose create() (or start()) builds the context from the same options.
inline OptionProblems check_client_context(const ClientOptions& o,
                                           const std::string& pointer = "/tls") {
  OptionProblems problems = check_client_files(o, pointer);
  // Without a file to load, building the context cannot fail on the options.
  const bool no_files = (!o.verify || (o.ca_file.empty() && o.ca_dir.empty())) &&
                        o.cert_file.empty() && o.key_file.empty();
  if (!problems.empty() || no_files) return problems;
  try {
    make_client_context(o);
  } catch (const ClientFileError& e) {
    problems.push_back({pointer + "/" + e.key, e.what()});
  } catch (const std::exception& e) {
    problems.push_back({pointer, e.what()});
  }
  return problems;
}

// Before the handshake: SNI for host names, and the name or address the certificate must match.
inline void prepare_client(SSL* ssl, const std::string& host, bool verify) {
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(host, ec);
  if (ec) SSL_set_tlsext_host_name(ssl, host.c_str());  // SNI is for names, never addresses
  if (!verify) return;
  if (!ec) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (X509_VERIFY_PARAM_set1_ip_asc(param, address.to_string().c_str()) != 1)
      throw std::runtime_error("cannot verify IP address " + host);
  } else {
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl, host.c_str()) != 1)
      throw std::runtime_error("cannot verify host name " + host);
  }
}

// ---- servers (fakes and test receivers) ----------------------------------------------------

struct CertificatePem {
  std::string certificate;
  std::string private_key;
};

// A self-signed P-256 certificate valid for `names` (DNS names or IP addresses) for ten years.
inline CertificatePem generate_self_signed(const std::vector<std::string>& names = {
                                               "localhost", "127.0.0.1", "::1"}) {
  auto fail = [](const char* what) {
    throw std::runtime_error(std::string("self-signed certificate: ") + what);
  };
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  if (!key) fail("key generation");
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), static_cast<long>(time(nullptr)));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* subject = X509_get_subject_name(cert.get());
  const std::string cn = names.empty() ? "localhost" : names.front();
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), subject);
  std::string san;
  for (const auto& n : names) {
    boost::system::error_code ec;
    boost::asio::ip::make_address(n, ec);
    if (!san.empty()) san += ",";
    san += (ec ? "DNS:" : "IP:") + n;
  }
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert.get(), cert.get(), nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair<int, std::string>{NID_subject_alt_name, san},
                            {NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str());
    if (!ext) fail("extension");
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) fail("signing");

  auto to_pem = [&](auto write) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    write(bio.get());
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(len));
  };
  CertificatePem pem;
  pem.certificate = to_pem([&](BIO* b) { PEM_write_bio_X509(b, cert.get()); });
  pem.private_key = to_pem([&](BIO* b) {
    PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  return pem;
}

inline boost::asio::ssl::context make_server_context(const CertificatePem& pem) {
  namespace ssl = boost::asio::ssl;
  ssl::context ctx(ssl::context::tls_server);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  ctx.use_certificate_chain(boost::asio::buffer(pem.certificate));
  ctx.use_private_key(boost::asio::buffer(pem.private_key), ssl::context::pem);
  return ctx;
}

}  // namespace sluice::tls
