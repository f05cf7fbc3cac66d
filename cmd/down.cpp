// wgn down: remove the interface, its daemon and its run state.
#include "commands.h"

namespace wgn {

CLI::App *setup_down(CLI::App &app, DownOptions &o)
{
	auto *c = app.add_subcommand("down", "Remove the tunnel interface and its run state");
	c->add_option("config", o.target, "Interface NAME or FILE")->required();
	c->add_flag("--dry-run", o.dry_run, "Print the operations that would be made; change nothing");
	c->add_flag("--json", o.json, "Print the result as one JSON object");
	return c;
}

} // namespace wgn

#include "common.h"
#include "plan.h"

namespace wgn {

int run_down(const GlobalOptions &g, const DownOptions &o)
{
	auto cfg = load_target(g, o.target);
	if (!cfg)
		return report(cfg.error());
	if (o.dry_run) {
		LinkObservation obs;
		std::fputs(format_plan(plan_down(cfg->interface.name, obs, false)).c_str(), stdout);
		return 0;
	}
	return report(make_error(Errc::software, "down is not implemented yet"));
}

} // namespace wgn
