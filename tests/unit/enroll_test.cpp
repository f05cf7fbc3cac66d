// Enrollment: the request, hostile answers, the config written (through wgn's own
// loader), and enroll_node's files with a scripted transport.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <toml++/toml.h>

#include "enroll.h"
#include "fsutil.h"
#include "keys.h"
#include "registry_fakes.h"
#include "regstate.h"

using namespace wgn;
using namespace wgn::test;
using nlohmann::json;

namespace {

const char *kHub2 = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=";

json good_answer()
{
	return json{{"node_id", "3f1c2a9e-0000-4000-8000-000000000007"},
	            {"wireguard_address", {"10.0.0.7/24", "fd00::7/64"}},
	            {"hubs",
	             {{{"public_key", kHub2},
	               {"endpoint", "hub2.example.com:51820"},
	               {"tunnel_address", "10.0.0.2"},
	               {"allowed_ips", {"10.0.0.0/24"}},
	               {"priority", 5}},
	              {{"public_key", kHub},
	               {"endpoint", "[2001:db8::1]:51820"},
	               {"tunnel_address", "10.0.0.1"},
	               {"allowed_ips", {"10.0.0.0/24", "fd00::/64"}},
	               {"persistent_keepalive", 25},
	               {"priority", 0}}}},
	            {"node_token", "node-s3cret-TOKEN"}};
}

std::string one_hub_answer()
{
	auto j = good_answer();
	j["hubs"].erase(0);
	return j.dump();
}

unsigned mode_of(const std::filesystem::path &p)
{
	struct stat st {};
	REQUIRE(stat(p.c_str(), &st) == 0);
	return st.st_mode & 07777;
}

std::string slurp(const std::filesystem::path &p)
{
	auto t = read_file(p);
	REQUIRE(t);
	return *t;
}

} // namespace

TEST_CASE("the enrollment request is canonical JSON and keyed as register keys", "[enroll]")
{
	EnrollmentRequest r{"node1", kPub, "wg0", {{"zone", "a"}, {"role", "worker"}}, "1.2.3"};
	CHECK(r.body() == R"({"hostname":"node1","interface_name":"wg0",)"
	                  R"("labels":{"role":"worker","zone":"a"},)"
	                  R"("wgn_version":"1.2.3","wireguard_public_key":")" +
	                          std::string(kPub) + "\"}");
	CHECK(r.idempotency_key() == sha256_hex(r.body()));
	CHECK(r.idempotency_key() == idempotency_key_of(json::parse(r.body())));
	auto other = r;
	other.labels["zone"] = "b";
	CHECK(other.idempotency_key() != r.idempotency_key());
	other = r;
	other.wireguard_public_key = kHub;
	CHECK(other.idempotency_key() != r.idempotency_key());
}

TEST_CASE("a good answer is read and its hubs sorted by priority", "[enroll]")
{
	auto a = parse_enrollment_answer(good_answer().dump(), kPub);
	REQUIRE(a);
	CHECK(a->node_id == "3f1c2a9e-0000-4000-8000-000000000007");
	CHECK(a->wireguard_address == std::vector<std::string>{"10.0.0.7/24", "fd00::7/64"});
	REQUIRE(a->hubs.size() == 2);
	CHECK(a->hubs[0].public_key == kHub);
	CHECK(a->hubs[0].priority == 0);
	CHECK(a->hubs[0].persistent_keepalive == 25);
	CHECK(a->hubs[1].public_key == kHub2);
	CHECK(a->hubs[1].priority == 5);
	CHECK_FALSE(a->hubs[1].persistent_keepalive);
	CHECK(a->node_token == "node-s3cret-TOKEN");

	// Without priorities the answer's order is the order.
	auto j = good_answer();
	j["hubs"][0].erase("priority");
	j["hubs"][1]["priority"] = nullptr;
	auto b = parse_enrollment_answer(j.dump(), kPub);
	REQUIRE(b);
	CHECK(b->hubs[0].public_key == kHub2);
	CHECK(b->hubs[1].public_key == kHub);
}

