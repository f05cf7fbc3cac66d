#include "common.h"

#include "dataplane.h"
#include "log.h"

namespace wgn {

Result<Config> load_target(const GlobalOptions &g, const std::string &target)
{
	auto path = resolve_config_path(target, g.config_dir);
	if (!path)
		return path.error();
	return load_config(*path);
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

} // namespace wgn
