// Several hubs: the planner's standby and active peers, the one-request switch, the
// health of a tunnel on a non-preferred hub, repair's failover and failback, the
// hysteresis of HubSelector with a fake clock, and watch's loop over them.
#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <functional>
#include <map>

#include "failover.h"
#include "health.h"
#include "hub_selector.h"
#include "plan.h"
#include "test_util.h"
#include "watch.h"

using wgn::test::pfx;

using namespace wgn;

namespace {

// Hubs A (best), B, C at 10.0.0.1-3, all routing 10.0.0.0/24 and 10.9.0.0/16.
Config three_hubs(size_t n = 3)
{
	Config c;
	c.path = "/etc/wgn/wg0.toml";
	c.interface.name = "wg0";
	c.interface.addresses = {pfx("10.0.0.10/24")};
	c.interface.private_key = SecretKey(Key{});
	c.interface.public_key = public_key_of(c.interface.private_key);
	for (size_t i = 0; i < n; ++i) {
		HubConfig h;
		h.public_key.fill(static_cast<uint8_t>(10 + i));
		h.endpoint = Endpoint{"192.0.2." + std::to_string(i + 1), 51820};
		h.allowed_ips = {pfx("10.0.0.0/24"), pfx("10.9.0.0/16")};
		h.tunnel_address = parse_ip("10.0.0." + std::to_string(i + 1));
		h.priority = static_cast<int64_t>(i);
		c.hubs.push_back(h);
	}
	c.hub = c.hubs.front();
	c.health.interval = 2;
	c.health.failures = 3;
	c.health.failback_after = 10;
	return c;
}

// A device as plan_up leaves it with `active` active.
DeviceState device_with(const Config &c, size_t active)
{
	DeviceState d;
	d.name = "wg0";
	d.has_private_key = true;
	d.private_key = c.interface.private_key;
	for (size_t i = 0; i < c.hubs.size(); ++i) {
		PeerState p;
		p.public_key = c.hubs[i].public_key;
		p.allowed_ips = hub_allowed_ips(c, i, active);
		p.last_handshake_sec = 1000;
		d.peers.push_back(p);
	}
	return d;
}

} // namespace

TEST_CASE("several hubs: the active peer carries allowed_ips, standbys their own address", "[hubs]")
{
	auto c = three_hubs();
	CHECK(hub_allowed_ips(c, 0, 0) ==
	      std::vector<IpPrefix>{pfx("10.0.0.0/24"), pfx("10.9.0.0/16")});
	CHECK(hub_allowed_ips(c, 1, 0) == std::vector<IpPrefix>{pfx("10.0.0.2/32")});
	CHECK(hub_allowed_ips(c, 2, 0) == std::vector<IpPrefix>{pfx("10.0.0.3/32")});
	// A tunnel address outside the networks is added to the active peer as a host route.
	c.hubs[1].tunnel_address = parse_ip("172.16.0.2");
	CHECK(hub_allowed_ips(c, 1, 1) ==
	      std::vector<IpPrefix>{pfx("10.0.0.0/24"), pfx("10.9.0.0/16"), pfx("172.16.0.2/32")});
	// ... and routed, so that a switch changes no route.
	auto routes = routes_for(c);
	CHECK(std::find(routes.begin(), routes.end(), pfx("172.16.0.2/32")) != routes.end());
	CHECK(std::find(routes.begin(), routes.end(), pfx("10.9.0.0/16")) != routes.end());
	CHECK(std::find(routes.begin(), routes.end(), pfx("10.0.0.0/24")) == routes.end());
	// One hub: exactly its allowed_ips, as always.
	auto one = three_hubs(1);
	CHECK(hub_allowed_ips(one, 0, 0) == one.hub.allowed_ips);
}

