#include "backoff.h"

#include <algorithm>
#include <cmath>

namespace wgn {

double BackoffPolicy::nominal(int n) const
{
	// 2^n overflows double only past n = 1023; the cap is reached long before.
	double d = initial * std::ldexp(1.0, std::min(n, 1000));
	return std::min(d, max);
}

double BackoffPolicy::delay(int n, double unit) const
{
	double factor = 1.0 - jitter + 2.0 * jitter * std::clamp(unit, 0.0, 1.0);
	return std::min(nominal(n) * factor, max);
}

Jitter::Jitter() : rng_(std::random_device{}()) {}

double Jitter::next() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }

} // namespace wgn
