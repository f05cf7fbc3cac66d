// wgn down: remove the interface, its daemon and its run state.
#include "commands.h"

namespace wgn {

void setup_down(CLI::App *c, DownOptions &o)
{
	c->add_option("config", o.target, "Interface NAME or FILE")->required();
	c->add_flag("--dry-run", o.dry_run,
	            "Print the operations that would be made; change nothing");
	c->add_flag("--json", o.json, "Print the result as one JSON object");
}

} // namespace wgn

#include <cstdio>

#include <nlohmann/json.hpp>

#include "common.h"
#include "down.h"
#include "json_text.h"
#include "log.h"
#include "regstate.h"

namespace wgn {

namespace {

void print_json(const ops::DownOutcome &o)
{
	using nlohmann::json;
	const auto &rs = o.run_state;
	auto reg = load_registration(o.interface);
	json j = {{"success", o.success()},
	          {"interface", o.interface},
	          {"was_up", o.was_up},
	          {"connected_at",
	           rs && rs->connected_at ? json(iso8601_utc(rs->connected_at)) : json()},
	          {"node_id", reg && !reg->node_id.empty() ? json(reg->node_id) : json()},
	          {"attempts", 0},
	          {"backend", rs && !rs->backend.empty() ? json(rs->backend) : json()}};
	if (o.error) {
		j["error"] = o.error->message;
		j["exit_code"] = exit_code(o.error->code);
	}
	std::printf("%s\n", json_text(j).c_str());
}

} // namespace

int run_down(const GlobalOptions &g, const DownOptions &o)
{
	// Down needs the interface's name and the key file's path, not the keys: deriving the
	// public key would load and initialise libcrypto (9 M instructions, 72 % of a down).
	auto cfg = load_target(g, o.target, true, false);
	if (!cfg)
		return report(cfg.error());
	const std::string &dev = cfg->interface.name;

	if (o.dry_run) {
		auto p = ops::preview_down(*cfg);
		for (auto &n : p.notices)
			complain(n);
		if (p.ops.empty())
			complain(dev + " is not up; nothing to do");
		std::fputs(format_plan(p.ops).c_str(), stdout);
		return 0;
	}

	auto out = ops::down(*cfg);
	if (out.error) {
		if (o.json)
			print_json(out);
		return report(*out.error);
	}
	if (!out.changed)
		complain(dev + " is not up");
	if (o.json)
		print_json(out);
	return 0;
}

} // namespace wgn
