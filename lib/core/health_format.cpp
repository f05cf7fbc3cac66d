// The four outputs of wgn health. Their fields and metrics are a stable interface
// (wgn(8) documents them): add, never rename.
#include <cinttypes>
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "health.h"
#include "json_text.h"

namespace wgn {

namespace {

std::string printf_str(const char *fmt, double v)
{
	char buf[64];
	std::snprintf(buf, sizeof(buf), fmt, v);
	return buf;
}

// Milliseconds as a person reads them: "0.0523", "0.6", "12.3", "1234".
std::string format_ms(double ms)
{
	return printf_str(ms >= 100 ? "%.0f" : "%.3g", ms);
}

std::string format_bytes(uint64_t b)
{
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	if (b < 1024)
		return std::to_string(b) + " B";
	double v = static_cast<double>(b);
	size_t u = 0;
	while (v >= 1024 && u + 1 < std::size(units)) {
		v /= 1024;
		++u;
	}
	return printf_str("%.1f", v) + " " + units[u];
}

// A threshold or a value in perfdata: an integer when it is one, no exponent.
std::string format_number(double v)
{
	if (v == std::floor(v) && std::fabs(v) < 1e15)
		return printf_str("%.0f", v);
	return printf_str("%.3f", v);
}

bool connected(const HealthObservation &o)
{
	return o.link_present && o.link_up;
}

// The traffic counters: the hub peer's on a node, the sum of every peer's on a hub.
bool has_bytes(const HealthObservation &o)
{
	return o.device_read && (o.hub_peer || o.hub_config);
}

} // namespace

std::string format_health_human(const std::vector<HealthResult> &rs)
{
	std::string out;
	for (auto &r : rs) {
		auto &o = r.obs;
		out += o.interface + ": " + health_status_name(r.status) + ": " + health_reason(r);
		if (r.status == HealthStatus::healthy || r.status == HealthStatus::degraded) {
			if (o.ping_answered && o.rtt_ms)
				out += ", hub " + o.hub + " answered in " + format_ms(*o.rtt_ms) +
				       " ms";
		}
		// An UNKNOWN line says only why: half a look is not worth reading.
		bool known = r.status != HealthStatus::unknown;
		if (known && o.uptime && connected(o))
			out += ", up " + format_duration(*o.uptime);
		if (known && has_bytes(o))
			out += ", rx " + format_bytes(o.rx_bytes) + ", tx " +
			       format_bytes(o.tx_bytes);
		out += "\n";
	}
	return out;
}

std::string format_health_json(const std::vector<HealthResult> &rs)
{
	std::string out;
	auto opt_str = [](const std::string &s) {
		return s.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(s);
	};
	for (auto &r : rs) {
		auto &o = r.obs;
		bool bytes = has_bytes(o);
		nlohmann::ordered_json j;
		j["status"] = health_status_name(r.status);
		j["interface"] = o.interface;
		j["connected"] = connected(o);
		j["can_ping_hub"] = o.ping_answered;
		j["handshake_age"] =
		        o.handshake_age ? nlohmann::ordered_json(*o.handshake_age) : nullptr;
		j["uptime_seconds"] = o.uptime ? nlohmann::ordered_json(*o.uptime) : nullptr;
		j["node_id"] = o.node_id ? nlohmann::ordered_json(*o.node_id) : nullptr;
		j["rtt_ms"] = o.rtt_ms ? nlohmann::ordered_json(*o.rtt_ms) : nullptr;
		j["rx_bytes"] = bytes ? nlohmann::ordered_json(o.rx_bytes) : nullptr;
		j["tx_bytes"] = bytes ? nlohmann::ordered_json(o.tx_bytes) : nullptr;
		j["backend"] = o.device_read ? opt_str(o.backend) : nlohmann::ordered_json();
		j["endpoint"] = opt_str(o.endpoint);
		// SPEC "Several hubs": `hub` is the active hub's endpoint (as configured); the
		// tunnel address that was pinged is `hub_tunnel_address`.
		j["hub"] = opt_str(o.hub_endpoint);
		j["hub_tunnel_address"] = opt_str(o.hub);
		auto hubs = nlohmann::ordered_json::array();
		for (auto &h : o.hubs) {
			nlohmann::ordered_json hj;
			hj["endpoint"] = h.endpoint;
			hj["public_key"] = h.public_key;
			hj["tunnel_address"] = opt_str(h.tunnel_address);
			hj["active"] = h.active;
			hj["can_ping"] = h.can_ping;
			hj["handshake_age"] = h.handshake_age
			                              ? nlohmann::ordered_json(*h.handshake_age)
			                              : nullptr;
			hj["rtt_ms"] = h.rtt_ms ? nlohmann::ordered_json(*h.rtt_ms) : nullptr;
			hubs.push_back(hj);
		}
		j["hubs"] = hubs;
		// A hub's config (SPEC "wgn sync"): its peers, and those that handshook within
		// stale_after; null on a node, and on a hub whose device could not be read.
		j["role"] = o.hub_config ? "hub" : "node";
		j["peers"] = o.peers ? nlohmann::ordered_json(*o.peers) : nullptr;
		j["peers_recent"] =
		        r.peers_recent ? nlohmann::ordered_json(*r.peers_recent) : nullptr;
		j["stale_after"] = r.stale_after;
		j["exit_code"] = health_exit_code(r.status);
		j["reason"] = health_reason(r);
		j["config"] = o.config;
		out += json_text(j) + "\n";
	}
	return out;
}

namespace {

const char *nagios_word(int code)
{
	switch (code) {
	case 0:
		return "OK";
	case 1:
		return "WARNING";
	case 2:
		return "CRITICAL";
	}
	return "UNKNOWN";
}

// A perfdata label, quoted when it holds what would end it (the plugin guidelines).
std::string perf_label(const std::string &prefix, const char *name)
{
	std::string l = prefix + name;
	if (l.find_first_of("= '") == std::string::npos)
		return l;
	std::string q = "'";
	for (char c : l)
		q += c == '\'' ? std::string("''") : std::string(1, c);
	return q + "'";
}

// handshake_age=5s;180;;0 rtt=0.6ms;;;0 uptime=3600s;;;0; U where the value could not be
// determined (monitoring-plugins: "U"). Nothing for UNKNOWN: nothing was measured.
std::string perfdata(const HealthResult &r, const std::string &prefix)
{
	auto &o = r.obs;
	if (r.status == HealthStatus::unknown)
		return "";
	if (o.hub_config) {
		// A hub: its peers and those that handshook within stale_after; U when the
		// device could not be read.
		auto count = [](const std::optional<size_t> &n) {
			return n ? std::to_string(*n) : std::string("U");
		};
		std::string p = perf_label(prefix, "peers") + "=" + count(o.peers) + ";;;0";
		p += " " + perf_label(prefix, "peers_recent") + "=" + count(r.peers_recent) +
		     ";;;0";
		if (o.uptime && connected(o))
			p += " " + perf_label(prefix, "uptime") + "=" + std::to_string(*o.uptime) +
			     "s;;;0";
		return p;
	}
	std::string p = perf_label(prefix, "handshake_age") + "=";
	p += o.handshake_age ? std::to_string(*o.handshake_age) + "s" : "U";
	p += ";" + format_number(r.stale_after) + ";;0";
	if (!o.hub.empty()) {
		p += " " + perf_label(prefix, "rtt") + "=";
		p += o.rtt_ms ? format_ms(*o.rtt_ms) + "ms" : "U";
		p += ";;;0";
	}
	if (o.uptime && connected(o))
		p += " " + perf_label(prefix, "uptime") + "=" + std::to_string(*o.uptime) + "s;;;0";
	return p;
}

} // namespace

std::string format_health_nagios(const std::vector<HealthResult> &rs)
{
	std::vector<int> codes;
	codes.reserve(rs.size());
	for (auto &r : rs)
		codes.push_back(health_exit_code(r.status));
	std::string text, perf;
	for (auto &r : rs) {
		if (!text.empty())
			text += " / ";
		text += r.obs.interface + " " + health_status_name(r.status) + ", " +
		        health_reason(r);
		auto p = perfdata(r, rs.size() > 1 ? r.obs.interface + "_" : "");
		if (!p.empty())
			perf += (perf.empty() ? "" : " ") + p;
	}
	if (rs.empty())
		text = "no configs to check";
	// A '|' in the text would start the perfdata early; Nagios Core shows a ';' of a
	// plugin's text as ':', which would join two tunnels' lines into one misleading
	// "wg0: wg1", so neither is left in the text.
	for (auto &c : text)
		if (c == '|')
			c = '/';
		else if (c == ';')
			c = ',';
	std::string out =
	        std::string("WGN ") + nagios_word(worst_health_exit_code(codes)) + " - " + text;
	if (!perf.empty())
		out += " | " + perf;
	return out + "\n";
}

namespace {

std::string label_value(const std::string &v)
{
	std::string out;
	for (char c : v) {
		if (c == '\\')
			out += "\\\\";
		else if (c == '"')
			out += "\\\"";
		else if (c == '\n')
			out += "\\n";
		else
			out += c;
	}
	return out;
}

struct Sample {
	std::string labels; // without braces
	std::string value;
};

struct Family {
	const char *name;
	const char *type;
	const char *help;
	// Appends this result's samples; none when the value is not known.
	void (*samples)(const HealthResult &r, const std::string &iface_label,
	                std::vector<Sample> &out);
};

std::string u64(uint64_t v)
{
	return std::to_string(v);
}

const Family kFamilies[] = {
        {"wgn_up", "gauge", "1 when the WireGuard interface exists and is up, else 0.",
         [](const HealthResult &r, const std::string &l, std::vector<Sample> &out) {
	         if (r.obs.link_checked)
		         out.push_back({l, connected(r.obs) ? "1" : "0"});
         }},
        {"wgn_health_status", "gauge",
         "1 for the status of the last check (healthy, degraded, unhealthy, disconnected, "
         "unknown), 0 for the others.",
         [](const HealthResult &r, const std::string &l, std::vector<Sample> &out) {
	         for (auto s :
	              {HealthStatus::healthy, HealthStatus::degraded, HealthStatus::unhealthy,
	               HealthStatus::disconnected, HealthStatus::unknown})
		         out.push_back({l + ",status=\"" + health_status_name(s) + "\"",
		                        s == r.status ? "1" : "0"});
         }},
        {"wgn_can_ping_hub", "gauge",
         "1 when the hub answered the ICMP echo to its tunnel address, else 0.",
         [](const HealthResult &r, const std::string &l, std::vector<Sample> &out) {
	         if (r.status != HealthStatus::unknown && !r.obs.hub.empty())
		         out.push_back({l, r.obs.ping_answered ? "1" : "0"});
         }},
        {"wgn_handshake_age_seconds", "gauge",
         "Seconds since the latest handshake with the hub; +Inf when there was none.",
         [](const HealthResult &r, const std::string &l, std::vector<Sample> &out) {
	         if (r.obs.device_read && r.obs.hub_peer)
		         out.push_back({l, r.obs.handshake_age
		                                   ? std::to_string(*r.obs.handshake_age)
		                                   : "+Inf"});
         }},
        {"wgn_ping_rtt_seconds", "gauge", "Round-trip time of the ICMP echo to the hub.",
         [](const HealthResult &r, const std::string &l, std::vector<Sample> &out) {
	         if (r.obs.rtt_ms)
		         out.push_back({l, printf_str("%.9g", *r.obs.rtt_ms / 1000)});
         }},
        {"wgn_uptime_seconds", "gauge", "Seconds since wgn up connected the tunnel.",
         [](const HealthResult &r, const std::string &l, std::vector<Sample> &out) {
	         if (r.obs.uptime && connected(r.obs))
		         out.push_back({l, std::to_string(*r.obs.uptime)});
         }},
        {"wgn_receive_bytes_total", "counter", "Bytes received from the hub.",
         [](const HealthResult &r, const std::string &l, std::vector<Sample> &out) {
	         if (r.obs.device_read && r.obs.hub_peer)
		         out.push_back({l, u64(r.obs.rx_bytes)});
         }},
        {"wgn_transmit_bytes_total", "counter", "Bytes sent to the hub.",
         [](const HealthResult &r, const std::string &l, std::vector<Sample> &out) {
	         if (r.obs.device_read && r.obs.hub_peer)
		         out.push_back({l, u64(r.obs.tx_bytes)});
         }},
        {"wgn_hub_up", "gauge",
         "Per hub: 1 when it answered the ICMP echo to its tunnel address, else 0.",
         [](const HealthResult &r, const std::string &l, std::vector<Sample> &out) {
	         if (r.status == HealthStatus::unknown)
		         return;
	         for (auto &h : r.obs.hubs)
		         if (h.ping_attempted)
			         out.push_back({l + ",hub=\"" + label_value(h.endpoint) + "\"",
			                        h.can_ping ? "1" : "0"});
         }},
        {"wgn_hub_active", "gauge",
         "Per hub: 1 for the hub whose peer carries the allowed IPs, else 0.",
         [](const HealthResult &r, const std::string &l, std::vector<Sample> &out) {
	         if (!r.obs.device_read)
		         return;
	         for (auto &h : r.obs.hubs)
		         out.push_back({l + ",hub=\"" + label_value(h.endpoint) + "\"",
		                        h.active ? "1" : "0"});
         }},
        {"wgn_hub_peers", "gauge", "A hub's own interface: the number of its peers.",
         [](const HealthResult &r, const std::string &l, std::vector<Sample> &out) {
	         if (r.obs.peers)
		         out.push_back({l, u64(*r.obs.peers)});
         }},
        {"wgn_hub_peers_recent", "gauge",
         "A hub's own interface: the peers whose latest handshake is no older than "
         "health.stale_handshake.",
         [](const HealthResult &r, const std::string &l, std::vector<Sample> &out) {
	         if (r.peers_recent)
		         out.push_back({l, u64(*r.peers_recent)});
         }},
        {"wgn_info", "gauge", "Always 1; the labels say which backend and node id the tunnel has.",
         [](const HealthResult &r, const std::string &l, std::vector<Sample> &out) {
	         if (r.obs.device_read)
		         out.push_back({l + ",backend=\"" + label_value(r.obs.backend) +
		                                "\",node_id=\"" +
		                                label_value(r.obs.node_id.value_or("")) + "\"",
		                        "1"});
         }},
};

} // namespace

std::string format_health_prometheus(const std::vector<HealthResult> &rs)
{
	std::string out;
	for (auto &f : kFamilies) {
		std::vector<Sample> samples;
		for (auto &r : rs)
			f.samples(r, "interface=\"" + label_value(r.obs.interface) + "\"", samples);
		if (samples.empty())
			continue;
		out += std::string("# HELP ") + f.name + " " + f.help + "\n";
		out += std::string("# TYPE ") + f.name + " " + f.type + "\n";
		for (auto &s : samples)
			out += std::string(f.name) + "{" + s.labels + "} " + s.value + "\n";
	}
	return out;
}

} // namespace wgn
