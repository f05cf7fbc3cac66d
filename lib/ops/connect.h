// Verifying a tunnel with retries: one attempt is one probe (probe.h) with
// attempt_timeout; between attempts, exponential backoff with jitter (backoff.h);
// before each, a name endpoint is resolved again. One progress line per failed attempt,
// as SPEC shows it:
//   wgn: wg0: attempt 2/6 failed: hub 10.0.0.1 did not answer within 5.0s; retrying in 4.3s
// The effects sit behind ConnectEnv, so the loop is tested with a fake clock.
#pragma once

#include <optional>
#include <string>

#include "backoff.h"
#include "error.h"
#include "netaddr.h"
#include "plan.h"
#include "rtnl.h"

namespace wgn {

class ConnectEnv {
public:
	virtual ~ConnectEnv() = default;
	// Resolves the endpoint again and points the peer at it when it moved. An error
	// of kind unavailable (a name that does not resolve now) fails this attempt only;
	// any other error ends the loop.
	virtual Status refresh_endpoint() = 0;
	// One probe. unavailable: no answer this time; any other error ends the loop.
	// Returns the round-trip (or handshake) time in seconds.
	virtual Result<double> verify(double timeout) = 0;
	virtual double now() = 0; // monotonic seconds
	// Waits; false when a signal cut the wait short.
	virtual bool sleep(double seconds) = 0;
	virtual bool interrupted() = 0;
	virtual double jitter_unit() = 0; // uniform in [0, 1)
	// Several hubs: the index (in cfg.hubs) of the hub that answered last and is
	// active now; verify may switch to the best hub that answers. nullopt: one hub.
	virtual std::optional<size_t> active_hub() { return std::nullopt; }
};

struct ConnectPolicy {
	int max_retries = 5; // attempts after the first
	BackoffPolicy backoff;
	double attempt_timeout = 5.0;
	double deadline = 0;    // on env.now()'s clock: the end of the whole `up`
	double timeout = 120.0; // what the deadline stands for, for the message
};

struct Connected {
	int attempts = 0;
	double rtt = 0; // seconds, of the answer that counted
};

// Errors: unavailable (69) after max_retries + 1 failed attempts; temp_fail (75) when
// the deadline ends it, or "interrupted" when a signal did; other errors as they came.
// *attempts (may be null) counts the attempts made, in success and failure alike.
Result<Connected> connect_with_retries(ConnectEnv &env, const ConnectPolicy &p,
                                       const std::string &ifname, int *attempts = nullptr);

// The hub endpoint as a socket address: a numeric host as it is, a name through
// getaddrinfo (the first answer, as wg(8) takes it). Errors: unavailable (69) when the
// name does not resolve now, so that a retry tries again.
Result<SockAddr> resolve_endpoint(const Endpoint &e);
bool endpoint_is_name(const Endpoint &e);

// The MTU wg-quick gives a new interface: the MTU of the route toward the endpoint,
// else that of the default route's device, else 1500; minus 80 for the WireGuard
// overhead (IPv6 header 40, UDP 8, WireGuard 32). route_mtu is what the route to the
// endpoint says (0: unknown), default_mtu what the default route's device says.
uint32_t wg_quick_mtu(uint32_t route_mtu, uint32_t default_mtu);

// What `up` decides outside the planner: the backend (an existing device keeps its
// own; a new one is kernel when the kernel has WireGuard, unless the config says
// otherwise; userspace is $WG_QUICK_USERSPACE_IMPLEMENTATION, default wireguard-go),
// the endpoint resolved now (absent when a name does not resolve: every attempt tries
// again) and the MTU as wg-quick computes it. rtnl may be null (no MTU lookup).
// Errors: os (71) for backend = "kernel" on a kernel without WireGuard.
Result<PlanContext> make_plan_context(const Config &cfg, Rtnl *rtnl, const LinkObservation &obs);

// CAP_NET_ADMIN in our effective set (/proc/self/status), which every change needs.
bool has_cap_net_admin();

} // namespace wgn
