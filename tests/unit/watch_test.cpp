// The loop of `wgn watch` with a fake clock, fake looks and fake ups (watch.h).
#include <catch2/catch.hpp>

#include <csignal>
#include <functional>
#include <map>

#include "health_fixtures.h"
#include "watch.h"

using namespace wgn;
using namespace wgn::test;

namespace {

Config watch_config()
{
	Config c;
	c.path = "/etc/wgn/wg0.toml";
	c.interface.name = "wg0";
	c.hub.public_key.fill(7);
	c.hub.endpoint = Endpoint{"hub.example.com", 51820};
	c.hub.tunnel_address = parse_ip("10.0.0.1");
	c.connect.initial_backoff = 2;
	c.connect.max_backoff = 60;
	c.health.interval = 5;
	return c;
}

HealthResult with_status(HealthStatus s)
{
	auto o = healthy_obs();
	switch (s) {
	case HealthStatus::disconnected:
		o.link_present = o.link_up = o.device_read = o.hub_peer = false;
		break;
	case HealthStatus::unhealthy:
		o.ping_answered = false;
		o.rtt_ms.reset();
		break;
	default:
		break;
	}
	auto r = result(o);
	REQUIRE(r.status == s);
	return r;
}

struct FakeWatch : ops::WatchEffects {
	double t = 0;
	std::map<double, unsigned> signals;                // time -> mask
	std::function<HealthResult(const Config &)> looks; // default: healthy
	std::function<bool(int)> up_succeeds;              // by call number (0: the first)
	std::optional<Config> reloaded;                    // nullopt: reload fails
	std::optional<double> watchdog;

	std::vector<double> up_times;
	std::vector<Config> up_configs;
	std::vector<double> look_times;
	std::vector<std::pair<double, std::string>> notes;
	int repairs = 0;
	int textfiles = 0;

	Result<Config> reload() override
	{
		if (!reloaded)
			return make_error(Errc::config, "/etc/wgn/wg0.toml:3: hub.endpoint: bad");
		return *reloaded;
	}
	ops::UpOutcome up(const Config &cfg) override
	{
		ops::UpOutcome o;
		o.interface = cfg.interface.name;
		bool ok = !up_succeeds || up_succeeds(static_cast<int>(up_times.size()));
		up_times.push_back(t);
		up_configs.push_back(cfg);
		if (ok)
			o.tunnel_up = o.verified = true;
		else
			o.error = make_error(Errc::unavailable, "hub 10.0.0.1 did not answer");
		return o;
	}
	HealthResult look(const Config &cfg) override
	{
		look_times.push_back(t);
		return looks ? looks(cfg) : with_status(HealthStatus::healthy);
	}
	std::vector<std::string> repair(const Config &, const HealthResult &) override
	{
		++repairs;
		return {"wg0: re-resolved"};
	}
	std::vector<std::pair<double, size_t>> switches; // time, to
	std::function<void(size_t)> on_switch;
	ops::FailoverOutcome switch_hub(const Config &cfg, size_t to) override
	{
		switches.push_back({t, to});
		if (on_switch)
			on_switch(to);
		ops::FailoverOutcome o;
		o.interface = cfg.interface.name;
		o.to = to;
		o.changed = true;
		return o;
	}
	Status write_textfile(const std::filesystem::path &, const HealthResult &) override
	{
		++textfiles;
		return Ok{};
	}
	std::vector<std::pair<double, std::string>> reports; // time, status
	void report_health(const Config &, const HealthResult &r) override
	{
		reports.push_back({t, health_status_name(r.status)});
	}
	void notify(const std::string &state) override { notes.push_back({t, state}); }
	std::optional<double> watchdog_interval() override { return watchdog; }
	double now() override { return t; }
	unsigned wait(double seconds) override
	{
		double until = t + std::max(seconds, 0.0);
		auto it = signals.begin();
		if (it != signals.end() && it->first <= until) {
			t = std::max(t, it->first);
			unsigned m = it->second;
			signals.erase(it);
			return m;
		}
		t = until;
		return 0;
	}
	double jitter_unit() override { return 0.5; } // factor 1: nominal delays

