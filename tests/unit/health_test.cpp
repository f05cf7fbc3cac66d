// wgn health: evaluation tables, observation through fake sensors, repair decisions.
#include <catch2/catch.hpp>

#include "health.h"
#include "health_fixtures.h"

using namespace wgn;
using wgn::test::healthy_obs;
using wgn::test::result;

TEST_CASE("evaluate: the status table")
{
	struct Row {
		const char *what;
		void (*change)(HealthObservation &);
		double stale;
		HealthStatus want;
	};
	const Row rows[] = {
	        {"all fine", [](HealthObservation &) {}, 180, HealthStatus::healthy},
	        {"handshake exactly at the threshold",
	         [](HealthObservation &o) { o.handshake_age = 180; }, 180, HealthStatus::healthy},
	        {"stale handshake, hub answers",
	         [](HealthObservation &o) { o.handshake_age = 181; }, 180, HealthStatus::degraded},
	        {"small --stale-after", [](HealthObservation &) {}, 1, HealthStatus::degraded},
	        {"hub does not answer",
	         [](HealthObservation &o) { o.ping_answered = false, o.rtt_ms.reset(); }, 180,
	         HealthStatus::unhealthy},
	        {"stale and no answer is unhealthy, not degraded",
	         [](HealthObservation &o) { o.ping_answered = false, o.handshake_age = 999; }, 180,
	         HealthStatus::unhealthy},
	        {"never a handshake", [](HealthObservation &o) { o.handshake_age.reset(); }, 180,
	         HealthStatus::unhealthy},
	        {"link down", [](HealthObservation &o) { o.link_up = false; }, 180,
	         HealthStatus::unhealthy},
	        {"not a WireGuard device", [](HealthObservation &o) { o.device_read = false; }, 180,
	         HealthStatus::unhealthy},
	        {"hub is no peer", [](HealthObservation &o) { o.hub_peer = false; }, 180,
	         HealthStatus::unhealthy},
	        {"no interface", [](HealthObservation &o) { o.link_present = false; }, 180,
	         HealthStatus::disconnected},
	        {"no tunnel address: fresh handshake alone",
	         [](HealthObservation &o) {
		         o.ping_attempted = o.ping_answered = false, o.hub = "";
	         },
	         180, HealthStatus::healthy},
	        {"no tunnel address: stale handshake",
	         [](HealthObservation &o) {
		         o.ping_attempted = o.ping_answered = false, o.hub = "",
		         o.handshake_age = 500;
	         },
	         180, HealthStatus::degraded},
	        {"the check could not run wins over everything",
	         [](HealthObservation &o) {
		         o.link_present = false, o.unknown_reason = "no permission";
	         },
	         180, HealthStatus::unknown},
	};
	for (auto &row : rows) {
		INFO(row.what);
		auto o = healthy_obs();
		row.change(o);
		CHECK(evaluate(o, row.stale) == row.want);
	}
}

TEST_CASE("exit codes follow the monitoring-plugins convention")
{
	CHECK(health_exit_code(HealthStatus::healthy) == 0);
	CHECK(health_exit_code(HealthStatus::degraded) == 1);
	CHECK(health_exit_code(HealthStatus::unhealthy) == 2);
	CHECK(health_exit_code(HealthStatus::disconnected) == 2);
	CHECK(health_exit_code(HealthStatus::unknown) == 3);
	CHECK(std::string(health_status_name(HealthStatus::disconnected)) == "disconnected");
}

TEST_CASE("--all exits with the worst, ranked 2 > 3 > 1 > 0")
{
	const std::pair<std::vector<int>, int> rows[] = {
	        {{}, 0},     {{0, 0}, 0},    {{0, 1}, 1},    {{1, 3}, 3},
	        {{3, 2}, 2}, {{2, 3, 1}, 2}, {{0, 3, 0}, 3}, {{1, 0, 1}, 1},
	};
	for (auto &[codes, want] : rows)
		CHECK(worst_health_exit_code(codes) == want);
}

