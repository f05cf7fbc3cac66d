#include "observe.h"

#include "wg_genl.h"

namespace wgn {

std::unique_ptr<WireGuardControl> control_for(const std::string &ifname,
					      const std::filesystem::path &sock_dir)
{
	if (uapi_socket_exists(ifname, sock_dir))
		return std::make_unique<UapiWireGuard>(sock_dir);
	return std::make_unique<GenlWireGuard>();
}

Result<LinkObservation> observe_link(Rtnl &rtnl, const std::string &ifname,
				     const ObserveOptions &opt)
{
	if (opt.device_unreadable)
		*opt.device_unreadable = false;
	LinkObservation obs;
	auto link = rtnl.get_link(ifname);
	if (!link)
		return link.error();
	if (!*link)
		return obs;
	const LinkInfo &l = **link;
	obs.exists = true;
	obs.up = l.up;
	obs.mtu = l.mtu;
	// As wg(8) decides: a device whose UAPI socket exists is a userspace one (its link
	// is a tun); checking the socket's presence, not its answer, needs no privilege.
	obs.userspace = uapi_socket_exists(ifname, opt.sock_dir);
	obs.is_wireguard = l.kind == "wireguard" || obs.userspace;

	auto addrs = rtnl.list_addresses(l.ifindex);
	if (!addrs)
		return addrs.error();
	obs.addresses = std::move(*addrs);
	auto routes = rtnl.list_routes(l.ifindex);
	if (!routes)
		return routes.error();
	obs.routes = std::move(*routes);

	if (!obs.is_wireguard)
		return obs;
	auto dev = control_for(ifname, opt.sock_dir)->get_device(ifname);
	if (dev) {
		obs.device = std::move(*dev);
	} else if (dev.error().code == Errc::no_perm || opt.tolerate_device_errors) {
		// Reading keys needs CAP_NET_ADMIN (kernel) or root (the socket); --dry-run
		// plans without them, and `down` needs none of it.
		if (opt.device_unreadable)
			*opt.device_unreadable = true;
	} else {
		return dev.error();
	}
	return obs;
}

} // namespace wgn
