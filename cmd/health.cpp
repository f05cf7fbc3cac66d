// wgn health: one look at the tunnel, for people, cron, Nagios and Prometheus.
#include "commands.h"

namespace wgn {

void setup_health(CLI::App *c, HealthOptions &o)
{
	auto *target = c->add_option("config", o.target, "Interface NAME or FILE");
	auto *all = c->add_flag("--all", o.all, "Check every config in the config directory");
	target->excludes(all);
	c->add_option("--format", o.format, "Output format")
	        ->check(CLI::IsMember({"human", "json", "nagios", "prometheus"}));
	c->add_option("--textfile-dir", o.textfile_dir,
	              "Also write DIR/wgn_NAME.prom for node_exporter's textfile collector");
	c->add_option("--stale-after", o.stale_after,
	              "Seconds after which a handshake is stale (health.stale_handshake)")
	        ->check(seconds_validator());
	c->add_flag("--repair", o.repair,
	            "Bring a disconnected tunnel up, re-resolve a stale one; with several hubs, "
	            "fail over to the best hub that answers, or back to the preferred one");
	c->add_flag("--report", o.report,
	            "Also post the result to the control plane ([control_plane], the node's "
	            "token); a report that cannot be sent changes no exit code");
}

} // namespace wgn

#include <cstdio>

#include "check.h"
#include "common.h"
#include "log.h"

namespace wgn {

namespace {

HealthResult check_one(const GlobalOptions &g, const HealthOptions &opt, const std::string &target,
                       HealthSensors &sensors)
{
	ops::CheckOptions co;
	co.config_dir = g.config_dir;
	co.stale_after = opt.stale_after;
	co.repair = opt.repair;
	co.report = opt.report;
	auto out = ops::check(target, co, sensors);
	// The up that --repair ran reports as `wgn up` would, before the repair's lines
	// (and dies of a signal that interrupted it).
	if (out.up)
		(void)report_up_failure(*out.up);
	for (auto &line : out.repairs)
		complain(line);
	// --all reports what can be reported and passes over the configs that have no
	// control plane to report to (a hub's, a node's without [control_plane]).
	if (out.report_error && !(opt.all && out.report_unconfigured))
		complain(*out.report_error);
	return out.result;
}

} // namespace

int run_health(const GlobalOptions &g, const HealthOptions &o)
{
	if (!o.all && o.target.empty()) {
		complain("health needs a config NAME or FILE, or --all");
		return exit_code(Errc::usage);
	}
	auto sensors = ops::system_health_sensors();
	std::vector<HealthResult> results;
	if (o.all) {
		auto targets = ops::list_configs(config_dir(g.config_dir));
		if (!targets)
			results.push_back(ops::unknown_health(config_dir(g.config_dir).string(),
			                                      "all", targets.error().message,
			                                      o.stale_after.value_or(180)));
		else
			for (auto &t : *targets)
				results.push_back(check_one(g, o, t, *sensors));
	} else {
		results.push_back(check_one(g, o, o.target, *sensors));
	}

	std::vector<int> codes;
	codes.reserve(results.size() * 2); // a failed textfile adds one
	for (auto &r : results)
		codes.push_back(health_exit_code(r.status));
	if (o.textfile_dir) {
		for (auto &r : results) {
			auto st = ops::write_health_textfile(*o.textfile_dir, r);
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
