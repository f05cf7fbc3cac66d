// `up` on the real system: the UpEffects of up.h, and the dry run.
#include <chrono>
#include <ctime>

#include <poll.h>

#include "duration.h"
#include "held_lock.h"
#include "log.h"
#include "observe.h"
#include "probe.h"
#include "rotate.h"
#include "uapi.h"
#include "up.h"
#include "wg_genl.h"

namespace wgn::ops {

namespace {

double mono()
{
	using Clock = std::chrono::steady_clock;
	return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

// The effects of the retry loop on the real system.
class SystemConnectEnv final : public ConnectEnv {
public:
	SystemConnectEnv(const Config &cfg, Executor &ex, WireGuardControl &wg,
	                 std::optional<SockAddr> current, int64_t handshake_after)
	    : cfg_(cfg), ex_(ex), wg_(wg), current_(current), handshake_after_(handshake_after)
	{}

	const HubConfig &hub()
	{
		if (cfg_.hubs.size() <= 1)
			return cfg_.hub;
		return cfg_.hubs[active_index()];
	}
	size_t active_index()
	{
		if (!active_) {
			auto d = wg_.get_device(cfg_.interface.name);
			active_ = d ? active_hub_of(cfg_, *d).value_or(0) : 0;
		}
		return *active_;
	}
	std::optional<size_t> active_hub() override
	{
		if (cfg_.hubs.size() <= 1)
			return std::nullopt;
		return active_index();
	}

	Status refresh_endpoint() override
	{
		const HubConfig &h = hub();
		if (current_ && !endpoint_is_name(h.endpoint))
			return Ok{};
		auto ep = resolve_endpoint(h.endpoint);
		if (!ep)
			return ep.error();
		if (current_ && *current_ == *ep)
			return Ok{};
		// Through the executor, so that a rollback restores the endpoint too.
		Operation op{OpKind::set_device, std::nullopt, 0, {}, ""};
		PeerConfig pc;
		pc.public_key = h.public_key;
		pc.endpoint = *ep;
		op.device.peers.push_back(pc);
		op.text = "wg set " + cfg_.interface.name + " peer " + base64_encode(h.public_key) +
		          " endpoint " + ep->str();
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
		if (cfg_.hubs.size() > 1)
			return verify_hubs(timeout, po);
		if (cfg_.hub.tunnel_address)
			return ping_through(dev, *cfg_.hub.tunnel_address, timeout, po);
		return wait_for_handshake(wg_, dev, cfg_.hub.public_key, handshake_after_,
		                          first_host(cfg_.hub.allowed_ips.front()), timeout, po);
	}
	double now() override { return mono(); }
	bool sleep(double seconds) override
	{
		pollfd p{SignalWatch::fd(), POLLIN, 0};
		// Rounded up and clamped: a NaN or huge delay is not an undefined conversion.
		int ms = static_cast<int>(milliseconds_of(seconds, 2000000000));
		return poll(&p, 1, ms) == 0 && SignalWatch::signal() == 0;
	}
	bool interrupted() override { return SignalWatch::signal() != 0; }
	double jitter_unit() override { return jitter_.next(); }

private:
	// Several hubs: one echo to each at once; the best that answers becomes active
	// (through the executor, so that a rollback puts the allowed IPs back).
	Result<double> verify_hubs(double timeout, const ProbeOptions &po)
	{
		const auto &dev = cfg_.interface.name;
		size_t active = active_index();
		std::vector<IpAddr> dsts;
		for (auto &h : cfg_.hubs)
			dsts.push_back(*h.tunnel_address);
		auto rs = ping_many(dev, dsts, timeout, true, po);
		size_t best = rs.size();
		for (size_t i = 0; i < rs.size() && best == rs.size(); ++i)
			if (rs[i])
				best = i;
		if (best == rs.size()) {
			for (auto &r : rs)
				if (r.error().code != Errc::unavailable)
					return r.error();
			return make_error(Errc::unavailable,
			                  "no hub answered within " + format_seconds(timeout) +
			                          "s (" + rs[active].error().message + ")");
		}
		if (best != active) {
			Operation op{OpKind::set_device, std::nullopt, 0, {}, ""};
			op.device = switch_hub_config(cfg_, best);
			op.text = describe_switch(dev, op.device);
			if (auto st = ex_.apply(op); !st)
				return st.error();
			progress(dev + ": " + hub_label(cfg_, best) + " answered" +
			         (best > active ? " and " + hub_label(cfg_, active) + " did not"
			                        : "") +
			         "; " + hub_label(cfg_, best) + " is active");
			active_ = best;
			current_.reset();
		}
		return *rs[best];
	}

	const Config &cfg_;
	Executor &ex_;
	WireGuardControl &wg_;
	std::optional<SockAddr> current_;
	int64_t handshake_after_;
	Jitter jitter_;
	std::optional<size_t> active_;
};

class SystemUpEffects final : public UpEffects {
public:
	bool has_cap_net_admin() override { return wgn::has_cap_net_admin(); }
	Status lock(const std::string &ifname) override { return lock_.take(ifname); }
	void unlock() override { lock_.release(); }
	Result<LinkObservation> observe(const std::string &ifname) override
	{
		if (!rtnl_) {
			auto r = Rtnl::open();
			if (!r)
				return r.error();
			rtnl_.emplace(std::move(*r));
			link_.emplace(*rtnl_);
		}
		return observe_link(*rtnl_, ifname);
	}
	Result<PlanContext> plan_context(const Config &cfg, const LinkObservation &obs) override
	{
		return make_plan_context(cfg, rtnl_ ? &*rtnl_ : nullptr, obs);
	}
	Effects executor_effects(bool userspace) override
	{
		if (userspace)
			wg_ = std::make_unique<UapiWireGuard>();
		else
			wg_ = std::make_unique<GenlWireGuard>();
		return Effects{*link_, daemon_, *wg_, [] { return SignalWatch::signal() != 0; }};
	}
	std::unique_ptr<ConnectEnv> connect_env(const Config &cfg, Executor &ex,
	                                        WireGuardControl &wg,
	                                        std::optional<SockAddr> current,
	                                        int64_t handshake_after) override
	{
		return std::make_unique<SystemConnectEnv>(cfg, ex, wg, current, handshake_after);
	}
	Result<std::optional<RunState>> read_run_state(const std::string &ifname) override
	{
		return wgn::read_run_state(ifname);
	}
	Status write_run_state(const RunState &rs) override { return wgn::write_run_state(rs); }
	std::optional<RegistrationState> load_registration(const std::string &ifname) override
	{
		return wgn::load_registration(ifname);
	}
	bool registration_is_current(const Config &cfg) override
	{
		return wgn::registration_is_current(cfg);
	}
	Result<RegistrationOutcome> register_node(const Config &cfg) override
	{
		return wgn::register_node(cfg);
	}
	PendingKey finish_rotation(const Config &cfg) override
	{
		std::string note;
		auto found = settle_pending_key(cfg, rotate_effects(), &note);
		if (!note.empty())
			progress(note);
		return found;
	}
	Status adopt_pending_key(const Config &cfg) override
	{
		return ops::adopt_pending_key(cfg, rotate_effects());
	}
	int signal() override { return SignalWatch::signal(); }
	double now() override { return mono(); }
	int64_t wall_now() override { return static_cast<int64_t>(std::time(nullptr)); }

private:
	RotateEffects &rotate_effects()
	{
		if (!rotate_)
			rotate_ = system_rotate_effects();
		return *rotate_;
	}

	HeldLock lock_;
	std::unique_ptr<RotateEffects> rotate_;
	std::optional<Rtnl> rtnl_;
	std::optional<RtnlLinkControl> link_;
	SystemDaemonControl daemon_;
	std::unique_ptr<WireGuardControl> wg_;
};

} // namespace

std::unique_ptr<UpEffects> system_up_effects()
{
	return std::make_unique<SystemUpEffects>();
}

UpOutcome up(const Config &cfg, const UpOptions &opt)
{
	SystemUpEffects fx;
	return up(cfg, opt, fx);
}

UpPreview preview_up(const Config &cfg)
{
	UpPreview p;
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
			p.notices.push_back(dev + ": cannot look at the interface (" +
			                    o.error().message +
			                    "); planning as if it did not exist");
	}
	if (unreadable)
		p.notices.push_back(dev + ": cannot read the WireGuard device without privilege; "
		                          "the plan sets all of it");
	auto ctx = make_plan_context(cfg, rtnl ? &*rtnl : nullptr, obs);
	if (!ctx) {
		p.error = ctx.error();
		return p;
	}
	p.ops = plan_up(cfg, obs, *ctx);
	p.noop = plan_is_noop(p.ops);
	return p;
}

} // namespace wgn::ops
