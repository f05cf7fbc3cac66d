#include "wg_genl.h"

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/wireguard.h>
#include <sys/utsname.h>

#include "rtnl.h"

namespace wgn {

namespace {

int family_cb(const nlmsghdr *nlh, void *data)
{
	*static_cast<uint16_t *>(data) = parse_family_id(nlh);
	return MNL_CB_OK;
}

// A generic netlink socket and the wireguard family's id on it.
struct GenlChannel {
	NetlinkSocket sock;
	uint16_t family;
};

Result<GenlChannel> open_channel(const std::string &what)
{
	auto sock = NetlinkSocket::open(NETLINK_GENERIC);
	if (!sock)
		return sock.error();
	char buf[kGenlSmallBufSize];
	build_getfamily(buf, sock->next_seq(), WG_GENL_NAME);
	uint16_t family = 0;
	auto st = sock->request("resolve the wireguard netlink family",
	                        reinterpret_cast<nlmsghdr *>(buf), family_cb, &family);
	if (!st && sock->last_errno() == ENOENT)
		return make_error(Errc::os,
		                  "cannot " + what +
		                          ": the kernel has no WireGuard (module wireguard "
		                          "not loaded); backend = \"userspace\" uses " +
		                          "wireguard-go instead");
	if (!st)
		return st.error();
	if (family == 0)
		return make_error(Errc::os,
		                  "cannot " + what +
		                          ": the kernel did not say the wireguard family's id");
	return GenlChannel{std::move(*sock), family};
}

struct DumpParse {
	DeviceState *state;
	std::optional<Error> error;
};

int device_cb(const nlmsghdr *nlh, void *data)
{
	auto *d = static_cast<DumpParse *>(data);
	auto st = parse_device_part(nlh, *d->state);
	if (!st) {
		d->error = st.error();
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

} // namespace

Status GenlWireGuard::set_device(const std::string &ifname, const DeviceConfig &cfg)
{
	const std::string what = "configure WireGuard device " + ifname;
	auto ch = open_channel(what);
	if (!ch)
		return ch.error();
	auto msgs = build_set_device(ch->family, ch->sock.next_seq(), ifname, cfg);
	if (!msgs)
		return msgs.error();
	for (auto &m : msgs->msgs) {
		// Each message consumed its own sequence number in the builder; keep the
		// socket's counter past them so later requests stay unique.
		ch->sock.next_seq();
		auto st = ch->sock.request(what, reinterpret_cast<const nlmsghdr *>(m.data()),
		                           nullptr, nullptr);
		if (!st)
			return st;
	}
	return Ok{};
}

Result<DeviceState> GenlWireGuard::get_device(const std::string &ifname)
{
	const std::string what = "read WireGuard device " + ifname;
	auto ch = open_channel(what);
	if (!ch)
		return ch.error();
	char buf[kGenlSmallBufSize];
	if (build_get_device(buf, ch->sock.next_seq(), ch->family, ifname) == 0)
		return make_error(Errc::os, "cannot " + what + ": the name is too long");
	DeviceState state;
	DumpParse d{&state, std::nullopt};
	auto st = ch->sock.request(what, reinterpret_cast<nlmsghdr *>(buf), device_cb, &d);
	if (d.error)
		return *d.error;
	if (!st)
		return st.error();
	if (state.name.empty())
		state.name = ifname;
	return state;
}

// Loaded, or loadable: creating a link of kind wireguard makes the kernel load the
// module by itself (request_module "rtnl-link-wireguard"), so a module that is only on
// disk counts, as it does for wg-quick's `ip link add`.
bool GenlWireGuard::kernel_has_wireguard()
{
	std::error_code ec;
	if (std::filesystem::exists("/sys/module/wireguard", ec))
		return true;
	if (open_channel("probe"))
		return true;
	utsname u{};
	if (uname(&u) != 0)
		return false;
	const std::string dir = std::string("/lib/modules/") + u.release + "/";
	for (const char *index : {"modules.builtin", "modules.dep"}) {
		std::ifstream f(dir + index);
		std::string line;
		while (std::getline(f, line))
			if (line.find("/wireguard.ko") != std::string::npos)
				return true;
	}
	return false;
}

} // namespace wgn
