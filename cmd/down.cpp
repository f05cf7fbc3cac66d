// wgn down: remove the interface, its daemon and its run state.
#include "commands.h"

namespace wgn {

CLI::App *setup_down(CLI::App &app, DownOptions &o)
{
	auto *c = app.add_subcommand("down", "Remove the tunnel interface and its run state");
	c->add_option("config", o.target, "Interface NAME or FILE")->required();
	c->add_flag("--dry-run", o.dry_run,
		    "Print the operations that would be made; change nothing");
	c->add_flag("--json", o.json, "Print the result as one JSON object");
	return c;
}

} // namespace wgn

#include <cstdio>

#include <nlohmann/json.hpp>

#include "common.h"
#include "connect.h"
#include "dataplane.h"
#include "json_text.h"
#include "lock.h"
#include "log.h"
#include "observe.h"
#include "plan.h"
#include "regstate.h"
#include "runstate.h"
#include "uapi.h"
#include "wg_genl.h"

namespace wgn {

namespace {

void print_json(const std::string &dev, bool success, bool was_up,
		const std::optional<RunState> &rs, const Error *err)
{
	using nlohmann::json;
	auto reg = load_registration(dev);
	json j = {
	    {"success", success},
	    {"interface", dev},
	    {"was_up", was_up},
	    {"connected_at", rs && rs->connected_at ? json(iso8601_utc(rs->connected_at)) : json()},
	    {"node_id", reg && !reg->node_id.empty() ? json(reg->node_id) : json()},
	    {"attempts", 0},
	    {"backend", rs && !rs->backend.empty() ? json(rs->backend) : json()}};
	if (err) {
		j["error"] = err->message;
		j["exit_code"] = exit_code(err->code);
	}
	std::printf("%s\n", json_text(j).c_str());
}

} // namespace

int run_down(const GlobalOptions &g, const DownOptions &o)
{
	auto cfg = load_target(g, o.target);
	if (!cfg)
		return report(cfg.error());
	const std::string dev = cfg->interface.name;

	if (o.dry_run) {
		LinkObservation obs;
		if (auto r = Rtnl::open()) {
			if (auto seen = observe_link(*r, dev))
				obs = std::move(*seen);
			else
				complain(dev + ": cannot look at the interface (" +
					 seen.error().message + ")");
		}
		auto rs = read_run_state(dev);
		bool has_state = rs && rs->has_value();
		auto ops = plan_down(dev, obs, has_state);
		if (ops.empty())
			complain(dev + " is not up; nothing to do");
		std::fputs(format_plan(ops).c_str(), stdout);
		return 0;
	}

	std::optional<RunState> rs;
	auto fail = [&](const Error &e) {
		if (o.json)
			print_json(dev, false, true, rs, &e);
		return report(e);
	};
	if (!has_cap_net_admin())
		return fail(
		    make_error(Errc::no_perm,
			       dev + ": removing an interface needs CAP_NET_ADMIN (run as root)"));
	// A signal during down interrupts nothing: removing halfway is worse than finishing.
	auto lock = InterfaceLock::acquire(dev);
	if (!lock)
		return fail(lock.error());
	auto rtnl = Rtnl::open();
	if (!rtnl)
		return fail(rtnl.error());
	// Down needs to know only what the link is; reading the device's settings would
	// cost a round trip to the daemon or the kernel for nothing.
	auto link_info = rtnl->get_link(dev);
	if (!link_info)
		return fail(link_info.error());
	Result<LinkObservation> obs = LinkObservation{};
	if (*link_info) {
		obs->exists = true;
		obs->up = (*link_info)->up;
		obs->mtu = (*link_info)->mtu;
		obs->userspace = uapi_socket_exists(dev);
		obs->is_wireguard = (*link_info)->kind == "wireguard" || obs->userspace;
	}
	if (auto r = read_run_state(dev); r)
		rs = *r;
	if (obs->exists && !obs->is_wireguard)
		return fail(make_error(Errc::os, dev + " is not a WireGuard interface; wgn leaves "
						       "it alone"));

	auto ops = plan_down(dev, *obs, rs.has_value());
	// A daemon whose link is gone (deleted by hand) still gets stopped.
	if (!obs->exists && rs && rs->daemon_pid)
		ops.insert(ops.begin(), Operation{OpKind::stop_daemon,
						  std::nullopt,
						  0,
						  {},
						  "stop the userspace daemon of " + dev});
	if (ops.empty()) {
		complain(dev + " is not up");
		if (o.json)
			print_json(dev, true, false, rs, nullptr);
		return 0;
	}

	RtnlLinkControl link(*rtnl);
	SystemDaemonControl daemon;
	auto wg = control_for(dev);
	ExecOptions eo;
	eo.daemon_pid = rs ? rs->daemon_pid : std::nullopt;
	eo.daemon_timeout = 5.0;
	Effects fx{link, daemon, *wg};
	Executor ex(fx, dev, *obs, eo);
	if (auto st = ex.run(ops); !st)
		return fail(st.error());
	ex.commit();
	effect("rm " + run_state_path(dev).string());
	if (auto st = remove_run_state(dev); !st)
		return fail(st.error());
	progress(dev + " is down");
	if (o.json)
		print_json(dev, true, obs->exists, rs, nullptr);
	return 0;
}

} // namespace wgn
