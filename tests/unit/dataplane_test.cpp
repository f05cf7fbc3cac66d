#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>

#include "dataplane.h"
#include "test_util.h"

using wgn::test::pfx;

using namespace wgn;

namespace {

// The system as the fakes hold it, and every call in order.
struct World {
	std::vector<std::string> calls;
	std::string fail_on; // a call name that fails ("add_route", ...)
	bool link = false;
	int ifindex = 7;
	bool up = false;
	uint32_t mtu = 1500;
	std::set<IpPrefix> addrs, routes;
	DeviceState device;
	bool daemon = false;

	Status step(const std::string &name)
	{
		calls.push_back(name);
		if (name == fail_on)
			return make_error(Errc::os, name + " failed");
		return Ok{};
	}
};

struct FakeLink : LinkControl {
	World &w;
	explicit FakeLink(World &w) : w(w) {}
	Result<std::optional<LinkInfo>> get_link(const std::string &name) override
	{
		if (!w.link)
			return std::optional<LinkInfo>{};
		return std::optional<LinkInfo>{LinkInfo{w.ifindex, name, "wireguard", w.up, w.mtu}};
	}
	Status create_wireguard_link(const std::string &) override
	{
		auto st = w.step("create_link");
		if (st)
			w.link = true;
		return st;
	}
	Status delete_link(const std::string &) override
	{
		auto st = w.step("delete_link");
		if (st) {
			w.link = false;
			w.addrs.clear();
			w.routes.clear();
		}
		return st;
	}
	Status set_link_up(int i, bool up) override
	{
		REQUIRE(i == w.ifindex);
		auto st = w.step(up ? "link_up" : "link_down");
		if (st)
			w.up = up;
		return st;
	}
	Status set_mtu(int, uint32_t mtu) override
	{
		auto st = w.step("set_mtu " + std::to_string(mtu));
		if (st)
			w.mtu = mtu;
		return st;
	}
	Status add_address(int, const IpPrefix &p) override
	{
		auto st = w.step("add_address " + p.str());
		if (st)
			w.addrs.insert(p);
		return st;
	}
	Status del_address(int, const IpPrefix &p) override
	{
		auto st = w.step("del_address " + p.str());
		if (st)
			w.addrs.erase(p);
		return st;
	}
	Status add_route(int, const IpPrefix &p) override
	{
		auto st = w.step("add_route " + p.str());
		if (st)
			w.routes.insert(p);
		return st;
	}
	Status del_route(int, const IpPrefix &p) override
	{
		auto st = w.step("del_route " + p.str());
		if (st)
			w.routes.erase(p);
		return st;
	}
};

struct FakeDaemon : DaemonControl {
	World &w;
	std::optional<pid_t> stopped_pid;
	explicit FakeDaemon(World &w) : w(w) {}
	Result<pid_t> start(const std::string &program, const std::string &, double) override
	{
		auto st = w.step("start " + program);
		if (!st)
			return st.error();
		w.daemon = w.link = true;
		return pid_t{4321};
	}
	Status stop(const std::string &, std::optional<pid_t> pid, double) override
	{
		auto st = w.step("stop_daemon");
		stopped_pid = pid;
		if (st) {
			w.daemon = w.link = false;
			w.addrs.clear();
			w.routes.clear();
		}
		return st;
	}
};

struct FakeWg : WireGuardControl {
	World &w;
	std::vector<DeviceConfig> sets;
	explicit FakeWg(World &w) : w(w) {}
	Status set_device(const std::string &, const DeviceConfig &cfg) override
	{
		sets.push_back(cfg);
		return w.step("set_device");
	}
	Result<DeviceState> get_device(const std::string &) override { return w.device; }
};

struct Rig {
	World w;
	FakeLink link{w};
	FakeDaemon daemon{w};
	FakeWg wg{w};
	bool stop_now = false;
	Effects fx()
	{
		return Effects{link, daemon, wg, [this] { return stop_now; }};
	}
};

Operation op(OpKind k, std::optional<IpPrefix> p = std::nullopt, uint32_t mtu = 0)
{
	Operation o{k, p, mtu, {}, "op"};
	return o;
}

std::vector<Operation> fresh_plan(bool userspace)
{
	std::vector<Operation> ops;
	ops.push_back(op(userspace ? OpKind::start_daemon : OpKind::create_link));
	ops.push_back(op(OpKind::set_device));
	ops.push_back(op(OpKind::add_address, pfx("10.0.0.10/24")));
	ops.push_back(op(OpKind::set_mtu, std::nullopt, 1420));
	ops.push_back(op(OpKind::link_up));
	ops.push_back(op(OpKind::add_route, pfx("10.1.0.0/16")));
	ops.push_back(op(OpKind::verify));
	return ops;
}

LinkObservation existing(World &w)
{
	w.link = true;
	w.up = true;
	w.mtu = 1420;
	w.addrs = {pfx("10.0.0.10/24")};
	w.routes = {pfx("10.1.0.0/16")};
	PeerState p;
	p.public_key[0] = 1;
	p.allowed_ips = {pfx("10.0.0.0/24"), pfx("10.1.0.0/16")};
	p.persistent_keepalive = 25;
	w.device.peers = {p};
	w.device.listen_port = 51821;
	LinkObservation obs;
	obs.exists = obs.is_wireguard = obs.up = true;
	obs.mtu = w.mtu;
	obs.addresses = {w.addrs.begin(), w.addrs.end()};
	obs.routes = {w.routes.begin(), w.routes.end()};
	obs.device = w.device;
	return obs;
}

} // namespace

