#include "plan.h"

#include "log.h"

#include <algorithm>
#include <sstream>

namespace wgn {

static const char *ip_family_flag(const IpPrefix &p)
{
	return p.addr.family == AF_INET6 ? "-6" : "-4";
}

std::vector<IpPrefix> hub_allowed_ips(const Config &cfg, size_t hub, size_t active)
{
	const auto &h = cfg.hubs.empty() ? cfg.hub : cfg.hubs[hub];
	if (cfg.hubs.size() <= 1)
		return h.allowed_ips;
	std::vector<IpPrefix> out;
	if (hub == active)
		out = h.allowed_ips;
	if (h.tunnel_address) {
		IpPrefix host{*h.tunnel_address,
		              static_cast<uint8_t>(h.tunnel_address->family == AF_INET ? 32 : 128)};
		bool covered = std::any_of(out.begin(), out.end(), [&](const IpPrefix &p) {
			return p.addr.family == host.addr.family && p.contains(host.addr);
		});
		if (!covered)
			out.push_back(host);
	}
	return out;
}

std::optional<size_t> active_hub_of(const Config &cfg, const DeviceState &dev)
{
	if (cfg.hubs.size() <= 1)
		return std::nullopt;
	for (size_t i = 0; i < cfg.hubs.size(); ++i)
		for (auto &p : dev.peers) {
			if (p.public_key != cfg.hubs[i].public_key)
				continue;
			for (auto &a : p.allowed_ips)
				for (auto &want : cfg.hubs[i].allowed_ips)
					if (a.network() == want)
						return i;
		}
	return std::nullopt;
}

DeviceConfig switch_hub_config(const Config &cfg, size_t to)
{
	DeviceConfig d;
	for (size_t i = 0; i <= cfg.hubs.size(); ++i) {
		size_t h = i < cfg.hubs.size() ? i : to; // the new active one last
		if (i < cfg.hubs.size() && i == to)
			continue;
		if (h >= cfg.hubs.size())
			break;
		PeerConfig pc;
		pc.public_key = cfg.hubs[h].public_key;
		pc.replace_allowed_ips = true;
		pc.allowed_ips = hub_allowed_ips(cfg, h, to);
		d.peers.push_back(pc);
	}
	return d;
}

std::string hub_label(const Config &cfg, size_t hub)
{
	if (cfg.hubs.size() <= 1)
		return "hub " + cfg.hub.endpoint.str();
	return "hub[" + std::to_string(hub) + "] " + cfg.hubs[hub].endpoint.str();
}

std::vector<IpPrefix> routes_for(const Config &cfg)
{
	std::vector<IpPrefix> out;
	// Every hub's networks and tunnel address, so that a switch changes no route.
	std::vector<IpPrefix> all;
	if (cfg.hubs.size() <= 1)
		all = cfg.hub.allowed_ips;
	for (size_t i = 0; cfg.hubs.size() > 1 && i < cfg.hubs.size(); ++i)
		for (auto &p : hub_allowed_ips(cfg, i, i))
			if (std::find(all.begin(), all.end(), p.network()) == all.end())
				all.push_back(p.network());
	for (auto &aip : all) {
		bool on_link = std::any_of(cfg.interface.addresses.begin(),
		                           cfg.interface.addresses.end(), [&](const IpPrefix &a) {
			                           return a.addr.family == aip.addr.family &&
			                                  a.prefix_len <= aip.prefix_len &&
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

static std::optional<SockAddr> endpoint_of(const PlanContext &ctx, size_t hub)
{
	if (hub < ctx.hub_endpoints.size())
		return ctx.hub_endpoints[hub];
	if (hub == ctx.active_hub)
		return ctx.endpoint;
	return std::nullopt;
}

// The peer update that takes `peer` (null: absent) to hub i of the config; nullopt when
// it is as it should be.
static std::optional<PeerConfig> peer_diff(const Config &cfg, const PlanContext &ctx, size_t i,
                                           const PeerState *peer)
{
	const auto &hub = cfg.hubs.empty() ? cfg.hub : cfg.hubs[i];
	const auto endpoint = endpoint_of(ctx, i);
	PeerConfig pc;
	pc.public_key = hub.public_key;
	bool peer_changed = !peer;
	if (endpoint && (!peer || !peer->endpoint || !(*peer->endpoint == *endpoint))) {
		pc.endpoint = endpoint;
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
	auto want_ips = hub_allowed_ips(cfg, i, ctx.active_hub);
	auto sorted_want = want_ips;
	std::sort(sorted_want.begin(), sorted_want.end());
	std::vector<IpPrefix> have_ips;
	if (peer) {
		for (auto &p : peer->allowed_ips)
			have_ips.push_back(p.network());
		std::sort(have_ips.begin(), have_ips.end());
	}
	if (!peer || have_ips != sorted_want) {
		pc.replace_allowed_ips = true;
		pc.allowed_ips = want_ips;
		peer_changed = true;
	}
	if (!peer_changed)
		return std::nullopt;
	return pc;
}

// The device update that takes `have` (absent: a fresh device) to the config.
static std::optional<DeviceConfig> device_diff(const Config &cfg, const PlanContext &ctx,
                                               const std::optional<DeviceState> &have)
{
	const auto &ic = cfg.interface;
	DeviceConfig d;
	bool changed = false;

	if (!have || !have->private_key || *have->private_key != ic.private_key) {
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

	const size_t n = cfg.hubs.empty() ? 1 : cfg.hubs.size();
	auto key_of = [&](size_t i) {
		return cfg.hubs.empty() ? cfg.hub.public_key : cfg.hubs[i].public_key;
	};
	std::vector<const PeerState *> peers(n, nullptr);
	if (have)
		for (auto &p : have->peers) {
			bool ours = false;
			for (size_t i = 0; i < n; ++i)
				if (p.public_key == key_of(i)) {
					peers[i] = &p;
					ours = true;
				}
			if (!ours) {
				// The hubs are the only peers wgn manages; anything else is stale.
				PeerConfig gone;
				gone.public_key = p.public_key;
				gone.remove = true;
				d.peers.push_back(gone);
				changed = true;
			}
		}

	// Standbys first, the active hub last: a prefix moves from one peer to the other
	// within the request, never held by two.
	for (size_t k = 0; k <= n; ++k) {
		if (k < n && k == ctx.active_hub)
			continue;
		size_t i = k < n ? k : ctx.active_hub;
		if (i >= n)
			break;
		if (auto pc = peer_diff(cfg, ctx, i, peers[i])) {
			d.peers.push_back(*pc);
			changed = true;
		}
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
		const auto &active = cfg.hubs.empty() ? cfg.hub : cfg.hubs[ctx.active_hub];
		std::string unresolved = ctx.endpoint ? "" : active.endpoint.str();
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
		if (fresh ||
		    std::find(obs.addresses.begin(), obs.addresses.end(), a) == obs.addresses.end())
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
		const auto &hub = cfg.hubs.empty() ? cfg.hub : cfg.hubs[ctx.active_hub];
		std::string what = hub.tunnel_address
		                           ? "ping -c 1 -W " +
		                                     format_seconds(cfg.connect.attempt_timeout) +
		                                     " -I " + dev + " " + hub.tunnel_address->str()
		                           : "wait for a handshake with " +
		                                     base64_encode(hub.public_key) + " on " + dev;
		if (cfg.hubs.size() > 1)
			what += " (else the next hub that answers)";
		ops.push_back(op(OpKind::verify, what));
	}
	return ops;
}

std::string describe_switch(const std::string &ifname, const DeviceConfig &d)
{
	return describe_device(ifname, d, "");
}

std::vector<Operation> plan_down(const std::string &ifname, const LinkObservation &obs,
                                 bool has_run_state)
{
	std::vector<Operation> ops;
	if (obs.exists) {
		if (obs.userspace)
			ops.push_back(
			        op(OpKind::stop_daemon, "stop the userspace daemon of " + ifname));
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

static bool is_hub_key(const Config &cfg, const Key &k)
{
	if (cfg.hubs.size() > 1)
		return std::any_of(cfg.hubs.begin(), cfg.hubs.end(),
		                   [&](const HubConfig &h) { return h.public_key == k; });
	return cfg.hub.public_key == k;
}

// The hubs' peers removed and added again as they are: a new peer may send its
// handshake at once, where an old one waits out REKEY_TIMEOUT (5 s) after its last
// initiation. In one request, so nothing is routed differently meanwhile.
DeviceConfig recreate_hub_peers(const Config &cfg, const DeviceState &dev)
{
	DeviceConfig dc;
	for (auto &p : dev.peers) {
		if (!is_hub_key(cfg, p.public_key))
			continue;
		PeerConfig gone;
		gone.public_key = p.public_key;
		gone.remove = true;
		dc.peers.push_back(gone);
		PeerConfig back;
		back.public_key = p.public_key;
		back.preshared_key = p.preshared_key;
		back.endpoint = p.endpoint;
		back.persistent_keepalive = p.persistent_keepalive;
		back.replace_allowed_ips = true;
		back.allowed_ips = p.allowed_ips;
		dc.peers.push_back(back);
	}
	return dc;
}

} // namespace wgn
