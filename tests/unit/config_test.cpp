#include <catch2/catch.hpp>

#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "test_util.h"

using wgn::test::kHub;
using wgn::test::kPriv;

using namespace wgn;

namespace {

// A scratch directory with a private key file, removed at the end of the test.
struct ConfigScratch {
	std::filesystem::path dir;
	ConfigScratch()
	{
		char tmpl[] = "/tmp/wgn-config-test.XXXXXX";
		dir = mkdtemp(tmpl);
		write("wg0.key", std::string(kPriv) + "\n", 0600);
	}
	~ConfigScratch() { std::filesystem::remove_all(dir); }
	std::filesystem::path write(const std::string &name, const std::string &text,
	                            unsigned mode = 0600) {
		auto p = dir / name;
		std::ofstream(p) << text;
		chmod(p.c_str(), mode);
		return p;
	}
};

std::string interface_table(const std::string &extra = "") {
	return "[interface]\nprivate_key_file = \"wg0.key\"\naddress = [\"10.0.0.10/24\", "
	       "\"fd00::10/64\"]\n" +
	       extra;
}

std::string hub_table(const std::string &extra = "") {
	return std::string("[hub]\npublic_key = \"") + kHub +
	       "\"\nendpoint = \"hub.example.com:51820\"\nallowed_ips = [\"10.0.0.0/24\"]\n" +
	       extra;
}

std::string valid(const std::string &iface_extra = "", const std::string &hub_extra = "",
                  const std::string &rest = "") {
	return interface_table(iface_extra) + "\n" + hub_table(hub_extra) + "\n" + rest;
}

} // namespace

TEST_CASE("a valid config parses with defaults") {
	ConfigScratch s;
	auto cfg = parse_config(valid(), s.dir / "wg0.toml");
	REQUIRE(cfg);
	CHECK(cfg->interface.name == "wg0");
	CHECK(base64_encode(cfg->interface.public_key) ==
	      "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=");
	CHECK(cfg->interface.addresses.size() == 2);
	CHECK(cfg->interface.backend == Backend::automatic);
	CHECK(cfg->hub.endpoint.host == "hub.example.com");
	CHECK(cfg->connect.max_retries == 5);
	CHECK(cfg->connect.initial_backoff == 2.0);
	CHECK(cfg->connect.max_backoff == 60.0);
	CHECK(cfg->connect.attempt_timeout == 5.0);
	CHECK(cfg->connect.timeout == 120.0);
	CHECK(cfg->health.stale_handshake == 180);
	CHECK(cfg->health.interval == 5.0);
	CHECK(cfg->health.failures == 3);
	CHECK(cfg->health.failback_after == 60.0);
	CHECK_FALSE(cfg->health.textfile_dir);
	CHECK_FALSE(cfg->control_plane);
}

TEST_CASE("the full schema of SPEC parses") {
	ConfigScratch s;
	s.write("wg0.psk", std::string(kHub) + "\n");
	auto text = valid("name = \"corp0\"\nlisten_port = 51821\nmtu = 1380\nfwmark = 51820\n"
	                  "backend = \"userspace\"\n",
	                  "persistent_keepalive = 25\npreshared_key_file = \"wg0.psk\"\n"
	                  "tunnel_address = \"10.0.0.1\"\n",
	                  "[connect]\nmax_retries = 3\ninitial_backoff = 0.5\nmax_backoff = 4\n"
	                  "attempt_timeout = 1.5\ntimeout = 30.0\n"
	                  "[health]\nstale_handshake = 120\nping_timeout = 1.0\n"
	                  "interval = 2\nfailures = 4\nfailback_after = 30.5\n"
	                  "textfile_dir = \"/var/lib/prometheus/node-exporter\"\n"
	                  "[control_plane]\nurl = \"https://cp.example.com/\"\ntimeout = 3.0\n"
	                  "max_retries = 2\n[control_plane.labels]\nrole = \"worker\"\n");
	auto cfg = parse_config(text, s.dir / "wg0.toml");
	REQUIRE(cfg);
	CHECK(cfg->interface.name == "corp0");
	CHECK(*cfg->interface.listen_port == 51821);
	CHECK(*cfg->interface.mtu == 1380);
	CHECK(cfg->interface.fwmark == 51820);
	CHECK(cfg->interface.backend == Backend::userspace);
	CHECK(*cfg->hub.persistent_keepalive == 25);
	REQUIRE(cfg->hub.preshared_key);
	CHECK(cfg->hub.tunnel_address->str() == "10.0.0.1");
	CHECK(cfg->connect.max_retries == 3);
	CHECK(cfg->connect.initial_backoff == 0.5);
	CHECK(cfg->connect.max_backoff == 4.0);
	CHECK(cfg->health.ping_timeout == 1.0);
	CHECK(cfg->health.interval == 2.0);
	CHECK(cfg->health.failures == 4);
	CHECK(cfg->health.failback_after == 30.5);
	CHECK(cfg->health.textfile_dir == "/var/lib/prometheus/node-exporter");
	REQUIRE(cfg->control_plane);
	CHECK(cfg->control_plane->url == "https://cp.example.com");
	CHECK(cfg->control_plane->labels.at("role") == "worker");
}

