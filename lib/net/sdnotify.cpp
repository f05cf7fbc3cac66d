#include "sdnotify.h"

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fd.h"
#include "log.h"

namespace wgn {

std::optional<uint64_t> parse_watchdog(const char *usec, const char *wpid, long pid)
{
	if (!usec || !*usec)
		return std::nullopt;
	uint64_t v = 0;
	const char *end = usec + std::strlen(usec);
	auto [p, ec] = std::from_chars(usec, end, v);
	if (ec != std::errc() || p != end || v == 0)
		return std::nullopt;
	if (wpid && *wpid) {
		long w = 0;
		const char *wend = wpid + std::strlen(wpid);
		auto [q, ec2] = std::from_chars(wpid, wend, w);
		if (ec2 != std::errc() || q != wend || w != pid)
			return std::nullopt; // meant for another process (a parent's)
	}
	return v;
}

SdNotifier SdNotifier::from_environment(bool unset)
{
	const char *sock = std::getenv("NOTIFY_SOCKET");
	SdNotifier n(sock ? sock : "",
	             parse_watchdog(std::getenv("WATCHDOG_USEC"), std::getenv("WATCHDOG_PID"),
	                            static_cast<long>(getpid())));
	if (unset) {
		unsetenv("NOTIFY_SOCKET");
		unsetenv("WATCHDOG_USEC");
		unsetenv("WATCHDOG_PID");
	}
	return n;
}

std::optional<double> SdNotifier::watchdog_interval() const
{
	if (!watchdog_usec_)
		return std::nullopt;
	return static_cast<double>(*watchdog_usec_) / 1e6;
}

Status SdNotifier::notify(const std::string &state) const
{
	if (socket_.empty())
		return Ok{};
	auto fail = [&](const std::string &what) {
		return make_error(Errc::os,
		                  "cannot notify the service manager at " + socket_ + ": " + what);
	};
	sockaddr_un sa{};
	sa.sun_family = AF_UNIX;
	if ((socket_[0] != '/' && socket_[0] != '@') || socket_.size() < 2 ||
	    socket_.size() > sizeof(sa.sun_path))
		return fail("not an absolute path or an abstract name");
	std::memcpy(sa.sun_path, socket_.data(), socket_.size());
	if (socket_[0] == '@')
		sa.sun_path[0] = '\0'; // abstract: no terminating NUL counts in its length
	socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_.size());
	UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
	if (fd.get() < 0)
		return fail(std::strerror(errno));
	ssize_t n = sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
	                   reinterpret_cast<sockaddr *>(&sa), len);
	if (n < 0)
		return fail(std::strerror(errno));
	return Ok{};
}

void ServiceNotifier::notify(const std::string &state)
{
	auto st = notifier_.notify(state);
	if (!st && !failed_)
		complain(st.error().message + " (said once)");
	failed_ = !st;
}

} // namespace wgn
