// wgn sync without a network or root: the change feed's parser against hostile answers,
// the diff, and the operation with a scripted control plane and an in-memory device.
#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <functional>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "feed.h"
#include "registry_fakes.h"
#include "sync.h"

using namespace wgn;
using namespace wgn::test;
using nlohmann::json;

namespace {

Key key_of(const char *b64)
{
	auto k = base64_decode(b64);
	REQUIRE(k);
	return *k;
}

const char *kNodeA = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE=";
const char *kNodeB = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAI=";
const char *kHand = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAM=";

FeedNode node(const std::string &id, const char *key, std::vector<std::string> addrs)
{
	FeedNode n;
	n.node_id = id;
	n.public_key = key_of(key);
	for (auto &a : addrs)
		n.host_routes.push_back(*parse_prefix(a));
	return n;
}

PeerState peer(const char *key, std::vector<std::string> ips)
{
	PeerState p;
	p.public_key = key_of(key);
	for (auto &a : ips)
		p.allowed_ips.push_back(*parse_prefix(a));
	return p;
}

// A WireGuard device in memory that applies set_device as the kernel would.
class FakeWg : public WireGuardControl {
public:
	DeviceState dev;
	int sets = 0;
	int gets = 0;
	bool fail_get = false;
	Status set_device(const std::string &, const DeviceConfig &cfg) override
	{
		++sets;
		for (auto &p : cfg.peers) {
			auto it = std::find_if(dev.peers.begin(), dev.peers.end(), [&](auto &q) {
				return q.public_key == p.public_key;
			});
			if (p.remove) {
				if (it != dev.peers.end())
					dev.peers.erase(it);
				continue;
			}
			if (it == dev.peers.end()) {
				dev.peers.push_back({});
				it = dev.peers.end() - 1;
				it->public_key = p.public_key;
			}
			CHECK(p.replace_allowed_ips);
			CHECK(!p.persistent_keepalive);
			it->allowed_ips = p.allowed_ips;
		}
		return Ok{};
	}
	Result<DeviceState> get_device(const std::string &) override
	{
		++gets;
		if (fail_get)
			return make_error(Errc::os, "no such device");
		return dev;
	}
};

std::string feed_body(int64_t rev, json nodes, bool more = false)
{
	return json{{"revision", rev}, {"more", more}, {"nodes", nodes}}.dump();
}

json jnode(const std::string &id, const char *key, json addr, bool deleted = false)
{
	return {{"node_id", id},
	        {"wireguard_public_key", key},
	        {"wireguard_address", addr},
	        {"revision", 1},
	        {"deleted", deleted}};
}

} // namespace

TEST_CASE("a feed page: nodes as host routes, deleted ones marked", "[sync][feed]")
{
	auto p = parse_feed_page(feed_body(7, {jnode("n1", kNodeA, {"10.0.0.7/24", "fd00::7/64"}),
	                                       jnode("n2", kNodeB, {"10.0.0.8/24"}, true)}),
	                         0);
	REQUIRE(p);
	CHECK(p->revision == 7);
	CHECK(!p->more);
	REQUIRE(p->nodes.size() == 2);
	CHECK(p->nodes[0].host_routes.size() == 2);
	CHECK(p->nodes[0].host_routes[0].str() == "10.0.0.7/32");
	CHECK(p->nodes[0].host_routes[1].str() == "fd00::7/128");
	CHECK(p->nodes[1].deleted);
	CHECK(p->skipped.empty());
}

TEST_CASE("a feed answer that is not the protocol is refused whole (76)", "[sync][feed]")
{
	for (std::string body :
	     {"", "not json", "[]", "null", R"({"nodes":[]})", R"({"revision":"5","nodes":[]})",
	      R"({"revision":1.5,"nodes":[]})", R"({"revision":5})", R"({"revision":5,"nodes":{}})",
	      R"({"revision":5,"more":"no","nodes":[]})", R"({"revision":2,"nodes":[]})"}) {
		INFO(body);
		auto p = parse_feed_page(body, 3);
		REQUIRE(!p);
		CHECK(p.error().code == Errc::protocol);
	}
}

TEST_CASE("malformed feed entries are skipped and named, the rest kept", "[sync][feed]")
{
	json nodes = {
	        5,
	        {{"wireguard_public_key", kNodeA}, {"wireguard_address", {"10.0.0.7/24"}}},
	        jnode("badkey", "AAAA", {"10.0.0.9/24"}),
	        jnode("badaddr", kNodeA, {"10.0.0.300/24"}),
	        jnode("noaddr", kNodeA, json::array()),
	        jnode("numaddr", kNodeA, {7}),
	        {{"node_id", "nofield"}, {"wireguard_public_key", kNodeA}},
	        jnode("good", kNodeB, "10.0.0.8"),
	};
	auto p = parse_feed_page(feed_body(9, nodes), 0);
	REQUIRE(p);
	REQUIRE(p->nodes.size() == 1);
	CHECK(p->nodes[0].node_id == "good");
	CHECK(p->nodes[0].host_routes[0].str() == "10.0.0.8/32");
	CHECK(p->skipped.size() == 7);
	CHECK(p->skipped[2].find("badkey") != std::string::npos);
}

TEST_CASE("a feed page read as a tree would: any key order, nested extras, a key twice",
          "[sync][feed]")
{
	// A whole node (an older control plane, or an admin's view) carries nested fields
	// that sync does not read; the body's keys may come in any order; a key given twice
	// counts once, the last time.
	std::string body =
	        std::string(R"({"nodes":[{"labels":{"a":[1,{"b":[]}]},"node_id":"n1",)") +
	        R"("wireguard_public_key":")" + kNodeA +
	        R"(","wireguard_address":["10.0.0.7/24"],"health":{"x":null},)" +
	        R"("revision":3,"revision":4,"deleted":false}],"extra":[[{}]],)" +
	        R"("more":true,"revision":9})";
	auto p = parse_feed_page(body, 0);
	REQUIRE(p);
	CHECK(p->revision == 9);
	CHECK(p->more);
	REQUIRE(p->nodes.size() == 1);
	CHECK(p->nodes[0].node_id == "n1");
	CHECK(p->nodes[0].revision == 4);
	CHECK(p->nodes[0].host_routes[0].str() == "10.0.0.7/32");
	CHECK(p->skipped.empty());

	// Entries that are arrays or scalars, and addresses that are objects or arrays.
	json nodes = {json::array({1, 2}), nullptr, jnode("obj", kNodeA, {{{"a", 1}}}),
	              jnode("arr", kNodeA, {json::array({"10.0.0.9"})}),
	              jnode("good", kNodeB, {"10.0.0.8", "fd00::8/64"})};
	p = parse_feed_page(feed_body(9, nodes), 0);
	REQUIRE(p);
	REQUIRE(p->nodes.size() == 1);
	CHECK(p->nodes[0].host_routes.size() == 2);
	REQUIRE(p->skipped.size() == 4);
	CHECK(p->skipped[0] == "nodes[0]: not an object");
	CHECK(p->skipped[1] == "nodes[1]: not an object");
	CHECK(p->skipped[2] == "nodes[2] (obj): wireguard_address holds a non-string");
	CHECK(p->skipped[3] == "nodes[3] (arr): wireguard_address holds a non-string");

	// The last `nodes' counts; one that is an object is no array.
	p = parse_feed_page(R"({"revision":1,"nodes":[5],"nodes":[]})", 0);
	REQUIRE(p);
	CHECK(p->skipped.empty());
	CHECK(!parse_feed_page(R"({"revision":1,"nodes":[],"nodes":{}})", 0));
	CHECK(!parse_feed_page(R"({"revision":1,"nodes":[]} x)", 0));
	CHECK(!parse_feed_page(R"({"revision":1,"nodes":[{"node_id":"n1",]})", 0));
}