TEST_CASE("strings are accepted where SPEC allows a string or an array") {
	ConfigScratch s;
	auto text = "[interface]\nprivate_key_file = \"wg0.key\"\naddress = \"10.0.0.10/24\"\n" +
	            std::string("[hub]\npublic_key = \"") + kHub +
	            "\"\nendpoint = \"[2001:db8::1]:51820\"\nallowed_ips = \"10.0.0.0/24\"\n";
	auto cfg = parse_config(text, s.dir / "wg0.toml");
	REQUIRE(cfg);
	CHECK(cfg->interface.addresses.size() == 1);
	CHECK(cfg->hub.allowed_ips.size() == 1);
	CHECK(cfg->hub.endpoint.host == "2001:db8::1");
}

// Every bad config exits 78 with "FILE:LINE: KEY: sentence".
TEST_CASE("bad configs name file, line and key") {
	struct Case {
		std::string text;
		std::string where; // ":LINE: KEY:"
		std::string says;
	};
	// interface_table() puts private_key_file on line 2 and address on line 3;
	// valid() puts [hub] on line 5: public_key 6, endpoint 7, allowed_ips 8.
	std::vector<Case> cases = {
	    {valid("colour = \"blue\"\n"), ":4: interface.colour:", "unknown key"},
	    {valid("adress = \"10.0.0.1/24\"\n"),
	     ":4: interface.adress:", "did you mean `address'"},
	    {valid() + "[hubb]\n", ":10: hubb:", "unknown table"},
	    {valid("listen_port = 0\n"),
	     ":4: interface.listen_port:", "0 is out of range (1 to 65535)"},
	    {valid("listen_port = 65536\n"), ":4: interface.listen_port:", "out of range"},
	    {valid("listen_port = \"51820\"\n"),
	     ":4: interface.listen_port:", "expected an integer, found a string"},
	    {valid("mtu = 100\n"), ":4: interface.mtu:", "out of range"},
	    {valid("fwmark = -1\n"), ":4: interface.fwmark:", "out of range"},
	    {valid("backend = \"dpdk\"\n"),
	     ":4: interface.backend:", "`dpdk' is not one of auto, kernel, userspace"},
	    {valid("name = \"this-name-is-too-long\"\n"),
	     ":4: interface.name:", "is not an interface name"},
	    {valid("private_key = \"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=\"\n"),
	     ":2: interface.private_key_file:", "not both"},
	    {"[interface]\naddress = \"10.0.0.10/24\"\n" + hub_table(),
	     ":1: interface.private_key_file:", "required key is missing"},
	    {"[interface]\nprivate_key_file = \"wg0.key\"\n" + hub_table(),
	     ":1: interface.address:", "required key is missing"},
	    {"[interface]\nprivate_key_file = \"wg0.key\"\naddress = [\"10.0.0.300/24\"]\n" +
	         hub_table(),
	     ":3: interface.address:", "`10.0.0.300/24' is not an address with a prefix length"},
	    {"[interface]\nprivate_key_file = \"wg0.key\"\naddress = [\"10.0.0.3\"]\n" +
	         hub_table(),
	     ":3: interface.address:", "is not an address with a prefix length"},
	    {"[interface]\nprivate_key_file = \"wg0.key\"\naddress = [1, 2]\n" + hub_table(),
	     ":3: interface.address:", "expected strings in the array, found an integer"},
	    {"[interface]\nprivate_key_file = \"wg0.key\"\naddress = []\n" + hub_table(),
	     ":3: interface.address:", "the list is empty"},
	    {interface_table() + "[hub]\npublic_key = \"short\"\nendpoint = \"h:1\"\nallowed_ips = "
	                         "\"10.0.0.0/24\"\n",
	     ":5: hub.public_key:", "key is not the correct length or format: `short'"},
	    {interface_table() + "[hub]\npublic_key = \"" + kHub +
	         "\"\nendpoint = \"hub.example.com\"\nallowed_ips = \"10.0.0.0/24\"\n",
	     ":6: hub.endpoint:", "`hub.example.com': expected host:port"},
	    {interface_table() + "[hub]\npublic_key = \"" + kHub +
	         "\"\nendpoint = \"hub:99999\"\nallowed_ips = \"10.0.0.0/24\"\n",
	     ":6: hub.endpoint:", "from 1 to 65535"},
	    {interface_table() + "[hub]\npublic_key = \"" + kHub +
	         "\"\nendpoint = \"hub:1\"\nallowed_ips = [\"10.0.0.0/33\"]\n",
	     ":7: hub.allowed_ips:", "`10.0.0.0/33' is not a CIDR prefix"},
	    {interface_table() + "[hub]\npublic_key = \"" + kHub +
	         "\"\nendpoint = \"hub:1\"\nallowed_ips = [\"0.0.0.0/0\"]\n",
	     ":7: hub.allowed_ips:", "is a default route"},
	    {interface_table() + "[hub]\npublic_key = \"" + kHub +
	         "\"\nendpoint = \"hub:1\"\nallowed_ips = [\"10.0.0.0/24\", \"::/0\"]\n",
	     ":7: hub.allowed_ips:", "`::/0' is a default route"},
	    {interface_table() + "[hub]\npublic_key = \"" + kHub +
	         "\"\nallowed_ips = \"10.0.0.0/24\"\n",
	     ":4: hub.endpoint:", "required key is missing"},
	    {interface_table(), ":0: [hub]:", "the table is missing"},
	    {valid("", "tunnel_address = \"10.0.0\"\n"),
	     ":9: hub.tunnel_address:", "`10.0.0' is not an IP address"},
	    {valid("", "persistent_keepalive = 70000\n"),
	     ":9: hub.persistent_keepalive:", "out of range"},
	    {valid("", "preshared_key_file = \"missing.psk\"\n"),
	     ":9: hub.preshared_key_file:", "cannot read preshared key file"},
	    {valid("", "", "[connect]\nmax_retries = -1\n"),
	     ":11: connect.max_retries:", "out of range"},
	    {valid("", "", "[connect]\ntimeout = 0\n"),
	     ":11: connect.timeout:", "expected a positive number of seconds"},
	    {valid("", "", "[connect]\ninitial_backoff = \"2s\"\n"),
	     ":11: connect.initial_backoff:", "expected seconds, found a string"},
	    {valid("", "", "[connect]\ninitial_backoff = 10\nmax_backoff = 5\n"),
	     ":12: connect.max_backoff:", "smaller than connect.initial_backoff"},
	    {valid("", "", "[health]\nstale_handshake = -5\n"),
	     ":11: health.stale_handshake:", "positive"},
	    {valid("", "", "[health]\ninterval = 0.1\n"),
	     ":11: health.interval:", "at least 0.5 seconds"},
	    {valid("", "", "[health]\nfailures = 0\n"),
	     ":11: health.failures:", "out of range"},
	    {valid("", "", "[health]\nintervall = 5\n"),
	     ":11: health.intervall:", "did you mean `interval'?"},
	    {valid("", "", "[control_plane]\nurl = \"http://cp.example.com\"\n"),
	     ":11: control_plane.url:", "plain http to a host that is not loopback"},
	    {valid("", "", "[control_plane]\nurl = \"ftp://cp.example.com\"\n"),
	     ":11: control_plane.url:", "is not an https:// URL"},
	    {valid("", "", "[control_plane]\ntoken_file = \"/t\"\n"),
	     ":10: control_plane.url:", "required key is missing"},
	    {valid("", "",
	           "[control_plane]\nurl = \"https://cp\"\n[control_plane.labels]\nrole = 1\n"),
	     ":13: control_plane.labels.role:", "expected a string, found an integer"},
	    {valid() + "[connect\n", ":10:", ""},
	};
	ConfigScratch s;
	for (auto &c : cases) {
		INFO(c.text);
		auto cfg = parse_config(c.text, s.dir / "wg0.toml");
		REQUIRE_FALSE(cfg);
		CHECK(cfg.error().code == Errc::config);
		CHECK_THAT(cfg.error().message,
		           Catch::StartsWith((s.dir / "wg0.toml").string() + c.where));
		CHECK_THAT(cfg.error().message, Catch::Contains(c.says));
	}
}

