#include "common.h"

#include <ctime>

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

std::string iso8601(int64_t epoch_seconds)
{
	time_t t = static_cast<time_t>(epoch_seconds);
	struct tm tm {};
	gmtime_r(&t, &tm);
	char buf[32];
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

} // namespace wgn