TEST_CASE("hostile answers are outside the protocol: 76, and never quote the token", "[enroll]")
{
	using Edit = std::function<void(json &)>;
	std::vector<std::pair<std::string, Edit>> cases = {
	        {"node_id missing", [](json &j) { j.erase("node_id"); }},
	        {"node_id a number", [](json &j) { j["node_id"] = 7; }},
	        {"node_id empty", [](json &j) { j["node_id"] = ""; }},
	        {"node_id with a newline", [](json &j) { j["node_id"] = "a\nb"; }},
	        {"node_id too long", [](json &j) { j["node_id"] = std::string(300, 'a'); }},
	        {"addresses missing", [](json &j) { j.erase("wireguard_address"); }},
	        {"addresses a string", [](json &j) { j["wireguard_address"] = "10.0.0.7/24"; }},
	        {"addresses empty", [](json &j) { j["wireguard_address"] = json::array(); }},
	        {"address without a prefix",
	         [](json &j) { j["wireguard_address"] = {"10.0.0.7"}; }},
	        {"address not an address", [](json &j) { j["wireguard_address"] = {"x/24"}; }},
	        {"address a number", [](json &j) { j["wireguard_address"] = {7}; }},
	        {"65 addresses",
	         [](json &j) {
		         j["wireguard_address"] = std::vector<std::string>(65, "10.0.0.7/24");
	         }},
	        {"hubs missing", [](json &j) { j.erase("hubs"); }},
	        {"hubs an object", [](json &j) { j["hubs"] = j["hubs"][0]; }},
	        {"a hub a string", [](json &j) { j["hubs"][0] = "hub"; }},
	        {"hub key short", [](json &j) { j["hubs"][0]["public_key"] = "AAAA"; }},
	        {"hub key missing", [](json &j) { j["hubs"][0].erase("public_key"); }},
	        {"hub key our own", [](json &j) { j["hubs"][0]["public_key"] = kPub; }},
	        {"two hubs one key", [](json &j) { j["hubs"][1]["public_key"] = kHub2; }},
	        {"endpoint without port", [](json &j) { j["hubs"][0]["endpoint"] = "hub"; }},
	        {"endpoint port 0", [](json &j) { j["hubs"][0]["endpoint"] = "hub:0"; }},
	        {"endpoint with a quote",
	         [](json &j) { j["hubs"][0]["endpoint"] = "hub\"\n[x]:51820"; }},
	        {"tunnel_address missing", [](json &j) { j["hubs"][0].erase("tunnel_address"); }},
	        {"tunnel_address a prefix",
	         [](json &j) { j["hubs"][0]["tunnel_address"] = "10.0.0.2/24"; }},
	        {"allowed_ips a default route",
	         [](json &j) { j["hubs"][0]["allowed_ips"] = {"0.0.0.0/0"}; }},
	        {"allowed_ips empty", [](json &j) { j["hubs"][0]["allowed_ips"] = json::array(); }},
	        {"allowed_ips not CIDR",
	         [](json &j) { j["hubs"][0]["allowed_ips"] = {"10.0.0.0/33"}; }},
	        {"keepalive too large",
	         [](json &j) { j["hubs"][0]["persistent_keepalive"] = 70000; }},
	        {"keepalive negative", [](json &j) { j["hubs"][0]["persistent_keepalive"] = -1; }},
	        {"keepalive a float", [](json &j) { j["hubs"][0]["persistent_keepalive"] = 2.5; }},
	        {"priority a string", [](json &j) { j["hubs"][0]["priority"] = "1"; }},
	        {"priority beyond 32 bits", [](json &j) { j["hubs"][0]["priority"] = 1LL << 40; }},
	        {"65 hubs",
	         [](json &j) {
		         json hubs = json::array();
		         for (int i = 0; i < 65; ++i)
			         hubs.push_back(j["hubs"][0]);
		         j["hubs"] = hubs;
	         }},
	        {"node_token missing", [](json &j) { j.erase("node_token"); }},
	        {"node_token with a space", [](json &j) { j["node_token"] = "node-s3cret TOKEN"; }},
	        {"node_token empty", [](json &j) { j["node_token"] = ""; }},
	        {"node_token a number", [](json &j) { j["node_token"] = 12345; }},
	        {"node_token too long",
	         [](json &j) { j["node_token"] = "node-s3cret-" + std::string(5000, 'x'); }},
	};
	for (auto &[name, edit] : cases) {
		INFO(name);
		auto j = good_answer();
		edit(j);
		auto a = parse_enrollment_answer(j.dump(), kPub);
		REQUIRE_FALSE(a);
		CHECK(a.error().code == Errc::protocol);
		CHECK(a.error().message.find("s3cret") == std::string::npos);
		CHECK(a.error().message.find('\n') == std::string::npos);
	}
	for (std::string body : {"", "not json", "[]", "null", "\"x\"", "{\"node_id\":"}) {
		INFO(body);
		auto a = parse_enrollment_answer(body, kPub);
		REQUIRE_FALSE(a);
		CHECK(a.error().code == Errc::protocol);
	}
	// No hub yet is for later, not a broken server: 75, and a re-run gets the hubs.
	auto none = good_answer();
	none["hubs"] = json::array();
	auto n = parse_enrollment_answer(none.dump(), kPub);
	REQUIRE_FALSE(n);
	CHECK(n.error().code == Errc::temp_fail);
	// What a field is wrong is named.
	auto j = good_answer();
	j["hubs"][1]["endpoint"] = "nope";
	auto a = parse_enrollment_answer(j.dump(), kPub);
	REQUIRE_FALSE(a);
	CHECK(a.error().message.find("hubs[1].endpoint `nope'") != std::string::npos);
}

