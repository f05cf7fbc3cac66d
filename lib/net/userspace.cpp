#include "userspace.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "duration.h"
#include "fd.h"
#include "fsutil.h"
#include "log.h"
#include "rtnl.h"

namespace wgn {

namespace {

using Clock = std::chrono::steady_clock;
// No wait for a daemon is longer than a day, whatever timeout a caller passes.
constexpr int64_t kMaxWaitMs = int64_t{86400} * 1000;

int pidfd_open(pid_t pid)
{
	return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

int pidfd_send_signal(int pidfd, int sig)
{
	return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

std::filesystem::path log_path_of(const std::string &ifname, const DaemonOptions &opt)
{
	return opt.log_path.empty() ? run_dir() / (ifname + ".daemon.log") : opt.log_path;
}

// 0: accepting; otherwise the errno of connect (ENOENT: no socket yet, ECONNREFUSED:
// bound but not listening, or stale).
int try_connect(const std::filesystem::path &path)
{
	sockaddr_un sun{};
	sun.sun_family = AF_UNIX;
	if (path.native().size() >= sizeof(sun.sun_path))
		return ENAMETOOLONG;
	std::memcpy(sun.sun_path, path.c_str(), path.native().size());
	UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
	if (fd.get() < 0)
		return errno;
	if (connect(fd.get(), reinterpret_cast<sockaddr *>(&sun), sizeof(sun)) < 0)
		return errno;
	return 0;
}

int remaining_ms(Clock::time_point deadline)
{
	auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
	return static_cast<int>(std::max<int64_t>(0, left.count()));
}

std::string tail_of(const std::filesystem::path &p, size_t max = 2000)
{
	std::ifstream f(p);
	std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
	while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
		s.pop_back();
	if (s.size() > max)
		s = "..." + s.substr(s.size() - max);
	return s;
}

// The environment of the daemon, built from nothing: the few variables the
// implementations read, so that nothing else of ours (and no secret) reaches it.
std::vector<std::string> daemon_env()
{
	std::vector<std::string> env;
	const char *path = getenv("PATH");
	env.push_back(
	        std::string("PATH=") +
	        (path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
	for (const char *name : {"LOG_LEVEL", "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD"})
		if (const char *v = getenv(name))
			env.push_back(std::string(name) + "=" + v);
	// Foreground: the pid we fork is the daemon's, so `down` can make sure it is gone
	// (daemonized, wireguard-go re-executes itself and its pid is lost to us).
	env.push_back("WG_PROCESS_FOREGROUND=1");
	return env;
}

// In the child, between fork and exec: async-signal-safe calls only.
[[noreturn]] void exec_daemon(char *const argv[], char *const envp[], int log_fd, int err_pipe)
{
	setsid(); // its own session: no SIGHUP or SIGINT from our terminal, outlives us
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0 || dup2(null, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0) {
		int e = errno;
		(void)!write(err_pipe, &e, sizeof(e));
		_exit(127);
	}
	// Nothing else of ours may cross exec: `up` holds its flock on an fd, and a
	// daemon that inherited it would hold the lock for as long as it runs.
	if (syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */) < 0)
		for (int fd = 3; fd < 1024; ++fd)
			if (fd != err_pipe)
				close(fd);
	// Ignored signals and the mask survive exec: start the daemon from defaults, so
	// that the SIGTERM of `down` (or of the administrator) reaches it.
	for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT})
		(void)signal(sig, SIG_DFL); // cannot fail for these numbers
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, nullptr);
	execvpe(argv[0], argv, envp);
	int e = errno;
	(void)!write(err_pipe, &e, sizeof(e));
	_exit(127);
}

void reap(pid_t pid)
{
	// Only our own child can be reaped; ECHILD for an adopted one is expected.
	while (waitpid(pid, nullptr, WNOHANG) < 0 && errno == EINTR) {
	}
}

} // namespace

Result<pid_t> start_userspace_daemon(const std::string &program, const std::string &ifname,
                                     double timeout_sec, const DaemonOptions &opt)
{
	const std::string what = "start " + program + " " + ifname;
	// The name is the daemon's argument: one that begins with `-' would be an option.
	if (auto why = interface_name_problem(ifname); !why.empty())
		return make_error(Errc::config, "cannot " + what + ": `" + ifname + "' " + why);
	const auto sock = uapi_socket_path(ifname, opt.sock_dir);
	const auto deadline =
	        Clock::now() + std::chrono::milliseconds(milliseconds_of(timeout_sec, kMaxWaitMs));
	if (try_connect(sock) == 0)
		return make_error(Errc::os, "cannot " + what +
		                                    ": a userspace daemon already "
		                                    "answers on " +
		                                    sock.string());

	// The daemon creates the directory itself (0755); making it first changes nothing.
	std::error_code ec;
	std::filesystem::create_directories(opt.sock_dir, ec);

	const auto log_file = log_path_of(ifname, opt);
	std::filesystem::create_directories(log_file.parent_path(), ec);
	UniqueFd log_fd(open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
	if (log_fd.get() < 0)
		return make_error(Errc::os, "cannot " + what + ": cannot open its log " +
		                                    log_file.string() + ": " + strerror(errno));

	// Everything the child needs is made before fork: after it, only exec is safe.
	auto env = daemon_env();
	std::vector<char *> envp;
	envp.reserve(env.size() + 1);
	for (auto &e : env)
		envp.push_back(e.data());
	envp.push_back(nullptr);
	std::string arg0 = program, arg1 = ifname;
	char *argv[] = {arg0.data(), arg1.data(), nullptr};

	int ep[2];
	if (pipe2(ep, O_CLOEXEC) < 0)
		return make_error(Errc::os, "cannot " + what + ": pipe: " + strerror(errno));
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(ep[0]);
		close(ep[1]);
		return make_error(Errc::os, "cannot " + what + ": fork: " + strerror(e));
	}
	if (pid == 0)
		exec_daemon(argv, envp.data(), log_fd.get(), ep[1]);
	close(ep[1]);
	// The exec-error pipe closes on a successful exec; otherwise it carries errno.
	int exec_errno = 0;
	ssize_t n;
	while ((n = read(ep[0], &exec_errno, sizeof(exec_errno))) < 0 && errno == EINTR) {
	}
	close(ep[0]);
	if (n > 0) {
		waitpid(pid, nullptr, 0);
		return make_error(Errc::os, "cannot " + what + ": " + strerror(exec_errno));
	}

	UniqueFd pidfd(pidfd_open(pid));
	auto fail = [&](const std::string &why) -> Error {
		std::string out = tail_of(log_file);
		return make_error(Errc::os, "cannot " + what + ": " + why +
		                                    (out.empty() ? "" : "; it said: " + out));
	};
	int backoff_ms = 1;
	bool daemonized = false;
	for (;;) {
		if (try_connect(sock) == 0)
			return daemonized ? pid_t{0} : pid;
		int status = 0;
		if (!daemonized && waitpid(pid, &status, WNOHANG) == pid) {
			if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
				// It went into the background by itself (boringtun does without
				// --foreground): its pid is not ours to know, its socket still is.
				daemonized = true;
				pidfd.reset();
				continue;
			}
			std::string how = WIFEXITED(status)
			                          ? "exited with status " +
			                                    std::to_string(WEXITSTATUS(status))
			                          : "was killed by signal " +
			                                    std::to_string(WTERMSIG(status));
			return fail("it " + how + " before " + sock.string() + " answered");
		}
		int left = remaining_ms(deadline);
		if (left == 0) {
			if (!daemonized) {
				kill(pid, SIGKILL);
				waitpid(pid, nullptr, 0);
			}
			return fail(sock.string() + " did not answer within " +
			            format_seconds(timeout_sec) + "s");
		}
		// Wait for the socket to answer, or the daemon to die (pidfd), with a short
		// backoff: 1 ms, then every 2 ms. No event says "listening" (a bound socket refuses
		// until then), and inotify on the directory, though exact about creation,
		// costs 6-23 ms in close() alone (the kernel waits for an SRCU grace period
		// when an inotify group is destroyed): more than the whole wait it saves.
		int wait = std::min(left, backoff_ms);
		backoff_ms = std::min(backoff_ms * 2, 2);
		pollfd fds[1] = {{pidfd.get(), POLLIN, 0}};
		poll(fds, pidfd.get() < 0 ? 0 : 1, wait);
	}
}

