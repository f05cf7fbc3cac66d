#include "common.h"

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

} // namespace wgn
