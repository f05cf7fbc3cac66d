// wgn sync: on a hub, make the interface's peers the nodes the control plane knows.
#include "commands.h"

namespace wgn {

void setup_sync(CLI::App *c, SyncOptions &o)
{
	c->add_option("config", o.target, "Interface NAME or FILE (a hub's config, without [hub])")
	        ->required();
	auto *watch = c->add_flag(
	        "--watch", o.watch,
	        "Keep the peers in step: long-poll the change feed and apply each change "
	        "as it comes, until SIGTERM (systemd Type=notify)");
	c->add_flag("--prune", o.prune, "Also remove peers that sync does not manage");
	watch->excludes(c->add_flag("--dry-run", o.dry_run,
	                            "Print the changes as `wg set' lines, change nothing"));
	watch->excludes(c->add_flag("--json", o.json, "Print the result as one JSON object"));
}

} // namespace wgn

#include <csignal>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "common.h"
#include "json_text.h"
#include "log.h"
#include "sync.h"

namespace wgn {

int run_sync(const GlobalOptions &g, const SyncOptions &o)
{
	auto path = resolve_config_path(o.target, g.config_dir);
	if (!path)
		return report(path.error());
	ConfigLoadOptions lo;
	lo.allow_hub_config = true;
	auto cfg = load_config(*path, lo);
	if (!cfg)
		return report(cfg.error());

	ops::SyncOptions so;
	so.prune = o.prune;
	so.dry_run = o.dry_run;
	if (o.watch) {
		auto fx = ops::system_sync_watch_effects();
		auto w = ops::sync_watch(*cfg, so, *fx);
		if (w.error)
			return report(*w.error);
		progress(std::string("sync ended by ") +
		         (w.signal == SIGINT ? "SIGINT" : "SIGTERM") + " after " +
		         std::to_string(w.rounds) + " round(s); the peers stay");
		return 0;
	}
	auto out = ops::sync(*cfg, so);
	auto err = out.result_error();

	int added = 0, updated = 0, removed = 0;
	for (auto &c : out.plan.changes)
		(c.kind == ops::SyncPeerChange::add      ? added
		 : c.kind == ops::SyncPeerChange::update ? updated
		                                         : removed)++;
	if (o.json) {
		nlohmann::json changes = nlohmann::json::array();
		for (auto &c : out.plan.changes) {
			nlohmann::json ips = nlohmann::json::array();
			for (auto &a : c.allowed_ips)
				ips.push_back(a.str());
			changes.push_back(
			        {{"action", c.kind == ops::SyncPeerChange::add      ? "add"
			                    : c.kind == ops::SyncPeerChange::update ? "update"
			                                                            : "remove"},
			         {"public_key", base64_encode(c.public_key)},
			         {"node_id", c.node_id.empty() ? nlohmann::json(nullptr)
			                                       : nlohmann::json(c.node_id)},
			         {"allowed_ips", ips}});
		}
		nlohmann::json j{{"success", !err},
		                 {"interface", out.interface},
		                 {"dry_run", o.dry_run},
		                 {"revision", out.revision},
		                 {"added", added},
		                 {"updated", updated},
		                 {"removed", removed},
		                 {"unchanged", out.plan.unchanged},
		                 {"applied", out.applied},
		                 {"changes", changes},
		                 {"conflicts", out.plan.conflicts},
		                 {"skipped", out.plan.skipped},
		                 {"feed_skipped", out.feed_skipped}};
		if (err) {
			j["error"] = err->message;
			j["exit_code"] = exit_code(err->code);
		}
		std::printf("%s\n", json_text(j).c_str());
	} else if (!out.error) {
		if (o.dry_run)
			for (auto &line : ops::describe_sync(out.interface, out.plan))
				std::printf("%s\n", line.c_str());
		else
			std::printf("%s: revision %lld: %d added, %d updated, %d removed, %d "
			            "unchanged\n",
			            out.interface.c_str(), static_cast<long long>(out.revision),
			            added, updated, removed, out.plan.unchanged);
	}
	if (err)
		return report(*err);
	return 0;
}

} // namespace wgn
