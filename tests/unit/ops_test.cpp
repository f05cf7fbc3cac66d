// The operations of lib/ops/ (up, health check with repair) against fakes of their
// effects: what each outcome says, and what was done to the (fake) system.
#include <catch2/catch.hpp>

#include <deque>
#include <fstream>

#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "log.h"
#include "test_util.h"
#include "up.h"

using wgn::test::pfx;
using wgn::test::secret_of;

using namespace wgn;
using ops::UpEffects;

namespace {

Config up_config()
{
	Config c;
	c.path = "/etc/wgn/wg0.toml";
	c.interface.name = "wg0";
	c.interface.public_key.fill(3);
	c.interface.addresses = {pfx("10.0.0.10/24")};
	c.interface.backend = Backend::userspace;
	c.hub.public_key.fill(7);
	c.hub.endpoint = Endpoint{"192.0.2.1", 51820};
	c.hub.allowed_ips = {pfx("10.0.0.0/24")};
	c.hub.tunnel_address = parse_ip("10.0.0.1");
	c.connect.max_retries = 2;
	c.connect.initial_backoff = 0.5;
	c.connect.attempt_timeout = 1.0;
	c.connect.timeout = 60;
	return c;
}

// The fake system: every call in order, and what verification answers.
struct FakeSystem : UpEffects, LinkControl, DaemonControl, WireGuardControl, ConnectEnv {
	std::vector<std::string> calls;
	bool link_exists = false;
	LinkObservation obs;
	std::optional<RunState> run_state;
	std::deque<bool> answers;  // per verification attempt; empty: no answer
	int signal_at_attempt = 0; // SIGTERM comes during this attempt (0: never)
	int attempt = 0;
	int sig = 0;
	double t = 100;
	bool cp_fails = false;
	// A killed rotation (finish_rotation), and a hub that answers one key only: the
	// device's private key (set_device) must be the one hub_key is the public key of.
	ops::PendingKey pending;
	std::optional<Key> hub_key;
	std::optional<SecretKey> device_key;
	double key_switched_at = 0;
	bool adopt_fails = false;

	// UpEffects
	bool has_cap_net_admin() override { return true; }
	Status lock(const std::string &) override { return calls.push_back("lock"), Ok{}; }
	void unlock() override { calls.push_back("unlock"); }
	Result<LinkObservation> observe(const std::string &) override { return obs; }
	Result<PlanContext> plan_context(const Config &cfg, const LinkObservation &o) override
	{
		PlanContext ctx;
		ctx.userspace =
		        o.exists ? o.userspace : cfg.interface.backend == Backend::userspace;
		ctx.endpoint = parse_sockaddr(cfg.hub.endpoint.str());
		ctx.default_mtu = 1420;
		return ctx;
	}
	Effects executor_effects(bool) override
	{
		return Effects{*this, *this, *this, [this] { return sig != 0; }};
	}
	std::unique_ptr<ConnectEnv> connect_env(const Config &, Executor &, WireGuardControl &,
	                                        std::optional<SockAddr>, int64_t) override
	{
		struct Forward : ConnectEnv {
			ConnectEnv &e;
			explicit Forward(ConnectEnv &e) : e(e) {}
			Status refresh_endpoint() override { return e.refresh_endpoint(); }
			Result<double> verify(double t) override { return e.verify(t); }
			double now() override { return e.now(); }
			bool sleep(double s) override { return e.sleep(s); }
			bool interrupted() override { return e.interrupted(); }
			double jitter_unit() override { return e.jitter_unit(); }
		};
		return std::make_unique<Forward>(*this);
	}
	Result<std::optional<RunState>> read_run_state(const std::string &) override
	{
		return run_state;
	}
	Status write_run_state(const RunState &rs) override
	{
		calls.push_back("write_run_state");
		run_state = rs;
		return Ok{};
	}
	std::optional<RegistrationState> load_registration(const std::string &) override
	{
		return std::nullopt;
	}
	bool registration_is_current(const Config &) override { return false; }
	Result<RegistrationOutcome> register_node(const Config &) override
	{
		calls.push_back("register");
		if (cp_fails)
			return make_error(Errc::temp_fail, "control plane unavailable");
		RegistrationOutcome r;
		r.node_id = "node-1";
		return r;
	}
	ops::PendingKey finish_rotation(const Config &) override { return pending; }
	Status adopt_pending_key(const Config &) override
	{
		calls.push_back("adopt_pending_key");
		if (adopt_fails)
			return make_error(Errc::cant_create,
			                  "cannot rename wg0.key.new to wg0.key");
		return Ok{};
	}
	int signal() override { return sig; }
	double now() override { return t; }
	int64_t wall_now() override { return 1700000000; }

