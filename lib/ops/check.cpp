#include "check.h"

#include <algorithm>
#include <ctime>

#include "failover.h"
#include "fsutil.h"
#include "health_report.h"
#include "log.h"
#include "probe.h"
#include "regstate.h"
#include "rtnl.h"
#include "runstate.h"
#include "uapi.h"
#include "wg_genl.h"

namespace wgn::ops {

namespace {

// A userspace daemon's socket decides the backend, as wg(8) decides it.
std::unique_ptr<WireGuardControl> control(const std::string &ifname, std::string *backend)
{
	if (uapi_socket_exists(ifname)) {
		*backend = "userspace";
		return std::make_unique<UapiWireGuard>();
	}
	*backend = "kernel";
	return std::make_unique<GenlWireGuard>();
}

class SystemSensors final : public HealthSensors {
public:
	Result<std::optional<Link>> link(const std::string &ifname) override
	{
		if (!rtnl_) {
			auto r = Rtnl::open();
			if (!r)
				return r.error();
			rtnl_.emplace(std::move(*r));
		}
		auto l = rtnl_->get_link(ifname);
		if (!l)
			return l.error();
		if (!*l)
			return std::optional<Link>();
		return std::optional<Link>(Link{(*l)->up});
	}
	Result<DeviceState> device(const std::string &ifname, std::string *backend) override
	{
		return control(ifname, backend)->get_device(ifname);
	}
	Result<double> ping(const std::string &ifname, const IpAddr &to, double timeout) override
	{
		return ping_through(ifname, to, timeout);
	}
	std::vector<Result<double>> ping_all(const std::string &ifname,
	                                     const std::vector<IpAddr> &to, double timeout) override
	{
		return ping_many(ifname, to, timeout);
	}
	std::optional<int64_t> connected_at(const std::string &ifname) override
	{
		auto st = read_run_state(ifname);
		if (!st || !*st || (*st)->connected_at <= 0)
			return std::nullopt;
		return (*st)->connected_at;
	}
	std::optional<std::string> node_id(const std::string &ifname) override
	{
		auto reg = load_registration(ifname);
		if (!reg)
			return std::nullopt;
		return reg->node_id;
	}
	int64_t now() override { return static_cast<int64_t>(time(nullptr)); }

private:
	std::optional<Rtnl> rtnl_;
};

// What a config that could not be loaded is called: NAME, or the file's stem.
std::string name_of(const std::string &target)
{
	auto stem = std::filesystem::path(target).stem().string();
	return stem.empty() ? target : stem;
}

} // namespace

std::unique_ptr<HealthSensors> system_health_sensors()
{
	return std::make_unique<SystemSensors>();
}

UpRepairs::UpRepairs(UpEffects &up_fx, UpOptions opt, Loader load)
    : up_fx_(up_fx), opt_(opt), load_(std::move(load))
{
	if (!load_)
		load_ = [](const Config &checked) {
			ConfigLoadOptions lo;
			lo.allow_hub_config =
			        checked.is_hub_config; // --repair on a hub brings it up
			return load_config(checked.path, lo);
		};
}

Status UpRepairs::bring_up(const Config &checked, const std::string &)
{
	auto cfg = load_(checked);
	if (!cfg) {
		UpOutcome o;
		o.interface = checked.interface.name;
		o.error = cfg.error();
		last_up = o;
	} else {
		last_up = up(*cfg, opt_, up_fx_);
	}
	if (auto *e = last_up->failure())
		return make_error(e->code,
		                  "wgn up exited with " + std::to_string(exit_code(e->code)));
	return Ok{};
}

Result<SockAddr> UpRepairs::resolve(const Endpoint &ep)
{
	return resolve_endpoint(ep);
}

Status UpRepairs::set_endpoint(const std::string &ifname, const Key &peer, const SockAddr &ep)
{
	PeerConfig p;
	p.public_key = peer;
	p.endpoint = ep;
	DeviceConfig d;
	d.peers.push_back(p);
	std::string backend;
	effect("wg set " + ifname + " peer (hub) endpoint " + ep.str());
	return control(ifname, &backend)->set_device(ifname, d);
}

Status UpRepairs::switch_hub(const Config &cfg, size_t to)
{
	auto o = failover(cfg, to);
	if (o.error)
		return *o.error;
	return Ok{};
}

HealthResult unknown_health(const std::string &config, const std::string &ifname,
                            const std::string &why, double stale_after)
{
	HealthObservation o;
	o.config = config;
	o.interface = ifname;
	o.unknown_reason = why;
	return evaluate_result(o, stale_after);
}

CheckOutcome check(const std::string &target, const CheckOptions &opt, HealthSensors &sensors,
                   UpRepairs &repairs)
{
	CheckOutcome out;
	double default_stale = opt.stale_after.value_or(HealthConfig{}.stale_handshake);
	auto path = resolve_config_path(target, opt.config_dir);
	if (!path) {
		out.result = unknown_health(target, name_of(target), path.error().message,
		                            default_stale);
		return out;
	}
	ConfigLoadOptions lo;
	lo.read_key_files = false;  // a monitoring user need not read the private key
	lo.allow_hub_config = true; // a hub's own config: its interface and peers
	auto cfg = load_config(*path, lo);
	if (!cfg) {
		out.result =
		        unknown_health(target, name_of(target), cfg.error().message, default_stale);
		if (opt.report)
			out.report_error =
			        name_of(target) +
			        ": health report not sent: the config could not be loaded";
		return out;
	}
	return check(*cfg, target, opt, sensors, repairs);
}

namespace {

// --report: the result as it stands at the end of the check.
void report(const Config &cfg, const CheckOptions &opt, CheckOutcome &out)
{
	if (!opt.report)
		return;
	out.report_unconfigured = !cfg.control_plane || cfg.is_hub_config;
	auto st = send_health_report(cfg, out.result, opt.report_transport);
	if (!st)
		out.report_error = st.error().message;
}

CheckOutcome look_and_repair(const Config &cfg, const std::string &config_name,
                             const CheckOptions &opt, HealthSensors &sensors, UpRepairs &repairs)
{
	CheckOutcome out;
	double stale = opt.stale_after.value_or(cfg.health.stale_handshake);
	out.result = evaluate_result(observe_health(cfg, config_name, sensors), stale);
	if (!opt.repair)
		return out;
	repairs.last_up.reset();
	out.repairs = repair_health(cfg, out.result, repairs, &out.repair_changed);
	out.up = repairs.last_up;
	// Nothing changed: the state after is the one just seen, and a second echo to a
	// hub that did not answer would only double the wait. After a signal, no more.
	if (!out.repair_changed || (out.up && out.up->signal))
		return out;
	out.before = out.result;
	out.result = evaluate_result(observe_health(cfg, config_name, sensors), stale);
	return out;
}

} // namespace

CheckOutcome check(const Config &cfg, const std::string &config_name, const CheckOptions &opt,
                   HealthSensors &sensors, UpRepairs &repairs)
{
	auto out = look_and_repair(cfg, config_name, opt, sensors, repairs);
	if (!(out.up && out.up->signal)) // a signal ended the run: nothing more
		report(cfg, opt, out);
	return out;
}

CheckOutcome check(const std::string &target, const CheckOptions &opt, HealthSensors &sensors)
{
	auto fx = system_up_effects(); // `up` reads the config again, keys and all
	UpRepairs repairs(*fx, opt.up);
	return check(target, opt, sensors, repairs);
}

Result<std::vector<std::string>> list_configs(const std::filesystem::path &dir)
{
	std::vector<std::string> out;
	std::error_code ec;
	for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end;
	     it.increment(ec)) {
		// Whatever is named *.toml, a FIFO or a directory too: checking it reports it
		// (unknown, naming the file) instead of leaving it out of the look unsaid.
		auto &p = it->path();
		if (p.extension() == ".toml" && !p.stem().empty())
			out.push_back(p.string());
	}
	if (ec)
		return make_error(Errc::no_input, "cannot read the config directory " +
		                                          dir.string() + ": " + ec.message());
	std::sort(out.begin(), out.end());
	return out;
}

Status write_health_textfile(const std::filesystem::path &dir, const HealthResult &r)
{
	auto path = dir / ("wgn_" + r.obs.interface + ".prom");
	return write_file_atomic(path, format_health_prometheus({r}), 0644);
}

} // namespace wgn::ops
