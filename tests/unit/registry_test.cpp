#include <catch2/catch.hpp>

#include <cstdlib>
#include <deque>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "config.h"
#include "registry.h"
#include "regstate.h"
#include "version.h"

using namespace wgn;
using nlohmann::json;

namespace {

// RFC 7748's Alice: the public key of kPriv is kPub.
const char *kPriv = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=";
const char *kPub = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";
const char *kHub = "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=";

RegistrationRequest sample()
{
	RegistrationRequest r;
	r.hostname = "node1";
	r.wireguard_public_key = kPub;
	r.interface_name = "wg0";
	r.wireguard_address = {"10.0.0.10/24", "fd00::10/64"};
	r.hub_endpoint = "hub.example.com:51820";
	r.registered_at = "2026-02-19T17:30:00Z";
	r.labels = {{"zone", "a"}, {"role", "worker"}};
	r.wgn_version = "1.2.3";
	return r;
}

HttpResponse response(long status, std::string body, std::map<std::string, std::string> h = {})
{
	HttpResponse r;
	r.status = status;
	r.body = std::move(body);
	r.headers = std::move(h);
	return r;
}

// Answers from a script, and remembers what it was asked.
class FakeTransport : public HttpTransport {
public:
	std::deque<Result<HttpResponse>> script;
	std::vector<HttpRequest> seen;
	Result<HttpResponse> post(const HttpRequest &req) override
	{
		seen.push_back(req);
		REQUIRE(!script.empty());
		auto r = script.front();
		script.pop_front();
		return r;
	}
};

struct FakeClock {
	std::vector<double> sleeps;
	RegistrationIo io(FakeTransport *t)
	{
		RegistrationIo io;
		io.transport = t;
		io.sleep = [this](double s) { sleeps.push_back(s); };
		io.jitter = [] { return 0.5; }; // factor 1.0: the nominal delay
		io.now = [] { return int64_t{1771522200}; };
		io.hostname = "node1";
		return io;
	}
};

const BackoffPolicy kBackoff{2.0, 60.0};

// A config directory and a state directory, removed at the end.
struct Scratch {
	std::filesystem::path dir;
	std::string old_state;
	Scratch()
	{
		char tmpl[] = "/tmp/wgn-registry-test.XXXXXX";
		dir = mkdtemp(tmpl);
		write("wg0.key", std::string(kPriv) + "\n", 0600);
		if (const char *e = std::getenv("WGN_STATE_DIR"))
			old_state = e;
		setenv("WGN_STATE_DIR", (dir / "state").c_str(), 1);
	}
	~Scratch()
	{
		if (old_state.empty())
			unsetenv("WGN_STATE_DIR");
		else
			setenv("WGN_STATE_DIR", old_state.c_str(), 1);
		std::filesystem::remove_all(dir);
	}
	std::filesystem::path write(const std::string &name, const std::string &text,
	                            unsigned mode = 0600)
	{
		auto p = dir / name;
		std::ofstream(p) << text;
		chmod(p.c_str(), mode);
		return p;
	}
	Config config(const std::string &address = "10.0.0.10/24", const std::string &cp_extra = "")
	{
		std::string text = "[interface]\nprivate_key_file = \"wg0.key\"\naddress = \"" +
		                   address + "\"\n[hub]\npublic_key = \"" + kHub +
		                   "\"\nendpoint = \"hub.example.com:51820\"\n"
		                   "allowed_ips = \"10.0.0.0/24\"\n"
		                   "[control_plane]\nurl = \"http://127.0.0.1:9\"\n" +
		                   cp_extra;
		auto cfg = parse_config(text, dir / "wg0.toml");
		REQUIRE(cfg);
		return *cfg;
	}
};

} // namespace

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

