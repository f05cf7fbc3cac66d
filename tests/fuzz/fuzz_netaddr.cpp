// Addresses, prefixes, endpoints and keys as they come from a config or a reply. What
// parses must print back to text that parses to the same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "keys.h"
#include "netaddr.h"

namespace {

void check(bool ok)
{
	if (!ok)
		std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	std::string_view s(reinterpret_cast<const char *>(data), size);
	if (auto a = wgn::parse_ip(s))
		check(wgn::parse_ip(a->str()) == a);
	if (auto p = wgn::parse_prefix(s)) {
		check(wgn::parse_prefix(p->str()) == p);
		check(p->network().contains(p->addr));
	}
	std::string why;
	if (auto e = wgn::parse_endpoint(s, &why))
		check(wgn::parse_endpoint(e->str(), &why) == e);
	if (auto sa = wgn::parse_sockaddr(s))
		check(wgn::parse_sockaddr(sa->str()) == sa);
	if (auto k = wgn::base64_decode(s))
		check(wgn::base64_encode(*k) == s);
	if (auto k = wgn::hex_decode(s))
		check(wgn::hex_decode(wgn::hex_encode(*k)) == k);
	return 0;
}
