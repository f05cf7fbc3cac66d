// Health reports (SPEC "Health reports"): the request, judging the answer, what cannot
// be reported, and the reporter thread that never holds up its caller.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>

#include "health_fixtures.h"
#include "health_report.h"
#include "registry_fakes.h"
#include "regstate.h"

using namespace wgn;
using namespace wgn::test;

namespace {

void registered(const Config &cfg, const std::string &node_id)
{
	RegistrationState s{cfg.interface.name, node_id, "2026-02-19T17:30:00Z",
	                    cfg.control_plane->url, "k"};
	REQUIRE(save_registration(s));
}

} // namespace

TEST_CASE("health report: POST to the node's health with its token, the JSON of --format json")
{
	Scratch s;
	auto tok = s.write("wg0.token", "wgn_node_secret\n", 0600);
	auto cfg =
	        s.config("10.0.0.10/24", "token_file = \"" + tok.string() + "\"\ntimeout = 3.5\n");
	registered(cfg, "0b6f1a7e-1c1d-4c7e-9a52-6f1f2b0c9d11");
	FakeTransport t;
	t.script.push_back(response(200, R"({"status":"healthy"})"));
	auto r = result(healthy_obs());
	REQUIRE(send_health_report(cfg, r, &t));
	REQUIRE(t.seen.size() == 1);
	auto &req = t.seen[0];
	CHECK(req.method == "POST");
	CHECK(req.url ==
	      "http://127.0.0.1:9/api/v1/nodes/0b6f1a7e-1c1d-4c7e-9a52-6f1f2b0c9d11/health");
	CHECK(req.bearer_token == "wgn_node_secret");
	CHECK(req.timeout == 3.5);
	CHECK(req.body == health_report_body(r));
	CHECK(req.body + "\n" == format_health_json({r}));
	CHECK(nlohmann::json::parse(req.body)["status"] == "healthy");
	for (auto &[k, v] : req.headers) {
		CHECK(k != "dbos-idempotency-key"); // every report is new
		CHECK(v.find("wgn_node_secret") == std::string::npos);
	}
}

TEST_CASE("health report: what stops one, each in one sentence")
{
	Scratch s;
	auto cfg = s.config();
	FakeTransport t;
	auto r = result(healthy_obs());
	SECTION("not registered: nothing sent")
	{
		auto st = send_health_report(cfg, r, &t);
		REQUIRE(!st);
		CHECK(st.error().message.rfind("wg0: health report not sent: not registered with "
		                               "http://127.0.0.1:9",
		                               0) == 0);
		CHECK(t.seen.empty());
	}
	SECTION("registered with another control plane: not that node_id")
	{
		RegistrationState st{"wg0", "n1", "", "https://other.example", "k"};
		REQUIRE(save_registration(st));
		CHECK(!send_health_report(cfg, r, &t));
		CHECK(t.seen.empty());
	}
	SECTION("no [control_plane], or a hub's config: config")
	{
		Config c = cfg;
		c.control_plane.reset();
		CHECK(health_report_node_id(c).error().code == Errc::config);
		c = cfg;
		c.is_hub_config = true;
		CHECK(health_report_node_id(c).error().code == Errc::config);
	}
	SECTION("the control plane says no, or is away")
	{
		registered(cfg, "n1");
		t.script.push_back(
		        response(403, R"({"error":"a node token reports for its own node only"})"));
		auto st = send_health_report(cfg, r, &t);
		REQUIRE(!st);
		CHECK(st.error().message == "wg0: health report not sent: the control plane "
		                            "refused the token (HTTP 403): "
		                            "a node token reports for its own node only");
		t.script.push_back(make_error(Errc::temp_fail, "cannot connect to 127.0.0.1:9"));
		st = send_health_report(cfg, r, &t);
		REQUIRE(!st);
		CHECK(st.error().message ==
		      "wg0: health report not sent: cannot connect to 127.0.0.1:9");
		CHECK(t.seen.size() == 2); // once each: never retried
	}
}

TEST_CASE("judge_health_report")
{
	CHECK(judge_health_report(response(200, "{}")));
	CHECK(judge_health_report(response(201, "")));
	CHECK(judge_health_report(response(401, "")).error().code == Errc::no_perm);
	CHECK(judge_health_report(response(404, "")).error().code == Errc::protocol);
	CHECK(judge_health_report(response(503, "")).error().code == Errc::temp_fail);
	CHECK(judge_health_report(response(422, "")).error().code == Errc::data);
	CHECK(judge_health_report(response(302, "")).error().code == Errc::protocol);
}

TEST_CASE("HealthReporter: post never waits for the control plane; the newest report wins")
{
	std::mutex m;
	std::condition_variable cv;
	bool release = false;
	std::vector<std::string> sent;
	std::atomic<int> done{0};
	HealthReporter rep(
	        [&](const Status &) { ++done; },
	        [&](const Config &, const HealthResult &r, const std::function<bool()> &) {
		        std::unique_lock<std::mutex> l(m);
		        cv.wait(l, [&] { return release; });
		        sent.push_back(health_status_name(r.status));
		        return Status(Ok{});
	        });
	Config cfg;
	auto t0 = std::chrono::steady_clock::now();
	auto degraded = healthy_obs();
	degraded.handshake_age = 500;
	rep.post(cfg, result(healthy_obs()));
	// The first is in flight (or about to be), held by the "control plane"; these wait,
	// and only the newest of them is sent.
	std::this_thread::sleep_for(std::chrono::milliseconds(50));
	auto unhealthy = healthy_obs();
	unhealthy.ping_answered = false;
	rep.post(cfg, result(unhealthy));
	rep.post(cfg, result(degraded));
	CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(500));
	{
		std::lock_guard<std::mutex> l(m);
		release = true;
	}
	cv.notify_all();
	rep.drain();
	CHECK(sent == std::vector<std::string>{"healthy", "degraded"});
	CHECK(done == 2);
}

TEST_CASE("HealthReporter: the destructor cancels a report in flight")
{
	std::atomic<bool> saw_cancel{false};
	{
		HealthReporter rep({}, [&](const Config &, const HealthResult &,
		                           const std::function<bool()> &cancelled) {
			while (!cancelled())
				std::this_thread::sleep_for(std::chrono::milliseconds(5));
			saw_cancel = true;
			return Status(make_error(Errc::temp_fail, "interrupted"));
		});
		rep.post(Config{}, result(healthy_obs()));
		std::this_thread::sleep_for(std::chrono::milliseconds(30));
	}
	CHECK(saw_cancel);
}