TEST_CASE("the feed is fetched with GET and the token, page after page", "[sync][feed]")
{
	FakeTransport t;
	FakeClock clock;
	auto io = clock.io(&t);
	ControlPlaneConfig cp;
	cp.url = "http://127.0.0.1:9";
	t.script.push_back(
	        response(200, feed_body(5, {jnode("n1", kNodeA, {"10.0.0.7/24"})}, true)));
	t.script.push_back(response(503, "", {{"retry-after", "3"}}));
	t.script.push_back(response(200, feed_body(6, {jnode("n2", kNodeB, {"10.0.0.8/24"})})));
	auto f = fetch_feed(t, cp, "hubtoken", 0, kBackoff, io, 1);
	REQUIRE(f);
	CHECK(f->revision == 6);
	CHECK(f->nodes.size() == 2);
	REQUIRE(t.seen.size() == 3);
	CHECK(t.seen[0].method == "GET");
	CHECK(t.seen[0].url == "http://127.0.0.1:9/api/v1/nodes?since=0&limit=1");
	CHECK(t.seen[1].url == "http://127.0.0.1:9/api/v1/nodes?since=5&limit=1");
	CHECK(t.seen[0].bearer_token == "hubtoken");
	CHECK(clock.sleeps == std::vector<double>{3.0});
}

TEST_CASE("feed errors: 75 after the retries, 77 for a refused token, 76 otherwise", "[sync][feed]")
{
	ControlPlaneConfig cp;
	cp.url = "http://127.0.0.1:9";
	cp.max_retries = 2;
	struct Case {
		std::vector<long> statuses;
		Errc want;
	};
	for (auto c :
	     {Case{{500, 502, 429}, Errc::temp_fail}, Case{{401}, Errc::no_perm},
	      Case{{403}, Errc::no_perm}, Case{{404}, Errc::protocol}, Case{{302}, Errc::protocol},
	      Case{{400}, Errc::protocol}, Case{{201}, Errc::protocol}}) {
		FakeTransport t;
		FakeClock clock;
		auto io = clock.io(&t);
		for (auto s : c.statuses)
			t.script.push_back(response(s, "{}"));
		auto f = fetch_feed(t, cp, "", 0, kBackoff, io);
		REQUIRE(!f);
		CHECK(f.error().code == c.want);
		CHECK(t.script.empty());
	}
	// `more' without moving on would loop for ever.
	FakeTransport t;
	FakeClock clock;
	auto io = clock.io(&t);
	t.script.push_back(response(200, feed_body(4, json::array(), true)));
	t.script.push_back(response(200, feed_body(4, json::array(), true)));
	auto f = fetch_feed(t, cp, "", 0, kBackoff, io);
	REQUIRE(!f);
	CHECK(f.error().code == Errc::protocol);
}

TEST_CASE("plan: add new nodes, unchanged ones cost nothing, managed gone ones removed",
          "[sync][plan]")
{
	Key hub = key_of(kHub);
	std::vector<PeerState> dev = {peer(kNodeA, {"10.0.0.7/32"}), peer(kHand, {"10.0.0.50/32"}),
	                              peer(kNodeB, {"10.0.0.8/32"})};
	ops::KeySet managed = {key_of(kNodeA), key_of(kNodeB)};
	auto plan = ops::plan_sync({node("a", kNodeA, {"10.0.0.7/32"})}, hub, dev, managed, false);
	REQUIRE(plan.changes.size() == 1);
	CHECK(plan.changes[0].kind == ops::SyncPeerChange::remove);
	CHECK(plan.changes[0].public_key == key_of(kNodeB));
	CHECK(plan.unchanged == 1);
	CHECK(plan.managed == ops::KeySet{key_of(kNodeA)});

	// --prune takes the hand-made peer too.
	auto pruned = ops::plan_sync({node("a", kNodeA, {"10.0.0.7/32"})}, hub, dev, managed, true);
	CHECK(pruned.changes.size() == 2);

	// A changed address is an update with the new host routes.
	auto upd = ops::plan_sync({node("a", kNodeA, {"10.0.0.9/32", "fd00::9/128"})}, hub, dev,
	                          managed, false);
	REQUIRE(upd.changes.size() == 2);
	CHECK(upd.changes[1].kind == ops::SyncPeerChange::update);
	CHECK(upd.changes[1].allowed_ips.size() == 2);
}

TEST_CASE("plan: an address routed already is a conflict, the hub's own key skipped",
          "[sync][plan]")
{
	Key hub = key_of(kHub);
	std::vector<PeerState> dev = {peer(kHand, {"10.0.0.0/28"})};
	auto plan = ops::plan_sync(
	        {node("a", kNodeA, {"10.0.0.7/32"}), node("b", kNodeB, {"10.0.0.20/32"}),
	         node("c", kHand, {"10.0.0.20/32"}), node("hub", kHub, {"10.0.0.1/32"})},
	        hub, dev, {}, false);
	// a: inside the hand-made peer's /28; c: b has 10.0.0.20 first (c's key is the
	// hand-made peer's, which takes it over).
	REQUIRE(plan.conflicts.size() == 2);
	CHECK(plan.conflicts[0].find("node a") == 0);
	CHECK(plan.conflicts[1].find("node c") == 0);
	REQUIRE(plan.skipped.size() == 1);
	REQUIRE(plan.changes.size() == 1);
	CHECK(plan.changes[0].node_id == "b");
	CHECK(plan.changes[0].kind == ops::SyncPeerChange::add);

	// With --prune the hand-made peer goes and a is no longer in conflict.
	auto pruned = ops::plan_sync({node("a", kNodeA, {"10.0.0.7/32"})}, hub, dev, {}, true);
	CHECK(pruned.conflicts.empty());
	CHECK(pruned.changes.size() == 2);
	auto lines = ops::describe_sync("wg0", pruned);
	CHECK(lines[0] == std::string("wg set wg0 peer ") + kHand + " remove");
	CHECK(lines[1].find(std::string("wg set wg0 peer ") + kNodeA +
	                    " allowed-ips 10.0.0.7/32") == 0);
}

