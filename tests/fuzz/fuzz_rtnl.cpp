// rtnetlink replies: links, addresses, routes.
#include "netlink_input.h"
#include "rtnl.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for_each_message(data, size, [](const nlmsghdr *nlh) {
		if (auto l = wgn::parse_link(nlh))
			(void)wgn::parse_addr(nlh, l->ifindex);
		(void)wgn::parse_addr(nlh, 0);
		if (auto r = wgn::parse_route(nlh)) {
			(void)r->dst.str();
			(void)wgn::route_is_listed(*r, r->oif);
		}
	});
	return 0;
}
