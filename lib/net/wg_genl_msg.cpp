// The WireGuard generic netlink messages: pure builders and the dump parser, tested
// byte for byte without the module.
#include "wg_genl.h"

#include <cerrno>
#include <cstring>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/time_types.h>
#include <linux/wireguard.h>

#include "nl_attr.h"

namespace wgn {

GenlMessages::~GenlMessages()
{
	for (auto &m : msgs)
		wipe(m.data(), m.size());
}

static nlmsghdr *put_genl_header(void *buf, size_t size, uint16_t type, uint8_t cmd,
                                 uint8_t version, uint16_t flags, uint32_t seq)
{
	std::memset(buf, 0, size);
	nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	nlh->nlmsg_seq = seq;
	auto *g = static_cast<genlmsghdr *>(mnl_nlmsg_put_extra_header(nlh, sizeof(genlmsghdr)));
	g->cmd = cmd;
	g->version = version;
	return nlh;
}

size_t build_getfamily(char *buf, uint32_t seq, const char *family_name)
{
	nlmsghdr *nlh = put_genl_header(buf, kGenlSmallBufSize, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1,
	                                NLM_F_REQUEST | NLM_F_ACK, seq);
	if (!mnl_attr_put_strz_check(nlh, kGenlSmallBufSize, CTRL_ATTR_FAMILY_NAME, family_name))
		return 0;
	return nlh->nlmsg_len;
}

static int family_attr(const nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) == CTRL_ATTR_FAMILY_ID && mnl_attr_validate(a, MNL_TYPE_U16) == 0)
		*static_cast<uint16_t *>(data) = mnl_attr_get_u16(a);
	return MNL_CB_OK;
}

uint16_t parse_family_id(const nlmsghdr *nlh)
{
	uint16_t id = 0;
	if (nlh->nlmsg_len >= mnl_nlmsg_size(sizeof(genlmsghdr)))
		parse_attrs(nlh, sizeof(genlmsghdr), family_attr, &id);
	return id;
}

size_t build_get_device(char *buf, uint32_t seq, uint16_t family, const std::string &ifname)
{
	nlmsghdr *nlh =
	        put_genl_header(buf, kGenlSmallBufSize, family, WG_CMD_GET_DEVICE, WG_GENL_VERSION,
	                        NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP, seq);
	if (!mnl_attr_put_strz_check(nlh, kGenlSmallBufSize, WGDEVICE_A_IFNAME, ifname.c_str()))
		return 0;
	return nlh->nlmsg_len;
}

namespace {

// The attributes of a peer that go only in the first message that carries it.
bool put_peer_settings(nlmsghdr *nlh, size_t cap, const PeerConfig &p)
{
	if (p.preshared_key && !mnl_attr_put_check(nlh, cap, WGPEER_A_PRESHARED_KEY, 32,
	                                           p.preshared_key->bytes().data()))
		return false;
	if (p.endpoint) {
		int fam = p.endpoint->family();
		size_t len = fam == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
		if ((fam == AF_INET || fam == AF_INET6) &&
		    !mnl_attr_put_check(nlh, cap, WGPEER_A_ENDPOINT, len, &p.endpoint->ss))
			return false;
	}
	if (p.persistent_keepalive &&
	    !mnl_attr_put_u16_check(nlh, cap, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL,
	                            *p.persistent_keepalive))
		return false;
	return true;
}

bool put_allowed_ip(nlmsghdr *nlh, size_t cap, const IpPrefix &ip)
{
	nlattr *nest = mnl_attr_nest_start_check(nlh, cap, 0);
	if (!nest)
		return false;
	if (!mnl_attr_put_u16_check(nlh, cap, WGALLOWEDIP_A_FAMILY,
	                            static_cast<uint16_t>(ip.addr.family)) ||
	    !mnl_attr_put_check(nlh, cap, WGALLOWEDIP_A_IPADDR, ip.addr.size(),
	                        ip.addr.bytes.data()) ||
	    !mnl_attr_put_u8_check(nlh, cap, WGALLOWEDIP_A_CIDR_MASK, ip.prefix_len)) {
		mnl_attr_nest_cancel(nlh, nest);
		return false;
	}
	mnl_attr_nest_end(nlh, nest);
	return true;
}

} // namespace

