// wgn up: bring the tunnel up, prove it carries traffic, register.
#include <cstdio>

#include "commands.h"
#include "config.h"
#include "log.h"
#include "plan.h"

namespace wgn {

CLI::App *setup_up(CLI::App &app, UpOptions &o)
{
	auto *c = app.add_subcommand("up", "Bring the tunnel up, verify it and register the node");
	c->add_option("config", o.target,
		      "Interface NAME (NAME.toml in the config directory) or FILE")
	    ->required();
	c->add_flag("--no-register", o.no_register, "Do not register with the control plane");
	c->add_option("--timeout", o.timeout, "Seconds for the whole of up (connect.timeout)")
	    ->check(CLI::PositiveNumber);
	c->add_option("--max-retries", o.max_retries,
		      "Attempts after the first (connect.max_retries)")
	    ->check(CLI::Range(0, 1000));
	c->add_flag("--dry-run", o.dry_run,
		    "Print the operations that would be made; change nothing");
	c->add_flag("--json", o.json, "Print the result as one JSON object");
	return c;
}

} // namespace wgn

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <memory>

#include <nlohmann/json.hpp>
#include <poll.h>

#include "common.h"
#include "connect.h"
#include "dataplane.h"
#include "json_text.h"
#include "lock.h"
#include "observe.h"
#include "probe.h"
#include "registry.h"
#include "regstate.h"
#include "runstate.h"
#include "uapi.h"
#include "wg_genl.h"