	int count(const std::string &what) const
	{
		int n = 0;
		for (auto &[at, s] : notes)
			n += s.find(what) != std::string::npos;
		return n;
	}
};

constexpr unsigned kTerm = 1u << SIGTERM;
constexpr unsigned kHup = 1u << SIGHUP;

} // namespace

TEST_CASE("watch exits with the first up's outcome when it fails", "[watch]")
{
	FakeWatch fx;
	fx.up_succeeds = [](int) { return false; };
	auto out = ops::watch(watch_config(), fx);
	REQUIRE(out.failed_up);
	CHECK(out.failed_up->error->code == Errc::unavailable);
	CHECK(fx.look_times.empty());
	CHECK(fx.count("READY=1") == 0);
}

TEST_CASE("watch: READY=1 once up, a look every interval, SIGTERM ends it", "[watch]")
{
	FakeWatch fx;
	fx.signals[22] = kTerm;
	auto out = ops::watch(watch_config(), fx);
	CHECK_FALSE(out.failed_up);
	CHECK(out.signal == SIGTERM);
	CHECK(fx.look_times == std::vector<double>{0, 5, 10, 15, 20});
	CHECK(fx.up_times.size() == 1); // never brought up again, never down
	REQUIRE(!fx.notes.empty());
	CHECK(fx.notes.front().second.starts_with(
	        "READY=1\nSTATUS=wg0: healthy: handshake 5s ago"));
	CHECK(fx.count("READY=1") == 1);
	CHECK(fx.count("STATUS=") == 5);
	CHECK(fx.count("WATCHDOG=1") == 0); // not asked for
	CHECK(fx.textfiles == 0);           // no textfile_dir
}

TEST_CASE("watch brings a vanished tunnel up again at the next look", "[watch]")
{
	FakeWatch fx;
	fx.signals[31] = kTerm;
	// The link is deleted at t=12; the up at t=15 recreates it.
	fx.looks = [&](const Config &) {
		bool gone = fx.t >= 12 && fx.up_times.size() < 2;
		return with_status(gone ? HealthStatus::disconnected : HealthStatus::healthy);
	};
	auto out = ops::watch(watch_config(), fx);
	CHECK(fx.up_times == std::vector<double>{0, 15});
	CHECK(out.bring_ups == 1);
	REQUIRE(out.last);
	CHECK(out.last->status == HealthStatus::healthy);
	// The look after the bring-up says so in STATUS.
	CHECK(fx.count("brought up again") == 1);
}

TEST_CASE("watch backs off between failed bring-ups as [connect] says", "[watch]")
{
	FakeWatch fx;
	auto cfg = watch_config();
	cfg.health.interval = 1;
	fx.signals[40.5] = kTerm;
	fx.up_succeeds = [](int n) { return n == 0; };
	fx.looks = [&](const Config &) {
		return with_status(fx.t >= 1 ? HealthStatus::disconnected : HealthStatus::healthy);
	};
	auto out = ops::watch(cfg, fx);
	// Delays 2, 4, 8, 16 (jitter factor 1): tries at 1, 3, 7, 15, 31; looks every second.
	std::vector<double> want{0, 1, 3, 7, 15, 31};
	REQUIRE(fx.up_times.size() == want.size());
	for (size_t i = 0; i < want.size(); ++i)
		CHECK(fx.up_times[i] == Approx(want[i]));
	CHECK(out.bring_ups == 5);
	CHECK(fx.look_times.size() == 41);
	CHECK(fx.count("next bring-up in") > 0);
}