// As kernel_set_device() in wireguard-tools' ipc-linux.h: fill a message until an
// attribute does not fit, send it, and carry on in the next one from the peer (or the
// allowed IP) that did not fit. A continued peer repeats only its public key (and
// remove flag), so the kernel appends its further allowed IPs instead of replacing them.
Result<GenlMessages> build_set_device(uint16_t family, uint32_t seq, const std::string &ifname,
                                      const DeviceConfig &cfg, size_t buf_size)
{
	// Not even the headers fit: put_genl_header would write past the buffer.
	if (buf_size < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(genlmsghdr)))
		return make_error(Errc::software, "a WireGuard netlink message of " +
		                                          std::to_string(buf_size) +
		                                          " bytes cannot hold its headers");
	GenlMessages out;
	size_t peer = 0, aip = 0;
	bool continuing = false; // cfg.peers[peer] was begun in an earlier message
	bool first = true, done;
	do {
		std::vector<uint8_t> buf(buf_size);
		nlmsghdr *nlh = put_genl_header(buf.data(), buf_size, family, WG_CMD_SET_DEVICE,
		                                WG_GENL_VERSION, NLM_F_REQUEST | NLM_F_ACK, seq++);
		const size_t was_peer = peer, was_aip = aip;
		const bool was_continuing = continuing;
		bool fits =
		        mnl_attr_put_strz_check(nlh, buf_size, WGDEVICE_A_IFNAME, ifname.c_str());
		if (fits && first) {
			if (cfg.private_key)
				fits = mnl_attr_put_check(nlh, buf_size, WGDEVICE_A_PRIVATE_KEY, 32,
				                          cfg.private_key->bytes().data());
			if (fits && cfg.listen_port)
				fits = mnl_attr_put_u16_check(nlh, buf_size, WGDEVICE_A_LISTEN_PORT,
				                              *cfg.listen_port);
			if (fits && cfg.fwmark)
				fits = mnl_attr_put_u32_check(nlh, buf_size, WGDEVICE_A_FWMARK,
				                              *cfg.fwmark);
			if (fits && cfg.replace_peers)
				fits = mnl_attr_put_u32_check(nlh, buf_size, WGDEVICE_A_FLAGS,
				                              WGDEVICE_F_REPLACE_PEERS);
		}
		if (!fits)
			return make_error(Errc::software, "a WireGuard netlink message of " +
			                                          std::to_string(buf_size) +
			                                          " bytes cannot hold the device");
		done = true;
		nlattr *peers = cfg.peers.empty() ? nullptr
		                                  : mnl_attr_nest_start_check(nlh, buf_size,
		                                                              WGDEVICE_A_PEERS);
		if (!cfg.peers.empty() && !peers)
			done = false;
		for (; peers && peer < cfg.peers.size(); ++peer) {
			const PeerConfig &p = cfg.peers[peer];
			nlattr *pn = mnl_attr_nest_start_check(nlh, buf_size, 0);
			uint32_t flags = p.remove ? WGPEER_F_REMOVE_ME : 0;
			if (!continuing && p.replace_allowed_ips)
				flags |= WGPEER_F_REPLACE_ALLOWEDIPS;
			bool ok = pn && mnl_attr_put_check(nlh, buf_size, WGPEER_A_PUBLIC_KEY, 32,
			                                   p.public_key.data());
			if (ok && !continuing)
				ok = put_peer_settings(nlh, buf_size, p);
			if (ok && flags)
				ok = mnl_attr_put_u32_check(nlh, buf_size, WGPEER_A_FLAGS, flags);
			if (!ok) {
				if (pn)
					mnl_attr_nest_cancel(nlh, pn);
				done = false;
				break;
			}
			if (!p.allowed_ips.empty()) {
				continuing = true;
				nlattr *ips = mnl_attr_nest_start_check(nlh, buf_size,
				                                        WGPEER_A_ALLOWEDIPS);
				while (ips && aip < p.allowed_ips.size() &&
				       put_allowed_ip(nlh, buf_size, p.allowed_ips[aip]))
					++aip;
				if (ips)
					mnl_attr_nest_end(nlh, ips);
				if (aip < p.allowed_ips.size()) {
					mnl_attr_nest_end(nlh, pn);
					done = false;
					break;
				}
			}
			mnl_attr_nest_end(nlh, pn);
			continuing = false;
			aip = 0;
		}
		if (peers)
			mnl_attr_nest_end(nlh, peers);
		// A cancelled nest leaves its bytes (a preshared key, say) past the end.
		wipe(buf.data() + nlh->nlmsg_len, buf.size() - nlh->nlmsg_len);
		buf.resize(nlh->nlmsg_len);
		out.msgs.push_back(std::move(buf));
		if (!done && !first && peer == was_peer && aip == was_aip &&
		    continuing == was_continuing)
			return make_error(Errc::software, "a WireGuard netlink message of " +
			                                          std::to_string(buf_size) +
			                                          " bytes cannot hold one peer");
		first = false;
	} while (!done);
	return out;
}