// The recorded pid is the daemon only while it is `<daemon> ifname` and its stdout or
// stderr is the log that start_userspace_daemon opened for it: a pid is reused once the
// daemon is gone, and any process may have the interface's name as its last argument
// (`tail -f wg0`), but no other process writes to that file. A log removed by hand
// makes the daemon a stranger: `down` then deletes the link, which ends the daemon, and
// waits for its socket to go.
bool is_daemon_of(pid_t pid, const std::string &ifname, const DaemonOptions &opt)
{
	if (pid <= 0)
		return false;
	const std::string proc = "/proc/" + std::to_string(pid);
	struct stat log {};
	if (stat(log_path_of(ifname, opt).c_str(), &log) < 0)
		return false;
	bool writes_log = false;
	for (const char *fd : {"/fd/1", "/fd/2"}) {
		struct stat out {};
		if (stat((proc + fd).c_str(), &out) == 0 && out.st_dev == log.st_dev &&
		    out.st_ino == log.st_ino)
			writes_log = true;
	}
	if (!writes_log)
		return false;
	std::ifstream f(proc + "/cmdline", std::ios::binary);
	std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
	std::vector<std::string> args;
	for (size_t i = 0; i < all.size();) {
		size_t z = all.find('\0', i);
		if (z == std::string::npos)
			z = all.size();
		args.push_back(all.substr(i, z - i));
		i = z + 1;
	}
	return args.size() >= 2 && args.back() == ifname;
}

