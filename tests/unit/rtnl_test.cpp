// rtnetlink messages byte for byte against hand-written encodings, and the reply
// parsers against hand-written replies. Numbers are spelled out (with their names in
// comments) so that a wrong constant in the builder cannot hide behind the same
// constant here.
#include <catch2/catch.hpp>

#include "nl_bytes.h"
#include "rtnl.h"

#include <cerrno>

using namespace wgn;
using nltest::Bytes;
using nltest::message;
using nltest::view;

namespace {

Bytes ifinfo(int index, uint32_t flags = 0, uint32_t change = 0)
{
	return Bytes()
	    .u8(0 /* AF_UNSPEC */)
	    .u8(0)
	    .u16(0)
	    .u32(static_cast<uint32_t>(index))
	    .u32(flags)
	    .u32(change);
}

Bytes addr4(const char *s) { return Bytes().raw(parse_ip(s)->bytes.data(), 4); }
Bytes addr6(const char *s) { return Bytes().raw(parse_ip(s)->bytes.data(), 16); }

} // namespace

TEST_CASE("rtnl: link messages")
{
	char buf[kRtnlBufSize];
	// RTM_GETLINK (18), NLM_F_REQUEST|NLM_F_ACK, IFLA_IFNAME (3)
	size_t n = build_getlink(buf, 7, "wg0");
	CHECK(view(buf, n) == message(18, 0x5, 7, ifinfo(0).attr_str(3, "wg0")).b);
	n = build_getlink(buf, 8, "", 42);
	CHECK(view(buf, n) == message(18, 0x5, 8, ifinfo(42)).b);

	// RTM_NEWLINK (16), REQUEST|ACK|EXCL|CREATE, IFLA_LINKINFO (18) { IFLA_INFO_KIND (1) }
	n = build_newlink_wireguard(buf, 1, "wg0");
	auto want = message(
	    16, 0x605, 1, ifinfo(0).attr_str(3, "wg0").nest(18, Bytes().attr_str(1, "wireguard")));
	CHECK(view(buf, n) == want.b);

	// RTM_DELLINK (17)
	n = build_dellink(buf, 2, "wgtest0");
	CHECK(view(buf, n) == message(17, 0x5, 2, ifinfo(0).attr_str(3, "wgtest0")).b);

	// Up and down change IFF_UP (1) only.
	n = build_setlink_up(buf, 3, 9, true);
	CHECK(view(buf, n) == message(16, 0x5, 3, ifinfo(9, 1, 1)).b);
	n = build_setlink_up(buf, 4, 9, false);
	CHECK(view(buf, n) == message(16, 0x5, 4, ifinfo(9, 0, 1)).b);

	// IFLA_MTU (4)
	n = build_setlink_mtu(buf, 5, 9, 1420);
	CHECK(view(buf, n) == message(16, 0x5, 5, ifinfo(9).attr_u32(4, 1420)).b);
}

TEST_CASE("rtnl: address messages")
{
	char buf[kRtnlBufSize];
	// RTM_NEWADDR (20): family 2, /24, no flags, universe, index 5; IFA_LOCAL (2) and
	// IFA_ADDRESS (1) both the address itself.
	size_t n = build_newaddr(buf, 11, 5, *parse_prefix("10.0.0.10/24"), true);
	auto body = Bytes().u8(2).u8(24).u8(0).u8(0).u32(5);
	body.attr(2, addr4("10.0.0.10")).attr(1, addr4("10.0.0.10"));
	CHECK(view(buf, n) == message(20, 0x605, 11, body).b);

	// RTM_DELADDR (21) for IPv6: family 10, IFA_F_NODAD (2).
	n = build_newaddr(buf, 12, 5, *parse_prefix("fd00::10/64"), false);
	body = Bytes().u8(10).u8(64).u8(2).u8(0).u32(5);
	body.attr(2, addr6("fd00::10")).attr(1, addr6("fd00::10"));
	CHECK(view(buf, n) == message(21, 0x5, 12, body).b);

	// RTM_GETADDR (22) dump: REQUEST|DUMP (0x301), family AF_UNSPEC.
	n = build_getaddr_dump(buf, 13);
	CHECK(view(buf, n) == message(22, 0x301, 13, Bytes().u8(0).u8(0).u8(0).u8(0).u32(0)).b);
}

