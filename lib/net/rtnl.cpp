#include "rtnl.h"

#include <cerrno>
#include <cstring>
#include <ctime>

#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include "keys.h"
#include "nl_attr.h"

namespace wgn {

Error netlink_error(const std::string &what, int err, const std::string &ext_ack)
{
	std::string msg = "cannot " + what + ": ";
	if (err == EPERM || err == EACCES)
		msg += "needs CAP_NET_ADMIN (" + std::string(strerror(err)) + ")";
	else
		msg += strerror(err);
	if (!ext_ack.empty())
		msg += " (kernel: " + ext_ack + ")";
	return make_error(err == EPERM || err == EACCES ? Errc::no_perm : Errc::os, msg);
}

Result<NetlinkSocket> NetlinkSocket::open(int bus)
{
	NetlinkSocket s;
	s.nl_ = mnl_socket_open2(bus, SOCK_CLOEXEC);
	if (!s.nl_)
		return netlink_error("open a netlink socket", errno, "");
	if (mnl_socket_bind(s.nl_, 0, MNL_SOCKET_AUTOPID) < 0)
		return netlink_error("bind a netlink socket", errno, "");
	// Extended acks carry the kernel's own sentence; capped acks keep our request out
	// of the reply. Old kernels refuse both, which only costs us the sentence.
	int one = 1;
	mnl_socket_setsockopt(s.nl_, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(s.nl_, NETLINK_CAP_ACK, &one, sizeof(one));
	s.portid_ = mnl_socket_get_portid(s.nl_);
	s.seq_ = static_cast<uint32_t>(time(nullptr));
	return s;
}

NetlinkSocket::NetlinkSocket(NetlinkSocket &&o) noexcept
    : nl_(o.nl_), portid_(o.portid_), seq_(o.seq_), last_errno_(o.last_errno_)
{
	o.nl_ = nullptr;
}

NetlinkSocket &NetlinkSocket::operator=(NetlinkSocket &&o) noexcept
{
	if (this != &o) {
		if (nl_)
			mnl_socket_close(nl_);
		nl_ = o.nl_;
		portid_ = o.portid_;
		seq_ = o.seq_;
		last_errno_ = o.last_errno_;
		o.nl_ = nullptr;
	}
	return *this;
}

NetlinkSocket::~NetlinkSocket()
{
	if (nl_)
		mnl_socket_close(nl_);
}

NetlinkAck parse_ack(const nlmsghdr *nlh)
{
	NetlinkAck ack;
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(nlmsgerr))) {
		ack.err = EBADMSG;
		return ack;
	}
	auto *e = static_cast<const nlmsgerr *>(mnl_nlmsg_get_payload(nlh));
	if (e->error == 0)
		return ack;
	// A positive error or INT_MIN is no errno: negating it would overflow or lie.
	ack.err = e->error < 0 && e->error > -4096 ? -e->error : EBADMSG;
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return ack;
	// The attributes follow the echoed request (all of it unless NLM_F_CAPPED), whose
	// length the message itself states: checked against what arrived before use.
	const size_t payload = mnl_nlmsg_get_payload_len(nlh);
	size_t off = sizeof(*e);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
		if (e->msg.nlmsg_len < sizeof(nlmsghdr) || e->msg.nlmsg_len > payload)
			return ack;
		off += e->msg.nlmsg_len - sizeof(nlmsghdr);
	}
	if (MNL_ALIGN(off) >= payload)
		return ack;
	auto *a = static_cast<const nlattr *>(mnl_nlmsg_get_payload_offset(nlh, off));
	int left = static_cast<int>(payload - MNL_ALIGN(off));
	for (; mnl_attr_ok(a, left); a = mnl_attr_next(a)) {
		left -= static_cast<int>(MNL_ALIGN(a->nla_len));
		if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(a, MNL_TYPE_STRING) == 0)
			ack.ext_ack = attr_string(a);
	}
	return ack;
}

