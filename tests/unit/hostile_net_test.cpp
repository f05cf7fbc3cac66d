// Netlink replies and daemon answers that are malformed on purpose, builders asked to
// write more than their buffer holds, and a pid that is no longer the daemon's.
#include <catch2/catch.hpp>

#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "config.h"
#include "duration.h"
#include "nl_bytes.h"
#include "rtnl.h"
#include "uapi.h"
#include "userspace.h"
#include "wg_genl.h"

using namespace wgn;
using nltest::Bytes;
using nltest::message;

TEST_CASE("seconds become milliseconds without undefined conversions", "[hostile]")
{
	CHECK(milliseconds_of(std::nan(""), 1000) == 0);
	CHECK(milliseconds_of(-1.0, 1000) == 0);
	CHECK(milliseconds_of(0.0, 1000) == 0);
	CHECK(milliseconds_of(HUGE_VAL, 1000) == 1000);
	CHECK(milliseconds_of(1e308, 1000) == 1000);
	CHECK(milliseconds_of(0.0001, 1000) == 1);
	CHECK(milliseconds_of(1.5, 100000) == 1500);
	CHECK(milliseconds_of(9.3e18, INT64_MAX) == INT64_MAX);
}

TEST_CASE("interface names that a daemon would read as options are refused", "[hostile]")
{
	for (const char *name : {"-f", "--foreground", "-", "--", ".", ".."}) {
		INFO(name);
		CHECK_FALSE(is_valid_interface_name(name));
		auto r = resolve_config_path(name, std::string("/etc/wgn"));
		REQUIRE_FALSE(r);
		CHECK(r.error().code == Errc::usage);
		CHECK_THAT(r.error().message, Catch::Contains("is not an interface name"));
	}
	CHECK_THAT(interface_name_problem("-f"), Catch::Contains("begins with `-'"));
	CHECK(is_valid_interface_name("wg-0"));
	CHECK(is_valid_interface_name("a.b"));

	// Never started with such a name, even by a caller that skipped validation.
	char tmpl[] = "/tmp/wgn-daemon-name-XXXXXX";
	std::filesystem::path dir = mkdtemp(tmpl);
	DaemonOptions opt;
	opt.sock_dir = dir;
	opt.log_path = dir / "log";
	auto t0 = std::chrono::steady_clock::now();
	auto r = start_userspace_daemon("/bin/true", "--foreground", 2.0, opt);
	REQUIRE_FALSE(r);
	CHECK_THAT(r.error().message, Catch::Contains("begins with `-'"));
	CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(500));
	CHECK_FALSE(std::filesystem::exists(dir / "log"));
	std::filesystem::remove_all(dir);
}
