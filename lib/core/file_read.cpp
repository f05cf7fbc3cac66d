#include "file_read.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd.h"
#include "keys.h"

namespace wgn {

std::string format_limit(size_t n)
{
	if (n >= (1 << 20) && n % (1 << 20) == 0)
		return std::to_string(n >> 20) + " MiB";
	if (n >= 1024 && n % 1024 == 0)
		return std::to_string(n >> 10) + " KiB";
	return std::to_string(n) + " bytes";
}

static const char *file_type(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISSOCK(m))
		return "a socket";
	return "not a regular file";
}

Result<std::string> read_bounded_file(const std::filesystem::path &path, std::string_view what,
                                      size_t max_bytes, Errc bad_file, Errc cannot_open,
                                      struct stat *st_out)
{
	const std::string name = std::string(what) + " " + path.string();
	// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
	UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
	if (fd.get() < 0) {
		int e = errno;
		if (e == ENOENT)
			return make_error(Errc::no_input, name + " not found");
		return make_error(cannot_open, "cannot read " + name + ": " + std::strerror(e));
	}
	const Errc code = bad_file;
	struct stat st {};
	if (fstat(fd.get(), &st) < 0)
		return make_error(code, "cannot read " + name + ": " + std::strerror(errno));
	if (st_out)
		*st_out = st;
	if (!S_ISREG(st.st_mode)) {
		std::string type = file_type(st.st_mode);
		return make_error(code, name + " is " +
		                                (type == "not a regular file" ? "" : type + ", ") +
		                                "not a regular file");
	}
	const std::string too_big = name + " is larger than " + format_limit(max_bytes) +
	                            ", the most wgn reads of a " + std::string(what);
	if (st.st_size < 0 || static_cast<uint64_t>(st.st_size) > max_bytes)
		return make_error(code, too_big);

	// st_size is a hint (a file under /proc says 0, a file may grow): read until end of
	// file, but never more than max_bytes + 1, growing the buffer by hand so that an
	// abandoned copy is wiped.
	std::string buf(std::min<size_t>(static_cast<size_t>(st.st_size) + 1, max_bytes + 1) + 256,
	                '\0');
	size_t len = 0;
	for (;;) {
		if (len == buf.size()) {
			if (len > max_bytes)
				break;
			std::string bigger(std::min(buf.size() * 2, max_bytes + 1), '\0');
			std::memcpy(bigger.data(), buf.data(), len);
			wipe(buf);
			buf.swap(bigger);
		}
		ssize_t n = read(fd.get(), buf.data() + len, buf.size() - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			wipe(buf);
			return make_error(code, "cannot read " + name + ": " + std::strerror(e));
		}
		if (n == 0)
			break;
		len += static_cast<size_t>(n);
	}
	if (len > max_bytes) {
		wipe(buf);
		return make_error(code, too_big);
	}
	buf.resize(len);
	return buf;
}

} // namespace wgn
