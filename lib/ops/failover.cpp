#include "failover.h"

#include "lock.h"
#include "log.h"
#include "plan.h"
#include "uapi.h"
#include "wg_genl.h"

namespace wgn::ops {

FailoverOutcome failover(const Config &cfg, size_t to, FailoverEffects &fx)
{
	const std::string &dev = cfg.interface.name;
	FailoverOutcome out;
	out.interface = dev;
	out.to = to;
	if (cfg.hubs.size() < 2 || to >= cfg.hubs.size()) {
		out.error =
		        make_error(Errc::config,
		                   dev + ": no hub " + std::to_string(to) + " to fail over to (" +
		                           std::to_string(cfg.hubs.size()) + " hub(s) configured)");
		return out;
	}
	if (auto st = fx.lock(dev); !st) {
		out.error = st.error();
		return out;
	}
	struct Unlock {
		FailoverEffects &fx;
		~Unlock() { fx.unlock(); }
	} unlock{fx};

	WireGuardControl &wg = fx.wg(dev);
	auto state = wg.get_device(dev);
	if (!state) {
		out.error = state.error();
		return out;
	}
	out.from = active_hub_of(cfg, *state);
	if (out.from == to)
		return out;
	DeviceConfig d = switch_hub_config(cfg, to);
	effect(describe_switch(dev, d));
	if (auto st = wg.set_device(dev, d); !st) {
		out.error = st.error();
		return out;
	}
	out.changed = true;
	progress(dev + ": " + (out.from ? hub_label(cfg, *out.from) : std::string("no hub")) +
	         " -> " + hub_label(cfg, to) + ": " + hub_label(cfg, to) + " is active");

	if (auto rs = fx.read_run_state(dev); rs && *rs) {
		RunState r = **rs;
		r.active_hub = base64_encode(cfg.hubs[to].public_key);
		if (auto st = fx.write_run_state(r); !st)
			complain(st.error().message + " (the run state still names the old hub)");
	}
	return out;
}

namespace {

class SystemFailoverEffects final : public FailoverEffects {
public:
	Status lock(const std::string &ifname) override
	{
		auto l = InterfaceLock::acquire(ifname);
		if (!l)
			return l.error();
		lock_.emplace(std::move(*l));
		return Ok{};
	}
	void unlock() override { lock_.reset(); }
	WireGuardControl &wg(const std::string &ifname) override
	{
		// A userspace daemon's socket decides the backend, as wg(8) decides it.
		if (uapi_socket_exists(ifname))
			wg_ = std::make_unique<UapiWireGuard>();
		else
			wg_ = std::make_unique<GenlWireGuard>();
		return *wg_;
	}
	Result<std::optional<RunState>> read_run_state(const std::string &ifname) override
	{
		return wgn::read_run_state(ifname);
	}
	Status write_run_state(const RunState &rs) override { return wgn::write_run_state(rs); }

private:
	std::optional<InterfaceLock> lock_;
	std::unique_ptr<WireGuardControl> wg_;
};

} // namespace

std::unique_ptr<FailoverEffects> system_failover_effects()
{
	return std::make_unique<SystemFailoverEffects>();
}

FailoverOutcome failover(const Config &cfg, size_t to)
{
	SystemFailoverEffects fx;
	return failover(cfg, to, fx);
}

} // namespace wgn::ops
