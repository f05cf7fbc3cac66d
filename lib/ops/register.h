// wgn register as an operation: register (or re-register) this node with the control
// plane, as registry.h's register_node does it (request, token, retries, state file),
// plus what a report of it needs. Prints no result; the retries' progress lines go
// through log.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "config.h"
#include "error.h"
#include "registry.h"

namespace wgn::ops {

struct RegisterOutcome {
	std::string interface;
	std::optional<RegistrationOutcome> registration; // on success
	std::optional<Error> error; // config (78) without [control_plane], registry.h's codes
	int attempts = 0;           // requests sent
	// The node_id of the registration state, when it failed (what is still known).
	std::optional<std::string> known_node_id;
	int64_t connected_at = 0; // of the tunnel's run state; 0 when it is not up
	bool success() const { return !error; }
};

RegisterOutcome register_node(const Config &cfg, RegistrationIo io = {});

} // namespace wgn::ops
