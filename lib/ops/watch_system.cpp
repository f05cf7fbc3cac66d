// The effects of `wgn watch` on the system (watch.h).
#include <cerrno>
#include <cmath>
#include <csignal>
#include <ctime>

#include "backoff.h"
#include "check.h"
#include "dataplane.h"
#include "failover.h"
#include "health_report.h"
#include "log.h"
#include "sdnotify.h"
#include "watch.h"

namespace wgn::ops {

namespace {

class SystemWatchEffects final : public WatchEffects {
public:
	SystemWatchEffects(std::string target, std::optional<std::string> config_dir, UpOptions opt,
	                   bool report)
	    : target_(std::move(target)), config_dir_(std::move(config_dir)), opt_(opt),
	      report_(report), inner_(system_health_sensors()), sensors_(*inner_)
	{
		SignalWatch::install();
	}

	Result<Config> reload() override
	{
		auto path = resolve_config_path(target_, config_dir_);
		if (!path)
			return path.error();
		return load_config(*path);
	}
	UpOutcome up(const Config &cfg) override
	{
		auto fx = system_up_effects(); // its lock is let go when it dies
		return ops::up(cfg, opt_, *fx);
	}
	HealthResult look(const Config &cfg) override
	{
		sensors_.prepare(cfg);
		auto o = observe_health(cfg, target_, sensors_);
		sensors_.finish(o);
		return evaluate_result(std::move(o), cfg.health.stale_handshake);
	}
	std::vector<std::string> repair(const Config &cfg, const HealthResult &r) override
	{
		auto fx = system_up_effects();
		UpRepairs repairs(*fx, opt_);
		return repair_health(cfg, r, repairs);
	}
	FailoverOutcome switch_hub(const Config &cfg, size_t to) override
	{
		return failover(cfg, to);
	}
	Status write_textfile(const std::filesystem::path &dir, const HealthResult &r) override
	{
		return write_health_textfile(dir, r);
	}
	void report_health(const Config &cfg, const HealthResult &r) override
	{
		if (!report_)
			return;
		// The thread starts with the first report: a watch without [control_plane]
		// stays one thread.
		if (!reporter_)
			reporter_ = std::make_unique<HealthReporter>(
			        [this](const Status &st) { reported(st); });
		reporter_->post(cfg, r);
	}
	void notify(const std::string &state) override { notifier_.notify(state); }
	std::optional<double> watchdog_interval() override { return notifier_.watchdog_interval(); }
	double now() override
	{
		timespec ts{};
		clock_gettime(CLOCK_MONOTONIC, &ts);
		return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
	}
	unsigned wait(double seconds) override { return SignalWatch::wait(seconds); }
	double jitter_unit() override { return jitter_.next(); }

private:
	// On the reporter's thread: a report every loop would be a line every loop, so
	// only a change is said: reports failing (with the first failure's reason), and
	// reports arriving again.
	void reported(const Status &st)
	{
		if (st) {
			if (report_failing_)
				progress(cfg_name() +
				         ": health reports reach the control plane again");
			report_failing_ = false;
			return;
		}
		if (!report_failing_)
			complain(st.error().message + " (said once; sent again every loop)");
		report_failing_ = true;
	}
	std::string cfg_name() const { return std::filesystem::path(target_).stem().string(); }

	std::string target_;
	std::optional<std::string> config_dir_;
	UpOptions opt_;
	bool report_;
	std::unique_ptr<HealthSensors> inner_;
	CounterSensors sensors_;
	ServiceNotifier notifier_;
	Jitter jitter_;
	bool report_failing_ = false; // the reporter thread's only
	// Last: destroyed first, so that its thread ends before what it calls back into.
	std::unique_ptr<HealthReporter> reporter_;
};

} // namespace

std::unique_ptr<WatchEffects> system_watch_effects(const std::string &target,
                                                   std::optional<std::string> config_dir,
                                                   UpOptions opt, bool report)
{
	return std::make_unique<SystemWatchEffects>(target, std::move(config_dir), opt, report);
}

} // namespace wgn::ops
