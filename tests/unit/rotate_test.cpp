// ops::rotate's steps with fakes behind RotateEffects: a control plane that keeps one
// key per node, a hub that follows it after a few looks (its sync), an interface, a key
// file and its pending file; and settle_pending_key, which `up` runs.
#include <catch2/catch.hpp>

#include <algorithm>

#include "rotate.h"
#include "test_util.h"

using wgn::test::secret_of;

using namespace wgn;
using ops::RotateStep;

namespace {

Config node_config()
{
	Config c;
	c.path = "/etc/wgn/wg0.toml";
	c.interface.name = "wg0";
	c.interface.private_key = secret_of(1);
	c.interface.public_key = public_key_of(c.interface.private_key);
	c.interface.private_key_file = "/etc/wgn/wg0.key";
	c.interface.addresses = {*parse_prefix("10.0.0.10/24")};
	c.hub.public_key.fill(7);
	c.hub.endpoint = Endpoint{"192.0.2.1", 51820};
	c.hub.allowed_ips = {*parse_prefix("10.0.0.0/24")};
	c.hub.tunnel_address = parse_ip("10.0.0.1");
	c.hub.persistent_keepalive = 25;
	c.control_plane = ControlPlaneConfig{};
	c.control_plane->url = "http://127.0.0.1:8080";
	c.connect.timeout = 20;
	c.connect.attempt_timeout = 1;
	c.connect.initial_backoff = 0.2;
	c.connect.max_backoff = 1;
	return c;
}

struct FakeRotate : ops::RotateEffects {
	explicit FakeRotate(const Config &c)
	    : key_file(c.interface.private_key), device_key(c.interface.private_key),
	      cp_key(c.interface.public_key), hub_key(c.interface.public_key)
	{
		hub_peer.public_key = c.hub.public_key;
		hub_peer.endpoint = SockAddr{};
		hub_peer.persistent_keepalive = 25;
		hub_peer.allowed_ips = c.hub.allowed_ips;
	}

	// The node's files.
	SecretKey key_file;
	std::optional<SecretKey> pending;
	// The interface, the control plane, the hub.
	bool device_up = true;
	SecretKey device_key;
	PeerState hub_peer;
	Key cp_key{};
	Key hub_key{};
	int hub_lag = 3;       // looks until the hub follows the control plane
	bool hub_syncs = true; // false: its sync is stopped
	std::vector<Result<RegistrationOutcome>> cp_answers; // scripted; empty: take it
	// What happened.
	std::vector<std::string> log;
	std::vector<RotateStep> steps;
	std::vector<DeviceConfig> sets;
	std::vector<std::pair<Key, Key>> registrations; // (new, previous)
	int generated = 0;
	bool locked = false;
	bool expect_lock = true; // settle_pending_key runs under up's lock, not ours
	double clock = 0;
	std::optional<double> switched_when_hub_had_new;

