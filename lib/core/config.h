// The TOML configuration of SPEC, parsed and validated in full before anything runs.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "error.h"
#include "keys.h"
#include "netaddr.h"

namespace wgn {

enum class Backend { automatic, kernel, userspace };
const char *backend_name(Backend b);

struct InterfaceConfig {
	std::string name;
	SecretKey private_key;
	Key public_key{}; // derived from private_key
	std::optional<std::filesystem::path> private_key_file;
	std::vector<IpPrefix> addresses;
	std::optional<uint16_t> listen_port;
	std::optional<uint32_t> mtu;
	uint32_t fwmark = 0;
	Backend backend = Backend::automatic;
};

struct HubConfig {
	Key public_key{};
	Endpoint endpoint;
	std::vector<IpPrefix> allowed_ips; // stored as networks (host bits cleared)
	std::optional<uint16_t> persistent_keepalive;
	std::optional<std::filesystem::path> preshared_key_file;
	std::optional<SecretKey> preshared_key;
	std::optional<IpAddr> tunnel_address;
	// [[hub]]: lower is preferred; default the position in the file. [hub]: 0.
	int64_t priority = 0;
};

struct ConnectConfig {
	int max_retries = 5;
	double initial_backoff = 2.0;
	double max_backoff = 60.0;
	double attempt_timeout = 5.0;
	double timeout = 120.0;
};

struct HealthConfig {
	double stale_handshake = 180;
	double ping_timeout = 2.0;
	double interval = 5.0;        // watch: seconds between checks (at least 0.5)
	int failures = 3;             // watch: failed checks of the active hub before acting
	double failback_after = 60.0; // watch: seconds the preferred hub answers before failback
	std::optional<std::filesystem::path> textfile_dir; // watch writes wgn_NAME.prom here
};

struct ControlPlaneConfig {
	std::string url;
	std::optional<std::filesystem::path> token_file;
	std::optional<std::filesystem::path> ca_file;
	double timeout = 10.0;
	int max_retries = 5;
	std::map<std::string, std::string> labels;
};

struct Config {
	std::filesystem::path path;
	InterfaceConfig interface;
	// The preferred hub: hubs.front(). With one hub ([hub], or one [[hub]]) the hub.
	HubConfig hub;
	// No [hub] table: the config of a hub itself (SPEC "wgn sync"); only loaded when
	// ConfigLoadOptions::allow_hub_config says so, `hub` is then left empty.
	bool is_hub_config = false;
	// Every hub of the network, best first (priority, then the order in the file);
	// hubs.front() is `hub`. Several hubs: one active peer carries allowed_ips, the
	// others are standbys routed only to their own tunnel_address (SPEC "Several hubs").
	std::vector<HubConfig> hubs;
	ConnectConfig connect;
	HealthConfig health;
	std::optional<ControlPlaneConfig> control_plane;
};

// NAME -> DIR/NAME.toml (DIR: --config-dir, else $WGN_CONFIG_DIR, else /etc/wgn);
// an argument with a '/' or ending in ".toml" is a path. Errors: usage (64).
Result<std::filesystem::path> resolve_config_path(const std::string &arg,
                                                  const std::optional<std::string> &config_dir);
std::filesystem::path config_dir(const std::optional<std::string> &config_dir);
bool is_valid_interface_name(const std::string &name);
// Why `name` cannot be an interface: "is not an interface name (...)" and the like, to
// follow the quoted name; empty when it can. Besides SPEC's pattern, "." and ".." (the
// kernel refuses them) and a leading `-' (the daemon would read it as an option).
std::string interface_name_problem(const std::string &name);

// A control plane URL as control_plane.url must be: https, or plain http to a loopback
// host only (nobody else can listen there). Returns it without trailing slashes, or an
// error (config) whose message quotes the URL and says why.
Result<std::string> check_control_plane_url(std::string url);

// Parses and validates. Errors: no_input (66) for a missing file, config (78) for the
// rest, each one sentence "FILE:LINE: KEY: what is wrong".
Result<Config> load_config(const std::filesystem::path &path);
// The same, from text (tests); key files are still read from disk.
Result<Config> parse_config(const std::string &text, const std::filesystem::path &path);

// What a load reads besides the config itself. `health` reads no key file: a monitoring
// user should not need read access to the node's private key (private_key and
// public_key are then left zero; the paths are still checked to be strings).
struct ConfigLoadOptions {
	bool read_key_files = true;
	// `sync` reads a hub's own config, which has no [hub]; the node commands refuse one.
	bool allow_hub_config = false;
};
Result<Config> load_config(const std::filesystem::path &path, const ConfigLoadOptions &opt);
Result<Config> parse_config(const std::string &text, const std::filesystem::path &path,
                            const ConfigLoadOptions &opt);

} // namespace wgn
