// The WireGuard generic netlink messages byte for byte, the split of big updates across
// messages, and the merge of multi-part dumps. The kernel here has no WireGuard, so
// this is the layer that can be tested without it.
#include <catch2/catch.hpp>

#include "nl_bytes.h"
#include "wg_genl.h"

#include <libmnl/libmnl.h>

using namespace wgn;
using nltest::Bytes;
using nltest::message;
using nltest::view;

namespace {

const uint16_t kFamily = 0x1b; // what CTRL_CMD_GETFAMILY would have said

Bytes genl(uint8_t cmd, uint8_t version) { return Bytes().u8(cmd).u8(version).u16(0); }

Key genl_key(uint8_t fill)
{
	Key k;
	k.fill(fill);
	return k;
}

Bytes key_bytes(uint8_t fill)
{
	return Bytes().raw(genl_key(fill).data(), 32);
}

const nlmsghdr *hdr(const Bytes &m) { return reinterpret_cast<const nlmsghdr *>(m.b.data()); }
const nlmsghdr *hdr(const std::vector<uint8_t> &m)
{
	return reinterpret_cast<const nlmsghdr *>(m.data());
}

// What one set message says about each peer it carries, read back with libmnl.
struct PeerSeen {
	uint8_t key0;
	uint32_t flags = 0;
	bool psk = false, endpoint = false;
	size_t ips = 0;
};

int push_attr(const nlattr *a, void *data)
{
	static_cast<std::vector<const nlattr *> *>(data)->push_back(a);
	return MNL_CB_OK;
}

std::vector<const nlattr *> children(const nlattr *nest)
{
	std::vector<const nlattr *> out;
	mnl_attr_parse_nested(nest, push_attr, &out);
	return out;
}

std::vector<PeerSeen> peers_in(const std::vector<uint8_t> &m)
{
	std::vector<PeerSeen> out;
	std::vector<const nlattr *> top;
	mnl_attr_parse(hdr(m), 4, push_attr, &top);
	for (const nlattr *a : top) {
		if (mnl_attr_get_type(a) != 8) // WGDEVICE_A_PEERS
			continue;
		for (const nlattr *p : children(a)) {
			PeerSeen s{};
			for (const nlattr *f : children(p)) {
				switch (mnl_attr_get_type(f)) {
				case 1:
					s.key0 = static_cast<const uint8_t *>(
					    mnl_attr_get_payload(f))[0];
					break;
				case 2:
					s.psk = true;
					break;
				case 3:
					s.flags = mnl_attr_get_u32(f);
					break;
				case 4:
					s.endpoint = true;
					break;
				case 9:
					s.ips += children(f).size();
					break;
				}
			}
			out.push_back(s);
		}
	}
	return out;
}

} // namespace

TEST_CASE("genl: resolving the wireguard family")
{
	char buf[256];
	// GENL_ID_CTRL (0x10), REQUEST|ACK, CTRL_CMD_GETFAMILY (3) v1, CTRL_ATTR_FAMILY_NAME (2)
	size_t n = build_getfamily(buf, 9, "wireguard");
	CHECK(view(buf, n) == message(0x10, 0x5, 9, genl(3, 1).attr_str(2, "wireguard")).b);

	// CTRL_CMD_NEWFAMILY (1) with CTRL_ATTR_FAMILY_ID (1) among other attributes.
	auto reply = message(0x10, 0, 9,
			     genl(1, 2).attr_u16(1, 0x1b).attr_str(2, "wireguard").attr_u32(3, 1));
	CHECK(parse_family_id(hdr(reply)) == 0x1b);
	CHECK(parse_family_id(hdr(message(0x10, 0, 9, genl(1, 2).attr_str(2, "x")))) == 0);
}

TEST_CASE("genl: get device is a dump by name")
{
	char buf[256];
	// WG_CMD_GET_DEVICE (0) v1, REQUEST|ACK|DUMP (0x305), WGDEVICE_A_IFNAME (2)
	size_t n = build_get_device(buf, 4, kFamily, "wg0");
	CHECK(view(buf, n) == message(kFamily, 0x305, 4, genl(0, 1).attr_str(2, "wg0")).b);
}