TEST_CASE("a fresh kernel plan runs every step in order, skipping verify")
{
	Rig r;
	Executor ex(r.fx(), "wg0", LinkObservation{});
	REQUIRE(ex.run(fresh_plan(false)).ok());
	CHECK(r.w.calls == std::vector<std::string>{"create_link", "set_device",
						    "add_address 10.0.0.10/24", "set_mtu 1420",
						    "link_up", "add_route 10.1.0.0/16"});
	CHECK(ex.created());
	CHECK(ex.ifindex() == 7);
	// Only the link itself needs undoing: its addresses and routes go with it.
	CHECK(ex.journal_size() == 1);
}

TEST_CASE("a failure on a fresh link deletes the link and nothing else")
{
	Rig r;
	r.w.fail_on = "add_route 10.1.0.0/16";
	Executor ex(r.fx(), "wg0", LinkObservation{});
	auto st = ex.run(fresh_plan(false));
	REQUIRE_FALSE(st.ok());
	CHECK(st.error().message == "add_route 10.1.0.0/16 failed");
	r.w.calls.clear();
	REQUIRE(ex.rollback().ok());
	CHECK(r.w.calls == std::vector<std::string>{"delete_link"});
	CHECK_FALSE(r.w.link);
	CHECK(ex.journal_size() == 0);
	// A second rollback has nothing left to do.
	r.w.calls.clear();
	CHECK(ex.rollback().ok());
	CHECK(r.w.calls.empty());
}

TEST_CASE("a failure on a fresh userspace device stops the daemon it started")
{
	Rig r;
	r.w.fail_on = "set_device";
	ExecOptions opt;
	opt.userspace_program = "wireguard-go";
	Executor ex(r.fx(), "wg0", LinkObservation{}, opt);
	REQUIRE_FALSE(ex.run(fresh_plan(true)).ok());
	CHECK(ex.daemon_pid() == 4321);
	r.w.calls.clear();
	REQUIRE(ex.rollback().ok());
	CHECK(r.w.calls == std::vector<std::string>{"stop_daemon"});
	CHECK(r.daemon.stopped_pid == 4321);
	CHECK_FALSE(r.w.daemon);
	CHECK_FALSE(r.w.link);
}

TEST_CASE("a daemon that does not start leaves nothing to undo")
{
	Rig r;
	r.w.fail_on = "start wireguard-go";
	Executor ex(r.fx(), "wg0", LinkObservation{});
	REQUIRE_FALSE(ex.run(fresh_plan(true)).ok());
	CHECK(r.w.calls.size() == 1);
	CHECK(ex.journal_size() == 0);
	CHECK_FALSE(ex.created());
}

TEST_CASE("a signal between steps stops the run, and rollback undoes the steps made")
{
	Rig r;
	Executor ex(r.fx(), "wg0", LinkObservation{});
	auto ops = fresh_plan(false);
	REQUIRE(ex.apply(ops[0]).ok());
	REQUIRE(ex.apply(ops[1]).ok());
	r.stop_now = true;
	std::vector<Operation> rest(ops.begin() + 2, ops.end());
	auto st = ex.run(rest);
	REQUIRE_FALSE(st.ok());
	CHECK(st.error().message == "interrupted");
	CHECK(r.w.calls.size() == 2);
	REQUIRE(ex.rollback().ok());
	CHECK(r.w.calls.back() == "delete_link");
	CHECK_FALSE(r.w.link);
}