	bool has_cap_net_admin() override { return true; }
	Status lock(const std::string &) override
	{
		locked = true;
		return Ok{};
	}
	void unlock() override { locked = false; }
	Result<std::optional<SecretKey>> read_pending_key(const std::filesystem::path &p) override
	{
		CHECK(p == "/etc/wgn/wg0.key.new");
		return pending;
	}
	Result<SecretKey> generate_key() override
	{
		++generated;
		return secret_of(static_cast<uint8_t>(100 + generated));
	}
	Status write_pending_key(const std::filesystem::path &, const SecretKey &k) override
	{
		log.push_back("write pending");
		pending = k;
		return Ok{};
	}
	Status remove_pending_key(const std::filesystem::path &) override
	{
		log.push_back("remove pending");
		pending.reset();
		return Ok{};
	}
	Status commit_key(const std::filesystem::path &, const std::filesystem::path &) override
	{
		log.push_back("commit");
		REQUIRE(pending);
		key_file = *pending;
		pending.reset();
		return Ok{};
	}
	Result<RegistrationOutcome> register_key(const Config &c, const Key &previous) override
	{
		CHECK(locked == expect_lock);
		registrations.emplace_back(c.interface.public_key, previous);
		log.push_back("register");
		if (!cp_answers.empty()) {
			auto a = cp_answers.front();
			cp_answers.erase(cp_answers.begin());
			if (!a)
				return a;
		}
		if (cp_key != previous && cp_key != c.interface.public_key)
			return make_error(Errc::data, "HTTP 409");
		cp_key = c.interface.public_key;
		lag_left = hub_lag;
		return RegistrationOutcome{"node-1", "2026-12-03T10:00:00Z", "k", "u", 1};
	}
	Result<DeviceState> get_device(const std::string &) override
	{
		if (!device_up)
			return make_error(Errc::os, "no such device");
		DeviceState d;
		d.private_key = device_key;
		d.peers = {hub_peer};
		return d;
	}
	Status set_device(const std::string &, const DeviceConfig &dc) override
	{
		sets.push_back(dc);
		if (dc.private_key) {
			device_key = *dc.private_key;
			log.push_back("set key");
			if (hub_key == public_key_of(device_key))
				switched_when_hub_had_new = clock;
		}
		return Ok{};
	}
	Result<double> probe(const Config &, size_t hub, double timeout, int64_t) override
	{
		CHECK(hub == 0);
		if (hub_syncs && hub_key != cp_key && --lag_left <= 0)
			hub_key = cp_key;
		if (public_key_of(device_key) == hub_key) {
			clock += 0.001;
			return 0.001;
		}
		clock += timeout;
		return make_error(Errc::unavailable, "no answer");
	}
	void record_new_key(const Config &) override { log.push_back("record"); }
	void checkpoint(RotateStep s) override { steps.push_back(s); }
	int signal() override { return 0; }
	double now() override { return clock; }
	int64_t wall_now() override { return 1770000000; }
	bool sleep(double s) override
	{
		clock += s;
		return true;
	}
	double jitter_unit() override { return 0.5; }

	int lag_left = 0;
};

bool has(const std::vector<std::string> &v, const std::string &s)
{
	return std::find(v.begin(), v.end(), s) != v.end();
}

} // namespace

TEST_CASE("rotate: register, wait for the hub, switch with the peer re-created, verify, "
          "commit",
          "[rotate]")
{
	auto c = node_config();
	const Key old_pub = c.interface.public_key;
	FakeRotate fx(c);
	auto o = ops::rotate(c, fx);
	REQUIRE_FALSE(o.error);
	CHECK(o.success());
	CHECK(fx.steps == std::vector<RotateStep>{RotateStep::locked, RotateStep::key_written,
	                                          RotateStep::registered, RotateStep::switched,
	                                          RotateStep::verified, RotateStep::committed});
	CHECK(fx.generated == 1);
	const Key new_pub = public_key_of(fx.key_file);
	CHECK(new_pub != old_pub);
	CHECK(fx.cp_key == new_pub);
	CHECK(fx.hub_key == new_pub);
	CHECK(public_key_of(fx.device_key) == new_pub);
	CHECK_FALSE(fx.pending);
	CHECK_FALSE(fx.locked);
	// The caller's config holds the new key now.
	CHECK(c.interface.public_key == new_pub);
	CHECK(c.interface.private_key == fx.key_file);
	CHECK(o.old_public_key == base64_encode(old_pub));
	CHECK(o.new_public_key == base64_encode(new_pub));
	CHECK(o.node_id == std::optional<std::string>("node-1"));
	// Registered once, with the old key as previous_public_key.
	REQUIRE(fx.registrations.size() == 1);
	CHECK(fx.registrations[0] == std::make_pair(new_pub, old_pub));
	// The switch came once the hub had the new key, in one request that re-creates
	// the hub's peer as it was.
	CHECK(fx.switched_when_hub_had_new);
	REQUIRE(fx.sets.size() == 1);
	const auto &sw = fx.sets[0];
	REQUIRE(sw.private_key);
	REQUIRE(sw.peers.size() == 2);
	CHECK(sw.peers[0].remove);
	CHECK(sw.peers[0].public_key == c.hub.public_key);
	CHECK_FALSE(sw.peers[1].remove);
	CHECK(sw.peers[1].public_key == c.hub.public_key);
	CHECK(sw.peers[1].replace_allowed_ips);
	CHECK(sw.peers[1].allowed_ips == c.hub.allowed_ips);
	CHECK(sw.peers[1].persistent_keepalive == std::optional<uint16_t>(25));
	CHECK_FALSE(sw.replace_peers);
	CHECK(fx.log ==
	      std::vector<std::string>{"write pending", "register", "set key", "commit", "record"});
	CHECK(o.attempts == 1);
}