// --- the dump reply ---------------------------------------------------------------

namespace {

struct Attrs {
	const nlattr *tb[16] = {};
};

int collect(const nlattr *a, void *data)
{
	unsigned t = mnl_attr_get_type(a);
	if (t < 16)
		static_cast<Attrs *>(data)->tb[t] = a;
	return MNL_CB_OK;
}

bool get_key(const nlattr *a, Key *k)
{
	if (!a || mnl_attr_get_payload_len(a) != k->size())
		return false;
	std::memcpy(k->data(), mnl_attr_get_payload(a), k->size());
	return true;
}

bool is_zero(const Key &k)
{
	uint8_t acc = 0;
	for (auto b : k)
		acc |= b;
	return acc == 0;
}

struct PeerParse {
	std::vector<IpPrefix> *out;
	bool bad = false;
};

int allowed_ip_cb(const nlattr *nest, void *data)
{
	auto *pp = static_cast<PeerParse *>(data);
	Attrs t;
	if (mnl_attr_parse_nested(nest, collect, &t) < 0 || !t.tb[WGALLOWEDIP_A_FAMILY] ||
	    !t.tb[WGALLOWEDIP_A_IPADDR] || !t.tb[WGALLOWEDIP_A_CIDR_MASK] ||
	    mnl_attr_validate(t.tb[WGALLOWEDIP_A_FAMILY], MNL_TYPE_U16) < 0 ||
	    mnl_attr_validate(t.tb[WGALLOWEDIP_A_CIDR_MASK], MNL_TYPE_U8) < 0) {
		pp->bad = true;
		return MNL_CB_OK;
	}
	IpPrefix p;
	p.addr.family = mnl_attr_get_u16(t.tb[WGALLOWEDIP_A_FAMILY]);
	p.prefix_len = mnl_attr_get_u8(t.tb[WGALLOWEDIP_A_CIDR_MASK]);
	if ((p.addr.family != AF_INET && p.addr.family != AF_INET6) ||
	    mnl_attr_get_payload_len(t.tb[WGALLOWEDIP_A_IPADDR]) != p.addr.size() ||
	    p.prefix_len > p.addr.size() * 8) {
		pp->bad = true;
		return MNL_CB_OK;
	}
	std::memcpy(p.addr.bytes.data(), mnl_attr_get_payload(t.tb[WGALLOWEDIP_A_IPADDR]),
	            p.addr.size());
	pp->out->push_back(p);
	return MNL_CB_OK;
}

bool parse_peer(const nlattr *nest, PeerState *peer)
{
	Attrs t;
	if (mnl_attr_parse_nested(nest, collect, &t) < 0 ||
	    !get_key(t.tb[WGPEER_A_PUBLIC_KEY], &peer->public_key))
		return false;
	Key psk{};
	if (get_key(t.tb[WGPEER_A_PRESHARED_KEY], &psk) && !is_zero(psk))
		peer->preshared_key = SecretKey(psk);
	wipe(psk.data(), psk.size());
	if (const nlattr *a = t.tb[WGPEER_A_ENDPOINT]) {
		size_t len = mnl_attr_get_payload_len(a);
		auto *sa = static_cast<const sockaddr *>(mnl_attr_get_payload(a));
		if ((len == sizeof(sockaddr_in) && sa->sa_family == AF_INET) ||
		    (len == sizeof(sockaddr_in6) && sa->sa_family == AF_INET6)) {
			SockAddr ep;
			std::memcpy(&ep.ss, sa, len);
			ep.len = static_cast<socklen_t>(len);
			peer->endpoint = ep;
		}
	}
	if (const nlattr *a = t.tb[WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL];
	    a && mnl_attr_validate(a, MNL_TYPE_U16) == 0)
		peer->persistent_keepalive = mnl_attr_get_u16(a);
	if (const nlattr *a = t.tb[WGPEER_A_LAST_HANDSHAKE_TIME];
	    a && mnl_attr_get_payload_len(a) == sizeof(__kernel_timespec)) {
		__kernel_timespec ts;
		std::memcpy(&ts, mnl_attr_get_payload(a), sizeof(ts));
		peer->last_handshake_sec = ts.tv_sec;
	}
	if (const nlattr *a = t.tb[WGPEER_A_RX_BYTES]; a && mnl_attr_validate(a, MNL_TYPE_U64) == 0)
		peer->rx_bytes = mnl_attr_get_u64(a);
	if (const nlattr *a = t.tb[WGPEER_A_TX_BYTES]; a && mnl_attr_validate(a, MNL_TYPE_U64) == 0)
		peer->tx_bytes = mnl_attr_get_u64(a);
	if (const nlattr *a = t.tb[WGPEER_A_ALLOWEDIPS]) {
		PeerParse pp{&peer->allowed_ips};
		if (mnl_attr_parse_nested(a, allowed_ip_cb, &pp) < 0 || pp.bad)
			return false;
	}
	return true;
}

struct DeviceParse {
	DeviceState *state;
	bool bad = false;
};

int peer_cb(const nlattr *nest, void *data)
{
	auto *dp = static_cast<DeviceParse *>(data);
	PeerState p;
	if (!parse_peer(nest, &p)) {
		dp->bad = true;
		return MNL_CB_OK;
	}
	auto &peers = dp->state->peers;
	// The kernel continues a peer whose allowed IPs overflowed one message in the
	// next, with only its public key and the rest of its allowed IPs.
	if (!peers.empty() && peers.back().public_key == p.public_key)
		peers.back().allowed_ips.insert(peers.back().allowed_ips.end(),
		                                p.allowed_ips.begin(), p.allowed_ips.end());
	else
		peers.push_back(std::move(p));
	return MNL_CB_OK;
}

} // namespace

