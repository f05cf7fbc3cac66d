#include <catch2/catch.hpp>

#include <deque>

#include "connect.h"
#include "log.h"

using namespace wgn;

namespace {

// A clock that moves only when the loop waits or probes.
struct FakeEnv : ConnectEnv {
	double t = 0;
	std::deque<bool> answers; // per attempt; empty: no answer
	double answer_after = 0.01;
	std::vector<double> sleeps;
	std::vector<double> probe_timeouts;
	int refreshes = 0;
	bool dns_down_first = false;
	bool signal_during_sleep = false;
	bool signalled = false;
	Error fatal{Errc::software, ""};

	Status refresh_endpoint() override
	{
		++refreshes;
		if (dns_down_first && refreshes == 1)
			return make_error(Errc::unavailable, "cannot resolve hub.example.com");
		return Ok{};
	}
	Result<double> verify(double timeout) override
	{
		probe_timeouts.push_back(timeout);
		if (!fatal.message.empty())
			return fatal;
		bool ok = !answers.empty() && answers.front();
		if (!answers.empty())
			answers.pop_front();
		if (ok) {
			t += answer_after;
			return answer_after;
		}
		t += timeout;
		return make_error(Errc::unavailable, "hub 10.0.0.1 did not answer within " +
							 format_seconds(timeout) + "s");
	}
	double now() override { return t; }
	bool sleep(double s) override
	{
		sleeps.push_back(s);
		if (signal_during_sleep) {
			signalled = true;
			t += s / 2;
			return false;
		}
		t += s;
		return true;
	}
	bool interrupted() override { return signalled; }
	double jitter_unit() override { return 0.5; } // no jitter: factor 1
};

ConnectPolicy policy(int retries, double timeout = 120)
{
	ConnectPolicy p;
	p.max_retries = retries;
	p.backoff.initial = 2;
	p.backoff.max = 60;
	p.attempt_timeout = 5;
	p.timeout = timeout;
	p.deadline = timeout;
	return p;
}

} // namespace

TEST_CASE("the first answer ends the loop")
{
	FakeEnv env;
	env.answers = {true};
	int n = 0;
	auto r = connect_with_retries(env, policy(5), "wg0", &n);
	REQUIRE(r.ok());
	CHECK(r->attempts == 1);
	CHECK(n == 1);
	CHECK(env.sleeps.empty());
}

TEST_CASE("failed attempts back off exponentially, then succeed")
{
	FakeEnv env;
	env.answers = {false, false, true};
	auto r = connect_with_retries(env, policy(5), "wg0");
	REQUIRE(r.ok());
	CHECK(r->attempts == 3);
	CHECK(env.sleeps == std::vector<double>{2.0, 4.0});
	CHECK(env.refreshes == 3); // the endpoint is resolved again before every attempt
}

TEST_CASE("all attempts failing is unavailable (69)")
{
	FakeEnv env;
	int n = 0;
	auto r = connect_with_retries(env, policy(2), "wg0", &n);
	REQUIRE_FALSE(r.ok());
	CHECK(r.error().code == Errc::unavailable);
	CHECK(n == 3);
	CHECK(env.sleeps == std::vector<double>{2.0, 4.0});
	CHECK_THAT(r.error().message, Catch::Contains("did not answer in 3 attempts"));
}

TEST_CASE("the overall timeout ends the loop with temp_fail (75) and cuts the last probe")
{
	FakeEnv env;
	int n = 0;
	// 5s probe, 2s wait, 5s probe, 4s wait would end at 16s: a 14s timeout leaves the
	// third probe no time worth waiting for.
	auto r = connect_with_retries(env, policy(10, 14), "wg0", &n);
	REQUIRE_FALSE(r.ok());
	CHECK(r.error().code == Errc::temp_fail);
	CHECK_THAT(r.error().message, Catch::StartsWith("wg0: timed out after 14.0s"));
	CHECK(n == 2);
	CHECK(env.t <= 14.0);

	FakeEnv cut;
	auto r2 = connect_with_retries(cut, policy(10, 8), "wg0");
	REQUIRE_FALSE(r2.ok());
	CHECK(r2.error().code == Errc::temp_fail);
	// 5s, then 2s of waiting, then only 1s remains for the second probe.
	REQUIRE(cut.probe_timeouts.size() == 2);
	CHECK(cut.probe_timeouts[1] == Approx(1.0));
}