TEST_CASE("enrollment answers map to SPEC's exit codes", "[enroll]")
{
	struct Case {
		long status;
		Verdict::Kind kind;
		Errc code;
	};
	for (auto c :
	     {Case{201, Verdict::done, Errc::software}, Case{200, Verdict::done, Errc::software},
	      Case{401, Verdict::fail, Errc::no_perm}, Case{403, Verdict::fail, Errc::no_perm},
	      Case{400, Verdict::fail, Errc::data}, Case{422, Verdict::fail, Errc::data},
	      Case{409, Verdict::fail, Errc::data}, Case{404, Verdict::fail, Errc::protocol},
	      Case{301, Verdict::fail, Errc::protocol}, Case{302, Verdict::fail, Errc::protocol},
	      Case{500, Verdict::retry, Errc::temp_fail},
	      Case{503, Verdict::retry, Errc::temp_fail},
	      Case{429, Verdict::retry, Errc::temp_fail},
	      Case{408, Verdict::retry, Errc::temp_fail}}) {
		INFO(c.status);
		auto v = judge_enrollment_response(
		        response(c.status, R"({"error":"pool exhausted"})"), 0);
		CHECK(v.kind == c.kind);
		if (c.kind != Verdict::done)
			CHECK(v.error.code == c.code);
	}
	auto v = judge_enrollment_response(response(409, R"({"error":"pool exhausted"})"), 0);
	CHECK(v.error.message.find("pool exhausted") != std::string::npos);
	auto w = judge_enrollment_response(response(422, R"({"error":"bad label"})"), 0);
	CHECK(w.error.message.find("rejected the enrollment") != std::string::npos);
	auto ra = judge_enrollment_response(response(429, "", {{"retry-after", "3"}}), 0);
	CHECK(ra.retry_after == 3.0);
}

TEST_CASE("labels are KEY=VALUE as the control plane accepts them", "[enroll]")
{
	auto l = parse_label("role=worker=1");
	REQUIRE(l);
	CHECK(l->first == "role");
	CHECK(l->second == "worker=1");
	CHECK(parse_label("k8s.io/zone=eu west \"1\"")->second == "eu west \"1\"");
	CHECK(parse_label("empty=")->second == "");
	CHECK(parse_label("zone=Zürich"));
	std::vector<std::string> bads = {"novalue",
	                                 "=v",
	                                 "a b=c",
	                                 "k=a\nb",
	                                 "k=\x7f",
	                                 "k=\xc3",
	                                 "k=\xc0\xaf",
	                                 "k=" + std::string(256, 'x'),
	                                 std::string(64, 'k') + "=v"};
	for (auto &bad : bads) {
		INFO(bad);
		auto r = parse_label(bad);
		REQUIRE_FALSE(r);
		CHECK(r.error().code == Errc::usage);
	}
}

