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

// One NETLINK_ROUTE socket. Reading needs no privilege; changes need CAP_NET_ADMIN.
class Rtnl {
public:
	static Result<Rtnl> open();
	Rtnl(Rtnl &&o) noexcept;
	Rtnl &operator=(Rtnl &&o) noexcept;
	Rtnl(const Rtnl &) = delete;
	Rtnl &operator=(const Rtnl &) = delete;
	~Rtnl();

	Result<std::optional<LinkInfo>> get_link(const std::string &name);
	Result<std::optional<LinkInfo>> get_link(int ifindex);
	Status create_wireguard_link(const std::string &name); // NLM_F_CREATE|NLM_F_EXCL
	Status delete_link(const std::string &name);
	Status set_link_up(int ifindex, bool up);
	Status set_mtu(int ifindex, uint32_t mtu);
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

	// One request; cb (may be empty) sees every reply message. what names the
	// operation in errors ("add address 10.0.0.1/24 to wg0").
	using Callback = int (*)(const nlmsghdr *nlh, void *data);
	Status request(const std::string &what, char *buf, Callback cb, void *data,
	               bool missing_ok = false, bool exists_ok = false);

private:
	Rtnl() = default;
	mnl_socket *nl_ = nullptr;
	uint32_t portid_ = 0;
	uint32_t seq_ = 0;
};

// The builders write one message at the start of buf (at least kRtnlBufSize bytes) and
// return its length. seq goes in nlmsg_seq.
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
struct RouteInfo {
	IpPrefix dst;
	int oif = 0;
	uint8_t table = 0;
	uint8_t protocol = 0;
	uint8_t scope = 0;
	uint8_t type = 0;
	uint32_t mtu = 0; // RTAX_MTU, 0 when not set
};
std::optional<RouteInfo> parse_route(const nlmsghdr *nlh);
// Whether list_routes reports this route for ifindex.
bool route_is_listed(const RouteInfo &r, int ifindex);

} // namespace wgn
