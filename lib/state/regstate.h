// What the node knows about its registration: $WGN_STATE_DIR/IFACE.json. No secrets.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "error.h"

namespace wgn {

struct RegistrationState {
	std::string interface;
	std::string node_id;
	std::string registered_at;
	std::string control_plane_url;
	// The key of the content last registered successfully: `up` compares it with the
	// key of the current content to know whether to register again.
	std::string idempotency_key;
};

std::filesystem::path registration_state_path(const std::string &ifname);
// Empty when there is none or it cannot be read or parsed (treated as never
// registered: the next registration rewrites it).
std::optional<RegistrationState> load_registration(const std::string &ifname);
// Atomic (temp file, fsync, rename). Errors: cant_create (73).
Status save_registration(const RegistrationState &s);

} // namespace wgn
