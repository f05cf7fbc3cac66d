#include <catch2/catch.hpp>

#include <algorithm>

#include "plan.h"
#include "test_util.h"

using wgn::test::kPriv;

using namespace wgn;

namespace {

Config test_config() {
	Config c;
	c.interface.name = "wg0";
	c.interface.private_key = SecretKey(*base64_decode(kPriv));
	c.interface.public_key = public_key_of(c.interface.private_key);
	c.interface.addresses = {*parse_prefix("10.0.0.10/24")};
	c.interface.listen_port = 51821;
	c.hub.public_key = *base64_decode("3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=");
	c.hub.endpoint = Endpoint{"192.0.2.1", 51820};
	c.hub.allowed_ips = {*parse_prefix("10.0.0.0/24"), *parse_prefix("10.1.0.0/16")};
	c.hub.persistent_keepalive = 25;
	c.hub.tunnel_address = parse_ip("10.0.0.1");
	return c;
}

PlanContext test_context() {
	PlanContext ctx;
	ctx.endpoint = parse_sockaddr("192.0.2.1:51820");
	ctx.default_mtu = 1420;
	return ctx;
}

// What a device configured exactly as test_config() reports.
LinkObservation converged(const Config &c) {
	LinkObservation o;
	o.exists = o.is_wireguard = o.up = true;
	o.mtu = 1420;
	o.addresses = c.interface.addresses;
	o.routes = {*parse_prefix("10.1.0.0/16")};
	DeviceState d;
	d.name = "wg0";
	d.has_private_key = true;
	d.private_key = c.interface.private_key;
	d.listen_port = 51821;
	PeerState p;
	p.public_key = c.hub.public_key;
	p.endpoint = parse_sockaddr("192.0.2.1:51820");
	p.persistent_keepalive = 25;
	p.allowed_ips = c.hub.allowed_ips;
	d.peers.push_back(p);
	o.device = d;
	return o;
}

std::vector<OpKind> kinds(const std::vector<Operation> &ops) {
	std::vector<OpKind> k;
	for (auto &o : ops)
		k.push_back(o.kind);
	return k;
}

} // namespace

TEST_CASE("a fresh kernel tunnel: link, device, addresses, MTU, up, routes, verify") {
	auto cfg = test_config();
	auto ops = plan_up(cfg, LinkObservation{}, test_context());
	CHECK(kinds(ops) == std::vector<OpKind>{OpKind::create_link, OpKind::set_device,
	                                        OpKind::add_address, OpKind::set_mtu,
	                                        OpKind::link_up, OpKind::add_route,
	                                        OpKind::verify});
	auto text = format_plan(ops);
	CHECK(text == "[#] ip link add wg0 type wireguard\n"
	              "[#] wg set wg0 private-key (hidden) listen-port 51821 peer "
	              "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08= endpoint 192.0.2.1:51820 "
	              "persistent-keepalive 25 allowed-ips 10.0.0.0/24,10.1.0.0/16\n"
	              "[#] ip -4 address add 10.0.0.10/24 dev wg0\n"
	              "[#] ip link set mtu 1420 dev wg0\n"
	              "[#] ip link set up dev wg0\n"
	              "[#] ip -4 route add 10.1.0.0/16 dev wg0\n"
	              "[#] ping -c 1 -W 5.0 -I wg0 10.0.0.1\n");
	CHECK(text.find(kPriv) == std::string::npos);
	// The device operation carries the real key for the data plane to send.
	REQUIRE(ops[1].device.private_key);
	CHECK(base64_encode(ops[1].device.private_key->bytes()) == kPriv);
}

TEST_CASE("the userspace backend starts its daemon instead of adding a link") {
	auto ctx = test_context();
	ctx.userspace = true;
	auto ops = plan_up(test_config(), LinkObservation{}, ctx);
	REQUIRE(ops.front().kind == OpKind::start_daemon);
	CHECK(ops.front().text == "wireguard-go wg0");
}

TEST_CASE("MTU: the configured one wins over the computed default") {
	auto cfg = test_config();
	auto ctx = test_context();
	ctx.default_mtu = 1372;
	auto ops = plan_up(cfg, LinkObservation{}, ctx);
	auto mtu =
	    std::find_if(ops.begin(), ops.end(), [](auto &o) { return o.kind == OpKind::set_mtu; });
	CHECK(mtu->mtu == 1372);
	cfg.interface.mtu = 1280;
	ops = plan_up(cfg, LinkObservation{}, ctx);
	mtu =
	    std::find_if(ops.begin(), ops.end(), [](auto &o) { return o.kind == OpKind::set_mtu; });
	CHECK(mtu->mtu == 1280);
}

TEST_CASE("already up with the same config: nothing to do") {
	auto cfg = test_config();
	auto ops = plan_up(cfg, converged(cfg), test_context());
	CHECK(ops.empty());
	CHECK(plan_is_noop(ops));
}

TEST_CASE("reconcile adds an IPv6 address without touching the rest") {
	auto cfg = test_config();
	auto obs = converged(cfg);
	cfg.interface.addresses.push_back(*parse_prefix("fd00::10/64"));
	auto ops = plan_up(cfg, obs, test_context());
	CHECK(kinds(ops) == std::vector<OpKind>{OpKind::add_address, OpKind::verify});
	CHECK(ops[0].text == "ip -6 address add fd00::10/64 dev wg0");
	CHECK_FALSE(plan_is_noop(ops));
}