namespace wgn {

namespace {

using Clock = std::chrono::steady_clock;

std::string ms(double seconds)
{
	char buf[32];
	std::snprintf(buf, sizeof(buf), "%.1f", seconds * 1000.0);
	return buf;
}

double mono()
{
	return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

int dry_run(const Config &cfg)
{
	const std::string &dev = cfg.interface.name;
	LinkObservation obs;
	std::optional<Rtnl> rtnl;
	bool unreadable = false;
	if (auto r = Rtnl::open()) {
		rtnl.emplace(std::move(*r));
		ObserveOptions oo;
		oo.device_unreadable = &unreadable;
		if (auto o = observe_link(*rtnl, dev, oo))
			obs = std::move(*o);
		else
			complain(dev + ": cannot look at the interface (" + o.error().message +
				 "); planning as if it did not exist");
	}
	if (unreadable)
		complain(dev + ": cannot read the WireGuard device without privilege; the plan "
			       "sets all of it");
	auto ctx = make_plan_context(cfg, rtnl ? &*rtnl : nullptr, obs);
	if (!ctx)
		return report(ctx.error());
	auto ops = plan_up(cfg, obs, *ctx);
	if (plan_is_noop(ops))
		complain(dev + " is up with this configuration; nothing to do");
	std::fputs(format_plan(ops).c_str(), stdout);
	return 0;
}

// The effects of the retry loop on the real system.
class SystemConnectEnv final : public ConnectEnv {
public:
	SystemConnectEnv(const Config &cfg, Executor &ex, WireGuardControl &wg,
			 std::optional<SockAddr> current, int64_t handshake_after)
	    : cfg_(cfg), ex_(ex), wg_(wg), current_(std::move(current)),
	      handshake_after_(handshake_after)
	{
	}

	Status refresh_endpoint() override
	{
		if (current_ && !endpoint_is_name(cfg_.hub.endpoint))
			return Ok{};
		auto ep = resolve_endpoint(cfg_.hub.endpoint);
		if (!ep)
			return ep.error();
		if (current_ && *current_ == *ep)
			return Ok{};
		// Through the executor, so that a rollback restores the endpoint too.
		Operation op{OpKind::set_device, std::nullopt, 0, {}, ""};
		PeerConfig pc;
		pc.public_key = cfg_.hub.public_key;
		pc.endpoint = *ep;
		op.device.peers.push_back(pc);
		op.text = "wg set " + cfg_.interface.name + " peer " +
			  base64_encode(cfg_.hub.public_key) + " endpoint " + ep->str();
		auto st = ex_.apply(op);
		if (st)
			current_ = *ep;
		return st;
	}
	Result<double> verify(double timeout) override
	{
		ProbeOptions po;
		po.cancel_fd = SignalWatch::fd();
		const auto &dev = cfg_.interface.name;
		if (cfg_.hub.tunnel_address)
			return ping_through(dev, *cfg_.hub.tunnel_address, timeout, po);
		return wait_for_handshake(wg_, dev, cfg_.hub.public_key, handshake_after_,
					  first_host(cfg_.hub.allowed_ips.front()), timeout, po);
	}
	double now() override { return mono(); }
	bool sleep(double seconds) override
	{
		pollfd p{SignalWatch::fd(), POLLIN, 0};
		int ms = static_cast<int>(seconds * 1000 + 0.5);
		return poll(&p, 1, ms) == 0 && SignalWatch::signal() == 0;
	}
	bool interrupted() override { return SignalWatch::signal() != 0; }
	double jitter_unit() override { return jitter_.next(); }

private:
	const Config &cfg_;
	Executor &ex_;
	WireGuardControl &wg_;
	std::optional<SockAddr> current_;
	int64_t handshake_after_;
	Jitter jitter_;
};

struct Outcome {
	std::string change = "unchanged"; // created | reconciled | unchanged
	std::string backend;
	int attempts = 0;
	std::optional<double> rtt;
	int64_t connected_at = 0;
	std::string endpoint;
	std::optional<std::string> node_id;
	bool registered = false;
};

void print_json(const Config &cfg, bool success, const Outcome &o, const Error *err)
{
	using nlohmann::json;
	json j = {{"success", success},
		  {"interface", cfg.interface.name},
		  {"connected_at", o.connected_at ? json(iso8601_utc(o.connected_at)) : json()},
		  {"node_id", o.node_id ? json(*o.node_id) : json()},
		  {"attempts", o.attempts},
		  {"backend", o.backend.empty() ? json() : json(o.backend)},
		  {"change", o.change},
		  {"endpoint", o.endpoint.empty() ? json() : json(o.endpoint)},
		  {"rtt_ms", o.rtt ? json(*o.rtt * 1000.0) : json()},
		  {"registered", o.registered}};
	if (err) {
		j["error"] = err->message;
		j["exit_code"] = exit_code(err->code);
	}
	std::printf("%s\n", json_text(j).c_str());
}

// registration: after a verified tunnel, unless --no-register or no [control_plane].
// The tunnel stays up whatever happens here. Returns the exit code.
int register_after_up(const Config &cfg, const UpOptions &o, Outcome &out)
{
	const std::string &dev = cfg.interface.name;
	if (auto st = load_registration(dev))
		out.node_id = st->node_id;
	if (o.no_register || !cfg.control_plane)
		return 0;
	if (out.change == "unchanged" && registration_is_current(cfg))
		return 0;
	auto r = register_node(cfg);
	if (!r) {
		complain(dev + ": tunnel up; registration failed: " + r.error().message +
			 "; run wgn register");
		if (o.json)
			print_json(cfg, false, out, &r.error());
		return exit_code(r.error().code);
	}
	out.node_id = r->node_id;
	out.registered = true;
	return 0;
}

int fail(const Config &cfg, const UpOptions &o, Outcome &out, const Error &e)
{
	if (o.json)
		print_json(cfg, false, out, &e);
	if (SignalWatch::signal()) {
		complain(cfg.interface.name + ": interrupted by signal " +
			 std::to_string(SignalWatch::signal()) + "; " +
			 (out.change == "created"      ? "removed what this run created"
			  : out.change == "reconciled" ? "the previous state is restored"
						       : "nothing was changed"));
		SignalWatch::reraise();
	}
	return report(e);
}

} // namespace

int run_up(const GlobalOptions &g, const UpOptions &o)
{
	auto loaded = load_target(g, o.target);
	if (!loaded)
		return report(loaded.error());
	Config &cfg = *loaded;
	if (o.timeout)
		cfg.connect.timeout = *o.timeout;
	if (o.max_retries)
		cfg.connect.max_retries = *o.max_retries;
	if (o.dry_run)
		return dry_run(cfg);

	const std::string &dev = cfg.interface.name;
	const double deadline = mono() + cfg.connect.timeout;
	Outcome out;
	if (!has_cap_net_admin())
		return fail(cfg, o, out,
			    make_error(Errc::no_perm, dev + ": bringing up an interface needs "
							    "CAP_NET_ADMIN (run as root)"));
	SignalWatch::install();
	auto lock = InterfaceLock::acquire(dev, SignalWatch::fd());
	if (!lock)
		return fail(cfg, o, out, lock.error());

	auto rtnl = Rtnl::open();
	if (!rtnl)
		return fail(cfg, o, out, rtnl.error());
	auto obs = observe_link(*rtnl, dev);
	if (!obs)
		return fail(cfg, o, out, obs.error());
	if (obs->exists && !obs->is_wireguard)
		return fail(cfg, o, out,
			    make_error(Errc::os, dev + " exists and is not a WireGuard interface; "
						       "wgn leaves it alone"));
	auto ctx = make_plan_context(cfg, &*rtnl, *obs);
	if (!ctx)
		return fail(cfg, o, out, ctx.error());
	out.backend = ctx->userspace ? "userspace" : "kernel";
	if (ctx->endpoint)
		out.endpoint = ctx->endpoint->str();
	auto previous = read_run_state(dev);
	std::optional<RunState> prev = previous ? *previous : std::nullopt;

	auto ops = plan_up(cfg, *obs, *ctx);
	if (plan_is_noop(ops)) {
		progress(dev + " is already up with this configuration");
		out.connected_at = prev ? prev->connected_at : 0;
		int rc = register_after_up(cfg, o, out);
		if (rc == 0 && o.json)
			print_json(cfg, true, out, nullptr);
		return rc;
	}
	out.change = obs->exists ? "reconciled" : "created";

	RtnlLinkControl link(*rtnl);
	SystemDaemonControl daemon;
	std::unique_ptr<WireGuardControl> wg;
	if (ctx->userspace)
		wg = std::make_unique<UapiWireGuard>();
	else
		wg = std::make_unique<GenlWireGuard>();
	ExecOptions eo;
	eo.userspace_program = ctx->userspace_program;
	eo.daemon_timeout = std::clamp(deadline - mono(), 0.1, 10.0);
	eo.daemon_pid = prev ? prev->daemon_pid : std::nullopt;
	Effects fx{link, daemon, *wg, [] { return SignalWatch::signal() != 0; }};
	Executor ex(fx, dev, *obs, eo);

	auto rollback_and_fail = [&](const Error &e) {
		(void)ex.rollback();
		return fail(cfg, o, out, e);
	};
	if (auto st = ex.run(ops); !st)
		return rollback_and_fail(st.error());

	// A handshake proves a reconcile only if it is fresh; a new device has had none.
	int64_t after = obs->exists ? static_cast<int64_t>(std::time(nullptr)) - 120 : 1;
	std::optional<SockAddr> current = ctx->endpoint;
	if (obs->exists && !current && obs->device)
		for (auto &p : obs->device->peers)
			if (p.public_key == cfg.hub.public_key)
				current = p.endpoint;
	SystemConnectEnv env(cfg, ex, *wg, current, after);
	ConnectPolicy policy;
	policy.max_retries = cfg.connect.max_retries;
	policy.backoff.initial = cfg.connect.initial_backoff;
	policy.backoff.max = cfg.connect.max_backoff;
	policy.attempt_timeout = cfg.connect.attempt_timeout;
	policy.deadline = deadline;
	policy.timeout = cfg.connect.timeout;
	auto connected = connect_with_retries(env, policy, dev, &out.attempts);
	if (!connected) {
		Error e = connected.error();
		if (out.change == "reconciled" && !SignalWatch::signal())
			e.message += "; the previous configuration is restored";
		return rollback_and_fail(e);
	}
	out.rtt = connected->rtt;

	int64_t now = std::time(nullptr);
	RunState rs;
	rs.interface = dev;
	rs.connected_at = (out.change == "reconciled" && prev) ? prev->connected_at : now;
	rs.reconciled_at = out.change == "reconciled" ? now : 0;
	rs.backend = out.backend;
	rs.daemon_pid =
	    ex.daemon_pid() ? ex.daemon_pid() : (prev ? prev->daemon_pid : std::nullopt);
	if (ctx->userspace)
		rs.daemon_program = ctx->userspace_program;
	rs.attempts = out.attempts;
	rs.config_path = cfg.path.string();
	rs.config_fingerprint = config_fingerprint(cfg);
	rs.endpoint = out.endpoint;
	if (auto st = write_run_state(rs); !st)
		return rollback_and_fail(st.error());
	ex.commit();
	out.connected_at = rs.connected_at;

	std::string how = cfg.hub.tunnel_address ? "hub " + cfg.hub.tunnel_address->str() +
						       " answered in " + ms(connected->rtt) + " ms"
						 : "handshake with the hub done";
	progress(dev + " is up (" + out.change + ", " + out.backend + "); " + how + ", attempt " +
		 std::to_string(out.attempts) + "/" + std::to_string(policy.max_retries + 1));
	int rc = register_after_up(cfg, o, out);
	if (rc == 0 && o.json)
		print_json(cfg, true, out, nullptr);
	return rc;
}

} // namespace wgn
