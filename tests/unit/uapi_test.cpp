// The UAPI text protocol: what wgn writes, what it reads back (including errno= and
// malformed replies), and one exchange over a real unix socket with a fake daemon.
#include <catch2/catch.hpp>

#include "uapi.h"

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

using namespace wgn;

namespace {

Key uapi_key(uint8_t fill)
{
	Key k;
	k.fill(fill);
	return k;
}

const char *alice_priv = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";

} // namespace

TEST_CASE("uapi: format_set writes what xplatform describes")
{
	DeviceConfig cfg;
	cfg.private_key = SecretKey(uapi_key(0x11));
	cfg.listen_port = 51821;
	cfg.fwmark = 66;
	cfg.replace_peers = true;
	PeerConfig p;
	p.public_key = uapi_key(0xab);
	p.preshared_key = SecretKey(uapi_key(0x01));
	p.endpoint = parse_sockaddr("[2001:db8::1]:51820");
	p.persistent_keepalive = 25;
	p.replace_allowed_ips = true;
	p.allowed_ips = {*parse_prefix("10.0.0.0/24"), *parse_prefix("fd00::/64")};
	cfg.peers.push_back(p);
	PeerConfig gone;
	gone.public_key = uapi_key(0xcd);
	gone.remove = true;
	gone.endpoint = parse_sockaddr("192.0.2.9:1"); // ignored: the peer goes
	cfg.peers.push_back(gone);

	std::string s = format_set(cfg);
	CHECK(s == "set=1\n"
	           "private_key=" +
	                   std::string(64, '1') +
	                   "\n"
	                   "listen_port=51821\n"
	                   "fwmark=66\n"
	                   "replace_peers=true\n"
	                   "public_key=" +
	                   hex_encode(uapi_key(0xab)) +
	                   "\n"
	                   "preshared_key=" +
	                   hex_encode(uapi_key(0x01)) +
	                   "\n"
	                   "endpoint=[2001:db8::1]:51820\n"
	                   "persistent_keepalive_interval=25\n"
	                   "replace_allowed_ips=true\n"
	                   "allowed_ip=10.0.0.0/24\n"
	                   "allowed_ip=fd00::/64\n"
	                   "public_key=" +
	                   hex_encode(uapi_key(0xcd)) +
	                   "\n"
	                   "remove=true\n"
	                   "\n");

	// Nothing set: only the command and the blank line. keepalive 0 is said, to
	// turn it off.
	CHECK(format_set(DeviceConfig{}) == "set=1\n\n");
	DeviceConfig off;
	PeerConfig k;
	k.public_key = uapi_key(0xab);
	k.persistent_keepalive = 0;
	off.peers.push_back(k);
	CHECK(format_set(off) == "set=1\npublic_key=" + hex_encode(uapi_key(0xab)) +
	                                 "\npersistent_keepalive_interval=0\n\n");
}

TEST_CASE("uapi: parse_get reads a wireguard-go reply")
{
	std::string reply = std::string("private_key=") + alice_priv +
	                    "\n"
	                    "listen_port=51821\n"
	                    "fwmark=7\n"
	                    "public_key=" +
	                    hex_encode(uapi_key(0xab)) +
	                    "\n"
	                    "preshared_key=" +
	                    std::string(64, '0') +
	                    "\n"
	                    "protocol_version=1\n"
	                    "endpoint=192.0.2.1:51820\n"
	                    "last_handshake_time_sec=1700000000\n"
	                    "last_handshake_time_nsec=12\n"
	                    "tx_bytes=100\n"
	                    "rx_bytes=200\n"
	                    "persistent_keepalive_interval=25\n"
	                    "allowed_ip=10.0.0.0/24\n"
	                    "allowed_ip=fd00::/64\n"
	                    "public_key=" +
	                    hex_encode(uapi_key(0xcd)) +
	                    "\n"
	                    "preshared_key=" +
	                    hex_encode(uapi_key(0x01)) +
	                    "\n"
	                    "some_future_key=whatever\n"
	                    "errno=0\n"
	                    "\n";
	auto d = parse_get(reply);
	REQUIRE(d);
	CHECK(d->has_private_key);
	REQUIRE(d->private_key);
	CHECK(hex_encode(d->private_key->bytes()) == alice_priv);
	CHECK(d->listen_port == 51821);
	CHECK(d->fwmark == 7);
	REQUIRE(d->peers.size() == 2);
	const auto &a = d->peers[0];
	CHECK(a.public_key == uapi_key(0xab));
	CHECK_FALSE(a.preshared_key); // all zeroes: none
	REQUIRE(a.endpoint);
	CHECK(a.endpoint->str() == "192.0.2.1:51820");
	CHECK(a.last_handshake_sec == 1700000000);
	CHECK(a.tx_bytes == 100);
	CHECK(a.rx_bytes == 200);
	CHECK(a.persistent_keepalive == 25);
	CHECK(a.allowed_ips ==
	      std::vector<IpPrefix>{*parse_prefix("10.0.0.0/24"), *parse_prefix("fd00::/64")});
	REQUIRE(d->peers[1].preshared_key);
	CHECK(d->peers[1].preshared_key->bytes() == uapi_key(0x01));
	CHECK_FALSE(d->peers[1].endpoint);

	// A fresh device: no key, no peers.
	auto fresh = parse_get("listen_port=0\nerrno=0\n\n");
	REQUIRE(fresh);
	CHECK_FALSE(fresh->has_private_key);
	CHECK(fresh->peers.empty());
}

