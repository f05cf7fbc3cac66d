// The loop of `wgn watch` (watch.h); its effects on the system are in watch_system.cpp.
#include "watch.h"

#include <algorithm>
#include <csignal>
#include <cstdint>

#include "backoff.h"
#include "hub_selector.h"
#include "log.h"

namespace wgn::ops {

// --- CounterSensors ---

void CounterSensors::prepare(const Config &cfg)
{
	hub_ = cfg.hub.public_key;
	stale_ = cfg.health.stale_handshake;
	skipped_ = false;
}

void CounterSensors::finish(HealthObservation &o)
{
	if (!skipped_ || !last_rtt_)
		return;
	o.ping_answered = true;
	o.rtt_ms = *last_rtt_ * 1000;
}

Result<std::optional<HealthSensors::Link>> CounterSensors::link(const std::string &ifname)
{
	return in_.link(ifname);
}

Result<DeviceState> CounterSensors::device(const std::string &ifname, std::string *backend)
{
	return in_.device(ifname, backend);
}

Result<double> CounterSensors::ping(const std::string &ifname, const IpAddr &to, double timeout)
{
	++echoes;
	auto rtt = in_.ping(ifname, to, timeout);
	last_rtt_.reset();
	if (!rtt)
		return rtt;
	last_rtt_ = *rtt;
	// The reply is in rx now: take it into the baseline, so that only traffic after
	// this echo spares the next one.
	std::string backend;
	if (auto dev = in_.device(ifname, &backend))
		for (auto &p : dev->peers)
			if (p.public_key == hub_)
				last_rx_ = p.rx_bytes;
	return rtt;
}

std::vector<Result<double>> CounterSensors::ping_all(const std::string &ifname,
                                                     const std::vector<IpAddr> &to, double timeout)
{
	echoes += static_cast<int>(to.size());
	return in_.ping_all(ifname, to, timeout);
}

std::optional<int64_t> CounterSensors::connected_at(const std::string &ifname)
{
	return in_.connected_at(ifname);
}

std::optional<std::string> CounterSensors::node_id(const std::string &ifname)
{
	return in_.node_id(ifname);
}

int64_t CounterSensors::now()
{
	return in_.now();
}

bool CounterSensors::echo_needed(const HealthObservation &o)
{
	bool heard = o.hub_peer && o.handshake_age &&
	             static_cast<double>(*o.handshake_age) <= stale_ && last_rx_ &&
	             o.rx_bytes > *last_rx_;
	last_rx_ = o.hub_peer ? std::optional<uint64_t>(o.rx_bytes) : std::nullopt;
	skipped_ = heard && last_rtt_.has_value();
	// Without an answered echo yet there is no answer to carry: echo once.
	return !skipped_;
}

// --- the loop ---

std::string watch_status_line(const HealthResult &r, const std::string &note)
{
	auto line = format_health_human({r});
	while (!line.empty() && line.back() == '\n')
		line.pop_back();
	if (!note.empty())
		line += "; " + note;
	return line;
}

namespace {

constexpr unsigned bit(int sig)
{
	return 1u << sig;
}
constexpr unsigned kStop = bit(SIGTERM) | bit(SIGINT);

// The tunnel is not there to look at: `up` mends it (as repair_health decides).
bool needs_up(const HealthResult &r)
{
	const auto &o = r.obs;
	return r.status == HealthStatus::disconnected ||
	       (r.status == HealthStatus::unhealthy &&
	        (!o.link_up || !o.device_read || !o.hub_peer));
}

int stop_signal(unsigned mask)
{
	return (mask & bit(SIGTERM)) ? SIGTERM : SIGINT;
}

class Loop {
public:
	Loop(Config cfg, WatchEffects &fx) : cfg_(std::move(cfg)), fx_(fx) {}

	WatchOutcome run()
	{
		auto first = fx_.up(cfg_);
		// A SIGHUP that interrupted the first up asks for the new config, not an end.
		// (Other signals are left untaken: `wgn watch` dies of them as `wgn up` does.)
		while (!first.tunnel_up && first.signal == SIGHUP) {
			pending_ |= fx_.wait(0);
			if (pending_ & kStop)
				break;
			pending_ &= ~bit(SIGHUP);
			if (auto c = fx_.reload())
				cfg_ = std::move(*c);
			first = fx_.up(cfg_);
		}
		if (!first.tunnel_up) {
			out_.failed_up = first;
			return out_;
		}
		if (first.registration_error)
			complain(cfg_.interface.name +
			         ": registration failed: " + first.registration_error->message +
			         "; watching the tunnel anyway");

		double began = fx_.now();
		std::string note = look_and_mend();
		report(note, true);
		double next =
		        confirming() ? began + confirm_period() : fx_.now() + cfg_.health.interval;
		for (;;) {
			auto woke = wait_until(next);
			if (woke == Woke::stop)
				return out_;
			began = fx_.now();
			note = look_and_mend();
			report(note, false);
			double now = fx_.now();
			if (confirming()) {
				// A miss is confirmed at once, not an interval later.
				next = began + confirm_period();
				continue;
			}
			// After a reload the schedule starts again from its look; after a long
			// bring-up the next look is one interval away, not a burst to catch up.
			next = woke == Woke::reloaded ? now : next;
			next += cfg_.health.interval;
			if (next <= now)
				next = now + cfg_.health.interval;
		}
	}

private:
	enum class Woke { tick, reloaded, stop };