namespace {

struct HubScratch : Scratch {
	std::string old_run;
	HubScratch()
	{
		if (const char *e = std::getenv("WGN_RUN_DIR"))
			old_run = e;
		setenv("WGN_RUN_DIR", (dir / "run").c_str(), 1);
		write("hub.token", "wgnh_secret\n", 0600);
	}
	~HubScratch()
	{
		if (old_run.empty())
			unsetenv("WGN_RUN_DIR");
		else
			setenv("WGN_RUN_DIR", old_run.c_str(), 1);
	}
	Config hub_config()
	{
		std::string text = "[interface]\nname = \"wgh\"\nprivate_key_file = \"wg0.key\"\n"
		                   "address = \"10.0.0.1/24\"\nlisten_port = 51820\n"
		                   "[control_plane]\nurl = \"http://127.0.0.1:9\"\n"
		                   "token_file = \"" +
		                   (dir / "hub.token").string() + "\"\nmax_retries = 1\n";
		ConfigLoadOptions lo;
		lo.allow_hub_config = true;
		auto cfg = parse_config(text, dir / "wgh.toml", lo);
		REQUIRE(cfg);
		CHECK(cfg->is_hub_config);
		// The node commands still refuse it.
		CHECK(!parse_config(text, dir / "wgh.toml"));
		return *cfg;
	}
};

// A hub's config in a scratch directory, and fakes for its device, the control plane and
// the clock wired into ops::sync's options; `opt.memo = &memo` makes rounds of --watch.
struct SyncRig {
	HubScratch s;
	Config cfg = s.hub_config();
	FakeWg wg;
	FakeTransport t;
	FakeClock clock;
	ops::SyncMemo memo;
	ops::SyncOptions opt;
	SyncRig()
	{
		opt.transport = &t;
		opt.wg = &wg;
		opt.io = clock.io(&t);
	}
};

} // namespace

TEST_CASE_METHOD(SyncRig,
                 "sync applies the diff in one request, then nothing; feed errors change nothing",
                 "[sync][ops]")
{
	wg.dev.peers = {peer(kHand, {"10.0.0.50/32"})};
	auto body = feed_body(12, {jnode("a", kNodeA, {"10.0.0.7/24"}),
	                           jnode("b", kNodeB, {"10.0.0.8/24", "fd00::8/64"})});

	t.script.push_back(response(200, body));
	auto first = ops::sync(cfg, opt);
	REQUIRE(!first.result_error());
	CHECK(first.applied);
	CHECK(wg.sets == 1);
	CHECK(wg.dev.peers.size() == 3);
	CHECK(t.seen[0].bearer_token == "wgnh_secret");
	auto st = ops::load_sync_state("wgh");
	REQUIRE(st);
	REQUIRE(*st);
	CHECK((*st)->revision == 12);
	CHECK((*st)->managed.size() == 2);

	t.script.push_back(response(200, body));
	auto second = ops::sync(cfg, opt);
	REQUIRE(!second.result_error());
	CHECK(!second.applied);
	CHECK(second.plan.unchanged == 2);
	CHECK(wg.sets == 1);

	// Control plane down: 75, no request to the device, state kept.
	t.script.push_back(response(503, ""));
	t.script.push_back(response(503, ""));
	auto down = ops::sync(cfg, opt);
	REQUIRE(down.result_error());
	CHECK(down.result_error()->code == Errc::temp_fail);
	CHECK(wg.sets == 1);
	CHECK(wg.dev.peers.size() == 3);

	// Later rounds ask only for what changed since the stored revision.
	CHECK(t.seen[1].url.find("since=12&") != std::string::npos);

	// b deleted: its peer goes, the hand-made one stays.
	t.script.push_back(
	        response(200, feed_body(13, {jnode("b", kNodeB, {"10.0.0.8/24"}, true)})));
	auto del = ops::sync(cfg, opt);
	REQUIRE(!del.result_error());
	CHECK(wg.sets == 2);
	REQUIRE(wg.dev.peers.size() == 2);
	CHECK(wg.dev.peers[0].public_key == key_of(kHand));

	// A conflict is 65 once the rest is applied.
	t.script.push_back(response(200, feed_body(14, {jnode("c", kNodeB, {"10.0.0.50/24"})})));
	auto conflict = ops::sync(cfg, opt);
	REQUIRE(conflict.result_error());
	CHECK(conflict.result_error()->code == Errc::data);
	CHECK(wg.dev.peers.size() == 2);
}

