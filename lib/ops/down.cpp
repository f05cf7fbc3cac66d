#include "down.h"

#include "connect.h"
#include "dataplane.h"
#include "fsutil.h"
#include "lock.h"
#include "log.h"
#include "observe.h"
#include "rotate.h"
#include "uapi.h"

namespace wgn::ops {

DownPreview preview_down(const Config &cfg)
{
	DownPreview p;
	const std::string &dev = cfg.interface.name;
	LinkObservation obs;
	if (auto r = Rtnl::open()) {
		if (auto seen = observe_link(*r, dev))
			obs = std::move(*seen);
		else
			p.notices.push_back(dev + ": cannot look at the interface (" +
			                    seen.error().message + ")");
	}
	auto rs = read_run_state(dev);
	bool has_state = rs && rs->has_value();
	p.ops = plan_down(dev, obs, has_state);
	return p;
}

DownOutcome down(const Config &cfg)
{
	const std::string &dev = cfg.interface.name;
	DownOutcome out;
	out.interface = dev;
	out.was_up = true; // until it is known: a failure says nothing about it
	auto fail = [&](const Error &e) {
		out.error = e;
		return out;
	};
	if (!has_cap_net_admin())
		return fail(make_error(Errc::no_perm, dev + ": removing an interface needs "
		                                            "CAP_NET_ADMIN (run as root)"));
	auto lock = InterfaceLock::acquire(dev);
	if (!lock)
		return fail(lock.error());
	// What a rotation killed while it wrote its key left, where the temp has a name
	// (fsutil.h): the new key, in the key's directory, until its next write.
	if (cfg.interface.private_key_file)
		remove_dead_temps(pending_key_path(cfg));
	auto rtnl = Rtnl::open();
	if (!rtnl)
		return fail(rtnl.error());
	// Down needs to know only what the link is; reading the device's settings would
	// cost a round trip to the daemon or the kernel for nothing.
	auto link_info = rtnl->get_link(dev);
	if (!link_info)
		return fail(link_info.error());
	LinkObservation obs;
	if (*link_info) {
		obs.exists = true;
		obs.up = (*link_info)->up;
		obs.mtu = (*link_info)->mtu;
		obs.userspace = uapi_socket_exists(dev);
		obs.is_wireguard = (*link_info)->kind == "wireguard" || obs.userspace;
	}
	if (auto r = read_run_state(dev); r)
		out.run_state = *r;
	const auto &rs = out.run_state;
	if (obs.exists && !obs.is_wireguard)
		return fail(make_error(Errc::os, dev + " is not a WireGuard interface; wgn leaves "
		                                       "it alone"));

	auto ops = plan_down(dev, obs, rs.has_value());
	// A daemon whose link is gone (deleted by hand) still gets stopped.
	if (!obs.exists && rs && rs->daemon_pid)
		ops.insert(ops.begin(), Operation{OpKind::stop_daemon,
		                                  std::nullopt,
		                                  0,
		                                  {},
		                                  "stop the userspace daemon of " + dev});
	if (ops.empty()) {
		out.was_up = false;
		return out;
	}

	RtnlLinkControl link(*rtnl);
	SystemDaemonControl daemon;
	auto wg = control_for(dev);
	ExecOptions eo;
	eo.daemon_pid = rs ? rs->daemon_pid : std::nullopt;
	eo.daemon_timeout = 5.0;
	Effects fx{link, daemon, *wg};
	Executor ex(fx, dev, obs, eo);
	out.changed = true;
	if (auto st = ex.run(ops); !st)
		return fail(st.error());
	ex.commit();
	effect("rm " + run_state_path(dev).string());
	if (auto st = remove_run_state(dev); !st)
		return fail(st.error());
	out.was_up = obs.exists;
	progress(dev + " is down");
	return out;
}

} // namespace wgn::ops
