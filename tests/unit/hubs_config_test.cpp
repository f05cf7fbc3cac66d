// [[hub]]: several hubs of one network (SPEC "Several hubs").
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "runstate.h"
#include "test_util.h"

using wgn::test::kPriv;

using namespace wgn;

namespace {

const char *kHubA = "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=";
const char *kHubB = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";
const char *kHubC = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

const std::string kIface =
        std::string("[interface]\nprivate_key = \"") + kPriv + "\"\naddress = \"10.0.0.10/24\"\n";

// One [[hub]]: header on its first line, then public_key, endpoint, allowed_ips,
// tunnel_address, then extra.
std::string hub(const char *key, const std::string &ep, const std::string &tun,
                const std::string &extra = "")
{
	return std::string("[[hub]]\npublic_key = \"") + key + "\"\nendpoint = \"" + ep +
	       "\"\nallowed_ips = [\"10.0.0.0/24\", \"10.1.0.0/16\"]\ntunnel_address = \"" + tun +
	       "\"\n" + extra;
}

struct Dir {
	std::filesystem::path dir;
	Dir()
	{
		char tmpl[] = "/tmp/wgn-hubs-test.XXXXXX";
		dir = mkdtemp(tmpl);
	}
	~Dir() { std::filesystem::remove_all(dir); }
	std::filesystem::path file() const { return dir / "wg0.toml"; }
};

Result<Config> parse(const std::string &text, const Dir &d)
{
	// An inline private key wants a private file.
	std::ofstream(d.file()) << text;
	chmod(d.file().c_str(), 0600);
	return parse_config(text, d.file());
}

} // namespace

TEST_CASE("[[hub]] lists hubs best first: priority, then the order in the file", "[hubs]")
{
	Dir d;
	auto text = kIface + hub(kHubA, "192.0.2.1:51820", "10.0.0.1", "priority = 10\n") +
	            hub(kHubB, "192.0.2.2:51820", "10.0.0.2", "priority = 5\n") +
	            hub(kHubC, "192.0.2.3:51820", "10.0.0.3", "priority = 10\n");
	auto cfg = parse(text, d);
	REQUIRE(cfg);
	REQUIRE(cfg->hubs.size() == 3);
	CHECK(base64_encode(cfg->hubs[0].public_key) == kHubB);
	CHECK(base64_encode(cfg->hubs[1].public_key) == kHubA); // a tie keeps file order
	CHECK(base64_encode(cfg->hubs[2].public_key) == kHubC);
	CHECK(cfg->hubs[0].priority == 5);
	// `hub` is the preferred one.
	CHECK(cfg->hub.public_key == cfg->hubs[0].public_key);
	CHECK(cfg->hub.tunnel_address->str() == "10.0.0.2");
	CHECK(cfg->hubs[2].allowed_ips.size() == 2);
}

TEST_CASE("[[hub]] without priority keeps the order in the file", "[hubs]")
{
	Dir d;
	auto cfg = parse(kIface + hub(kHubC, "192.0.2.3:1", "10.0.0.3") +
	                         hub(kHubA, "192.0.2.1:1", "10.0.0.1"),
	                 d);
	REQUIRE(cfg);
	REQUIRE(cfg->hubs.size() == 2);
	CHECK(base64_encode(cfg->hubs[0].public_key) == kHubC);
	CHECK(cfg->hubs[0].priority == 0);
	CHECK(cfg->hubs[1].priority == 1);
}

TEST_CASE("[hub] is one hub, as before", "[hubs]")
{
	Dir d;
	auto cfg = parse(kIface + "[hub]\npublic_key = \"" + kHubA +
	                         "\"\nendpoint = \"192.0.2.1:1\"\nallowed_ips = \"10.0.0.0/24\"\n",
	                 d);
	REQUIRE(cfg);
	REQUIRE(cfg->hubs.size() == 1);
	CHECK(cfg->hubs[0].public_key == cfg->hub.public_key);
	CHECK_FALSE(cfg->hub.tunnel_address); // optional with one hub
	// One [[hub]] is one hub too, and needs no tunnel address either.
	auto one = parse(kIface + "[[hub]]\npublic_key = \"" + kHubA +
	                         "\"\nendpoint = \"192.0.2.1:1\"\nallowed_ips = \"10.0.0.0/24\"\n",
	                 d);
	REQUIRE(one);
	CHECK(one->hubs.size() == 1);
}