TEST_CASE("genl: set device byte for byte")
{
	DeviceConfig cfg;
	cfg.private_key = SecretKey(genl_key(0x11));
	cfg.listen_port = 51821;
	cfg.fwmark = 0x42;
	cfg.replace_peers = true;
	PeerConfig p;
	p.public_key = genl_key(0x22);
	p.preshared_key = SecretKey(genl_key(0x33));
	p.endpoint = parse_sockaddr("192.0.2.1:51820");
	p.persistent_keepalive = 25;
	p.replace_allowed_ips = true;
	p.allowed_ips = {*parse_prefix("10.0.0.0/24"), *parse_prefix("fd00::/64")};
	cfg.peers.push_back(p);
	PeerConfig gone;
	gone.public_key = genl_key(0x44);
	gone.remove = true;
	cfg.peers.push_back(gone);

	auto msgs = build_set_device(kFamily, 100, "wg0", cfg);
	REQUIRE(msgs);
	REQUIRE(msgs->msgs.size() == 1);

	// sockaddr_in: family 2 (host order), port 51820 (0xca6c, network order), address,
	// eight zero bytes.
	Bytes sin = Bytes().u16(2).u8(0xca).u8(0x6c).u8(192).u8(0).u8(2).u8(1).u64(0);
	Bytes ip4 = Bytes().attr_u16(1, 2).attr(2, Bytes().u8(10).u8(0).u8(0).u8(0)).attr_u8(3, 24);
	Bytes ip6 = Bytes()
			.attr_u16(1, 10)
			.attr(2, Bytes().raw(parse_ip("fd00::")->bytes.data(), 16))
			.attr_u8(3, 64);
	Bytes peer1 = Bytes()
			  .attr(1, key_bytes(0x22)) // WGPEER_A_PUBLIC_KEY
			  .attr(2, key_bytes(0x33)) // WGPEER_A_PRESHARED_KEY
			  .attr(4, sin)             // WGPEER_A_ENDPOINT
			  .attr_u16(5, 25)          // WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL
			  .attr_u32(3, 2)           // WGPEER_A_FLAGS: REPLACE_ALLOWEDIPS
			  .nest(9, Bytes().nest(0, ip4).nest(0, ip6)); // WGPEER_A_ALLOWEDIPS
	Bytes peer2 = Bytes().attr(1, key_bytes(0x44)).attr_u32(3, 1); // REMOVE_ME
	Bytes body = genl(1, 1)                                        // WG_CMD_SET_DEVICE
			 .attr_str(2, "wg0")
			 .attr(3, key_bytes(0x11)) // WGDEVICE_A_PRIVATE_KEY
			 .attr_u16(6, 51821)       // WGDEVICE_A_LISTEN_PORT
			 .attr_u32(7, 0x42)        // WGDEVICE_A_FWMARK
			 .attr_u32(5, 1)           // WGDEVICE_A_FLAGS: REPLACE_PEERS
			 .nest(8, Bytes().nest(0, peer1).nest(0, peer2));
	CHECK(msgs->msgs[0] == message(kFamily, 0x5, 100, body).b);
}

TEST_CASE("genl: an empty update names the device only")
{
	auto msgs = build_set_device(kFamily, 1, "wg0", DeviceConfig{});
	REQUIRE(msgs);
	REQUIRE(msgs->msgs.size() == 1);
	CHECK(msgs->msgs[0] == message(kFamily, 0x5, 1, genl(1, 1).attr_str(2, "wg0")).b);
}

TEST_CASE("genl: many allowed IPs continue the peer in later messages")
{
	DeviceConfig cfg;
	cfg.private_key = SecretKey(genl_key(1));
	PeerConfig p;
	p.public_key = genl_key(0x22);
	p.preshared_key = SecretKey(genl_key(0x33));
	p.endpoint = parse_sockaddr("[2001:db8::1]:51820");
	p.replace_allowed_ips = true;
	for (int i = 0; i < 1000; ++i) {
		IpPrefix ip = *parse_prefix("fd00::/128");
		ip.addr.bytes[14] = static_cast<uint8_t>(i >> 8);
		ip.addr.bytes[15] = static_cast<uint8_t>(i);
		p.allowed_ips.push_back(ip);
	}
	cfg.peers.push_back(p);
	PeerConfig q;
	q.public_key = genl_key(0x55);
	q.allowed_ips = {*parse_prefix("10.9.0.0/16")};
	cfg.peers.push_back(q);

	auto msgs = build_set_device(kFamily, 10, "wg0", cfg);
	REQUIRE(msgs);
	REQUIRE(msgs->msgs.size() > 1);
	size_t ips = 0;
	for (size_t i = 0; i < msgs->msgs.size(); ++i) {
		const auto &m = msgs->msgs[i];
		CHECK(m.size() <= kGenlBufSize);
		CHECK(hdr(m)->nlmsg_seq == 10 + i);
		auto seen = peers_in(m);
		REQUIRE(!seen.empty());
		CHECK(seen[0].key0 == 0x22);
		// Only the first message replaces; the rest must append, or they would
		// throw away what the first one set.
		CHECK(seen[0].flags == (i == 0 ? 2u : 0u));
		CHECK(seen[0].psk == (i == 0));
		CHECK(seen[0].endpoint == (i == 0));
		ips += seen[0].ips;
	}
	CHECK(ips == 1000);

	// Read back as the kernel's dump parts would be: one peer, in order, then q.
	DeviceState st;
	for (auto &m : msgs->msgs)
		REQUIRE(parse_device_part(hdr(m), st).ok());
	REQUIRE(st.peers.size() == 2);
	CHECK(st.peers[0].allowed_ips == p.allowed_ips);
	CHECK(st.peers[1].public_key == genl_key(0x55));
	CHECK(st.peers[1].allowed_ips == q.allowed_ips);
	CHECK(st.has_private_key);
}