TEST_CASE("format_duration")
{
	const std::pair<int64_t, const char *> rows[] = {
	        {-3, "0s"},   {0, "0s"},       {5, "5s"},     {60, "1m"},       {192, "3m 12s"},
	        {3600, "1h"}, {7500, "2h 5m"}, {86400, "1d"}, {93784, "1d 2h"},
	};
	for (auto &[s, want] : rows)
		CHECK(format_duration(s) == want);
}

namespace {

struct FakeSensors : HealthSensors {
	Result<std::optional<Link>> link_r = std::optional<Link>(Link{true});
	Result<DeviceState> device_r = DeviceState{};
	Result<double> ping_r = 0.0006; // seconds, as ping_through says
	std::optional<int64_t> at;
	std::optional<std::string> id;
	int pings = 0;
	std::vector<std::string> calls;

	Result<std::optional<Link>> link(const std::string &) override
	{
		calls.push_back("link");
		return link_r;
	}
	Result<DeviceState> device(const std::string &, std::string *backend) override
	{
		calls.push_back("device");
		*backend = "userspace";
		return device_r;
	}
	Result<double> ping(const std::string &, const IpAddr &, double) override
	{
		calls.push_back("ping");
		++pings;
		return ping_r;
	}
	std::optional<int64_t> connected_at(const std::string &) override { return at; }
	std::optional<std::string> node_id(const std::string &) override { return id; }
	int64_t now() override { return 1000000; }
};

Config test_config()
{
	Config c;
	c.interface.name = "wg0";
	c.hub.public_key.fill(7);
	c.hub.tunnel_address = parse_ip("10.0.0.1");
	c.health.ping_timeout = 1.5;
	return c;
}

DeviceState device_with_hub(int64_t handshake)
{
	DeviceState d;
	PeerState other;
	other.public_key.fill(1);
	other.last_handshake_sec = 999999;
	PeerState hub;
	hub.public_key.fill(7);
	hub.last_handshake_sec = handshake;
	hub.rx_bytes = 10;
	hub.tx_bytes = 20;
	hub.endpoint = parse_sockaddr("192.0.2.1:51820");
	d.peers = {other, hub};
	return d;
}

} // namespace

TEST_CASE("observe_health: reads, in order, and never more than one echo")
{
	FakeSensors s;
	s.device_r = device_with_hub(1000000 - 12);
	s.at = 1000000 - 3600;
	s.id = "node-9";
	auto o = observe_health(test_config(), "wg0", s);
	CHECK(s.calls == std::vector<std::string>{"link", "device", "ping"});
	CHECK(o.link_present);
	CHECK(o.link_up);
	CHECK(o.device_read);
	CHECK(o.hub_peer);
	CHECK(o.handshake_age == 12);
	CHECK(o.rx_bytes == 10);
	CHECK(o.tx_bytes == 20);
	CHECK(o.endpoint == "192.0.2.1:51820");
	CHECK(o.ping_answered);
	CHECK(*o.rtt_ms == Approx(0.6));
	CHECK(o.uptime == 3600);
	CHECK(o.node_id == "node-9");
	CHECK(o.backend == "userspace");
	CHECK(evaluate(o, 180) == HealthStatus::healthy);
}

