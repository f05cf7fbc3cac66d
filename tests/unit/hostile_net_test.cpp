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

namespace {

// A process whose last argument is the interface's name, like `<daemon> wgt9` or
// `tail -f wgt9`; with log_fd >= 0 its stdout and stderr are that file, as the daemon's
// are its log.
pid_t spawn(const char *ifname, int log_fd)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (log_fd >= 0) {
			dup2(log_fd, 1);
			dup2(log_fd, 2);
		}
		execl("/bin/sh", "sh", "-c", "while :; do sleep 1; done", "sh", ifname,
		      static_cast<char *>(nullptr));
		_exit(127);
	}
	// Until exec is done, /proc/PID/cmdline is still ours.
	for (int i = 0; i < 500; ++i) {
		char buf[256] = {};
		std::string path = "/proc/" + std::to_string(pid) + "/cmdline";
		int fd = open(path.c_str(), O_RDONLY);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (n > 0 &&
		    std::string(buf, static_cast<size_t>(n)).find(ifname) != std::string::npos)
			break;
		usleep(2000);
	}
	return pid;
}

bool alive(pid_t pid)
{
	return waitpid(pid, nullptr, WNOHANG) == 0;
}

void finish(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, nullptr, 0);
}

} // namespace

TEST_CASE("userspace: a reused pid is not taken for the daemon", "[hostile]")
{
	char tmpl[] = "/tmp/wgn-daemon-id-XXXXXX";
	std::filesystem::path dir = mkdtemp(tmpl);
	DaemonOptions opt;
	opt.sock_dir = dir / "sock";
	opt.log_path = dir / "wgt9.daemon.log";
	std::ofstream(opt.log_path).close();

	// The recorded pid now belongs to a stranger whose last argument is the name.
	pid_t stranger = spawn("wgt9", -1);
	CHECK_FALSE(is_daemon_of(stranger, "wgt9", opt));
	// `down` with it recorded: no link, no socket; the stranger must survive.
	auto st = stop_userspace_daemon("wgt9", stranger, 0.2, opt);
	CHECK(st.ok());
	usleep(100000);
	CHECK(alive(stranger));
	finish(stranger);

	// The daemon writes to its log: it is recognised, and stopped.
	int log_fd = open(opt.log_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	REQUIRE(log_fd >= 0);
	pid_t daemon = spawn("wgt9", log_fd);
	CHECK(is_daemon_of(daemon, "wgt9", opt));
	CHECK_FALSE(is_daemon_of(daemon, "wgt8", opt));
	st = stop_userspace_daemon("wgt9", daemon, 0.2, opt);
	CHECK(st.ok());
	CHECK_FALSE(alive(daemon));
	if (alive(daemon))
		finish(daemon);
	close(log_fd);
	std::filesystem::remove_all(dir);
}

namespace {

const nlmsghdr *hdr(const Bytes &m)
{
	return reinterpret_cast<const nlmsghdr *>(m.b.data());
}

Bytes ifinfo(int index)
{
	return Bytes().u8(0).u8(0).u16(0).u32(static_cast<uint32_t>(index)).u32(0).u32(0);
}

// An attribute whose payload is `s` without a terminating NUL.
Bytes &attr_unterminated(Bytes &b, uint16_t type, const std::string &s)
{
	return b.attr(type, Bytes().raw(s.data(), s.size()));
}

} // namespace

TEST_CASE("rtnl: a link name without NUL is read to the attribute's end, no further", "[hostile]")
{
	// IFLA_IFNAME (3) "wg0x": four bytes, no NUL, no padding; IFLA_MTU (4) follows, its
	// length (8, 0) is where strlen would run on to.
	auto body = ifinfo(7);
	attr_unterminated(body, 3, "wg0x").attr_u32(4, 1420);
	Bytes info;
	attr_unterminated(info, 1, "wireguard");
	body.nest(18, info);
	auto m = message(16, 0, 1, body);
	auto l = parse_link(hdr(m));
	REQUIRE(l);
	CHECK(l->name == "wg0x");
	CHECK(l->kind == "wireguard");
	CHECK(l->mtu == 1420);
}

TEST_CASE("rtnl: a message whose length ends inside its last attribute's padding is refused",
          "[hostile]")
{
	// IFLA_IFNAME (3) "wg0x" takes 8 bytes; nlmsg_len says one less. libmnl bounds the
	// attributes by NLMSG_ALIGN(nlmsg_len), which takes the attribute in whole: its last
	// byte is past the message (found by fuzz-rtnl, as a read past the datagram).
	auto body = ifinfo(7);
	attr_unterminated(body, 3, "wg0x");
	auto m = message(16, 0, 1, body);
	auto *len = reinterpret_cast<uint32_t *>(m.b.data());
	*len -= 1;
	CHECK_FALSE(parse_link(hdr(m)));
	*len += 1;
	auto l = parse_link(hdr(m));
	REQUIRE(l);
	CHECK(l->name == "wg0x");
}

TEST_CASE("genl: a device name without NUL is not read past its attribute", "[hostile]")
{
	// genlmsghdr (cmd 0, version 1), WGDEVICE_A_IFNAME (2) "wg0x" unterminated, then
	// WGDEVICE_A_LISTEN_PORT (6).
	auto body = Bytes().u8(0).u8(1).u16(0);
	attr_unterminated(body, 2, "wg0x").attr_u16(6, 51820);
	DeviceState st;
	REQUIRE(parse_device_part(hdr(message(0x1b, 2, 1, body)), st).ok());
	CHECK(st.name.size() <= 4);
	CHECK(st.listen_port == 51820);
}

TEST_CASE("rtnl: an error message whose echoed request lies about its length", "[hostile]")
{
	// nlmsgerr: error -EPERM, then the echoed header claiming 0xfffffff0 bytes, with
	// NLM_F_ACK_TLVS (0x200) set: the attributes' offset must not be taken on trust.
	auto body = Bytes().u32(static_cast<uint32_t>(-EPERM));
	body.u32(0xfffffff0).u16(16).u16(5).u32(1).u32(0);
	body.attr_str(1 /* NLMSGERR_ATTR_MSG */, "never read");
	auto ack = parse_ack(hdr(message(2, 0x200, 1, body)));
	CHECK(ack.err == EPERM);
	CHECK(ack.ext_ack.empty());
	// Shorter than a header: the same.
	body = Bytes().u32(static_cast<uint32_t>(-EPERM)).u32(4).u16(16).u16(5).u32(1).u32(0);
	ack = parse_ack(hdr(message(2, 0x200, 1, body)));
	CHECK(ack.err == EPERM);

	// An honest one, with the kernel's words unterminated.
	body = Bytes().u32(static_cast<uint32_t>(-EEXIST)).u32(16).u16(16).u16(5).u32(1).u32(0);
	attr_unterminated(body, 1, "File exists");
	ack = parse_ack(hdr(message(2, 0x200, 1, body)));
	CHECK(ack.err == EEXIST);
	CHECK(ack.ext_ack == "File exists");

	// No errno at all (INT_MIN, or positive): not negated into overflow.
	ack = parse_ack(hdr(
	        message(2, 0, 1, Bytes().u32(0x80000000u).u32(16).u16(0).u16(0).u32(0).u32(0))));
	CHECK(ack.err == EBADMSG);
	ack = parse_ack(hdr(message(2, 0, 1, Bytes().u32(5).u32(16).u16(0).u16(0).u32(0).u32(0))));
	CHECK(ack.err == EBADMSG);
	// The ack itself.
	ack = parse_ack(hdr(message(2, 0, 1, Bytes().u32(0).u32(16).u16(0).u16(0).u32(0).u32(0))));
	CHECK(ack.err == 0);
}

TEST_CASE("netlink builders stop at their buffer's end", "[hostile]")
{
	const std::string long_name(600, 'x');
	// Each builder gets the buffer its contract names, followed by a guard zone.
	{
		std::array<char, kGenlSmallBufSize + 1024> area;
		area.fill('\xa5');
		CHECK(build_get_device(area.data(), 1, 0x1b, long_name) == 0);
		for (size_t i = kGenlSmallBufSize; i < area.size(); ++i)
			REQUIRE(area[i] == '\xa5');
		area.fill('\xa5');
		CHECK(build_getfamily(area.data(), 1, long_name.c_str()) == 0);
		for (size_t i = kGenlSmallBufSize; i < area.size(); ++i)
			REQUIRE(area[i] == '\xa5');
		CHECK(build_get_device(area.data(), 1, 0x1b, "wg0") > 0);
	}
	{
		const std::string longer(1500, 'y');
		std::array<char, kRtnlBufSize + 2048> area;
		for (auto build :
		     {+[](char *b, const std::string &n) { return build_getlink(b, 1, n); },
		      +[](char *b, const std::string &n) { return build_dellink(b, 1, n); },
		      +[](char *b, const std::string &n) {
			      return build_newlink_wireguard(b, 1, n);
		      }}) {
			area.fill('\xa5');
			CHECK(build(area.data(), longer) == 0);
			for (size_t i = kRtnlBufSize; i < area.size(); ++i)
				REQUIRE(area[i] == '\xa5');
			CHECK(build(area.data(), "wg0") > 0);
		}
	}
}

namespace {

// A daemon that answers `get` with lines that never end in the blank line, as long as
// the client reads (at most `limit` bytes), then holds the connection open.
struct EndlessDaemon {
	std::filesystem::path dir;
	int lfd = -1;
	std::thread t;
	size_t sent = 0;

	explicit EndlessDaemon(size_t limit)
	{
		char tmpl[] = "/tmp/wgn-uapi-hostile-XXXXXX";
		dir = mkdtemp(tmpl);
		lfd = socket(AF_UNIX, SOCK_STREAM, 0);
		sockaddr_un sun{};
		sun.sun_family = AF_UNIX;
		uapi_socket_path("wgt0", dir).string().copy(sun.sun_path, sizeof(sun.sun_path) - 1);
		REQUIRE(bind(lfd, reinterpret_cast<sockaddr *>(&sun), sizeof(sun)) == 0);
		REQUIRE(listen(lfd, 1) == 0);
		t = std::thread([this, limit] {
			int c = accept(lfd, nullptr, nullptr);
			std::string chunk;
			while (chunk.size() < 65536)
				chunk += "rx_bytes=1\n";
			while (sent < limit) {
				ssize_t n = send(c, chunk.data(), chunk.size(), MSG_NOSIGNAL);
				if (n <= 0)
					break;
				sent += static_cast<size_t>(n);
			}
			// Wait for the client to hang up (or 10 s): no blank line, ever.
			char b;
			timeval tv{10, 0};
			setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			while (recv(c, &b, 1, 0) > 0) {
			}
			close(c);
		});
	}
	~EndlessDaemon()
	{
		if (t.joinable())
			t.join();
		close(lfd);
		std::filesystem::remove_all(dir);
	}
};

} // namespace

TEST_CASE("uapi: a reply that never ends is cut at its cap", "[hostile]")
{
	EndlessDaemon d(kUapiMaxReplyBytes + (4 << 20));
	auto t0 = std::chrono::steady_clock::now();
	auto r = UapiWireGuard(d.dir).get_device("wgt0");
	REQUIRE_FALSE(r);
	CHECK(r.error().code == Errc::os);
	CHECK_THAT(r.error().message,
	           Catch::Contains("sent more than 32 MiB without ending its reply"));
	CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
}
