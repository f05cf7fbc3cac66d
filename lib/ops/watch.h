// wgn watch as an operation: `up`, then a loop of cheap looks at the tunnel every
// health.interval, mending what it finds, until SIGTERM or SIGINT; the tunnel stays up.
// It composes ops::up and the health check (check.h) and prints no result: `wgn watch`
// maps the outcome to an exit code. Progress (log.h): a line when the status changes,
// one per bring-up and repair, one per reload.
//
// One loop:
//  1. A look (observe_health through CounterSensors: the echo is skipped while the
//     hub's counters prove it alive).
//  2. The tunnel is gone (no link, link down, not WireGuard, no hub peer): `up` again,
//     and after a failed bring-up the next one waits [connect]'s backoff (jittered),
//     growing with each failure; looks go on meanwhile.
//     The hub does not answer: a miss; after health.failures misses in a row the hub's
//     endpoint is re-resolved (repair_health).
//     Several hubs (every look echoes every hub at once): HubSelector decides. After
//     health.failures misses of the active hub, failover to the best hub that answered
//     (ops::failover: one request, nothing recreated); a better hub that has answered
//     every look for health.failback_after seconds: failback. No hub answers: the
//     looks go on every interval, and the active hub's endpoint is re-resolved with
//     [connect]'s backoff (the first after health.failures misses).
//     Confirmation: after a look in which the active hub missed, and until it answers
//     or health.failures misses are counted, the next look starts min(interval,
//     ping_timeout) after the previous one began (at once after an echo that timed
//     out), not an interval later: a hub that went silent is given up after about
//     failures x ping_timeout seconds of silence, counted from the first miss.
//  3. The metrics to health.textfile_dir when set; the health report to the control
//     plane when [control_plane] is set (sent on a thread of its own: a control plane
//     that is slow or away never delays a failover); STATUS= (the human line of health
//     and what the loop is doing) and WATCHDOG=1 to the service manager.
//  4. A wait until the next interval, cut short by a signal: SIGHUP reloads the config
//     and reconciles in place with `up` (a config that does not load, or an up that
//     fails and rolls back, keeps the previous one); SIGTERM/SIGINT end the watch.
//     With a watchdog, WATCHDOG=1 also every half watchdog interval while waiting.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config.h"
#include "error.h"
#include "failover.h"
#include "health.h"
#include "up.h"

namespace wgn::ops {

// Sensors that save the echo: a look whose hub peer handshook within stale_handshake
// and whose rx counter grew since the previous look has heard the hub (rx counts only
// authenticated packets), so the echo would prove nothing more. After an answered echo
// the counter is read again, so that the echo's own reply does not count as traffic
// at the next look. Between echoes the observation carries the last echo's answer.
class CounterSensors final : public HealthSensors {
public:
	explicit CounterSensors(HealthSensors &inner) : in_(inner) {}
	// Before each look: what the hub peer is and how fresh its handshake must be.
	void prepare(const Config &cfg);
	// After each look: fills in the last echo's answer when this look skipped it.
	void finish(HealthObservation &o);
	int echoes = 0; // echoes sent, for the tests and the figures

	Result<std::optional<Link>> link(const std::string &ifname) override;
	Result<DeviceState> device(const std::string &ifname, std::string *backend) override;
	Result<double> ping(const std::string &ifname, const IpAddr &to, double timeout) override;
	std::vector<Result<double>>
	ping_all(const std::string &ifname, const std::vector<IpAddr> &to, double timeout) override;
	std::optional<int64_t> connected_at(const std::string &ifname) override;
	std::optional<std::string> node_id(const std::string &ifname) override;
	int64_t now() override;
	bool echo_needed(const HealthObservation &o) override;

private:
	HealthSensors &in_;
	Key hub_{};
	double stale_ = 180;
	std::optional<uint64_t> last_rx_; // the hub peer's rx at the previous look
	std::optional<double> last_rtt_;  // seconds, of the last answered echo
	bool skipped_ = false;
};

// Everything the loop touches, so that it is tested with a fake clock.
class WatchEffects {
public:
	virtual ~WatchEffects() = default;
	// SIGHUP: the config again, keys and all.
	virtual Result<Config> reload() = 0;
	virtual UpOutcome up(const Config &cfg) = 0;
	// One look (check.h without repair, through CounterSensors).
	virtual HealthResult look(const Config &cfg) = 0;
	// Re-resolves the hub endpoint of an unhealthy tunnel (repair_health's lines).
	virtual std::vector<std::string> repair(const Config &cfg, const HealthResult &r) = 0;
	// Several hubs: makes cfg.hubs[to] active (ops::failover).
	virtual FailoverOutcome switch_hub(const Config &cfg, size_t to) = 0;
	virtual Status write_textfile(const std::filesystem::path &dir, const HealthResult &r) = 0;
	// The loop's health report to the control plane (SPEC "Health reports"), asked for
	// every loop of a config with [control_plane]; it must not hold the loop up, and
	// says itself (on stderr) when reports stop and start reaching the control plane.
	virtual void report_health(const Config &cfg, const HealthResult &r) = 0;
	// One sd_notify datagram; errors are the effects' to say (once).
	virtual void notify(const std::string &state) = 0;
	virtual std::optional<double> watchdog_interval() = 0; // seconds, when asked for
	virtual double now() = 0;                              // monotonic seconds
	// Waits up to seconds, less when a signal comes. Returns the signals that came
	// since the last call as a mask of (1u << signo); 0: none. wait(0) only collects.
	virtual unsigned wait(double seconds) = 0;
	virtual double jitter_unit() = 0; // uniform in [0, 1)
};

struct WatchOutcome {
	// The first up, when it did not bring the tunnel up: `wgn watch` exits as `wgn up`.
	std::optional<UpOutcome> failed_up;
	int signal = 0; // the SIGTERM/SIGINT that ended the loop
	int loops = 0;
	int bring_ups = 0;                // ups after the first (link lost), successful or not
	int reloads = 0;                  // SIGHUPs whose config loaded
	int failovers = 0;                // switches to another hub because the active missed
	int failbacks = 0;                // switches back to a better hub that answers again
	std::optional<HealthResult> last; // the last look
};

// The config as loaded with its keys. Returns when a signal ends it or the first up fails.
WatchOutcome watch(Config cfg, WatchEffects &fx);

// The system's: reload() loads target (NAME or FILE) again; sd_notify from the
// environment (the variables are removed so that the daemon does not inherit them);
// health reports on a HealthReporter thread unless report is false (--no-report): a
// line on stderr when they stop reaching the control plane, one when they reach it
// again.
std::unique_ptr<WatchEffects> system_watch_effects(const std::string &target,
                                                   std::optional<std::string> config_dir,
                                                   UpOptions opt = {}, bool report = true);

// STATUS= of one loop: the human line of health, and the loop's note when it has one.
std::string watch_status_line(const HealthResult &r, const std::string &note);

} // namespace wgn::ops