TEST_CASE("the token file must be private, present and not empty", "[registry]")
{
	Scratch s;
	auto good = s.write("token", "s3cret-token\n", 0600);
	auto r = read_token_file(good);
	REQUIRE(r);
	CHECK(*r == "s3cret-token");
	for (auto [text, mode] : {std::pair{"s3cret\n", 0640},
	                          {"s3cret\n", 0604},
	                          {"\n", 0600},
	                          {"two words\n", 0600}}) {
		auto p = s.write("bad", text, static_cast<unsigned>(mode));
		auto b = read_token_file(p);
		REQUIRE_FALSE(b);
		CHECK(b.error().code == Errc::config);
		CHECK(b.error().message.find("s3cret") == std::string::npos);
	}
	CHECK(read_token_file(s.dir / "missing").error().code == Errc::config);
	CHECK(read_token_file(s.dir).error().code == Errc::config);
}

TEST_CASE("register_node saves state, sends the known node_id and the token apart", "[registry]")
{
	Scratch s;
	s.write("token", "s3cret-token\n", 0600);
	auto cfg = s.config("10.0.0.10/24", "token_file = \"token\"\n");
	FakeTransport t;
	FakeClock clock;
	CHECK_FALSE(registration_is_current(cfg, "node1"));

	t.script = {response(201, R"({"node_id":"n-1","registered_at":"2026-02-19T17:30:00Z"})")};
	int attempts = 0;
	auto r = register_node(cfg, &attempts, clock.io(&t));
	REQUIRE(r);
	CHECK(r->node_id == "n-1");
	CHECK(attempts == 1);
	REQUIRE(t.seen.size() == 1);
	CHECK(t.seen[0].bearer_token == "s3cret-token");
	CHECK(json::parse(t.seen[0].body)["node_id"].is_null());
	for (auto &[k, v] : t.seen[0].headers)
		CHECK(v.find("s3cret") == std::string::npos);

	auto st = load_registration("wg0");
	REQUIRE(st);
	CHECK(st->node_id == "n-1");
	CHECK(st->registered_at == "2026-02-19T17:30:00Z");
	CHECK(st->control_plane_url == "http://127.0.0.1:9");
	CHECK(st->idempotency_key == r->idempotency_key);
	auto text = std::ifstream(registration_state_path("wg0"));
	std::string all((std::istreambuf_iterator<char>(text)), {});
	CHECK(all.find("s3cret") == std::string::npos);
	CHECK(registration_is_current(cfg, "node1"));

	// A changed address is a new registration that carries the node_id.
	auto moved = s.config("10.0.0.11/24", "token_file = \"token\"\n");
	CHECK_FALSE(registration_is_current(moved, "node1"));
	t.script = {response(200, R"({"node_id":"n-1"})")};
	auto again = register_node(moved, nullptr, clock.io(&t));
	REQUIRE(again);
	CHECK(json::parse(t.seen[1].body)["node_id"] == "n-1");
	CHECK(again->idempotency_key != r->idempotency_key);
	CHECK(registration_is_current(moved, "node1"));
}

TEST_CASE("register_node refuses a config without [control_plane] or with an open token",
          "[registry]")
{
	Scratch s;
	auto cfg = s.config();
	FakeTransport t;
	FakeClock clock;
	SECTION("no control plane")
	{
		cfg.control_plane.reset();
		CHECK(register_node(cfg, nullptr, clock.io(&t)).error().code == Errc::config);
	}
	SECTION("token readable by others")
	{
		s.write("token", "s3cret\n", 0644);
		cfg.control_plane->token_file = s.dir / "token";
		CHECK(register_node(cfg, nullptr, clock.io(&t)).error().code == Errc::config);
	}
	SECTION("unreadable ca_file")
	{
		cfg.control_plane->ca_file = s.dir / "missing.pem";
		CHECK(register_node(cfg, nullptr, clock.io(&t)).error().code == Errc::config);
	}
	CHECK(t.seen.empty());
	CHECK_FALSE(load_registration("wg0"));
}

TEST_CASE("a torn or foreign state file reads as never registered", "[registry]")
{
	Scratch s;
	std::filesystem::create_directories(s.dir / "state");
	s.write("state/wg0.json", "{\"node_id\":", 0644);
	CHECK_FALSE(load_registration("wg0"));
	s.write("state/wg0.json", "{\"node_id\":7}", 0644);
	CHECK_FALSE(load_registration("wg0"));
	REQUIRE(save_registration({"wg0", "n-2", "t", "u", "k"}));
	CHECK(load_registration("wg0")->node_id == "n-2");
}
