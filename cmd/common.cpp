#include "common.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "dataplane.h"
#include "duration.h"
#include "json_text.h"
#include "log.h"

namespace wgn {

CLI::Validator seconds_validator()
{
	return CLI::Validator(
	        [](std::string &text) -> std::string {
		        const char *begin = text.c_str();
		        char *end = nullptr;
		        errno = 0;
		        double v = std::strtod(begin, &end);
		        if (end == begin || *end != '\0' || errno == ERANGE ||
		            !acceptable_seconds(v))
			        return "'" + text +
			               "' is not a number of seconds above 0 and at most " +
			               std::to_string(static_cast<long>(kMaxSeconds)) + " (a year)";
		        return {};
	        },
	        "SECONDS");
}

Result<Config> load_target(const GlobalOptions &g, const std::string &target, bool hub_config,
                           bool read_keys)
{
	auto path = resolve_config_path(target, g.config_dir);
	if (!path)
		return path.error();
	ConfigLoadOptions lo;
	lo.allow_hub_config = hub_config;
	lo.read_key_files = read_keys;
	return load_config(*path, lo);
}

int report(const Error &e)
{
	complain(e.message);
	return exit_code(e.code);
}

int report_up_failure(const ops::UpOutcome &o)
{
	if (o.error) {
		if (o.signal) {
			const char *what = o.removed_unfinished
			                           ? "removed what an unfinished up left"
			                   : o.change == ops::UpChange::created
			                           ? "removed what this run created"
			                   : o.change == ops::UpChange::reconciled
			                           ? "the previous state is restored"
			                           : "nothing was changed";
			complain(o.interface + ": interrupted by signal " +
			         std::to_string(o.signal) + "; " + what);
			SignalWatch::reraise();
		}
		return report(*o.error);
	}
	if (o.registration_error) {
		complain(o.interface + ": tunnel up; registration failed: " +
		         o.registration_error->message + "; run wgn register");
		return exit_code(o.registration_error->code);
	}
	return 0;
}

nlohmann::json up_outcome_json(const ops::UpOutcome &o, const Error *err)
{
	using nlohmann::json;
	json j = {{"success", err == nullptr},
	          {"interface", o.interface},
	          {"connected_at", o.connected_at ? json(iso8601_utc(o.connected_at)) : json()},
	          {"node_id", o.node_id ? json(*o.node_id) : json()},
	          {"attempts", o.attempts},
	          {"backend", o.backend.empty() ? json() : json(o.backend)},
	          {"change", ops::up_change_name(o.change)},
	          {"endpoint", o.endpoint.empty() ? json() : json(o.endpoint)},
	          {"rtt_ms", o.rtt ? json(*o.rtt * 1000.0) : json()},
	          {"registered", o.registered}};
	if (err) {
		j["error"] = err->message;
		j["exit_code"] = exit_code(err->code);
	}
	return j;
}

void print_json(const nlohmann::json &j)
{
	std::printf("%s\n", json_text(j).c_str());
}

} // namespace wgn
