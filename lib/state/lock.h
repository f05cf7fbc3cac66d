// One `up` or `down` per interface at a time: an flock on $WGN_RUN_DIR/NAME.lock. A
// second run waits for the first, then looks at the system afresh and sees its result.
#pragma once

#include <filesystem>
#include <string>

#include "error.h"

namespace wgn {

class InterfaceLock {
public:
	// Blocks until the lock is ours. cancel_fd (-1: none) ending readable, or a signal
	// handler having run, ends the wait with an error (temp_fail, "interrupted").
	// Says once on stderr (progress) that it is waiting, when it has to.
	// Errors: cant_create (73) when the lock file cannot be made.
	static Result<InterfaceLock> acquire(const std::string &ifname, int cancel_fd = -1);
	// The same at an explicit path (tests).
	static Result<InterfaceLock> acquire_at(const std::filesystem::path &path,
						const std::string &ifname, int cancel_fd = -1);
	// Without waiting: an error (temp_fail) when another process holds it.
	static Result<InterfaceLock> try_acquire_at(const std::filesystem::path &path);

	InterfaceLock(InterfaceLock &&o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
	InterfaceLock &operator=(InterfaceLock &&o) noexcept;
	InterfaceLock(const InterfaceLock &) = delete;
	InterfaceLock &operator=(const InterfaceLock &) = delete;
	// Releases the lock. The file stays: unlinking it would let a third process lock a
	// new inode while a second one still waits on the old.
	~InterfaceLock();

private:
	explicit InterfaceLock(int fd) : fd_(fd) {}
	int fd_ = -1;
};

std::filesystem::path lock_path(const std::string &ifname);

} // namespace wgn