static bool wait_exit(int pidfd, int ms)
{
	pollfd p{pidfd, POLLIN, 0};
	return poll(&p, 1, ms) > 0;
}

Status stop_userspace_daemon(const std::string &ifname, std::optional<pid_t> pid,
                             double timeout_sec, const DaemonOptions &opt)
{
	const auto sock = uapi_socket_path(ifname, opt.sock_dir);
	const int timeout_ms = static_cast<int>(milliseconds_of(timeout_sec, kMaxWaitMs));
	UniqueFd pidfd(pid && *pid > 0 ? pidfd_open(*pid) : -1);
	if (pidfd.get() >= 0 && !is_daemon_of(*pid, ifname, opt))
		pidfd.reset();

	auto rtnl = Rtnl::open();
	if (!rtnl)
		return rtnl.error();
	auto link = rtnl->get_link(ifname);
	if (!link)
		return link.error();
	if (*link) {
		// The daemon exits by itself when its tun goes away.
		auto st = rtnl->delete_link(ifname);
		if (!st)
			return st;
	}

	if (pidfd.get() >= 0) {
		if (!wait_exit(pidfd.get(), timeout_ms)) {
			pidfd_send_signal(pidfd.get(), SIGTERM);
			if (!wait_exit(pidfd.get(), timeout_ms)) {
				pidfd_send_signal(pidfd.get(), SIGKILL);
				if (!wait_exit(pidfd.get(), 1000))
					return make_error(Errc::os, "cannot stop the userspace "
					                            "daemon of " +
					                                    ifname + " (pid " +
					                                    std::to_string(*pid) +
					                                    ")");
			}
		}
		reap(*pid);
	} else {
		// No pid of ours (or not the daemon any more): wait for whoever serves the
		// socket to go, as it does once the link is gone.
		auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
		int backoff_ms = 1;
		while (try_connect(sock) == 0 && remaining_ms(deadline) > 0) {
			poll(nullptr, 0, std::min(backoff_ms, remaining_ms(deadline)));
			backoff_ms = std::min(backoff_ms * 2, 50);
		}
		if (try_connect(sock) == 0)
			return make_error(Errc::os, "the userspace daemon of " + ifname +
			                                    " still answers on " + sock.string() +
			                                    " after its link was deleted");
	}
	if (unlink(sock.c_str()) < 0 && errno != ENOENT)
		return make_error(Errc::os,
		                  "cannot remove " + sock.string() + ": " + strerror(errno));
	const auto log_file = log_path_of(ifname, opt);
	unlink(log_file.c_str());
	return Ok{};
}

} // namespace wgn
