// The TOML config, parsed and validated as `wgn up` and `wgn health` do (key files are
// not read: their paths would let the input name /dev/zero or a FIFO on this machine).
#include <cstddef>
#include <cstdint>
#include <string>

#include "config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	std::string text(reinterpret_cast<const char *>(data), size);
	wgn::ConfigLoadOptions opt;
	opt.read_key_files = false;
	auto cfg = wgn::parse_config(text, "/nonexistent/wg0.toml", opt);
	if (cfg) {
		// What the commands do next with a valid config must hold as well.
		for (auto &a : cfg->interface.addresses)
			(void)a.str();
		(void)cfg->hub.endpoint.str();
	}
	return 0;
}