TEST_CASE("genl: many peers split between peers")
{
	DeviceConfig cfg;
	for (int i = 0; i < 300; ++i) {
		PeerConfig p;
		p.public_key = genl_key(static_cast<uint8_t>(i));
		p.public_key[1] = static_cast<uint8_t>(i >> 8);
		p.preshared_key = SecretKey(genl_key(0x77));
		p.allowed_ips = {*parse_prefix("10.0.0.1/32")};
		p.allowed_ips[0].addr.bytes[3] = static_cast<uint8_t>(i);
		cfg.peers.push_back(p);
	}
	auto msgs = build_set_device(kFamily, 1, "wg0", cfg, 2048);
	REQUIRE(msgs);
	CHECK(msgs->msgs.size() > 5);
	DeviceState st;
	for (auto &m : msgs->msgs) {
		CHECK(m.size() <= 2048);
		REQUIRE(parse_device_part(hdr(m), st).ok());
	}
	REQUIRE(st.peers.size() == 300);
	for (int i = 0; i < 300; ++i) {
		CHECK(st.peers[i].public_key == cfg.peers[i].public_key);
		CHECK(st.peers[i].allowed_ips == cfg.peers[i].allowed_ips);
		CHECK(st.peers[i].preshared_key);
	}
}

TEST_CASE("genl: a buffer too small for one peer is an error, not a loop")
{
	DeviceConfig cfg;
	PeerConfig p;
	p.public_key = genl_key(1);
	cfg.peers.push_back(p);
	auto msgs = build_set_device(kFamily, 1, "wg0", cfg, 48);
	REQUIRE_FALSE(msgs);
	CHECK(msgs.error().code == Errc::software);
	CHECK_FALSE(build_set_device(kFamily, 1, "wg0", cfg, 16));
}