TEST_CASE("rotate: the control plane unreachable is 75, the interface untouched, the "
          "pending key kept",
          "[rotate]")
{
	auto c = node_config();
	FakeRotate fx(c);
	fx.cp_answers.push_back(make_error(Errc::temp_fail, "control plane unavailable"));
	const SecretKey old = c.interface.private_key;
	auto o = ops::rotate(c, fx);
	REQUIRE(o.error);
	CHECK(o.error->code == Errc::temp_fail);
	CHECK(o.pending_kept);
	CHECK(fx.pending);
	CHECK(fx.sets.empty());
	CHECK(fx.key_file == old);
	CHECK(c.interface.private_key == old);
	CHECK(o.reached == RotateStep::key_written);

	// The next rotate resumes with the pending key: no new key is made.
	const Key pending_pub = public_key_of(*fx.pending);
	auto again = ops::rotate(c, fx);
	REQUIRE_FALSE(again.error);
	CHECK(again.resumed);
	CHECK(fx.generated == 1);
	CHECK(public_key_of(fx.key_file) == pending_pub);
}

TEST_CASE("rotate: a refusal (409) is 65 and removes the pending key", "[rotate]")
{
	auto c = node_config();
	FakeRotate fx(c);
	fx.cp_key.fill(9); // the control plane holds another key for this node
	auto o = ops::rotate(c, fx);
	REQUIRE(o.error);
	CHECK(o.error->code == Errc::data);
	CHECK_FALSE(o.pending_kept);
	CHECK_FALSE(fx.pending);
	CHECK(fx.sets.empty());
}

TEST_CASE("rotate: a hub that never takes the new key: 69, the old key back on the "
          "interface and with the control plane",
          "[rotate]")
{
	auto c = node_config();
	const SecretKey old = c.interface.private_key;
	const Key old_pub = c.interface.public_key;
	FakeRotate fx(c);
	fx.hub_syncs = false;
	auto o = ops::rotate(c, fx);
	REQUIRE(o.error);
	CHECK(o.error->code == Errc::unavailable);
	CHECK(o.error->message.find("did not answer through the new key") != std::string::npos);
	CHECK(o.rolled_back);
	CHECK(o.reregistered);
	CHECK(o.reached == RotateStep::switched);
	// It waited half of connect.timeout for the hub, then verified until the deadline.
	CHECK(fx.clock >= c.connect.timeout / 2);
	CHECK(fx.clock <= c.connect.timeout + c.connect.max_backoff + 1);
	// Back: the interface, the control plane (previous_public_key = the new key), files.
	CHECK(fx.device_key == old);
	CHECK(fx.cp_key == old_pub);
	REQUIRE(fx.registrations.size() == 2);
	CHECK(fx.registrations[1].first == old_pub);
	CHECK(fx.registrations[1].second == fx.registrations[0].first);
	CHECK(fx.key_file == old);
	CHECK_FALSE(fx.pending);
	CHECK(c.interface.private_key == old);
	// The undo re-creates the hub's peer too, so the old key's handshake starts at once.
	REQUIRE_FALSE(fx.sets.empty());
	CHECK(fx.sets.back().private_key == std::optional<SecretKey>(old));
	CHECK(fx.sets.back().peers.size() == 2);
	// Each retry re-created the peer before looking.
	CHECK(fx.sets.size() >= 3);
	CHECK_FALSE(has(fx.log, "commit"));
}

TEST_CASE("rotate: the old key not taken back keeps the pending key for up", "[rotate]")
{
	auto c = node_config();
	FakeRotate fx(c);
	fx.hub_syncs = false;
	fx.cp_answers = {RegistrationOutcome{"node-1", "", "", "", 1},
	                 make_error(Errc::temp_fail, "control plane unavailable")};
	auto o = ops::rotate(c, fx);
	REQUIRE(o.error);
	CHECK(o.error->code == Errc::unavailable);
	CHECK(o.rolled_back);
	CHECK_FALSE(o.reregistered);
	CHECK(o.pending_kept);
	CHECK(fx.pending);
	REQUIRE(o.undo_error);
	CHECK(o.error->message.find("kept for `wgn up`") != std::string::npos);
}

