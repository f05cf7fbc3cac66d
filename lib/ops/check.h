// wgn health as an operation: one look at a tunnel (health.h's observe and evaluate),
// and with --repair the mending of what it found (repair_health), bringing a tunnel up
// through ops::up. It returns what it saw and did (CheckOutcome) and prints nothing: the
// formats (human, json, nagios, prometheus) are health.h's and `wgn health` prints them;
// `watch` runs it every loop.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "config.h"
#include "error.h"
#include "health.h"
#include "http.h"
#include "up.h"

namespace wgn::ops {

struct CheckOptions {
	std::optional<std::string> config_dir; // resolves a NAME target (config.h)
	std::optional<double> stale_after;     // overrides health.stale_handshake
	bool repair = false;
	UpOptions up; // how --repair runs `up`
	// --report: post the result to the control plane (health_report.h), once.
	bool report = false;
	HttpTransport *report_transport = nullptr; // default: CurlTransport (tests: a fake)
};

struct CheckOutcome {
	// The state to report: after the repair when the repair changed something, else
	// the one look. unknown (with its reason) when the config could not be loaded.
	HealthResult result;
	std::optional<HealthResult> before; // the look before a repair that changed something
	std::vector<std::string> repairs;   // what --repair did or tried, one line each
	bool repair_changed = false;
	// The `up` that --repair ran, when it ran one. If it failed, its error comes before
	// the repair lines when told; if a signal ended it (up->signal), nothing was looked
	// at after it.
	std::optional<UpOutcome> up;
	// --report: why the report was not sent (one sentence), nullopt when it was or none
	// was asked for. report_unconfigured: because the config has no [control_plane] or
	// is a hub's (health --all says nothing about those).
	std::optional<std::string> report_error;
	bool report_unconfigured = false;
};

// The effects of --repair on the system: bring_up loads the config again with its keys
// (a check loads none: a monitoring user need not read the private key) and runs
// ops::up with up_fx; the up's outcome is kept in last_up. A config that cannot be
// loaded is an UpOutcome whose error says why.
class UpRepairs final : public HealthRepairs {
public:
	using Loader = std::function<Result<Config>(const Config &checked)>;
	// load default: load_config(checked.path) with its key files.
	explicit UpRepairs(UpEffects &up_fx, UpOptions opt = {}, Loader load = {});

	Status bring_up(const Config &cfg, const std::string &config_name) override;
	Result<SockAddr> resolve(const Endpoint &ep) override; // as `up` resolves it
	Status set_endpoint(const std::string &ifname, const Key &peer,
	                    const SockAddr &ep) override;
	Status switch_hub(const Config &cfg, size_t to) override; // ops::failover

	std::optional<UpOutcome> last_up;

private:
	UpEffects &up_fx_;
	UpOptions opt_;
	Loader load_;
};

// One look at the tunnel of target (NAME or FILE, as the command line has it) and, with
// opt.repair, the repair and a second look when it changed something.
CheckOutcome check(const std::string &target, const CheckOptions &opt, HealthSensors &sensors,
                   UpRepairs &repairs);
// The same on the system (system_up_effects() for the repair).
CheckOutcome check(const std::string &target, const CheckOptions &opt, HealthSensors &sensors);
// The same for a config already loaded (with or without its keys: a repair loads it
// again through `repairs`); config_name is what the outputs call it. For loops such as
// `watch` that hold the config.
CheckOutcome check(const Config &cfg, const std::string &config_name, const CheckOptions &opt,
                   HealthSensors &sensors, UpRepairs &repairs);

// The sensors of the system: every call a read, one rtnetlink socket for the run.
std::unique_ptr<HealthSensors> system_health_sensors();

// The configs `health --all` checks: every DIR/*.toml, sorted; one that is not a regular
// file is listed too, so that its check says what it is.
// Errors: no_input when the directory cannot be read.
Result<std::vector<std::string>> list_configs(const std::filesystem::path &dir);

// A result that says the check could not run (unknown), for a target that failed
// before any look.
HealthResult unknown_health(const std::string &config, const std::string &ifname,
                            const std::string &why, double stale_after);

// DIR/wgn_NAME.prom for node_exporter's textfile collector, written atomically (0644).
// Errors: cant_create.
Status write_health_textfile(const std::filesystem::path &dir, const HealthResult &r);

} // namespace wgn::ops