TEST_CASE("a failed reconcile restores the previous addresses, routes, MTU and device")
{
	Rig r;
	LinkObservation before = existing(r.w);
	before.device->private_key = SecretKey(Key{9});
	std::vector<Operation> ops;
	Operation dev = op(OpKind::set_device);
	dev.device.private_key = SecretKey(Key{7}); // a changed key, to be put back
	dev.device.peers.resize(1);
	ops.push_back(dev);
	ops.push_back(op(OpKind::del_address, pfx("10.0.0.10/24")));
	ops.push_back(op(OpKind::add_address, pfx("10.0.0.11/24")));
	ops.push_back(op(OpKind::add_address, pfx("fd00::10/64")));
	ops.push_back(op(OpKind::set_mtu, std::nullopt, 1380));
	ops.push_back(op(OpKind::del_route, pfx("10.1.0.0/16")));
	ops.push_back(op(OpKind::add_route, pfx("10.2.0.0/16")));
	r.w.fail_on = "add_route 10.2.0.0/16";

	Executor ex(r.fx(), "wg0", before);
	REQUIRE_FALSE(ex.run(ops).ok());
	CHECK_FALSE(ex.created());
	r.w.calls.clear();
	REQUIRE(ex.rollback().ok());
	// Newest first; the failed route was never added, so it is not removed.
	CHECK(r.w.calls == std::vector<std::string>{"add_route 10.1.0.0/16", "set_mtu 1420",
						    "del_address fd00::10/64",
						    "del_address 10.0.0.11/24",
						    "add_address 10.0.0.10/24", "set_device"});
	CHECK(r.w.link);
	CHECK(r.w.mtu == 1420);
	CHECK(r.w.addrs == std::set<IpPrefix>{pfx("10.0.0.10/24")});
	CHECK(r.w.routes == std::set<IpPrefix>{pfx("10.1.0.0/16")});
	// The device goes back to exactly its previous peer.
	const DeviceConfig &restore = r.wg.sets.back();
	REQUIRE(restore.private_key);
	CHECK(*restore.private_key == SecretKey(Key{9}));
	CHECK(restore.replace_peers);
	REQUIRE(restore.peers.size() == 1);
	CHECK(restore.peers[0].public_key == before.device->peers[0].public_key);
	CHECK(restore.peers[0].replace_allowed_ips);
	CHECK(restore.peers[0].allowed_ips == before.device->peers[0].allowed_ips);
	CHECK(restore.peers[0].persistent_keepalive == 25);
	CHECK(restore.listen_port == 51821);
}

TEST_CASE("a reconcile that brought the link up takes it down again")
{
	Rig r;
	LinkObservation before = existing(r.w);
	before.up = r.w.up = false;
	Executor ex(r.fx(), "wg0", before);
	REQUIRE(ex.run({op(OpKind::link_up)}).ok());
	CHECK(r.w.up);
	REQUIRE(ex.rollback().ok());
	CHECK_FALSE(r.w.up);
}

TEST_CASE("a committed run keeps its changes")
{
	Rig r;
	Executor ex(r.fx(), "wg0", LinkObservation{});
	REQUIRE(ex.run(fresh_plan(false)).ok());
	ex.commit();
	r.w.calls.clear();
	CHECK(ex.rollback().ok());
	CHECK(r.w.calls.empty());
	CHECK(r.w.link);
}

TEST_CASE("a rollback step that fails does not stop the others")
{
	Rig r;
	LinkObservation before = existing(r.w);
	Executor ex(r.fx(), "wg0", before);
	REQUIRE(ex.run({op(OpKind::add_address, pfx("fd00::10/64")),
			op(OpKind::set_mtu, std::nullopt, 1380)})
		    .ok());
	r.w.fail_on = "set_mtu 1420";
	auto st = ex.rollback();
	REQUIRE_FALSE(st.ok());
	CHECK(st.error().message == "set_mtu 1420 failed");
	CHECK(r.w.calls.back() == "del_address fd00::10/64");
	CHECK(r.w.addrs.count(pfx("fd00::10/64")) == 0);
}

TEST_CASE("a reconcile whose device could not be read cannot restore it, and says so")
{
	Rig r;
	LinkObservation before = existing(r.w);
	before.device.reset();
	Executor ex(r.fx(), "wg0", before);
	r.w.fail_on = "set_device";
	REQUIRE_FALSE(ex.run({op(OpKind::set_device)}).ok());
	auto st = ex.rollback();
	REQUIRE_FALSE(st.ok());
	CHECK_THAT(st.error().message, Catch::Contains("cannot restore"));
}

TEST_CASE("down stops the daemon named by the run state, then finds the link gone")
{
	Rig r;
	existing(r.w);
	r.w.daemon = true;
	ExecOptions opt;
	opt.daemon_pid = 999;
	LinkObservation obs;
	obs.exists = obs.userspace = true;
	Executor ex(r.fx(), "wg0", obs, opt);
	REQUIRE(ex.run(plan_down("wg0", obs, true)).ok());
	CHECK(r.w.calls == std::vector<std::string>{"stop_daemon"});
	CHECK(r.daemon.stopped_pid == 999);
	CHECK_FALSE(r.w.link);
}

TEST_CASE("down of a kernel link deletes it")
{
	Rig r;
	existing(r.w);
	LinkObservation obs;
	obs.exists = true;
	Executor ex(r.fx(), "wg0", obs);
	REQUIRE(ex.run(plan_down("wg0", obs, false)).ok());
	CHECK(r.w.calls == std::vector<std::string>{"delete_link"});
	CHECK_FALSE(r.w.link);
}

TEST_CASE("restore_config clears a preshared key the device did not have")
{
	DeviceState s;
	PeerState p;
	p.public_key[0] = 3;
	s.peers = {p};
	auto d = restore_config(s);
	REQUIRE(d.peers.size() == 1);
	REQUIRE(d.peers[0].preshared_key);
	CHECK(d.peers[0].preshared_key->bytes() == Key{});
	CHECK_FALSE(d.private_key);
}