	// The active hub missed the last look, and not yet health.failures looks in a row:
	// the next look confirms the miss (or clears it) without waiting an interval.
	bool confirming() const { return misses_ > 0 && misses_ < cfg_.health.failures; }
	// From the start of one confirming look to the next: a missed echo has already
	// waited ping_timeout, so the next look follows at once; a look that failed at once
	// (an echo refused on the way out) still leaves ping_timeout between the two.
	double confirm_period() const
	{
		return std::min(cfg_.health.interval, cfg_.health.ping_timeout);
	}

	// Waits for the next loop, sending WATCHDOG=1 on the way and handling SIGHUP.
	Woke wait_until(double next)
	{
		auto wd = fx_.watchdog_interval();
		for (;;) {
			if (pending_ & kStop) {
				out_.signal = stop_signal(pending_);
				return Woke::stop;
			}
			if (pending_ & bit(SIGHUP)) {
				pending_ &= ~bit(SIGHUP);
				reload();
				return Woke::reloaded; // look at once at what the reload made
			}
			double left = next - fx_.now();
			if (left <= 0)
				return Woke::tick;
			double chunk = wd ? std::min(left, *wd / 2) : left;
			pending_ |= fx_.wait(chunk);
			if (wd && !pending_ && fx_.now() < next)
				fx_.notify("WATCHDOG=1");
		}
	}

	void reload()
	{
		// MONOTONIC_USEC: systemd (253+) asks for it with RELOADING=1.
		fx_.notify("RELOADING=1\nMONOTONIC_USEC=" +
		           std::to_string(static_cast<uint64_t>(fx_.now() * 1e6)));
		auto c = fx_.reload();
		if (!c) {
			complain(c.error().message + "; keeping the configuration in use");
			fx_.notify("READY=1");
			return;
		}
		++out_.reloads;
		progress(c->interface.name + ": configuration reloaded; reconciling");
		auto u = fx_.up(*c);
		pending_ |= fx_.wait(0);
		if (u.tunnel_up) {
			cfg_ = std::move(*c);
			misses_ = 0;
			selector_ = HubSelector(cfg_.health.failures, cfg_.health.failback_after);
		} else if (auto *e = u.failure()) {
			complain(cfg_.interface.name +
			         ": the reloaded configuration did not come up: " + e->message);
		}
		if (u.tunnel_up && u.registration_error)
			complain(cfg_.interface.name +
			         ": registration failed: " + u.registration_error->message);
		fx_.notify("READY=1");
	}

	// One look and what it asks for; returns the note for STATUS=.
	std::string look_and_mend()
	{
		++out_.loops;
		auto r = fx_.look(cfg_);
		std::string note;
		const std::string &dev = cfg_.interface.name;
		if (needs_up(r)) {
			misses_ = 0;
			double now = fx_.now();
			if (now < next_up_at_)
				return "next bring-up in " + format_seconds(next_up_at_ - now) +
				       "s";
			pending_ |= fx_.wait(0);
			if (pending_)
				return "bring-up deferred: a signal came"; // handled before it
			progress(dev + ": " + health_reason(r) + "; bringing the tunnel up again");
			++out_.bring_ups;
			auto u = fx_.up(cfg_);
			pending_ |= fx_.wait(0);
			if (u.tunnel_up) {
				up_failures_ = 0;
				next_up_at_ = 0;
				selector_.switched();
				r = fx_.look(cfg_);
				note = "brought up again";
			} else {
				BackoffPolicy b;
				b.initial = cfg_.connect.initial_backoff;
				b.max = cfg_.connect.max_backoff;
				double d = b.delay(up_failures_++, fx_.jitter_unit());
				next_up_at_ = fx_.now() + d;
				std::string why = u.error ? u.error->message : "no reason given";
				complain(dev + ": bringing the tunnel up failed: " + why +
				         "; next try in " + format_seconds(d) + "s");
				note = "bring-up failed " + std::to_string(up_failures_) +
				       " time(s); next in " + format_seconds(d) + "s";
			}
		} else if (r.obs.hubs.size() > 1 && r.obs.active_hub) {
			note = several_hubs(r);
		} else if (r.status == HealthStatus::unhealthy) {
			++misses_;
			note = std::to_string(misses_) + " miss(es) in a row";
			if (misses_ % cfg_.health.failures == 0)
				for (auto &line : fx_.repair(cfg_, r))
					progress(line);
		} else if (r.status == HealthStatus::healthy ||
		           r.status == HealthStatus::degraded) {
			misses_ = 0;
		}
		if (!last_ || last_->status != r.status)
			progress(dev + ": " + health_status_name(r.status) + ": " +
			         health_reason(r));
		last_ = r;
		out_.last = r;
		return note;
	}