namespace {

struct ErrorSink {
	int err = 0;
	std::string ext_ack;
};

int error_cb(const nlmsghdr *nlh, void *data)
{
	auto *sink = static_cast<ErrorSink *>(data);
	auto ack = parse_ack(nlh);
	if (ack.err == 0)
		return MNL_CB_STOP;
	sink->err = ack.err;
	sink->ext_ack = std::move(ack.ext_ack);
	return MNL_CB_ERROR;
}

// A dump ends with NLMSG_DONE, which may carry an error of its own.
int done_cb(const nlmsghdr *nlh, void *data)
{
	auto *sink = static_cast<ErrorSink *>(data);
	if (nlh->nlmsg_len >= mnl_nlmsg_size(sizeof(int))) {
		int err = *static_cast<const int *>(mnl_nlmsg_get_payload(nlh));
		if (err < 0) {
			sink->err = err > -4096 ? -err : EBADMSG;
			return MNL_CB_ERROR;
		}
	}
	return MNL_CB_STOP;
}

struct Dispatch {
	NetlinkSocket::Callback cb;
	void *data;
	ErrorSink *sink;
};

int data_cb(const nlmsghdr *nlh, void *data)
{
	auto *d = static_cast<Dispatch *>(data);
	return d->cb ? d->cb(nlh, d->data) : MNL_CB_OK;
}

int ctl_error(const nlmsghdr *nlh, void *data)
{
	return error_cb(nlh, static_cast<Dispatch *>(data)->sink);
}

int ctl_done(const nlmsghdr *nlh, void *data)
{
	return done_cb(nlh, static_cast<Dispatch *>(data)->sink);
}

} // namespace

Status NetlinkSocket::request(const std::string &what, const nlmsghdr *msg, Callback cb, void *data,
                              bool missing_ok, bool exists_ok)
{
	last_errno_ = 0;
	if (mnl_socket_sendto(nl_, msg, msg->nlmsg_len) < 0)
		return netlink_error(what, errno, "");
	ErrorSink sink;
	Dispatch d{cb, data, &sink};
	mnl_cb_t ctl[NLMSG_MIN_TYPE] = {};
	ctl[NLMSG_ERROR] = ctl_error;
	ctl[NLMSG_DONE] = ctl_done;
	// Dumps come in batches of up to 32 KiB (MNL_SOCKET_DUMP_SIZE).
	static thread_local char buf[32768];
	int ret;
	do {
		ssize_t n = mnl_socket_recvfrom(nl_, buf, sizeof(buf));
		if (n < 0)
			return netlink_error(what, errno, "");
		errno = 0;
		ret = mnl_cb_run2(buf, static_cast<size_t>(n), msg->nlmsg_seq, portid_, data_cb, &d,
		                  ctl, NLMSG_MIN_TYPE);
		if (ret == MNL_CB_ERROR && sink.err == 0)
			sink.err = errno ? errno : EPROTO;
		// A WireGuard dump carries the private key; it must not linger here.
		wipe(buf, static_cast<size_t>(n));
	} while (ret > MNL_CB_STOP);
	if (sink.err == 0)
		return Ok{};
	last_errno_ = sink.err;
	bool missing = sink.err == ENODEV || sink.err == ESRCH || sink.err == ENOENT ||
	               sink.err == EADDRNOTAVAIL;
	if ((missing_ok && missing) || (exists_ok && sink.err == EEXIST))
		return Ok{};
	return netlink_error(what, sink.err, sink.ext_ack);
}

// --- Rtnl ------------------------------------------------------------------------

Result<Rtnl> Rtnl::open()
{
	auto s = NetlinkSocket::open(NETLINK_ROUTE);
	if (!s)
		return s.error();
	return Rtnl(std::move(*s));
}

static std::string dev_name(int ifindex)
{
	return "dev #" + std::to_string(ifindex);
}

namespace {

int link_cb(const nlmsghdr *nlh, void *data)
{
	if (auto l = parse_link(nlh))
		*static_cast<std::optional<LinkInfo> *>(data) = std::move(*l);
	return MNL_CB_OK;
}

struct AddrDump {
	int ifindex;
	std::vector<IpPrefix> out;
};

int addr_cb(const nlmsghdr *nlh, void *data)
{
	auto *d = static_cast<AddrDump *>(data);
	if (auto p = parse_addr(nlh, d->ifindex))
		d->out.push_back(*p);
	return MNL_CB_OK;
}

int route_cb(const nlmsghdr *nlh, void *data)
{
	if (auto r = parse_route(nlh))
		static_cast<std::vector<RouteInfo> *>(data)->push_back(*r);
	return MNL_CB_OK;
}

} // namespace

