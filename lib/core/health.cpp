#include "health.h"

#include <algorithm>
#include <cstdio>

#include "log.h"
#include "plan.h"

namespace wgn {

const char *health_status_name(HealthStatus s)
{
	switch (s) {
	case HealthStatus::healthy:
		return "healthy";
	case HealthStatus::degraded:
		return "degraded";
	case HealthStatus::unhealthy:
		return "unhealthy";
	case HealthStatus::disconnected:
		return "disconnected";
	case HealthStatus::unknown:
		break;
	}
	return "unknown";
}

int health_exit_code(HealthStatus s)
{
	switch (s) {
	case HealthStatus::healthy:
		return 0;
	case HealthStatus::degraded:
		return 1;
	case HealthStatus::unhealthy:
	case HealthStatus::disconnected:
		return 2;
	case HealthStatus::unknown:
		break;
	}
	return 3;
}

int worst_health_exit_code(const std::vector<int> &codes)
{
	// Severity by code: a CRITICAL is known trouble, an UNKNOWN only maybe trouble.
	auto rank = [](int c) {
		switch (c) {
		case 0:
			return 0;
		case 1:
			return 1;
		case 3:
			return 2;
		default:
			return 3;
		}
	};
	int worst = 0;
	for (int c : codes)
		if (rank(c) > rank(worst))
			worst = c;
	return worst;
}

HealthStatus evaluate(const HealthObservation &obs, double stale_after)
{
	if (obs.hub_config)
		return evaluate_hub(obs);
	if (obs.unknown_reason)
		return HealthStatus::unknown;
	if (!obs.link_present)
		return HealthStatus::disconnected;
	if (!obs.link_up || !obs.device_read || !obs.hub_peer || !obs.handshake_age)
		return HealthStatus::unhealthy;
	if (obs.ping_attempted && !obs.ping_answered)
		return HealthStatus::unhealthy;
	if (static_cast<double>(*obs.handshake_age) > stale_after)
		return HealthStatus::degraded;
	if (auto best = best_answering_hub(obs); best && obs.active_hub && *best < *obs.active_hub)
		return HealthStatus::degraded;
	return HealthStatus::healthy;
}

std::optional<size_t> best_answering_hub(const HealthObservation &o)
{
	for (size_t i = 0; i < o.hubs.size(); ++i)
		if (o.hubs[i].can_ping)
			return i;
	return std::nullopt;
}

static std::string hub_phrase(const HealthObservation &o, size_t i)
{
	return "hub[" + std::to_string(i) + "] " + o.hubs[i].endpoint;
}

HealthResult evaluate_result(HealthObservation obs, double stale_after)
{
	HealthResult r;
	r.status = evaluate(obs, stale_after);
	r.stale_after = stale_after;
	if (obs.peers) {
		r.peers_recent = static_cast<size_t>(std::count_if(
		        obs.peer_handshakes.begin(), obs.peer_handshakes.end(), [&](auto &age) {
			        return age && static_cast<double>(*age) <= stale_after;
		        }));
	}
	r.obs = std::move(obs);
	return r;
}

std::string format_duration(int64_t s)
{
	if (s < 0)
		s = 0;
	auto two = [](int64_t a, const char *ua, int64_t b, const char *ub) {
		std::string out = std::to_string(a) + ua;
		if (b)
			out += " " + std::to_string(b) + ub;
		return out;
	};
	if (s < 60)
		return std::to_string(s) + "s";
	if (s < 3600)
		return two(s / 60, "m", s % 60, "s");
	if (s < 86400)
		return two(s / 3600, "h", s % 3600 / 60, "m");
	return two(s / 86400, "d", s % 86400 / 3600, "h");
}

std::string threshold_phrase(double s)
{
	if (s == static_cast<double>(static_cast<int64_t>(s)))
		return format_duration(static_cast<int64_t>(s));
	char buf[32];
	std::snprintf(buf, sizeof(buf), "%gs", s);
	return buf;
}

static std::string handshake_phrase(const HealthObservation &o)
{
	if (!o.handshake_age)
		return "no handshake yet";
	return "handshake " + format_duration(*o.handshake_age) + " ago";
}

static std::string no_answer_phrase(const HealthObservation &o)
{
	if (!o.ping_error.empty())
		return o.ping_error;
	return "hub " + o.hub + " did not answer within " + format_seconds(o.ping_timeout) + "s";
}

std::string health_reason(const HealthResult &r)
{
	const auto &o = r.obs;
	switch (r.status) {
	case HealthStatus::unknown:
		return o.unknown_reason.value_or("the check could not run");
	case HealthStatus::disconnected:
		return "no interface " + o.interface;
	case HealthStatus::unhealthy:
		if (!o.link_up)
			return "link " + o.interface + " is down";
		if (!o.device_read)
			return o.device_error.empty() ? o.interface + " is not a WireGuard device"
			                              : o.device_error;
		if (o.hub_config)
			return hub_peers_phrase(r);
		if (!o.hub_peer && o.hubs.size() > 1)
			return "no hub's peer carries the allowed IPs on " + o.interface;
		if (!o.hub_peer)
			return "the hub is not a peer of " + o.interface;
		if (o.ping_attempted && !o.ping_answered)
			return no_answer_phrase(o) + ", " + handshake_phrase(o);
		return handshake_phrase(o);
	case HealthStatus::degraded:
		if (o.handshake_age && static_cast<double>(*o.handshake_age) <= r.stale_after &&
		    o.active_hub) {
			auto best = best_answering_hub(o);
			if (best && *best < *o.active_hub)
				return "running on " + hub_phrase(o, *o.active_hub) + ", not on " +
				       hub_phrase(o, *best) + ", which answers; " +
				       handshake_phrase(o);
		}
		return handshake_phrase(o) + " (stale after " + threshold_phrase(r.stale_after) +
		       ")";
	case HealthStatus::healthy:
		if (o.hub_config)
			return hub_peers_phrase(r);
		break;
	}
	return handshake_phrase(o);
}

std::optional<DeviceState> observe_interface(HealthSensors &sensors, HealthObservation &o)
{
	auto link = sensors.link(o.interface);
	if (!link) {
		o.unknown_reason = link.error().message;
		return std::nullopt;
	}
	o.link_checked = true;
	if (!*link)
		return std::nullopt;
	o.link_present = true;
	o.link_up = (*link)->up;
	if (auto at = sensors.connected_at(o.interface))
		o.uptime = std::max<int64_t>(0, sensors.now() - *at);

	auto dev = sensors.device(o.interface, &o.backend);
	if (!dev) {
		// Reading a WireGuard device takes CAP_NET_ADMIN: without it nothing can be
		// said about the tunnel, which is UNKNOWN, not CRITICAL. A link that is not
		// WireGuard at all is a fact about the tunnel.
		if (dev.error().code == Errc::no_perm || dev.error().code == Errc::software)
			o.unknown_reason = dev.error().message;
		else
			o.device_error = dev.error().message;
		return std::nullopt;
	}
	o.device_read = true;
	return std::move(*dev);
}

HealthObservation observe_health(const Config &cfg, const std::string &config_name,
                                 HealthSensors &sensors)
{
	if (cfg.is_hub_config)
		return observe_hub_health(cfg, config_name, sensors);
	HealthObservation o;
	o.config = config_name;
	o.interface = cfg.interface.name;
	o.ping_timeout = cfg.health.ping_timeout;
	const bool several = cfg.hubs.size() > 1;
	if (cfg.hub.tunnel_address && !several)
		o.hub = cfg.hub.tunnel_address->str();
	if (!several)
		o.hub_endpoint = cfg.hub.endpoint.str();
	const std::vector<HubConfig> one{cfg.hub};
	const auto &hubs = several ? cfg.hubs : one;
	for (auto &h : hubs) {
		HubObservation ho;
		ho.endpoint = h.endpoint.str();
		ho.public_key = base64_encode(h.public_key);
		if (h.tunnel_address)
			ho.tunnel_address = h.tunnel_address->str();
		o.hubs.push_back(ho);
	}

	auto dev = observe_interface(sensors, o);
	if (o.link_present)
		o.node_id = sensors.node_id(o.interface);
	if (!dev)
		return o;
	std::optional<size_t> active =
	        several ? active_hub_of(cfg, *dev) : std::optional<size_t>(0);
	for (auto &p : dev->peers)
		for (size_t i = 0; i < hubs.size(); ++i)
			if (p.public_key == hubs[i].public_key) {
				o.hubs[i].peer = true;
				if (p.last_handshake_sec > 0)
					o.hubs[i].handshake_age = std::max<int64_t>(
					        0, sensors.now() - p.last_handshake_sec);
			}
	if (active) {
		o.active_hub = active;
		o.hubs[*active].active = true;
	}
	const Key active_key = active ? hubs[*active].public_key : Key{};
	if (several && active) {
		if (hubs[*active].tunnel_address)
			o.hub = hubs[*active].tunnel_address->str();
		o.hub_endpoint = hubs[*active].endpoint.str();
	}
	for (auto &p : dev->peers) {
		if (!active || p.public_key != active_key)
			continue;
		o.hub_peer = true;
		if (p.last_handshake_sec > 0)
			o.handshake_age =
			        std::max<int64_t>(0, sensors.now() - p.last_handshake_sec);
		o.rx_bytes = p.rx_bytes;
		o.tx_bytes = p.tx_bytes;
		if (p.endpoint)
			o.endpoint = p.endpoint->str();
	}

	if (several) {
		// Every hub at once: the standbys too, so that failover knows where to go and
		// failback when to go.
		if (!o.link_up)
			return o;
		std::vector<IpAddr> to;
		to.reserve(hubs.size());
		for (auto &h : hubs)
			to.push_back(*h.tunnel_address);
		auto rtts = sensors.ping_all(o.interface, to, cfg.health.ping_timeout);
		for (size_t i = 0; i < hubs.size() && i < rtts.size(); ++i) {
			o.hubs[i].ping_attempted = true;
			if (rtts[i]) {
				o.hubs[i].can_ping = true;
				o.hubs[i].rtt_ms = *rtts[i] * 1000;
			} else if (rtts[i].error().code != Errc::unavailable) {
				o.unknown_reason = rtts[i].error().message;
			}
		}
		if (active) {
			auto &a = o.hubs[*active];
			o.ping_attempted = true;
			o.ping_answered = a.can_ping;
			o.rtt_ms = a.rtt_ms;
			if (!a.can_ping && rtts.size() > *active &&
			    rtts[*active].error().message.find("did not answer within") ==
			            std::string::npos)
				o.ping_error = rtts[*active].error().message;
		}
		return o;
	}
	if (!o.hubs.empty()) {
		o.hubs[0].active = o.hub_peer;
		o.active_hub = o.hub_peer ? std::optional<size_t>(0) : std::nullopt;
	}
	if (!cfg.hub.tunnel_address || !o.link_up || !sensors.echo_needed(o))
		return o;
	o.ping_attempted = true;
	auto rtt = sensors.ping(o.interface, *cfg.hub.tunnel_address, cfg.health.ping_timeout);
	if (!o.hubs.empty())
		o.hubs[0].ping_attempted = true;
	if (rtt) {
		o.ping_answered = true;
		o.rtt_ms = *rtt * 1000;
		if (!o.hubs.empty()) {
			o.hubs[0].can_ping = true;
			o.hubs[0].rtt_ms = o.rtt_ms;
		}
	} else if (rtt.error().code != Errc::unavailable) {
		// No socket, no permission: the echo was never sent, so it says nothing
		// about the hub.
		o.unknown_reason = rtt.error().message;
	} else if (rtt.error().message.find("did not answer within") == std::string::npos) {
		// Sent but refused on the way out (no route, no key): worth saying which.
		o.ping_error = rtt.error().message;
	}
	return o;
}

std::vector<std::string> repair_health(const Config &cfg, const HealthResult &r, HealthRepairs &fx,
                                       bool *changed)
{
	std::vector<std::string> did;
	bool any = false;
	const auto &o = r.obs;
	auto finish = [&] {
		if (changed)
			*changed = any;
		return did;
	};
	if (r.status == HealthStatus::healthy || r.status == HealthStatus::unknown)
		return finish();
	if (r.status == HealthStatus::disconnected || !o.link_up || !o.device_read || !o.hub_peer) {
		auto st = fx.bring_up(cfg, o.config);
		any = true;
		if (st)
			did.push_back(o.interface + ": brought the tunnel up");
		else
			did.push_back(o.interface +
			              ": could not bring the tunnel up: " + st.error().message);
		return finish();
	}
	if (cfg.hubs.size() > 1 && o.active_hub) {
		auto best = best_answering_hub(o);
		size_t active = *o.active_hub;
		if (best && *best != active && (!o.ping_answered || *best < active)) {
			bool back = *best < active && o.ping_answered;
			auto st = fx.switch_hub(cfg, *best);
			std::string what = std::string(back ? "failed back" : "failed over") +
			                   " from hub[" + std::to_string(active) + "] " +
			                   o.hubs[active].endpoint + " to hub[" +
			                   std::to_string(*best) + "] " + o.hubs[*best].endpoint;
			if (!st) {
				did.push_back(o.interface + ": could not switch to hub[" +
				              std::to_string(*best) + "]: " + st.error().message);
				return finish();
			}
			any = true;
			did.push_back(o.interface + ": " + what);
			return finish();
		}
		if (o.ping_answered)
			return finish(); // stale handshake on the best hub: nothing to switch
	}
	const auto &ep = cfg.hubs.size() > 1 && o.active_hub ? cfg.hubs[*o.active_hub].endpoint
	                                                     : cfg.hub.endpoint;
	if (parse_ip(ep.host)) {
		did.push_back(o.interface + ": hub endpoint " + ep.str() +
		              " is an address; nothing to re-resolve");
		return finish();
	}
	auto addr = fx.resolve(ep);
	if (!addr) {
		did.push_back(o.interface + ": could not re-resolve " + ep.str() + ": " +
		              addr.error().message);
		return finish();
	}
	if (addr->str() == o.endpoint) {
		did.push_back(o.interface + ": " + ep.str() + " still resolves to " + o.endpoint +
		              "; endpoint unchanged");
		return finish();
	}
	auto st = fx.set_endpoint(o.interface,
	                          cfg.hubs.size() > 1 && o.active_hub
	                                  ? cfg.hubs[*o.active_hub].public_key
	                                  : cfg.hub.public_key,
	                          *addr);
	if (!st) {
		did.push_back(o.interface + ": could not set the hub endpoint to " + addr->str() +
		              ": " + st.error().message);
		return finish();
	}
	any = true;
	did.push_back(o.interface + ": re-resolved " + ep.str() + ": hub endpoint " +
	              (o.endpoint.empty() ? "(none)" : o.endpoint) + " -> " + addr->str());
	return finish();
}

} // namespace wgn