TEST_CASE("rtnl: route messages")
{
	char buf[kRtnlBufSize];
	// RTM_NEWROUTE (24): v4, /16, table main (254), proto boot (3), scope link (253),
	// unicast (1); RTA_DST (1) with host bits cleared, RTA_OIF (4).
	size_t n = build_newroute(buf, 21, 6, *parse_prefix("10.1.2.3/16"), true);
	auto body = Bytes().u8(2).u8(16).u8(0).u8(0).u8(254).u8(3).u8(253).u8(1).u32(0);
	body.attr(1, addr4("10.1.0.0")).attr_u32(4, 6);
	CHECK(view(buf, n) == message(24, 0x605, 21, body).b);

	// IPv6 routes are universe scope, as `ip -6 route add` makes them.
	n = build_newroute(buf, 22, 6, *parse_prefix("fd01::/64"), true);
	body = Bytes().u8(10).u8(64).u8(0).u8(0).u8(254).u8(3).u8(0).u8(1).u32(0);
	body.attr(1, addr6("fd01::")).attr_u32(4, 6);
	CHECK(view(buf, n) == message(24, 0x605, 22, body).b);

	// RTM_DELROUTE (25): protocol boot (3) only, any type, scope nowhere (255).
	n = build_newroute(buf, 23, 6, *parse_prefix("10.1.0.0/16"), false);
	body = Bytes().u8(2).u8(16).u8(0).u8(0).u8(254).u8(3).u8(255).u8(0).u32(0);
	body.attr(1, addr4("10.1.0.0")).attr_u32(4, 6);
	CHECK(view(buf, n) == message(25, 0x5, 23, body).b);

	// RTM_GETROUTE (26) to one address, and the dump.
	n = build_getroute_to(buf, 24, *parse_ip("192.0.2.1"));
	body = Bytes().u8(2).u8(32).u8(0).u8(0).u8(0).u8(0).u8(0).u8(0).u32(0);
	body.attr(1, addr4("192.0.2.1"));
	CHECK(view(buf, n) == message(26, 0x5, 24, body).b);
	n = build_getroute_dump(buf, 25);
	CHECK(view(buf, n) ==
	      message(26, 0x301, 25, Bytes().u8(0).u8(0).u8(0).u8(0).u8(0).u8(0).u8(0).u8(0).u32(0))
		  .b);
}

TEST_CASE("rtnl: link replies")
{
	// RTM_NEWLINK with IFF_UP|IFF_RUNNING, IFLA_IFNAME, IFLA_MTU, IFLA_LINKINFO{kind}.
	auto body = ifinfo(12, 0x41, 0).attr_str(3, "wg0").attr_u32(4, 1420);
	body.nest(18, Bytes().attr_str(1, "wireguard").nest(2, Bytes()));
	auto m = message(16, 0, 1, body);
	auto l = parse_link(reinterpret_cast<const nlmsghdr *>(m.b.data()));
	REQUIRE(l);
	CHECK(l->ifindex == 12);
	CHECK(l->name == "wg0");
	CHECK(l->kind == "wireguard");
	CHECK(l->up);
	CHECK(l->mtu == 1420);

	// A down tun without link info.
	m = message(16, 0, 1, ifinfo(13, 0x1000, 0).attr_str(3, "wgtest0").attr_u32(4, 1500));
	l = parse_link(reinterpret_cast<const nlmsghdr *>(m.b.data()));
	REQUIRE(l);
	CHECK_FALSE(l->up);
	CHECK(l->kind.empty());

	// Not a link message; a truncated one.
	m = message(20, 0, 1, Bytes().u32(0).u32(0));
	CHECK_FALSE(parse_link(reinterpret_cast<const nlmsghdr *>(m.b.data())));
	m = message(16, 0, 1, Bytes().u32(0));
	CHECK_FALSE(parse_link(reinterpret_cast<const nlmsghdr *>(m.b.data())));
}

TEST_CASE("rtnl: address replies keep global addresses of the link")
{
	auto reply = [](uint8_t family, uint8_t len, uint8_t scope, uint32_t index, Bytes attrs) {
		return message(20, 0, 1,
			       Bytes().u8(family).u8(len).u8(0).u8(scope).u32(index).raw(
				   attrs.b.data(), attrs.size()));
	};
	auto v4 =
	    reply(2, 24, 0, 5, Bytes().attr(1, addr4("10.0.0.10")).attr(2, addr4("10.0.0.10")));
	auto p = parse_addr(reinterpret_cast<const nlmsghdr *>(v4.b.data()), 5);
	REQUIRE(p);
	CHECK(p->str() == "10.0.0.10/24");
	CHECK_FALSE(parse_addr(reinterpret_cast<const nlmsghdr *>(v4.b.data()), 6));

	// IPv6 sends IFA_ADDRESS only.
	auto v6 = reply(10, 64, 0, 5, Bytes().attr(1, addr6("fd00::10")));
	p = parse_addr(reinterpret_cast<const nlmsghdr *>(v6.b.data()), 5);
	REQUIRE(p);
	CHECK(p->str() == "fd00::10/64");

	// fe80:: is link scope (253): skipped.
	auto ll = reply(10, 64, 253, 5, Bytes().attr(1, addr6("fe80::1")));
	CHECK_FALSE(parse_addr(reinterpret_cast<const nlmsghdr *>(ll.b.data()), 5));
	// An address of the wrong size is refused, not read past.
	auto bad = reply(10, 64, 0, 5, Bytes().attr(1, addr4("10.0.0.1")));
	CHECK_FALSE(parse_addr(reinterpret_cast<const nlmsghdr *>(bad.b.data()), 5));
}

