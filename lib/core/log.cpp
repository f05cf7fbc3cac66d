#include "log.h"

#include <cstdio>

namespace wgn {

static Verbosity g_verbosity = Verbosity::normal;

void set_verbosity(Verbosity v) { g_verbosity = v; }
Verbosity verbosity() { return g_verbosity; }

void progress(const std::string &message)
{
	if (g_verbosity != Verbosity::quiet)
		std::fprintf(stderr, "wgn: %s\n", message.c_str());
}

void effect(const std::string &description)
{
	if (g_verbosity == Verbosity::verbose)
		std::fprintf(stderr, "[#] %s\n", description.c_str());
}

void complain(const std::string &message) { std::fprintf(stderr, "wgn: %s\n", message.c_str()); }

} // namespace wgn

namespace wgn {
std::string format_seconds(double s)
{
	char buf[32];
	std::snprintf(buf, sizeof(buf), "%.1f", s);
	return buf;
}
} // namespace wgn
