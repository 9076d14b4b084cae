// sluice-fake-ldmd: the fake ldmd as a program, for demos and tests outside C++.
#include <sluice/fakes/ldmd.hpp>

#include <boost/program_options.hpp>

#include <csignal>
#include <fstream>
#include <iostream>
#include <sstream>

namespace po = boost::program_options;
using namespace sluice::fakes::ldmd;

namespace {
volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) {
  g_stop = 1;
}
}  // namespace

int main(int argc, char** argv) {
  po::options_description desc(
      "sluice-fake-ldmd: a fake Logical Domains Manager XML interface (XMPP, STARTTLS, SASL\n"
      "PLAIN, LDM_interface registration, scripted LDM_event documents and faults).\n\n"
      "Options");
  std::string address, mode, user, password, script_file, ready_file, ca_out, reg_failure;
  uint16_t port = 0;
  desc.add_options()("help,h", "show this help")(
      "address", po::value(&address)->default_value("127.0.0.1"), "address to listen on")(
      "port", po::value(&port)->default_value(6482), "TCP port; 0 picks a free one")(
      "mode", po::value(&mode)->default_value("remote"),
      "remote (SASL PLAIN after TLS) or local (no SASL, as for clients on the control domain)")(
      "user", po::value(&user)->default_value("admin"), "SASL PLAIN user accepted")(
      "password", po::value(&password)->default_value("secret"), "SASL PLAIN password accepted")(
      "script", po::value(&script_file),
      "JSON-lines script of events and faults (default: every documented action once)")(
      "ready-file", po::value(&ready_file),
      "write the listening port here once ready (written atomically)")(
      "ca-out", po::value(&ca_out), "write the generated self-signed certificate (PEM) here")(
      "refuse-auth", "answer every SASL <auth> with <failure>")(
      "registration-failure", po::value(&reg_failure),
      "answer registration requests with failure and this resp_msg")(
      "ignore-unregister", "never answer unreg- requests")(
      "close-after-script", "send </stream:stream> and close once the script is done")(
      "exit-after-script", "exit once the script is done and the client has gone");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "sluice-fake-ldmd: " << e.what() << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout
        << desc << "\nScript lines, e.g.:\n"
        << R"(  {"event": "start-domain", "domain": "ldg1", "repeat": 10, "rate": 100})"
           "\n"
        << R"(  {"event": "add-vcpu", "domain": "ldg1", "properties": {"number": "8"}})"
           "\n"
        << R"(  {"xml": "<LDM_event version='1.0'>...</LDM_event>"})"
           "\n"
        << R"(  {"sleep": "500ms"})"
           "\n"
        << R"(  {"fault": "split", "bytes": 1} | {"fault": "glue", "count": 5} | {"fault": "close"})"
           "\n"
        << R"(  {"fault": "close_mid_document"} | {"fault": "malformed"} | {"fault": "oversized", "bytes": "5MiB"})"
           "\n";
    return 0;
  }
  if (mode != "remote" && mode != "local") {
    std::cerr << "sluice-fake-ldmd: --mode must be remote or local\n";
    return 2;
  }
  Options o;
  o.address = address;
  o.port = port;
  o.local_mode = mode == "local";
  o.user = user;
  o.password = password;
  o.refuse_auth = vm.count("refuse-auth") > 0;
  o.registration_failure = reg_failure;
  o.ignore_unregister = vm.count("ignore-unregister") > 0;
  o.close_after_script = vm.count("close-after-script") > 0;
  try {
    if (!script_file.empty()) {
      std::ifstream in(script_file);
      if (!in) throw std::runtime_error("cannot read script " + script_file);
      std::stringstream text;
      text << in.rdbuf();
      o.script = parse_script(text.str());
    } else {
      o.script = every_action_script();
    }
    FakeLdmd fake(o);
    if (!ca_out.empty()) {
      std::ofstream out(ca_out);
      out << fake.ca_pem();
      if (!out) throw std::runtime_error("cannot write " + ca_out);
    }
    if (!ready_file.empty()) {
      std::string tmp = ready_file + ".tmp";
      {
        std::ofstream out(tmp);
        out << fake.port() << "\n";
        if (!out) throw std::runtime_error("cannot write " + ready_file);
      }
      std::rename(tmp.c_str(), ready_file.c_str());
    }
    std::cerr << "sluice-fake-ldmd: listening on " << address << ":" << fake.port() << " (" << mode
              << " mode, " << o.script.size() << " script steps)\n";
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    const bool exit_after = vm.count("exit-after-script") > 0;
    while (!g_stop) {
      bool done = fake.wait(
          [&](const Stats& s) {
            return exit_after && s.script_done && s.disconnects >= s.connections;
          },
          std::chrono::milliseconds(200));
      if (done) break;
    }
    Stats s = fake.stats();
    fake.stop();
    std::cerr << "sluice-fake-ldmd: connections=" << s.connections << " auth_ok=" << s.auth_ok
              << " auth_failed=" << s.auth_failed << " events_sent=" << s.events_sent
              << " events_skipped=" << s.events_skipped << " raw_sent=" << s.raw_sent << "\n";
  } catch (const std::exception& e) {
    std::cerr << "sluice-fake-ldmd: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