Result<std::optional<LinkInfo>> Rtnl::get_link_by(const std::string &name, int ifindex)
{
	char buf[kRtnlBufSize];
	if (build_getlink(buf, sock_.next_seq(), name, ifindex) == 0)
		return make_error(Errc::os,
		                  "cannot look up link " + name + ": the name is too long");
	std::optional<LinkInfo> link;
	auto st = sock_.request("look up link " + (name.empty() ? dev_name(ifindex) : name),
	                        reinterpret_cast<nlmsghdr *>(buf), link_cb, &link, true);
	if (!st)
		return st.error();
	return link; // empty when the kernel said ENODEV
}

Result<std::optional<LinkInfo>> Rtnl::get_link(const std::string &name)
{
	return get_link_by(name, 0);
}

Result<std::optional<LinkInfo>> Rtnl::get_link(int ifindex)
{
	return get_link_by("", ifindex);
}

Status Rtnl::create_wireguard_link(const std::string &name)
{
	char buf[kRtnlBufSize];
	if (build_newlink_wireguard(buf, sock_.next_seq(), name) == 0)
		return make_error(Errc::os, "cannot create WireGuard link " + name +
		                                    ": the name is too long");
	return sock_.request("create WireGuard link " + name, reinterpret_cast<nlmsghdr *>(buf),
	                     nullptr, nullptr);
}

Status Rtnl::delete_link(const std::string &name)
{
	char buf[kRtnlBufSize];
	if (build_dellink(buf, sock_.next_seq(), name) == 0)
		return make_error(Errc::os,
		                  "cannot delete link " + name + ": the name is too long");
	return sock_.request("delete link " + name, reinterpret_cast<nlmsghdr *>(buf), nullptr,
	                     nullptr);
}

Status Rtnl::set_link_up(int ifindex, bool up)
{
	char buf[kRtnlBufSize];
	build_setlink_up(buf, sock_.next_seq(), ifindex, up);
	return sock_.request("set " + dev_name(ifindex) + (up ? " up" : " down"),
	                     reinterpret_cast<nlmsghdr *>(buf), nullptr, nullptr);
}

Status Rtnl::set_mtu(int ifindex, uint32_t mtu)
{
	char buf[kRtnlBufSize];
	build_setlink_mtu(buf, sock_.next_seq(), ifindex, mtu);
	return sock_.request("set mtu " + std::to_string(mtu) + " on " + dev_name(ifindex),
	                     reinterpret_cast<nlmsghdr *>(buf), nullptr, nullptr);
}

// Adding an address or route that is already there counts as done (EEXIST), so a
// reconcile or a retried step is idempotent; deleting one that is gone likewise.
Status Rtnl::add_address(int ifindex, const IpPrefix &p)
{
	char buf[kRtnlBufSize];
	build_newaddr(buf, sock_.next_seq(), ifindex, p, true);
	return sock_.request("add address " + p.str() + " to " + dev_name(ifindex),
	                     reinterpret_cast<nlmsghdr *>(buf), nullptr, nullptr, false, true);
}

Status Rtnl::del_address(int ifindex, const IpPrefix &p)
{
	char buf[kRtnlBufSize];
	build_newaddr(buf, sock_.next_seq(), ifindex, p, false);
	return sock_.request("delete address " + p.str() + " from " + dev_name(ifindex),
	                     reinterpret_cast<nlmsghdr *>(buf), nullptr, nullptr, true);
}

Result<std::vector<IpPrefix>> Rtnl::list_addresses(int ifindex)
{
	char buf[kRtnlBufSize];
	build_getaddr_dump(buf, sock_.next_seq());
	AddrDump d{ifindex, {}};
	auto st = sock_.request("list addresses of " + dev_name(ifindex),
	                        reinterpret_cast<nlmsghdr *>(buf), addr_cb, &d);
	if (!st)
		return st.error();
	return d.out;
}

