// systemd's readiness protocol (sd_notify(3)) without libsystemd: `sluice run` tells the service
// manager READY=1, RELOADING=1 and STOPPING=1 with one datagram each to $NOTIFY_SOCKET.
#pragma once

#include <string_view>

namespace sluice::cli {

// Sends `state` (e.g. "READY=1") to the socket named by $NOTIFY_SOCKET: a file system path, or
// an abstract name when it starts with '@'. Without the variable (not run by systemd with
// Type=notify) it does nothing. Returns false only when the variable is set and sending failed;
// a failure is never fatal to the daemon.
bool sd_notify(std::string_view state);

}  // namespace sluice::cli
