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
	bool userspace = false;               // the backend to create with
	std::string userspace_program = "wireguard-go";
	std::optional<SockAddr> endpoint;     // resolved hub endpoint (absent in dry runs)
	uint32_t default_mtu = 1420;          // as wg-quick computes it
};

enum class OpKind {
	create_link,   // kernel: ip link add NAME type wireguard
	start_daemon,  // userspace: wireguard-go NAME
	set_device,    // wg set ... / wg syncconf
	add_address,
	del_address,
	set_mtu,
	add_route,
	del_route,
	link_up,
	verify,        // ICMP echo to the hub's tunnel address, or a handshake
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

} // namespace wgn
