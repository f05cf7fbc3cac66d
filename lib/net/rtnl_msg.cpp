// The rtnetlink messages wgn sends and the replies it reads: pure functions, so that
// tests compare bytes and parse hand-built replies without a socket.
#include "rtnl.h"

#include <cstring>

#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include "nl_attr.h"

namespace wgn {

static nlmsghdr *put_header(char *buf, uint16_t type, uint16_t flags, uint32_t seq)
{
	std::memset(buf, 0, kRtnlBufSize);
	nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = seq;
	return nlh;
}

size_t build_getlink(char *buf, uint32_t seq, const std::string &name, int ifindex)
{
	nlmsghdr *nlh = put_header(buf, RTM_GETLINK, NLM_F_ACK, seq);
	auto *ifi = static_cast<ifinfomsg *>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	if (!name.empty() && !mnl_attr_put_strz_check(nlh, kRtnlBufSize, IFLA_IFNAME, name.c_str()))
		return 0;
	return nlh->nlmsg_len;
}

size_t build_newlink_wireguard(char *buf, uint32_t seq, const std::string &name)
{
	nlmsghdr *nlh = put_header(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, seq);
	auto *ifi = static_cast<ifinfomsg *>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
	ifi->ifi_family = AF_UNSPEC;
	if (!mnl_attr_put_strz_check(nlh, kRtnlBufSize, IFLA_IFNAME, name.c_str()))
		return 0;
	nlattr *info = mnl_attr_nest_start_check(nlh, kRtnlBufSize, IFLA_LINKINFO);
	if (!info || !mnl_attr_put_strz_check(nlh, kRtnlBufSize, IFLA_INFO_KIND, "wireguard"))
		return 0;
	mnl_attr_nest_end(nlh, info);
	return nlh->nlmsg_len;
}

size_t build_dellink(char *buf, uint32_t seq, const std::string &name)
{
	nlmsghdr *nlh = put_header(buf, RTM_DELLINK, NLM_F_ACK, seq);
	auto *ifi = static_cast<ifinfomsg *>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
	ifi->ifi_family = AF_UNSPEC;
	if (!mnl_attr_put_strz_check(nlh, kRtnlBufSize, IFLA_IFNAME, name.c_str()))
		return 0;
	return nlh->nlmsg_len;
}

static nlmsghdr *put_setlink(char *buf, uint32_t seq, int ifindex, ifinfomsg **ifi)
{
	nlmsghdr *nlh = put_header(buf, RTM_NEWLINK, NLM_F_ACK, seq);
	*ifi = static_cast<ifinfomsg *>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
	(*ifi)->ifi_family = AF_UNSPEC;
	(*ifi)->ifi_index = ifindex;
	return nlh;
}

size_t build_setlink_up(char *buf, uint32_t seq, int ifindex, bool up)
{
	ifinfomsg *ifi;
	nlmsghdr *nlh = put_setlink(buf, seq, ifindex, &ifi);
	ifi->ifi_change = IFF_UP;
	ifi->ifi_flags = up ? IFF_UP : 0;
	return nlh->nlmsg_len;
}

size_t build_setlink_mtu(char *buf, uint32_t seq, int ifindex, uint32_t mtu)
{
	ifinfomsg *ifi;
	nlmsghdr *nlh = put_setlink(buf, seq, ifindex, &ifi);
	mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	return nlh->nlmsg_len;
}

size_t build_newaddr(char *buf, uint32_t seq, int ifindex, const IpPrefix &p, bool add)
{
	nlmsghdr *nlh = put_header(buf, add ? RTM_NEWADDR : RTM_DELADDR,
	                           NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0), seq);
	auto *ifa = static_cast<ifaddrmsg *>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
	ifa->ifa_family = static_cast<uint8_t>(p.addr.family);
	ifa->ifa_prefixlen = p.prefix_len;
	// A tunnel address has no neighbour to collide with: DAD would only hold the
	// address back (tentative) for a second, as wg-quick's users never see.
	ifa->ifa_flags = p.addr.family == AF_INET6 ? IFA_F_NODAD : 0;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = static_cast<uint32_t>(ifindex);
	mnl_attr_put(nlh, IFA_LOCAL, p.addr.size(), p.addr.bytes.data());
	mnl_attr_put(nlh, IFA_ADDRESS, p.addr.size(), p.addr.bytes.data());
	return nlh->nlmsg_len;
}

