// The pure heart of `up` and `down`: (desired config, observed system) -> the list of
// operations to make. It touches nothing; `--dry-run` prints it, the data plane runs it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config.h"
#include "device.h"

namespace wgn {

// What is on the system now for one interface name.
struct LinkObservation {
	bool exists = false;
	bool is_wireguard = false;
	bool up = false;
	bool userspace = false; // a UAPI socket answers for it
	uint32_t mtu = 0;
	std::vector<IpPrefix> addresses; // global addresses on the link
	std::vector<IpPrefix> routes;    // routes via the link, other than connected ones
	std::optional<DeviceState> device;
};

// Facts decided outside the pure layer: backend, resolved endpoint, default MTU.
struct PlanContext {
	bool userspace = false; // the backend to create with
	std::string userspace_program = "wireguard-go";
	std::optional<SockAddr> endpoint; // the active hub's endpoint, resolved (absent
	                                  // when it did not resolve, as in dry runs)
	// Several hubs: each one's resolved endpoint by its index in cfg.hubs (absent: did
	// not resolve). Empty: only `endpoint`, for the active hub.
	std::vector<std::optional<SockAddr>> hub_endpoints;
	size_t active_hub = 0;       // index in cfg.hubs of the hub that carries
	                             // allowed_ips
	uint32_t default_mtu = 1420; // as wg-quick computes it
};

enum class OpKind {
	create_link,  // kernel: ip link add NAME type wireguard
	start_daemon, // userspace: wireguard-go NAME
	set_device,   // wg set ... / wg syncconf
	add_address,
	del_address,
	set_mtu,
	add_route,
	del_route,
	link_up,
	verify, // ICMP echo to the hub's tunnel address, or a handshake
	delete_link,
	stop_daemon,
	remove_run_state,
};

struct Operation {
	OpKind kind;
	std::optional<IpPrefix> prefix; // add/del address or route
	uint32_t mtu = 0;               // set_mtu
	DeviceConfig device;            // set_device
	std::string text;               // "[#] ..." without the prefix; secrets as (hidden)
};

std::vector<Operation> plan_up(const Config &cfg, const LinkObservation &obs,
                               const PlanContext &ctx);
std::vector<Operation> plan_down(const std::string &ifname, const LinkObservation &obs,
                                 bool has_run_state);

// True when the plan changes nothing on the system (only a verify, or nothing).
bool plan_is_noop(const std::vector<Operation> &ops);

// Allowed IPs that need a route: those not already covered by an interface address's
// own (connected) prefix.
std::vector<IpPrefix> routes_for(const Config &cfg);

std::string format_plan(const std::vector<Operation> &ops);

// Several hubs (SPEC "Several hubs"). The allowed IPs of hub i's peer when hub `active`
// is active: with one hub, its allowed_ips; with several, the active one's allowed_ips
// and its own tunnel address (a host route, when they do not cover it), and a standby's
// tunnel address only.
std::vector<IpPrefix> hub_allowed_ips(const Config &cfg, size_t hub, size_t active);
// The hub whose peer on the device carries its allowed_ips (beyond its own tunnel
// address), best first; nullopt when none does.
std::optional<size_t> active_hub_of(const Config &cfg, const DeviceState &dev);
// The one request that makes hub `to` active: every hub's peer gets its allowed IPs
// replaced, the standbys first, so the kernel (or daemon) moves each prefix from the
// old active peer to the new one within the request and no prefix ever has two peers.
DeviceConfig switch_hub_config(const Config &cfg, size_t to);
// "wg set wg0 peer KEY allowed-ips ... peer KEY allowed-ips ...", for the [#] line.
std::string describe_switch(const std::string &ifname, const DeviceConfig &d);
// The hub's endpoint as the config has it, and its index: "hub[1] 192.0.2.2:51820".
std::string hub_label(const Config &cfg, size_t hub);

// The hubs' peers of dev removed and added again as they are, in one request (the
// private key is the caller's to add): a new peer may send its handshake at once, where
// an old one waits out REKEY_TIMEOUT (5 s) after its last initiation. For a key switch.
DeviceConfig recreate_hub_peers(const Config &cfg, const DeviceState &dev);

} // namespace wgn
