// wgn rotate as an operation (SPEC "Key rotation"): a new key for a running node, taken
// by the control plane and the hubs in step, never leaving the node without a key that
// the hubs accept. It returns what happened (RotateOutcome) and prints no result.
//
// The new private key waits in the pending key file, private_key_file + ".new" (0600),
// until the rotation is verified. That file is the whole of a rotation's state: a
// rotation killed at any point leaves it behind, and the next `rotate` finishes it with
// the same key, and so does `up` (settle_pending_key): the control plane decides.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "config.h"
#include "connect.h"
#include "device.h"
#include "error.h"
#include "registry.h"

namespace wgn::ops {

// The steps, in order (RotateOutcome::reached, the JSON's step).
enum class RotateStep {
	none,
	locked,      // the interface lock is held
	key_written, // the new key is in the pending key file
	registered,  // the control plane has the new key
	switched,    // the interface has the new key
	verified,    // the active hub answered through the new key
	committed,   // the key file holds the new key, the pending file is gone
};
// "none", "locked", "key_written", "registered", "switched", "verified", "committed".
const char *rotate_step_name(RotateStep s);

struct RotateOutcome {
	std::string interface;
	std::string old_public_key; // base64
	std::string new_public_key; // base64; "" when none was made
	std::optional<std::string> node_id;
	RotateStep reached = RotateStep::none; // the last step done
	bool resumed = false;      // the pending key of an interrupted rotation was used
	std::optional<size_t> hub; // several hubs: the index of the active hub (verified)
	int attempts = 0;          // verification attempts
	int max_attempts = 0;
	std::optional<double> rtt; // seconds, of the answer that counted
	double seconds = 0;        // the whole rotation, from the lock on
	// Why it failed (its category is the exit code).
	std::optional<Error> error;
	bool rolled_back = false;        // the old key is back on the interface
	bool reregistered = false;       // the control plane has the old key again
	bool pending_kept = false;       // the pending key file stays for `up`/`rotate` to settle
	std::optional<Error> undo_error; // what went wrong while undoing
	int signal = 0;                  // SIGINT/SIGTERM that ended it
	bool success() const { return !error; }
};

// Everything rotate touches, so that its flow is tested with fakes.
class RotateEffects {
public:
	virtual ~RotateEffects() = default;
	virtual bool has_cap_net_admin() = 0;
	// The per-interface lock (lock.h), held until unlock(); the system's installs
	// SignalWatch first.
	virtual Status lock(const std::string &ifname) = 0;
	virtual void unlock() = 0;
	// The pending key: nullopt when there is no such file; an error when it is there
	// but unreadable, not a key, or readable by group or others. The system's first
	// removes the temps of p whose writer no longer runs (remove_dead_temps).
	virtual Result<std::optional<SecretKey>>
	read_pending_key(const std::filesystem::path &p) = 0;
	// The key in private_key_file now, when it is not cfg's: the config was loaded
	// before the lock, and a rotate that held it meanwhile replaced the file. nullopt:
	// the same key (the fakes' default: nothing changed). Errors as the config loader's.
	virtual Result<std::optional<SecretKey>> newer_key(const Config &)
	{
		return std::optional<SecretKey>();
	}
	virtual Result<SecretKey> generate_key() = 0;
	// Atomically, 0600 (temp file, fsync, rename, fsync of the directory).
	virtual Status write_pending_key(const std::filesystem::path &p, const SecretKey &k) = 0;
	virtual Status remove_pending_key(const std::filesystem::path &p) = 0;
	// rename(pending, key), then fsync of the directory.
	virtual Status commit_key(const std::filesystem::path &pending,
	                          const std::filesystem::path &key) = 0;
	// registry.h's register_key_change.
	virtual Result<RegistrationOutcome> register_key(const Config &with_new_key,
	                                                 const Key &previous) = 0;
	// The interface's WireGuard device, through its own backend (kernel or UAPI).
	virtual Result<DeviceState> get_device(const std::string &ifname) = 0;
	virtual Status set_device(const std::string &ifname, const DeviceConfig &dc) = 0;
	// One look through the interface at hub `hub` of cfg (an index in cfg.hubs, 0 with
	// one hub): an echo to its tunnel address, else a handshake newer than
	// handshake_after. unavailable: no answer in time.
	virtual Result<double> probe(const Config &cfg, size_t hub, double timeout,
	                             int64_t handshake_after) = 0;
	// The run state of a tunnel up with the old key, recorded for the new one (so that
	// `up` finds it "already up with this configuration"). Failures are said, not fatal.
	virtual void record_new_key(const Config &with_new_key) = 0;
	// After each step: the order the unit tests check. The system's does nothing (the
	// kill -9 tests find each step by its system calls, with strace).
	virtual void checkpoint(RotateStep s) = 0;
	virtual int signal() = 0;
	virtual double now() = 0;               // monotonic seconds
	virtual int64_t wall_now() = 0;         // epoch seconds
	virtual bool sleep(double seconds) = 0; // false when a signal cut it short
	virtual double jitter_unit() = 0;
};

std::unique_ptr<RotateEffects> system_rotate_effects();

// private_key_file + ".new".
std::filesystem::path pending_key_path(const Config &cfg);

// The flow:
//  1. private_key_file and [control_plane] (else config, 78), a node's config (a hub's
//     own: 78), CAP_NET_ADMIN (77), the lock, the key file read again (a rotate that
//     held the lock meanwhile replaced it: cfg takes its key), the device (not up:
//     unavailable, 69).
//  2. The new key: the pending key file's when there is one (an interrupted rotation:
//     resumed), else a new one written there (0600, atomic).
//  3. Registered with previous_public_key = the old key and the node's token. A
//     refusal (4xx) removes the pending key; no answer (75) keeps it: the control plane
//     may have taken it, and `up`/`rotate` settle it once it answers.
//  4. With a tunnel address: the active hub is looked at through the old key every
//     0.1 s until it stops answering (its sync replaced the peer), for at most half of
//     connect.timeout; then the interface gets the new key and the hubs' peers are
//     re-created in the same request (so that the handshake starts at once).
//  5. Verified through the active hub with [connect]'s retries (each retry re-creates
//     the peers again), all within connect.timeout from the lock on. Failure: 69.
//  6. The pending key file renamed over the key file (fsync), the run state recorded,
//     cfg holds the new key (the old key's bytes overwritten).
// Failure after 3.: the old key back on the interface, registered again with
// previous_public_key = the new one; the pending key file removed when that worked,
// kept when it did not (the control plane may still have the new key).
RotateOutcome rotate(Config &cfg, RotateEffects &fx);
RotateOutcome rotate(Config &cfg);

// What settle_pending_key found.
struct PendingKey {
	// The control plane took the pending key (also when it had it already), and the
	// pending file replaced the key file: the config to bring up, with the new key.
	std::optional<Config> taken;
	// The control plane did not answer: the config with the pending key. A rotation
	// killed after its registration has hubs that answer only this key, so `up` tries
	// it when the hub does not answer the key file's, and adopt_pending_key()s it once
	// a hub answered it.
	std::optional<Config> unanswered;
};

// What `up` does first under its lock: reads the key file again (a rotate that held the
// lock while up waited replaced it: taken is the config with its key, unless the
// pending key below is taken), and when it finds a pending key (a rotation that was
// killed): asks the control plane to take the new key with previous_public_key = the
// old one. Taken: the pending file replaces the key file (taken). Refused (409, 4xx):
// the pending file is removed, nothing returned. No answer: the file stays (unanswered).
// *note says what was done, for progress.
PendingKey settle_pending_key(const Config &cfg, RotateEffects &fx, std::string *note);

// The pending key answered by a hub while the control plane did not: the rotation is
// finished without it (the hub learnt the key from the control plane, which has it).
// The pending file renamed over the key file, then an fsync of the directory.
Status adopt_pending_key(const Config &cfg, RotateEffects &fx);

} // namespace wgn::ops
