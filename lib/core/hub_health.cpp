// wgn health on a hub's own config (SPEC "wgn sync"): a hub has no hub to ping; what
// tells whether it works is its interface, and what tells how it serves is how many
// peers it has and how many of them handshook lately.
#include <algorithm>

#include "health.h"

namespace wgn {

HealthObservation observe_hub_health(const Config &cfg, const std::string &config_name,
                                     HealthSensors &sensors)
{
	HealthObservation o;
	o.config = config_name;
	o.interface = cfg.interface.name;
	o.hub_config = true;
	o.ping_timeout = cfg.health.ping_timeout;

	auto dev = observe_interface(sensors, o);
	if (!dev)
		return o;
	const int64_t now = sensors.now();
	o.peer_handshakes.reserve(dev->peers.size());
	for (auto &p : dev->peers) {
		o.peer_handshakes.push_back(p.last_handshake_sec > 0
		                                    ? std::optional<int64_t>(std::max<int64_t>(
		                                              0, now - p.last_handshake_sec))
		                                    : std::nullopt);
		o.rx_bytes += p.rx_bytes;
		o.tx_bytes += p.tx_bytes;
	}
	o.peers = dev->peers.size();
	return o;
}

HealthStatus evaluate_hub(const HealthObservation &obs)
{
	if (obs.unknown_reason)
		return HealthStatus::unknown;
	if (!obs.link_present)
		return HealthStatus::disconnected;
	if (!obs.link_up || !obs.device_read)
		return HealthStatus::unhealthy;
	return HealthStatus::healthy;
}

std::string hub_peers_phrase(const HealthResult &r)
{
	if (!r.obs.peers)
		return "hub " + r.obs.interface;
	size_t n = *r.obs.peers;
	return "hub of " + std::to_string(n) + (n == 1 ? " peer, " : " peers, ") +
	       std::to_string(r.peers_recent.value_or(0)) + " handshook within " +
	       threshold_phrase(r.stale_after);
}

} // namespace wgn