TEST_CASE("the written config loads with wgn's loader and says what the answer said", "[enroll]")
{
	Scratch s;
	auto files = enrolled_files(s.dir, "wg7");
	REQUIRE(write_file_atomic(files.key, std::string(kPriv) + "\n", 0600));
	auto a = parse_enrollment_answer(one_hub_answer(), kPub);
	REQUIRE(a);
	EnrolledConfigInput in{"wg7",
	                       files,
	                       "https://cp.example.com",
	                       s.dir / "ca \"x\".pem",
	                       {{"k8s.io/zone", "eu \"west\" \\ 1"}, {"role", "worker"}},
	                       "2026-12-03T03:00:00Z"};
	REQUIRE(check_enrolled_config(in, *a));
	std::string text = render_enrolled_config(in, *a);
	CHECK(text.find("[hub]\n") != std::string::npos);
	CHECK(text.find("priority") == std::string::npos);
	REQUIRE(write_file_atomic(files.config, text, 0644));

	auto cfg = load_config(files.config);
	INFO(text);
	REQUIRE(cfg);
	CHECK(cfg->interface.name == "wg7");
	CHECK(cfg->interface.private_key_file == files.key);
	CHECK(base64_encode(cfg->interface.public_key) == kPub);
	REQUIRE(cfg->interface.addresses.size() == 2);
	CHECK(cfg->interface.addresses[0].str() == "10.0.0.7/24");
	CHECK(cfg->interface.addresses[1].str() == "fd00::7/64");
	CHECK(base64_encode(cfg->hub.public_key) == kHub);
	CHECK(cfg->hub.endpoint.str() == "[2001:db8::1]:51820");
	REQUIRE(cfg->hub.allowed_ips.size() == 2);
	CHECK(cfg->hub.allowed_ips[1].str() == "fd00::/64");
	CHECK(cfg->hub.persistent_keepalive == 25);
	REQUIRE(cfg->hub.tunnel_address);
	CHECK(cfg->hub.tunnel_address->str() == "10.0.0.1");
	REQUIRE(cfg->control_plane);
	CHECK(cfg->control_plane->url == "https://cp.example.com");
	CHECK(cfg->control_plane->token_file == files.token);
	CHECK(cfg->control_plane->ca_file == s.dir / "ca \"x\".pem");
	CHECK(cfg->control_plane->labels ==
	      std::map<std::string, std::string>{{"k8s.io/zone", "eu \"west\" \\ 1"},
	                                         {"role", "worker"}});
	CHECK(text.find("s3cret") == std::string::npos);
}

TEST_CASE("several hubs are [[hub]] tables in priority order", "[enroll]")
{
	Scratch s;
	auto a = parse_enrollment_answer(good_answer().dump(), kPub);
	REQUIRE(a);
	EnrolledConfigInput in{"wg0", enrolled_files(s.dir, "wg0"), "http://127.0.0.1:3000", {},
	                       {},    "2026-12-03T03:00:00Z"};
	REQUIRE(check_enrolled_config(in, *a));
	auto t = toml::parse(render_enrolled_config(in, *a));
	auto *hubs = t["hub"].as_array();
	REQUIRE(hubs);
	REQUIRE(hubs->size() == 2);
	CHECK(t["hub"][0]["public_key"].value<std::string>() == kHub);
	CHECK(t["hub"][0]["priority"].value<int64_t>() == 0);
	CHECK(t["hub"][1]["public_key"].value<std::string>() == kHub2);
	CHECK(t["hub"][1]["priority"].value<int64_t>() == 5);
	CHECK(t["hub"][1]["tunnel_address"].value<std::string>() == "10.0.0.2");
	CHECK_FALSE(t["control_plane"]["labels"]);
	CHECK_FALSE(t["control_plane"]["ca_file"]);

	// What only the loader knows is checked too: a hub that bypassed the reader.
	auto bad = *a;
	bad.hubs[1].endpoint = "no port";
	auto r = check_enrolled_config(in, bad);
	REQUIRE_FALSE(r);
	CHECK(r.error().code == Errc::protocol);
}

namespace {

// A config directory under Scratch, a token file, and enroll_node's options.
struct EnrollScratch : Scratch {
	std::filesystem::path etc = dir / "etc";
	EnrollOptions opt;
	FakeTransport t;
	FakeClock clock;
	EnrollScratch()
	{
		std::filesystem::create_directory(etc);
		opt.url = "http://127.0.0.1:9/";
		opt.name = "wg0";
		opt.token_file = write("enroll.token", "enroll-s3cret\n", 0600);
		opt.labels = {{"role", "worker"}};
		opt.config_dir = etc;
		opt.max_retries = 2;
	}
	Result<EnrollOutcome> run(int *attempts = nullptr)
	{
		return enroll_node(opt, attempts, clock.io(&t));
	}
	std::vector<std::string> listing()
	{
		std::vector<std::string> names;
		for (auto &e : std::filesystem::directory_iterator(etc))
			names.push_back(e.path().filename());
		std::sort(names.begin(), names.end());
		return names;
	}
};

} // namespace

