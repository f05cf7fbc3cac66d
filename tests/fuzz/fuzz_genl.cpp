// Generic netlink replies: the family lookup and a WG_CMD_GET_DEVICE dump, merged part
// by part as wg_genl.cpp does.
#include "netlink_input.h"
#include "wg_genl.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	wgn::DeviceState state;
	bool failed = false;
	for_each_message(data, size, [&](const nlmsghdr *nlh) {
		(void)wgn::parse_family_id(nlh);
		if (!failed && !wgn::parse_device_part(nlh, state))
			failed = true;
	});
	for (auto &p : state.peers) {
		if (p.endpoint)
			(void)p.endpoint->str();
		for (auto &a : p.allowed_ips)
			(void)a.str();
	}
	return 0;
}