TEST_CASE("uapi: errno and malformed replies")
{
	CHECK(*parse_errno("errno=0\n\n") == 0);
	CHECK(*parse_errno("errno=22\n\n") == 22);
	CHECK_FALSE(parse_errno("\n"));          // no errno at all
	CHECK_FALSE(parse_errno("errno=x\n\n")); // not a number
	CHECK_FALSE(parse_errno("errno=0"));     // cut short
	CHECK_FALSE(parse_errno("garbage line\nerrno=0\n\n"));
	CHECK(parse_errno("errno=1\n\n").ok());

	auto refused = parse_get("errno=19\n\n");
	REQUIRE_FALSE(refused);
	CHECK(refused.error().code == Errc::os);
	CHECK(refused.error().message.find("errno 19") != std::string::npos);

	auto pk = std::string("public_key=") + std::string(64, 'a') + "\n";
	CHECK_FALSE(parse_get("listen_port=0\n\n"));                  // no errno
	CHECK_FALSE(parse_get("listen_port=70000\nerrno=0\n\n"));     // not a port
	CHECK_FALSE(parse_get("private_key=abc\nerrno=0\n\n"));       // short key
	CHECK_FALSE(parse_get(pk + "endpoint=nowhere\nerrno=0\n\n")); // not ip:port
	CHECK_FALSE(parse_get(pk + "allowed_ip=10.0.0.0/33\nerrno=0\n\n"));
	CHECK_FALSE(parse_get(pk + "allowed_ip=10.0.0.0\nerrno=0\n\n")); // needs /len
	CHECK_FALSE(parse_get(pk + "rx_bytes=-1\nerrno=0\n\n"));
	CHECK_FALSE(parse_get("=1\nerrno=0\n\n"));
	CHECK_FALSE(parse_get("errno=0\nlisten_port=1\n\n")); // errno is the last line
	auto bad = parse_get("listen_port=0\nno equals sign\nerrno=0\n\n");
	REQUIRE_FALSE(bad);
	CHECK(bad.error().message.find("line 2") != std::string::npos);
}

namespace {

// A fake daemon: answers one connection with `reply` and keeps what it was sent.
struct FakeDaemon {
	std::filesystem::path dir;
	int lfd = -1;
	std::string got;
	std::thread t;

	FakeDaemon(const std::string &ifname, std::string reply)
	{
		char tmpl[] = "/tmp/wgn-uapi-XXXXXX";
		dir = mkdtemp(tmpl);
		lfd = socket(AF_UNIX, SOCK_STREAM, 0);
		sockaddr_un sun{};
		sun.sun_family = AF_UNIX;
		auto path = uapi_socket_path(ifname, dir).string();
		path.copy(sun.sun_path, sizeof(sun.sun_path) - 1);
		REQUIRE(bind(lfd, reinterpret_cast<sockaddr *>(&sun), sizeof(sun)) == 0);
		REQUIRE(listen(lfd, 1) == 0);
		t = std::thread([this, reply] {
			int c = accept(lfd, nullptr, nullptr);
			char buf[4096];
			while (got.size() < 2 || got.substr(got.size() - 2) != "\n\n") {
				ssize_t n = read(c, buf, sizeof(buf));
				if (n <= 0)
					break;
				got.append(buf, static_cast<size_t>(n));
			}
			(void)!write(c, reply.data(), reply.size());
			close(c);
		});
	}
	~FakeDaemon()
	{
		if (t.joinable())
			t.join();
		close(lfd);
		std::filesystem::remove_all(dir);
	}
};

} // namespace

TEST_CASE("uapi: set and get over a socket")
{
	{
		FakeDaemon fake("wgt0", "errno=0\n\n");
		CHECK(uapi_socket_exists("wgt0", fake.dir));
		CHECK_FALSE(uapi_socket_exists("wgt1", fake.dir));
		DeviceConfig cfg;
		cfg.listen_port = 1234;
		UapiWireGuard wg(fake.dir);
		auto st = wg.set_device("wgt0", cfg);
		CHECK(st.ok());
		fake.t.join();
		CHECK(fake.got == "set=1\nlisten_port=1234\n\n");
	}
	{
		FakeDaemon fake("wgt0", "errno=22\n\n");
		DeviceConfig cfg;
		cfg.fwmark = 1;
		auto st = UapiWireGuard(fake.dir).set_device("wgt0", cfg);
		REQUIRE_FALSE(st);
		CHECK(st.error().code == Errc::os);
		CHECK(st.error().message.find("errno 22") != std::string::npos);
	}
	{
		FakeDaemon fake("wgt0", "listen_port=5\nerrno=0\n\n");
		auto d = UapiWireGuard(fake.dir).get_device("wgt0");
		REQUIRE(d);
		CHECK(d->listen_port == 5);
		CHECK(d->name == "wgt0");
		fake.t.join();
		CHECK(fake.got == "get=1\n\n");
	}
	// No daemon: a clear error, not a hang.
	auto none = UapiWireGuard("/nonexistent-wgn").get_device("wgt0");
	REQUIRE_FALSE(none);
	CHECK(none.error().message.find("no userspace WireGuard daemon") != std::string::npos);
}
