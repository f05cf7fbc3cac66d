// Switching the active hub of a tunnel with several hubs (SPEC "Several hubs"): the
// operation behind `health --repair` and `watch` when they fail over or back. It moves
// the allowed IPs in one set-device request (plan.h's switch_hub_config): the standbys'
// peers shrink to their own tunnel address and the new active peer takes the networks,
// all in one netlink message or one UAPI set, so that no prefix is ever routed by two
// hubs and the interface, its addresses and routes stay as they are (connections
// through the tunnel survive). It then records the active hub in the run state.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "config.h"
#include "device.h"
#include "error.h"
#include "runstate.h"

namespace wgn::ops {

struct FailoverOutcome {
	std::string interface;
	std::optional<size_t> from; // the hub that was active (nullopt: none was)
	size_t to = 0;
	bool changed = false;       // the request was made (false: `to` was active already)
	std::optional<Error> error; // the request failed: the device is as it was
};

class FailoverEffects {
public:
	virtual ~FailoverEffects() = default;
	// The per-interface lock (lock.h), held until unlock().
	virtual Status lock(const std::string &ifname) = 0;
	virtual void unlock() = 0;
	// The device's control channel (kernel or the daemon's UAPI socket).
	virtual WireGuardControl &wg(const std::string &ifname) = 0;
	virtual Result<std::optional<RunState>> read_run_state(const std::string &ifname) = 0;
	virtual Status write_run_state(const RunState &rs) = 0;
};

std::unique_ptr<FailoverEffects> system_failover_effects();

// Makes cfg.hubs[to] the active hub: under the interface lock, reads the device (which
// hub carries the allowed IPs now), sends switch_hub_config in one request unless `to`
// is active already, and records it in the run state when there is one (a failure to
// write it is said on stderr and changes nothing: the device is the truth).
// Says the effect ("[#] wg set ...", -v) and one progress line.
// Errors: config when cfg has fewer than two hubs or no hub `to`; those of the device.
FailoverOutcome failover(const Config &cfg, size_t to, FailoverEffects &fx);
FailoverOutcome failover(const Config &cfg, size_t to);

} // namespace wgn::ops
