#include "fsutil.h"

#include "file_read.h"

#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

namespace wgn {

std::filesystem::path run_dir()
{
	const char *e = std::getenv("WGN_RUN_DIR");
	return e && *e ? e : "/run/wgn";
}

std::filesystem::path state_dir()
{
	const char *e = std::getenv("WGN_STATE_DIR");
	return e && *e ? e : "/var/lib/wgn";
}

namespace {

// PATH.tmp-PID.XXXXXX, as mkostemp and temp_name() make it: the PID (digits, without
// a leading zero) or 0 when `name` is not one of `prefix`'s temps.
long temp_writer(const std::string &name, const std::string &prefix)
{
	if (name.compare(0, prefix.size(), prefix) != 0)
		return 0;
	auto dot = name.find('.', prefix.size());
	if (dot == std::string::npos || dot == prefix.size() || dot - prefix.size() > 9 ||
	    name[prefix.size()] == '0' || name.size() != dot + 7)
		return 0;
	long pid = 0;
	for (size_t i = prefix.size(); i < dot; ++i) {
		if (name[i] < '0' || name[i] > '9')
			return 0;
		pid = pid * 10 + (name[i] - '0');
	}
	for (size_t i = dot + 1; i < name.size(); ++i)
		if (!std::isalnum(static_cast<unsigned char>(name[i])))
			return 0;
	return pid;
}

// A fresh name of a temp beside `path`, in mkostemp's pattern (remove_dead_temps).
std::string temp_name(const std::filesystem::path &path)
{
	static const char kChars[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char r[6] = {};
	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != static_cast<ssize_t>(sizeof(r))) {
		static unsigned counter = 0;
		auto t = static_cast<unsigned>(std::time(nullptr)) ^ ++counter * 2654435761u;
		for (auto &c : r) {
			c = static_cast<unsigned char>(t);
			t = t / 7 + 13;
		}
	}
	std::string name = path.string() + ".tmp-" + std::to_string(getpid()) + ".";
	for (auto c : r)
		name += kChars[c % (sizeof(kChars) - 1)];
	return name;
}

// All of `data` into fd, then its mode and an fsync; on failure, what failed (errno set).
const char *fill(int fd, const std::string &data, unsigned mode)
{
	size_t off = 0;
	while (off < data.size()) {
		ssize_t n = write(fd, data.data() + off, data.size() - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return "write";
		off += static_cast<size_t>(n);
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0)
		return "fsync";
	return nullptr;
}

enum class Placed { done, failed, not_here };

// The file is written with no name at all (O_TMPFILE) and linked in only once whole and
// on disk: to `path` itself when it does not exist, so that nothing else ever has a name;
// else to a temp name renamed over `path` at once. not_here: the filesystem has no
// O_TMPFILE (overlayfs before Linux 6.7, NFS, vfat), /proc is not mounted, or anything
// else in the way; write_file_atomic then takes the named temp.
Placed place_unnamed(const std::filesystem::path &path, const std::string &data, unsigned mode,
                     const char **what)
{
	auto dir = path.parent_path();
	int fd = open(dir.empty() ? "." : dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		return Placed::not_here;
	if ((*what = fill(fd, data, mode))) {
		int e = errno;
		close(fd);
		errno = e;
		return Placed::failed;
	}
	// Without CAP_DAC_READ_SEARCH (the units' bounding set), linkat's AT_EMPTY_PATH is
	// refused; the /proc link of the descriptor is open(2)'s documented way.
	const std::string self = "/proc/self/fd/" + std::to_string(fd);
	auto link_as = [&](const std::string &name) {
		return linkat(AT_FDCWD, self.c_str(), AT_FDCWD, name.c_str(), AT_SYMLINK_FOLLOW);
	};
	Placed placed = Placed::not_here;
	if (link_as(path.string()) == 0) {
		placed = Placed::done;
	} else if (errno == EEXIST) {
		for (int i = 0; i < 8 && placed == Placed::not_here; ++i) {
			std::string tmp = temp_name(path);
			if (link_as(tmp) < 0) {
				if (errno == EEXIST)
					continue;
				break;
			}
			if (rename(tmp.c_str(), path.c_str()) < 0) {
				int e = errno;
				unlink(tmp.c_str());
				errno = e;
				*what = "rename";
				placed = Placed::failed;
			} else {
				placed = Placed::done;
			}
		}
	}
	int e = errno;
	close(fd);
	errno = e;
	return placed;
}

} // namespace

void remove_dead_temps(const std::filesystem::path &path)
{
	const std::string prefix = path.filename().string() + ".tmp-";
	auto dir = path.parent_path();
	std::error_code ec;
	std::filesystem::directory_iterator it(dir.empty() ? "." : dir, ec);
	for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
		long pid = temp_writer(it->path().filename().string(), prefix);
		if (pid <= 0 || pid == getpid())
			continue;
		// A temp is a regular file: a symlink, a directory or a FIFO of that name is
		// someone else's, and is left alone (lstat: a link is never followed).
		std::error_code sec;
		if (it->symlink_status(sec).type() != std::filesystem::file_type::regular)
			continue;
		// ESRCH only: EPERM means a process runs with that id (another user's).
		if (kill(static_cast<pid_t>(pid), 0) < 0 && errno == ESRCH)
			unlink(it->path().c_str());
	}
}

Status write_file_atomic(const std::filesystem::path &path, const std::string &data, unsigned mode)
{
	auto fail = [&](const std::string &what) -> Status {
		return make_error(Errc::cant_create, "cannot write " + path.string() + ": " + what +
		                                             ": " + std::strerror(errno));
	};
	auto dir = path.parent_path();
	if (!dir.empty() && mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST)
		return fail("cannot create " + dir.string());
	remove_dead_temps(path);
	const char *what = nullptr;
	switch (place_unnamed(path, data, mode, &what)) {
	case Placed::done:
		(void)fsync_parent_dir(path);
		return Ok{};
	case Placed::failed:
		return fail(what);
	case Placed::not_here:
		break;
	}
	std::string tmp = path.string() + ".tmp-" + std::to_string(getpid()) + ".XXXXXX";
	int fd = mkostemp(tmp.data(), O_CLOEXEC);
	if (fd < 0)
		return fail("mkostemp");
	if ((what = fill(fd, data, mode))) {
		int e = errno;
		close(fd);
		unlink(tmp.c_str());
		errno = e;
		return fail(what);
	}
	close(fd);
	if (rename(tmp.c_str(), path.c_str()) < 0) {
		int e = errno;
		unlink(tmp.c_str());
		errno = e;
		return fail("rename");
	}
	// The rename is durable only once the directory is on disk too; the file is whole
	// either way, so a directory that cannot be synced is not an error here.
	(void)fsync_parent_dir(path);
	return Ok{};
}

Status fsync_parent_dir(const std::filesystem::path &file)
{
	auto dir = file.parent_path();
	int dfd = open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return make_error(Errc::cant_create,
		                  "cannot open " + dir.string() + ": " + std::strerror(errno));
	int rc = fsync(dfd);
	int e = errno;
	close(dfd);
	if (rc < 0)
		return make_error(Errc::cant_create,
		                  "cannot fsync " + dir.string() + ": " + std::strerror(e));
	return Ok{};
}

Result<std::string> read_file(const std::filesystem::path &path)
{
	return read_bounded_file(path, "file", kMaxStateBytes, Errc::no_input, Errc::no_input);
}

} // namespace wgn
