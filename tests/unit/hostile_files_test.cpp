// Files that are not what wgn expects, as bad luck or an attacker leaves them: a FIFO
// (which would block a reader for ever), a device (/dev/zero: endless), a directory, a
// file too big, and state files whose JSON is damaged or hostile. Every case must end
// at once with one sentence, never hang, abort or convert a value with undefined
// behaviour.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "file_read.h"
#include "keys.h"
#include "registry.h"
#include "regstate.h"
#include "runstate.h"
#include "test_util.h"

using wgn::test::kHub;
using wgn::test::kPriv;

using namespace wgn;

namespace {

// A scratch directory that is also WGN_RUN_DIR and WGN_STATE_DIR.
struct Scratch {
	std::filesystem::path dir;
	Scratch()
	{
		char tmpl[] = "/tmp/wgn-hostile-test.XXXXXX";
		dir = mkdtemp(tmpl);
		setenv("WGN_RUN_DIR", dir.c_str(), 1);
		setenv("WGN_STATE_DIR", (dir / "state").c_str(), 1);
		std::filesystem::create_directory(dir / "state");
	}
	~Scratch()
	{
		unsetenv("WGN_RUN_DIR");
		unsetenv("WGN_STATE_DIR");
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
	std::filesystem::path fifo(const std::string &name)
	{
		auto p = dir / name;
		REQUIRE(mkfifo(p.c_str(), 0600) == 0);
		return p;
	}
	std::filesystem::path link_to(const std::string &name, const char *target)
	{
		auto p = dir / name;
		std::filesystem::create_symlink(target, p);
		return p;
	}
	std::filesystem::path sparse(const std::string &name, off_t size)
	{
		auto p = dir / name;
		std::ofstream(p).close();
		REQUIRE(truncate(p.c_str(), size) == 0);
		chmod(p.c_str(), 0600);
		return p;
	}
};

std::string config_text(const std::string &key_file)
{
	return "[interface]\nprivate_key_file = \"" + key_file +
	       "\"\naddress = \"10.0.0.10/24\"\n[hub]\npublic_key = \"" + kHub +
	       "\"\nendpoint = \"hub.example.com:51820\"\nallowed_ips = \"10.0.0.0/24\"\n";
}

// Runs f and checks that it came back within a second: a FIFO must not block it.
template <class F> auto quickly(F f)
{
	auto t0 = std::chrono::steady_clock::now();
	auto r = f();
	CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));
	return r;
}

} // namespace

TEST_CASE("read_bounded_file refuses what is not a small regular file", "[hostile]")
{
	Scratch s;
	auto check = [&](const std::filesystem::path &p, const std::string &says) {
		auto r = quickly(
		        [&] { return read_bounded_file(p, "thing", 100, Errc::config, Errc::os); });
		REQUIRE_FALSE(r);
		CHECK(r.error().code == Errc::config);
		CHECK(r.error().message == "thing " + p.string() + " " + says);
	};
	check(s.fifo("fifo"), "is a FIFO, not a regular file");
	check(s.link_to("zero", "/dev/zero"), "is a character device, not a regular file");
	check(s.dir, "is a directory, not a regular file");
	check(s.sparse("big", 101), "is larger than 100 bytes, the most wgn reads of a thing");

	// Exactly the cap is fine; a symlink to a regular file is followed.
	s.write("hundred", std::string(100, 'x'));
	auto ok = read_bounded_file(s.link_to("hundred-link", (s.dir / "hundred").c_str()), "thing",
	                            100, Errc::config, Errc::os);
	REQUIRE(ok);
	CHECK(*ok == std::string(100, 'x'));

	auto none = read_bounded_file(s.dir / "none", "thing", 100, Errc::config, Errc::os);
	REQUIRE_FALSE(none);
	CHECK(none.error().code == Errc::no_input);
	CHECK(none.error().message == "thing " + (s.dir / "none").string() + " not found");

	// A file whose size says 0 but that reads on (as /proc files do) is still capped.
	auto proc = read_bounded_file("/proc/self/maps", "thing", 10, Errc::config, Errc::os);
	REQUIRE_FALSE(proc);
	CHECK_THAT(proc.error().message, Catch::Contains("is larger than 10 bytes"));
	CHECK(format_limit(1 << 20) == "1 MiB");
	CHECK(format_limit(4096) == "4 KiB");
	CHECK(format_limit(100) == "100 bytes");
}

TEST_CASE("a config that is a FIFO, a device, a directory or too big: 78 at once", "[hostile]")
{
	Scratch s;
	s.write("wg0.key", std::string(kPriv) + "\n");
	for (auto p : {s.fifo("fifo.toml"), s.link_to("zero.toml", "/dev/zero"),
	               s.sparse("big.toml", 100 << 20)}) {
		auto cfg = quickly([&] { return load_config(p); });
		REQUIRE_FALSE(cfg);
		CHECK(cfg.error().code == Errc::config);
		CHECK_THAT(cfg.error().message,
		           Catch::StartsWith("config file " + p.string() + " is "));
	}
	std::filesystem::create_directory(s.dir / "dir.toml");
	auto dir = load_config(s.dir / "dir.toml");
	REQUIRE_FALSE(dir);
	CHECK(dir.error().code == Errc::config);
	CHECK(dir.error().message == "config file " + (s.dir / "dir.toml").string() +
	                                     " is a directory, not a regular file");

	// The 1 MiB cap is the file's, comments included.
	std::string text = config_text((s.dir / "wg0.key").string());
	text += "#" + std::string(kMaxConfigBytes - text.size() - 2, 'x') + "\n";
	REQUIRE(text.size() == kMaxConfigBytes);
	CHECK(load_config(s.write("max.toml", text)));
	auto over = load_config(s.write("over.toml", text + "\n"));
	REQUIRE_FALSE(over);
	CHECK_THAT(over.error().message, Catch::Contains("is larger than 1 MiB"));
}

