// Reading netlink attributes that a peer (the kernel, or whoever answers on the
// socket) may have sent malformed.
#pragma once

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

} // namespace wgn
