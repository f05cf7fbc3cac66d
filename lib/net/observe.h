// What is on the system for one interface name: the input of the planner.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "plan.h"
#include "rtnl.h"
#include "uapi.h"

namespace wgn {

struct ObserveOptions {
	std::filesystem::path sock_dir = kUapiSocketDir; // tests only
	// Set when the device exists but could not be read for lack of privilege: the
	// observation then has no `device`, which is enough for --dry-run.
	bool *device_unreadable = nullptr;
	// Other failures to read the device (a daemon that hangs or died and left its
	// socket) fail the observation, unless this is set: `down` removes the link
	// whatever the device says, so it can ask for them to be treated like the above.
	bool tolerate_device_errors = false;
};

Result<LinkObservation> observe_link(Rtnl &rtnl, const std::string &ifname,
				     const ObserveOptions &opt = {});

// UAPI when the interface's socket exists, else generic netlink.
std::unique_ptr<WireGuardControl>
control_for(const std::string &ifname, const std::filesystem::path &sock_dir = kUapiSocketDir);

} // namespace wgn
