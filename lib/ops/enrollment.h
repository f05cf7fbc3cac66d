// wgn enroll as an operation: join with an enrollment token (cp/enroll.h), and with
// `--up` bring the tunnel of the config just written up (ops::up). It returns what
// happened and prints no result: `wgn enroll` prints it and picks the exit code.
//
// The enrollment stands whatever up does: its files are written before up runs and
// stay when up fails, so the administrator fixes the cause and runs `wgn up NAME`.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>

#include "config.h"
#include "enroll.h"
#include "error.h"
#include "up.h"

namespace wgn::ops {

struct EnrollUpOptions {
	EnrollOptions enroll;
	bool up = false;           // --up
	UpOptions up_options = {}; // registration after up (the node token)
	// Called once the files are written, before up runs (to say so while up works).
	std::function<void(const EnrollOutcome &)> on_enrolled;
};

struct EnrollUpOutcome {
	int attempts = 0; // enrollment requests made
	// The enrollment, when it succeeded (its files are written).
	std::optional<EnrollOutcome> enrolled;
	// Why nothing was enrolled (its category is the exit code).
	std::optional<Error> error;
	// With --up after a successful enrollment: what up did. A config written by this
	// enrollment that does not load is an up that failed with the loader's error.
	std::optional<UpOutcome> up;

	bool success() const { return enrolled && (!up || up->success()); }
};

// Everything enroll --up touches, so that the composition is tested with fakes.
class EnrollEffects {
public:
	virtual ~EnrollEffects() = default;
	virtual bool has_cap_net_admin() = 0;
	virtual Result<EnrollOutcome> enroll(const EnrollOptions &opt, int *attempts) = 0;
	virtual Result<Config> load_config(const std::filesystem::path &path) = 0;
	virtual UpOutcome up(const Config &cfg, const UpOptions &opt) = 0;
};

std::unique_ptr<EnrollEffects> system_enroll_effects();

// The flow:
//  1. With up: CAP_NET_ADMIN first (else no_perm, 77), before any request, so that a
//     token is not spent on a node that cannot come up here.
//  2. enroll_node (cp/enroll.h); its failure is error, and up does not run.
//  3. With up: the config just written is loaded as `wgn up NAME` would load it, and
//     ops::up runs on it (registering with the node token unless told not to).
EnrollUpOutcome enroll(const EnrollUpOptions &opt, EnrollEffects &fx);
// The same on the system.
EnrollUpOutcome enroll(const EnrollUpOptions &opt);

} // namespace wgn::ops
