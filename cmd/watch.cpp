// wgn watch: up, then keep the tunnel up and report its health until SIGTERM.
#include "commands.h"

namespace wgn {

void setup_watch(CLI::App *c, WatchOptions &o)
{
	c->add_option("config", o.target,
	              "Interface NAME (NAME.toml in the config directory) or FILE")
	        ->required();
	c->add_flag("--no-register", o.no_register, "Do not register with the control plane");
	c->add_flag("--no-report", o.no_report,
	            "Do not post the health of every loop to the control plane");
}

} // namespace wgn

#include <csignal>

#include "common.h"
#include "log.h"
#include "watch.h"

namespace wgn {

int run_watch(const GlobalOptions &g, const WatchOptions &o)
{
	auto loaded = load_target(g, o.target);
	if (!loaded)
		return report(loaded.error());
	ops::UpOptions opt;
	opt.register_node = !o.no_register;
	auto fx = ops::system_watch_effects(o.target, g.config_dir, opt, !o.no_report);
	auto out = ops::watch(std::move(*loaded), *fx);
	if (out.failed_up)
		return report_up_failure(*out.failed_up);
	progress(std::string("watch ended by ") + (out.signal == SIGINT ? "SIGINT" : "SIGTERM") +
	         " after " + std::to_string(out.loops) + " check(s)" +
	         (out.failovers + out.failbacks
	                  ? ", " + std::to_string(out.failovers) + " failover(s) and " +
	                            std::to_string(out.failbacks) + " failback(s)"
	                  : std::string()) +
	         "; the tunnel stays up");
	return 0;
}

} // namespace wgn
