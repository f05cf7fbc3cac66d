// The run state of a tunnel that `up` made: $WGN_RUN_DIR/NAME.json (default /run/wgn),
// read by `health` (uptime, backend) and `down` (the daemon to stop), removed by `down`.
// It holds no secret: the config fingerprint covers public fields only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <sys/types.h>

#include "config.h"
#include "error.h"

namespace wgn {

struct RunState {
	std::string interface;
	int64_t connected_at = 0;  // seconds since the epoch, when `up` first verified it
	int64_t reconciled_at = 0; // the last `up` that changed it in place; 0: never
	std::string backend;       // "kernel" or "userspace"
	std::optional<pid_t> daemon_pid;
	std::string daemon_program; // the userspace implementation, when there is one
	int attempts = 0;           // of the `up` that verified it last
	std::string config_path;
	std::string config_fingerprint; // config_fingerprint() of that config
	std::string endpoint;           // the hub endpoint as resolved then
	// Several hubs: the public key (base64) of the active one; "" with one hub.
	std::string active_hub;
};

std::filesystem::path run_state_path(const std::string &ifname);

// Atomic (temp file, fsync, rename), mode 0644: nothing in it is secret.
// Errors: cant_create (73).
Status write_run_state(const RunState &st);
// std::nullopt when there is none; an error (os) for a file that cannot be opened or
// read. A damaged one (not a regular file, over 1 MiB, not valid JSON, a field of the
// wrong type or range) is reported as absent with a complaint: a half-written file
// cannot happen (atomic writes), so it was edited by hand or by bad luck.
Result<std::optional<RunState>> read_run_state(const std::string &ifname);
// Removing a state that is not there succeeds. Errors: cant_create.
Status remove_run_state(const std::string &ifname);

std::string run_state_to_json(const RunState &st); // with connected_at_iso etc.
// std::nullopt for a damaged state: not JSON, or a field of the wrong type or out of
// range (a float where an integer belongs, a negative time); *why says which.
std::optional<RunState> run_state_from_json(const std::string &text);
std::optional<RunState> run_state_from_json(const std::string &text, std::string *why);

// Hex SHA-256 over the public parts of cfg (public key, addresses, ports, hub, MTU,
// backend), so that a changed config is recognised without storing a secret or a hash
// of one.
std::string config_fingerprint(const Config &cfg);

// ISO 8601 UTC, second precision: 2026-02-19T17:30:00Z.
std::string iso8601_utc(int64_t epoch_seconds);

} // namespace wgn