	// LinkControl
	Result<std::optional<LinkInfo>> get_link(const std::string &name) override
	{
		if (!link_exists)
			return std::optional<LinkInfo>{};
		return std::optional<LinkInfo>{LinkInfo{7, name, "", true, 1420}};
	}
	Status create_wireguard_link(const std::string &) override
	{
		link_exists = true;
		return calls.push_back("create_link"), Ok{};
	}
	Status delete_link(const std::string &) override
	{
		link_exists = false;
		return calls.push_back("delete_link"), Ok{};
	}
	Status set_link_up(int, bool up) override
	{
		return calls.push_back(up ? "link_up" : "link_down"), Ok{};
	}
	Status set_mtu(int, uint32_t mtu) override
	{
		return calls.push_back("set_mtu " + std::to_string(mtu)), Ok{};
	}
	Status add_address(int, const IpPrefix &p) override
	{
		return calls.push_back("add_address " + p.str()), Ok{};
	}
	Status del_address(int, const IpPrefix &p) override
	{
		return calls.push_back("del_address " + p.str()), Ok{};
	}
	Status add_route(int, const IpPrefix &p) override
	{
		return calls.push_back("add_route " + p.str()), Ok{};
	}
	Status del_route(int, const IpPrefix &p) override
	{
		return calls.push_back("del_route " + p.str()), Ok{};
	}

	// DaemonControl
	Result<pid_t> start(const std::string &program, const std::string &, double) override
	{
		link_exists = true;
		calls.push_back("start " + program);
		return pid_t{4321};
	}
	Status stop(const std::string &, std::optional<pid_t>, double) override
	{
		link_exists = false;
		return calls.push_back("stop_daemon"), Ok{};
	}

	// WireGuardControl
	Status set_device(const std::string &, const DeviceConfig &d) override
	{
		if (d.private_key && (!device_key || !(*d.private_key == *device_key))) {
			device_key = d.private_key;
			key_switched_at = t;
		}
		return calls.push_back(d.replace_peers ? "restore_device" : "set_device"), Ok{};
	}
	Result<DeviceState> get_device(const std::string &) override
	{
		return obs.device ? *obs.device : DeviceState{};
	}

	// ConnectEnv
	Status refresh_endpoint() override { return Ok{}; }
	Result<double> verify(double timeout) override
	{
		++attempt;
		calls.push_back("verify");
		if (attempt == signal_at_attempt)
			sig = 15;
		bool ok = !answers.empty() && answers.front();
		if (!answers.empty())
			answers.pop_front();
		if (hub_key)
			ok = device_key && public_key_of(*device_key) == *hub_key;
		if (ok && !sig) {
			t += 0.002;
			return 0.002;
		}
		t += timeout;
		return make_error(Errc::unavailable, "hub 10.0.0.1 did not answer within " +
		                                             format_seconds(timeout) + "s");
	}
	bool sleep(double s) override
	{
		t += s;
		return sig == 0;
	}
	bool interrupted() override { return sig != 0; }
	double jitter_unit() override { return 0.5; }

	bool called(const std::string &c) const
	{
		return std::find(calls.begin(), calls.end(), c) != calls.end();
	}
};

// The system as a finished `up` of up_config() left it.
LinkObservation up_as_configured(const Config &c)
{
	LinkObservation o;
	o.exists = o.is_wireguard = o.up = o.userspace = true;
	o.mtu = 1420;
	o.addresses = c.interface.addresses;
	DeviceState d;
	d.has_private_key = true;
	d.private_key = c.interface.private_key;
	PeerState hub;
	hub.public_key = c.hub.public_key;
	hub.endpoint = parse_sockaddr(c.hub.endpoint.str());
	hub.allowed_ips = c.hub.allowed_ips;
	d.peers = {hub};
	o.device = d;
	return o;
}

RunState recorded_state(const Config &c)
{
	RunState rs;
	rs.interface = c.interface.name;
	rs.connected_at = 1600000000;
	rs.backend = "userspace";
	rs.config_fingerprint = config_fingerprint(c);
	return rs;
}

struct Quiet {
	Verbosity before = verbosity();
	Quiet() { set_verbosity(Verbosity::quiet); }
	~Quiet() { set_verbosity(before); }
};

} // namespace

