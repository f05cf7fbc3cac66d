// Walks fuzz input as a netlink reply the way libmnl's mnl_cb_run walks a datagram, on a
// heap copy of exactly its size so that any read past a message is one past the
// allocation for ASan. The framing itself is the kernel's (only it can send to our
// socket: unicast between netlink sockets needs CAP_NET_ADMIN): a message length that
// does not fit the datagram ends the walk. (libmnl's mnl_nlmsg_ok compares it as an int,
// so a length of 2^31 or more would make it step outside a datagram; the kernel never
// writes one.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include <linux/netlink.h>

template <class F> void for_each_message(const uint8_t *data, size_t size, F f)
{
	std::unique_ptr<uint8_t[]> copy(new uint8_t[size]);
	if (size)
		std::memcpy(copy.get(), data, size);
	size_t off = 0;
	while (size - off >= sizeof(nlmsghdr)) {
		auto *nlh = reinterpret_cast<const nlmsghdr *>(copy.get() + off);
		if (nlh->nlmsg_len < sizeof(nlmsghdr) || nlh->nlmsg_len > size - off)
			break;
		f(nlh);
		off += NLMSG_ALIGN(nlh->nlmsg_len);
		if (off > size)
			break;
	}
}
