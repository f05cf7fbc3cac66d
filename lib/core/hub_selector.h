// When `watch` switches hubs (SPEC "wgn watch", "Several hubs"): pure, fed one look at
// a time with the clock, so that its hysteresis is tested with a fake one.
//  - Failover: the active hub missed health.failures looks in a row; the target is the
//    best hub that answered this look. None answers: no switch (all hubs down).
//  - Failback: a hub better than the active one has answered every look for
//    health.failback_after seconds. One miss starts its count again from zero, so a hub
//    that answers every other look never takes the traffic back: no flapping.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace wgn {

class HubSelector {
public:
	HubSelector(int failures, double failback_after)
	    : failures_(failures), failback_after_(failback_after)
	{}

	struct Switch {
		size_t to = 0;
		bool failback = false; // false: failover
	};

	// One look at `now` (seconds, monotonic): which hub is active, and which answered
	// (by index, best first). Returns the switch to make, if any.
	std::optional<Switch> look(double now, size_t active, const std::vector<bool> &answered);
	// After a switch was made (or the tunnel was brought up again): the misses start
	// again; the answering streaks go on.
	void switched() { misses_ = 0; }
	int misses() const { return misses_; }
	// How long hub i has answered without a miss, at `now` (0 when it did not answer).
	double streak(size_t i, double now) const;

private:
	int failures_;
	double failback_after_;
	int misses_ = 0;
	std::vector<std::optional<double>> since_; // per hub: answering since
};

} // namespace wgn