TEST_CASE("bad [[hub]] tables name file, line and key", "[hubs]")
{
	// kIface is lines 1-3; the first [[hub]] starts on line 4 (public_key 5, endpoint 6,
	// allowed_ips 7, tunnel_address 8, extra 9), the second on line 9 + extra lines.
	struct Case {
		std::string text;
		std::string where;
		std::string says;
	};
	std::vector<Case> cases = {
	        {kIface + hub(kHubA, "192.0.2.1:1", "10.0.0.1", "priority = \"high\"\n"),
	         ":9: hub[0].priority:", "expected an integer, found a string"},
	        {kIface + hub(kHubA, "192.0.2.1:1", "10.0.0.1", "prio = 1\n"),
	         ":9: hub[0].prio:", "unknown key"},
	        {kIface + hub(kHubA, "192.0.2.1:1", "10.0.0.1") +
	                 hub(kHubB, "192.0.2.2:1", "10.0.0.2", "endpont = \"x:1\"\n"),
	         ":14: hub[1].endpont:", "did you mean `endpoint'?"},
	        {kIface + hub(kHubA, "192.0.2.1:1", "10.0.0.1") +
	                 hub(kHubA, "192.0.2.2:1", "10.0.0.2"),
	         ":10: hub[1].public_key:", "the same key as hub[0]"},
	        {kIface + hub(kHubA, "192.0.2.1:1", "10.0.0.1") +
	                 hub(kHubB, "192.0.2.2:1", "10.0.0.1"),
	         ":13: hub[1].tunnel_address:", "the same address as hub[0]"},
	        {kIface + hub(kHubA, "192.0.2.1:1", "10.0.0.1") + "[[hub]]\npublic_key = \"" +
	                 kHubB + "\"\nendpoint = \"192.0.2.2:1\"\nallowed_ips = \"10.0.0.0/24\"\n",
	         ":9: hub[1].tunnel_address:", "with several hubs every hub is probed"},
	        {kIface + hub(kHubA, "192.0.2.1:1", "10.0.0.1") +
	                 hub(kHubB, "192.0.2.2:1", "10.0.0.x"),
	         ":13: hub[1].tunnel_address:", "`10.0.0.x' is not an IP address"},
	        {kIface + hub(kHubA, "192.0.2.1:1", "10.0.0.1") + "[[hub]]\npublic_key = \"" +
	                 kHubB +
	                 "\"\nallowed_ips = \"10.0.0.0/24\"\ntunnel_address = \"10.0.0.2\"\n",
	         ":9: hub[1].endpoint:", "required key is missing"},
	        {"hub = [1, 2]\n" + kIface, ":1: hub:", "expected a table ([hub]) or tables"},
	        {"hub = []\n" + kIface, ":1: hub:", "expected a table ([hub]) or tables"},
	        {"hub = \"x\"\n" + kIface, ":1: hub:", "found a string"},
	};
	Dir d;
	for (auto &c : cases) {
		INFO(c.text);
		auto cfg = parse(c.text, d);
		REQUIRE_FALSE(cfg);
		CHECK(cfg.error().code == Errc::config);
		CHECK(exit_code(cfg.error().code) == 78);
		CHECK_THAT(cfg.error().message, Catch::StartsWith(d.file().string() + c.where));
		CHECK_THAT(cfg.error().message, Catch::Contains(c.says));
	}
}

TEST_CASE("the fingerprint covers every hub, and one hub keeps its old one", "[hubs]")
{
	Dir d;
	auto two = parse(kIface + hub(kHubA, "192.0.2.1:1", "10.0.0.1") +
	                         hub(kHubB, "192.0.2.2:1", "10.0.0.2"),
	                 d);
	auto moved = parse(kIface + hub(kHubA, "192.0.2.1:1", "10.0.0.1") +
	                           hub(kHubB, "192.0.2.9:1", "10.0.0.2"),
	                   d);
	auto one = parse(kIface + hub(kHubA, "192.0.2.1:1", "10.0.0.1"), d);
	auto table =
	        parse(kIface + "[hub]\npublic_key = \"" + kHubA +
	                      "\"\nendpoint = \"192.0.2.1:1\"\nallowed_ips = [\"10.0.0.0/24\", "
	                      "\"10.1.0.0/16\"]\ntunnel_address = \"10.0.0.1\"\n",
	              d);
	REQUIRE(two);
	REQUIRE(moved);
	REQUIRE(one);
	REQUIRE(table);
	CHECK(config_fingerprint(*two) != config_fingerprint(*moved));
	CHECK(config_fingerprint(*two) != config_fingerprint(*one));
	CHECK(config_fingerprint(*one) == config_fingerprint(*table));
}
