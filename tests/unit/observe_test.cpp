// observe_link and control_for on what every Linux host has (lo, a missing name), with
// no privilege: the reading side of rtnetlink is open to everyone, which is what lets
// `--dry-run` run unprivileged.
#include <catch2/catch.hpp>

#include "observe.h"
#include "uapi.h"
#include "wg_genl.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

using namespace wgn;

TEST_CASE("observe: a name with no link")
{
	auto rtnl = Rtnl::open();
	REQUIRE(rtnl);
	bool unreadable = true;
	ObserveOptions opt;
	opt.device_unreadable = &unreadable;
	auto obs = observe_link(*rtnl, "wgn-absent0", opt);
	REQUIRE(obs);
	CHECK_FALSE(obs->exists);
	CHECK_FALSE(obs->is_wireguard);
	CHECK_FALSE(obs->device);
	CHECK_FALSE(unreadable);
}

TEST_CASE("observe: lo is a link but not WireGuard")
{
	auto rtnl = Rtnl::open();
	REQUIRE(rtnl);
	auto obs = observe_link(*rtnl, "lo");
	REQUIRE(obs);
	CHECK(obs->exists);
	CHECK_FALSE(obs->is_wireguard);
	CHECK_FALSE(obs->userspace);
	CHECK(obs->mtu > 0);
	CHECK_FALSE(obs->device);
	// 127.0.0.1 and ::1 are host scope, not global: the planner never sees them.
	for (auto &a : obs->addresses)
		CHECK_FALSE(is_loopback(a.addr));
}

TEST_CASE("observe: the backend follows the socket, as wg(8) decides")
{
	char tmpl[] = "/tmp/wgn-observe-XXXXXX";
	std::filesystem::path dir = mkdtemp(tmpl);
	auto genl = control_for("wgo0", dir);
	CHECK(dynamic_cast<GenlWireGuard *>(genl.get()));

	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	sockaddr_un sun{};
	sun.sun_family = AF_UNIX;
	uapi_socket_path("wgo0", dir).string().copy(sun.sun_path, sizeof(sun.sun_path) - 1);
	REQUIRE(bind(fd, reinterpret_cast<sockaddr *>(&sun), sizeof(sun)) == 0);
	auto uapi = control_for("wgo0", dir);
	CHECK(dynamic_cast<UapiWireGuard *>(uapi.get()));
	// A regular file of that name is not a socket.
	close(fd);
	std::filesystem::remove(uapi_socket_path("wgo0", dir));
	{
		std::ofstream(uapi_socket_path("wgo0", dir)) << "x";
	}
	CHECK_FALSE(uapi_socket_exists("wgo0", dir));
	std::filesystem::remove_all(dir);
}

TEST_CASE("observe: a dead daemon's socket fails the look, unless down tolerates it")
{
	char tmpl[] = "/tmp/wgn-observe-XXXXXX";
	std::filesystem::path dir = mkdtemp(tmpl);
	// Bound, never listening: what a crashed daemon leaves (connect: ECONNREFUSED).
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	sockaddr_un sun{};
	sun.sun_family = AF_UNIX;
	uapi_socket_path("lo", dir).string().copy(sun.sun_path, sizeof(sun.sun_path) - 1);
	REQUIRE(bind(fd, reinterpret_cast<sockaddr *>(&sun), sizeof(sun)) == 0);

	auto rtnl = Rtnl::open();
	REQUIRE(rtnl);
	bool unreadable = false;
	ObserveOptions opt;
	opt.sock_dir = dir;
	opt.device_unreadable = &unreadable;
	auto obs = observe_link(*rtnl, "lo", opt);
	REQUIRE_FALSE(obs);
	CHECK(obs.error().code == Errc::os);
	CHECK(obs.error().message.find("no userspace WireGuard daemon answers") !=
	      std::string::npos);

	opt.tolerate_device_errors = true;
	obs = observe_link(*rtnl, "lo", opt);
	REQUIRE(obs);
	CHECK(obs->exists);
	CHECK(obs->userspace);
	CHECK(obs->is_wireguard);
	CHECK_FALSE(obs->device);
	CHECK(unreadable);
	close(fd);
	std::filesystem::remove_all(dir);
}
