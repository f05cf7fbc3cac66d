// The flow of `up` (up.h); its effects are UpEffects, the system's in up_system.cpp.
#include "up.h"

#include <algorithm>
#include <cstdio>

#include "log.h"
#include "probe.h"

namespace wgn::ops {

const char *up_change_name(UpChange c)
{
	switch (c) {
	case UpChange::created:
		return "created";
	case UpChange::reconciled:
		return "reconciled";
	case UpChange::unchanged:
		break;
	}
	return "unchanged";
}

namespace {

std::string ms(double seconds)
{
	char buf[32];
	std::snprintf(buf, sizeof(buf), "%.1f", seconds * 1000.0);
	return buf;
}

// A run state that a finished `up` of this very configuration wrote. Anything less (none,
// or one of another configuration) means the last `up` that touched the device was
// killed before it verified and recorded it.
bool recorded(const std::optional<RunState> &rs, const Config &cfg)
{
	return rs && rs->connected_at > 0 && rs->config_fingerprint == config_fingerprint(cfg);
}

// Registration after a verified tunnel, unless opted out or without [control_plane].
// The tunnel stays up whatever happens here.
void register_after_up(const Config &cfg, const UpOptions &opt, UpEffects &fx, UpOutcome &out)
{
	if (auto st = fx.load_registration(cfg.interface.name))
		out.node_id = st->node_id;
	// A hub's [control_plane] is sync's: the administrator adds the hub itself.
	if (!opt.register_node || !cfg.control_plane || cfg.is_hub_config)
		return;
	// An adopted pending key is the control plane's already (the hub learnt it there).
	if ((out.change == UpChange::unchanged || out.pending_key_adopted) &&
	    fx.registration_is_current(cfg))
		return;
	auto r = fx.register_node(cfg);
	if (!r) {
		out.registration_error = r.error();
		return;
	}
	out.node_id = r->node_id;
	out.registered = true;
	out.registration = *r;
}

ConnectPolicy connect_policy(const Config &cfg, double deadline)
{
	ConnectPolicy policy;
	policy.max_retries = cfg.connect.max_retries;
	policy.backoff.initial = cfg.connect.initial_backoff;
	policy.backoff.max = cfg.connect.max_backoff;
	policy.attempt_timeout = cfg.connect.attempt_timeout;
	policy.deadline = deadline;
	policy.timeout = cfg.connect.timeout;
	return policy;
}

} // namespace

UpOutcome up(const Config &given, const UpOptions &opt, UpEffects &fx)
{
	const std::string &dev = given.interface.name;
	UpOutcome out;
	out.interface = dev;
	out.max_attempts = given.connect.max_retries + 1;
	const double deadline = fx.now() + given.connect.timeout;
	auto failed = [&](const Error &e) {
		out.error = e;
		out.signal = fx.signal();
		return out;
	};

	if (!fx.has_cap_net_admin())
		return failed(make_error(Errc::no_perm, dev + ": bringing up an interface needs "
		                                              "CAP_NET_ADMIN (run as root)"));
	if (auto st = fx.lock(dev); !st)
		return failed(st.error());
	struct Unlock {
		UpEffects &fx;
		~Unlock() { fx.unlock(); }
	} unlock{fx};
	// A rotation that was killed: the key the control plane has now, or (no answer) a
	// pending key to try when the hub does not answer the key file's.
	const PendingKey pending = fx.finish_rotation(given);
	const Config *active_cfg = pending.taken ? &*pending.taken : &given;
	const Config &cfg = *active_cfg;
	const std::optional<Config> &untried = pending.unanswered;

	auto obs = fx.observe(dev);
	if (!obs)
		return failed(obs.error());
	if (obs->exists && !obs->is_wireguard)
		return failed(
		        make_error(Errc::os, dev + " exists and is not a WireGuard interface; "
		                                   "wgn leaves it alone"));
	auto ctx = fx.plan_context(cfg, *obs);
	if (!ctx)
		return failed(ctx.error());
	out.backend = ctx->userspace ? "userspace" : "kernel";
	if (ctx->endpoint)
		out.endpoint = ctx->endpoint->str();
	auto previous = fx.read_run_state(dev);
	std::optional<RunState> prev = previous ? *previous : std::nullopt;

	auto ops = plan_up(cfg, *obs, *ctx);
	const bool noop = plan_is_noop(ops);
	if (noop && recorded(prev, cfg) && !untried) {
		progress(dev + " is already up with this configuration");
		out.tunnel_up = true;
		out.connected_at = prev->connected_at;
		register_after_up(cfg, opt, fx, out);
		return out;
	}
	if (noop && untried && recorded(prev, cfg))
		progress(dev + " is up with this configuration, but a rotation's key is pending; "
		               "verifying");
	else if (noop)
		progress(dev + " is up with this configuration, but no finished `up` recorded it; "
		               "verifying");
	else
		out.change = obs->exists ? UpChange::reconciled : UpChange::created;

	Effects efx = fx.executor_effects(ctx->userspace);
	WireGuardControl &wg = efx.wg;
	ExecOptions eo;
	eo.userspace_program = ctx->userspace_program;
	eo.daemon_timeout = std::clamp(deadline - fx.now(), 0.1, 10.0);
	eo.daemon_pid = prev ? prev->daemon_pid : std::nullopt;
	Executor ex(efx, dev, *obs, eo);

	auto rollback_and_fail = [&](const Error &e) {
		(void)ex.rollback();
		out.rolled_back = true;
		return failed(e);
	};
	if (auto st = ex.run(ops); !st)
		return rollback_and_fail(st.error());

	if (cfg.is_hub_config) {
		// A hub's own config: nothing to verify (the nodes dial in), nothing to
		// register (the administrator adds a hub to the control plane).
		RunState rs;
		rs.interface = dev;
		rs.connected_at = prev && prev->connected_at > 0 && out.change != UpChange::created
		                          ? prev->connected_at
		                          : fx.wall_now();
		rs.reconciled_at = out.change == UpChange::reconciled ? fx.wall_now() : 0;
		rs.backend = out.backend;
		rs.daemon_pid = ex.daemon_pid() ? ex.daemon_pid()
		                                : (prev ? prev->daemon_pid : std::nullopt);
		if (ctx->userspace)
			rs.daemon_program = ctx->userspace_program;
		rs.config_path = cfg.path.string();
		rs.config_fingerprint = config_fingerprint(cfg);
		if (auto st = fx.write_run_state(rs); !st)
			return rollback_and_fail(st.error());
		ex.commit();
		out.tunnel_up = true;
		out.connected_at = rs.connected_at;
		progress(dev + " is up as a hub (" + up_change_name(out.change) + ", " +
		         out.backend + "); its peers are left to wgn sync");
		return out;
	}

	// A handshake proves a reconcile only if it is fresh; a new device has had none.
	int64_t after = obs->exists ? fx.wall_now() - 120 : 1;
	std::optional<SockAddr> current = ctx->endpoint;
	if (obs->exists && !current && obs->device)
		for (auto &p : obs->device->peers)
			if (p.public_key == cfg.hub.public_key)
				current = p.endpoint;
	auto env = fx.connect_env(cfg, ex, wg, current, after);
	// With a pending key to try, the key file's key has the first half of the time.
	const double first_deadline = untried ? deadline - given.connect.timeout / 2 : deadline;
	auto first = connect_policy(cfg, first_deadline);
	if (untried)
		first.timeout /= 2;
	auto connected = connect_with_retries(*env, first, dev, &out.attempts);
	if (!connected && untried && !fx.signal() &&
	    (connected.error().code == Errc::unavailable ||
	     connected.error().code == Errc::temp_fail)) {
		const std::string pub = base64_encode(untried->interface.public_key);
		progress(dev + ": the hub did not answer the key file's key (" +
		         connected.error().message + "); trying the pending key " + pub +
		         " of the interrupted rotation");
		auto device = wg.get_device(dev);
		Operation op{OpKind::set_device, std::nullopt, 0, {}, ""};
		if (device)
			op.device = recreate_hub_peers(given, *device);
		op.device.private_key = untried->interface.private_key;
		op.text = "wg set " + dev + " private-key (the " + pub + " key)" +
		          (op.device.peers.empty() ? "" : ", the hubs' peers re-created");
		if (auto st = ex.apply(op); !st)
			return rollback_and_fail(st.error());
		int more = 0;
		auto env2 = fx.connect_env(*untried, ex, wg, current, fx.wall_now());
		auto second =
		        connect_with_retries(*env2, connect_policy(*untried, deadline), dev, &more);
		// Answered, the attempts are the pending key's (the "attempt N/M" that counted).
		out.attempts = second ? more : out.attempts + more;
		if (second) {
			active_cfg = &*untried;
			env = std::move(env2);
			connected = std::move(second);
			out.pending_key_adopted = true;
		} else if (fx.signal() || (second.error().code != Errc::unavailable &&
		                           second.error().code != Errc::temp_fail)) {
			connected = std::move(second);
		} else {
			// The second verification ends the run: its code (69, or 75 on time).
			Error e = connected.error();
			e.code = second.error().code;
			e.message += "; nor the pending key " + pub + " (" +
			             second.error().message + ")";
			connected = e;
		}
	}
	if (!connected) {
		Error e = connected.error();
		if (out.change == UpChange::reconciled && !fx.signal())
			e.message += "; the previous configuration is restored";
		// No run state at all (known to be absent, not unreadable): what a killed `up`
		// left. Finish its rollback as it would have, signal or not.
		if (noop && previous && !previous->has_value()) {
			(void)ex.rollback();
			for (auto &op : plan_down(dev, *obs, false))
				(void)ex.apply(op);
			ex.commit();
			out.rolled_back = true;
			out.removed_unfinished = true;
			e.message += "; removed the interface that an unfinished `up` left";
			return failed(e);
		}
		if (noop && !fx.signal())
			e.message += "; the interface is left as it was found";
		return rollback_and_fail(e);
	}
	// The config that the hub answered: the key file's, or the adopted pending key's.
	const Config &done = *active_cfg;
	out.rtt = connected->rtt;
	out.verified = true;
	out.hub = env->active_hub();
	if (out.hub && *out.hub < done.hubs.size()) {
		auto &h = done.hubs[*out.hub];
		if (*out.hub != ctx->active_hub || out.endpoint.empty())
			if (auto ep = resolve_endpoint(h.endpoint))
				out.endpoint = ep->str();
	}

	int64_t now = fx.wall_now();
	const bool keep_since = out.change != UpChange::created && prev && prev->connected_at > 0;
	RunState rs;
	rs.interface = dev;
	rs.connected_at = keep_since ? prev->connected_at : now;
	rs.reconciled_at = out.change == UpChange::reconciled ? now
	                   : prev && noop                     ? prev->reconciled_at
	                                                      : 0;
	rs.backend = out.backend;
	rs.daemon_pid =
	        ex.daemon_pid() ? ex.daemon_pid() : (prev ? prev->daemon_pid : std::nullopt);
	if (ctx->userspace)
		rs.daemon_program = ctx->userspace_program;
	rs.attempts = out.attempts;
	rs.config_path = done.path.string();
	rs.config_fingerprint = config_fingerprint(done);
	rs.endpoint = out.endpoint;
	if (out.hub)
		rs.active_hub = base64_encode(done.hubs[*out.hub].public_key);
	if (auto st = fx.write_run_state(rs); !st)
		return rollback_and_fail(st.error());
	ex.commit();
	out.tunnel_up = true;
	out.connected_at = rs.connected_at;
	if (out.pending_key_adopted) {
		const auto key_file = given.interface.private_key_file->string();
		if (auto st = fx.adopt_pending_key(given); st)
			progress(dev +
			         ": finished the interrupted rotation without the control plane: "
			         "the hub answered its key " +
			         base64_encode(done.interface.public_key) + ", now in " + key_file);
		else
			progress(dev +
			         ": the hub answered the pending key, which the tunnel keeps, "
			         "but " +
			         st.error().message + "; the next `up` settles it");
	}

	const HubConfig &active = out.hub ? done.hubs[*out.hub] : done.hub;
	std::string how = active.tunnel_address
	                          ? "hub " + active.tunnel_address->str() + " answered in " +
	                                    ms(connected->rtt) + " ms"
	                          : "handshake with the hub done";
	if (out.hub)
		how = hub_label(done, *out.hub) + " is active, " + how;
	progress(dev + " is up (" + up_change_name(out.change) + ", " + out.backend + "); " + how +
	         ", attempt " + std::to_string(out.attempts) + "/" +
	         std::to_string(out.max_attempts));
	register_after_up(done, opt, fx, out);
	return out;
}

} // namespace wgn::ops