TEST_CASE("a name that does not resolve fails one attempt, not the run")
{
	FakeEnv env;
	env.dns_down_first = true;
	env.answers = {true}; // the first probe happens on the second attempt
	auto r = connect_with_retries(env, policy(3), "wg0");
	REQUIRE(r.ok());
	CHECK(r->attempts == 2);
}

TEST_CASE("a signal during the wait between attempts ends the loop at once")
{
	FakeEnv env;
	env.signal_during_sleep = true;
	auto r = connect_with_retries(env, policy(5), "wg0");
	REQUIRE_FALSE(r.ok());
	CHECK(r.error().message == "interrupted");
	CHECK(env.probe_timeouts.size() == 1);
}

TEST_CASE("a probe that cannot run ends the loop with its own error")
{
	FakeEnv env;
	env.fatal = make_error(Errc::no_perm, "cannot open an ICMP socket");
	auto r = connect_with_retries(env, policy(5), "wg0");
	REQUIRE_FALSE(r.ok());
	CHECK(r.error().code == Errc::no_perm);
	CHECK(env.sleeps.empty());
}

TEST_CASE("wg_quick_mtu: the path's MTU minus 80, else the default route's, else 1500")
{
	CHECK(wg_quick_mtu(1500, 9000) == 1420);
	CHECK(wg_quick_mtu(0, 9000) == 8920);
	CHECK(wg_quick_mtu(0, 0) == 1420);
	CHECK(wg_quick_mtu(1280, 0) == 1200);
	CHECK(wg_quick_mtu(65536, 0) == 65456); // loopback
}

TEST_CASE("resolve_endpoint takes numeric hosts as they are")
{
	auto v4 = resolve_endpoint(Endpoint{"192.0.2.1", 51820});
	REQUIRE(v4.ok());
	CHECK(v4->str() == "192.0.2.1:51820");
	auto v6 = resolve_endpoint(Endpoint{"2001:db8::1", 51820});
	REQUIRE(v6.ok());
	CHECK(v6->str() == "[2001:db8::1]:51820");
	CHECK_FALSE(endpoint_is_name(Endpoint{"2001:db8::1", 1}));
	CHECK(endpoint_is_name(Endpoint{"hub.example.com", 1}));
	// localhost resolves from /etc/hosts, without a network.
	auto l = resolve_endpoint(Endpoint{"localhost", 51820});
	REQUIRE(l.ok());
	CHECK(l->str().find(":51820") != std::string::npos);
	auto bad = resolve_endpoint(Endpoint{"no-such-host.invalid", 51820});
	REQUIRE_FALSE(bad.ok());
	CHECK(bad.error().code == Errc::unavailable);
	CHECK_THAT(bad.error().message, Catch::StartsWith("cannot resolve no-such-host.invalid"));
}

TEST_CASE("make_plan_context: backend, endpoint and MTU decided outside the planner")
{
	Config cfg;
	cfg.interface.name = "wg0";
	cfg.interface.backend = Backend::userspace;
	cfg.hub.endpoint = Endpoint{"192.0.2.1", 51820};
	setenv("WG_QUICK_USERSPACE_IMPLEMENTATION", "boringtun-cli", 1);
	LinkObservation fresh;
	auto ctx = make_plan_context(cfg, nullptr, fresh);
	unsetenv("WG_QUICK_USERSPACE_IMPLEMENTATION");
	REQUIRE(ctx.ok());
	CHECK(ctx->userspace);
	CHECK(ctx->userspace_program == "boringtun-cli");
	REQUIRE(ctx->endpoint);
	CHECK(ctx->endpoint->str() == "192.0.2.1:51820");
	CHECK(ctx->default_mtu == 1420);

	// An existing device keeps its backend, whatever the config says.
	LinkObservation kernel_dev;
	kernel_dev.exists = true;
	kernel_dev.userspace = false;
	auto k = make_plan_context(cfg, nullptr, kernel_dev);
	REQUIRE(k.ok());
	CHECK_FALSE(k->userspace);
	CHECK(k->userspace_program == "wireguard-go");

	// A name that does not resolve now leaves the endpoint to the attempts.
	cfg.hub.endpoint = Endpoint{"no-such-host.invalid", 51820};
	auto n = make_plan_context(cfg, nullptr, fresh);
	REQUIRE(n.ok());
	CHECK_FALSE(n->endpoint);
}
