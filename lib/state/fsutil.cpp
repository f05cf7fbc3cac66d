#include "fsutil.h"

#include "file_read.h"

#include <cerrno>
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

Status write_file_atomic(const std::filesystem::path &path, const std::string &data, unsigned mode)
{
	auto fail = [&](const std::string &what) -> Status {
		return make_error(Errc::cant_create, "cannot write " + path.string() + ": " + what +
		                                             ": " + std::strerror(errno));
	};
	auto dir = path.parent_path();
	if (!dir.empty() && mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST)
		return fail("cannot create " + dir.string());
	std::string tmp = path.string() + ".XXXXXX";
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
	// The rename is durable only once the directory is on disk too.
	int dfd = open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return Ok{};
}

Result<std::string> read_file(const std::filesystem::path &path)
{
	return read_bounded_file(path, "file", kMaxStateBytes, Errc::no_input, Errc::no_input);
}

} // namespace wgn
