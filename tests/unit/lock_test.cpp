#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <sys/wait.h>
#include <unistd.h>

#include "lock.h"

using namespace wgn;

namespace {
struct TmpDir {
	std::filesystem::path dir;
	TmpDir()
	{
		char t[] = "/tmp/wgn-lock-test.XXXXXX";
		dir = mkdtemp(t);
	}
	~TmpDir() { std::filesystem::remove_all(dir); }
};
double since(std::chrono::steady_clock::time_point t0)
{
	return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
} // namespace

TEST_CASE("the interface lock excludes a second holder and is released on destruction")
{
	TmpDir t;
	auto path = t.dir / "run" / "wg0.lock"; // the directory is created on demand
	{
		auto a = InterfaceLock::acquire_at(path, "wg0");
		REQUIRE(a.ok());
		CHECK(std::filesystem::exists(path));
		auto b = InterfaceLock::try_acquire_at(path);
		REQUIRE_FALSE(b.ok());
		CHECK(b.error().code == Errc::temp_fail);
	}
	auto c = InterfaceLock::try_acquire_at(path);
	CHECK(c.ok());
}

TEST_CASE("lock_path follows WGN_RUN_DIR")
{
	setenv("WGN_RUN_DIR", "/tmp/wgn-somewhere", 1);
	CHECK(lock_path("wg7") == "/tmp/wgn-somewhere/wg7.lock");
	unsetenv("WGN_RUN_DIR");
	CHECK(lock_path("wg7") == "/run/wgn/wg7.lock");
}

TEST_CASE("a second acquire waits until the holder lets go")
{
	TmpDir t;
	auto path = t.dir / "wg0.lock";
	int ready[2];
	REQUIRE(pipe(ready) == 0);
	pid_t child = fork();
	REQUIRE(child >= 0);
	if (child == 0) {
		auto l = InterfaceLock::acquire_at(path, "wg0");
		(void)write(ready[1], "x", 1);
		usleep(300 * 1000);
		_exit(l.ok() ? 0 : 1);
	}
	char c;
	REQUIRE(read(ready[0], &c, 1) == 1);
	auto t0 = std::chrono::steady_clock::now();
	auto l = InterfaceLock::acquire_at(path, "wg0");
	double waited = since(t0);
	int status = 0;
	waitpid(child, &status, 0);
	close(ready[0]);
	close(ready[1]);
	REQUIRE(l.ok());
	CHECK(WIFEXITED(status));
	CHECK(WEXITSTATUS(status) == 0);
	CHECK(waited > 0.2);
	CHECK(waited < 3.0);
}

TEST_CASE("a waiting acquire ends when cancelled")
{
	TmpDir t;
	auto path = t.dir / "wg0.lock";
	auto held = InterfaceLock::acquire_at(path, "wg0");
	REQUIRE(held.ok());
	int p[2];
	REQUIRE(pipe(p) == 0);
	REQUIRE(write(p[1], "x", 1) == 1);
	auto r = InterfaceLock::acquire_at(path, "wg0", p[0]);
	close(p[0]);
	close(p[1]);
	REQUIRE_FALSE(r.ok());
	CHECK(r.error().message == "interrupted");
}

TEST_CASE("the lock descriptor is not inherited across exec")
{
	TmpDir t;
	auto path = t.dir / "wg0.lock";
	auto held = InterfaceLock::acquire_at(path, "wg0");
	REQUIRE(held.ok());
	// A child that execs (as a userspace daemon does) must not keep the lock.
	pid_t child = fork();
	REQUIRE(child >= 0);
	if (child == 0) {
		execl("/bin/sleep", "sleep", "1", static_cast<char *>(nullptr));
		_exit(127);
	}
	usleep(100 * 1000);
	held = InterfaceLock::try_acquire_at(t.dir / "other.lock"); // drop ours
	auto again = InterfaceLock::try_acquire_at(path);
	CHECK(again.ok());
	kill(child, SIGKILL);
	waitpid(child, nullptr, 0);
}