TEST_CASE("http is allowed to loopback only") {
	ConfigScratch s;
	for (const char *url : {"http://127.0.0.1:8080", "http://localhost:3000/",
	                        "http://[::1]:80", "https://cp.example.com"}) {
		INFO(url);
		auto cfg = parse_config(
		    valid("", "", std::string("[control_plane]\nurl = \"") + url + "\"\n"),
		    s.dir / "wg0.toml");
		CHECK(cfg);
	}
	auto cfg =
	    parse_config(valid("", "", "[control_plane]\nurl = \"http://127.0.0.1.evil.com\"\n"),
	                 s.dir / "wg0.toml");
	CHECK_FALSE(cfg);
}

TEST_CASE("private keys must be private, and never appear in messages") {
	ConfigScratch s;
	s.write("open.key", std::string(kPriv) + "\n", 0644);
	auto cfg = parse_config(
	    "[interface]\nprivate_key_file = \"open.key\"\naddress = \"10.0.0.1/24\"\n" +
	        hub_table(),
	    s.dir / "wg0.toml");
	REQUIRE_FALSE(cfg);
	CHECK(cfg.error().code == Errc::config);
	CHECK_THAT(cfg.error().message, Catch::Contains("has mode 0644 and is readable by others"));
	CHECK_THAT(cfg.error().message, Catch::Contains(":2: interface.private_key_file:"));

	// Inline keys: the config file itself must be private.
	auto inline_cfg = "[interface]\nprivate_key = \"" + std::string(kPriv) +
	                  "\"\naddress = \"10.0.0.1/24\"\n" + hub_table();
	auto open_conf = s.write("open.toml", inline_cfg, 0640);
	cfg = load_config(open_conf);
	REQUIRE_FALSE(cfg);
	CHECK_THAT(cfg.error().message, Catch::Contains("has mode 0640"));
	CHECK_THAT(cfg.error().message, !Catch::Contains(kPriv));

	auto closed_conf = s.write("closed.toml", inline_cfg, 0600);
	CHECK(load_config(closed_conf));

	// A malformed inline key is not quoted back.
	auto bad =
	    s.write("bad.toml",
	            "[interface]\nprivate_key = \"secretsecret\"\naddress = \"10.0.0.1/24\"\n" +
	                hub_table(),
	            0600);
	cfg = load_config(bad);
	REQUIRE_FALSE(cfg);
	CHECK_THAT(cfg.error().message, Catch::Contains("interface.private_key:"));
	CHECK_THAT(cfg.error().message, !Catch::Contains("secretsecret"));

	s.write("empty.key", "not a key\n", 0600);
	cfg = parse_config(
	    "[interface]\nprivate_key_file = \"empty.key\"\naddress = \"10.0.0.1/24\"\n" +
	        hub_table(),
	    s.dir / "wg0.toml");
	REQUIRE_FALSE(cfg);
	CHECK_THAT(cfg.error().message, Catch::Contains("does not hold a key"));
	CHECK_THAT(cfg.error().message, !Catch::Contains("not a key"));
}

