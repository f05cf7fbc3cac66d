// wgn health: evaluation tables, observation through fake sensors, and every format.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <map>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "health.h"

using namespace wgn;

namespace {

// A tunnel that is fine: link up, handshake 5s ago, hub answered in 0.6 ms.
HealthObservation healthy_obs() {
	HealthObservation o;
	o.config = "wg0";
	o.interface = "wg0";
	o.link_checked = o.link_present = o.link_up = true;
	o.device_read = o.hub_peer = true;
	o.handshake_age = 5;
	o.rx_bytes = 1234;
	o.tx_bytes = 5678;
	o.endpoint = "192.0.2.1:51820";
	o.hub = "10.0.0.1";
	o.ping_attempted = o.ping_answered = true;
	o.rtt_ms = 0.6;
	o.backend = "kernel";
	return o;
}

HealthResult result(HealthObservation o, double stale = 180) {
	return evaluate_result(o, stale);
}

} // namespace

TEST_CASE("evaluate: the status table") {
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
	    {"stale handshake, hub answers", [](HealthObservation &o) { o.handshake_age = 181; },
	     180, HealthStatus::degraded},
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
	     [](HealthObservation &o) { o.ping_attempted = o.ping_answered = false, o.hub = ""; },
	     180, HealthStatus::healthy},
	    {"no tunnel address: stale handshake",
	     [](HealthObservation &o) {
		     o.ping_attempted = o.ping_answered = false, o.hub = "", o.handshake_age = 500;
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

TEST_CASE("exit codes follow the monitoring-plugins convention") {
	CHECK(health_exit_code(HealthStatus::healthy) == 0);
	CHECK(health_exit_code(HealthStatus::degraded) == 1);
	CHECK(health_exit_code(HealthStatus::unhealthy) == 2);
	CHECK(health_exit_code(HealthStatus::disconnected) == 2);
	CHECK(health_exit_code(HealthStatus::unknown) == 3);
	CHECK(std::string(health_status_name(HealthStatus::disconnected)) == "disconnected");
}

TEST_CASE("--all exits with the worst, ranked 2 > 3 > 1 > 0") {
	const std::pair<std::vector<int>, int> rows[] = {
	    {{}, 0},     {{0, 0}, 0},    {{0, 1}, 1},    {{1, 3}, 3},
	    {{3, 2}, 2}, {{2, 3, 1}, 2}, {{0, 3, 0}, 3}, {{1, 0, 1}, 1},
	};
	for (auto &[codes, want] : rows)
		CHECK(worst_health_exit_code(codes) == want);
}

TEST_CASE("format_duration") {
	const std::pair<int64_t, const char *> rows[] = {
	    {-3, "0s"},   {0, "0s"},       {5, "5s"},     {60, "1m"},       {192, "3m 12s"},
	    {3600, "1h"}, {7500, "2h 5m"}, {86400, "1d"}, {93784, "1d 2h"},
	};
	for (auto &[s, want] : rows)
		CHECK(format_duration(s) == want);
}

TEST_CASE("human: one line per result that says why") {
	auto o = healthy_obs();
	o.uptime = 7500;
	CHECK(format_health_human({result(o)}) ==
	      "wg0: healthy: handshake 5s ago, hub 10.0.0.1 answered in 0.6 ms, up 2h 5m, rx 1.2 "
	      "KiB, tx 5.5 KiB\n");

	auto down = healthy_obs();
	down.ping_answered = false;
	down.rtt_ms.reset();
	down.handshake_age = 200;
	CHECK(format_health_human({result(down)}) ==
	      "wg0: unhealthy: hub 10.0.0.1 did not answer within 2.0s, handshake 3m 20s ago, rx "
	      "1.2 KiB, tx 5.5 KiB\n");

	HealthObservation gone;
	gone.interface = "wg1";
	gone.link_checked = true;
	HealthObservation unk;
	unk.interface = "wg2";
	unk.unknown_reason = "cannot read wg2: Operation not permitted";
	CHECK(format_health_human({result(gone), result(unk)}) ==
	      "wg1: disconnected: no interface wg1\n"
	      "wg2: unknown: cannot read wg2: Operation not permitted\n");

	auto stale = healthy_obs();
	stale.handshake_age = 300;
	CHECK(format_health_human({result(stale)})
	          .starts_with(
	              "wg0: degraded: handshake 5m ago (stale after 3m), hub 10.0.0.1 answered"));
}

TEST_CASE("json: the fields of SPEC, null when not known") {
	auto o = healthy_obs();
	o.uptime = 42;
	o.node_id = "n-1";
	auto j = nlohmann::json::parse(format_health_json({result(o)}));
	CHECK(j["status"] == "healthy");
	CHECK(j["interface"] == "wg0");
	CHECK(j["connected"] == true);
	CHECK(j["can_ping_hub"] == true);
	CHECK(j["handshake_age"] == 5);
	CHECK(j["uptime_seconds"] == 42);
	CHECK(j["node_id"] == "n-1");
	CHECK(j["rtt_ms"] == Approx(0.6));
	CHECK(j["rx_bytes"] == 1234);
	CHECK(j["tx_bytes"] == 5678);
	CHECK(j["backend"] == "kernel");
	CHECK(j["endpoint"] == "192.0.2.1:51820");
	CHECK(j["exit_code"] == 0);

	HealthObservation gone;
	gone.interface = "wg1";
	gone.link_checked = true;
	auto out = format_health_json({result(o), result(gone)});
	auto nl = out.find('\n');
	REQUIRE(nl != std::string::npos);
	CHECK(out.back() == '\n');
	auto g = nlohmann::json::parse(out.substr(nl + 1));
	CHECK(g["status"] == "disconnected");
	CHECK(g["connected"] == false);
	CHECK(g["can_ping_hub"] == false);
	CHECK(g["handshake_age"].is_null());
	CHECK(g["uptime_seconds"].is_null());
	CHECK(g["node_id"].is_null());
	CHECK(g["rtt_ms"].is_null());
	CHECK(g["rx_bytes"].is_null());
	CHECK(g["exit_code"] == 2);
	CHECK(g["reason"] == "no interface wg1");
}

TEST_CASE("nagios: the line of SPEC and its siblings") {
	struct Row {
		const char *what;
		void (*change)(HealthObservation &);
		double stale;
		const char *want;
	};
	const Row rows[] = {
	    {"SPEC's example", [](HealthObservation &) {}, 180,
	     "WGN OK - wg0 healthy, handshake 5s ago | handshake_age=5s;180;;0 rtt=0.6ms;;;0\n"},
	    {"uptime", [](HealthObservation &o) { o.uptime = 3600; }, 180,
	     "WGN OK - wg0 healthy, handshake 5s ago | handshake_age=5s;180;;0 rtt=0.6ms;;;0 "
	     "uptime=3600s;;;0\n"},
	    {"stale", [](HealthObservation &o) { o.handshake_age = 30; }, 10,
	     "WGN WARNING - wg0 degraded, handshake 30s ago (stale after 10s) | "
	     "handshake_age=30s;10;;0 rtt=0.6ms;;;0\n"},
	    {"no answer", [](HealthObservation &o) { o.ping_answered = false, o.rtt_ms.reset(); },
	     180,
	     "WGN CRITICAL - wg0 unhealthy, hub 10.0.0.1 did not answer within 2.0s, handshake 5s "
	     "ago | handshake_age=5s;180;;0 rtt=U;;;0\n"},
	    {"gone",
	     [](HealthObservation &o) {
		     o = HealthObservation{}, o.interface = "wg0", o.hub = "10.0.0.1",
		     o.link_checked = true;
	     },
	     180,
	     "WGN CRITICAL - wg0 disconnected, no interface wg0 | handshake_age=U;180;;0 "
	     "rtt=U;;;0\n"},
	    {"unknown: no perfdata",
	     [](HealthObservation &o) { o.unknown_reason = "wg0.toml:3: bad | key"; }, 180,
	     "WGN UNKNOWN - wg0 unknown, wg0.toml:3: bad / key\n"},
	    {"fractional threshold", [](HealthObservation &) {}, 2.5,
	     "WGN WARNING - wg0 degraded, handshake 5s ago (stale after 2s) | "
	     "handshake_age=5s;2.500;;0 rtt=0.6ms;;;0\n"},
	};
	for (auto &row : rows) {
		INFO(row.what);
		auto o = healthy_obs();
		row.change(o);
		CHECK(format_health_nagios({result(o, row.stale)}) == row.want);
	}
}

TEST_CASE("nagios --all: one line, worst status, labels by interface") {
	auto a = healthy_obs();
	auto b = healthy_obs();
	b.interface = "wg=1";
	b.handshake_age = 500;
	HealthObservation c;
	c.interface = "wg2";
	c.unknown_reason = "no permission";
	// UNKNOWN (3) outranks WARNING (1).
	CHECK(format_health_nagios({result(a), result(b), result(c)}) ==
	      "WGN UNKNOWN - wg0 healthy, handshake 5s ago; wg=1 degraded, handshake 8m 20s ago "
	      "(stale after 3m); wg2 unknown, no permission | wg0_handshake_age=5s;180;;0 "
	      "wg0_rtt=0.6ms;;;0 'wg=1_handshake_age'=500s;180;;0 'wg=1_rtt'=0.6ms;;;0\n");
	CHECK(format_health_nagios({}) == "WGN OK - no configs to check\n");
}

TEST_CASE("prometheus: families once, samples per interface, unknowns left out") {
	auto a = healthy_obs();
	a.uptime = 60;
	a.node_id = "n\"1";
	auto b = healthy_obs();
	b.interface = "wg1";
	b.handshake_age.reset();
	b.ping_answered = false;
	b.rtt_ms.reset();
	HealthObservation c;
	c.interface = "wg2";
	c.link_checked = true;
	auto out = format_health_prometheus({result(a), result(b), result(c)});

	auto count = [&](const std::string &needle) {
		size_t n = 0;
		for (size_t p = out.find(needle); p != std::string::npos;
		     p = out.find(needle, p + 1))
			++n;
		return n;
	};
	for (auto name : {"wgn_up", "wgn_health_status", "wgn_handshake_age_seconds",
	                  "wgn_ping_rtt_seconds", "wgn_uptime_seconds", "wgn_receive_bytes_total",
	                  "wgn_transmit_bytes_total", "wgn_can_ping_hub", "wgn_info"}) {
		INFO(name);
		CHECK(count(std::string("# HELP ") + name + " ") == 1);
		CHECK(count(std::string("# TYPE ") + name + " ") == 1);
	}
	CHECK(count("# TYPE wgn_receive_bytes_total counter\n") == 1);
	CHECK(count("wgn_up{interface=\"wg0\"} 1\n") == 1);
	CHECK(count("wgn_up{interface=\"wg2\"} 0\n") == 1);
	CHECK(count("wgn_health_status{interface=\"wg0\",status=\"healthy\"} 1\n") == 1);
	CHECK(count("wgn_health_status{interface=\"wg1\",status=\"unhealthy\"} 1\n") == 1);
	CHECK(count("wgn_health_status{interface=\"wg2\",status=\"disconnected\"} 1\n") == 1);
	CHECK(count("wgn_health_status{interface=\"wg2\",status=\"healthy\"} 0\n") == 1);
	CHECK(count("wgn_handshake_age_seconds{interface=\"wg0\"} 5\n") == 1);
	CHECK(count("wgn_handshake_age_seconds{interface=\"wg1\"} +Inf\n") == 1);
	CHECK(count("wgn_handshake_age_seconds{interface=\"wg2\"}") == 0);
	CHECK(count("wgn_ping_rtt_seconds{interface=\"wg0\"} 0.0006\n") == 1);
	CHECK(count("wgn_ping_rtt_seconds{interface=\"wg1\"}") == 0);
	CHECK(count("wgn_uptime_seconds{interface=\"wg0\"} 60\n") == 1);
	CHECK(count("wgn_receive_bytes_total{interface=\"wg0\"} 1234\n") == 1);
	CHECK(count("wgn_transmit_bytes_total{interface=\"wg1\"} 5678\n") == 1);
	CHECK(count("wgn_info{interface=\"wg0\",backend=\"kernel\",node_id=\"n\\\"1\"} 1\n") == 1);

	// An unknown check says only that it is unknown.
	HealthObservation u;
	u.interface = "wg3";
	u.unknown_reason = "bad config";
	CHECK(format_health_prometheus({result(u)}) ==
	      "# HELP wgn_health_status 1 for the status of the last check (healthy, degraded, "
	      "unhealthy, disconnected, unknown), 0 for the others.\n"
	      "# TYPE wgn_health_status gauge\n"
	      "wgn_health_status{interface=\"wg3\",status=\"healthy\"} 0\n"
	      "wgn_health_status{interface=\"wg3\",status=\"degraded\"} 0\n"
	      "wgn_health_status{interface=\"wg3\",status=\"unhealthy\"} 0\n"
	      "wgn_health_status{interface=\"wg3\",status=\"disconnected\"} 0\n"
	      "wgn_health_status{interface=\"wg3\",status=\"unknown\"} 1\n");
}

// The exposition is read by a real parser: the Prometheus project's own Python client.
TEST_CASE("prometheus: the official parser reads every sample") {
	if (std::system("/usr/bin/python3 -c 'import prometheus_client' 2>/dev/null") != 0) {
		const char *ci = std::getenv("CI");
		if (ci && std::string(ci) == "true") FAIL("CI must have python3-prometheus-client");
		WARN("skipped: python3-prometheus-client is not installed");
		return;
	}
	auto a = healthy_obs();
	a.uptime = 60;
	a.node_id = "odd \\ \"id\"\nx";
	auto b = healthy_obs();
	b.interface = "wg.b";
	b.handshake_age.reset();
	HealthObservation c;
	c.interface = "wg2";
	c.link_checked = true;
	HealthObservation u;
	u.interface = "wg3";
	u.unknown_reason = "bad";
	auto text = format_health_prometheus({result(a), result(b), result(c), result(u)});

	char path[] = "/tmp/wgn-health-prom-XXXXXX";
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
	close(fd);
	// Prints "name{labels} value" for each sample, sorted, so the test can compare.
	std::string cmd =
	    std::string("/usr/bin/python3 -c '\n"
	                "import sys\n"
	                "from prometheus_client.parser import "
	                "text_string_to_metric_families as p\n"
	                "out = []\n"
	                "for f in p(open(sys.argv[1]).read()):\n"
	                "  for s in f.samples:\n"
	                "    l = \",\".join(k + \"=\" + repr(v) for k, v in "
	                "sorted(s.labels.items()))\n"
	                "    out.append(f.type + \" \" + s.name + \"{\" + l + \"} \" + "
	                "repr(s.value))\n"
	                "print(\"\\n\".join(sorted(out)))\n"
	                "' ") +
	    path;
	FILE *f = popen(cmd.c_str(), "r");
	REQUIRE(f);
	std::string parsed;
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		parsed.append(buf, n);
	int rc = pclose(f);
	unlink(path);
	INFO(text);
	INFO(parsed);
	REQUIRE(rc == 0);
	auto has = [&](const std::string &line) {
		return parsed.find(line + "\n") != std::string::npos;
	};
	CHECK(has("gauge wgn_up{interface='wg0'} 1.0"));
	CHECK(has("gauge wgn_up{interface='wg2'} 0.0"));
	CHECK(has("gauge wgn_handshake_age_seconds{interface='wg.b'} inf"));
	CHECK(has("gauge wgn_ping_rtt_seconds{interface='wg0'} 0.0006"));
	CHECK(has("counter wgn_receive_bytes_total{interface='wg0'} 1234.0"));
	CHECK(has("counter wgn_transmit_bytes_total{interface='wg.b'} 5678.0"));
	CHECK(has("gauge wgn_health_status{interface='wg3',status='unknown'} 1.0"));
	CHECK(has(
	    "gauge wgn_info{backend='kernel',interface='wg0',node_id='odd \\\\ \"id\"\\nx'} 1.0"));
	// Every sample line of the text came through.
	size_t samples = 0;
	for (size_t p = 0; p < text.size(); p = text.find('\n', p) + 1)
		samples += text[p] != '#';
	size_t lines = 0;
	for (char ch : parsed)
		lines += ch == '\n';
	CHECK(lines == samples);
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

	Result<std::optional<Link>> link(const std::string &) override {
		calls.push_back("link");
		return link_r;
	}
	Result<DeviceState> device(const std::string &, std::string *backend) override {
		calls.push_back("device");
		*backend = "userspace";
		return device_r;
	}
	Result<double> ping(const std::string &, const IpAddr &, double) override {
		calls.push_back("ping");
		++pings;
		return ping_r;
	}
	std::optional<int64_t> connected_at(const std::string &) override { return at; }
	std::optional<std::string> node_id(const std::string &) override { return id; }
	int64_t now() override { return 1000000; }
};

Config test_config() {
	Config c;
	c.interface.name = "wg0";
	c.hub.public_key.fill(7);
	c.hub.tunnel_address = parse_ip("10.0.0.1");
	c.health.ping_timeout = 1.5;
	return c;
}

DeviceState device_with_hub(int64_t handshake) {
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

TEST_CASE("observe_health: reads, in order, and never more than one echo") {
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

TEST_CASE("observe_health: how sensor errors are read") {
	SECTION("no interface: disconnected, nothing else asked") {
		FakeSensors s;
		s.link_r = std::optional<HealthSensors::Link>();
		auto o = observe_health(test_config(), "wg0", s);
		CHECK(s.calls == std::vector<std::string>{"link"});
		CHECK(evaluate(o, 180) == HealthStatus::disconnected);
	}
	SECTION("netlink fails: unknown") {
		FakeSensors s;
		s.link_r = make_error(Errc::os, "cannot open rtnetlink: Protocol not supported");
		auto o = observe_health(test_config(), "wg0", s);
		CHECK(evaluate(o, 180) == HealthStatus::unknown);
		CHECK(*o.unknown_reason == "cannot open rtnetlink: Protocol not supported");
	}
	SECTION("device unreadable without CAP_NET_ADMIN: unknown, no echo") {
		FakeSensors s;
		s.device_r = make_error(Errc::no_perm, "reading wg0 needs CAP_NET_ADMIN");
		auto o = observe_health(test_config(), "wg0", s);
		CHECK(s.pings == 0);
		CHECK(evaluate(o, 180) == HealthStatus::unknown);
	}
	SECTION("not a WireGuard device: unhealthy") {
		FakeSensors s;
		s.device_r =
		    make_error(Errc::os, "cannot read WireGuard device wg0: No such device");
		auto r = evaluate_result(observe_health(test_config(), "wg0", s), 180);
		CHECK(r.status == HealthStatus::unhealthy);
		CHECK(health_reason(r) == "cannot read WireGuard device wg0: No such device");
	}
	SECTION("echo times out: unhealthy, says how long it waited") {
		FakeSensors s;
		s.device_r = device_with_hub(1000000 - 12);
		s.ping_r = make_error(Errc::unavailable, "hub 10.0.0.1 did not answer within 1.5s");
		auto r = evaluate_result(observe_health(test_config(), "wg0", s), 180);
		CHECK(r.status == HealthStatus::unhealthy);
		CHECK(health_reason(r) ==
		      "hub 10.0.0.1 did not answer within 1.5s, handshake 12s ago");
	}
	SECTION("echo refused on the way out: unhealthy with the reason") {
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
	SECTION("no ICMP socket: unknown") {
		for (auto c : {Errc::no_perm, Errc::os}) {
			FakeSensors s;
			s.device_r = device_with_hub(1000000 - 12);
			s.ping_r = make_error(c, "cannot open an ICMP socket");
			auto o = observe_health(test_config(), "wg0", s);
			CHECK(evaluate(o, 180) == HealthStatus::unknown);
		}
	}
	SECTION("link down: no echo") {
		FakeSensors s;
		s.link_r = std::optional<HealthSensors::Link>(HealthSensors::Link{false});
		s.device_r = device_with_hub(1000000 - 12);
		auto o = observe_health(test_config(), "wg0", s);
		CHECK(s.pings == 0);
		CHECK(evaluate(o, 180) == HealthStatus::unhealthy);
	}
	SECTION("no tunnel address: no echo") {
		FakeSensors s;
		s.device_r = device_with_hub(1000000 - 12);
		auto cfg = test_config();
		cfg.hub.tunnel_address.reset();
		auto o = observe_health(cfg, "wg0", s);
		CHECK(s.pings == 0);
		CHECK(evaluate(o, 180) == HealthStatus::healthy);
	}
	SECTION("never a handshake") {
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
	Status bring_up(const Config &, const std::string &name) override {
		calls.push_back("up " + name);
		return up_r;
	}
	Result<SockAddr> resolve(const Endpoint &ep) override {
		calls.push_back("resolve " + ep.str());
		return resolve_r;
	}
	Status set_endpoint(const std::string &ifname, const Key &, const SockAddr &ep) override {
		calls.push_back("set " + ifname + " " + ep.str());
		return Ok{};
	}
};

Config named_hub_config() {
	auto c = test_config();
	c.hub.endpoint = Endpoint{"hub.example.com", 51820};
	return c;
}

} // namespace

TEST_CASE("repair_health: what --repair does for each status") {
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
	     {"wg0: hub.example.com:51820 still resolves to 192.0.2.7:51820; endpoint unchanged"},
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

TEST_CASE("repair_health: failures are said, numeric endpoints left alone") {
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

TEST_CASE("health loads a config without reading its key files") {
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