TEST_CASE("ops::up: a new tunnel verified on the first attempt is recorded")
{
	Quiet q;
	FakeSystem fx;
	fx.answers = {true};
	auto c = up_config();
	auto o = ops::up(c, {}, fx);
	CHECK(o.success());
	CHECK(o.tunnel_up);
	CHECK(o.verified);
	CHECK(o.change == ops::UpChange::created);
	CHECK(std::string(ops::up_change_name(o.change)) == "created");
	CHECK(o.backend == "userspace");
	CHECK(o.attempts == 1);
	CHECK(o.max_attempts == 3);
	CHECK(o.connected_at == 1700000000);
	CHECK(!o.rolled_back);
	REQUIRE(fx.run_state);
	CHECK(fx.run_state->connected_at == 1700000000);
	CHECK(fx.run_state->daemon_pid == 4321);
	CHECK(fx.run_state->config_fingerprint == config_fingerprint(c));
	CHECK(fx.calls.front() == "lock");
	CHECK(fx.calls.back() == "unlock");
	CHECK(fx.called("start wireguard-go"));
	CHECK(!fx.called("register")); // no [control_plane]
}

TEST_CASE("ops::up: verification that fails every attempt rolls the new tunnel back")
{
	Quiet q;
	FakeSystem fx;
	auto o = ops::up(up_config(), {}, fx);
	CHECK(!o.success());
	CHECK(!o.tunnel_up);
	REQUIRE(o.error);
	CHECK(o.error->code == Errc::unavailable);
	CHECK(o.attempts == 3);
	CHECK(o.rolled_back);
	CHECK(o.signal == 0);
	CHECK(o.change == ops::UpChange::created);
	CHECK(fx.called("stop_daemon"));
	CHECK(!fx.link_exists);
	CHECK(!fx.run_state);
	CHECK(o.failure() == &*o.error);
}

TEST_CASE("ops::up: a signal during the retries rolls back and is reported")
{
	Quiet q;
	FakeSystem fx;
	fx.signal_at_attempt = 2;
	auto o = ops::up(up_config(), {}, fx);
	REQUIRE(o.error);
	CHECK(o.signal == 15);
	CHECK(o.rolled_back);
	CHECK(o.attempts == 2);
	CHECK(!fx.link_exists);
	CHECK(!fx.run_state);
}

TEST_CASE("ops::up: a failed reconcile restores the previous device")
{
	Quiet q;
	FakeSystem fx;
	auto c = up_config();
	fx.obs = up_as_configured(c);
	fx.link_exists = true;
	fx.run_state = recorded_state(c);
	c.interface.addresses.push_back(pfx("fd00::10/64"));
	c.hub.persistent_keepalive = 25;
	auto o = ops::up(c, {}, fx);
	REQUIRE(o.error);
	CHECK(o.change == ops::UpChange::reconciled);
	CHECK(o.error->message.find("the previous configuration is restored") != std::string::npos);
	CHECK(fx.called("add_address fd00::10/64"));
	CHECK(fx.called("del_address fd00::10/64"));
	CHECK(fx.called("restore_device"));
	CHECK(fx.link_exists);
	CHECK(fx.run_state->connected_at == 1600000000); // untouched
}

TEST_CASE("ops::up: the same configuration recorded by a finished up is a no-op")
{
	Quiet q;
	FakeSystem fx;
	auto c = up_config();
	fx.obs = up_as_configured(c);
	fx.link_exists = true;
	fx.run_state = recorded_state(c);
	auto o = ops::up(c, {}, fx);
	CHECK(o.success());
	CHECK(o.change == ops::UpChange::unchanged);
	CHECK(!o.verified);
	CHECK(o.attempts == 0);
	CHECK(o.connected_at == 1600000000);
	CHECK(fx.calls == std::vector<std::string>{"lock", "unlock"});
}

