// wgn health: what one look at a tunnel saw, what that means, and how it is told to
// people, cron, Nagios and Prometheus. Everything here is pure except observe_health,
// which reaches the system only through HealthSensors (real ones in cmd/health.cpp,
// fakes in the tests).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config.h"
#include "device.h"
#include "error.h"

namespace wgn {

enum class HealthStatus { healthy, degraded, unhealthy, disconnected, unknown };

const char *health_status_name(HealthStatus s);
// The monitoring-plugins convention: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
int health_exit_code(HealthStatus s);
// The exit code of --all: the most severe, ranked 2 > 3 > 1 > 0 (a tunnel known to be
// down matters more than one that could not be checked). 0 for an empty list.
int worst_health_exit_code(const std::vector<int> &codes);

// One hub of a config, as a look saw it (SPEC "Several hubs": JSON `hubs`).
struct HubObservation {
	std::string endpoint;       // as the config has it
	std::string public_key;     // base64
	std::string tunnel_address; // "" when the config has none
	bool active = false;        // its peer carries the allowed IPs
	bool peer = false;          // the device has its peer
	bool ping_attempted = false;
	bool can_ping = false;
	std::optional<double> rtt_ms;
	std::optional<int64_t> handshake_age; // nullopt: never
};

struct HealthObservation {
	std::string config;        // the config as named on the command line or found by --all
	std::string interface;     // interface.name, else the config's stem
	bool link_checked = false; // the link was looked at (false: unknown before that)
	bool link_present = false;
	bool link_up = false;
	bool device_read = false; // the WireGuard device answered (handshake, bytes below)
	std::string device_error; // why it did not, when that is a fact about the tunnel
	bool hub_peer = false;    // the device has a peer with the hub's public key
	// Seconds since the hub's latest handshake, read before the echo so that the echo's
	// own handshake does not hide an idle tunnel; nullopt: never.
	std::optional<int64_t> handshake_age;
	uint64_t rx_bytes = 0;
	uint64_t tx_bytes = 0;
	std::string endpoint;     // the hub's endpoint as the device has it, "" when none
	std::string hub;          // the active hub's tunnel_address, "" when the config has none
	std::string hub_endpoint; // the active hub's endpoint as configured ("" when none is)
	// Every hub of the config, best first (one with [hub]); with several, the fields
	// above (hub_peer, handshake, bytes, endpoint, ping) are the active hub's.
	std::vector<HubObservation> hubs;
	std::optional<size_t> active_hub; // index in hubs; nullopt when no peer is active
	double ping_timeout = 2.0;
	bool ping_attempted = false;
	bool ping_answered = false;
	std::string ping_error; // why no answer came when it was not a plain timeout
	std::optional<double> rtt_ms;
	std::optional<int64_t> uptime; // seconds since `up` connected (run state)
	std::optional<std::string> node_id;
	std::string backend; // "kernel" or "userspace" when the device was read
	// Set when the check itself could not run: one sentence, and the status is unknown.
	std::optional<std::string> unknown_reason;
	// A hub's own config (no [hub]: SPEC "wgn sync"): its interface and its peers, no
	// hub to ping. peers is set once the device was read; peer_handshakes holds each
	// peer's handshake age (nullopt: never), for peers_recent.
	bool hub_config = false;
	std::optional<size_t> peers;
	std::vector<std::optional<int64_t>> peer_handshakes;
};

struct HealthResult {
	HealthObservation obs;
	HealthStatus status = HealthStatus::unknown;
	double stale_after = 180; // the threshold evaluate() used, seconds
	// A hub's config: the peers that handshook within stale_after (set with obs.peers).
	std::optional<size_t> peers_recent;
};

// healthy: link up, handshake no older than stale_after, hub answers;
// degraded: hub answers but the handshake is stale, or (several hubs) the active hub
// answers but a better one answers too (the preferred hub is the best that answers);
// unhealthy: link down, no hub peer, no handshake ever, or the hub does not answer;
// disconnected: no interface; unknown: unknown_reason is set.
// Without a tunnel address nothing is pinged and the handshake decides alone.
HealthStatus evaluate(const HealthObservation &obs, double stale_after);
HealthResult evaluate_result(HealthObservation obs, double stale_after);

// What the status rests on, for the human and nagios lines: "handshake 5s ago",
// "hub 10.0.0.1 did not answer within 2.0s", "no interface wg0".
std::string health_reason(const HealthResult &r);

// 5 -> "5s", 192 -> "3m 12s", 7500 -> "2h 5m", 93784 -> "1d 2h".
std::string format_duration(int64_t seconds);
// A threshold: 180 -> "3m", 2.5 -> "2.5s" (a fractional --stale-after is not rounded).
std::string threshold_phrase(double seconds);

// Formats. Each takes every result of a run (--all gives several) and returns the
// whole of stdout.
// human: one line per result, "wg0: healthy: handshake 5s ago, hub 10.0.0.1 answered in
// 0.6 ms, up 2h 5m, rx 1.2 KiB, tx 3.4 KiB".
std::string format_health_human(const std::vector<HealthResult> &rs);
// json: one object per line (a single check prints exactly one object).
std::string format_health_json(const std::vector<HealthResult> &rs);
// nagios: one line, "WGN OK - wg0 healthy, handshake 5s ago | handshake_age=5s;180;;0
// rtt=0.6ms;;;0 ..."; with several results the labels are prefixed "wg0_".
std::string format_health_nagios(const std::vector<HealthResult> &rs);
// prometheus: text exposition format 0.0.4; HELP and TYPE once per family.
std::string format_health_prometheus(const std::vector<HealthResult> &rs);

// The effects of one look, each a read: no call changes the system.
class HealthSensors {
public:
	virtual ~HealthSensors() = default;
	struct Link {
		bool up = false;
	};
	// nullopt: no such interface.
	virtual Result<std::optional<Link>> link(const std::string &ifname) = 0;
	// The device and which backend answered ("kernel" or "userspace").
	virtual Result<DeviceState> device(const std::string &ifname, std::string *backend) = 0;
	// Round trip in milliseconds; an error of kind unavailable when no answer came.
	virtual Result<double> ping(const std::string &ifname, const IpAddr &to,
	                            double timeout) = 0;
	// Several hubs: one echo to each at once (element i for to[i]). The default sends
	// them one after the other.
	virtual std::vector<Result<double>> ping_all(const std::string &ifname,
	                                             const std::vector<IpAddr> &to, double timeout)
	{
		std::vector<Result<double>> out;
		out.reserve(to.size());
		for (auto &a : to)
			out.push_back(ping(ifname, a, timeout));
		return out;
	}
	virtual std::optional<int64_t> connected_at(const std::string &ifname) = 0;
	virtual std::optional<std::string> node_id(const std::string &ifname) = 0;
	virtual int64_t now() = 0; // seconds since the epoch
	// Whether the echo must be sent, asked once the device was read (o holds its
	// handshake and counters): `health` always echoes; `watch` skips it when the
	// counters already prove that the hub is alive (watch.h).
	virtual bool echo_needed(const HealthObservation &o)
	{
		(void)o;
		return true;
	}
};

// The effects of --repair.
class HealthRepairs {
public:
	virtual ~HealthRepairs() = default;
	// `wgn up` of the config, in-process.
	virtual Status bring_up(const Config &cfg, const std::string &config_name) = 0;
	virtual Result<SockAddr> resolve(const Endpoint &ep) = 0;
	// Points the hub peer at ep, changing nothing else of the device.
	virtual Status set_endpoint(const std::string &ifname, const Key &peer,
	                            const SockAddr &ep) = 0;
	// Several hubs: makes cfg.hubs[to] the active hub (ops::failover).
	virtual Status switch_hub(const Config &cfg, size_t to) = 0;
};

// Several hubs: the best hub that answered in o (index in o.hubs), nullopt when none.
std::optional<size_t> best_answering_hub(const HealthObservation &o);

// Mends what r found: a disconnected tunnel, a link that is down or a device without the
// hub peer is brought up (up reconciles); with several hubs, an active hub that does not
// answer is left for the best one that does (failover), and an active hub that answers
// while a better one does too is left for that one (failback); an unhealthy or stale
// one whose hub endpoint is
// a name has it resolved again and the peer updated in place when the address changed.
// Returns one line per thing it did or tried; empty when there was nothing to do. The
// caller looks again afterwards. `changed` (may be null) says whether anything changed.
std::vector<std::string> repair_health(const Config &cfg, const HealthResult &r, HealthRepairs &fx,
                                       bool *changed = nullptr);

// What a look at a node and at a hub share: the interface's link, the tunnel's uptime
// and the WireGuard device. Fills o's link, uptime, backend and device fields (and
// unknown_reason when the look could not be made); the device when it could be read.
std::optional<DeviceState> observe_interface(HealthSensors &sensors, HealthObservation &o);

// One look at a hub's own interface (cfg.is_hub_config): link, device, its peers and
// their handshakes; nothing is pinged. observe_health calls it for such a config.
HealthObservation observe_hub_health(const Config &cfg, const std::string &config_name,
                                     HealthSensors &sensors);
// A hub's status: healthy when its interface is up and a WireGuard device (whatever its
// peers: a hub without nodes is a working hub), unhealthy when the link is down or not
// WireGuard, disconnected without the interface, unknown when the look could not run.
HealthStatus evaluate_hub(const HealthObservation &obs);
// "12 peers, 10 handshook within 3m", for the human and nagios lines.
std::string hub_peers_phrase(const HealthResult &r);

// One look at the tunnel of cfg. Errors of the sensors that mean the check could not be
// made (permission, netlink) become unknown_reason; "no answer" is an observation.
HealthObservation observe_health(const Config &cfg, const std::string &config_name,
                                 HealthSensors &sensors);

} // namespace wgn
