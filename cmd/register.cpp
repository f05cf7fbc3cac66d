// wgn register: register (or re-register) this node with the control plane.
#include "commands.h"

namespace wgn {

void setup_register(CLI::App *c, RegisterOptions &o)
{
	c->add_option("config", o.target, "Interface NAME or FILE")->required();
	c->add_flag("--json", o.json, "Print the result as one JSON object");
}

} // namespace wgn

#include <cstdio>

#include <nlohmann/json.hpp>

#include "common.h"
#include "register.h"
#include "runstate.h"

namespace wgn {

namespace {

// connected_at belongs to `up`'s run state; register only reports it when the tunnel is up.
nlohmann::json connected_at(const ops::RegisterOutcome &o)
{
	if (!o.connected_at)
		return nullptr;
	return iso8601_utc(o.connected_at);
}

} // namespace

int run_register(const GlobalOptions &g, const RegisterOptions &o)
{
	auto cfg = load_target(g, o.target);
	if (!cfg)
		return report(cfg.error());
	const std::string &ifname = cfg->interface.name;

	auto out = ops::register_node(*cfg);
	if (out.error) {
		if (o.json)
			print_json(
			        {{"success", false},
			         {"interface", ifname},
			         {"connected_at", connected_at(out)},
			         {"node_id",
			          out.known_node_id ? nlohmann::json(*out.known_node_id) : nullptr},
			         {"attempts", out.attempts},
			         {"control_plane_url",
			          cfg->control_plane ? nlohmann::json(cfg->control_plane->url)
			                             : nullptr},
			         {"error", out.error->message},
			         {"exit_code", exit_code(out.error->code)}});
		return report(*out.error);
	}
	const auto &r = *out.registration;
	if (o.json)
		print_json({{"success", true},
		            {"interface", ifname},
		            {"connected_at", connected_at(out)},
		            {"node_id", r.node_id},
		            {"registered_at", r.registered_at},
		            {"attempts", r.attempts},
		            {"control_plane_url", r.url},
		            {"idempotency_key", r.idempotency_key}});
	else
		std::printf("%s: registered as %s with %s\n", ifname.c_str(), r.node_id.c_str(),
		            r.url.c_str());
	return 0;
}

} // namespace wgn