TEST_CASE("genl: a multi-part dump merges into one device")
{
	// __kernel_timespec {tv_sec, tv_nsec}, both 64-bit.
	Bytes ts = Bytes().u64(1700000000).u64(5);
	Bytes sin6 = Bytes().u16(10).u8(0xca).u8(0x6c).u32(0);
	sin6.raw(parse_ip("2001:db8::1")->bytes.data(), 16).u32(0);
	auto aip = [](const char *s) {
		auto p = *parse_prefix(s);
		return Bytes()
		    .attr_u16(1, static_cast<uint16_t>(p.addr.family))
		    .attr(2, Bytes().raw(p.addr.bytes.data(), p.addr.size()))
		    .attr_u8(3, p.prefix_len);
	};
	Bytes a = Bytes()
		      .attr(1, key_bytes(0xa1))
		      .attr(2, key_bytes(0)) // no preshared key: zeros
		      .attr(6, ts)
		      .attr_u64(7, 1234)
		      .attr_u64(8, 5678)
		      .attr_u16(5, 25)
		      .attr(4, sin6)
		      .nest(9, Bytes().nest(0, aip("10.0.0.0/24")))
		      .attr_u32(10, 1);
	Bytes b1 = Bytes()
		       .attr(1, key_bytes(0xb2))
		       .attr(2, key_bytes(0x99))
		       .nest(9, Bytes().nest(0, aip("10.1.0.0/16")).nest(0, aip("fd01::/64")));
	Bytes part1 = genl(0, 1)
			  .attr_u32(1, 7)
			  .attr_str(2, "wg0")
			  .attr(3, key_bytes(0x11))
			  .attr(4, key_bytes(0x12))
			  .attr_u16(6, 51821)
			  .attr_u32(7, 3)
			  .nest(8, Bytes().nest(0, a).nest(0, b1));
	// The kernel continues b: its key and the rest of its allowed IPs, then c.
	Bytes b2 = Bytes().attr(1, key_bytes(0xb2)).nest(9, Bytes().nest(0, aip("10.2.0.0/16")));
	Bytes c = Bytes().attr(1, key_bytes(0xc3));
	Bytes part2 =
	    genl(0, 1).attr_u32(1, 7).attr_str(2, "wg0").nest(8, Bytes().nest(0, b2).nest(0, c));

	DeviceState st;
	REQUIRE(parse_device_part(hdr(message(kFamily, 2, 1, part1)), st).ok());
	REQUIRE(parse_device_part(hdr(message(kFamily, 2, 1, part2)), st).ok());
	CHECK(st.name == "wg0");
	CHECK(st.has_private_key);
	REQUIRE(st.private_key);
	CHECK(st.private_key->bytes() == genl_key(0x11));
	CHECK(st.listen_port == 51821);
	CHECK(st.fwmark == 3);
	REQUIRE(st.peers.size() == 3);
	const auto &pa = st.peers[0];
	CHECK(pa.public_key == genl_key(0xa1));
	CHECK_FALSE(pa.preshared_key);
	CHECK(pa.last_handshake_sec == 1700000000);
	CHECK(pa.rx_bytes == 1234);
	CHECK(pa.tx_bytes == 5678);
	CHECK(pa.persistent_keepalive == 25);
	REQUIRE(pa.endpoint);
	CHECK(pa.endpoint->str() == "[2001:db8::1]:51820");
	CHECK(pa.allowed_ips == std::vector<IpPrefix>{*parse_prefix("10.0.0.0/24")});
	const auto &pb = st.peers[1];
	REQUIRE(pb.preshared_key);
	CHECK(pb.preshared_key->bytes() == genl_key(0x99));
	CHECK(pb.allowed_ips == std::vector<IpPrefix>{*parse_prefix("10.1.0.0/16"),
						      *parse_prefix("fd01::/64"),
						      *parse_prefix("10.2.0.0/16")});
	CHECK(st.peers[2].public_key == genl_key(0xc3));
	CHECK(st.peers[2].last_handshake_sec == 0);
}

TEST_CASE("genl: malformed dumps are refused")
{
	DeviceState st;
	// A peer without a public key.
	Bytes nokey = genl(0, 1).nest(8, Bytes().nest(0, Bytes().attr_u64(7, 1)));
	CHECK_FALSE(parse_device_part(hdr(message(kFamily, 2, 1, nokey)), st));
	// An allowed IP of family 2 with 16 address bytes.
	Bytes badip = Bytes()
			  .attr_u16(1, 2)
			  .attr(2, Bytes().raw(parse_ip("fd00::")->bytes.data(), 16))
			  .attr_u8(3, 24);
	Bytes peer = Bytes().attr(1, key_bytes(1)).nest(9, Bytes().nest(0, badip));
	auto err = parse_device_part(
	    hdr(message(kFamily, 2, 1, genl(0, 1).nest(8, Bytes().nest(0, peer)))), st);
	REQUIRE_FALSE(err);
	CHECK(err.error().code == Errc::os);
	// A prefix longer than the address.
	Bytes longp = Bytes().attr_u16(1, 2).attr(2, Bytes().u32(0)).attr_u8(3, 33);
	peer = Bytes().attr(1, key_bytes(1)).nest(9, Bytes().nest(0, longp));
	CHECK_FALSE(parse_device_part(
	    hdr(message(kFamily, 2, 1, genl(0, 1).nest(8, Bytes().nest(0, peer)))), st));
}

TEST_CASE("genl: kernel_has_wireguard answers without privilege")
{
	// This kernel may or may not have the module: the call must simply not fail or
	// hang, and agree with /sys/module when that says yes.
	bool has = GenlWireGuard::kernel_has_wireguard();
	std::error_code ec;
	if (std::filesystem::exists("/sys/module/wireguard", ec))
		CHECK(has);
	SUCCEED("kernel_has_wireguard() = " << has);
}
