// register_node with a fake transport: token file, state, the known node_id.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "registry.h"
#include "registry_fakes.h"
#include "regstate.h"
#include <fstream>

using namespace wgn;
using namespace wgn::test;
using nlohmann::json;

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

TEST_CASE("register_key_change: previous_public_key in the body and the idempotency key; "
          "409 is a refusal; the state is current for the new key",
          "[register][rotate]")
{
	Scratch s;
	s.write("token", "node-token\n", 0600);
	auto cfg = s.config("10.0.0.10/24", "token_file = \"token\"\n");
	Key previous{};
	previous.fill(3);
	FakeTransport t;
	FakeClock clock;
	t.script = {response(200, R"({"node_id":"n-1","registered_at":"2026-12-03T10:00:00Z"})")};
	auto r = register_key_change(cfg, previous, nullptr, clock.io(&t));
	REQUIRE(r);
	CHECK(r->node_id == "n-1");
	REQUIRE(t.seen.size() == 1);
	auto body = nlohmann::json::parse(t.seen[0].body);
	CHECK(body["previous_public_key"] == base64_encode(previous));
	CHECK(body["wireguard_public_key"] == kPub);
	CHECK(t.seen[0].bearer_token == "node-token");
	// The change and a plain registration of the same key are different requests...
	auto plain = make_registration_request(cfg, "node1", std::nullopt, "");
	CHECK(r->idempotency_key != plain.idempotency_key());
	// ... but `up` with the new key finds its content registered.
	CHECK(registration_is_current(cfg, "node1"));

	t.script = {response(
	        409,
	        R"({"error":"previous_public_key is not the key the node has now","node_id":"n-1"})")};
	auto refused = register_key_change(cfg, previous, nullptr, clock.io(&t));
	REQUIRE_FALSE(refused);
	CHECK(refused.error().code == Errc::data);
	CHECK(refused.error().message.find("refused the key change (HTTP 409)") !=
	      std::string::npos);
}
