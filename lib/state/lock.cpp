#include "lock.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"

namespace wgn {

std::filesystem::path lock_path(const std::string &ifname)
{
	return run_dir() / (ifname + ".lock");
}

InterfaceLock &InterfaceLock::operator=(InterfaceLock &&o) noexcept
{
	if (this != &o) {
		if (fd_ >= 0)
			close(fd_);
		fd_ = o.fd_;
		o.fd_ = -1;
	}
	return *this;
}

InterfaceLock::~InterfaceLock()
{
	if (fd_ >= 0)
		close(fd_);
}

static Result<int> open_lock_file(const std::filesystem::path &path)
{
	auto dir = path.parent_path();
	if (!dir.empty() && mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST)
		return make_error(Errc::cant_create,
				  "cannot create " + dir.string() + ": " + std::strerror(errno));
	// O_CLOEXEC matters: a userspace daemon started while we hold the lock must not
	// inherit it, or it would hold the lock for as long as the tunnel lives.
	int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return make_error(Errc::cant_create,
				  "cannot open " + path.string() + ": " + std::strerror(errno));
	return fd;
}

Result<InterfaceLock> InterfaceLock::try_acquire_at(const std::filesystem::path &path)
{
	auto fd = open_lock_file(path);
	if (!fd)
		return fd.error();
	InterfaceLock l(*fd);
	if (flock(*fd, LOCK_EX | LOCK_NB) < 0)
		return make_error(Errc::temp_fail, path.string() + " is held by another process");
	return l;
}

static bool cancelled(int cancel_fd)
{
	if (cancel_fd < 0)
		return false;
	pollfd p{cancel_fd, POLLIN, 0};
	return poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

Result<InterfaceLock> InterfaceLock::acquire_at(const std::filesystem::path &path,
						const std::string &ifname, int cancel_fd)
{
	auto fd = open_lock_file(path);
	if (!fd)
		return fd.error();
	InterfaceLock l(*fd);
	if (flock(*fd, LOCK_EX | LOCK_NB) == 0)
		return l;
	if (errno != EWOULDBLOCK)
		return make_error(Errc::os,
				  "cannot lock " + path.string() + ": " + std::strerror(errno));
	progress(ifname + ": waiting for another wgn working on " + ifname);
	// A blocking flock ends with EINTR when a signal handler runs (they are installed
	// without SA_RESTART), which is how SIGINT/SIGTERM reach us while we wait.
	for (;;) {
		if (cancelled(cancel_fd))
			return make_error(Errc::temp_fail, "interrupted");
		if (flock(*fd, LOCK_EX) == 0)
			return l;
		if (errno != EINTR)
			return make_error(Errc::os, "cannot lock " + path.string() + ": " +
							std::strerror(errno));
		if (cancel_fd < 0)
			return make_error(Errc::temp_fail, "interrupted");
	}
}

Result<InterfaceLock> InterfaceLock::acquire(const std::string &ifname, int cancel_fd)
{
	return acquire_at(lock_path(ifname), ifname, cancel_fd);
}

} // namespace wgn
