#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "fsutil.h"
#include "runstate.h"

using namespace wgn;

namespace {
struct RunDir {
	std::filesystem::path dir;
	RunDir()
	{
		char t[] = "/tmp/wgn-runstate-test.XXXXXX";
		dir = mkdtemp(t);
		setenv("WGN_RUN_DIR", dir.c_str(), 1);
	}
	~RunDir()
	{
		unsetenv("WGN_RUN_DIR");
		std::filesystem::remove_all(dir);
	}
};

Config sample_config()
{
	Config c;
	Key k{};
	k[0] = 0x77;
	c.interface.name = "wg0";
	c.interface.private_key = SecretKey(k);
	c.interface.public_key = public_key_of(c.interface.private_key);
	c.interface.addresses = {*parse_prefix("10.0.0.10/24")};
	c.hub.public_key[0] = 1;
	c.hub.endpoint = Endpoint{"hub.example.com", 51820};
	c.hub.allowed_ips = {*parse_prefix("10.0.0.0/24")};
	c.hub.tunnel_address = parse_ip("10.0.0.1");
	return c;
}
} // namespace

TEST_CASE("run state round-trips through its file, atomically and readable")
{
	RunDir d;
	RunState st;
	st.interface = "wg0";
	st.connected_at = 1771522200; // 2026-02-19T17:30:00Z
	st.backend = "userspace";
	st.daemon_pid = 4242;
	st.daemon_program = "wireguard-go";
	st.attempts = 2;
	st.config_path = "/etc/wgn/wg0.toml";
	st.config_fingerprint = "abc";
	st.endpoint = "192.0.2.1:51820";
	REQUIRE(write_run_state(st).ok());
	CHECK(run_state_path("wg0") == d.dir / "wg0.json");

	struct stat sb {};
	REQUIRE(stat((d.dir / "wg0.json").c_str(), &sb) == 0);
	CHECK((sb.st_mode & 0777) == 0644);
	auto text = read_file(d.dir / "wg0.json");
	REQUIRE(text.ok());
	CHECK_THAT(*text, Catch::Contains("\"connected_at_iso\": \"2026-02-19T17:30:00Z\""));
	// No temp files left behind.
	CHECK(std::distance(std::filesystem::directory_iterator(d.dir),
	                    std::filesystem::directory_iterator()) == 1);

	auto back = read_run_state("wg0");
	REQUIRE(back.ok());
	REQUIRE(back->has_value());
	const RunState &b = **back;
	CHECK(b.interface == "wg0");
	CHECK(b.connected_at == 1771522200);
	CHECK(b.backend == "userspace");
	REQUIRE(b.daemon_pid);
	CHECK(*b.daemon_pid == 4242);
	CHECK(b.daemon_program == "wireguard-go");
	CHECK(b.attempts == 2);
	CHECK(b.endpoint == "192.0.2.1:51820");
	CHECK(b.reconciled_at == 0);

	REQUIRE(remove_run_state("wg0").ok());
	auto gone = read_run_state("wg0");
	REQUIRE(gone.ok());
	CHECK_FALSE(gone->has_value());
	// Removing what is not there is fine (down is idempotent).
	CHECK(remove_run_state("wg0").ok());
}

// A process that has exited and been reaped: its pid runs nothing (until reused).
static pid_t dead_pid()
{
	pid_t p = fork();
	if (p == 0)
		_exit(0);
	REQUIRE(p > 0);
	int st = 0;
	REQUIRE(waitpid(p, &st, 0) == p);
	return p;
}

TEST_CASE("a temp left by a writer killed before its rename goes with the next write or down")
{
	RunDir d;
	auto state = d.dir / "wg0.json";
	auto temp_of = [&](pid_t pid) {
		auto t = d.dir / ("wg0.json.tmp-" + std::to_string(pid) + ".a1B2c3");
		std::ofstream(t) << "{\"interface\": \"wg";
		return t;
	};
	// What kill -9 during write_file_atomic leaves: a dead writer's temp.
	auto dead = temp_of(dead_pid());
	// A writer that still runs (the parent of this test) keeps its temp; so does a
	// file that only looks alike.
	auto live = temp_of(getppid());
	auto other = d.dir / "wg0.json.tmp-x.a1B2c3";
	std::ofstream(other) << "";

	RunState st;
	st.interface = "wg0";
	st.connected_at = 1771522200;
	st.backend = "kernel";
	REQUIRE(write_run_state(st).ok());
	CHECK_FALSE(std::filesystem::exists(dead));
	CHECK(std::filesystem::exists(live));
	CHECK(std::filesystem::exists(other));
	CHECK(std::filesystem::exists(state));

	auto dead2 = temp_of(dead_pid());
	REQUIRE(remove_run_state("wg0").ok());
	CHECK_FALSE(std::filesystem::exists(state));
	CHECK_FALSE(std::filesystem::exists(dead2));
	CHECK(std::filesystem::exists(live));
}

