// The registration protocol without a network: request, key, verdicts, retries.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "registry.h"
#include "registry_fakes.h"
#include "regstate.h"
#include "version.h"

using namespace wgn;
using namespace wgn::test;
using nlohmann::json;

TEST_CASE("the canonical content has sorted keys, no whitespace, no node_id or registered_at",
          "[registry]")
{
	auto r = sample();
	CHECK(r.canonical_content() ==
	      R"({"hostname":"node1","hub_endpoint":"hub.example.com:51820","interface_name":"wg0",)"
	      R"("labels":{"role":"worker","zone":"a"},"wgn_version":"1.2.3",)"
	      R"("wireguard_address":["10.0.0.10/24","fd00::10/64"],)"
	      R"("wireguard_public_key":"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="})");
	// sha256sum of the string above.
	CHECK(r.idempotency_key() ==
	      "270eb191f6d1d46f6ff0dac76a0a1803a9b76b40ad17de54edb9be7a4128e415");
}

TEST_CASE("the idempotency key ignores node_id and registered_at, and nothing else", "[registry]")
{
	auto base = sample();
	auto same = base;
	same.node_id = "6f1c4d1e-0000-4000-8000-000000000001";
	same.registered_at = "2030-01-01T00:00:00Z";
	CHECK(same.idempotency_key() == base.idempotency_key());
	CHECK(same.body() != base.body());

	auto changed = base;
	SECTION("address")
	{
		changed.wireguard_address = {"10.0.0.11/24", "fd00::10/64"};
	}
	SECTION("endpoint")
	{
		changed.hub_endpoint = "hub2.example.com:51820";
	}
	SECTION("label")
	{
		changed.labels["role"] = "gateway";
	}
	SECTION("hostname")
	{
		changed.hostname = "node2";
	}
	SECTION("key")
	{
		changed.wireguard_public_key = kHub;
	}
	CHECK(changed.idempotency_key() != base.idempotency_key());
}

TEST_CASE("the body carries every field of SPEC, node_id null until known", "[registry]")
{
	Scratch s;
	auto cfg = s.config("10.0.0.10/24", "[control_plane.labels]\nrole = \"worker\"\n");
	auto r = make_registration_request(cfg, "node1", std::nullopt, "2026-02-19T17:30:00Z");
	auto j = json::parse(r.body());
	CHECK(j["node_id"].is_null());
	CHECK(j["hostname"] == "node1");
	CHECK(j["wireguard_public_key"] == kPub);
	CHECK(j["interface_name"] == "wg0");
	CHECK(j["wireguard_address"] == json::array({"10.0.0.10/24"}));
	CHECK(j["hub_endpoint"] == "hub.example.com:51820");
	CHECK(j["registered_at"] == "2026-02-19T17:30:00Z");
	CHECK(j["labels"] == json{{"role", "worker"}});
	CHECK(j["wgn_version"] == WGN_VERSION);
	CHECK(j.size() == 9);

	auto known = make_registration_request(cfg, "node1", "abc", "2026-02-19T17:30:00Z");
	CHECK(json::parse(known.body())["node_id"] == "abc");

	auto h = make_http_request(*cfg.control_plane, r);
	CHECK(h.url == "http://127.0.0.1:9/api/v1/nodes/register");
	std::map<std::string, std::string> hm(h.headers.begin(), h.headers.end());
	CHECK(hm["dbos-idempotency-key"] == r.idempotency_key());
	CHECK(hm["Content-Type"] == "application/json");
	CHECK(hm["User-Agent"] == "wgn/" WGN_VERSION);
	CHECK(hm.count("Authorization") == 0);
	CHECK(h.timeout == cfg.control_plane->timeout);
	CHECK(h.max_response == 64 * 1024);
}