TEST_CASE("reconcile removes what the config no longer has") {
	auto cfg = test_config();
	auto obs = converged(cfg);
	obs.addresses.push_back(*parse_prefix("10.9.9.9/32"));
	obs.routes.push_back(*parse_prefix("10.2.0.0/16"));
	PeerState stranger;
	stranger.public_key[0] = 1;
	obs.device->peers.push_back(stranger);
	auto ops = plan_up(cfg, obs, test_context());
	CHECK(kinds(ops) == std::vector<OpKind>{OpKind::set_device, OpKind::del_address,
	                                        OpKind::del_route, OpKind::verify});
	CHECK(ops[0].device.peers.size() == 1);
	CHECK(ops[0].device.peers[0].remove);
	CHECK_FALSE(ops[0].device.private_key); // unchanged keys are not sent again
	CHECK(ops[1].prefix->str() == "10.9.9.9/32");
	CHECK(ops[2].prefix->str() == "10.2.0.0/16");
}

TEST_CASE("reconcile of the peer: allowed IPs, keepalive, endpoint, preshared key") {
	auto cfg = test_config();
	auto obs = converged(cfg);
	cfg.hub.allowed_ips.push_back(*parse_prefix("10.2.0.0/16"));
	cfg.hub.persistent_keepalive.reset();
	cfg.hub.preshared_key = SecretKey(Key{7});
	auto ctx = test_context();
	ctx.endpoint = parse_sockaddr("192.0.2.2:51820");
	auto ops = plan_up(cfg, obs, ctx);
	REQUIRE(ops[0].kind == OpKind::set_device);
	REQUIRE(ops[0].device.peers.size() == 1);
	auto &p = ops[0].device.peers[0];
	CHECK(p.replace_allowed_ips);
	CHECK(p.allowed_ips.size() == 3);
	CHECK(*p.persistent_keepalive == 0);
	CHECK(p.endpoint->str() == "192.0.2.2:51820");
	CHECK(p.preshared_key);
	CHECK(ops[0].text.find("preshared-key (hidden)") != std::string::npos);
	auto route = std::find_if(ops.begin(), ops.end(),
	                          [](auto &o) { return o.kind == OpKind::add_route; });
	REQUIRE(route != ops.end());
	CHECK(route->prefix->str() == "10.2.0.0/16");
}

TEST_CASE("a link that is down is brought up; a changed MTU is set") {
	auto cfg = test_config();
	auto obs = converged(cfg);
	obs.up = false;
	obs.mtu = 1500;
	auto ops = plan_up(cfg, obs, test_context());
	CHECK(kinds(ops) == std::vector<OpKind>{OpKind::set_mtu, OpKind::link_up, OpKind::verify});
}

TEST_CASE("without a tunnel address, verification waits for a handshake") {
	auto cfg = test_config();
	cfg.hub.tunnel_address.reset();
	auto ops = plan_up(cfg, LinkObservation{}, test_context());
	CHECK(ops.back().kind == OpKind::verify);
	CHECK_THAT(ops.back().text, Catch::StartsWith("wait for a handshake with"));
}

TEST_CASE("routes only for allowed IPs that are not on-link") {
	auto cfg = test_config();
	cfg.interface.addresses.push_back(*parse_prefix("fd00::10/64"));
	cfg.hub.allowed_ips.push_back(*parse_prefix("fd00::/64"));
	cfg.hub.allowed_ips.push_back(*parse_prefix("fd00:1::/48"));
	cfg.hub.allowed_ips.push_back(*parse_prefix("10.0.0.128/25")); // inside 10.0.0.10/24
	cfg.hub.allowed_ips.push_back(*parse_prefix("10.0.0.0/8"));    // wider than the /24
	std::vector<std::string> got;
	for (auto &r : routes_for(cfg))
		got.push_back(r.str());
	CHECK(got == std::vector<std::string>{"10.1.0.0/16", "fd00:1::/48", "10.0.0.0/8"});
}

TEST_CASE("down: stop the daemon, delete the link, remove run state") {
	LinkObservation obs;
	obs.exists = obs.userspace = true;
	CHECK(kinds(plan_down("wg0", obs, true)) == std::vector<OpKind>{OpKind::stop_daemon,
	                                                                OpKind::delete_link,
	                                                                OpKind::remove_run_state});
	obs.userspace = false;
	CHECK(kinds(plan_down("wg0", obs, true)) ==
	      std::vector<OpKind>{OpKind::delete_link, OpKind::remove_run_state});
	CHECK(plan_down("wg0", LinkObservation{}, false).empty());
	CHECK(kinds(plan_down("wg0", LinkObservation{}, true)) ==
	      std::vector<OpKind>{OpKind::remove_run_state});
}

TEST_CASE("reconcile sets the config's private key on a device that holds another") {
	auto cfg = test_config();
	auto obs = converged(cfg);
	Key other{};
	other[0] = 0x40;
	obs.device->private_key = SecretKey(other);
	auto ops = plan_up(cfg, obs, test_context());
	REQUIRE(kinds(ops) == std::vector<OpKind>{OpKind::set_device, OpKind::verify});
	REQUIRE(ops[0].device.private_key);
	CHECK(base64_encode(ops[0].device.private_key->bytes()) == kPriv);
	CHECK(ops[0].device.peers.empty());
}
