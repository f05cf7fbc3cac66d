// Replies of a userspace WireGuard daemon on its UAPI socket (get and set).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "uapi.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	std::string_view reply(reinterpret_cast<const char *>(data), size);
	(void)wgn::parse_errno(reply);
	if (auto d = wgn::parse_get(reply))
		for (auto &p : d->peers)
			if (p.endpoint)
				(void)p.endpoint->str();
	return 0;
}