TEST_CASE("plan_up sets every hub as a peer, the active one last", "[hubs]")
{
	auto c = three_hubs();
	LinkObservation obs;
	PlanContext ctx;
	ctx.hub_endpoints = {parse_sockaddr("192.0.2.1:51820"), parse_sockaddr("192.0.2.2:51820"),
	                     std::nullopt};
	ctx.endpoint = ctx.hub_endpoints[0];
	auto ops = plan_up(c, obs, ctx);
	auto it = std::find_if(ops.begin(), ops.end(),
	                       [](const Operation &o) { return o.kind == OpKind::set_device; });
	REQUIRE(it != ops.end());
	REQUIRE(it->device.peers.size() == 3);
	CHECK(it->device.peers[0].public_key == c.hubs[1].public_key);
	CHECK(it->device.peers[1].public_key == c.hubs[2].public_key);
	CHECK(it->device.peers[2].public_key == c.hubs[0].public_key);
	CHECK(it->device.peers[2].allowed_ips == hub_allowed_ips(c, 0, 0));
	CHECK(it->device.peers[0].allowed_ips == std::vector<IpPrefix>{pfx("10.0.0.2/32")});
	CHECK(it->device.peers[0].endpoint->str() == "192.0.2.2:51820");
	CHECK_FALSE(it->device.peers[1].endpoint); // did not resolve: set later
	CHECK_THAT(it->text, Catch::Contains("allowed-ips 10.0.0.2/32"));

	// A device running on hub B (a failover happened) is left on B: no change at all.
	obs.exists = obs.is_wireguard = obs.up = true;
	obs.mtu = 1420;
	obs.addresses = c.interface.addresses;
	obs.routes = routes_for(c);
	obs.device = device_with(c, 1);
	for (size_t i = 0; i < 3; ++i)
		obs.device->peers[i].endpoint = parse_sockaddr(c.hubs[i].endpoint.str());
	ctx.hub_endpoints = {parse_sockaddr("192.0.2.1:51820"), parse_sockaddr("192.0.2.2:51820"),
	                     parse_sockaddr("192.0.2.3:51820")};
	ctx.active_hub = active_hub_of(c, *obs.device).value();
	CHECK(ctx.active_hub == 1);
	ctx.endpoint = ctx.hub_endpoints[1];
	ctx.default_mtu = 1420;
	CHECK(plan_is_noop(plan_up(c, obs, ctx)));
}

TEST_CASE("a switch is one request: standbys shrink first, the new active grows last", "[hubs]")
{
	auto c = three_hubs();
	auto d = switch_hub_config(c, 1);
	REQUIRE(d.peers.size() == 3);
	CHECK(d.peers[0].public_key == c.hubs[0].public_key);
	CHECK(d.peers[0].allowed_ips == std::vector<IpPrefix>{pfx("10.0.0.1/32")});
	CHECK(d.peers[1].public_key == c.hubs[2].public_key);
	CHECK(d.peers[2].public_key == c.hubs[1].public_key);
	CHECK(d.peers[2].allowed_ips == hub_allowed_ips(c, 1, 1));
	for (auto &p : d.peers) {
		CHECK(p.replace_allowed_ips);
		CHECK_FALSE(p.remove);
		CHECK_FALSE(p.endpoint); // nothing else of the peers changes
	}
	CHECK_FALSE(d.replace_peers);
	CHECK_FALSE(d.private_key);
	CHECK(active_hub_of(c, device_with(c, 2)) == std::optional<size_t>(2));
	DeviceState none;
	CHECK_FALSE(active_hub_of(c, none));
}

namespace {

struct FailoverWg : WireGuardControl {
	DeviceState dev;
	std::vector<DeviceConfig> sets;
	Status set_device(const std::string &, const DeviceConfig &cfg) override
	{
		sets.push_back(cfg);
		// Apply allowed IPs as the kernel does: a prefix moves to the last peer set.
		for (auto &pc : cfg.peers)
			for (auto &p : dev.peers)
				if (p.public_key == pc.public_key && pc.replace_allowed_ips)
					p.allowed_ips = pc.allowed_ips;
		return Ok{};
	}
	Result<DeviceState> get_device(const std::string &) override { return dev; }
};

struct FakeFailover : ops::FailoverEffects {
	FailoverWg wg_;
	std::optional<RunState> rs;
	int locks = 0;
	bool locked = false;
	Status lock(const std::string &) override
	{
		++locks;
		locked = true;
		return Ok{};
	}
	void unlock() override { locked = false; }
	WireGuardControl &wg(const std::string &) override { return wg_; }
	Result<std::optional<RunState>> read_run_state(const std::string &) override { return rs; }
	Status write_run_state(const RunState &r) override
	{
		rs = r;
		return Ok{};
	}
};

} // namespace