Status parse_device_part(const nlmsghdr *nlh, DeviceState &state)
{
	const Error bad = make_error(Errc::os, "the kernel's WireGuard reply is malformed");
	Attrs t;
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(genlmsghdr)) ||
	    parse_attrs(nlh, sizeof(genlmsghdr), collect, &t) < 0)
		return bad;
	if (const nlattr *a = t.tb[WGDEVICE_A_IFNAME];
	    a && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
		state.name = attr_string(a);
	Key k{};
	if (get_key(t.tb[WGDEVICE_A_PRIVATE_KEY], &k)) {
		state.has_private_key = !is_zero(k);
		if (state.has_private_key)
			state.private_key = SecretKey(k);
	}
	wipe(k.data(), k.size());
	if (const nlattr *a = t.tb[WGDEVICE_A_LISTEN_PORT];
	    a && mnl_attr_validate(a, MNL_TYPE_U16) == 0)
		state.listen_port = mnl_attr_get_u16(a);
	if (const nlattr *a = t.tb[WGDEVICE_A_FWMARK]; a && mnl_attr_validate(a, MNL_TYPE_U32) == 0)
		state.fwmark = mnl_attr_get_u32(a);
	if (const nlattr *a = t.tb[WGDEVICE_A_PEERS]) {
		DeviceParse dp{&state};
		if (mnl_attr_parse_nested(a, peer_cb, &dp) < 0 || dp.bad)
			return bad;
	}
	return Ok{};
}

} // namespace wgn
