// Linked into wgn, wgn-unit and wgn-nltool by a WGN_SANITIZE build only: the sanitizers'
// settings live in the binaries, so they hold wherever a test runs them (env -i, ip netns
// exec, systemd-analyze, strace). ASAN_OPTIONS / UBSAN_OPTIONS still override them.
#include <cstdio>
#include <cstdlib>
#include <cstring>

// A finding exits 86, which no wgn exit code (SPEC: 0-3, 64-78) can be mistaken for.
extern "C" const char *__asan_default_options()
{
	return "detect_leaks=1:exitcode=86:check_initialization_order=1:strict_init_order=1:"
	       "detect_stack_use_after_return=1";
}

extern "C" const char *__ubsan_default_options()
{
	return "print_stacktrace=1:halt_on_error=1:exitcode=86";
}

// LeakSanitizer stops the world with ptrace at exit, which fails in a process that is
// already traced (the bats tests that run wgn under strace): there, and only there, the
// leak check is off.
extern "C" int __lsan_is_turned_off()
{
	FILE *f = std::fopen("/proc/self/status", "re");
	if (!f)
		return 0;
	char line[256];
	int traced = 0;
	while (std::fgets(line, sizeof line, f))
		if (std::strncmp(line, "TracerPid:", 10) == 0) {
			traced = std::strtol(line + 10, nullptr, 10) != 0;
			break;
		}
	std::fclose(f);
	return traced;
}