TEST_CASE("enroll_node writes key, token and config, and records the node", "[enroll]")
{
	EnrollScratch e;
	e.t.script = {response(201, one_hub_answer())};
	int attempts = 0;
	auto r = e.run(&attempts);
	REQUIRE(r);
	CHECK(attempts == 1);
	CHECK(r->node_id == "3f1c2a9e-0000-4000-8000-000000000007");
	CHECK(r->url == "http://127.0.0.1:9");
	CHECK(e.listing() == std::vector<std::string>{"wg0.key", "wg0.token", "wg0.toml"});
	CHECK(mode_of(e.etc / "wg0.key") == 0600);
	CHECK(mode_of(e.etc / "wg0.token") == 0600);
	CHECK(mode_of(e.etc / "wg0.toml") == 0644);
	CHECK(slurp(e.etc / "wg0.token") == "node-s3cret-TOKEN\n");

	// The request: the enrollment token apart from the headers, the public key of the
	// key written, never the private key.
	REQUIRE(e.t.seen.size() == 1);
	auto &req = e.t.seen[0];
	CHECK(req.url == "http://127.0.0.1:9/api/v1/nodes/enroll");
	CHECK(req.bearer_token == "enroll-s3cret");
	auto key = read_key_file(e.etc / "wg0.key", "private key", true);
	REQUIRE(key);
	std::string priv = base64_encode(key->bytes());
	auto body = json::parse(req.body);
	CHECK(body["wireguard_public_key"] == base64_encode(public_key_of(*key)));
	CHECK(body["hostname"] == "node1");
	CHECK(body["interface_name"] == "wg0");
	CHECK(body["labels"] == json{{"role", "worker"}});
	CHECK(req.body.find(priv) == std::string::npos);
	std::string key_header;
	for (auto &[k, v] : req.headers) {
		CHECK(v.find(priv) == std::string::npos);
		CHECK(v.find("s3cret") == std::string::npos);
		if (k == "dbos-idempotency-key")
			key_header = v;
	}
	CHECK(key_header == sha256_hex(req.body));
	CHECK(r->idempotency_key == key_header);

	auto cfg = load_config(e.etc / "wg0.toml");
	REQUIRE(cfg);
	CHECK(cfg->control_plane->token_file == e.etc / "wg0.token");
	CHECK(cfg->control_plane->labels.at("role") == "worker");
	auto st = load_registration("wg0");
	REQUIRE(st);
	CHECK(st->node_id == r->node_id);
	CHECK(st->control_plane_url == "http://127.0.0.1:9");
	CHECK_FALSE(registration_is_current(*cfg, "node1"));
	auto state_text = slurp(registration_state_path("wg0"));
	CHECK(state_text.find("s3cret") == std::string::npos);
	CHECK(state_text.find(priv) == std::string::npos);
	CHECK(slurp(e.etc / "wg0.toml").find(priv) == std::string::npos);
}

TEST_CASE("a re-run after a lost answer sends the same key; another token does not", "[enroll]")
{
	EnrollScratch e;
	e.t.script = {response(503, ""), response(503, ""), response(503, "")};
	int attempts = 0;
	auto lost = e.run(&attempts);
	REQUIRE_FALSE(lost);
	CHECK(lost.error().code == Errc::temp_fail);
	CHECK(attempts == 3);
	CHECK(e.clock.sleeps == std::vector<double>{2.0, 4.0});
	// Only the pending key is left, private.
	CHECK(e.listing() == std::vector<std::string>{"wg0.enrolling"});
	CHECK(mode_of(e.etc / "wg0.enrolling") == 0600);
	CHECK(slurp(e.etc / "wg0.enrolling").find("s3cret") == std::string::npos);
	const std::string first_body = e.t.seen[0].body;
	CHECK(e.t.seen[2].body == first_body);

	e.t.script = {response(201, one_hub_answer())};
	auto again = e.run();
	REQUIRE(again);
	CHECK(again->reused_pending_key);
	CHECK(e.t.seen[3].body == first_body);
	CHECK(again->idempotency_key == sha256_hex(first_body));
	CHECK(e.listing() == std::vector<std::string>{"wg0.key", "wg0.token", "wg0.toml"});
	auto key = read_key_file(e.etc / "wg0.key", "private key", true);
	REQUIRE(key);
	CHECK(json::parse(first_body)["wireguard_public_key"] ==
	      base64_encode(public_key_of(*key)));

	// A pending key made with another token is not reused.
	EnrollScratch f;
	f.t.script = {response(503, ""), response(503, ""), response(503, "")};
	REQUIRE_FALSE(f.run());
	f.opt.token_file = f.write("other.token", "another-token\n", 0600);
	f.t.script = {response(201, one_hub_answer())};
	auto fresh = f.run();
	REQUIRE(fresh);
	CHECK_FALSE(fresh->reused_pending_key);
	CHECK(f.t.seen[3].body != f.t.seen[0].body);
}