TEST_CASE("observe_health: how sensor errors are read")
{
	SECTION("no interface: disconnected, nothing else asked")
	{
		FakeSensors s;
		s.link_r = std::optional<HealthSensors::Link>();
		auto o = observe_health(test_config(), "wg0", s);
		CHECK(s.calls == std::vector<std::string>{"link"});
		CHECK(evaluate(o, 180) == HealthStatus::disconnected);
	}
	SECTION("netlink fails: unknown")
	{
		FakeSensors s;
		s.link_r = make_error(Errc::os, "cannot open rtnetlink: Protocol not supported");
		auto o = observe_health(test_config(), "wg0", s);
		CHECK(evaluate(o, 180) == HealthStatus::unknown);
		CHECK(*o.unknown_reason == "cannot open rtnetlink: Protocol not supported");
	}
	SECTION("device unreadable without CAP_NET_ADMIN: unknown, no echo")
	{
		FakeSensors s;
		s.device_r = make_error(Errc::no_perm, "reading wg0 needs CAP_NET_ADMIN");
		auto o = observe_health(test_config(), "wg0", s);
		CHECK(s.pings == 0);
		CHECK(evaluate(o, 180) == HealthStatus::unknown);
	}
	SECTION("not a WireGuard device: unhealthy")
	{
		FakeSensors s;
		s.device_r =
		        make_error(Errc::os, "cannot read WireGuard device wg0: No such device");
		auto r = evaluate_result(observe_health(test_config(), "wg0", s), 180);
		CHECK(r.status == HealthStatus::unhealthy);
		CHECK(health_reason(r) == "cannot read WireGuard device wg0: No such device");
	}
	SECTION("echo times out: unhealthy, says how long it waited")
	{
		FakeSensors s;
		s.device_r = device_with_hub(1000000 - 12);
		s.ping_r = make_error(Errc::unavailable, "hub 10.0.0.1 did not answer within 1.5s");
		auto r = evaluate_result(observe_health(test_config(), "wg0", s), 180);
		CHECK(r.status == HealthStatus::unhealthy);
		CHECK(health_reason(r) ==
		      "hub 10.0.0.1 did not answer within 1.5s, handshake 12s ago");
	}
	SECTION("echo refused on the way out: unhealthy with the reason")
	{
		FakeSensors s;
		s.device_r = device_with_hub(1000000 - 12);
		s.ping_r =
		        make_error(Errc::unavailable, "hub 10.0.0.1 cannot be reached through wg0: "
		                                      "Required key not available");
		auto r = evaluate_result(observe_health(test_config(), "wg0", s), 180);
		CHECK(r.status == HealthStatus::unhealthy);
		CHECK(health_reason(r) ==
		      "hub 10.0.0.1 cannot be reached through wg0: Required key "
		      "not available, handshake 12s ago");
	}
	SECTION("no ICMP socket: unknown")
	{
		for (auto c : {Errc::no_perm, Errc::os}) {
			FakeSensors s;
			s.device_r = device_with_hub(1000000 - 12);
			s.ping_r = make_error(c, "cannot open an ICMP socket");
			auto o = observe_health(test_config(), "wg0", s);
			CHECK(evaluate(o, 180) == HealthStatus::unknown);
		}
	}
	SECTION("link down: no echo")
	{
		FakeSensors s;
		s.link_r = std::optional<HealthSensors::Link>(HealthSensors::Link{false});
		s.device_r = device_with_hub(1000000 - 12);
		auto o = observe_health(test_config(), "wg0", s);
		CHECK(s.pings == 0);
		CHECK(evaluate(o, 180) == HealthStatus::unhealthy);
	}
	SECTION("no tunnel address: no echo")
	{
		FakeSensors s;
		s.device_r = device_with_hub(1000000 - 12);
		auto cfg = test_config();
		cfg.hub.tunnel_address.reset();
		auto o = observe_health(cfg, "wg0", s);
		CHECK(s.pings == 0);
		CHECK(evaluate(o, 180) == HealthStatus::healthy);
	}
	SECTION("never a handshake")
	{
		FakeSensors s;
		s.device_r = device_with_hub(0);
		auto o = observe_health(test_config(), "wg0", s);
		CHECK(!o.handshake_age);
		CHECK(evaluate(o, 180) == HealthStatus::unhealthy);
	}
}

namespace {

struct FakeRepairs : HealthRepairs {
	std::vector<std::string> calls;
	Status up_r = Ok{};
	Result<SockAddr> resolve_r = *parse_sockaddr("192.0.2.7:51820");
	Status bring_up(const Config &, const std::string &name) override
	{
		calls.push_back("up " + name);
		return up_r;
	}
	Result<SockAddr> resolve(const Endpoint &ep) override
	{
		calls.push_back("resolve " + ep.str());
		return resolve_r;
	}
	Status set_endpoint(const std::string &ifname, const Key &, const SockAddr &ep) override
	{
		calls.push_back("set " + ifname + " " + ep.str());
		return Ok{};
	}
	Status switch_hub(const Config &, size_t to) override
	{
		calls.push_back("switch " + std::to_string(to));
		return Ok{};
	}
};

Config named_hub_config()
{
	auto c = test_config();
	c.hub.endpoint = Endpoint{"hub.example.com", 51820};
	return c;
}

} // namespace