TEST_CASE("Retry-After: delta-seconds and the three HTTP-date formats", "[registry]")
{
	// 1994-11-06T08:49:37Z, the example date of RFC 9110.
	const int64_t t0 = 784111777;
	CHECK(parse_retry_after("120", t0) == 120.0);
	CHECK(parse_retry_after(" 5 ", t0) == 5.0);
	CHECK(parse_retry_after("0", t0) == 0.0);
	CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:57 GMT", t0) == 20.0);
	CHECK(parse_retry_after("Sunday, 06-Nov-94 08:50:37 GMT", t0) == 60.0);
	CHECK(parse_retry_after("Sun Nov  6 08:49:47 1994", t0) == 10.0);
	CHECK(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", t0) == 0.0); // in the past
	CHECK(*parse_retry_after("99999999999999", t0) > 86400.0);
	for (auto bad : {"", "soon", "-5", "1.5", "Sun, 06 Nov 1994 08:49:57", "12abc"})
		CHECK_FALSE(parse_retry_after(bad, t0));
}

TEST_CASE("each status maps to the exit code of SPEC", "[registry]")
{
	const std::string ok = R"({"node_id":"n-1","registered_at":"2026-02-19T17:30:00Z"})";
	struct Case {
		long status;
		std::string body;
		Verdict::Kind kind;
		Errc code;
	};
	std::vector<Case> cases = {
	        {200, ok, Verdict::done, Errc::software},
	        {201, ok, Verdict::done, Errc::software},
	        {409, ok, Verdict::done, Errc::software},
	        {409, R"({"error":"taken"})", Verdict::fail, Errc::data},
	        {409, "not json", Verdict::fail, Errc::data},
	        {400, R"({"error":"bad"})", Verdict::fail, Errc::data},
	        {422, "", Verdict::fail, Errc::data},
	        {401, "", Verdict::fail, Errc::no_perm},
	        {403, "", Verdict::fail, Errc::no_perm},
	        {404, "", Verdict::fail, Errc::protocol},
	        {405, "", Verdict::fail, Errc::protocol},
	        {301, "", Verdict::fail, Errc::protocol},
	        {307, "", Verdict::fail, Errc::protocol},
	        {200, R"({"registered_at":"x"})", Verdict::fail, Errc::protocol},
	        {200, R"({"node_id":42})", Verdict::fail, Errc::protocol},
	        {200, R"({"node_id":""})", Verdict::fail, Errc::protocol},
	        {200, R"(["node_id"])", Verdict::fail, Errc::protocol},
	        {200, "<html>", Verdict::fail, Errc::protocol},
	        {204, "", Verdict::fail, Errc::protocol},
	        {408, "", Verdict::retry, Errc::temp_fail},
	        {429, "", Verdict::retry, Errc::temp_fail},
	        {500, "", Verdict::retry, Errc::temp_fail},
	        {503, "", Verdict::retry, Errc::temp_fail},
	};
	for (auto &c : cases) {
		INFO(c.status << " " << c.body);
		auto v = judge_response(response(c.status, c.body), 0);
		CHECK(v.kind == c.kind);
		if (v.kind == Verdict::done) {
			CHECK(v.node_id == "n-1");
			CHECK(v.registered_at == "2026-02-19T17:30:00Z");
		} else {
			CHECK(v.error.code == c.code);
		}
	}
	CHECK(exit_code(Errc::data) == 65);
	CHECK(exit_code(Errc::protocol) == 76);
	CHECK(exit_code(Errc::no_perm) == 77);
	CHECK(exit_code(Errc::temp_fail) == 75);
}

TEST_CASE("verdict messages say what the server said and where a redirect went", "[registry]")
{
	auto v = judge_response(response(422, R"({"error":"address\nis bad"})"), 0);
	CHECK(v.error.message.find("address is bad") != std::string::npos);
	auto r = judge_response(response(301, "", {{"location", "https://elsewhere/"}}), 0);
	CHECK(r.error.message.find("https://elsewhere/") != std::string::npos);
	auto ra = judge_response(response(503, "", {{"retry-after", "7"}}), 0);
	CHECK(ra.retry_after == 7.0);
}

TEST_CASE("retries: network errors and 5xx with backoff, then success", "[registry]")
{
	FakeTransport t;
	FakeClock clock;
	auto io = clock.io(&t);
	t.script = {make_error(Errc::temp_fail, "Connection refused"), response(503, ""),
	            response(201, R"({"node_id":"n-1"})")};
	int attempts = 0;
	auto r = send_registration(t, HttpRequest{}, 5, kBackoff, "wg0", io, &attempts);
	REQUIRE(r);
	CHECK(r->node_id == "n-1");
	CHECK(r->attempts == 3);
	CHECK(attempts == 3);
	CHECK(clock.sleeps == std::vector<double>{2.0, 4.0});
}

TEST_CASE("retries: Retry-After is honoured and capped at max_backoff", "[registry]")
{
	FakeTransport t;
	FakeClock clock;
	auto io = clock.io(&t);
	t.script = {response(429, "", {{"retry-after", "3"}}),
	            response(503, "", {{"retry-after", "3600"}}),
	            response(200, R"({"node_id":"n"})")};
	auto r = send_registration(t, HttpRequest{}, 5, kBackoff, "wg0", io, nullptr);
	REQUIRE(r);
	CHECK(clock.sleeps == std::vector<double>{3.0, 60.0});
}

TEST_CASE("retries: at most max_retries after the first, then 75", "[registry]")
{
	FakeTransport t;
	FakeClock clock;
	auto io = clock.io(&t);
	t.script = {response(500, ""), response(502, ""), response(503, "")};
	int attempts = 0;
	auto r = send_registration(t, HttpRequest{}, 2, kBackoff, "wg0", io, &attempts);
	REQUIRE_FALSE(r);
	CHECK(r.error().code == Errc::temp_fail);
	CHECK(r.error().message.find("3 attempts") != std::string::npos);
	CHECK(r.error().message.find("HTTP 503") != std::string::npos);
	CHECK(attempts == 3);
	CHECK(t.seen.size() == 3);
	CHECK(clock.sleeps == std::vector<double>{2.0, 4.0});
}

TEST_CASE("a cancelled registration stops before the next attempt", "[registry]")
{
	FakeTransport t;
	FakeClock clock;
	auto io = clock.io(&t);
	bool stop = false;
	io.cancelled = [&stop] { return stop; };
	io.sleep = [&stop](double) { stop = true; }; // a signal arrives during the wait
	t.script = {response(503, ""), response(200, R"({"node_id":"n"})")};
	int attempts = 0;
	auto r = send_registration(t, HttpRequest{}, 5, kBackoff, "wg0", io, &attempts);
	REQUIRE_FALSE(r);
	CHECK(r.error().message.find("interrupted") != std::string::npos);
	CHECK(attempts == 1);
	CHECK(t.seen.size() == 1);
}

TEST_CASE("no retry on 4xx, on an oversized answer, or with max_retries 0", "[registry]")
{
	FakeTransport t;
	FakeClock clock;
	auto io = clock.io(&t);
	int attempts = 0;
	SECTION("400")
	{
		t.script = {response(400, "")};
		auto r = send_registration(t, HttpRequest{}, 5, kBackoff, "wg0", io, &attempts);
		CHECK(r.error().code == Errc::data);
	}
	SECTION("401")
	{
		t.script = {response(401, "")};
		auto r = send_registration(t, HttpRequest{}, 5, kBackoff, "wg0", io, &attempts);
		CHECK(r.error().code == Errc::no_perm);
	}
	SECTION("too large")
	{
		t.script = {make_error(Errc::protocol, "larger than 64 KiB")};
		auto r = send_registration(t, HttpRequest{}, 5, kBackoff, "wg0", io, &attempts);
		CHECK(r.error().code == Errc::protocol);
	}
	SECTION("max_retries 0")
	{
		t.script = {response(503, "")};
		auto r = send_registration(t, HttpRequest{}, 0, kBackoff, "wg0", io, &attempts);
		CHECK(r.error().code == Errc::temp_fail);
	}
	CHECK(attempts == 1);
	CHECK(t.seen.size() == 1);
	CHECK(clock.sleeps.empty());
}
