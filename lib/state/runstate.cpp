#include "runstate.h"

#include <cerrno>
#include <cstring>
#include <ctime>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "file_read.h"
#include "fsutil.h"
#include "json_text.h"
#include "keys.h"
#include "log.h"

namespace wgn {

using nlohmann::json;

std::filesystem::path run_state_path(const std::string &ifname)
{
	return run_dir() / (ifname + ".json");
}

std::string iso8601_utc(int64_t epoch_seconds)
{
	time_t t = static_cast<time_t>(epoch_seconds);
	struct tm tm {};
	char buf[32];
	// A time whose year does not fit an int (a damaged state) has no date: empty, not
	// the zeroed struct's "1900-01-00T00:00:00Z".
	if (!gmtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return "";
	return buf;
}

std::string run_state_to_json(const RunState &st)
{
	json j = {
	        {"interface", st.interface},
	        {"connected_at", st.connected_at},
	        {"connected_at_iso", iso8601_utc(st.connected_at)},
	        {"backend", st.backend},
	        {"daemon_pid", st.daemon_pid ? json(*st.daemon_pid) : json(nullptr)},
	        {"attempts", st.attempts},
	        {"config_path", st.config_path},
	        {"config_fingerprint", st.config_fingerprint},
	        {"endpoint", st.endpoint},
	};
	if (!st.daemon_program.empty())
		j["daemon_program"] = st.daemon_program;
	if (!st.active_hub.empty())
		j["active_hub"] = st.active_hub;
	if (st.reconciled_at) {
		j["reconciled_at"] = st.reconciled_at;
		j["reconciled_at_iso"] = iso8601_utc(st.reconciled_at);
	}
	return json_text(j, 2) + "\n";
}

namespace {

// The fields of a run state, strictly: a value of the wrong type or out of range makes
// the whole file damaged. nlohmann's own conversions would turn 1e300 or NaN into an
// integer with undefined behaviour, and a string into an exception.
struct FieldReader {
	const json &j;
	std::string why; // the first problem, for the complaint

	bool bad(const char *key, const char *what)
	{
		if (why.empty())
			why = std::string(key) + " is not " + what;
		return false;
	}
	bool str(const char *key, std::string *out, size_t max = 4096)
	{
		auto it = j.find(key);
		if (it == j.end() || it->is_null())
			return true;
		if (!it->is_string() || it->get_ref<const std::string &>().size() > max)
			return bad(key, "a string");
		*out = it->get<std::string>();
		return true;
	}
	// Integers only (a float is refused, not converted), within [lo, hi].
	bool integer(const char *key, int64_t lo, int64_t hi, int64_t *out, const char *what)
	{
		auto it = j.find(key);
		if (it == j.end() || it->is_null())
			return true;
		if (it->is_number_unsigned()) {
			uint64_t v = it->get<uint64_t>();
			if (v > static_cast<uint64_t>(hi) || static_cast<int64_t>(v) < lo)
				return bad(key, what);
			*out = static_cast<int64_t>(v);
			return true;
		}
		if (!it->is_number_integer())
			return bad(key, what);
		int64_t v = it->get<int64_t>();
		if (v < lo || v > hi)
			return bad(key, what);
		*out = v;
		return true;
	}
};

// Seconds since the epoch up to the year 9999, beyond which nothing wgn wrote can be.
constexpr int64_t kMaxEpoch = 253402300799;
// PID_MAX_LIMIT of Linux (2^22).
constexpr int64_t kMaxPid = 4194304;

} // namespace

std::optional<RunState> run_state_from_json(const std::string &text, std::string *why)
{
	json j = json::parse(text, nullptr, false);
	auto damaged = [&](const std::string &w) -> std::optional<RunState> {
		if (why)
			*why = w;
		return std::nullopt;
	};
	if (j.is_discarded())
		return damaged("not JSON");
	if (!j.is_object())
		return damaged("not a JSON object");
	RunState st;
	FieldReader f{j, {}};
	int64_t pid = 0, attempts = 0;
	bool has_pid = j.contains("daemon_pid") && !j["daemon_pid"].is_null();
	bool ok = f.str("interface", &st.interface, 15) &&
	          f.integer("connected_at", 0, kMaxEpoch, &st.connected_at,
	                    "a time in seconds since the epoch") &&
	          f.integer("reconciled_at", 0, kMaxEpoch, &st.reconciled_at,
	                    "a time in seconds since the epoch") &&
	          f.str("backend", &st.backend) &&
	          f.integer("daemon_pid", 1, kMaxPid, &pid, "a process id") &&
	          f.str("daemon_program", &st.daemon_program) &&
	          f.integer("attempts", 0, 1 << 20, &attempts, "a number of attempts") &&
	          f.str("config_path", &st.config_path) &&
	          f.str("config_fingerprint", &st.config_fingerprint) &&
	          f.str("endpoint", &st.endpoint) && f.str("active_hub", &st.active_hub, 64);
	if (!ok)
		return damaged(f.why);
	if (has_pid)
		st.daemon_pid = static_cast<pid_t>(pid);
	st.attempts = static_cast<int>(attempts);
	return st;
}

std::optional<RunState> run_state_from_json(const std::string &text)
{
	return run_state_from_json(text, nullptr);
}

Status write_run_state(const RunState &st)
{
	return write_file_atomic(run_state_path(st.interface), run_state_to_json(st), 0644);
}

Result<std::optional<RunState>> read_run_state(const std::string &ifname)
{
	auto path = run_state_path(ifname);
	auto text = read_bounded_file(path, "run state", kMaxStateBytes, Errc::software, Errc::os);
	if (!text && text.error().code == Errc::no_input)
		return std::optional<RunState>{};
	if (!text && text.error().code == Errc::os)
		return text.error();
	// Damaged (not a regular file, too big, not what wgn writes): said once and left
	// aside, so that `down` can still take the tunnel down by what it observes.
	if (!text) {
		complain(text.error().message + "; ignoring it");
		return std::optional<RunState>{};
	}
	std::string why;
	auto st = run_state_from_json(*text, &why);
	if (!st) {
		complain("ignoring " + path.string() + ": not a wgn run state (" + why + ")");
		return std::optional<RunState>{};
	}
	return std::optional<RunState>{std::move(*st)};
}

Status remove_run_state(const std::string &ifname)
{
	auto path = run_state_path(ifname);
	if (unlink(path.c_str()) < 0 && errno != ENOENT)
		return make_error(Errc::cant_create,
		                  "cannot remove " + path.string() + ": " + std::strerror(errno));
	// An up killed while it wrote the state left its temp: gone with the state.
	remove_dead_temps(path);
	return Ok{};
}

std::string config_fingerprint(const Config &cfg)
{
	const auto &ic = cfg.interface;
	const auto &hub = cfg.hub;
	json addrs = json::array(), aips = json::array();
	for (auto &a : ic.addresses)
		addrs.push_back(a.str());
	for (auto &a : hub.allowed_ips)
		aips.push_back(a.str());
	// Only whether a preshared key is set: its bytes are secret.
	json j = {
	        {"public_key", base64_encode(ic.public_key)},
	        {"name", ic.name},
	        {"addresses", addrs},
	        {"listen_port", ic.listen_port ? json(*ic.listen_port) : json(nullptr)},
	        {"mtu", ic.mtu ? json(*ic.mtu) : json(nullptr)},
	        {"fwmark", ic.fwmark},
	        {"backend", backend_name(ic.backend)},
	        {"hub_public_key", base64_encode(hub.public_key)},
	        {"endpoint", hub.endpoint.str()},
	        {"allowed_ips", aips},
	        {"keepalive",
	         hub.persistent_keepalive ? json(*hub.persistent_keepalive) : json(nullptr)},
	        {"psk", hub.preshared_key.has_value()},
	        {"tunnel_address",
	         hub.tunnel_address ? json(hub.tunnel_address->str()) : json(nullptr)},
	};
	// Several hubs: all of them, in order (one hub keeps the fingerprint it always had,
	// so that an upgrade does not take a running tunnel for another configuration).
	if (cfg.hubs.size() > 1) {
		json hubs = json::array();
		for (auto &h : cfg.hubs) {
			json ips = json::array();
			for (auto &a : h.allowed_ips)
				ips.push_back(a.str());
			hubs.push_back(
			        {{"public_key", base64_encode(h.public_key)},
			         {"endpoint", h.endpoint.str()},
			         {"allowed_ips", ips},
			         {"keepalive", h.persistent_keepalive
			                               ? json(*h.persistent_keepalive)
			                               : json(nullptr)},
			         {"psk", h.preshared_key.has_value()},
			         {"tunnel_address", h.tunnel_address ? json(h.tunnel_address->str())
			                                             : json(nullptr)}});
		}
		j["hubs"] = hubs;
	}
	return sha256_hex(json_text(j));
}

} // namespace wgn