Status Rtnl::add_route(int ifindex, const IpPrefix &p)
{
	char buf[kRtnlBufSize];
	build_newroute(buf, sock_.next_seq(), ifindex, p, true);
	const std::string what = "add route " + p.network().str() + " via " + dev_name(ifindex);
	auto st = sock_.request(what, reinterpret_cast<nlmsghdr *>(buf), nullptr, nullptr);
	if (st || sock_.last_errno() != EEXIST)
		return st;
	// EEXIST is done only if the route there is ours: an IPv4 route to the same
	// prefix via another device collides too, and traffic would not take the tunnel.
	auto routes = dump_routes();
	if (!routes)
		return routes.error();
	for (auto &r : *routes)
		if (r.dst == p.network() && r.oif == ifindex && r.table == RT_TABLE_MAIN)
			return Ok{};
	return make_error(Errc::os,
	                  "cannot " + what + ": a route to it already exists via another device");
}

Status Rtnl::del_route(int ifindex, const IpPrefix &p)
{
	char buf[kRtnlBufSize];
	build_newroute(buf, sock_.next_seq(), ifindex, p, false);
	return sock_.request("delete route " + p.network().str() + " via " + dev_name(ifindex),
	                     reinterpret_cast<nlmsghdr *>(buf), nullptr, nullptr, true);
}

Result<std::vector<RouteInfo>> Rtnl::dump_routes()
{
	char buf[kRtnlBufSize];
	build_getroute_dump(buf, sock_.next_seq());
	std::vector<RouteInfo> routes;
	auto st =
	        sock_.request("list routes", reinterpret_cast<nlmsghdr *>(buf), route_cb, &routes);
	if (!st)
		return st.error();
	return routes;
}

Result<std::vector<IpPrefix>> Rtnl::list_routes(int ifindex)
{
	auto routes = dump_routes();
	if (!routes)
		return routes.error();
	std::vector<IpPrefix> out;
	for (auto &r : *routes)
		if (route_is_listed(r, ifindex))
			out.push_back(r.dst);
	return out;
}

Result<uint32_t> Rtnl::route_mtu_to(const SockAddr &dst)
{
	IpAddr a;
	a.family = dst.family();
	if (a.family == AF_INET)
		std::memcpy(a.bytes.data(),
		            &reinterpret_cast<const sockaddr_in *>(&dst.ss)->sin_addr, 4);
	else if (a.family == AF_INET6)
		std::memcpy(a.bytes.data(),
		            &reinterpret_cast<const sockaddr_in6 *>(&dst.ss)->sin6_addr, 16);
	else
		return uint32_t{0};
	char buf[kRtnlBufSize];
	build_getroute_to(buf, sock_.next_seq(), a);
	std::vector<RouteInfo> routes;
	auto st = sock_.request("look up the route to " + a.str(),
	                        reinterpret_cast<nlmsghdr *>(buf), route_cb, &routes);
	if (!st) {
		int e = sock_.last_errno();
		if (e == ENETUNREACH || e == EHOSTUNREACH || e == ENETDOWN)
			return uint32_t{0};
		return st.error();
	}
	if (routes.empty())
		return uint32_t{0};
	if (routes[0].mtu)
		return routes[0].mtu;
	auto link = get_link(routes[0].oif);
	if (!link)
		return link.error();
	return *link ? (*link)->mtu : 0;
}

Result<uint32_t> Rtnl::default_route_mtu()
{
	auto routes = dump_routes();
	if (!routes)
		return routes.error();
	// wg-quick looks at `ip route show default`, which is IPv4; IPv6 is the fallback
	// of a v6-only host.
	for (int family : {AF_INET, AF_INET6})
		for (auto &r : *routes) {
			if (r.dst.addr.family != family || r.dst.prefix_len != 0 ||
			    r.table != RT_TABLE_MAIN || r.type != RTN_UNICAST || r.oif == 0)
				continue;
			auto link = get_link(r.oif);
			if (!link)
				return link.error();
			if (*link)
				return (*link)->mtu;
		}
	return uint32_t{0};
}

} // namespace wgn
