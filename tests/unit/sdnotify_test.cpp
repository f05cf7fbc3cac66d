#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fd.h"
#include "sdnotify.h"

using namespace wgn;

namespace {

// A datagram socket bound to name ("@..." abstract, else a path), as systemd binds one.
int bound(const std::string &name)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	REQUIRE(fd >= 0);
	sockaddr_un sa{};
	sa.sun_family = AF_UNIX;
	std::memcpy(sa.sun_path, name.data(), name.size());
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
	REQUIRE(bind(fd, reinterpret_cast<sockaddr *>(&sa), len) == 0);
	return fd;
}

std::string receive(int fd)
{
	char buf[512];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	REQUIRE(n >= 0);
	return std::string(buf, static_cast<size_t>(n));
}

} // namespace

TEST_CASE("sd_notify reaches a socket bound to a path", "[sdnotify]")
{
	char tmpl[] = "/tmp/wgn-sdnotify.XXXXXX";
	std::string dir = mkdtemp(tmpl);
	std::string path = dir + "/notify";
	UniqueFd fd(bound(path));
	SdNotifier n(path, std::nullopt);
	CHECK(n.enabled());
	REQUIRE(n.notify("READY=1\nSTATUS=wg0 healthy").ok());
	CHECK(receive(fd.get()) == "READY=1\nSTATUS=wg0 healthy");
	unlink(path.c_str());
	rmdir(dir.c_str());
}

TEST_CASE("sd_notify reaches an abstract socket written with '@'", "[sdnotify]")
{
	std::string name = "@wgn-sdnotify-test-" + std::to_string(getpid());
	UniqueFd fd(bound(name));
	SdNotifier n(name, 5000000);
	REQUIRE(n.notify("WATCHDOG=1").ok());
	CHECK(receive(fd.get()) == "WATCHDOG=1");
	REQUIRE(n.watchdog_interval());
	CHECK(*n.watchdog_interval() == Approx(5.0));
}

TEST_CASE("sd_notify without a socket does nothing; a missing socket is an error", "[sdnotify]")
{
	SdNotifier off;
	CHECK_FALSE(off.enabled());
	CHECK(off.notify("READY=1").ok());
	SdNotifier gone("/nonexistent/wgn-notify", std::nullopt);
	auto st = gone.notify("READY=1");
	REQUIRE_FALSE(st.ok());
	CHECK(st.error().code == Errc::os);
	CHECK(st.error().message.find("/nonexistent/wgn-notify") != std::string::npos);
	SdNotifier relative("notify", std::nullopt);
	CHECK_FALSE(relative.notify("READY=1").ok());
}

TEST_CASE("the watchdog interval is honoured only for this process", "[sdnotify]")
{
	CHECK(parse_watchdog("3000000", nullptr, 42) == 3000000u);
	CHECK(parse_watchdog("3000000", "", 42) == 3000000u);
	CHECK(parse_watchdog("3000000", "42", 42) == 3000000u);
	CHECK_FALSE(parse_watchdog("3000000", "41", 42));
	CHECK_FALSE(parse_watchdog("0", nullptr, 42));
	CHECK_FALSE(parse_watchdog("3s", nullptr, 42));
	CHECK_FALSE(parse_watchdog(nullptr, nullptr, 42));
}

TEST_CASE("from_environment reads and removes the variables", "[sdnotify]")
{
	setenv("NOTIFY_SOCKET", "@wgn-env-test", 1);
	setenv("WATCHDOG_USEC", "2000000", 1);
	setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
	auto n = SdNotifier::from_environment();
	CHECK(n.enabled());
	REQUIRE(n.watchdog_interval());
	CHECK(*n.watchdog_interval() == Approx(2.0));
	CHECK(std::getenv("NOTIFY_SOCKET") == nullptr);
	CHECK(std::getenv("WATCHDOG_USEC") == nullptr);
	CHECK(std::getenv("WATCHDOG_PID") == nullptr);
}
