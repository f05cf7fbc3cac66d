// The service manager's notification protocol (sd_notify(3)) without libsystemd: one
// datagram of "KEY=VALUE" lines to the AF_UNIX socket named by $NOTIFY_SOCKET (a path,
// or an abstract name written with a leading '@'). $WATCHDOG_USEC (with $WATCHDOG_PID,
// when set, naming this process) asks for "WATCHDOG=1" at least that often.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "error.h"

namespace wgn {

class SdNotifier {
public:
	// Not connected: every send is a no-op success.
	SdNotifier() = default;
	SdNotifier(std::string socket, std::optional<uint64_t> watchdog_usec)
	    : socket_(std::move(socket)), watchdog_usec_(watchdog_usec)
	{}
	// From the environment of this process (pid as getpid()); with unset, the three
	// variables are removed so that children (the userspace daemon) do not inherit them.
	static SdNotifier from_environment(bool unset = true);

	bool enabled() const { return !socket_.empty(); }
	// The watchdog interval in seconds, when the manager asked for one.
	std::optional<double> watchdog_interval() const;

	// Sends the lines of state as one datagram. Errors: os when the socket cannot be
	// reached (the caller decides whether that matters: a watch keeps running).
	Status notify(const std::string &state) const;

private:
	std::string socket_;
	std::optional<uint64_t> watchdog_usec_;
};

// The notifier of a long-running loop (watch, sync --watch): from the environment; a
// send that fails is said on stderr once, and again only after one got through.
class ServiceNotifier {
public:
	ServiceNotifier() : notifier_(SdNotifier::from_environment()) {}
	void notify(const std::string &state);
	std::optional<double> watchdog_interval() const
	{
		return notifier_.enabled() ? notifier_.watchdog_interval() : std::nullopt;
	}

private:
	SdNotifier notifier_;
	bool failed_ = false;
};

// The parsing behind from_environment, for the tests: WATCHDOG_USEC as a positive
// integer, honoured only when WATCHDOG_PID is empty or equals pid.
std::optional<uint64_t> parse_watchdog(const char *usec, const char *wpid, long pid);

} // namespace wgn