TEST_CASE("repair_health: what --repair does for each status")
{
	struct Row {
		const char *what;
		void (*change)(HealthObservation &);
		double stale;
		std::vector<std::string> calls;
		std::vector<std::string> said;
		bool changed;
	};
	auto gone = [](HealthObservation &o) {
		o = HealthObservation{}, o.interface = "wg0", o.config = "wg0",
		o.link_checked = true;
	};
	const Row rows[] = {
	        {"healthy: nothing", [](HealthObservation &) {}, 180, {}, {}, false},
	        {"unknown: nothing, it cannot tell",
	         [](HealthObservation &o) { o.unknown_reason = "x"; },
	         180,
	         {},
	         {},
	         false},
	        {"disconnected: up", gone, 180, {"up wg0"}, {"wg0: brought the tunnel up"}, true},
	        {"link down: up",
	         [](HealthObservation &o) { o.link_up = false; },
	         180,
	         {"up wg0"},
	         {"wg0: brought the tunnel up"},
	         true},
	        {"no hub peer: up (reconciles)",
	         [](HealthObservation &o) { o.hub_peer = false; },
	         180,
	         {"up wg0"},
	         {"wg0: brought the tunnel up"},
	         true},
	        {"unhealthy: re-resolve, endpoint moved",
	         [](HealthObservation &o) { o.ping_answered = false; },
	         180,
	         {"resolve hub.example.com:51820", "set wg0 192.0.2.7:51820"},
	         {"wg0: re-resolved hub.example.com:51820: hub endpoint 192.0.2.1:51820 -> "
	          "192.0.2.7:51820"},
	         true},
	        {"stale: re-resolve, same address",
	         [](HealthObservation &o) { o.endpoint = "192.0.2.7:51820"; },
	         1,
	         {"resolve hub.example.com:51820"},
	         {"wg0: hub.example.com:51820 still resolves to 192.0.2.7:51820; endpoint "
	          "unchanged"},
	         false},
	};
	for (auto &row : rows) {
		INFO(row.what);
		auto o = healthy_obs();
		row.change(o);
		FakeRepairs fx;
		bool changed = !row.changed;
		auto said = repair_health(named_hub_config(), result(o, row.stale), fx, &changed);
		CHECK(fx.calls == row.calls);
		CHECK(said == row.said);
		CHECK(changed == row.changed);
	}
}

TEST_CASE("repair_health: failures are said, numeric endpoints left alone")
{
	auto o = healthy_obs();
	o.ping_answered = false;
	FakeRepairs fx;
	auto cfg = named_hub_config();
	cfg.hub.endpoint.host = "192.0.2.1";
	auto said = repair_health(cfg, result(o), fx);
	CHECK(fx.calls.empty());
	CHECK(said ==
	      std::vector<std::string>{
	              "wg0: hub endpoint 192.0.2.1:51820 is an address; nothing to re-resolve"});

	fx.resolve_r = make_error(Errc::unavailable, "Name or service not known");
	said = repair_health(named_hub_config(), result(o), fx);
	CHECK(said == std::vector<std::string>{"wg0: could not re-resolve hub.example.com:51820: "
	                                       "Name or service not known"});

	HealthObservation gone;
	gone.interface = gone.config = "wg0";
	gone.link_checked = true;
	fx.up_r = make_error(Errc::unavailable, "hub 10.0.0.1 did not answer");
	bool changed = false;
	said = repair_health(cfg, result(gone), fx, &changed);
	CHECK(changed);
	CHECK(said == std::vector<std::string>{
	                      "wg0: could not bring the tunnel up: hub 10.0.0.1 did not answer"});
}

