// wgn health: every output format, the Prometheus one read by a real parser.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "health.h"
#include "health_fixtures.h"

using namespace wgn;
using wgn::test::healthy_obs;
using wgn::test::result;

TEST_CASE("human: one line per result that says why")
{
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
	              .starts_with("wg0: degraded: handshake 5m ago (stale after 3m), hub 10.0.0.1 "
	                           "answered"));
}

TEST_CASE("json: the fields of SPEC, null when not known")
{
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
	CHECK(g["backend"].is_null());

	// The backend is said only when it answered.
	auto unread = healthy_obs();
	unread.device_read = false;
	unread.backend = "userspace";
	CHECK(nlohmann::json::parse(format_health_json({result(unread)}))["backend"].is_null());
}

TEST_CASE("nagios: the line of SPEC and its siblings")
{
	struct Row {
		const char *what;
		void (*change)(HealthObservation &);
		double stale;
		const char *want;
	};
	const Row rows[] = {
	        {"SPEC's example", [](HealthObservation &) {}, 180,
	         "WGN OK - wg0 healthy, handshake 5s ago | handshake_age=5s;180;;0 "
	         "rtt=0.6ms;;;0\n"},
	        {"uptime", [](HealthObservation &o) { o.uptime = 3600; }, 180,
	         "WGN OK - wg0 healthy, handshake 5s ago | handshake_age=5s;180;;0 rtt=0.6ms;;;0 "
	         "uptime=3600s;;;0\n"},
	        {"stale", [](HealthObservation &o) { o.handshake_age = 30; }, 10,
	         "WGN WARNING - wg0 degraded, handshake 30s ago (stale after 10s) | "
	         "handshake_age=30s;10;;0 rtt=0.6ms;;;0\n"},
	        {"no answer",
	         [](HealthObservation &o) { o.ping_answered = false, o.rtt_ms.reset(); }, 180,
	         "WGN CRITICAL - wg0 unhealthy, hub 10.0.0.1 did not answer within 2.0s, handshake "
	         "5s "
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
	        {"no ';' in the text: Nagios Core would show it as ':'",
	         [](HealthObservation &o) { o.unknown_reason = "a.json is damaged; ignoring it"; },
	         180, "WGN UNKNOWN - wg0 unknown, a.json is damaged, ignoring it\n"},
	        {"fractional threshold", [](HealthObservation &) {}, 2.5,
	         "WGN WARNING - wg0 degraded, handshake 5s ago (stale after 2.5s) | "
	         "handshake_age=5s;2.500;;0 rtt=0.6ms;;;0\n"},
	};
	for (auto &row : rows) {
		INFO(row.what);
		auto o = healthy_obs();
		row.change(o);
		CHECK(format_health_nagios({result(o, row.stale)}) == row.want);
	}
}

TEST_CASE("nagios --all: one line, worst status, labels by interface")
{
	auto a = healthy_obs();
	auto b = healthy_obs();
	b.interface = "wg=1";
	b.handshake_age = 500;
	HealthObservation c;
	c.interface = "wg2";
	c.unknown_reason = "no permission";
	// UNKNOWN (3) outranks WARNING (1).
	CHECK(format_health_nagios({result(a), result(b), result(c)}) ==
	      "WGN UNKNOWN - wg0 healthy, handshake 5s ago / wg=1 degraded, handshake 8m 20s ago "
	      "(stale after 3m) / wg2 unknown, no permission | wg0_handshake_age=5s;180;;0 "
	      "wg0_rtt=0.6ms;;;0 'wg=1_handshake_age'=500s;180;;0 'wg=1_rtt'=0.6ms;;;0\n");
	CHECK(format_health_nagios({}) == "WGN OK - no configs to check\n");
}

TEST_CASE("prometheus: families once, samples per interface, unknowns left out")
{
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
TEST_CASE("prometheus: the official parser reads every sample")
{
	if (std::system("/usr/bin/python3 -c 'import prometheus_client' 2>/dev/null") != 0) {
		const char *ci = std::getenv("CI");
		if (ci && std::string(ci) == "true")
			FAIL("CI must have python3-prometheus-client");
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
	CHECK(has("gauge wgn_info{backend='kernel',interface='wg0',node_id='odd \\\\ \"id\"\\nx'} "
	          "1.0"));
	// Every sample line of the text came through.
	size_t samples = 0;
	for (size_t p = 0; p < text.size(); p = text.find('\n', p) + 1)
		samples += text[p] != '#';
	size_t lines = 0;
	for (char ch : parsed)
		lines += ch == '\n';
	CHECK(lines == samples);
}

TEST_CASE("human: an unknown result says only why")
{
	auto o = healthy_obs();
	o.uptime = 60;
	o.unknown_reason = "cannot open an ICMP socket";
	CHECK(format_health_human({result(o)}) == "wg0: unknown: cannot open an ICMP socket\n");
}

TEST_CASE("a hub's config: peers and peers_recent in json, nagios and prometheus")
{
	HealthObservation o;
	o.config = o.interface = "hub0";
	o.hub_config = true;
	o.link_checked = o.link_present = o.link_up = o.device_read = true;
	o.peers = 3;
	o.peer_handshakes = {5, std::nullopt, 400};
	o.rx_bytes = 2048;
	o.backend = "userspace";
	auto r = result(o);
	REQUIRE(r.status == HealthStatus::healthy);

	auto j = nlohmann::json::parse(format_health_json({r}));
	CHECK(j["role"] == "hub");
	CHECK(j["peers"] == 3);
	CHECK(j["peers_recent"] == 1);
	CHECK(j["status"] == "healthy");
	CHECK(j["exit_code"] == 0);
	CHECK(j["rx_bytes"] == 2048);

	CHECK(format_health_nagios({r}) ==
	      "WGN OK - hub0 healthy, hub of 3 peers, 1 handshook within 3m | peers=3;;;0 "
	      "peers_recent=1;;;0\n");
	auto prom = format_health_prometheus({r});
	CHECK(prom.find("wgn_hub_peers{interface=\"hub0\"} 3\n") != std::string::npos);
	CHECK(prom.find("wgn_hub_peers_recent{interface=\"hub0\"} 1\n") != std::string::npos);
	CHECK(prom.find("wgn_handshake_age_seconds") == std::string::npos);

	// A node has neither.
	auto node = nlohmann::json::parse(format_health_json({result(healthy_obs())}));
	CHECK(node["role"] == "node");
	CHECK(node["peers"].is_null());
	CHECK(node["peers_recent"].is_null());
	CHECK(format_health_prometheus({result(healthy_obs())}).find("wgn_hub_peers") ==
	      std::string::npos);
}
