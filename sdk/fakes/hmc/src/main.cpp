// sluice-fake-hmc: the fake HMC as a program, for shells, demos and tests in other languages.
#include <sluice/fakes/hmc.hpp>

#include <boost/program_options.hpp>

#include <csignal>
#include <fstream>
#include <iostream>
#include <sstream>

#include <pthread.h>

namespace po = boost::program_options;
using sluice::fakes::hmc::FakeHmc;

static std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

int main(int argc, char** argv) {
  po::options_description desc(
      "sluice-fake-hmc: a fake IBM Z HMC (WS API over HTTPS + STOMP notifications)\n\n"
      "Usage: sluice-fake-hmc [options]\n\nOptions");
  // clang-format off
  desc.add_options()
    ("help,h", "print this help and exit")
    ("address", po::value<std::string>()->default_value("127.0.0.1"), "address to listen on")
    ("api-port", po::value<uint16_t>()->default_value(6794), "HTTPS WS API port (0: ephemeral)")
    ("stomp-port", po::value<uint16_t>()->default_value(61612), "STOMP port (0: ephemeral)")
    ("plain-stomp", "STOMP over plain TCP instead of TLS")
    ("stomp-version", po::value<std::string>(), "highest STOMP version to answer (1.0, 1.1, 1.2; "
                                                 "default 1.2; a real HMC answers 1.1)")
    ("cert", po::value<std::string>(), "server certificate chain (PEM); default: self-signed")
    ("key", po::value<std::string>(), "private key of --cert (PEM)")
    ("ca-out", po::value<std::string>(), "write the certificate clients must trust to this file")
    ("scenario", po::value<std::string>(), "scenario file (JSON): users, CPCs, partitions, topics")
    ("script", po::value<std::string>(), "script file (JSON lines): notifications and faults")
    ("loop", "replay the script forever")
    ("exit-after-script", "exit once the script has run and everything is written")
    ("ready-file", po::value<std::string>(),
     "write {\"api_port\",\"stomp_port\",\"ca_file\"} here once listening")
    ("quiet,q", "log nothing but errors");
  // clang-format on
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "sluice-fake-hmc: " << e.what() << "\n(try --help)\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }

  // Signals are taken by sigwait below; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  try {
    sluice::fakes::hmc::Options o;
    o.address = vm["address"].as<std::string>();
    o.api_port = vm["api-port"].as<uint16_t>();
    o.stomp_port = vm["stomp-port"].as<uint16_t>();
    o.stomp_tls = !vm.count("plain-stomp");
    if (vm.count("cert") != vm.count("key")) throw std::runtime_error("--cert needs --key");
    if (vm.count("cert"))
      o.certificate = sluice::tls::CertificatePem{read_file(vm["cert"].as<std::string>()),
                                                  read_file(vm["key"].as<std::string>())};
    if (vm.count("scenario")) {
      const std::string path = vm["scenario"].as<std::string>();
      try {
        o.scenario = nlohmann::json::parse(read_file(path));
      } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(path + ": " + e.what());
      }
    }
    if (vm.count("stomp-version"))
      o.scenario["stomp"]["max_version"] = vm["stomp-version"].as<std::string>();
    if (vm.count("quiet")) o.log = [](const std::string&) {};

    FakeHmc fake(o);
    if (vm.count("script")) {
      std::ifstream in(vm["script"].as<std::string>());
      if (!in) throw std::runtime_error("cannot read " + vm["script"].as<std::string>());
      fake.load_script(in, vm.count("loop") > 0);
    }
    fake.start();
    std::string ca_file;
    if (vm.count("ca-out")) {
      ca_file = vm["ca-out"].as<std::string>();
      fake.write_ca(ca_file);
    }
    if (vm.count("ready-file")) {
      const std::string path = vm["ready-file"].as<std::string>();
      const std::string tmp = path + ".tmp";
      {
        std::ofstream out(tmp, std::ios::trunc);
        out << nlohmann::json{{"api_port", fake.api_port()},
                              {"stomp_port", fake.stomp_port()},
                              {"ca_file", ca_file}}
                   .dump()
            << "\n";
        if (!out.flush()) throw std::runtime_error("cannot write " + tmp);
      }
      std::rename(tmp.c_str(), path.c_str());  // readers never see half a file
    }

    if (vm.count("exit-after-script")) {
      // Poll the queue; a signal still ends it early.
      timespec tick{0, 50 * 1000 * 1000};
      while (!fake.wait_idle(std::chrono::milliseconds(0))) {
        siginfo_t info;
        if (sigtimedwait(&signals, &info, &tick) > 0) break;
      }
    } else {
      int sig = 0;
      sigwait(&signals, &sig);
    }
    std::cerr << "sluice-fake-hmc: " << fake.stats().to_json().dump() << "\n";
    fake.stop();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "sluice-fake-hmc: " << e.what() << "\n";
    return 1;
  }
}
