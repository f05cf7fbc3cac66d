// wgn up: bring the tunnel up, prove it carries traffic, register.
#include <cstdio>

#include "commands.h"
#include "config.h"
#include "log.h"
#include "plan.h"

namespace wgn {

void setup_up(CLI::App *c, UpOptions &o)
{
	c->add_option("config", o.target,
	              "Interface NAME (NAME.toml in the config directory) or FILE")
	        ->required();
	c->add_flag("--no-register", o.no_register, "Do not register with the control plane");
	c->add_option("--timeout", o.timeout, "Seconds for the whole of up (connect.timeout)")
	        ->check(seconds_validator());
	c->add_option("--max-retries", o.max_retries,
	              "Attempts after the first (connect.max_retries)")
	        ->check(CLI::Range(0, 1000));
	c->add_flag("--dry-run", o.dry_run,
	            "Print the operations that would be made; change nothing");
	c->add_flag("--json", o.json, "Print the result as one JSON object");
}

} // namespace wgn

#include <nlohmann/json.hpp>

#include "common.h"
#include "dataplane.h"
#include "json_text.h"
#include "up.h"

namespace wgn {

namespace {

int dry_run(const Config &cfg)
{
	auto p = ops::preview_up(cfg);
	for (auto &n : p.notices)
		complain(n);
	if (p.error)
		return report(*p.error);
	if (p.noop)
		complain(cfg.interface.name + " is up with this configuration; nothing to do");
	std::fputs(format_plan(p.ops).c_str(), stdout);
	return 0;
}

void print_json(const ops::UpOutcome &o, const Error *err)
{
	std::printf("%s\n", json_text(up_outcome_json(o, err)).c_str());
}

} // namespace

int run_up(const GlobalOptions &g, const UpOptions &o)
{
	auto loaded = load_target(g, o.target, true);
	if (!loaded)
		return report(loaded.error());
	Config &cfg = *loaded;
	if (o.timeout)
		cfg.connect.timeout = *o.timeout;
	if (o.max_retries)
		cfg.connect.max_retries = *o.max_retries;
	if (o.dry_run)
		return dry_run(cfg);

	ops::UpOptions opt;
	opt.register_node = !o.no_register;
	auto out = ops::up(cfg, opt);
	if (out.error) {
		if (o.json)
			print_json(out, &*out.error);
		return report_up_failure(out);
	}
	if (out.registration_error) {
		int rc = report_up_failure(out);
		if (o.json)
			print_json(out, &*out.registration_error);
		return rc;
	}
	if (o.json)
		print_json(out, nullptr);
	return 0;
}

} // namespace wgn
