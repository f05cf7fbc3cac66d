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
