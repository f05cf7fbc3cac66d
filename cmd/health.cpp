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

#include "common.h"
#include "log.h"

namespace wgn {

int run_health(const GlobalOptions &, const HealthOptions &)
{
	complain("health is not implemented yet");
	return 3;
}

} // namespace wgn