TEST_CASE("only a dead writer's regular temp of that very file is removed, never through a link")
{
	RunDir d;
	const pid_t dead = dead_pid();
	const std::string p = std::to_string(dead);
	auto at = [&](const std::string &name) { return d.dir / name; };
	std::ofstream(at("precious")) << "keep";
	std::filesystem::create_symlink(at("precious"), at("wg0.json.tmp-" + p + ".Symlnk"));
	std::filesystem::create_directory(at("wg0.json.tmp-" + p + ".Dir123"));
	const std::string alike[] = {
	        "wg0.json.tmp-" + p + ".a1B2c",  "wg0.json.tmp-" + p + ".a1B2c3d",
	        "wg0.json.tmp-" + p + ".a1B2c!", "wg0.json.tmp-0" + p + ".a1B2c3",
	        "wg1.json.tmp-" + p + ".a1B2c3", "xwg0.json.tmp-" + p + ".a1B2c3",
	        "wg0.json.tmp-" + p + ".a1B2c3~"};
	for (auto &n : alike)
		std::ofstream(at(n)) << "";
	auto dead_temp = at("wg0.json.tmp-" + p + ".a1B2c3");
	std::ofstream(dead_temp) << "";

	remove_dead_temps(d.dir / "wg0.json");
	CHECK_FALSE(std::filesystem::exists(dead_temp));
	CHECK(std::filesystem::is_symlink(at("wg0.json.tmp-" + p + ".Symlnk")));
	CHECK(std::filesystem::is_directory(at("wg0.json.tmp-" + p + ".Dir123")));
	CHECK(std::filesystem::exists(at("precious")));
	for (auto &n : alike)
		CHECK(std::filesystem::exists(at(n)));
}

TEST_CASE(
        "write_file_atomic: a new file and a replaced one, whole, with their mode, nothing beside")
{
	RunDir d;
	auto path = d.dir / "secret";
	auto only = [&] {
		std::vector<std::string> names;
		for (auto &e : std::filesystem::directory_iterator(d.dir))
			names.push_back(e.path().filename().string());
		return names;
	};
	for (const char *text : {"first\n", "second, longer\n"}) {
		REQUIRE(write_file_atomic(path, text, 0600).ok());
		CHECK(*read_file(path) == text);
		struct stat sb {};
		REQUIRE(lstat(path.c_str(), &sb) == 0);
		CHECK((sb.st_mode & 0777) == 0600);
		CHECK(sb.st_nlink == 1);
		CHECK(only() == std::vector<std::string>{"secret"});
	}
	REQUIRE(write_file_atomic(path, "public\n", 0644).ok());
	struct stat sb {};
	REQUIRE(stat(path.c_str(), &sb) == 0);
	CHECK((sb.st_mode & 0777) == 0644);
	// A directory in the way: 73, naming the file, nothing left.
	auto dir = d.dir / "adir";
	std::filesystem::create_directory(dir);
	auto st = write_file_atomic(dir, "x", 0644);
	REQUIRE_FALSE(st.ok());
	CHECK(st.error().code == Errc::cant_create);
	CHECK_THAT(st.error().message, Catch::Contains("cannot write " + dir.string()));
	CHECK(only().size() == 2);
}

TEST_CASE("a kernel run state has a null daemon pid")
{
	RunState st;
	st.interface = "wg1";
	st.backend = "kernel";
	auto j = run_state_to_json(st);
	CHECK_THAT(j, Catch::Contains("\"daemon_pid\": null"));
	auto b = run_state_from_json(j);
	REQUIRE(b);
	CHECK_FALSE(b->daemon_pid);
}

TEST_CASE("a run state that is not JSON is reported as absent")
{
	RunDir d;
	std::ofstream(d.dir / "wg0.json") << "{ not json";
	auto r = read_run_state("wg0");
	REQUIRE(r.ok());
	CHECK_FALSE(r->has_value());
	CHECK_FALSE(run_state_from_json("[1,2]"));
	CHECK_FALSE(run_state_from_json("{\"attempts\": \"two\"}"));
}

TEST_CASE("iso8601_utc")
{
	CHECK(iso8601_utc(0) == "1970-01-01T00:00:00Z");
	CHECK(iso8601_utc(1771522200) == "2026-02-19T17:30:00Z");
	// Beyond the year 2^31: no date rather than a made-up one.
	CHECK(iso8601_utc(INT64_MAX) == "");
	CHECK(iso8601_utc(INT64_MIN) == "");
}

TEST_CASE("the config fingerprint follows public fields and holds no secret")
{
	Config a = sample_config();
	Config b = sample_config();
	CHECK(config_fingerprint(a) == config_fingerprint(b));
	CHECK(config_fingerprint(a).size() == 64);

	b.interface.addresses.push_back(*parse_prefix("fd00::10/64"));
	CHECK(config_fingerprint(a) != config_fingerprint(b));

	Config c = sample_config();
	c.hub.persistent_keepalive = 25;
	CHECK(config_fingerprint(a) != config_fingerprint(c));

	// A preshared key counts by its presence; its bytes do not reach the hash input.
	Config p1 = sample_config(), p2 = sample_config();
	Key k1{}, k2{};
	k1[0] = 1;
	k2[0] = 2;
	p1.hub.preshared_key = SecretKey(k1);
	p2.hub.preshared_key = SecretKey(k2);
	CHECK(config_fingerprint(p1) == config_fingerprint(p2));
	CHECK(config_fingerprint(p1) != config_fingerprint(a));

	// The run state written for it carries no key material.
	RunState st;
	st.interface = "wg0";
	st.config_fingerprint = config_fingerprint(a);
	auto j = run_state_to_json(st);
	CHECK(j.find(base64_encode(a.interface.private_key.bytes())) == std::string::npos);
	CHECK(j.find(hex_encode(a.interface.private_key.bytes())) == std::string::npos);
}
