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
	c->add_option("config", o.target, "Interface NAME (NAME.toml in the config directory) or FILE")
	    ->required();
	c->add_flag("--no-register", o.no_register, "Do not register with the control plane");
	c->add_option("--timeout", o.timeout, "Seconds for the whole of up (connect.timeout)")
	    ->check(CLI::PositiveNumber);
	c->add_option("--max-retries", o.max_retries, "Attempts after the first (connect.max_retries)")
	    ->check(CLI::Range(0, 1000));
	c->add_flag("--dry-run", o.dry_run, "Print the operations that would be made; change nothing");
	c->add_flag("--json", o.json, "Print the result as one JSON object");
	return c;
}

} // namespace wgn

#include <sys/stat.h>

#include "common.h"

namespace wgn {

int run_up(const GlobalOptions &g, const UpOptions &o)
{
	auto cfg = load_target(g, o.target);
	if (!cfg)
		return report(cfg.error());
	if (o.dry_run) {
		LinkObservation obs; // TODO(data plane): observe the link
		PlanContext ctx;
		std::fputs(format_plan(plan_up(*cfg, obs, ctx)).c_str(), stdout);
		return 0;
	}
	return report(make_error(Errc::software, "up is not implemented yet"));
}

} // namespace wgn
