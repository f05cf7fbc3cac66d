// Exponential backoff with jitter, shared by `up` (connect) and registration.
#pragma once

#include <cstdint>
#include <random>

namespace wgn {

struct BackoffPolicy {
	double initial = 2.0; // seconds
	double max = 60.0;    // seconds
	double jitter = 0.2;  // each delay is scaled by a factor in [1 - jitter, 1 + jitter]

	// The nominal delay before retry n (n = 0 after the first failure):
	// min(initial * 2^n, max).
	double nominal(int n) const;
	// nominal(n) scaled by `unit`, a number in [0, 1) (drawn by the caller), and never
	// above max: tests pass fixed units, callers pass random ones.
	double delay(int n, double unit) const;
};

// A source of uniform numbers in [0, 1) for jitter; seeded from the OS.
class Jitter {
public:
	Jitter();
	double next();

private:
	std::mt19937_64 rng_;
};

} // namespace wgn