TEST_CASE_METHOD(SyncRig,
                 "sync --watch's memo: a round with a change reads neither the device nor the "
                 "state; an idle round reads the device again and writes nothing",
                 "[sync][ops]")
{
	opt.memo = &memo;
	auto ino = [&] {
		struct stat sb {};
		REQUIRE(stat((s.dir / "state" / "wgh.sync.json").c_str(), &sb) == 0);
		return sb.st_ino;
	};

	t.script.push_back(response(200, feed_body(3, {jnode("a", kNodeA, {"10.0.0.7/24"})})));
	REQUIRE(!ops::sync(cfg, opt).result_error());
	CHECK(wg.gets == 1);
	REQUIRE(memo.state);
	CHECK(memo.state->revision == 3);

	// A change: applied from the memo's copy of the device; the state file is written
	// (a crash must not forget the peer) but not read back.
	t.script.push_back(response(200, feed_body(4, {jnode("b", kNodeB, {"10.0.0.8/24"})})));
	REQUIRE(!ops::sync(cfg, opt).result_error());
	CHECK(wg.gets == 1);
	CHECK(wg.sets == 2);
	CHECK(wg.dev.peers.size() == 2);
	CHECK(t.seen[1].url.find("since=3&") != std::string::npos);
	auto written = ino();
	auto st = ops::load_sync_state("wgh");
	REQUIRE(st);
	REQUIRE(*st);
	CHECK((*st)->revision == 4);
	CHECK((*st)->nodes.size() == 2);
	CHECK((*st)->managed == ops::KeySet{key_of(kNodeA), key_of(kNodeB)});

	// Someone removes a by hand: an idle round (nothing changed) reads the device again
	// and puts a back; the state is the same, so the file is not rewritten.
	wg.dev.peers.erase(wg.dev.peers.begin());
	t.script.push_back(response(200, feed_body(4, json::array())));
	REQUIRE(!ops::sync(cfg, opt).result_error());
	CHECK(wg.gets == 2);
	CHECK(wg.dev.peers.size() == 2);
	CHECK(ino() == written);

	// A copy older than device_max_age is read again even on a round with a change.
	memo.device_max_age = 0;
	t.script.push_back(
	        response(200, feed_body(5, {jnode("b", kNodeB, {"10.0.0.8/24"}, true)})));
	REQUIRE(!ops::sync(cfg, opt).result_error());
	CHECK(wg.gets == 3);
	REQUIRE(wg.dev.peers.size() == 1);
	CHECK(wg.dev.peers[0].public_key == key_of(kNodeA));

	// The memo's copy follows what the round set.
	memo.device_max_age = 60;
	t.script.push_back(response(200, feed_body(6, {jnode("c", kNodeB, {"10.0.0.9/24"})})));
	REQUIRE(!ops::sync(cfg, opt).result_error());
	CHECK(wg.gets == 3);
	REQUIRE(memo.device);
	REQUIRE(memo.device->peers.size() == 2);
	CHECK(memo.device->peers[1].public_key == key_of(kNodeB));
	CHECK(memo.device->peers[1].allowed_ips == wg.dev.peers[1].allowed_ips);
}

TEST_CASE("merge: a node seen again moves to the end with its new key, a deleted one goes",
          "[sync][plan]")
{
	std::vector<FeedNode> nodes = {node("a", kNodeA, {"10.0.0.7/32"}),
	                               node("b", kNodeB, {"10.0.0.8/32"})};
	auto a2 = node("a", kHand, {"10.0.0.7/32"});
	auto b_gone = node("b", kNodeB, {});
	b_gone.deleted = true;
	ops::merge_feed(nodes, {a2, b_gone, node("c", kNodeB, {"10.0.0.9/32"})});
	REQUIRE(nodes.size() == 2);
	CHECK(nodes[0].node_id == "a");
	CHECK(nodes[0].public_key == key_of(kHand));
	CHECK(nodes[1].node_id == "c");
	// A deletion of a node never seen is nothing.
	auto x = node("x", kNodeA, {});
	x.deleted = true;
	ops::merge_feed(nodes, {x});
	CHECK(nodes.size() == 2);
}

TEST_CASE("plan: an address of an earlier node is found among many (a lookup, not a scan)",
          "[sync][plan]")
{
	// bench/sync.sh times the plan (10,000 nodes: 1.7 s of CPU with a scan per
	// address, a few ms with the lookup); here, that the lookup still finds conflicts.
	std::vector<FeedNode> nodes(5000);
	for (size_t i = 0; i < nodes.size(); ++i) {
		auto &n = nodes[i];
		n.node_id = "n" + std::to_string(i);
		n.public_key[0] = static_cast<uint8_t>(i);
		n.public_key[1] = static_cast<uint8_t>(i >> 8);
		n.host_routes.push_back(*parse_prefix("10.64." + std::to_string((i >> 8) & 255) +
		                                      "." + std::to_string(i & 255) + "/32"));
	}
	nodes.push_back(node("dup", kNodeA, {"fd00::9/128", "10.64.0.7/32"})); // node 7's
	auto plan = ops::plan_sync(nodes, key_of(kHub), {}, {}, false);
	CHECK(plan.changes.size() == 5000);
	REQUIRE(plan.conflicts.size() == 1);
	CHECK(plan.conflicts[0] == "node dup: address 10.64.0.7/32 is routed to peer " +
	                                   base64_encode(nodes[7].public_key) +
	                                   " already (10.64.0.7/32)");
}

TEST_CASE("plan: the node that holds an address keeps it against one that moves onto it",
          "[sync][plan]")
{
	Key hub = key_of(kHub);
	std::vector<PeerState> dev = {peer(kNodeA, {"10.0.0.7/32"})};
	ops::KeySet managed = {key_of(kNodeA)};
	// b comes first in the feed (a re-registered later), yet a routes 10.0.0.7 now.
	auto plan = ops::plan_sync(
	        {node("b", kNodeB, {"10.0.0.7/32"}), node("a", kNodeA, {"10.0.0.7/32"})}, hub, dev,
	        managed, false);
	REQUIRE(plan.conflicts.size() == 1);
	CHECK(plan.conflicts[0].find("node b") == 0);
	CHECK(plan.changes.empty());
	CHECK(plan.unchanged == 1);
}

TEST_CASE_METHOD(SyncRig,
                 "sync: a key change replaces the peer in one request; the state resumes it",
                 "[sync][ops]")
{
	t.script.push_back(response(200, feed_body(3, {jnode("a", kNodeA, {"10.0.0.7/24"})})));
	REQUIRE(!ops::sync(cfg, opt).result_error());
	CHECK(t.seen[0].url.find("since=0&") != std::string::npos);

	// The feed names the node with its new key only; the state knows the old one.
	t.script.push_back(response(200, feed_body(4, {jnode("a", kNodeB, {"10.0.0.7/24"})})));
	auto r = ops::sync(cfg, opt);
	REQUIRE(!r.result_error());
	CHECK(!r.full);
	CHECK(wg.sets == 2);
	REQUIRE(wg.dev.peers.size() == 1);
	CHECK(wg.dev.peers[0].public_key == key_of(kNodeB));
	CHECK(wg.dev.peers[0].allowed_ips[0].str() == "10.0.0.7/32");
	auto st = ops::load_sync_state("wgh");
	REQUIRE(st);
	REQUIRE(*st);
	REQUIRE((*st)->nodes.size() == 1);
	CHECK((*st)->nodes[0].public_key == key_of(kNodeB));
	// The round was recorded before the device changed: the old key's peer, being
	// removed then, is still named managed (a crash could have kept it on the device).
	CHECK((*st)->managed == ops::KeySet{key_of(kNodeA), key_of(kNodeB)});

	// The interface recreated empty: the next round, with nothing new, puts it back, and
	// its record drops the old key, which the device no longer has.
	wg.dev.peers.clear();
	t.script.push_back(response(200, feed_body(4, json::array())));
	auto again = ops::sync(cfg, opt);
	REQUIRE(!again.result_error());
	CHECK(wg.dev.peers.size() == 1);
	st = ops::load_sync_state("wgh");
	REQUIRE(st);
	REQUIRE(*st);
	CHECK((*st)->managed == ops::KeySet{key_of(kNodeB)});

	// full lists from 0 again; a node absent from a full listing goes.
	opt.full = true;
	t.script.push_back(response(200, feed_body(9, json::array())));
	auto full = ops::sync(cfg, opt);
	REQUIRE(!full.result_error());
	CHECK(full.full);
	CHECK(t.seen.back().url.find("since=0&") != std::string::npos);
	CHECK(wg.dev.peers.empty());

	// A revision going backwards is refused (76) and changes nothing.
	opt.full = false;
	t.script.push_back(response(200, feed_body(2, {jnode("a", kNodeA, {"10.0.0.7/24"})})));
	auto back = ops::sync(cfg, opt);
	REQUIRE(back.result_error());
	CHECK(back.result_error()->code == Errc::protocol);
	CHECK(wg.dev.peers.empty());
}

