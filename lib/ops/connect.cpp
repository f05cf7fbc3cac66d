#include "connect.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <netdb.h>
#include <unistd.h>

#include "log.h"
#include "wg_genl.h"

namespace wgn {

static Error interrupted_error()
{
	return make_error(Errc::temp_fail, "interrupted");
}

Result<Connected> connect_with_retries(ConnectEnv &env, const ConnectPolicy &p,
                                       const std::string &ifname, int *attempts)
{
	const int total = p.max_retries + 1;
	int made = 0;
	auto count = [&] {
		if (attempts)
			*attempts = made;
	};
	auto timed_out = [&](const std::string &last) {
		count();
		return make_error(Errc::temp_fail,
		                  ifname + ": timed out after " + format_seconds(p.timeout) +
		                          "s (" + std::to_string(made) + " attempt" +
		                          (made == 1 ? "" : "s") + "; last: " + last + ")");
	};

	std::string last = "no attempt was made";
	for (int i = 1; i <= total; ++i) {
		if (env.interrupted())
			return count(), interrupted_error();
		double left = p.deadline - env.now();
		if (left <= 0)
			return timed_out(last);
		++made;
		std::string why;
		auto r = env.refresh_endpoint();
		if (!r && r.error().code != Errc::unavailable)
			return count(), r.error();
		if (!r) {
			why = r.error().message;
		} else {
			auto v = env.verify(std::min(p.attempt_timeout, left));
			if (v) {
				count();
				return Connected{made, *v};
			}
			if (env.interrupted())
				return count(), interrupted_error();
			if (v.error().code != Errc::unavailable)
				return count(), v.error();
			why = v.error().message;
		}
		last = why;
		std::string line = ifname;
		line += ": attempt " + std::to_string(i) + "/" + std::to_string(total);
		line += " failed: " + why;
		if (i == total) {
			progress(line);
			if (p.deadline - env.now() <= 0)
				return timed_out(last);
			break;
		}
		double delay = p.backoff.delay(i - 1, env.jitter_unit());
		left = p.deadline - env.now();
		// Waiting only to find the deadline passed helps no one: stop now.
		if (left <= delay) {
			progress(line);
			return timed_out(last);
		}
		progress(line + "; retrying in " + format_seconds(delay) + "s");
		if (!env.sleep(delay) || env.interrupted())
			return count(), interrupted_error();
	}
	count();
	return make_error(Errc::unavailable,
	                  ifname + ": the hub did not answer in " + std::to_string(total) +
	                          " attempt" + (total == 1 ? "" : "s") + " (last: " + last + ")");
}

bool endpoint_is_name(const Endpoint &e)
{
	return !parse_ip(e.host).has_value();
}

Result<SockAddr> resolve_endpoint(const Endpoint &e)
{
	addrinfo hints{};
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_protocol = IPPROTO_UDP;
	hints.ai_flags = AI_NUMERICSERV | (endpoint_is_name(e) ? 0 : AI_NUMERICHOST);
	addrinfo *res = nullptr;
	std::string port = std::to_string(e.port);
	int rc = getaddrinfo(e.host.c_str(), port.c_str(), &hints, &res);
	if (rc != 0 || !res)
		return make_error(
		        Errc::unavailable,
		        "cannot resolve " + e.host + ": " +
		                (rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc)));
	SockAddr s;
	std::memcpy(&s.ss, res->ai_addr, res->ai_addrlen);
	s.len = res->ai_addrlen;
	freeaddrinfo(res);
	return s;
}

uint32_t wg_quick_mtu(uint32_t route_mtu, uint32_t default_mtu)
{
	uint32_t mtu = route_mtu ? route_mtu : default_mtu;
	if (mtu == 0)
		mtu = 1500;
	// An absurdly small path MTU would leave nothing; IPv6 needs 1280 anyway.
	return mtu > 80 + 576 ? mtu - 80 : 1420;
}

bool has_cap_net_admin()
{
	std::ifstream f("/proc/self/status");
	std::string line;
	while (std::getline(f, line))
		if (line.rfind("CapEff:", 0) == 0) {
			unsigned long long caps = std::stoull(line.substr(7), nullptr, 16);
			return caps & (1ULL << 12); // CAP_NET_ADMIN
		}
	return geteuid() == 0;
}

static std::string userspace_program()
{
	const char *p = std::getenv("WG_QUICK_USERSPACE_IMPLEMENTATION");
	return p && *p ? p : "wireguard-go";
}

// Which backend a new device gets. An existing device keeps the one it has.
static Result<bool> choose_userspace(const Config &cfg)
{
	switch (cfg.interface.backend) {
	case Backend::userspace:
		return true;
	case Backend::kernel:
		if (!GenlWireGuard::kernel_has_wireguard())
			return make_error(Errc::os, "backend = \"kernel\", but this kernel has no "
			                            "WireGuard (modprobe wireguard?)");
		return false;
	case Backend::automatic:
		break;
	}
	return !GenlWireGuard::kernel_has_wireguard();
}

// Everything that is decided outside the planner: backend, endpoint, MTU.
Result<PlanContext> make_plan_context(const Config &cfg, Rtnl *rtnl, const LinkObservation &obs)
{
	PlanContext ctx;
	ctx.userspace_program = userspace_program();
	if (obs.exists) {
		ctx.userspace = obs.userspace;
	} else {
		auto u = choose_userspace(cfg);
		if (!u)
			return u.error();
		ctx.userspace = *u;
	}
	// Several hubs: the one the device routes through stays active (a reconcile does
	// not switch hubs); a new device starts with the preferred one.
	if (cfg.hubs.size() > 1 && obs.device)
		ctx.active_hub = active_hub_of(cfg, *obs.device).value_or(0);
	// A name that does not resolve now is tried again on every attempt. A hub's own
	// config has no endpoint to dial.
	if (cfg.is_hub_config) {
	} else if (cfg.hubs.size() > 1) {
		for (auto &h : cfg.hubs) {
			auto ep = resolve_endpoint(h.endpoint);
			ctx.hub_endpoints.push_back(ep ? std::optional<SockAddr>(*ep)
			                               : std::nullopt);
		}
		ctx.endpoint = ctx.hub_endpoints[ctx.active_hub];
	} else if (auto ep = resolve_endpoint(cfg.hub.endpoint)) {
		ctx.endpoint = *ep;
	}
	uint32_t route = 0, dflt = 0;
	if (rtnl && !cfg.interface.mtu) {
		if (ctx.endpoint)
			if (auto m = rtnl->route_mtu_to(*ctx.endpoint))
				route = *m;
		if (!route)
			if (auto m = rtnl->default_route_mtu())
				dflt = *m;
	}
	ctx.default_mtu = wg_quick_mtu(route, dflt);
	return ctx;
}

} // namespace wgn
