// wgn register: register (or re-register) this node with the control plane.
#include "commands.h"

namespace wgn {

CLI::App *setup_register(CLI::App &app, RegisterOptions &o)
{
	auto *c = app.add_subcommand("register", "Register this node with the control plane");
	c->add_option("config", o.target, "Interface NAME or FILE")->required();
	c->add_flag("--json", o.json, "Print the result as one JSON object");
	return c;
}

} // namespace wgn

#include "common.h"

namespace wgn {

int run_register(const GlobalOptions &, const RegisterOptions &)
{
	return report(make_error(Errc::software, "register is not implemented yet"));
}

} // namespace wgn