	// Several hubs: failover, failback, or (all down) re-resolution with backoff.
	// r becomes the look after a switch. Returns the note for STATUS=.
	std::string several_hubs(HealthResult &r)
	{
		const std::string &dev = cfg_.interface.name;
		std::vector<bool> answered;
		bool any = false;
		for (auto &h : r.obs.hubs) {
			answered.push_back(h.can_ping);
			any = any || h.can_ping;
		}
		size_t active = *r.obs.active_hub;
		double now = fx_.now();
		auto sw = selector_.look(now, active, answered);
		misses_ = selector_.misses();
		if (sw) {
			auto label = [&](size_t i) {
				return "hub[" + std::to_string(i) + "] " + r.obs.hubs[i].endpoint;
			};
			std::string what =
			        sw->failback
			                ? "failing back to " + label(sw->to) +
			                          ", which answered for " +
			                          format_seconds(selector_.streak(sw->to, now)) +
			                          "s"
			                : "failing over from " + label(active) + " after " +
			                          std::to_string(misses_) + " misses to " +
			                          label(sw->to);
			progress(dev + ": " + what);
			auto f = fx_.switch_hub(cfg_, sw->to);
			pending_ |= fx_.wait(0);
			if (f.error) {
				complain(dev + ": could not switch to " + label(sw->to) + ": " +
				         f.error->message);
				return "switch to " + label(sw->to) + " failed";
			}
			selector_.switched();
			misses_ = 0;
			repair_failures_ = 0;
			next_repair_at_ = 0;
			if (sw->failback)
				++out_.failbacks;
			else
				++out_.failovers;
			r = fx_.look(cfg_);
			return (sw->failback ? "failed back to " : "failed over to ") +
			       label(sw->to);
		}
		if (any) {
			repair_failures_ = 0;
			next_repair_at_ = 0;
			return misses_ ? std::to_string(misses_) + " miss(es) in a row" : "";
		}
		std::string note =
		        "no hub answers; " + std::to_string(misses_) + " miss(es) in a row";
		if (misses_ >= cfg_.health.failures && now >= next_repair_at_) {
			for (auto &line : fx_.repair(cfg_, r))
				progress(line);
			BackoffPolicy b;
			b.initial = cfg_.connect.initial_backoff;
			b.max = cfg_.connect.max_backoff;
			double d = b.delay(repair_failures_++, fx_.jitter_unit());
			next_repair_at_ = fx_.now() + d;
			note += "; next re-resolve in " + format_seconds(d) + "s";
		}
		return note;
	}

	void report(const std::string &note, bool first)
	{
		if (cfg_.health.textfile_dir) {
			auto st = fx_.write_textfile(*cfg_.health.textfile_dir, *last_);
			if (!st && !textfile_failed_)
				complain(st.error().message + " (said once; retried every loop)");
			textfile_failed_ = !st;
		}
		if (cfg_.control_plane && !cfg_.is_hub_config)
			fx_.report_health(cfg_, *last_);
		std::string msg = first ? "READY=1\n" : "";
		msg += "STATUS=" + watch_status_line(*last_, note);
		if (fx_.watchdog_interval())
			msg += "\nWATCHDOG=1";
		fx_.notify(msg);
	}

	Config cfg_;
	WatchEffects &fx_;
	WatchOutcome out_;
	unsigned pending_ = 0;
	int misses_ = 0;
	int up_failures_ = 0;
	double next_up_at_ = 0;
	bool textfile_failed_ = false;
	std::optional<HealthResult> last_;
	HubSelector selector_{cfg_.health.failures, cfg_.health.failback_after};
	int repair_failures_ = 0;
	double next_repair_at_ = 0;
};

} // namespace

WatchOutcome watch(Config cfg, WatchEffects &fx)
{
	return Loop(std::move(cfg), fx).run();
}

} // namespace wgn::ops