TEST_CASE("ops::failover moves the allowed IPs in one request and records the hub", "[hubs]")
{
	auto c = three_hubs();
	FakeFailover fx;
	fx.wg_.dev = device_with(c, 0);
	fx.rs = RunState{};
	fx.rs->interface = "wg0";
	auto o = ops::failover(c, 2, fx);
	CHECK_FALSE(o.error);
	CHECK(o.changed);
	CHECK(o.from == std::optional<size_t>(0));
	CHECK(o.to == 2);
	REQUIRE(fx.wg_.sets.size() == 1);
	CHECK(active_hub_of(c, fx.wg_.dev) == std::optional<size_t>(2));
	CHECK(fx.rs->active_hub == base64_encode(c.hubs[2].public_key));
	CHECK_FALSE(fx.locked);
	CHECK(fx.locks == 1);
	// Already there: no request.
	auto again = ops::failover(c, 2, fx);
	CHECK_FALSE(again.changed);
	CHECK(fx.wg_.sets.size() == 1);
	// One hub, or no such hub: refused.
	CHECK(ops::failover(three_hubs(1), 0, fx).error);
	CHECK(ops::failover(c, 3, fx).error->code == Errc::config);
}

namespace {

HealthObservation obs_on(size_t active, std::vector<bool> answer)
{
	HealthObservation o;
	o.config = o.interface = "wg0";
	o.link_checked = o.link_present = o.link_up = true;
	o.device_read = o.hub_peer = true;
	o.handshake_age = 5;
	o.active_hub = active;
	for (size_t i = 0; i < answer.size(); ++i) {
		HubObservation h;
		h.endpoint = "192.0.2." + std::to_string(i + 1) + ":51820";
		h.tunnel_address = "10.0.0." + std::to_string(i + 1);
		h.active = i == active;
		h.peer = true;
		h.ping_attempted = true;
		h.can_ping = answer[i];
		o.hubs.push_back(h);
	}
	o.hub = o.hubs[active].tunnel_address;
	o.hub_endpoint = o.hubs[active].endpoint;
	o.ping_attempted = true;
	o.ping_answered = answer[active];
	return o;
}

struct Sensors : HealthSensors {
	DeviceState dev;
	std::vector<bool> answers;
	int ping_alls = 0;
	Result<std::optional<Link>> link(const std::string &) override
	{
		return std::optional<Link>(Link{true});
	}
	Result<DeviceState> device(const std::string &, std::string *b) override
	{
		*b = "userspace";
		return dev;
	}
	Result<double> ping(const std::string &, const IpAddr &, double) override
	{
		FAIL("several hubs are pinged at once");
		return 0.0;
	}
	std::vector<Result<double>> ping_all(const std::string &, const std::vector<IpAddr> &to,
	                                     double) override
	{
		++ping_alls;
		REQUIRE(to.size() == answers.size());
		std::vector<Result<double>> out;
		for (bool a : answers)
			out.push_back(a ? Result<double>(0.001)
			                : Result<double>(make_error(Errc::unavailable,
			                                            "did not answer within 2.0s")));
		return out;
	}
	std::optional<int64_t> connected_at(const std::string &) override { return 900; }
	std::optional<std::string> node_id(const std::string &) override { return std::nullopt; }
	int64_t now() override { return 1005; }
};

} // namespace

