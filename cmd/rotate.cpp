// wgn rotate: a new WireGuard key for a running node, with the control plane and the
// hubs in step.
#include "commands.h"

namespace wgn {

void setup_rotate(CLI::App *c, RotateOptions &o)
{
	c->add_option("config", o.target,
	              "Interface NAME (NAME.toml in the config directory) or FILE")
	        ->required();
	c->add_flag("--json", o.json, "Print the result as one JSON object");
}

} // namespace wgn

#include <cstdio>

#include <nlohmann/json.hpp>

#include "common.h"
#include "dataplane.h"
#include "json_text.h"
#include "log.h"
#include "rotate.h"
#include "runstate.h"

namespace wgn {

namespace {

nlohmann::json outcome_json(const ops::RotateOutcome &o, const Config &cfg)
{
	using nlohmann::json;
	auto opt_str = [](const std::string &s) { return s.empty() ? json() : json(s); };
	json j = {{"success", o.success()},
	          {"interface", o.interface},
	          {"node_id", o.node_id ? json(*o.node_id) : json()},
	          {"old_public_key", o.old_public_key},
	          {"new_public_key", opt_str(o.new_public_key)},
	          {"public_key", o.success() ? o.new_public_key : o.old_public_key},
	          {"step", ops::rotate_step_name(o.reached)},
	          {"resumed", o.resumed},
	          {"attempts", o.attempts},
	          {"max_attempts", o.max_attempts},
	          {"rtt_ms", o.rtt ? json(*o.rtt * 1000.0) : json()},
	          {"seconds", o.seconds},
	          {"rolled_back", o.rolled_back},
	          {"reregistered", o.reregistered},
	          {"pending_key_kept", o.pending_kept}};
	if (o.hub && *o.hub < cfg.hubs.size())
		j["hub"] = cfg.hubs[*o.hub].endpoint.str();
	else
		j["hub"] = cfg.hub.endpoint.str();
	if (o.error) {
		j["error"] = o.error->message;
		j["exit_code"] = exit_code(o.error->code);
	}
	if (o.undo_error)
		j["undo_error"] = o.undo_error->message;
	return j;
}

} // namespace

int run_rotate(const GlobalOptions &g, const RotateOptions &o)
{
	auto cfg = load_target(g, o.target);
	if (!cfg)
		return report(cfg.error());
	const Config before = *cfg; // for the hub names of the report
	auto out = ops::rotate(*cfg);
	if (o.json)
		std::printf("%s\n", json_text(outcome_json(out, before)).c_str());
	if (out.error) {
		if (out.signal) {
			complain(out.interface + ": interrupted by signal " +
			         std::to_string(out.signal) + "; " +
			         (out.rolled_back ? "the old key is back" : "the old key stays"));
			SignalWatch::reraise();
		}
		if (out.undo_error)
			complain(out.interface + ": undoing: " + out.undo_error->message);
		return report(*out.error);
	}
	if (!o.json)
		std::printf("%s: key rotated: %s -> %s (node %s, %.1fs)\n", out.interface.c_str(),
		            out.old_public_key.c_str(), out.new_public_key.c_str(),
		            out.node_id ? out.node_id->c_str() : "?", out.seconds);
	return 0;
}

} // namespace wgn