TEST_CASE("rtnl: route replies and which routes are ours")
{
	auto reply = [](uint8_t family, uint8_t len, uint8_t table, uint8_t proto, uint8_t scope,
			uint8_t type, Bytes attrs) {
		return message(24, 0, 1,
			       Bytes()
				   .u8(family)
				   .u8(len)
				   .u8(0)
				   .u8(0)
				   .u8(table)
				   .u8(proto)
				   .u8(scope)
				   .u8(type)
				   .u32(0)
				   .raw(attrs.b.data(), attrs.size()));
	};
	auto parse = [](const Bytes &m) {
		return parse_route(reinterpret_cast<const nlmsghdr *>(m.b.data()));
	};

	auto boot = reply(2, 16, 254, 3, 253, 1,
			  Bytes().attr(1, addr4("10.1.0.0")).attr_u32(15, 254).attr_u32(4, 7));
	auto r = parse(boot);
	REQUIRE(r);
	CHECK(r->dst.str() == "10.1.0.0/16");
	CHECK(r->oif == 7);
	CHECK(route_is_listed(*r, 7));
	CHECK_FALSE(route_is_listed(*r, 8));

	// The connected route of an address (proto kernel) is the kernel's.
	auto kernel =
	    reply(2, 24, 254, 2, 253, 1, Bytes().attr(1, addr4("10.0.0.0")).attr_u32(4, 7));
	CHECK_FALSE(route_is_listed(*parse(kernel), 7));
	// Local table, and a local route in it.
	auto local =
	    reply(2, 32, 255, 2, 254, 2, Bytes().attr(1, addr4("10.0.0.10")).attr_u32(4, 7));
	CHECK_FALSE(route_is_listed(*parse(local), 7));
	// fe80::/64 added by hand still is link-local.
	auto ll = reply(10, 64, 254, 3, 0, 1, Bytes().attr(1, addr6("fe80::")).attr_u32(4, 7));
	CHECK_FALSE(route_is_listed(*parse(ll), 7));
	// RTA_TABLE overrides rtm_table (which says 252 = RT_TABLE_COMPAT for big ids).
	auto other = reply(2, 16, 252, 3, 253, 1,
			   Bytes().attr(1, addr4("10.2.0.0")).attr_u32(15, 1000).attr_u32(4, 7));
	CHECK(parse(other)->table == 1000);
	CHECK_FALSE(route_is_listed(*parse(other), 7));

	// The default route carries no RTA_DST; RTA_METRICS (8) { RTAX_MTU (2) }.
	auto def =
	    reply(2, 0, 254, 3, 0, 1, Bytes().attr_u32(4, 2).nest(8, Bytes().attr_u32(2, 1400)));
	r = parse(def);
	REQUIRE(r);
	CHECK(r->dst.is_default());
	CHECK(r->dst.addr.family == AF_INET);
	CHECK(r->mtu == 1400);
}

TEST_CASE("rtnl: errors name the operation, the cause and the kernel's words")
{
	auto e = netlink_error("add address 10.0.0.10/24 to dev #5", EPERM, "");
	CHECK(e.code == Errc::no_perm);
	CHECK(e.message == "cannot add address 10.0.0.10/24 to dev #5: needs CAP_NET_ADMIN "
			   "(Operation not permitted)");
	e = netlink_error("create WireGuard link wg0", EOPNOTSUPP, "Unknown device type");
	CHECK(e.code == Errc::os);
	CHECK(e.message == "cannot create WireGuard link wg0: Operation not supported (kernel: "
			   "Unknown device type)");
	CHECK(netlink_error("x", EACCES, "").code == Errc::no_perm);
}

TEST_CASE("rtnl: reading links needs no privilege")
{
	auto rtnl = Rtnl::open();
	REQUIRE(rtnl);
	auto lo = rtnl->get_link("lo");
	REQUIRE(lo);
	REQUIRE(*lo);
	CHECK((*lo)->ifindex > 0);
	CHECK((*lo)->name == "lo");
	auto by_index = rtnl->get_link((*lo)->ifindex);
	REQUIRE(by_index);
	REQUIRE(*by_index);
	CHECK((*by_index)->name == "lo");
	auto none = rtnl->get_link("wgn-no-such0");
	REQUIRE(none);
	CHECK_FALSE(*none);
	CHECK(rtnl->list_addresses((*lo)->ifindex).ok());
	CHECK(rtnl->list_routes((*lo)->ifindex).ok());
}