TEST_CASE("health of several hubs: per hub, degraded on a non-preferred hub", "[hubs]")
{
	auto c = three_hubs();
	Sensors s;
	s.dev = device_with(c, 1);
	s.answers = {false, true, true};
	auto r = evaluate_result(observe_health(c, "wg0", s), 180);
	CHECK(s.ping_alls == 1);
	REQUIRE(r.obs.hubs.size() == 3);
	CHECK(r.obs.active_hub == std::optional<size_t>(1));
	CHECK(r.obs.hubs[1].active);
	CHECK_FALSE(r.obs.hubs[0].active);
	CHECK_FALSE(r.obs.hubs[0].can_ping);
	CHECK(r.obs.hubs[2].can_ping);
	CHECK(r.obs.hub == "10.0.0.2");
	CHECK(r.obs.hub_endpoint == "192.0.2.2:51820");
	// The preferred hub (the best that answers) is B, which is active: healthy.
	CHECK(r.status == HealthStatus::healthy);

	s.answers = {true, true, true}; // A is back: running on B is now degraded
	r = evaluate_result(observe_health(c, "wg0", s), 180);
	CHECK(r.status == HealthStatus::degraded);
	CHECK(health_exit_code(r.status) == 1);
	CHECK_THAT(health_reason(r), Catch::Contains("running on hub[1] 192.0.2.2:51820"));

	s.answers = {true, false, true}; // the active one does not answer
	r = evaluate_result(observe_health(c, "wg0", s), 180);
	CHECK(r.status == HealthStatus::unhealthy);

	s.answers = {false, false, false};
	r = evaluate_result(observe_health(c, "wg0", s), 180);
	CHECK(health_exit_code(r.status) == 2);

	auto json = format_health_json({r});
	CHECK_THAT(json, Catch::Contains("\"hub\":\"192.0.2.2:51820\""));
	CHECK_THAT(json, Catch::Contains("\"hubs\":[{\"endpoint\":\"192.0.2.1:51820\""));
	CHECK_THAT(json, Catch::Contains("\"active\":true"));
	s.answers = {true, true, false};
	r = evaluate_result(observe_health(c, "wg0", s), 180);
	auto prom = format_health_prometheus({r});
	CHECK_THAT(prom,
	           Catch::Contains("wgn_hub_up{interface=\"wg0\",hub=\"192.0.2.1:51820\"} 1"));
	CHECK_THAT(prom,
	           Catch::Contains("wgn_hub_up{interface=\"wg0\",hub=\"192.0.2.3:51820\"} 0"));
	CHECK_THAT(prom,
	           Catch::Contains("wgn_hub_active{interface=\"wg0\",hub=\"192.0.2.2:51820\"} 1"));
	CHECK_THAT(prom,
	           Catch::Contains("wgn_hub_active{interface=\"wg0\",hub=\"192.0.2.1:51820\"} 0"));
}

namespace {

struct Repairs : HealthRepairs {
	std::vector<std::string> calls;
	Status bring_up(const Config &, const std::string &) override
	{
		calls.push_back("up");
		return Ok{};
	}
	Result<SockAddr> resolve(const Endpoint &ep) override
	{
		calls.push_back("resolve " + ep.str());
		return make_error(Errc::unavailable, "no");
	}
	Status set_endpoint(const std::string &, const Key &, const SockAddr &) override
	{
		calls.push_back("set");
		return Ok{};
	}
	Status switch_hub(const Config &, size_t to) override
	{
		calls.push_back("switch " + std::to_string(to));
		return Ok{};
	}
};

} // namespace

TEST_CASE("health --repair fails over to the best answering hub and back", "[hubs]")
{
	auto c = three_hubs();
	Repairs fx;
	bool changed = false;
	// Active A does not answer, B and C do: over to B.
	auto lines = repair_health(c, evaluate_result(obs_on(0, {false, true, true}), 180), fx,
	                           &changed);
	CHECK(fx.calls == std::vector<std::string>{"switch 1"});
	CHECK(changed);
	REQUIRE(lines.size() == 1);
	CHECK_THAT(lines[0], Catch::Contains("failed over from hub[0]"));
	// On C, A answers again: back to A (the best).
	fx.calls.clear();
	lines = repair_health(c, evaluate_result(obs_on(2, {true, true, true}), 180), fx, &changed);
	CHECK(fx.calls == std::vector<std::string>{"switch 0"});
	CHECK_THAT(lines[0], Catch::Contains("failed back from hub[2]"));
	// Healthy on the best: nothing.
	fx.calls.clear();
	lines = repair_health(c, evaluate_result(obs_on(0, {true, false, true}), 180), fx,
	                      &changed);
	CHECK(fx.calls.empty());
	CHECK_FALSE(changed);
	// None answers: no switch; the active hub's endpoint (an address) is not re-resolved.
	lines = repair_health(c, evaluate_result(obs_on(1, {false, false, false}), 180), fx,
	                      &changed);
	CHECK(fx.calls.empty());
	REQUIRE(lines.size() == 1);
	CHECK_THAT(lines[0], Catch::Contains("192.0.2.2:51820 is an address"));
}

