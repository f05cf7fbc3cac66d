// wgn health: one look at the tunnel, for people, cron, Nagios and Prometheus.
#include "commands.h"

namespace wgn {

CLI::App *setup_health(CLI::App &app, HealthOptions &o)
{
	auto *c = app.add_subcommand("health", "Check the tunnel (monitoring-plugins exit codes)");
	auto *target = c->add_option("config", o.target, "Interface NAME or FILE");
	auto *all = c->add_flag("--all", o.all, "Check every config in the config directory");
	target->excludes(all);
	c->add_option("--format", o.format, "Output format")
	        ->check(CLI::IsMember({"human", "json", "nagios", "prometheus"}));
	c->add_option("--textfile-dir", o.textfile_dir,
	              "Also write DIR/wgn_NAME.prom for node_exporter's textfile collector");
	c->add_option("--stale-after", o.stale_after,
	              "Seconds after which a handshake is stale (health.stale_handshake)")
	        ->check(CLI::PositiveNumber);
	c->add_flag("--repair", o.repair, "Bring a disconnected tunnel up, re-resolve a stale one");
	return c;
}

} // namespace wgn

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>

#include "common.h"
#include "connect.h"
#include "fsutil.h"
#include "health.h"
#include "log.h"
#include "probe.h"
#include "regstate.h"
#include "rtnl.h"
#include "runstate.h"
#include "uapi.h"
#include "wg_genl.h"

namespace wgn {

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

// The system as health reads it: every call a read, one rtnetlink socket for the run.
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

class SystemRepairs final : public HealthRepairs {
public:
	explicit SystemRepairs(const GlobalOptions &g) : g_(g) {}

	Status bring_up(const Config &, const std::string &config_name) override
	{
		UpOptions up;
		up.target = config_name;
		int rc = run_up(g_, up);
		if (rc != 0)
			return make_error(Errc::unavailable,
			                  "wgn up exited with " + std::to_string(rc));
		return Ok{};
	}

	// As `up` resolves it.
	Result<SockAddr> resolve(const Endpoint &ep) override { return resolve_endpoint(ep); }

	Status set_endpoint(const std::string &ifname, const Key &peer, const SockAddr &ep) override
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

private:
	const GlobalOptions &g_;
};

// What a config that could not be loaded is called: NAME, or the file's stem.
std::string name_of(const std::string &target)
{
	auto stem = std::filesystem::path(target).stem().string();
	return stem.empty() ? target : stem;
}

HealthResult unknown_result(const std::string &config, const std::string &ifname,
                            const std::string &why, double stale)
{
	HealthObservation o;
	o.config = config;
	o.interface = ifname;
	o.unknown_reason = why;
	return evaluate_result(o, stale);
}

HealthResult check_one(const GlobalOptions &g, const HealthOptions &opt, const std::string &target,
                       SystemSensors &sensors)
{
	double default_stale = opt.stale_after.value_or(HealthConfig{}.stale_handshake);
	auto path = resolve_config_path(target, g.config_dir);
	if (!path)
		return unknown_result(target, name_of(target), path.error().message, default_stale);
	ConfigLoadOptions lo;
	lo.read_key_files = false; // a monitoring user need not read the private key
	auto cfg = load_config(*path, lo);
	if (!cfg)
		return unknown_result(target, name_of(target), cfg.error().message, default_stale);
	double stale = opt.stale_after.value_or(cfg->health.stale_handshake);
	auto r = evaluate_result(observe_health(*cfg, target, sensors), stale);
	if (!opt.repair)
		return r;
	SystemRepairs fx(g); // `up` reads the config again, keys and all
	bool changed = false;
	auto said = repair_health(*cfg, r, fx, &changed);
	for (auto &line : said)
		complain(line);
	// Nothing changed: the state after is the one just seen, and a second echo to a
	// hub that did not answer would only double the wait.
	if (!changed)
		return r;
	return evaluate_result(observe_health(*cfg, target, sensors), stale);
}

Result<std::vector<std::string>> all_configs(const GlobalOptions &g)
{
	auto dir = config_dir(g.config_dir);
	std::vector<std::string> out;
	std::error_code ec;
	for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end;
	     it.increment(ec)) {
		auto &p = it->path();
		if (p.extension() == ".toml" && !p.stem().empty() && it->is_regular_file(ec))
			out.push_back(p.string());
	}
	if (ec)
		return make_error(Errc::no_input, "cannot read the config directory " +
		                                          dir.string() + ": " + ec.message());
	std::sort(out.begin(), out.end());
	return out;
}

} // namespace

int run_health(const GlobalOptions &g, const HealthOptions &o)
{
	if (!o.all && o.target.empty()) {
		complain("health needs a config NAME or FILE, or --all");
		return exit_code(Errc::usage);
	}
	SystemSensors sensors;
	std::vector<HealthResult> results;
	if (o.all) {
		auto targets = all_configs(g);
		if (!targets)
			results.push_back(unknown_result(config_dir(g.config_dir).string(), "all",
			                                 targets.error().message,
			                                 o.stale_after.value_or(180)));
		else
			for (auto &t : *targets)
				results.push_back(check_one(g, o, t, sensors));
	} else {
		results.push_back(check_one(g, o, o.target, sensors));
	}

	std::vector<int> codes;
	for (auto &r : results)
		codes.push_back(health_exit_code(r.status));
	if (o.textfile_dir) {
		for (auto &r : results) {
			auto path = std::filesystem::path(*o.textfile_dir) /
			            ("wgn_" + r.obs.interface + ".prom");
			auto st = write_file_atomic(path, format_health_prometheus({r}), 0644);
			if (!st) {
				complain(st.error().message);
				codes.push_back(3);
			}
		}
	}

	std::string out;
	if (o.format == "json")
		out = format_health_json(results);
	else if (o.format == "nagios")
		out = format_health_nagios(results);
	else if (o.format == "prometheus")
		out = format_health_prometheus(results);
	else
		out = format_health_human(results);
	std::fputs(out.c_str(), stdout);
	std::fflush(stdout);
	return worst_health_exit_code(codes);
}

} // namespace wgn