TEST_CASE("rotate: what it needs is checked before the lock", "[rotate]")
{
	SECTION("private_key_file")
	{
		auto c = node_config();
		c.interface.private_key_file.reset();
		FakeRotate fx(c);
		auto o = ops::rotate(c, fx);
		REQUIRE(o.error);
		CHECK(o.error->code == Errc::config);
		CHECK(fx.steps.empty());
	}
	SECTION("[control_plane]")
	{
		auto c = node_config();
		c.control_plane.reset();
		FakeRotate fx(c);
		auto o = ops::rotate(c, fx);
		REQUIRE(o.error);
		CHECK(o.error->code == Errc::config);
		CHECK(fx.steps.empty());
	}
	SECTION("a tunnel that is not up: 69, no key made")
	{
		auto c = node_config();
		FakeRotate fx(c);
		fx.device_up = false;
		auto o = ops::rotate(c, fx);
		REQUIRE(o.error);
		CHECK(o.error->code == Errc::unavailable);
		CHECK(fx.generated == 0);
		CHECK_FALSE(fx.pending);
		CHECK(fx.registrations.empty());
	}
}

TEST_CASE("settle_pending_key: the control plane decides", "[rotate]")
{
	auto c = node_config();
	std::string note;
	SECTION("no pending key: nothing")
	{
		FakeRotate fx(c);
		fx.expect_lock = false;
		auto found = ops::settle_pending_key(c, fx, &note);
		CHECK_FALSE(found.taken);
		CHECK_FALSE(found.unanswered);
		CHECK(fx.registrations.empty());
	}
	SECTION("taken (the control plane had the old key): the new key, committed")
	{
		FakeRotate fx(c);
		fx.expect_lock = false;
		fx.pending = secret_of(50);
		const Key pub = public_key_of(*fx.pending);
		auto next = ops::settle_pending_key(c, fx, &note).taken;
		REQUIRE(next);
		CHECK(next->interface.public_key == pub);
		CHECK(fx.cp_key == pub);
		CHECK(public_key_of(fx.key_file) == pub);
		CHECK_FALSE(fx.pending);
		CHECK(note.find("finished an interrupted rotation") != std::string::npos);
	}
	SECTION("taken (it had the new key already): the same")
	{
		FakeRotate fx(c);
		fx.expect_lock = false;
		fx.pending = secret_of(50);
		fx.cp_key = public_key_of(*fx.pending);
		auto next = ops::settle_pending_key(c, fx, &note).taken;
		REQUIRE(next);
		CHECK(public_key_of(fx.key_file) == fx.cp_key);
	}
	SECTION("refused: the pending key removed, the key file kept")
	{
		FakeRotate fx(c);
		fx.expect_lock = false;
		fx.pending = secret_of(50);
		fx.cp_key.fill(9);
		auto found = ops::settle_pending_key(c, fx, &note);
		CHECK_FALSE(found.taken);
		CHECK_FALSE(found.unanswered);
		CHECK_FALSE(fx.pending);
		CHECK(fx.key_file == c.interface.private_key);
		CHECK(note.find("refused") != std::string::npos);
	}
	SECTION("no answer: the pending key kept, and handed to up to try")
	{
		FakeRotate fx(c);
		fx.expect_lock = false;
		fx.pending = secret_of(50);
		fx.cp_answers.push_back(make_error(Errc::temp_fail, "unavailable"));
		auto found = ops::settle_pending_key(c, fx, &note);
		CHECK_FALSE(found.taken);
		REQUIRE(found.unanswered);
		CHECK(found.unanswered->interface.private_key == secret_of(50));
		CHECK(found.unanswered->interface.public_key == public_key_of(secret_of(50)));
		CHECK(fx.pending);
		CHECK(fx.key_file == c.interface.private_key);
		CHECK(note.find("kept") != std::string::npos);
	}
}

TEST_CASE("adopt_pending_key: the pending file replaces the key file", "[rotate]")
{
	auto c = node_config();
	FakeRotate fx(c);
	fx.expect_lock = false;
	fx.pending = secret_of(50);
	CHECK(ops::adopt_pending_key(c, fx));
	CHECK(fx.key_file == secret_of(50));
	CHECK_FALSE(fx.pending);
	CHECK(fx.log == std::vector<std::string>{"commit"});
	CHECK(fx.registrations.empty());
}