TEST_CASE("HubSelector: failover after `failures` misses, to the best that answers",
          "[hubs][selector]")
{
	HubSelector sel(3, 10);
	CHECK_FALSE(sel.look(0, 0, {true, true, true}));
	CHECK_FALSE(sel.look(2, 0, {false, true, true}));
	CHECK_FALSE(sel.look(4, 0, {false, false, true}));
	auto sw = sel.look(6, 0, {false, false, true});
	REQUIRE(sw);
	CHECK(sw->to == 2);
	CHECK_FALSE(sw->failback);
	sel.switched();
	CHECK(sel.misses() == 0);
	// An answer between misses starts the count again.
	HubSelector s2(3, 10);
	CHECK_FALSE(s2.look(0, 0, {false, true}));
	CHECK_FALSE(s2.look(2, 0, {false, true}));
	CHECK_FALSE(s2.look(4, 0, {true, true}));
	CHECK_FALSE(s2.look(6, 0, {false, true}));
	CHECK_FALSE(s2.look(8, 0, {false, true}));
	CHECK(s2.look(10, 0, {false, true}));
	// All down: misses pile up, no switch.
	HubSelector s3(1, 10);
	for (int t = 0; t < 10; ++t)
		CHECK_FALSE(s3.look(t, 0, {false, false}));
	CHECK(s3.misses() == 10);
}

TEST_CASE("HubSelector: failback after failback_after seconds of answers, no flapping",
          "[hubs][selector]")
{
	// On B (1); A (0) comes back at t=20 and answers every look: back at t=30.
	HubSelector sel(3, 10);
	double t = 0;
	for (; t < 20; t += 2)
		CHECK_FALSE(sel.look(t, 1, {false, true}));
	std::optional<HubSelector::Switch> sw;
	for (; t <= 40 && !sw; t += 2)
		sw = sel.look(t, 1, {true, true});
	REQUIRE(sw);
	CHECK(sw->to == 0);
	CHECK(sw->failback);
	CHECK(t - 2 == 30);

	// A answers every other look for ten minutes: never back.
	HubSelector flap(3, 10);
	for (int i = 0; i < 300; ++i)
		CHECK_FALSE(flap.look(i * 2.0, 1, {i % 2 == 0, true}));
	// Nor does a flapping B make the loop leave a healthy A.
	HubSelector steady(3, 10);
	for (int i = 0; i < 300; ++i)
		CHECK_FALSE(steady.look(i * 2.0, 0, {true, i % 2 == 0}));
	// failback_after = 0: at the first answer.
	HubSelector eager(3, 0);
	auto b = eager.look(0, 1, {true, true});
	REQUIRE(b);
	CHECK(b->to == 0);
}

namespace {

// watch over three hubs with a fake clock: which hubs answer is a function of time.
struct HubsWatch : ops::WatchEffects {
	Config cfg = three_hubs();
	double t = 0;
	size_t active = 0;
	std::function<std::vector<bool>(double)> answers;
	std::vector<std::pair<double, size_t>> switches;
	int repairs = 0;
	double stop_at = 100;

	Result<Config> reload() override { return cfg; }
	ops::UpOutcome up(const Config &) override
	{
		ops::UpOutcome o;
		o.interface = "wg0";
		o.tunnel_up = o.verified = true;
		return o;
	}
	std::vector<double> look_times;
	bool looks_cost = false; // a look with a silent hub waits ping_timeout, as ping_all does
	HealthResult look(const Config &c) override
	{
		look_times.push_back(t);
		auto a = answers(t);
		if (looks_cost && std::find(a.begin(), a.end(), false) != a.end())
			t += c.health.ping_timeout;
		return evaluate_result(obs_on(active, a), 180);
	}
	std::vector<std::string> repair(const Config &, const HealthResult &) override
	{
		++repairs;
		return {};
	}
	ops::FailoverOutcome switch_hub(const Config &, size_t to) override
	{
		switches.push_back({t, to});
		ops::FailoverOutcome o;
		o.from = active;
		o.to = to;
		o.changed = true;
		active = to;
		return o;
	}
	Status write_textfile(const std::filesystem::path &, const HealthResult &) override
	{
		return Ok{};
	}
	void report_health(const Config &, const HealthResult &) override {}
	void notify(const std::string &) override {}
	std::optional<double> watchdog_interval() override { return std::nullopt; }
	double now() override { return t; }
	unsigned wait(double seconds) override
	{
		t += std::max(seconds, 0.0);
		return t >= stop_at ? (1u << SIGTERM) : 0;
	}
	double jitter_unit() override { return 0.5; }
};

} // namespace

