// wgn up as an operation: bring the tunnel of one config up, prove that it carries
// traffic (with retries), undo this run's changes on failure or signal, write the run
// state, register. It returns what happened (UpOutcome) and prints no result: `wgn up`
// prints it, `health --repair`, `watch`, `enroll --up` and `rotate` compose it.
//
// What it says on stderr on its own, through log.h: the "[#]" effects (-v), one line
// per failed attempt (connect.h), the registration's retries (registry.h), and one line
// once the tunnel is verified or found up:
//   wgn: wg0 is up (created, userspace); hub 10.0.0.1 answered in 0.6 ms, attempt 1/6
//   wgn: wg0 is already up with this configuration
// Errors, the interruption notice and the registration failure are the caller's to say
// (the outcome holds them).
//
// Signals: the system effects install SignalWatch (dataplane.h); SIGINT/SIGTERM during
// the run roll it back, and outcome.signal says which came. Dying of it (reraise) is
// the caller's choice.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config.h"
#include "connect.h"
#include "dataplane.h"
#include "error.h"
#include "plan.h"
#include "registry.h"
#include "regstate.h"
#include "rotate.h"
#include "runstate.h"

namespace wgn::ops {

enum class UpChange {
	unchanged,  // the device was already as the config says
	created,    // this run created the interface
	reconciled, // this run changed an existing interface in place
};
// "unchanged", "created", "reconciled" (the `change` of `up --json`).
const char *up_change_name(UpChange c);

struct UpOptions {
	bool register_node = true; // false: --no-register
};

struct UpOutcome {
	std::string interface;
	// The tunnel is up: verified by this run, or found up with this configuration and
	// recorded by a finished `up` (run state). Registration may still have failed.
	bool tunnel_up = false;
	UpChange change = UpChange::unchanged;
	// This run proved that the tunnel carries traffic (false for a recorded no-op).
	bool verified = false;
	std::string backend;  // "kernel" | "userspace"; "" when not decided yet
	std::string endpoint; // the hub endpoint as resolved, "" when it did not resolve
	// Several hubs: the index in cfg.hubs of the active hub (the best that answered).
	std::optional<size_t> hub;
	int attempts = 0;          // verification attempts made (of the key that answered)
	int max_attempts = 0;      // connect.max_retries + 1
	std::optional<double> rtt; // seconds, of the answer that counted
	int64_t connected_at = 0;  // epoch seconds (run state), 0 when not up
	// Why the tunnel is not up (its category is the exit code of `wgn up`).
	std::optional<Error> error;
	bool rolled_back = false; // this run's changes were undone after the failure
	// The failure removed a tunnel that a killed `up` had left unverified (up(), 2.).
	bool removed_unfinished = false;
	// SIGINT/SIGTERM that ended the run (0: none).
	int signal = 0;
	// A killed rotation's pending key, unsettled (no control plane), was the one the hub
	// answered: the tunnel runs on it, and it replaced the key file (up(), 3.).
	bool pending_key_adopted = false;

	// Registration, after a verified tunnel.
	std::optional<std::string> node_id; // known or just given
	bool registered = false;            // this run registered successfully
	std::optional<RegistrationOutcome> registration;
	std::optional<Error> registration_error; // the tunnel stays up

