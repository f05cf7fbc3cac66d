// A userspace WireGuard daemon (wireguard-go, boringtun) over its UAPI socket and the
// text protocol of https://www.wireguard.com/xplatform/ (keys in hex there).
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

#include "device.h"

namespace wgn {

inline constexpr const char *kUapiSocketDir = "/var/run/wireguard";
// The most of one reply that wgn reads (a get of some 90,000 peers), and the time it
// gives a daemon to send it all; each read also gives up after 5 s of silence.
inline constexpr size_t kUapiMaxReplyBytes = 32 << 20;
inline constexpr std::chrono::seconds kUapiReplyTimeout{30};

class UapiWireGuard : public WireGuardControl {
public:
	// sock_dir is for tests; the daemons know only /var/run/wireguard.
	explicit UapiWireGuard(std::filesystem::path sock_dir = kUapiSocketDir)
	    : dir_(std::move(sock_dir))
	{}
	Status set_device(const std::string &ifname, const DeviceConfig &cfg) override;
	Result<DeviceState> get_device(const std::string &ifname) override;

private:
	std::filesystem::path dir_;
};

std::filesystem::path uapi_socket_path(const std::string &ifname,
                                       const std::filesystem::path &dir = kUapiSocketDir);
// A device whose socket exists is userspace, as wg(8) decides.
bool uapi_socket_exists(const std::string &ifname,
                        const std::filesystem::path &dir = kUapiSocketDir);

// "set=1\n...\n\n". Holds secret hex: wipe() it after use, never log it.
std::string format_set(const DeviceConfig &cfg);
// The body of a get reply (key=value lines up to and including errno=0).
Result<DeviceState> parse_get(std::string_view reply);
// The N of a reply's "errno=N" line; an error (os) when there is none or the
// reply is malformed.
Result<int> parse_errno(std::string_view reply);

} // namespace wgn