TEST_CASE("watch fails over within failures x interval and fails back after failback_after",
          "[hubs][watch]")
{
	HubsWatch fx;
	// A dies at t=10 and comes back at t=50.
	fx.answers = [](double t) {
		bool a = t < 10 || t >= 50;
		return std::vector<bool>{a, true, true};
	};
	auto out = ops::watch(fx.cfg, fx);
	REQUIRE(fx.switches.size() == 2);
	// Misses at 10, 12, 14: over to B at the third, 4 s after the first miss.
	CHECK(fx.switches[0] == std::pair<double, size_t>{14, 1});
	// A answers from 50; 10 s later, back to A.
	CHECK(fx.switches[1] == std::pair<double, size_t>{60, 0});
	CHECK(out.failovers == 1);
	CHECK(out.failbacks == 1);
	CHECK(fx.repairs == 0);
}

TEST_CASE("watch confirms a miss at once: failover after failures x ping_timeout, not x interval",
          "[hubs][watch]")
{
	HubsWatch fx;
	fx.looks_cost = true;
	fx.cfg.health.ping_timeout = 1;
	fx.stop_at = 40;
	// A dies at t=10.5, between two looks.
	fx.answers = [](double t) { return std::vector<bool>{t < 10.5, true, true}; };
	auto out = ops::watch(fx.cfg, fx);
	REQUIRE(fx.switches.size() == 1);
	// Misses at 12 (its echo waits until 13), 13 and 14: over to B at 15, 4.5 s after
	// the death (at one look every interval it would be 17).
	CHECK(fx.switches[0] == std::pair<double, size_t>{15, 1});
	CHECK(out.failovers == 1);
	// On B (A still silent), the looks go back to one every interval.
	auto after = std::find(fx.look_times.begin(), fx.look_times.end(), 18.0);
	REQUIRE(after != fx.look_times.end());
	REQUIRE(fx.look_times.end() - after > 5);
	for (auto it = after + 1; it != fx.look_times.end(); ++it)
		CHECK(*it - *(it - 1) == Approx(2));
}

TEST_CASE("confirming looks do not make a hub that misses every other look fail over",
          "[hubs][watch]")
{
	HubsWatch fx;
	fx.looks_cost = true;
	fx.cfg.health.ping_timeout = 1;
	fx.stop_at = 300;
	int n = 0;
	fx.answers = [&n](double) { return std::vector<bool>{n++ % 2 == 0, true, true}; };
	auto out = ops::watch(fx.cfg, fx);
	CHECK(fx.switches.empty());
	CHECK(out.failovers == 0);
	// Each miss is confirmed 1 s later (and cleared), then the next look an interval on:
	// two looks every 3 s.
	CHECK(out.loops >= 199);
	CHECK(out.loops <= 202);
}

TEST_CASE("watch does not flap on a hub that answers every other look", "[hubs][watch]")
{
	HubsWatch fx;
	fx.stop_at = 600;
	// A dies at t=10, then from t=30 answers every other look.
	fx.answers = [](double t) {
		int look = static_cast<int>(t / 2 + 0.5);
		bool a = t < 10 || (t >= 30 && look % 2 == 0);
		return std::vector<bool>{a, true, false};
	};
	auto out = ops::watch(fx.cfg, fx);
	REQUIRE(fx.switches.size() == 1);
	CHECK(fx.switches[0].second == 1);
	CHECK(out.failbacks == 0);
}

TEST_CASE("watch with all hubs down keeps looking and re-resolves with backoff", "[hubs][watch]")
{
	HubsWatch fx;
	fx.cfg.connect.initial_backoff = 2;
	fx.cfg.connect.max_backoff = 16;
	fx.stop_at = 120;
	fx.answers = [](double t) { return std::vector<bool>(3, t < 4); };
	auto out = ops::watch(fx.cfg, fx);
	CHECK(fx.switches.empty());
	CHECK(out.loops >= 55); // a look every interval all along
	// Misses from t=4: the first re-resolve at the third (t=8), then after 2, 4, 8, 16,
	// 16 ... seconds (rounded up to the looks): far fewer than one per `failures` looks.
	CHECK(fx.repairs >= 5);
	CHECK(fx.repairs <= 12);
	REQUIRE(out.last);
	CHECK(health_exit_code(out.last->status) == 2);
}