TEST_CASE("a sync state that is not ours is refused (73), not guessed at", "[sync][ops]")
{
	HubScratch s;
	std::filesystem::create_directories(s.dir / "state");
	for (std::string text : {"{",
	                         R"({"revision":1,"managed":[]})"
	                         "x",
	                         R"({"revision":1,"managed":["nope"]})",
	                         R"({"revision":1,"managed":[],"nodes":[{"node_id":"a"}]})",
	                         R"({"revision":1,"managed":[],"nodes":{}})"}) {
		s.write("state/wgh.sync.json", text, 0644);
		auto st = ops::load_sync_state("wgh");
		REQUIRE(!st);
		CHECK(st.error().code == Errc::cant_create);
	}
	// Not a regular file, or over the cap: refused too (not read as no state, which
	// would forget the managed peers and write a new snapshot over it), without waiting
	// on a FIFO or reading 65 MiB.
	auto snap = s.dir / "state" / "wgh.sync.json";
	auto refused = [&](const std::string &what) {
		auto st = ops::load_sync_state("wgh");
		REQUIRE(!st);
		CHECK(st.error().code == Errc::cant_create);
		CHECK(st.error().message.find(what) != std::string::npos);
		CHECK(st.error().message.find("remove it") != std::string::npos);
	};
	std::filesystem::remove(snap);
	REQUIRE(mkfifo(snap.c_str(), 0644) == 0);
	refused("a FIFO");
	std::filesystem::remove(snap);
	std::filesystem::create_directory(snap);
	refused("a directory");
	std::filesystem::remove(snap);
	s.write("state/wgh.sync.json", "", 0644);
	std::filesystem::resize_file(snap, (size_t{64} << 20) + 1);
	refused("larger than 64 MiB");

	// The journal: the same, and one whose first line is not its header is damaged (the
	// header is written whole with the first round), not stale.
	s.write("state/wgh.sync.json",
	        R"({"revision":1,"managed":[],"nodes":[],"generation":"0123456789abcdef"})", 0644);
	auto journal = s.dir / "state" / "wgh.sync.journal";
	REQUIRE(mkfifo(journal.c_str(), 0644) == 0);
	refused("a FIFO");
	std::filesystem::remove(journal);
	std::filesystem::create_directory(journal);
	refused("a directory");
	std::filesystem::remove(journal);
	for (std::string text : {"", "garbage\n", "{\"generation\":\"0123456789abcdef\"}",
	                         "[]\n{\"revision\":2}\n", "{\"generation\":7}\n"}) {
		s.write("state/wgh.sync.journal", text, 0644);
		refused("wgh.sync.journal");
	}
	s.write("state/wgh.sync.journal", "", 0644);
	std::filesystem::resize_file(journal, (size_t{64} << 20) + 1);
	refused("larger than 64 MiB");
	// Another snapshot's journal is stale: ignored.
	s.write("state/wgh.sync.journal", "{\"generation\":\"fedcba9876543210\"}\n", 0644);
	auto st = ops::load_sync_state("wgh");
	REQUIRE(st);
	REQUIRE(*st);
	CHECK((*st)->revision == 1);
}

namespace {

// The loop's world: signals from a script, no sleeping.
struct FakeSyncWatch : ops::SyncWatchEffects {
	std::vector<std::string> notes;
	std::vector<double> waits;
	std::optional<double> watchdog;
	int stop_after_rounds = 1; // SIGTERM arrives during this many-th wait(0)
	int collected = 0;
	std::function<void(int)> between; // called at each collecting wait(0)
	void notify(const std::string &state) override { notes.push_back(state); }
	std::optional<double> watchdog_interval() override { return watchdog; }
	unsigned wait(double seconds) override
	{
		if (seconds > 0) {
			waits.push_back(seconds);
			return 0;
		}
		++collected;
		if (between)
			between(collected);
		return collected >= stop_after_rounds ? 1u << SIGTERM : 0;
	}
	bool signalled() override { return false; }
	double jitter_unit() override { return 0.5; }
};

} // namespace

TEST_CASE_METHOD(SyncRig,
                 "sync --watch: READY once, long polls after the first round, backoff while the "
                 "control plane is away, SIGTERM ends it",
                 "[sync][watch]")
{
	FakeSyncWatch fx;
	fx.watchdog = 20.0;
	fx.stop_after_rounds = 4;
	t.script.push_back(response(200, feed_body(3, {jnode("a", kNodeA, {"10.0.0.7/24"})})));
	t.script.push_back(response(200, feed_body(5, {jnode("b", kNodeB, {"10.0.0.8/24"})})));
	// Round 3: the control plane away (max_retries = 1: two answers), round 4 back.
	t.script.push_back(response(503, ""));
	t.script.push_back(response(503, ""));
	t.script.push_back(response(200, feed_body(5, json::array())));
	auto out = ops::sync_watch(cfg, opt, fx, 30);
	CHECK(out.signal == SIGTERM);
	CHECK(out.rounds == 4);
	CHECK(out.failed_rounds == 1);
	CHECK(wg.dev.peers.size() == 2);
	REQUIRE(fx.notes.size() >= 4);
	CHECK(fx.notes[0].rfind("READY=1\nSTATUS=revision 3: 1 node peer", 0) == 0);
	for (size_t i = 1; i < fx.notes.size(); ++i)
		CHECK(fx.notes[i].find("READY=1") == std::string::npos);
	// The first round answers at once; the next long-polls, cut to under half of the
	// watchdog; the one after a failure answers at once again.
	CHECK(t.seen[0].url.find("wait=") == std::string::npos);
	CHECK(t.seen[1].url.find("&wait=9") != std::string::npos);
	CHECK(t.seen[4].url.find("wait=") == std::string::npos);
	// The failed round kept the peers and waited the backoff ([connect] 2 s nominal).
	REQUIRE(!fx.waits.empty());
	CHECK(fx.waits[0] == Approx(2.0));
	bool said_kept = false;
	for (auto &n : fx.notes)
		said_kept |= n.find("STATUS=peers kept as they are") != std::string::npos;
	CHECK(said_kept);
	CHECK(fx.notes.back() == "STOPPING=1");
}