TEST_CASE("ops::up: a tunnel no finished up recorded is verified (issue 13)")
{
	Quiet q;
	auto c = up_config();
	SECTION("the hub answers: verified and recorded, nothing changed")
	{
		FakeSystem fx;
		fx.obs = up_as_configured(c);
		fx.link_exists = true;
		fx.answers = {false, true};
		auto o = ops::up(c, {}, fx);
		CHECK(o.success());
		CHECK(o.verified);
		CHECK(o.change == ops::UpChange::unchanged);
		CHECK(o.attempts == 2);
		REQUIRE(fx.run_state);
		CHECK(fx.run_state->connected_at == 1700000000);
		CHECK(fx.calls == std::vector<std::string>{"lock", "verify", "verify",
		                                           "write_run_state", "unlock"});
	}
	SECTION("no run state and no answer: the killed up's tunnel is removed")
	{
		FakeSystem fx;
		fx.obs = up_as_configured(c);
		fx.link_exists = true;
		auto o = ops::up(c, {}, fx);
		REQUIRE(o.error);
		CHECK(o.error->code == Errc::unavailable);
		CHECK(o.attempts == 3);
		CHECK(o.removed_unfinished);
		CHECK(o.rolled_back);
		CHECK(fx.called("stop_daemon"));
		CHECK(!fx.link_exists);
		CHECK(!fx.run_state);
	}
	SECTION("a run state of another configuration and no answer: left as found")
	{
		FakeSystem fx;
		fx.obs = up_as_configured(c);
		fx.link_exists = true;
		fx.run_state = recorded_state(c);
		fx.run_state->config_fingerprint = "an older configuration";
		auto o = ops::up(c, {}, fx);
		REQUIRE(o.error);
		CHECK(!o.removed_unfinished);
		CHECK(o.error->message.find("left as it was found") != std::string::npos);
		CHECK(fx.link_exists);
		CHECK(!fx.called("stop_daemon"));
		CHECK(fx.run_state->config_fingerprint == "an older configuration");
	}
}

TEST_CASE("ops::up: registration after a verified tunnel; its failure leaves the tunnel up")
{
	Quiet q;
	auto c = up_config();
	c.control_plane = ControlPlaneConfig{};
	SECTION("registered")
	{
		FakeSystem fx;
		fx.answers = {true};
		auto o = ops::up(c, {}, fx);
		CHECK(o.success());
		CHECK(o.registered);
		CHECK(o.node_id == "node-1");
	}
	SECTION("registration fails")
	{
		FakeSystem fx;
		fx.answers = {true};
		fx.cp_fails = true;
		auto o = ops::up(c, {}, fx);
		CHECK(o.tunnel_up);
		CHECK(!o.success());
		REQUIRE(o.registration_error);
		CHECK(o.failure() == &*o.registration_error);
		CHECK(o.failure()->code == Errc::temp_fail);
		CHECK(fx.link_exists);
		CHECK(fx.run_state);
	}
	SECTION("--no-register")
	{
		FakeSystem fx;
		fx.answers = {true};
		ops::UpOptions opt;
		opt.register_node = false;
		auto o = ops::up(c, opt, fx);
		CHECK(o.success());
		CHECK(!fx.called("register"));
	}
}

namespace {

// A node config with a key file, [control_plane], and a key (the key file's).
Config rotated_node_config()
{
	auto c = up_config();
	c.interface.private_key = secret_of(1);
	c.interface.public_key = public_key_of(c.interface.private_key);
	c.interface.private_key_file = "/etc/wgn/wg0.key";
	c.control_plane = ControlPlaneConfig{};
	c.connect.max_retries = 20;
	c.connect.timeout = 10;
	return c;
}

Config with_secret(Config c, const SecretKey &k)
{
	c.interface.private_key = k;
	c.interface.public_key = public_key_of(k);
	return c;
}

} // namespace