TEST_CASE("key, preshared key and token files that are not regular files: 78 at once", "[hostile]")
{
	Scratch s;
	for (auto p : {s.fifo("fifo.key"), s.link_to("zero.key", "/dev/zero"),
	               s.sparse("big.key", 1 << 20)}) {
		auto k = quickly([&] { return read_key_file(p, "private key", true); });
		REQUIRE_FALSE(k);
		CHECK(k.error().code == Errc::config);
		CHECK_THAT(k.error().message,
		           Catch::StartsWith("private key file " + p.string() + " is "));

		auto cfg = quickly(
		        [&] { return parse_config(config_text(p.string()), s.dir / "wg0.toml"); });
		REQUIRE_FALSE(cfg);
		CHECK_THAT(cfg.error().message,
		           Catch::Contains("interface.private_key_file: private key file"));

		auto t = quickly([&] { return read_token_file(p); });
		REQUIRE_FALSE(t);
		CHECK(t.error().code == Errc::config);
		CHECK_THAT(t.error().message,
		           Catch::StartsWith("token file " + p.string() + " is "));
	}
	// The checked file is the read file: still refused when readable by others.
	auto open_key = s.write("open.key", std::string(kPriv) + "\n", 0644);
	auto k = read_key_file(open_key, "private key", true);
	REQUIRE_FALSE(k);
	CHECK_THAT(k.error().message, Catch::Contains("has mode 0644"));
	CHECK(read_key_file(open_key, "preshared key", false));
	auto missing = read_key_file(s.dir / "none.key", "private key", true);
	REQUIRE_FALSE(missing);
	CHECK(missing.error().code == Errc::config);
	CHECK_THAT(missing.error().message, Catch::Contains("cannot read private key file"));
}

TEST_CASE("a run state that is not a regular file or too big is set aside at once", "[hostile]")
{
	Scratch s;
	s.fifo("wg0.json");
	auto r = quickly([] { return read_run_state("wg0"); });
	REQUIRE(r.ok());
	CHECK_FALSE(r->has_value());

	std::filesystem::remove(s.dir / "wg0.json");
	std::filesystem::create_directory(s.dir / "wg0.json");
	r = read_run_state("wg0");
	REQUIRE(r.ok());
	CHECK_FALSE(r->has_value());

	std::filesystem::remove(s.dir / "wg0.json");
	s.sparse("wg0.json", 2 << 20);
	r = read_run_state("wg0");
	REQUIRE(r.ok());
	CHECK_FALSE(r->has_value());

	// A registration state likewise: "never registered".
	s.fifo("state/wg0.json");
	CHECK_FALSE(quickly([] { return load_registration("wg0"); }));
}

TEST_CASE("hostile values in a run state are damage, not undefined behaviour", "[hostile]")
{
	const std::string base = R"({"interface": "wg0", "backend": "userspace", )";
	// Each would have been converted to an integer with undefined behaviour (a float
	// out of range), or made `health` compute an uptime that overflows.
	for (const char *bad :
	     {R"("connected_at": 1e300)", R"("connected_at": 1e400)", R"("connected_at": -1e300)",
	      R"("connected_at": 1.5)", R"("connected_at": -9223372036854775808)",
	      R"("connected_at": 18446744073709551615)", R"("reconciled_at": -1)",
	      R"("daemon_pid": 1e300)", R"("daemon_pid": 0)", R"("daemon_pid": -1)",
	      R"("daemon_pid": 4294967297)", R"("attempts": 1e19)", R"("attempts": -3)",
	      R"("interface": ["wg0"])", R"("backend": 7)", R"("endpoint": {})"}) {
		INFO(bad);
		std::string why;
		CHECK_FALSE(run_state_from_json(base + bad + "}", &why));
		CHECK_FALSE(why.empty());
	}
	std::string why;
	CHECK_FALSE(run_state_from_json("[1, 2]", &why));
	CHECK(why == "not a JSON object");
	CHECK_FALSE(run_state_from_json("{ not json", &why));
	CHECK(why == "not JSON");
	CHECK_FALSE(run_state_from_json(R"({"connected_at": 1e300})", &why));
	CHECK(why == "connected_at is not a time in seconds since the epoch");

	// Deep nesting is parsed without recursion and refused as a field of the wrong type.
	std::string deep = base + R"("endpoint": )" + std::string(100000, '[') +
	                   std::string(100000, ']') + "}";
	CHECK_FALSE(run_state_from_json(deep));

	// What wgn writes still reads back, nulls included.
	auto ok = run_state_from_json(
	        base +
	        R"("connected_at": 1771522200, "daemon_pid": 4242, "attempts": 2, "endpoint": null})");
	REQUIRE(ok);
	CHECK(ok->connected_at == 1771522200);
	REQUIRE(ok->daemon_pid);
	CHECK(*ok->daemon_pid == 4242);
	CHECK(ok->attempts == 2);
}

TEST_CASE("a registration state of the wrong shape reads as never registered", "[hostile]")
{
	Scratch s;
	for (const char *bad : {R"({"node_id": 12})", R"({"node_id": "n", "registered_at": 1e300})",
	                        R"([])", R"("node")", "{"}) {
		INFO(bad);
		s.write("state/wg0.json", bad, 0644);
		CHECK_FALSE(load_registration("wg0"));
	}
	s.write("state/wg0.json", R"({"node_id": "n-1", "interface": "wg0"})", 0644);
	auto ok = load_registration("wg0");
	REQUIRE(ok);
	CHECK(ok->node_id == "n-1");
}