TEST_CASE("a missing config file is EX_NOINPUT") {
	auto cfg = load_config("/nonexistent/wgn/wg0.toml");
	REQUIRE_FALSE(cfg);
	CHECK(cfg.error().code == Errc::no_input);
	CHECK(exit_code(cfg.error().code) == 66);
}

TEST_CASE("NAME or FILE resolution") {
	CHECK(*resolve_config_path("wg0", std::string("/srv/wgn")) == "/srv/wgn/wg0.toml");
	CHECK(*resolve_config_path("./wg0.toml", std::nullopt) == "./wg0.toml");
	CHECK(*resolve_config_path("site.toml", std::nullopt) == "site.toml");
	CHECK(*resolve_config_path("/etc/x/y", std::nullopt) == "/etc/x/y");

	setenv("WGN_CONFIG_DIR", "/from/env", 1);
	CHECK(*resolve_config_path("wg0", std::nullopt) == "/from/env/wg0.toml");
	CHECK(*resolve_config_path("wg0", std::string("/flag")) == "/flag/wg0.toml");
	unsetenv("WGN_CONFIG_DIR");
	CHECK(*resolve_config_path("wg0", std::nullopt) == "/etc/wgn/wg0.toml");

	auto bad = resolve_config_path("name with spaces", std::nullopt);
	REQUIRE_FALSE(bad);
	CHECK(bad.error().code == Errc::usage);
	CHECK_FALSE(resolve_config_path("sixteen-chars-xx", std::nullopt));
	CHECK(resolve_config_path("a_b=c+d.e-f", std::nullopt));
}

TEST_CASE("the interface name comes from the file's stem") {
	ConfigScratch s;
	auto cfg = parse_config(valid(), s.dir / "office.toml");
	REQUIRE(cfg);
	CHECK(cfg->interface.name == "office");
	auto bad = parse_config(valid(), s.dir / "a-very-long-file-name.toml");
	REQUIRE_FALSE(bad);
	CHECK_THAT(bad.error().message, Catch::Contains("set interface.name"));
}
