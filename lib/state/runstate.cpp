#include "runstate.h"

#include <cerrno>
#include <cstring>
#include <ctime>

#include <nlohmann/json.hpp>
#include <unistd.h>

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
	if (st.reconciled_at) {
		j["reconciled_at"] = st.reconciled_at;
		j["reconciled_at_iso"] = iso8601_utc(st.reconciled_at);
	}
	return json_text(j, 2) + "\n";
}

std::optional<RunState> run_state_from_json(const std::string &text)
{
	json j = json::parse(text, nullptr, false);
	if (j.is_discarded() || !j.is_object())
		return std::nullopt;
	RunState st;
	try {
		st.interface = j.value("interface", "");
		st.connected_at = j.value("connected_at", int64_t{0});
		st.reconciled_at = j.value("reconciled_at", int64_t{0});
		st.backend = j.value("backend", "");
		if (j.contains("daemon_pid") && j["daemon_pid"].is_number_integer())
			st.daemon_pid = j["daemon_pid"].get<pid_t>();
		st.daemon_program = j.value("daemon_program", "");
		st.attempts = j.value("attempts", 0);
		st.config_path = j.value("config_path", "");
		st.config_fingerprint = j.value("config_fingerprint", "");
		st.endpoint = j.value("endpoint", "");
	} catch (const json::exception &) {
		return std::nullopt; // a field of the wrong type
	}
	return st;
}

Status write_run_state(const RunState &st)
{
	return write_file_atomic(run_state_path(st.interface), run_state_to_json(st), 0644);
}

Result<std::optional<RunState>> read_run_state(const std::string &ifname)
{
	auto path = run_state_path(ifname);
	if (access(path.c_str(), F_OK) < 0 && errno == ENOENT)
		return std::optional<RunState>{};
	auto text = read_file(path);
	if (!text)
		return make_error(Errc::os, text.error().message);
	auto st = run_state_from_json(*text);
	if (!st) {
		complain("ignoring " + path.string() + ": not a wgn run state");
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
	return sha256_hex(json_text(j));
}

} // namespace wgn