TEST_CASE("an existing config or key is kept without --force: 73, no request", "[enroll]")
{
	EnrollScratch e;
	e.write("etc/wg0.toml", "# hand-made\n", 0644);
	auto r = e.run();
	REQUIRE_FALSE(r);
	CHECK(r.error().code == Errc::cant_create);
	CHECK(r.error().message.find("--force") != std::string::npos);
	CHECK(e.t.seen.empty());
	CHECK(e.listing() == std::vector<std::string>{"wg0.toml"});
	CHECK(slurp(e.etc / "wg0.toml") == "# hand-made\n");

	std::filesystem::remove(e.etc / "wg0.toml");
	e.write("etc/wg0.key", std::string(kPriv) + "\n", 0600);
	r = e.run();
	REQUIRE_FALSE(r);
	CHECK(r.error().code == Errc::cant_create);
	CHECK(e.t.seen.empty());
	CHECK(e.listing() == std::vector<std::string>{"wg0.key"});

	// --force replaces both with a new node.
	e.write("etc/wg0.toml", "# hand-made\n", 0644);
	e.opt.force = true;
	e.t.script = {response(201, one_hub_answer())};
	auto forced = e.run();
	REQUIRE(forced);
	CHECK(load_config(e.etc / "wg0.toml"));
	auto key = read_key_file(e.etc / "wg0.key", "private key", true);
	REQUIRE(key);
	CHECK(base64_encode(key->bytes()) != kPriv);
}

TEST_CASE("refusals and hostile answers write no config", "[enroll]")
{
	struct Case {
		HttpResponse answer;
		Errc code;
	};
	for (auto c : {Case{response(401, R"({"error":"token expired"})"), Errc::no_perm},
	               Case{response(403, ""), Errc::no_perm}, Case{response(422, ""), Errc::data},
	               Case{response(409, R"({"error":"pool exhausted"})"), Errc::data},
	               Case{response(302, "", {{"location", "https://x/"}}), Errc::protocol},
	               Case{response(201, "{}"), Errc::protocol},
	               Case{response(201, R"({"node_id":"n"})"), Errc::protocol}}) {
		INFO(c.answer.status << " " << c.answer.body);
		EnrollScratch e;
		e.t.script = {c.answer};
		int attempts = 0;
		auto r = e.run(&attempts);
		REQUIRE_FALSE(r);
		CHECK(r.error().code == c.code);
		CHECK(attempts == 1);
		CHECK(e.listing() == std::vector<std::string>{"wg0.enrolling"});
		CHECK_FALSE(load_registration("wg0"));
	}
}

TEST_CASE("bad arguments are refused before anything is written", "[enroll]")
{
	EnrollScratch e;
	e.opt.url = "http://cp.example.com";
	CHECK(e.run().error().code == Errc::usage);
	e.opt.url = "ftp://cp.example.com";
	CHECK(e.run().error().code == Errc::usage);
	e.opt.url = "https://cp.example.com/\n";
	CHECK(e.run().error().code == Errc::usage);
	e.opt.url = "https://cp.example.com";
	e.opt.name = "much-too-long-name";
	CHECK(e.run().error().code == Errc::usage);
	e.opt.name = "wg0";
	e.opt.token_file = e.write("open.token", "enroll-s3cret\n", 0644);
	auto r = e.run();
	CHECK(r.error().code == Errc::config);
	e.opt.token_file = e.dir / "enroll.token";
	e.opt.ca_file = e.dir / "missing.pem";
	CHECK(e.run().error().code == Errc::config);
	CHECK(e.t.seen.empty());
	CHECK(e.listing().empty());
}