	// Tunnel up and no registration failed.
	bool success() const { return tunnel_up && !registration_error; }
	// The error that decides the exit code: the tunnel's, else the registration's,
	// else null.
	const Error *failure() const
	{
		return error ? &*error : registration_error ? &*registration_error : nullptr;
	}
};

// Everything `up` touches, so that its flow is tested with fakes. The system's is
// system_up_effects(); a test's holds fakes of LinkControl, DaemonControl,
// WireGuardControl and ConnectEnv.
class UpEffects {
public:
	virtual ~UpEffects() = default;
	virtual bool has_cap_net_admin() = 0;
	// The per-interface lock (lock.h), held until unlock() or the effects die. The
	// system's installs SignalWatch first, and a signal ends the wait.
	virtual Status lock(const std::string &ifname) = 0;
	virtual void unlock() = 0;
	virtual Result<LinkObservation> observe(const std::string &ifname) = 0;
	// make_plan_context (connect.h).
	virtual Result<PlanContext> plan_context(const Config &cfg, const LinkObservation &obs) = 0;
	// What the executor runs on, for a device of this backend; valid until the next call.
	virtual Effects executor_effects(bool userspace) = 0;
	// The retry loop's effects: verify through the interface, point the hub peer at a
	// re-resolved endpoint through ex (so that a rollback restores it).
	// handshake_after: a handshake counts only when newer (epoch seconds).
	virtual std::unique_ptr<ConnectEnv> connect_env(const Config &cfg, Executor &ex,
	                                                WireGuardControl &wg,
	                                                std::optional<SockAddr> current,
	                                                int64_t handshake_after) = 0;
	virtual Result<std::optional<RunState>> read_run_state(const std::string &ifname) = 0;
	virtual Status write_run_state(const RunState &rs) = 0;
	virtual std::optional<RegistrationState> load_registration(const std::string &ifname) = 0;
	virtual bool registration_is_current(const Config &cfg) = 0;
	virtual Result<RegistrationOutcome> register_node(const Config &cfg) = 0;
	// A rotation killed half-way (a pending key file, rotate.h): settle_pending_key
	// under the lock.
	virtual PendingKey finish_rotation(const Config &) { return {}; }
	// The pending key that the control plane did not settle was answered by a hub:
	// rotate.h's adopt_pending_key (the pending file renamed over the key file).
	virtual Status adopt_pending_key(const Config &cfg)
	{
		return make_error(Errc::software, cfg.interface.name + ": no pending key here");
	}
	virtual int signal() = 0;       // the SIGINT/SIGTERM that came, 0 for none
	virtual double now() = 0;       // monotonic seconds
	virtual int64_t wall_now() = 0; // seconds since the epoch
};

std::unique_ptr<UpEffects> system_up_effects();

// The flow, in order:
//  1. CAP_NET_ADMIN (else no_perm), the interface lock, an interrupted rotation settled
//     (finish_rotation: the new key when the control plane took it; a pending key it
//     did not answer for is kept aside for 5.), a look at the link (a link of another
//     kind: os), backend/endpoint/MTU (make_plan_context), the run state.
//  2. The plan (plan.h). Nothing to change and a run state of this configuration
//     (a finished `up`): a no-op, change unchanged, not verified; registers when the
//     current content is not registered yet. Not with a pending key kept aside: the
//     hubs may answer only that key, so the tunnel is verified.
//     Nothing to change but no run state, or one of another configuration (an `up`
//     that was killed before it finished): verified as below, change unchanged; when
//     verification fails, a tunnel without any run state is removed (it is the
//     unfinished work of a killed `up`), one with a run state is left as found.
//  3. Otherwise the plan runs through the executor (change created or reconciled), then
//     verification with connect.max_retries, backoff and connect.timeout overall.
//     Any failure or signal rolls back (rolled_back); a failed reconcile says "the
//     previous configuration is restored" in its error.
//  4. Verified: the run state is written (its failure rolls back too), progress says
//     "NAME is up (...)", then registration (unless opt.register_node is false or the
//     config has no [control_plane]); its failure leaves the tunnel up.
//  5. A pending key kept aside: the key file's key is verified within the first half of
//     connect.timeout. When the hub does not answer it (not for a signal or another
//     error), the interface gets the pending key with the hubs' peers re-created, in
//     one request through the executor (a rollback puts the old key back), verified
//     within the rest. Answered: adopt_pending_key (a failure is said, the tunnel stays
//     on the key that works), pending_key_adopted, the run state of the new key's
//     config, and registration only when the stored one is not of this content.
UpOutcome up(const Config &cfg, const UpOptions &opt, UpEffects &fx);
// The same on the system.
UpOutcome up(const Config &cfg, const UpOptions &opt = {});

// `up --dry-run`: the plan against the system as it is, changing nothing and needing
// no privilege beyond reading the config.
struct UpPreview {
	std::vector<Operation> ops;
	bool noop = false;                // nothing to do: the tunnel is up as configured
	std::vector<std::string> notices; // what could not be looked at, one sentence each
	std::optional<Error> error;       // the plan could not be made
};
UpPreview preview_up(const Config &cfg);

} // namespace wgn::ops
