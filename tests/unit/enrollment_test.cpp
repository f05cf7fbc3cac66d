// ops::enroll (lib/ops/enrollment.h) against fakes of its effects: what runs in which
// order, and that a failed up leaves the enrollment standing.
#include <catch2/catch.hpp>

#include "enrollment.h"

using namespace wgn;

namespace {

struct FakeEnrollEffects : ops::EnrollEffects {
	std::vector<std::string> calls;
	bool cap = true;
	std::optional<Error> enroll_error;
	std::optional<Error> load_error;
	ops::UpOutcome up_result;
	ops::UpOptions up_seen;

	bool has_cap_net_admin() override { return calls.push_back("cap"), cap; }
	Result<EnrollOutcome> enroll(const EnrollOptions &opt, int *attempts) override
	{
		calls.push_back("enroll " + opt.name);
		*attempts = 2;
		if (enroll_error)
			return *enroll_error;
		EnrollOutcome o;
		o.node_id = "node-7";
		o.files = enrolled_files("/etc/wgn", opt.name);
		return o;
	}
	Result<Config> load_config(const std::filesystem::path &path) override
	{
		calls.push_back("load " + path.string());
		if (load_error)
			return *load_error;
		Config c;
		c.interface.name = "wg0";
		return c;
	}
	ops::UpOutcome up(const Config &cfg, const ops::UpOptions &opt) override
	{
		calls.push_back("up " + cfg.interface.name);
		up_seen = opt;
		return up_result;
	}
};

ops::EnrollUpOptions options(bool up)
{
	ops::EnrollUpOptions o;
	o.enroll.name = "wg0";
	o.up = up;
	return o;
}

} // namespace

TEST_CASE("ops::enroll without --up enrolls only, and needs no privilege", "[enrollment]")
{
	FakeEnrollEffects fx;
	auto out = ops::enroll(options(false), fx);
	CHECK(fx.calls == std::vector<std::string>{"enroll wg0"});
	REQUIRE(out.enrolled);
	CHECK(out.enrolled->node_id == "node-7");
	CHECK_FALSE(out.up);
	CHECK(out.attempts == 2);
	CHECK(out.success());
}

TEST_CASE("ops::enroll --up brings up the config it wrote, after saying so", "[enrollment]")
{
	FakeEnrollEffects fx;
	fx.up_result.interface = "wg0";
	fx.up_result.tunnel_up = true;
	auto opt = options(true);
	std::vector<std::string> said;
	opt.on_enrolled = [&](const EnrollOutcome &r) {
		said.push_back(r.node_id);
		fx.calls.push_back("said");
	};
	auto out = ops::enroll(opt, fx);
	CHECK(fx.calls == std::vector<std::string>{"cap", "enroll wg0", "said",
	                                           "load /etc/wgn/wg0.toml", "up wg0"});
	CHECK(said == std::vector<std::string>{"node-7"});
	CHECK(fx.up_seen.register_node);
	REQUIRE(out.up);
	CHECK(out.success());
}

TEST_CASE("ops::enroll --up without CAP_NET_ADMIN spends no token", "[enrollment]")
{
	FakeEnrollEffects fx;
	fx.cap = false;
	auto out = ops::enroll(options(true), fx);
	CHECK(fx.calls == std::vector<std::string>{"cap"});
	REQUIRE(out.error);
	CHECK(out.error->code == Errc::no_perm);
	CHECK(out.error->message.find("CAP_NET_ADMIN") != std::string::npos);
	CHECK_FALSE(out.enrolled);
	CHECK_FALSE(out.success());
}

TEST_CASE("ops::enroll --up: a failed enrollment runs no up", "[enrollment]")
{
	FakeEnrollEffects fx;
	fx.enroll_error = make_error(Errc::no_perm, "the control plane refused the token");
	auto out = ops::enroll(options(true), fx);
	CHECK(fx.calls == std::vector<std::string>{"cap", "enroll wg0"});
	REQUIRE(out.error);
	CHECK(out.error->code == Errc::no_perm);
	CHECK_FALSE(out.up);
	CHECK(out.attempts == 2);
}

TEST_CASE("ops::enroll --up: a failed up keeps the enrollment", "[enrollment]")
{
	FakeEnrollEffects fx;
	fx.up_result.interface = "wg0";
	fx.up_result.error = make_error(Errc::unavailable, "wg0: the hub did not answer");
	auto out = ops::enroll(options(true), fx);
	REQUIRE(out.enrolled);
	CHECK_FALSE(out.error);
	REQUIRE(out.up);
	REQUIRE(out.up->failure());
	CHECK(out.up->failure()->code == Errc::unavailable);
	CHECK_FALSE(out.success());

	// A tunnel up whose registration failed is a failure too, with the tunnel up.
	FakeEnrollEffects fx2;
	fx2.up_result.tunnel_up = true;
	fx2.up_result.registration_error = make_error(Errc::temp_fail, "no answer");
	auto out2 = ops::enroll(options(true), fx2);
	REQUIRE(out2.up);
	CHECK(out2.up->tunnel_up);
	CHECK_FALSE(out2.success());
}

TEST_CASE("ops::enroll --up: a written config that does not load is up's failure", "[enrollment]")
{
	FakeEnrollEffects fx;
	fx.load_error = make_error(Errc::config, "/etc/wgn/wg0.toml:7: [[hub]] is not supported");
	auto out = ops::enroll(options(true), fx);
	CHECK(fx.calls == std::vector<std::string>{"cap", "enroll wg0", "load /etc/wgn/wg0.toml"});
	REQUIRE(out.enrolled);
	REQUIRE(out.up);
	CHECK(out.up->interface == "wg0");
	REQUIRE(out.up->error);
	CHECK(out.up->error->code == Errc::config);
	CHECK_FALSE(out.up->tunnel_up);
}
