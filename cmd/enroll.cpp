// wgn enroll: join this node with a one-time enrollment token.
#include "commands.h"

namespace wgn {

void setup_enroll(CLI::App *c, EnrollCliOptions &o)
{
	c->add_option("url", o.url, "The control plane (https://..., or http:// to loopback)")
	        ->required();
	c->add_option("name", o.name, "Interface NAME: writes NAME.toml, NAME.key, NAME.token")
	        ->required();
	c->add_option("--token-file", o.token_file, "File holding the enrollment token (mode 0600)")
	        ->required();
	c->add_option("--ca-file", o.ca_file, "CA certificates to trust for the control plane");
	// One KEY=VALUE per --label, so that a label never swallows URL or NAME.
	c->add_option("--label", o.labels, "A label KEY=VALUE for this node (repeatable)")
	        ->allow_extra_args(false);
	c->add_flag("--force", o.force, "Replace an existing NAME.toml and NAME.key");
	c->add_flag("--up", o.up,
	            "Then bring the tunnel up as wgn up NAME does (the files stay if it fails)");
	c->add_flag("--json", o.json, "Print the result as one JSON object");
}

} // namespace wgn

#include <cstdio>

#include <nlohmann/json.hpp>

#include "common.h"
#include "config.h"
#include "enroll.h"
#include "enrollment.h"
#include "log.h"

namespace wgn {

namespace {

nlohmann::json hubs_json(const std::vector<EnrolledHub> &hubs)
{
	auto out = nlohmann::json::array();
	for (auto &h : hubs)
		out.push_back({{"public_key", h.public_key},
		               {"endpoint", h.endpoint},
		               {"tunnel_address", h.tunnel_address},
		               {"allowed_ips", h.allowed_ips},
		               {"persistent_keepalive",
		                h.persistent_keepalive ? nlohmann::json(*h.persistent_keepalive)
		                                       : nullptr},
		               {"priority", h.priority}});
	return out;
}

std::string joined(const std::vector<std::string> &v)
{
	std::string s;
	for (auto &x : v)
		s += (s.empty() ? "" : ", ") + x;
	return s;
}

void print_enrolled(const std::string &name, const EnrollOutcome &r)
{
	std::string hubs;
	for (auto &h : r.hubs)
		hubs += (hubs.empty() ? "" : ", ") + h.endpoint +
		        (r.hubs.size() > 1 ? " (priority " + std::to_string(h.priority) + ")" : "");
	std::printf("%s: enrolled as %s with %s: address %s; hub%s %s; wrote %s\n", name.c_str(),
	            r.node_id.c_str(), r.url.c_str(), joined(r.wireguard_address).c_str(),
	            r.hubs.size() > 1 ? "s" : "", hubs.c_str(), r.files.config.c_str());
	std::fflush(stdout);
}

} // namespace

int run_enroll(const GlobalOptions &g, const EnrollCliOptions &o)
{
	ops::EnrollUpOptions opt;
	EnrollOptions &eo = opt.enroll;
	eo.url = o.url;
	eo.name = o.name;
	eo.token_file = o.token_file;
	if (o.ca_file)
		eo.ca_file = *o.ca_file;
	for (auto &l : o.labels) {
		auto kv = parse_label(l);
		if (!kv)
			return report(kv.error());
		if (!eo.labels.emplace(kv->first, kv->second).second)
			return report(make_error(Errc::usage,
			                         "--label " + kv->first + " is given twice"));
	}
	eo.force = o.force;
	eo.config_dir = config_dir(g.config_dir);
	opt.up = o.up;
	// Said before up runs, which may take connect.timeout.
	if (!o.json)
		opt.on_enrolled = [&](const EnrollOutcome &r) { print_enrolled(o.name, r); };

	auto out = ops::enroll(opt);
	if (!out.enrolled) {
		Error e = *out.error;
		if (e.code != Errc::usage)
			e.message = o.name + ": cannot enroll: " + e.message;
		if (o.json)
			print_json({{"success", false},
			            {"interface", o.name},
			            {"node_id", nullptr},
			            {"attempts", out.attempts},
			            {"error", e.message},
			            {"exit_code", exit_code(e.code)},
			            {"up", nullptr}});
		return report(e);
	}
	const EnrollOutcome &r = *out.enrolled;
	const Error *failure = out.up ? out.up->failure() : nullptr;
	if (o.json) {
		nlohmann::json j = {{"success", failure == nullptr},
		                    {"interface", o.name},
		                    {"node_id", r.node_id},
		                    {"config_file", r.files.config.string()},
		                    {"key_file", r.files.key.string()},
		                    {"token_file", r.files.token.string()},
		                    {"public_key", r.public_key},
		                    {"wireguard_address", r.wireguard_address},
		                    {"hubs", hubs_json(r.hubs)},
		                    {"control_plane_url", r.url},
		                    {"attempts", r.attempts},
		                    {"idempotency_key", r.idempotency_key},
		                    {"up", out.up ? up_outcome_json(*out.up, failure) : nullptr}};
		if (failure) {
			j["error"] = failure->message;
			j["exit_code"] = exit_code(failure->code);
		}
		print_json(j);
	}
	if (!failure)
		return 0;
	// The tunnel did not come up: the node is enrolled all the same, and its files stay
	// (said before dying of a signal that interrupted up, as report_up_failure does).
	const bool down = out.up->error.has_value();
	const std::string kept = o.name + ": enrolled as " + r.node_id +
	                         "; its files stay: run `wgn up " + o.name +
	                         "' once the cause is fixed";
	if (down && out.up->signal)
		complain(kept);
	int rc = report_up_failure(*out.up);
	if (down)
		complain(kept);
	return rc;
}

} // namespace wgn
