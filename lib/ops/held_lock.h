// The interface's lock as `up` and `rotate` hold it on the real system: waiting for it
// ends at SIGINT or SIGTERM (SignalWatch), as their retries do.
#pragma once

#include <optional>
#include <string>

#include "dataplane.h"
#include "lock.h"

namespace wgn::ops {

class HeldLock {
public:
	Status take(const std::string &ifname)
	{
		SignalWatch::install();
		auto l = InterfaceLock::acquire(ifname, SignalWatch::fd());
		if (!l)
			return l.error();
		lock_.emplace(std::move(*l));
		return Ok{};
	}
	void release() { lock_.reset(); }

private:
	std::optional<InterfaceLock> lock_;
};

} // namespace wgn::ops