namespace {

// A key whose last byte is i (distinct from kNodeA, kNodeB, kHand for i > 3).
std::string nkey(int i)
{
	Key k{};
	k[31] = static_cast<uint8_t>(i);
	return base64_encode(k);
}

// The device as a comparable value: sorted peers, each with sorted routes.
std::vector<std::pair<std::string, std::vector<std::string>>> device_view(const DeviceState &d)
{
	std::vector<std::pair<std::string, std::vector<std::string>>> v;
	for (auto &p : d.peers) {
		std::vector<std::string> ips;
		for (auto &a : p.allowed_ips)
			ips.push_back(a.str());
		std::sort(ips.begin(), ips.end());
		v.emplace_back(base64_encode(p.public_key), ips);
	}
	std::sort(v.begin(), v.end());
	return v;
}

std::string state_view(const ops::SyncState &s)
{
	std::string out = std::to_string(s.revision) + "|";
	std::vector<std::string> m;
	for (auto &k : s.managed)
		m.push_back(base64_encode(k));
	std::sort(m.begin(), m.end());
	for (auto &k : m)
		out += k + ",";
	out += "|";
	for (auto &n : s.nodes) {
		out += n.node_id + "=" + base64_encode(n.public_key);
		for (auto &r : n.host_routes)
			out += " " + r.str();
		out += ";";
	}
	return out;
}

struct RoundView {
	std::vector<std::pair<std::string, std::vector<std::string>>> device;
	std::string state;
	std::string status;
	size_t nodes = 0;
	int unchanged = 0;
	int exit_conflicts = 0;
};

// Rounds of sync --watch over one scripted feed; with incremental = false the index is
// dropped before each round, so that every round takes the full plan.
std::vector<RoundView> run_rounds(const std::vector<std::string> &pages, bool incremental,
                                  int &incremental_rounds)
{
	SyncRig r;
	r.wg.dev.peers.push_back(peer(kHand, {"10.0.0.128/25"})); // hand-made
	r.opt.memo = &r.memo;
	std::vector<RoundView> out;
	for (auto &page : pages) {
		if (!incremental)
			r.memo.index.reset();
		r.t.script.push_back(response(200, page));
		auto o = ops::sync(r.cfg, r.opt);
		REQUIRE(!o.error);
		auto st = ops::load_sync_state("wgh");
		REQUIRE(st);
		REQUIRE(*st);
		// What --watch keeps is what a restart reads back.
		CHECK(state_view(**st) == state_view([&] {
			      ops::SyncState m = *r.memo.state;
			      std::erase_if(m.nodes, [](auto &n) { return n.deleted; });
			      return m;
		      }()));
		CHECK(device_view(*r.memo.device) == device_view(r.wg.dev));
		out.push_back({device_view(r.wg.dev), state_view(**st), ops::sync_status_line(o),
		               o.nodes, o.plan.unchanged,
		               static_cast<int>(o.plan.conflicts.size())});
	}
	incremental_rounds = r.memo.incremental_rounds;
	return out;
}

} // namespace

TEST_CASE("sync --watch: rounds planned from the index give what the full plan gives, "
          "conflicts, key changes and deletions included",
          "[sync][ops]")
{
	auto k = [](int i) { return nkey(i); };
	auto n = [&](const std::string &id, int key, json addr, bool del = false) {
		return jnode(id, k(key).c_str(), std::move(addr), del);
	};
	std::vector<std::string> pages = {
	        feed_body(2, {n("n1", 11, {"10.0.0.1/24"}), n("n2", 12, {"10.0.0.2/24"})}),
	        feed_body(3, {n("n3", 13, {"10.0.0.3/24", "fd00::3/64"})}),
	        feed_body(4, {n("n1", 14, {"10.0.0.1/24"})}),       // a new key
	        feed_body(5, {n("n2", 12, {"10.0.0.9/24"})}),       // a new address
	        feed_body(6, {n("n5", 15, {"10.0.0.3/24"})}),       // n3's address: left out
	        feed_body(7, {n("n3", 13, {"10.0.0.3/24"}, true)}), // n5 gets it now
	        feed_body(8, {n("n6", 16, {"10.0.0.200/24"})}),     // the hand-made peer's
	        feed_body(9, {n("n6", 16, {"10.0.0.200/24"}, true), n("n7", 11, {"10.0.0.7/24"})}),
	        feed_body(10, {n("n7", 11, {"10.0.0.8/24"}), n("n7", 11, {"10.0.0.10/24"})}),
	        feed_body(11, {n("n8", 15, {"10.0.0.11/24"})}), // n5's key: left out
	        feed_body(12, {n("n8", 18, {"10.0.0.11/24"})}),
	        feed_body(13, {n("n1", 12, {"10.0.0.1/24"}), n("n2", 14, {"10.0.0.9/24"})}), // swap
	        feed_body(14, {n("n9", 19, {"10.0.0.12/24"}), n("n1", 12, {}, true)}),
	};
	int quick = 0, full = 0;
	auto a = run_rounds(pages, true, quick);
	auto b = run_rounds(pages, false, full);
	CHECK(full == 0);
	CHECK(quick >= 6);
	REQUIRE(a.size() == b.size());
	for (size_t i = 0; i < a.size(); ++i) {
		INFO("round " << i + 1);
		CHECK(a[i].device == b[i].device);
		CHECK(a[i].state == b[i].state);
		CHECK(a[i].status == b[i].status);
		CHECK(a[i].nodes == b[i].nodes);
		CHECK(a[i].unchanged == b[i].unchanged);
		CHECK(a[i].exit_conflicts == b[i].exit_conflicts);
	}
	// The hand-made peer stayed through all of it, and the left-out rounds said so.
	CHECK(std::any_of(a.back().device.begin(), a.back().device.end(),
	                  [](auto &p) { return p.first == kHand; }));
	CHECK(a[4].exit_conflicts == 1);
	CHECK(a[6].exit_conflicts == 1);
	CHECK(a[9].exit_conflicts == 1);
}

