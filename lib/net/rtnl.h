// rtnetlink over libmnl: links, addresses and routes of one interface, in-process, as
// iproute2 does it. Each message has a pure builder (tested byte for byte) and is sent by
// Rtnl, which turns NETLINK_EXT_ACK on so the kernel's own words reach the user.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <linux/netlink.h>

#include "error.h"
#include "netaddr.h"

struct mnl_socket;

namespace wgn {

struct LinkInfo {
	int ifindex = 0;
	std::string name;
	std::string kind; // "wireguard", "tun", ... from IFLA_LINKINFO/IFLA_INFO_KIND
	bool up = false;  // IFF_UP
	uint32_t mtu = 0;
};

struct RouteInfo {
	IpPrefix dst;
	int oif = 0;
	uint32_t table = 0;
	uint8_t protocol = 0;
	uint8_t scope = 0;
	uint8_t type = 0;
	uint32_t mtu = 0; // RTAX_MTU, 0 when not set
};

// One netlink socket (route or generic) with NETLINK_EXT_ACK on: request() sends one
// message and runs the replies through a callback until the ack or the end of a dump.
class NetlinkSocket {
public:
	using Callback = int (*)(const nlmsghdr *nlh, void *data);

	static Result<NetlinkSocket> open(int bus);
	NetlinkSocket(NetlinkSocket &&o) noexcept;
	NetlinkSocket &operator=(NetlinkSocket &&o) noexcept;
	NetlinkSocket(const NetlinkSocket &) = delete;
	NetlinkSocket &operator=(const NetlinkSocket &) = delete;
	~NetlinkSocket();

	uint32_t next_seq() { return ++seq_; }
	// what names the operation in errors ("add address 10.0.0.10/24 to wg0").
	// missing_ok: ENODEV, ESRCH, ENOENT, EADDRNOTAVAIL count as done (deleting what is
	// gone). exists_ok: EEXIST counts as done (adding what is there).
	Status request(const std::string &what, const nlmsghdr *msg, Callback cb, void *data,
	               bool missing_ok = false, bool exists_ok = false);
	// The errno of the last failed request (0 if none), for callers that tell
	// "no such device" from other failures.
	int last_errno() const { return last_errno_; }

private:
	NetlinkSocket() = default;
	mnl_socket *nl_ = nullptr;
	uint32_t portid_ = 0;
	uint32_t seq_ = 0;
	int last_errno_ = 0;
};

// An NLMSG_ERROR message: err 0 is the ack; otherwise its errno (EBADMSG for a
// message too short or an error that is no errno) and the NLMSGERR_ATTR_MSG text.
struct NetlinkAck {
	int err = 0;
	std::string ext_ack;
};
NetlinkAck parse_ack(const nlmsghdr *nlh);

// The error for a failed netlink operation: EPERM/EACCES -> no_perm, others -> os,
// with the kernel's extended-ack text when it gave one.
Error netlink_error(const std::string &what, int err, const std::string &ext_ack);

// One NETLINK_ROUTE socket. Reading needs no privilege; changes need CAP_NET_ADMIN.
class Rtnl {
public:
	static Result<Rtnl> open();

	Result<std::optional<LinkInfo>> get_link(const std::string &name);
	Result<std::optional<LinkInfo>> get_link(int ifindex);
	Status create_wireguard_link(const std::string &name); // NLM_F_CREATE|NLM_F_EXCL
	Status delete_link(const std::string &name);
	Status set_link_up(int ifindex, bool up);
	Status set_mtu(int ifindex, uint32_t mtu);
	// Adding what is there already counts as done; so does deleting what is gone.
	Status add_address(int ifindex, const IpPrefix &p);
	Status del_address(int ifindex, const IpPrefix &p);
	Result<std::vector<IpPrefix>> list_addresses(int ifindex); // global scope only
	Status add_route(int ifindex, const IpPrefix &p); // main table, proto boot, scope link
	Status del_route(int ifindex, const IpPrefix &p);
	// Main-table routes via ifindex, except proto kernel, local, multicast, link-local.
	Result<std::vector<IpPrefix>> list_routes(int ifindex);
	// The route to dst: its RTAX_MTU if set, else its output device's MTU; 0: no route.
	Result<uint32_t> route_mtu_to(const SockAddr &dst);
	// The default route's device MTU (wg-quick's fallback), 0 if there is none.
	Result<uint32_t> default_route_mtu();

private:
	explicit Rtnl(NetlinkSocket s) : sock_(std::move(s)) {}
	Result<std::optional<LinkInfo>> get_link_by(const std::string &name, int ifindex);
	Result<std::vector<RouteInfo>> dump_routes();
	NetlinkSocket sock_;
};

// The builders write one message at the start of buf (at least kRtnlBufSize bytes) and
// return its length; 0 when it would not fit (a name too long), with nothing written
// past kRtnlBufSize. seq goes in nlmsg_seq.
inline constexpr size_t kRtnlBufSize = 1024;

size_t build_getlink(char *buf, uint32_t seq, const std::string &name, int ifindex = 0);
size_t build_newlink_wireguard(char *buf, uint32_t seq, const std::string &name);
size_t build_dellink(char *buf, uint32_t seq, const std::string &name);
size_t build_setlink_up(char *buf, uint32_t seq, int ifindex, bool up);
size_t build_setlink_mtu(char *buf, uint32_t seq, int ifindex, uint32_t mtu);
size_t build_newaddr(char *buf, uint32_t seq, int ifindex, const IpPrefix &p, bool add);
size_t build_getaddr_dump(char *buf, uint32_t seq);
size_t build_newroute(char *buf, uint32_t seq, int ifindex, const IpPrefix &p, bool add);
size_t build_getroute_dump(char *buf, uint32_t seq);
size_t build_getroute_to(char *buf, uint32_t seq, const IpAddr &dst);

// Reply parsers, pure as well.
std::optional<LinkInfo> parse_link(const nlmsghdr *nlh);
// An address of ifindex with global scope, or nothing.
std::optional<IpPrefix> parse_addr(const nlmsghdr *nlh, int ifindex);
std::optional<RouteInfo> parse_route(const nlmsghdr *nlh);
// Whether list_routes reports this route for ifindex.
bool route_is_listed(const RouteInfo &r, int ifindex);

} // namespace wgn