size_t build_getaddr_dump(char *buf, uint32_t seq)
{
	nlmsghdr *nlh = put_header(buf, RTM_GETADDR, NLM_F_DUMP, seq);
	auto *ifa = static_cast<ifaddrmsg *>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
	ifa->ifa_family = AF_UNSPEC;
	return nlh->nlmsg_len;
}

size_t build_newroute(char *buf, uint32_t seq, int ifindex, const IpPrefix &p, bool add)
{
	nlmsghdr *nlh = put_header(buf, add ? RTM_NEWROUTE : RTM_DELROUTE,
	                           NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0), seq);
	auto *rtm = static_cast<rtmsg *>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
	rtm->rtm_family = static_cast<uint8_t>(p.addr.family);
	rtm->rtm_dst_len = p.prefix_len;
	rtm->rtm_table = RT_TABLE_MAIN;
	// Protocol boot both ways: what wgn adds (as `ip route add` does), and the only
	// routes it deletes. A delete without a protocol removes the first match, which
	// can be the connected (proto kernel) route of an address with the same prefix.
	rtm->rtm_protocol = RTPROT_BOOT;
	if (add) {
		rtm->rtm_type = RTN_UNICAST;
		// As `ip route add PREFIX dev X` decides: link scope for IPv4 without a
		// gateway; IPv6 routes are always universe.
		rtm->rtm_scope = p.addr.family == AF_INET ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
	} else {
		rtm->rtm_scope = RT_SCOPE_NOWHERE; // any scope, as `ip route del` asks
	}
	IpPrefix net = p.network();
	mnl_attr_put(nlh, RTA_DST, net.addr.size(), net.addr.bytes.data());
	mnl_attr_put_u32(nlh, RTA_OIF, static_cast<uint32_t>(ifindex));
	return nlh->nlmsg_len;
}

size_t build_getroute_dump(char *buf, uint32_t seq)
{
	nlmsghdr *nlh = put_header(buf, RTM_GETROUTE, NLM_F_DUMP, seq);
	auto *rtm = static_cast<rtmsg *>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
	rtm->rtm_family = AF_UNSPEC;
	return nlh->nlmsg_len;
}

size_t build_getroute_to(char *buf, uint32_t seq, const IpAddr &dst)
{
	nlmsghdr *nlh = put_header(buf, RTM_GETROUTE, NLM_F_ACK, seq);
	auto *rtm = static_cast<rtmsg *>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
	rtm->rtm_family = static_cast<uint8_t>(dst.family);
	rtm->rtm_dst_len = static_cast<uint8_t>(dst.size() * 8);
	mnl_attr_put(nlh, RTA_DST, dst.size(), dst.bytes.data());
	return nlh->nlmsg_len;
}

// --- parsers ----------------------------------------------------------------------

namespace {

struct AttrTable {
	const nlattr *tb[64] = {};
};

int collect_attr(const nlattr *a, void *data)
{
	auto *t = static_cast<AttrTable *>(data);
	unsigned type = mnl_attr_get_type(a);
	if (type < 64)
		t->tb[type] = a;
	return MNL_CB_OK;
}

bool is_u32(const nlattr *a)
{
	return a && mnl_attr_validate(a, MNL_TYPE_U32) == 0;
}

bool address_of(const nlattr *a, int family, IpAddr *out)
{
	size_t want = family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
	if (!a || want == 0 || mnl_attr_get_payload_len(a) != want)
		return false;
	out->family = family;
	out->bytes = {};
	std::memcpy(out->bytes.data(), mnl_attr_get_payload(a), want);
	return true;
}

} // namespace

