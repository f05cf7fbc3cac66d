// Reading netlink attributes that a peer (the kernel, or whoever answers on the
// socket) may have sent malformed.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>

#include <libmnl/libmnl.h>

namespace wgn {

// A string attribute up to its first NUL or the end of its payload, whichever comes
// first: mnl_attr_get_str() is a bare pointer, and MNL_TYPE_STRING validation does not
// promise a NUL, so strlen() on it could run past the attribute.
inline std::string attr_string(const nlattr *a)
{
	auto *p = static_cast<const char *>(mnl_attr_get_payload(a));
	return std::string(p, strnlen(p, mnl_attr_get_payload_len(a)));
}

// mnl_attr_parse over a message's attributes. libmnl bounds them by the message's
// aligned end, NLMSG_ALIGN(nlmsg_len), up to 3 bytes past what the message holds (and,
// for the last message of a datagram, past the datagram). The kernel's messages end
// aligned (every attribute is padded), so one that does not is refused (MNL_CB_ERROR)
// rather than read past its end.
inline int parse_attrs(const nlmsghdr *nlh, unsigned int offset, mnl_attr_cb_t cb, void *data)
{
	if (nlh->nlmsg_len % NLMSG_ALIGNTO != 0) {
		errno = EINVAL;
		return MNL_CB_ERROR;
	}
	return mnl_attr_parse(nlh, offset, cb, data);
}

} // namespace wgn
