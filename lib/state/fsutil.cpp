#include "fsutil.h"

#include "file_read.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
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

void remove_dead_temps(const std::filesystem::path &path)
{
	const std::string prefix = path.filename().string() + ".tmp-";
	auto dir = path.parent_path();
	std::error_code ec;
	std::filesystem::directory_iterator it(dir.empty() ? "." : dir, ec);
	for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
		const std::string name = it->path().filename().string();
		if (name.compare(0, prefix.size(), prefix) != 0)
			continue;
		// PATH.tmp-PID.XXXXXX: the PID is digits up to the dot.
		auto dot = name.find('.', prefix.size());
		if (dot == std::string::npos || dot == prefix.size() || dot - prefix.size() > 9)
			continue;
		long pid = 0;
		bool digits = true;
		for (size_t i = prefix.size(); i < dot; ++i) {
			digits = digits && name[i] >= '0' && name[i] <= '9';
			pid = pid * 10 + (name[i] - '0');
		}
		if (!digits || pid <= 0 || pid == getpid())
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
	std::string tmp = path.string() + ".tmp-" + std::to_string(getpid()) + ".XXXXXX";
	int fd = mkostemp(tmp.data(), O_CLOEXEC);
	if (fd < 0)
		return fail("mkostemp");
	size_t off = 0;
	while (off < data.size()) {
		ssize_t n = write(fd, data.data() + off, data.size() - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			unlink(tmp.c_str());
			errno = e;
			return fail("write");
		}
		off += static_cast<size_t>(n);
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
		int e = errno;
		close(fd);
		unlink(tmp.c_str());
		errno = e;
		return fail("fsync");
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
