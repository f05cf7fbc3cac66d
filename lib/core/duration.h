// Seconds (a double from a config, a command line or a server) turned into the integer
// milliseconds that poll(), timers and libcurl take. Casting a double that is NaN, an
// infinity or beyond the integer's range is undefined behaviour; these never do.
#pragma once

#include <cmath>
#include <cstdint>

namespace wgn {

// The longest wait wgn takes from a config or a command line: a year. Longer is a typo,
// and NaN or an infinity is no number of seconds at all.
inline constexpr double kMaxSeconds = 86400.0 * 365;

// A number of seconds a config or a command line may give: finite, above zero (or zero
// when allowed) and at most kMaxSeconds.
inline bool acceptable_seconds(double v, bool allow_zero = false)
{
	return std::isfinite(v) && v >= 0 && (allow_zero || v > 0) && v <= kMaxSeconds;
}

// Rounded up (a wait never ends just short of its deadline); NaN, zero and negatives
// are 0; at most max_ms.
inline int64_t milliseconds_of(double seconds, int64_t max_ms)
{
	if (!(seconds > 0))
		return 0;
	double ms = std::ceil(seconds * 1000.0);
	if (!(ms < static_cast<double>(max_ms)))
		return max_ms;
	return static_cast<int64_t>(ms);
}

} // namespace wgn
