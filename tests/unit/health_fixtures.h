// What the health tests share: a tunnel that is fine, to be spoilt one field at a time.
#pragma once

#include "health.h"

namespace wgn::test {

// Link up, handshake 5s ago, hub 10.0.0.1 answered in 0.6 ms.
inline HealthObservation healthy_obs()
{
	HealthObservation o;
	o.config = "wg0";
	o.interface = "wg0";
	o.link_checked = o.link_present = o.link_up = true;
	o.device_read = o.hub_peer = true;
	o.handshake_age = 5;
	o.rx_bytes = 1234;
	o.tx_bytes = 5678;
	o.endpoint = "192.0.2.1:51820";
	o.hub = "10.0.0.1";
	o.ping_attempted = o.ping_answered = true;
	o.rtt_ms = 0.6;
	o.backend = "kernel";
	return o;
}

inline HealthResult result(HealthObservation o, double stale = 180)
{
	return evaluate_result(o, stale);
}

} // namespace wgn::test