TEST_CASE("watch counts misses and re-resolves after health.failures of them", "[watch]")
{
	FakeWatch fx;
	auto cfg = watch_config(); // interval 5, ping_timeout 2
	cfg.health.failures = 3;
	fx.signals[41] = kTerm;
	fx.looks = [&](const Config &) {
		// One answer from t=20 to 25 breaks the count.
		bool answers = fx.t >= 20 && fx.t < 25;
		return with_status(answers ? HealthStatus::healthy : HealthStatus::unhealthy);
	};
	auto out = ops::watch(cfg, fx);
	// A miss is confirmed every ping_timeout (2 s), not every interval, until the third:
	// misses at 0, 2, 4 (repair), then every interval 9, 14, 19 (repair); the answer at
	// 24; misses at 29, 31, 33 (repair), 38.
	std::vector<double> want{0, 2, 4, 9, 14, 19, 24, 29, 31, 33, 38};
	REQUIRE(fx.look_times.size() == want.size());
	for (size_t i = 0; i < want.size(); ++i)
		CHECK(fx.look_times[i] == Approx(want[i]));
	CHECK(fx.repairs == 3);
	CHECK(fx.up_times.size() == 1); // the hub not answering is no reason to recreate
	CHECK(fx.count("STATUS=wg0: unhealthy") == 10);
	CHECK(fx.count("3 miss(es) in a row") == 2);
}

