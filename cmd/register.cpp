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

#include <cstdio>

#include <nlohmann/json.hpp>

#include "common.h"
#include "json_text.h"
#include "registry.h"
#include "regstate.h"
#include "runstate.h"

namespace wgn {

namespace {

// connected_at belongs to `up`'s run state; register only reports it when the tunnel is up.
nlohmann::json connected_at(const std::string &ifname)
{
	auto rs = read_run_state(ifname);
	if (!rs || !*rs || !(*rs)->connected_at)
		return nullptr;
	return iso8601_utc((*rs)->connected_at);
}

void print_json(const nlohmann::json &j)
{
	std::printf("%s\n", json_text(j).c_str());
}

} // namespace

int run_register(const GlobalOptions &g, const RegisterOptions &o)
{
	auto cfg = load_target(g, o.target);
	if (!cfg)
		return report(cfg.error());
	const std::string &ifname = cfg->interface.name;

	int attempts = 0;
	auto r = register_node(*cfg, &attempts);
	if (!r) {
		Error e = r.error();
		e.message = ifname + ": registration failed: " + e.message;
		if (o.json) {
			auto known = load_registration(ifname);
			print_json({{"success", false},
			            {"interface", ifname},
			            {"connected_at", connected_at(ifname)},
			            {"node_id", known ? nlohmann::json(known->node_id) : nullptr},
			            {"attempts", attempts},
			            {"control_plane_url",
			             cfg->control_plane ? nlohmann::json(cfg->control_plane->url)
			                                : nullptr},
			            {"error", r.error().message},
			            {"exit_code", exit_code(r.error().code)}});
		}
		return report(r.error());
	}
	if (o.json)
		print_json({{"success", true},
		            {"interface", ifname},
		            {"connected_at", connected_at(ifname)},
		            {"node_id", r->node_id},
		            {"registered_at", r->registered_at},
		            {"attempts", r->attempts},
		            {"control_plane_url", r->url},
		            {"idempotency_key", r->idempotency_key}});
	else
		std::printf("%s: registered as %s with %s\n", ifname.c_str(), r->node_id.c_str(),
		            r->url.c_str());
	return 0;
}

} // namespace wgn