TEST_CASE("health loads a config without reading its key files")
{
	const std::string text = "[interface]\n"
	                         "name = \"wg0\"\n"
	                         "private_key_file = \"/nonexistent/wg0.key\"\n"
	                         "address = \"10.0.0.10/24\"\n"
	                         "[hub]\n"
	                         "public_key = \"3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=\"\n"
	                         "endpoint = \"hub.example.com:51820\"\n"
	                         "allowed_ips = \"10.0.0.0/24\"\n"
	                         "preshared_key_file = \"/nonexistent/wg0.psk\"\n"
	                         "tunnel_address = \"10.0.0.1\"\n";
	CHECK(!parse_config(text, "/etc/wgn/wg0.toml"));
	ConfigLoadOptions lo;
	lo.read_key_files = false;
	auto cfg = parse_config(text, "/etc/wgn/wg0.toml", lo);
	REQUIRE(cfg);
	CHECK(cfg->interface.name == "wg0");
	CHECK(cfg->interface.private_key_file == "/nonexistent/wg0.key");
	CHECK(cfg->hub.tunnel_address->str() == "10.0.0.1");
	CHECK(!cfg->hub.preshared_key);
}

TEST_CASE("health on a hub's config: its interface decides, its peers are counted")
{
	Config c;
	c.interface.name = "hub0";
	c.is_hub_config = true;
	FakeSensors s;
	DeviceState d;
	for (int64_t hs : {1000000 - 10, 1000000 - 500, 0, 1000000 - 179}) {
		PeerState p;
		p.public_key.fill(static_cast<uint8_t>(d.peers.size() + 1));
		p.last_handshake_sec = hs;
		p.rx_bytes = 100;
		p.tx_bytes = 7;
		d.peers.push_back(p);
	}
	s.device_r = d;
	s.at = 1000000 - 60;

	SECTION("up: healthy, 4 peers, 2 within 180 s, no echo")
	{
		auto r = evaluate_result(observe_hub_health(c, "hub0", s), 180);
		CHECK(s.calls == std::vector<std::string>{"link", "device"});
		CHECK(r.status == HealthStatus::healthy);
		CHECK(r.obs.peers == 4u);
		CHECK(r.peers_recent == 2u);
		CHECK(r.obs.rx_bytes == 400);
		CHECK(r.obs.uptime == 60);
		CHECK(health_reason(r) == "hub of 4 peers, 2 handshook within 3m");
		// observe_health hands a hub's config to the hub's look.
		auto same = evaluate_result(observe_health(c, "hub0", s), 180);
		CHECK(same.peers_recent == 2u);
		CHECK(same.obs.hub_config);
	}
	SECTION("--stale-after moves the count")
	{
		auto r = evaluate_result(observe_hub_health(c, "hub0", s), 600);
		CHECK(r.peers_recent == 3u);
		CHECK(health_reason(r) == "hub of 4 peers, 3 handshook within 10m");
	}
	SECTION("no peers at all: still healthy")
	{
		s.device_r = DeviceState{};
		auto r = evaluate_result(observe_hub_health(c, "hub0", s), 180);
		CHECK(r.status == HealthStatus::healthy);
		CHECK(r.obs.peers == 0u);
		CHECK(r.peers_recent == 0u);
	}
	SECTION("link down: unhealthy (2)")
	{
		s.link_r = std::optional<HealthSensors::Link>(HealthSensors::Link{false});
		auto r = evaluate_result(observe_hub_health(c, "hub0", s), 180);
		CHECK(r.status == HealthStatus::unhealthy);
		CHECK(health_exit_code(r.status) == 2);
		CHECK(health_reason(r) == "link hub0 is down");
	}
	SECTION("no interface: disconnected (2), no counts")
	{
		s.link_r = std::optional<HealthSensors::Link>();
		auto r = evaluate_result(observe_hub_health(c, "hub0", s), 180);
		CHECK(r.status == HealthStatus::disconnected);
		CHECK(!r.obs.peers);
		CHECK(!r.peers_recent);
	}
	SECTION("device unreadable without CAP_NET_ADMIN: unknown")
	{
		s.device_r = make_error(Errc::no_perm, "reading hub0 needs CAP_NET_ADMIN");
		auto r = evaluate_result(observe_hub_health(c, "hub0", s), 180);
		CHECK(r.status == HealthStatus::unknown);
	}
}