std::optional<LinkInfo> parse_link(const nlmsghdr *nlh)
{
	if (nlh->nlmsg_type != RTM_NEWLINK || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(ifinfomsg)))
		return std::nullopt;
	auto *ifi = static_cast<const ifinfomsg *>(mnl_nlmsg_get_payload(nlh));
	AttrTable t;
	if (parse_attrs(nlh, sizeof(*ifi), collect_attr, &t) < 0)
		return std::nullopt;
	LinkInfo l;
	l.ifindex = ifi->ifi_index;
	l.up = ifi->ifi_flags & IFF_UP;
	if (t.tb[IFLA_IFNAME] && mnl_attr_validate(t.tb[IFLA_IFNAME], MNL_TYPE_STRING) == 0)
		l.name = attr_string(t.tb[IFLA_IFNAME]);
	if (is_u32(t.tb[IFLA_MTU]))
		l.mtu = mnl_attr_get_u32(t.tb[IFLA_MTU]);
	if (t.tb[IFLA_LINKINFO]) {
		AttrTable info;
		if (mnl_attr_parse_nested(t.tb[IFLA_LINKINFO], collect_attr, &info) >= 0 &&
		    info.tb[IFLA_INFO_KIND] &&
		    mnl_attr_validate(info.tb[IFLA_INFO_KIND], MNL_TYPE_STRING) == 0)
			l.kind = attr_string(info.tb[IFLA_INFO_KIND]);
	}
	return l;
}

std::optional<IpPrefix> parse_addr(const nlmsghdr *nlh, int ifindex)
{
	if (nlh->nlmsg_type != RTM_NEWADDR || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(ifaddrmsg)))
		return std::nullopt;
	auto *ifa = static_cast<const ifaddrmsg *>(mnl_nlmsg_get_payload(nlh));
	if (static_cast<int>(ifa->ifa_index) != ifindex || ifa->ifa_scope != RT_SCOPE_UNIVERSE)
		return std::nullopt;
	AttrTable t;
	if (parse_attrs(nlh, sizeof(*ifa), collect_attr, &t) < 0)
		return std::nullopt;
	IpPrefix p;
	p.prefix_len = ifa->ifa_prefixlen;
	// IFA_LOCAL is the interface's own address; IPv6 sends only IFA_ADDRESS.
	if (!address_of(t.tb[IFA_LOCAL], ifa->ifa_family, &p.addr) &&
	    !address_of(t.tb[IFA_ADDRESS], ifa->ifa_family, &p.addr))
		return std::nullopt;
	return p;
}

std::optional<RouteInfo> parse_route(const nlmsghdr *nlh)
{
	if (nlh->nlmsg_type != RTM_NEWROUTE || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(rtmsg)))
		return std::nullopt;
	auto *rtm = static_cast<const rtmsg *>(mnl_nlmsg_get_payload(nlh));
	if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6)
		return std::nullopt;
	AttrTable t;
	if (parse_attrs(nlh, sizeof(*rtm), collect_attr, &t) < 0)
		return std::nullopt;
	RouteInfo r;
	r.dst.addr.family = rtm->rtm_family;
	r.dst.prefix_len = rtm->rtm_dst_len;
	if (t.tb[RTA_DST] && !address_of(t.tb[RTA_DST], rtm->rtm_family, &r.dst.addr))
		return std::nullopt;
	r.table = is_u32(t.tb[RTA_TABLE]) ? mnl_attr_get_u32(t.tb[RTA_TABLE]) : rtm->rtm_table;
	r.protocol = rtm->rtm_protocol;
	r.scope = rtm->rtm_scope;
	r.type = rtm->rtm_type;
	if (is_u32(t.tb[RTA_OIF]))
		r.oif = static_cast<int>(mnl_attr_get_u32(t.tb[RTA_OIF]));
	if (t.tb[RTA_METRICS]) {
		AttrTable m;
		if (mnl_attr_parse_nested(t.tb[RTA_METRICS], collect_attr, &m) >= 0 &&
		    is_u32(m.tb[RTAX_MTU]))
			r.mtu = mnl_attr_get_u32(m.tb[RTAX_MTU]);
	}
	return r;
}

bool route_is_listed(const RouteInfo &r, int ifindex)
{
	if (r.oif != ifindex || r.table != RT_TABLE_MAIN || r.type != RTN_UNICAST ||
	    r.protocol == RTPROT_KERNEL)
		return false;
	// fe80::/10: link-local, the kernel's own business even when not proto kernel.
	const auto &b = r.dst.addr.bytes;
	if (r.dst.addr.family == AF_INET6 && b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return false;
	return true;
}

} // namespace wgn
