#include "plan.h"

#include "log.h"

#include <algorithm>
#include <sstream>

namespace wgn {

static const char *ip_family_flag(const IpPrefix &p)
{
	return p.addr.family == AF_INET6 ? "-6" : "-4";
}

std::vector<IpPrefix> routes_for(const Config &cfg)
{
	std::vector<IpPrefix> out;
	for (auto &aip : cfg.hub.allowed_ips) {
		bool on_link = std::any_of(
		    cfg.interface.addresses.begin(), cfg.interface.addresses.end(),
		    [&](const IpPrefix &a) {
			    return a.addr.family == aip.addr.family && a.prefix_len <= aip.prefix_len &&
				   a.network().contains(aip.addr);
		    });
		if (!on_link)
			out.push_back(aip);
	}
	return out;
}

// `unresolved` names the hub's endpoint when it could not be resolved (a dry run).
static std::string describe_device(const std::string &ifname, const DeviceConfig &d,
				   const std::string &unresolved)
{
	std::ostringstream s;
	s << "wg set " << ifname;
	if (d.private_key)
		s << " private-key (hidden)";
	if (d.listen_port)
		s << " listen-port " << *d.listen_port;
	if (d.fwmark)
		s << " fwmark " << *d.fwmark;
	for (auto &p : d.peers) {
		s << " peer " << base64_encode(p.public_key);
		if (p.remove) {
			s << " remove";
			continue;
		}
		if (p.preshared_key)
			s << " preshared-key (hidden)";
		if (p.endpoint)
			s << " endpoint " << p.endpoint->str();
		else if (!unresolved.empty())
			s << " endpoint " << unresolved;
		if (p.persistent_keepalive)
			s << " persistent-keepalive " << *p.persistent_keepalive;
		if (p.replace_allowed_ips) {
			s << " allowed-ips ";
			for (size_t i = 0; i < p.allowed_ips.size(); ++i)
				s << (i ? "," : "") << p.allowed_ips[i].str();
		}
	}
	return s.str();
}

static Operation op(OpKind k, std::string text)
{
	Operation o{k, std::nullopt, 0, {}, std::move(text)};
	return o;
}

static Operation prefix_op(OpKind k, const IpPrefix &p, std::string text)
{
	Operation o = op(k, std::move(text));
	o.prefix = p;
	return o;
}

// The device update that takes `have` (absent: a fresh device) to the config.
static std::optional<DeviceConfig> device_diff(const Config &cfg, const PlanContext &ctx,
					       const std::optional<DeviceState> &have)
{
	const auto &ic = cfg.interface;
	const auto &hub = cfg.hub;
	DeviceConfig d;
	bool changed = false;

	if (!have || !have->has_private_key || have->public_key != ic.public_key) {
		d.private_key = ic.private_key;
		changed = true;
	}
	if (ic.listen_port && (!have || have->listen_port != *ic.listen_port)) {
		d.listen_port = ic.listen_port;
		changed = true;
	}
	if ((!have && ic.fwmark) || (have && have->fwmark != ic.fwmark)) {
		d.fwmark = ic.fwmark;
		changed = true;
	}

	// A hub's own config: its peers are `wgn sync`'s and the administrator's.
	if (cfg.is_hub_config)
		return changed ? std::optional<DeviceConfig>(std::move(d)) : std::nullopt;

	const PeerState *peer = nullptr;
	if (have)
		for (auto &p : have->peers) {
			if (p.public_key == hub.public_key)
				peer = &p;
			else {
				// The hub is the only peer wgn manages; anything else is stale.
				PeerConfig gone;
				gone.public_key = p.public_key;
				gone.remove = true;
				d.peers.push_back(gone);
				changed = true;
			}
		}

	PeerConfig pc;
	pc.public_key = hub.public_key;
	bool peer_changed = !peer;
	if (ctx.endpoint && (!peer || !peer->endpoint || !(*peer->endpoint == *ctx.endpoint))) {
		pc.endpoint = ctx.endpoint;
		peer_changed = true;
	}
	uint16_t keepalive = hub.persistent_keepalive.value_or(0);
	if ((!peer && keepalive) || (peer && peer->persistent_keepalive != keepalive)) {
		pc.persistent_keepalive = keepalive;
		peer_changed = true;
	}
	bool want_psk = hub.preshared_key.has_value();
	bool have_psk = peer && peer->preshared_key.has_value();
	if (want_psk && (!have_psk || !(*peer->preshared_key == *hub.preshared_key))) {
		pc.preshared_key = hub.preshared_key;
		peer_changed = true;
	} else if (!want_psk && have_psk) {
		pc.preshared_key = SecretKey(Key{}); // all zeroes clears it
		peer_changed = true;
	}
	auto want_ips = hub.allowed_ips;
	std::sort(want_ips.begin(), want_ips.end());
	std::vector<IpPrefix> have_ips;
	if (peer) {
		for (auto &p : peer->allowed_ips)
			have_ips.push_back(p.network());
		std::sort(have_ips.begin(), have_ips.end());
	}
	if (!peer || have_ips != want_ips) {
		pc.replace_allowed_ips = true;
		pc.allowed_ips = hub.allowed_ips;
		peer_changed = true;
	}
	if (peer_changed) {
		d.peers.push_back(pc);
		changed = true;
	}
	if (!changed)
		return std::nullopt;
	return d;
}

std::vector<Operation> plan_up(const Config &cfg, const LinkObservation &obs,
			       const PlanContext &ctx)
{
	const auto &ic = cfg.interface;
	const std::string &dev = ic.name;
	std::vector<Operation> ops;
	bool fresh = !obs.exists;

	if (fresh) {
		if (ctx.userspace)
			ops.push_back(op(OpKind::start_daemon, ctx.userspace_program + " " + dev));
		else
			ops.push_back(
			    op(OpKind::create_link, "ip link add " + dev + " type wireguard"));
	}

	if (auto d = device_diff(cfg, ctx, fresh ? std::nullopt : obs.device)) {
		std::string unresolved = ctx.endpoint ? "" : cfg.hub.endpoint.str();
		Operation o = op(OpKind::set_device, describe_device(dev, *d, unresolved));
		o.device = std::move(*d);
		ops.push_back(std::move(o));
	}

	for (auto &a : obs.addresses)
		if (std::find(ic.addresses.begin(), ic.addresses.end(), a) == ic.addresses.end())
			ops.push_back(prefix_op(OpKind::del_address, a,
						std::string("ip ") + ip_family_flag(a) +
						    " address del " + a.str() + " dev " + dev));
	for (auto &a : ic.addresses)
		if (fresh || std::find(obs.addresses.begin(), obs.addresses.end(), a) ==
				 obs.addresses.end())
			ops.push_back(prefix_op(OpKind::add_address, a,
						std::string("ip ") + ip_family_flag(a) +
						    " address add " + a.str() + " dev " + dev));

	uint32_t mtu = ic.mtu.value_or(ctx.default_mtu);
	if (fresh || obs.mtu != mtu) {
		Operation o = op(OpKind::set_mtu,
				 "ip link set mtu " + std::to_string(mtu) + " dev " + dev);
		o.mtu = mtu;
		ops.push_back(o);
	}
	if (fresh || !obs.up)
		ops.push_back(op(OpKind::link_up, "ip link set up dev " + dev));

	// A hub routes what its addresses cover; other routes on its interface are the
	// administrator's.
	auto want_routes = routes_for(cfg);
	for (auto &r : cfg.is_hub_config ? std::vector<IpPrefix>{} : obs.routes)
		if (std::find(want_routes.begin(), want_routes.end(), r.network()) ==
		    want_routes.end())
			ops.push_back(prefix_op(OpKind::del_route, r,
						std::string("ip ") + ip_family_flag(r) +
						    " route del " + r.str() + " dev " + dev));
	for (auto &r : want_routes) {
		bool present = std::any_of(obs.routes.begin(), obs.routes.end(),
					   [&](const IpPrefix &h) { return h.network() == r; });
		if (fresh || !present)
			ops.push_back(prefix_op(OpKind::add_route, r,
						std::string("ip ") + ip_family_flag(r) +
						    " route add " + r.str() + " dev " + dev));
	}

	// A hub has nobody to verify against: its nodes dial in.
	if (!ops.empty() && !cfg.is_hub_config) {
		std::string what = cfg.hub.tunnel_address
				       ? "ping -c 1 -W " + format_seconds(cfg.connect.attempt_timeout) +
					     " -I " + dev + " " + cfg.hub.tunnel_address->str()
				       : "wait for a handshake with " +
					     base64_encode(cfg.hub.public_key) + " on " + dev;
		ops.push_back(op(OpKind::verify, what));
	}
	return ops;
}

std::vector<Operation> plan_down(const std::string &ifname, const LinkObservation &obs,
				 bool has_run_state)
{
	std::vector<Operation> ops;
	if (obs.exists) {
		if (obs.userspace)
			ops.push_back(op(OpKind::stop_daemon,
					 "stop the userspace daemon of " + ifname));
		ops.push_back(op(OpKind::delete_link, "ip link delete dev " + ifname));
	}
	if (has_run_state || obs.exists)
		ops.push_back(op(OpKind::remove_run_state, "rm run state of " + ifname));
	return ops;
}

bool plan_is_noop(const std::vector<Operation> &ops)
{
	return std::all_of(ops.begin(), ops.end(),
			   [](const Operation &o) { return o.kind == OpKind::verify; });
}

std::string format_plan(const std::vector<Operation> &ops)
{
	std::string out;
	for (auto &o : ops)
		out += "[#] " + o.text + "\n";
	return out;
}

} // namespace wgn