TEST_CASE("ops::up: a killed rotation's pending key, unsettled, is tried when the hub does "
          "not answer the key file's")
{
	Quiet q;
	const auto c = rotated_node_config();
	const auto next = with_secret(c, secret_of(50));
	ops::UpOptions no_register;
	no_register.register_node = false;
	auto on_old_key = [&](FakeSystem &fx) {
		fx.obs = up_as_configured(c);
		fx.obs.device->private_key = c.interface.private_key;
		fx.device_key = c.interface.private_key;
		fx.link_exists = true;
		fx.run_state = recorded_state(c);
	};
	SECTION("up as recorded, the hub has the new key: verified anyway, switched, adopted")
	{
		FakeSystem fx;
		on_old_key(fx);
		fx.pending.unanswered = next;
		fx.hub_key = next.interface.public_key;
		auto o = ops::up(c, no_register, fx);
		REQUIRE(o.success());
		CHECK(o.verified);
		CHECK(o.pending_key_adopted);
		CHECK(o.attempts == 1); // the pending key's
		REQUIRE(fx.device_key);
		CHECK(*fx.device_key == secret_of(50));
		// The key file's key had the first half of connect.timeout (10 s), no more.
		CHECK(fx.key_switched_at <= 100 + 5.0 + 1e-9);
		CHECK(fx.key_switched_at >= 100 + 3.0);
		REQUIRE(fx.run_state);
		CHECK(fx.run_state->config_fingerprint == config_fingerprint(next));
		CHECK(fx.called("adopt_pending_key"));
		// The run state is written before the key file is replaced.
		auto w = std::find(fx.calls.begin(), fx.calls.end(), "write_run_state");
		auto a = std::find(fx.calls.begin(), fx.calls.end(), "adopt_pending_key");
		CHECK(w < a);
		CHECK(!fx.called("restore_device"));
	}
	SECTION("the hub answers the key file's key: the pending key is not touched")
	{
		FakeSystem fx;
		on_old_key(fx);
		fx.pending.unanswered = next;
		fx.hub_key = c.interface.public_key;
		auto o = ops::up(c, no_register, fx);
		REQUIRE(o.success());
		CHECK(o.verified);
		CHECK(!o.pending_key_adopted);
		CHECK(o.attempts == 1);
		CHECK(*fx.device_key == c.interface.private_key);
		CHECK(!fx.called("adopt_pending_key"));
		CHECK(fx.run_state->config_fingerprint == config_fingerprint(c));
	}
	SECTION("a new tunnel: created with the key file's key, then the pending key")
	{
		FakeSystem fx;
		fx.pending.unanswered = next;
		fx.hub_key = next.interface.public_key;
		auto o = ops::up(c, no_register, fx);
		REQUIRE(o.success());
		CHECK(o.change == ops::UpChange::created);
		CHECK(o.pending_key_adopted);
		CHECK(*fx.device_key == secret_of(50));
		CHECK(fx.called("adopt_pending_key"));
	}
	SECTION("neither key answered: the interface as found, the pending key kept")
	{
		FakeSystem fx;
		on_old_key(fx);
		fx.pending.unanswered = next;
		fx.hub_key.emplace();
		fx.hub_key->fill(9);
		auto o = ops::up(c, no_register, fx);
		REQUIRE(o.error);
		CHECK(o.error->code == Errc::temp_fail); // connect.timeout ran out
		CHECK(o.error->message.find("nor the pending key") != std::string::npos);
		CHECK(o.error->message.find("left as it was found") != std::string::npos);
		CHECK(!o.pending_key_adopted);
		CHECK(o.rolled_back);
		CHECK(fx.called("restore_device"));
		CHECK(*fx.device_key == c.interface.private_key);
		CHECK(!fx.called("adopt_pending_key"));
		CHECK(fx.run_state->config_fingerprint == config_fingerprint(c));
		CHECK(fx.t <= 100 + 10.0 + 1e-9); // within connect.timeout
	}
	SECTION("no pending key: the key file's key has all the time and nothing else")
	{
		FakeSystem fx;
		on_old_key(fx);
		fx.run_state->config_fingerprint = "an older configuration";
		fx.hub_key = next.interface.public_key;
		auto o = ops::up(c, no_register, fx);
		REQUIRE(o.error);
		CHECK(o.error->message.find("pending") == std::string::npos);
		CHECK(*fx.device_key == c.interface.private_key);
		CHECK(fx.key_switched_at == 0);
	}
	SECTION("a signal during the key file's verification: no second key")
	{
		FakeSystem fx;
		on_old_key(fx);
		fx.pending.unanswered = next;
		fx.hub_key = next.interface.public_key;
		fx.signal_at_attempt = 2;
		auto o = ops::up(c, no_register, fx);
		REQUIRE(o.error);
		CHECK(o.signal == 15);
		CHECK(*fx.device_key == c.interface.private_key);
		CHECK(!fx.called("adopt_pending_key"));
	}
	SECTION("the rename fails: the tunnel stays up on the key that works")
	{
		FakeSystem fx;
		on_old_key(fx);
		fx.pending.unanswered = next;
		fx.hub_key = next.interface.public_key;
		fx.adopt_fails = true;
		auto o = ops::up(c, no_register, fx);
		CHECK(o.success());
		CHECK(o.tunnel_up);
		CHECK(*fx.device_key == secret_of(50));
	}
	SECTION("taken by the control plane: brought up with the new key at once")
	{
		FakeSystem fx;
		fx.pending.taken = next;
		fx.hub_key = next.interface.public_key;
		auto o = ops::up(c, no_register, fx);
		REQUIRE(o.success());
		CHECK(o.attempts == 1);
		CHECK(!o.pending_key_adopted);
		CHECK(!fx.called("adopt_pending_key"));
		CHECK(fx.run_state->config_fingerprint == config_fingerprint(next));
	}
}