TEST_CASE_METHOD(SyncRig,
                 "the sync state: a round of changes is one journal line, the snapshot stays; a "
                 "torn last line and a stale journal are ignored, a bad line in the middle refused",
                 "[sync][ops]")
{
	opt.memo = &memo;
	auto snap = s.dir / "state" / "wgh.sync.json";
	auto journal = s.dir / "state" / "wgh.sync.journal";
	auto ino = [&] {
		struct stat sb {};
		REQUIRE(stat(snap.c_str(), &sb) == 0);
		return sb.st_ino;
	};
	auto lines = [&] {
		std::ifstream f(journal);
		std::vector<std::string> v;
		for (std::string l; std::getline(f, l);)
			v.push_back(l);
		return v;
	};

	t.script.push_back(response(200, feed_body(3, {jnode("a", kNodeA, {"10.0.0.7/24"})})));
	REQUIRE(!ops::sync(cfg, opt).result_error());
	auto first = ino();
	CHECK(!std::filesystem::exists(journal));

	t.script.push_back(response(200, feed_body(4, {jnode("b", kNodeB, {"10.0.0.8/24"})})));
	REQUIRE(!ops::sync(cfg, opt).result_error());
	CHECK(memo.incremental_rounds == 1);
	CHECK(ino() == first);
	REQUIRE(lines().size() == 2);
	CHECK((std::filesystem::status(journal).permissions() & std::filesystem::perms::all) ==
	      std::filesystem::perms(0644));

	t.script.push_back(
	        response(200, feed_body(5, {jnode("b", kNodeB, {"10.0.0.8/24"}, true)})));
	REQUIRE(!ops::sync(cfg, opt).result_error());
	CHECK(ino() == first);
	REQUIRE(lines().size() == 3);
	auto st = ops::load_sync_state("wgh");
	REQUIRE(st);
	REQUIRE(*st);
	CHECK((*st)->revision == 5);
	REQUIRE((*st)->nodes.size() == 1);
	CHECK((*st)->nodes[0].node_id == "a");
	// b's peer was being removed when the round was recorded: managed until the next.
	CHECK((*st)->managed == ops::KeySet{key_of(kNodeA), key_of(kNodeB)});
	CHECK(!(*st)->journal_torn);
	auto generation = (*st)->generation;
	CHECK(generation.size() == 16);

	// A writer killed mid-line: that round is not applied, and the next writes a snapshot.
	{
		std::ofstream f(journal, std::ios::app);
		f << "{\"revision\":6,\"changes\":[{\"node_id\":\"c\",\"publ";
	}
	st = ops::load_sync_state("wgh");
	REQUIRE(st);
	REQUIRE(*st);
	CHECK((*st)->revision == 5);
	CHECK((*st)->journal_torn);
	// Also when the cut left a whole line that is not JSON.
	{
		std::ofstream f(journal, std::ios::app);
		f << "\n";
	}
	st = ops::load_sync_state("wgh");
	REQUIRE(st);
	REQUIRE(*st);
	CHECK((*st)->revision == 5);
	CHECK((*st)->journal_torn);
	ops::SyncOptions once = opt;
	once.memo = nullptr;
	t.script.push_back(response(200, feed_body(6, {jnode("c", kNodeB, {"10.0.0.9/24"})})));
	REQUIRE(!ops::sync(cfg, once).result_error());
	CHECK(ino() != first);
	CHECK(!std::filesystem::exists(journal));
	st = ops::load_sync_state("wgh");
	REQUIRE(st);
	REQUIRE(*st);
	CHECK((*st)->revision == 6);
	CHECK((*st)->nodes.size() == 2);
	CHECK((*st)->generation != generation);
	generation = (*st)->generation;

	// A one-shot round of changes appends too, after a journal header of this generation.
	t.script.push_back(response(200, feed_body(7, {jnode("d", kHand, {"10.0.0.10/24"})})));
	REQUIRE(!ops::sync(cfg, once).result_error());
	REQUIRE(lines().size() == 2);
	CHECK(lines()[0] == "{\"generation\":\"" + generation + "\"}");
	auto good = lines();

	// A journal of another snapshot is stale: ignored.
	{
		std::ofstream f(journal, std::ios::trunc);
		f << "{\"generation\":\"0123456789abcdef\"}\n" << good[1] << "\n";
	}
	st = ops::load_sync_state("wgh");
	REQUIRE(st);
	REQUIRE(*st);
	CHECK((*st)->revision == 6);
	CHECK((*st)->journal_bytes == 0);

	// A bad line with rounds after it is not a torn write: refused (73), named.
	{
		std::ofstream f(journal, std::ios::trunc);
		f << good[0] << "\n{\"revision\":7}\n" << good[1] << "\n";
	}
	st = ops::load_sync_state("wgh");
	REQUIRE(!st);
	CHECK(st.error().code == Errc::cant_create);
	CHECK(st.error().message.find("wgh.sync.journal:2: ") != std::string::npos);
}

