// wgn down as an operation: remove the interface, stop the userspace daemon that serves
// it, remove the run state. Idempotent: nothing to remove is a success (was_up false).
// It prints no result: `wgn down` does; the "[#]" effects (-v) and "NAME is down" go
// through log.h. A signal interrupts nothing (removing halfway is worse than finishing).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config.h"
#include "error.h"
#include "plan.h"
#include "runstate.h"

namespace wgn::ops {

struct DownOutcome {
	std::string interface;
	bool was_up = false;  // the link was there (true after a failure: nothing is known)
	bool changed = false; // something was removed (false: "not up", nothing to do)
	std::optional<RunState> run_state; // as found before removing it (connected_at, backend)
	std::optional<Error> error;        // why not all of it could be removed
	bool success() const { return !error; }
};

// Needs CAP_NET_ADMIN (else no_perm). A link of another kind is left alone (os). The
// daemon of a link deleted by hand is still stopped (by the run state's pid).
DownOutcome down(const Config &cfg);

// `down --dry-run`: what down would do, changing nothing.
struct DownPreview {
	std::vector<Operation> ops;       // empty: not up, nothing to do
	std::vector<std::string> notices; // what could not be looked at
};
DownPreview preview_down(const Config &cfg);

} // namespace wgn::ops