TEST_CASE("a confirming look waits ping_timeout when it failed at once, interval at most",
          "[watch]")
{
	FakeWatch fx;
	auto cfg = watch_config();
	cfg.health.failures = 4;
	cfg.health.interval = 1;
	cfg.health.ping_timeout = 3; // longer than the interval: the interval it is
	fx.signals[10.5] = kTerm;
	fx.looks = [&](const Config &) {
		return with_status(fx.t < 3 ? HealthStatus::healthy : HealthStatus::unhealthy);
	};
	ops::watch(cfg, fx);
	std::vector<double> want{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
	REQUIRE(fx.look_times.size() == want.size());
	for (size_t i = 0; i < want.size(); ++i)
		CHECK(fx.look_times[i] == Approx(want[i]));
}

TEST_CASE("SIGHUP reloads the config and reconciles it in place with up", "[watch]")
{
	FakeWatch fx;
	auto changed = watch_config();
	changed.hub.persistent_keepalive = 7;
	fx.reloaded = changed;
	fx.signals[7] = kHup;
	fx.signals[19] = kTerm;
	std::vector<std::optional<uint16_t>> seen;
	fx.looks = [&](const Config &c) {
		seen.push_back(c.hub.persistent_keepalive);
		return with_status(HealthStatus::healthy);
	};
	auto out = ops::watch(watch_config(), fx);
	REQUIRE(fx.up_times.size() == 2);
	CHECK(fx.up_times[1] == 7);
	CHECK(fx.up_configs[1].hub.persistent_keepalive == 7);
	CHECK(out.reloads == 1);
	// Looked at once after the reload, then on with the new config.
	CHECK(fx.look_times == std::vector<double>{0, 5, 7, 12, 17});
	CHECK(seen.back() == 7);
	CHECK(fx.count("RELOADING=1\nMONOTONIC_USEC=7000000") == 1);
	CHECK(fx.count("READY=1") == 2);
	CHECK(out.signal == SIGTERM);
}

TEST_CASE("SIGHUP with a config that does not load keeps the one in use", "[watch]")
{
	FakeWatch fx;
	fx.signals[7] = kHup;
	fx.signals[12] = kTerm;
	auto out = ops::watch(watch_config(), fx);
	CHECK(fx.up_times.size() == 1);
	CHECK(out.reloads == 0);
	CHECK(out.signal == SIGTERM);
}

TEST_CASE("a failed reconcile keeps the previous config for the looks", "[watch]")
{
	FakeWatch fx;
	auto changed = watch_config();
	changed.hub.persistent_keepalive = 7;
	fx.reloaded = changed;
	fx.up_succeeds = [](int n) { return n == 0; };
	fx.signals[7] = kHup;
	fx.signals[13] = kTerm;
	std::vector<std::optional<uint16_t>> seen;
	fx.looks = [&](const Config &c) {
		seen.push_back(c.hub.persistent_keepalive);
		return with_status(HealthStatus::healthy);
	};
	(void)ops::watch(watch_config(), fx);
	CHECK(fx.up_times.size() == 2);
	CHECK_FALSE(seen.back());
}

TEST_CASE("with a watchdog, WATCHDOG=1 comes every loop and every half interval", "[watch]")
{
	FakeWatch fx;
	fx.watchdog = 4;
	fx.signals[30] = kTerm;
	(void)ops::watch(watch_config(), fx);
	std::vector<double> pings;
	for (auto &[at, s] : fx.notes)
		if (s.find("WATCHDOG=1") != std::string::npos)
			pings.push_back(at);
	REQUIRE(pings.size() >= 14);
	CHECK(pings.front() == 0);
	for (size_t i = 1; i < pings.size(); ++i)
		CHECK(pings[i] - pings[i - 1] <= 2.0);
}

TEST_CASE("with textfile_dir the metrics are written every loop", "[watch]")
{
	FakeWatch fx;
	auto cfg = watch_config();
	cfg.health.textfile_dir = "/var/lib/prometheus/node-exporter";
	fx.signals[11] = kTerm;
	(void)ops::watch(cfg, fx);
	CHECK(fx.textfiles == 3);
}

TEST_CASE("with [control_plane] the health is reported every loop, the look's status", "[watch]")
{
	FakeWatch fx;
	auto cfg = watch_config();
	fx.signals[11] = kTerm;
	(void)ops::watch(cfg, fx);
	CHECK(fx.reports.empty()); // nothing to report to

	FakeWatch fx2;
	cfg.control_plane = ControlPlaneConfig{};
	cfg.control_plane->url = "https://cp.example.com";
	fx2.signals[11] = kTerm;
	int n = 0;
	fx2.looks = [&](const Config &) {
		return with_status(n++ == 1 ? HealthStatus::unhealthy : HealthStatus::healthy);
	};
	(void)ops::watch(cfg, fx2);
	using R = std::vector<std::pair<double, std::string>>;
	// The miss at 5 is confirmed (cleared) at once, ping_timeout later: every look reports.
	CHECK(fx2.reports == R{{0, "healthy"}, {5, "unhealthy"}, {7, "healthy"}});
}

// --- CounterSensors ---

namespace {

struct FakeInner : HealthSensors {
	uint64_t rx = 100;
	int64_t handshake = 995; // 5 s before now
	int pings = 0;
	Result<std::optional<Link>> link(const std::string &) override
	{
		return std::optional<Link>(Link{true});
	}
	Result<DeviceState> device(const std::string &, std::string *backend) override
	{
		*backend = "kernel";
		DeviceState d;
		PeerState p;
		p.public_key.fill(7);
		p.last_handshake_sec = handshake;
		p.rx_bytes = rx;
		d.peers.push_back(p);
		return d;
	}
	Result<double> ping(const std::string &, const IpAddr &, double) override
	{
		++pings;
		rx += 92; // the reply
		return 0.0006;
	}
	std::optional<int64_t> connected_at(const std::string &) override { return 900; }
	std::optional<std::string> node_id(const std::string &) override { return std::nullopt; }
	int64_t now() override { return 1000; }
};

HealthResult look(ops::CounterSensors &s, const Config &cfg)
{
	s.prepare(cfg);
	auto o = observe_health(cfg, "wg0", s);
	s.finish(o);
	return evaluate_result(o, cfg.health.stale_handshake);
}

} // namespace

TEST_CASE("CounterSensors skip the echo only while the hub's counters grow", "[watch]")
{
	FakeInner in;
	ops::CounterSensors s(in);
	auto cfg = watch_config();

	auto r1 = look(s, cfg); // nothing known yet: echo
	CHECK(in.pings == 1);
	CHECK(r1.status == HealthStatus::healthy);

	auto r2 = look(s, cfg); // only the echo's own reply since: echo again
	CHECK(in.pings == 2);

	in.rx += 500; // traffic from the hub
	auto r3 = look(s, cfg);
	CHECK(in.pings == 2);
	CHECK(r3.status == HealthStatus::healthy);
	CHECK_FALSE(r3.obs.ping_attempted);
	CHECK(r3.obs.ping_answered); // carried from the last echo
	REQUIRE(r3.obs.rtt_ms);
	CHECK(*r3.obs.rtt_ms == Approx(0.6));

	auto r4 = look(s, cfg); // no traffic since: echo
	CHECK(in.pings == 3);
	CHECK(r4.obs.ping_attempted);

	in.rx += 500;
	in.handshake = 1000 - 200; // stale: traffic is no proof
	(void)look(s, cfg);
	CHECK(in.pings == 4);
	CHECK(s.echoes == 4);
}