TEST_CASE_METHOD(SyncRig,
                 "sync records a round before it changes the device: a state it cannot write is "
                 "73 with no peer changed",
                 "[sync][ops]")
{
	auto journal = s.dir / "state" / "wgh.sync.journal";

	// No state can be written at all (the state directory is a file): 73, the device
	// untouched, no set.
	s.write("state", "not a directory\n", 0644);
	auto a = feed_body(3, {jnode("a", kNodeA, {"10.0.0.7/24"})});
	t.script.push_back(response(200, a));
	auto r = ops::sync(cfg, opt);
	REQUIRE(r.result_error());
	CHECK(r.result_error()->code == Errc::cant_create);
	CHECK(r.result_error()->message.find("wgh.sync.json") != std::string::npos);
	CHECK(wg.sets == 0);
	CHECK(wg.dev.peers.empty());
	t.script.clear(); // refused before the feed, too, since the state cannot be read
	std::filesystem::remove(s.dir / "state");
	t.script.push_back(response(200, a));
	REQUIRE(!ops::sync(cfg, opt).result_error());
	CHECK(wg.sets == 1);

	// sync --watch's round of changes (one journal line) that cannot be written: the
	// same, and the next round, with the journal writable again, applies it.
	opt.memo = &memo;
	t.script.push_back(response(200, feed_body(3, json::array())));
	REQUIRE(!ops::sync(cfg, opt).result_error());
	std::filesystem::create_directories(journal / "in-the-way");
	auto ab = feed_body(4, {jnode("a", kNodeA, {"10.0.0.7/24"}, true),
	                        jnode("b", kNodeB, {"10.0.0.8/24"})});
	t.script.push_back(response(200, ab));
	r = ops::sync(cfg, opt);
	REQUIRE(r.result_error());
	CHECK(r.result_error()->code == Errc::cant_create);
	CHECK(wg.sets == 1);
	REQUIRE(wg.dev.peers.size() == 1);
	CHECK(wg.dev.peers[0].public_key == key_of(kNodeA));
	std::filesystem::remove_all(journal);
	t.script.push_back(response(200, ab));
	REQUIRE(!ops::sync(cfg, opt).result_error());
	CHECK(t.seen.back().url.find("since=3&") != std::string::npos);
	REQUIRE(wg.dev.peers.size() == 1);
	CHECK(wg.dev.peers[0].public_key == key_of(kNodeB));

	// A crash after the record and before the set: the next run finds the round
	// recorded, nothing new in the feed, and applies it from the device's difference;
	// the removed node's peer was still named managed, so it goes too.
	struct FailingWg : FakeWg {
		Status set_device(const std::string &, const DeviceConfig &) override
		{
			return make_error(Errc::os, "killed");
		}
	} dead;
	dead.dev = wg.dev;
	ops::SyncOptions crash = opt;
	crash.memo = nullptr;
	crash.wg = &dead;
	t.script.push_back(response(200, feed_body(5, {jnode("b", kNodeB, {"10.0.0.8/24"}, true),
	                                               jnode("c", kHand, {"10.0.0.9/24"})})));
	REQUIRE(ops::sync(cfg, crash).result_error());
	auto st = ops::load_sync_state("wgh");
	REQUIRE(st);
	REQUIRE(*st);
	CHECK((*st)->revision == 5);
	CHECK((*st)->managed.contains(key_of(kNodeB)));
	CHECK((*st)->managed.contains(key_of(kHand)));
	crash.wg = &wg;
	t.script.push_back(response(200, feed_body(5, json::array())));
	REQUIRE(!ops::sync(cfg, crash).result_error());
	REQUIRE(wg.dev.peers.size() == 1);
	CHECK(wg.dev.peers[0].public_key == key_of(kHand));
	// b's peer, removed by that run, is named until the run after it.
	t.script.push_back(response(200, feed_body(5, json::array())));
	REQUIRE(!ops::sync(cfg, crash).result_error());
	st = ops::load_sync_state("wgh");
	REQUIRE(st);
	REQUIRE(*st);
	CHECK((*st)->managed == ops::KeySet{key_of(kHand)});
}

TEST_CASE_METHOD(SyncRig,
                 "the sync journal is compacted into a snapshot once it is as large as one",
                 "[sync][ops]")
{
	opt.memo = &memo;
	auto journal = s.dir / "state" / "wgh.sync.journal";
	t.script.push_back(response(200, feed_body(1, {jnode("a", kNodeA, {"10.0.0.7/24"})})));
	REQUIRE(!ops::sync(cfg, opt).result_error());
	size_t largest = 0;
	bool compacted = false;
	for (int i = 0; i < 600; ++i) {
		// The same node moving between two addresses: one line each round.
		std::string addr = i % 2 ? "10.0.0.7/24" : "10.0.0.8/24";
		t.script.push_back(
		        response(200, feed_body(2 + i, {jnode("a", kNodeA, json::array({addr}))})));
		REQUIRE(!ops::sync(cfg, opt).result_error());
		size_t size =
		        std::filesystem::exists(journal) ? std::filesystem::file_size(journal) : 0;
		if (size < largest)
			compacted = true;
		largest = std::max(largest, size);
	}
	CHECK(compacted);
	CHECK(largest <= (size_t{64} << 10));
	auto st = ops::load_sync_state("wgh");
	REQUIRE(st);
	REQUIRE(*st);
	CHECK((*st)->revision == 601);
	REQUIRE((*st)->nodes.size() == 1);
	CHECK((*st)->nodes[0].host_routes[0].str() == "10.0.0.7/32");
	CHECK(wg.gets == 1);
}

TEST_CASE("plan: the routes of peers that stay are looked up by prefix length, not scanned",
          "[sync][plan]")
{
	// A lost state leaves every peer unmanaged: 10,000 nodes against 10,000 routes was
	// 10^8 prefix checks. Here: the same nodes adopted (their keys), and a conflict with
	// a route of each length still found, the shortest first.
	std::vector<FeedNode> nodes(5000);
	std::vector<PeerState> dev(5000);
	for (size_t i = 0; i < nodes.size(); ++i) {
		auto &n = nodes[i];
		n.node_id = "n" + std::to_string(i);
		n.public_key[0] = static_cast<uint8_t>(i);
		n.public_key[1] = static_cast<uint8_t>(i >> 8);
		n.host_routes.push_back(*parse_prefix("10.64." + std::to_string((i >> 8) & 255) +
		                                      "." + std::to_string(i & 255) + "/32"));
		dev[i].public_key = n.public_key;
		dev[i].allowed_ips = n.host_routes;
	}
	dev.push_back(peer(kHand, {"10.99.0.0/16", "10.98.7.0/24", "fd00:9::/64", "10.97.0.1/32"}));
	nodes.push_back(node("a", kNodeA, {"10.99.3.4/32"}));
	nodes.push_back(node("b", kNodeB, {"10.98.7.200/32"}));
	nodes.push_back(node("c", kNodeA, {"fd00:9::1/128"}));
	nodes.push_back(node("d", kNodeB, {"10.97.0.1/32"}));
	nodes.push_back(node("e", kNodeA, {"10.98.8.1/32", "fd00:8::1/128"})); // outside all
	auto plan = ops::plan_sync(nodes, key_of(kHub), dev, {}, false);
	CHECK(plan.unchanged == 5000);
	REQUIRE(plan.conflicts.size() == 4);
	auto hand = base64_encode(key_of(kHand));
	CHECK(plan.conflicts[0] ==
	      "node a: address 10.99.3.4/32 is routed to peer " + hand + " already (10.99.0.0/16)");
	CHECK(plan.conflicts[1] == "node b: address 10.98.7.200/32 is routed to peer " + hand +
	                                   " already (10.98.7.0/24)");
	CHECK(plan.conflicts[2] ==
	      "node c: address fd00:9::1/128 is routed to peer " + hand + " already (fd00:9::/64)");
	CHECK(plan.conflicts[3] ==
	      "node d: address 10.97.0.1/32 is routed to peer " + hand + " already (10.97.0.1/32)");
	REQUIRE(plan.changes.size() == 1);
	CHECK(plan.changes[0].node_id == "e");
	CHECK(plan.managed.size() == 5001);
	// The hand-made peer's own key is not a conflict with itself.
	nodes.push_back(node("h", kHand, {"10.99.0.5/32"}));
	plan = ops::plan_sync(nodes, key_of(kHub), dev, {}, false);
	CHECK(plan.conflicts.size() == 4);
	CHECK(plan.managed.contains(key_of(kHand)));
}