namespace {

// A disconnected tunnel, then whatever the fake up made of it.
struct Sensors : HealthSensors {
	FakeSystem &sys;
	int looks = 0;
	explicit Sensors(FakeSystem &s) : sys(s) {}
	Result<std::optional<Link>> link(const std::string &) override
	{
		++looks;
		if (!sys.link_exists)
			return std::optional<Link>();
		return std::optional<Link>(Link{true});
	}
	Result<DeviceState> device(const std::string &, std::string *backend) override
	{
		*backend = "userspace";
		DeviceState d;
		PeerState hub;
		hub.public_key.fill(7);
		hub.last_handshake_sec = 999990;
		d.peers = {hub};
		return d;
	}
	Result<double> ping(const std::string &, const IpAddr &, double) override { return 0.001; }
	std::optional<int64_t> connected_at(const std::string &) override { return std::nullopt; }
	std::optional<std::string> node_id(const std::string &) override { return std::nullopt; }
	int64_t now() override { return 1000000; }
};

std::string write_checked_config()
{
	char tmpl[] = "/tmp/wgn-ops-test-XXXXXX";
	std::string dir = mkdtemp(tmpl);
	std::string path = dir + "/wg0.toml";
	std::ofstream f(path);
	f << "[interface]\nprivate_key_file = \"" << dir << "/wg0.key\"\n"
	  << "address = \"10.0.0.10/24\"\n\n[hub]\npublic_key = "
	     "\"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\"\n"
	  << "endpoint = \"192.0.2.1:51820\"\nallowed_ips = \"10.0.0.0/24\"\n"
	  << "tunnel_address = \"10.0.0.1\"\n";
	return path;
}

} // namespace

TEST_CASE("ops::check --repair brings a disconnected tunnel up through ops::up")
{
	Quiet q;
	auto path = write_checked_config();
	FakeSystem fx;
	fx.answers = {true};
	Sensors sensors(fx);
	std::string loaded_from;
	ops::UpRepairs repairs(fx, {}, [&](const Config &checked) -> Result<Config> {
		loaded_from = checked.path.string();
		return up_config();
	});
	ops::CheckOptions opt;
	opt.repair = true;
	auto out = ops::check(path, opt, sensors, repairs);
	CHECK(loaded_from == path);
	REQUIRE(out.up);
	CHECK(out.up->success());
	CHECK(out.up->change == ops::UpChange::created);
	CHECK(fx.called("start wireguard-go"));
	CHECK(out.repair_changed);
	CHECK(out.repairs == std::vector<std::string>{"wg0: brought the tunnel up"});
	REQUIRE(out.before);
	CHECK(out.before->status == HealthStatus::disconnected);
	CHECK(out.result.status == HealthStatus::healthy);
	CHECK(sensors.looks == 2);

	SECTION("without --repair nothing is done")
	{
		FakeSystem fx2;
		Sensors s2(fx2);
		ops::UpRepairs r2(fx2, {}, [](const Config &) -> Result<Config> {
			FAIL("no up without --repair");
			return up_config();
		});
		auto o2 = ops::check(path, {}, s2, r2);
		CHECK(o2.result.status == HealthStatus::disconnected);
		CHECK(!o2.up);
		CHECK(fx2.calls.empty());
	}
	SECTION("an up that fails is in the outcome, and says so in the repair's line")
	{
		FakeSystem fx3;
		Sensors s3(fx3);
		ops::UpRepairs r3(fx3, {},
		                  [](const Config &) -> Result<Config> { return up_config(); });
		auto o3 = ops::check(path, opt, s3, r3);
		REQUIRE(o3.up);
		REQUIRE(o3.up->error);
		CHECK(o3.up->rolled_back);
		CHECK(o3.repairs ==
		      std::vector<std::string>{
		              "wg0: could not bring the tunnel up: wgn up exited with 69"});
		CHECK(o3.result.status == HealthStatus::disconnected);
	}
}
