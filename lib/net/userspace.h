// Starting and stopping the userspace daemon of one interface.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <sys/types.h>

#include "error.h"
#include "uapi.h"

namespace wgn {

struct DaemonOptions {
	std::filesystem::path sock_dir = kUapiSocketDir; // tests only
	// The daemon's stdout and stderr. It outlives wgn, so they cannot be a pipe to
	// us (Go dies of SIGPIPE writing to fd 2 once we are gone); empty: run_dir()/NAME.log.
	std::filesystem::path log_path;
};

// Runs `program ifname` in the foreground mode (WG_PROCESS_FOREGROUND=1) in its own
// session, so its pid is the daemon's and `down` can make sure it is gone. Returns once
// the UAPI socket accepts a connection; fails (os) with the daemon's output if it exits
// first or the timeout passes (the daemon is then killed). An implementation that puts
// itself in the background anyway (its first process exits 0) is waited for all the
// same; the pid is then 0 (or that first process's, which is about to exit), and
// stop_userspace_daemon, which kills only a pid that still is `<daemon> ifname`, goes
// by the socket.
Result<pid_t> start_userspace_daemon(const std::string &program, const std::string &ifname,
                                     double timeout_sec, const DaemonOptions &opt = {});

// Whether pid is the daemon that start_userspace_daemon started for ifname: `<daemon>
// ifname` with its stdout or stderr on the daemon's log (a reused pid is not).
bool is_daemon_of(pid_t pid, const std::string &ifname, const DaemonOptions &opt = {});

// Deletes the link (the daemon exits when its tun goes), removes the socket, and if
// pid (checked with is_daemon_of) still lives, SIGTERM, then SIGKILL after the
// timeout.
Status stop_userspace_daemon(const std::string &ifname, std::optional<pid_t> pid,
                             double timeout_sec, const DaemonOptions &opt = {});

} // namespace wgn
