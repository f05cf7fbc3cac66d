// The run state ($WGN_RUN_DIR/NAME.json) and the registration state ($WGN_STATE_DIR/
// NAME.json), read through the same functions `health`, `down` and `up` use: the input
// is written to a private directory first. A run state that reads must survive being
// written again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include <unistd.h>

#include "regstate.h"
#include "runstate.h"

namespace {

std::string dir;

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
	char tmpl[] = "/tmp/wgn-fuzz-state.XXXXXX";
	if (!mkdtemp(tmpl))
		std::abort();
	dir = tmpl;
	setenv("WGN_RUN_DIR", dir.c_str(), 1);
	setenv("WGN_STATE_DIR", dir.c_str(), 1);
	// The directory holds one small file; a later run reuses nothing from it.
	std::atexit([] {
		unlink((dir + "/wg0.json").c_str());
		rmdir(dir.c_str());
	});
	return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	{
		std::ofstream f(dir + "/wg0.json", std::ios::binary | std::ios::trunc);
		f.write(reinterpret_cast<const char *>(data), static_cast<std::streamsize>(size));
	}
	auto st = wgn::read_run_state("wg0");
	if (st && *st)
		(void)wgn::run_state_to_json(**st);
	(void)wgn::load_registration("wg0");
	return 0;
}
