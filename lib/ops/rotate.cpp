// The flow of `rotate` (rotate.h); its effects are RotateEffects, the system's in
// rotate_system.cpp.
#include "rotate.h"

#include <algorithm>

#include "log.h"
#include "plan.h"

namespace wgn::ops {

const char *rotate_step_name(RotateStep s)
{
	switch (s) {
	case RotateStep::locked:
		return "locked";
	case RotateStep::key_written:
		return "key_written";
	case RotateStep::registered:
		return "registered";
	case RotateStep::switched:
		return "switched";
	case RotateStep::verified:
		return "verified";
	case RotateStep::committed:
		return "committed";
	case RotateStep::none:
		break;
	}
	return "none";
}

std::filesystem::path pending_key_path(const Config &cfg)
{
	if (!cfg.interface.private_key_file)
		return {};
	return cfg.interface.private_key_file->string() + ".new";
}

namespace {

Config with_key(const Config &cfg, const SecretKey &key)
{
	Config c = cfg;
	c.interface.private_key = key;
	c.interface.public_key = public_key_of(key);
	return c;
}

// Verification through the active hub, with connect.h's loop: each retry re-creates
// the hubs' peers first, so that it starts a handshake at once.
class RotateConnectEnv final : public ConnectEnv {
public:
	RotateConnectEnv(RotateEffects &fx, const Config &cfg, size_t hub, DeviceConfig kick,
	                 int64_t after)
	    : fx_(fx), cfg_(cfg), hub_(hub), kick_(std::move(kick)), after_(after)
	{}
	Status refresh_endpoint() override { return Ok{}; }
	Result<double> verify(double timeout) override
	{
		if (tries_++ > 0 && !kick_.peers.empty())
			if (auto st = fx_.set_device(cfg_.interface.name, kick_); !st)
				return st.error();
		return fx_.probe(cfg_, hub_, timeout, after_);
	}
	double now() override { return fx_.now(); }
	bool sleep(double s) override { return fx_.sleep(s); }
	bool interrupted() override { return fx_.signal() != 0; }
	double jitter_unit() override { return fx_.jitter_unit(); }
	std::optional<size_t> active_hub() override
	{
		return cfg_.hubs.size() > 1 ? std::optional<size_t>(hub_) : std::nullopt;
	}

private:
	RotateEffects &fx_;
	const Config &cfg_;
	size_t hub_;
	DeviceConfig kick_;
	int64_t after_;
	int tries_ = 0;
};

const HubConfig &hub_at(const Config &cfg, size_t i)
{
	return cfg.hubs.size() > 1 ? cfg.hubs[i] : cfg.hub;
}

// A 4xx refusal: the control plane did not take the request. Anything else (no
// answer, an answer outside the protocol) may hide a change that was made.
bool refused(const Error &e)
{
	return e.code == Errc::data || e.code == Errc::no_perm || e.code == Errc::config;
}

} // namespace

RotateOutcome rotate(Config &cfg, RotateEffects &fx)
{
	const std::string &dev = cfg.interface.name;
	RotateOutcome out;
	out.interface = dev;
	out.old_public_key = base64_encode(cfg.interface.public_key);
	out.max_attempts = cfg.connect.max_retries + 1;
	auto failed = [&](const Error &e) {
		out.error = e;
		out.signal = fx.signal();
		return out;
	};

	if (!cfg.interface.private_key_file)
		return failed(make_error(Errc::config,
		                         cfg.path.string() +
		                                 ": rotate needs [interface] private_key_file "
		                                 "(an inline private_key cannot be replaced)"));
	if (cfg.is_hub_config)
		return failed(make_error(
		        Errc::config, cfg.path.string() + ": a hub's own config (no [hub]): rotate "
		                                          "changes a node's key"));
	if (!cfg.control_plane)
		return failed(make_error(Errc::config,
		                         cfg.path.string() + ": rotate needs [control_plane] (the "
		                                             "hubs learn the new key from it)"));
	if (!fx.has_cap_net_admin())
		return failed(
		        make_error(Errc::no_perm, dev + ": changing the interface's key needs "
		                                        "CAP_NET_ADMIN (run as root)"));
	if (auto st = fx.lock(dev); !st)
		return failed(st.error());
	struct Unlock {
		RotateEffects &fx;
		~Unlock() { fx.unlock(); }
	} unlock{fx};
	const double start = fx.now();
	const double deadline = start + cfg.connect.timeout;
	auto elapsed = [&] { out.seconds = fx.now() - start; };
	fx.checkpoint(out.reached = RotateStep::locked);
	// Waited for the lock: another rotate may have replaced the key file meanwhile, and
	// the control plane has its key now; this one rotates from that key.
	auto newer = fx.newer_key(cfg);
	if (!newer)
		return elapsed(), failed(newer.error());
	if (*newer) {
		cfg = with_key(cfg, **newer);
		newer->reset();
		out.old_public_key = base64_encode(cfg.interface.public_key);
	}

	auto device = fx.get_device(dev);
	if (!device)
		return elapsed(), failed(make_error(Errc::unavailable,
		                                    dev + " is not up (" + device.error().message +
		                                            "): rotate switches a running tunnel; "
		                                            "`wgn up` it first"));
	size_t hub = 0;
	if (cfg.hubs.size() > 1)
		hub = active_hub_of(cfg, *device).value_or(0);
	out.hub = cfg.hubs.size() > 1 ? std::optional<size_t>(hub) : std::nullopt;

	// The new key: an interrupted rotation's, else a new one.
	const auto pending_path = pending_key_path(cfg);
	auto pending = fx.read_pending_key(pending_path);
	if (!pending)
		return elapsed(), failed(pending.error());
	SecretKey new_key;
	if (*pending) {
		new_key = **pending;
		out.resumed = true;
		progress(dev + ": finishing the rotation that " + pending_path.string() +
		         " holds the key of");
	} else {
		auto k = fx.generate_key();
		if (!k)
			return elapsed(), failed(k.error());
		new_key = *k;
		if (auto st = fx.write_pending_key(pending_path, new_key); !st)
			return elapsed(), failed(st.error());
	}
	pending->reset();
	Config next = with_key(cfg, new_key);
	out.new_public_key = base64_encode(next.interface.public_key);
	fx.checkpoint(out.reached = RotateStep::key_written);

	auto reg = fx.register_key(next, cfg.interface.public_key);
	if (!reg) {
		Error e = reg.error();
		if (refused(e)) {
			(void)fx.remove_pending_key(pending_path);
		} else {
			out.pending_kept = true;
			e.message +=
			        "; " + pending_path.string() +
			        " is kept: the control plane may have taken the new key, and "
			        "`wgn up` or `wgn rotate` finishes the rotation once it answers";
		}
		return elapsed(), failed(e);
	}
	out.node_id = reg->node_id;
	fx.checkpoint(out.reached = RotateStep::registered);

	// Undo from here on: the old key back on the interface and with the control plane.
	auto undo = [&](Error e) {
		DeviceConfig back = recreate_hub_peers(cfg, *device);
		back.private_key = cfg.interface.private_key;
		if (auto st = fx.set_device(dev, back); st) {
			out.rolled_back = true;
		} else {
			out.undo_error = st.error();
		}
		if (auto r = fx.register_key(cfg, next.interface.public_key); r) {
			out.reregistered = true;
			(void)fx.remove_pending_key(pending_path);
		} else {
			if (!out.undo_error)
				out.undo_error = r.error();
			out.pending_kept = true;
			e.message += "; the old key is back on the interface but the control plane "
			             "did not take it back (" +
			             r.error().message + "): " + pending_path.string() +
			             " is kept for `wgn up` to settle";
		}
		elapsed();
		return failed(e);
	};

	const HubConfig &active = hub_at(cfg, hub);
	const int64_t switched_at = fx.wall_now();
	// A resumed rotation may find the new key on the interface already.
	const bool on_new_key = device->private_key && *device->private_key == new_key;
	if (active.tunnel_address && !on_new_key) {
		// The hub's sync replaces the peer within a second of the registration: switch
		// when the old key stops being answered, not before (a handshake the hub
		// refuses is retried only after 5 s).
		const double wait_until = start + cfg.connect.timeout / 2;
		while (fx.now() < wait_until) {
			auto r = fx.probe(cfg, hub, std::min(0.3, cfg.connect.attempt_timeout),
			                  switched_at);
			if (fx.signal())
				return undo(make_error(Errc::temp_fail, "interrupted"));
			if (!r)
				break;
			if (!fx.sleep(0.1))
				return undo(make_error(Errc::temp_fail, "interrupted"));
		}
	}

	DeviceConfig sw = recreate_hub_peers(cfg, *device);
	sw.private_key = new_key;
	if (auto st = fx.set_device(dev, sw); !st)
		return undo(st.error());
	fx.checkpoint(out.reached = RotateStep::switched);

	RotateConnectEnv env(fx, next, hub, recreate_hub_peers(cfg, *device), switched_at);
	ConnectPolicy policy;
	policy.max_retries = cfg.connect.max_retries;
	policy.backoff.initial = cfg.connect.initial_backoff;
	policy.backoff.max = cfg.connect.max_backoff;
	policy.attempt_timeout = cfg.connect.attempt_timeout;
	policy.deadline = deadline;
	policy.timeout = cfg.connect.timeout;
	auto ok = connect_with_retries(env, policy, dev, &out.attempts);
	if (!ok) {
		Error e = ok.error();
		// The hub not answering the new key in time is 69, whether the retries or the
		// deadline ended it; an interruption keeps its own code.
		if (e.code == Errc::temp_fail && !fx.signal())
			e.code = Errc::unavailable;
		if (e.code == Errc::unavailable)
			e.message = dev + ": the hub did not answer through the new key (" +
			            e.message + "); is `wgn sync --watch` running on it?";
		return undo(e);
	}
	out.rtt = ok->rtt;
	fx.checkpoint(out.reached = RotateStep::verified);

	if (auto st = fx.commit_key(pending_path, *cfg.interface.private_key_file); !st) {
		// The control plane, the hubs and the interface have the new key: going back
		// would cost a second outage. `up` settles the pending file.
		out.pending_kept = true;
		Error e = st.error();
		e.message += "; the tunnel runs on the new key, which stays in " +
		             pending_path.string() + " for `wgn up` to settle";
		elapsed();
		return failed(e);
	}
	fx.record_new_key(next);
	// The old key's bytes are overwritten in the caller's config; the copies made here
	// wipe themselves (SecretKey).
	cfg.interface.private_key = new_key;
	cfg.interface.public_key = next.interface.public_key;
	fx.checkpoint(out.reached = RotateStep::committed);
	elapsed();
	progress(dev + ": the key is rotated (" + out.new_public_key + "); " + hub_label(cfg, hub) +
	         " answered");
	return out;
}

PendingKey settle_pending_key(const Config &loaded, RotateEffects &fx, std::string *note)
{
	PendingKey found;
	if (!loaded.interface.private_key_file)
		return found;
	// Loaded before the lock: a rotate that held it meanwhile may have replaced the key
	// file, and the hubs and the control plane have that key now, not the loaded one.
	std::optional<Config> current;
	if (auto newer = fx.newer_key(loaded); !newer) {
		*note = loaded.interface.name + ": " + newer.error().message +
		        "; going on with the key read before the lock";
	} else if (*newer) {
		current = with_key(loaded, **newer);
		newer->reset();
		found.taken = current;
	}
	const Config &cfg = current ? *current : loaded;
	if (!cfg.control_plane || cfg.is_hub_config)
		return found;
	const auto path = pending_key_path(cfg);
	const std::string &dev = cfg.interface.name;
	auto pending = fx.read_pending_key(path);
	if (!pending) {
		*note = dev + ": " + pending.error().message +
		        "; a rotation was interrupted, "
		        "going on with the key file";
		return found;
	}
	if (!*pending)
		return found;
	Config next = with_key(cfg, **pending);
	pending->reset();
	if (next.interface.public_key == cfg.interface.public_key) {
		(void)fx.remove_pending_key(path);
		return found;
	}
	auto reg = fx.register_key(next, cfg.interface.public_key);
	if (!reg) {
		if (refused(reg.error())) {
			(void)fx.remove_pending_key(path);
			*note = dev +
			        ": a rotation was interrupted and the control plane refused its "
			        "key (" +
			        reg.error().message + "); " + path.string() +
			        " removed, going on with the key file";
		} else {
			*note = dev +
			        ": a rotation was interrupted and the control plane did not "
			        "answer (" +
			        reg.error().message + "); " + path.string() +
			        " kept: the key file's key first, then its key if the hub does "
			        "not answer";
			found.unanswered = std::move(next);
		}
		return found;
	}
	if (auto st = fx.commit_key(path, *cfg.interface.private_key_file); !st) {
		*note = dev + ": the control plane has the key of an interrupted rotation, but " +
		        st.error().message + "; going on with it";
		found.taken = std::move(next);
		return found;
	}
	*note = dev + ": finished an interrupted rotation: the control plane has the new key " +
	        base64_encode(next.interface.public_key) + ", now in " +
	        cfg.interface.private_key_file->string();
	found.taken = std::move(next);
	return found;
}

Status adopt_pending_key(const Config &cfg, RotateEffects &fx)
{
	if (!cfg.interface.private_key_file)
		return make_error(Errc::software, cfg.path.string() + ": no private_key_file");
	return fx.commit_key(pending_key_path(cfg), *cfg.interface.private_key_file);
}

} // namespace wgn::ops
