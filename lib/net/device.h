// The WireGuard device as wgn sets it and reads it back: the data model shared by the
// kernel (generic netlink) and userspace (UAPI) backends, like wireguard-tools'
// containers.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "error.h"
#include "keys.h"
#include "netaddr.h"

namespace wgn {

// What to change. Unset optionals are left as they are on the device.
struct PeerConfig {
	Key public_key{};
	bool remove = false;                    // remove this peer
	std::optional<SecretKey> preshared_key; // set; an all-zero key clears it
	std::optional<SockAddr> endpoint;
	std::optional<uint16_t> persistent_keepalive; // 0 turns it off
	bool replace_allowed_ips = false;
	std::vector<IpPrefix> allowed_ips;
};

struct DeviceConfig {
	std::optional<SecretKey> private_key;
	std::optional<uint16_t> listen_port;
	std::optional<uint32_t> fwmark;
	bool replace_peers = false; // remove every peer not listed
	std::vector<PeerConfig> peers;
};

// What the device reports.
struct PeerState {
	Key public_key{};
	std::optional<SecretKey> preshared_key; // both backends report it to root
	std::optional<SockAddr> endpoint;
	uint16_t persistent_keepalive = 0;
	int64_t last_handshake_sec = 0; // seconds since the epoch; 0 means never
	uint64_t rx_bytes = 0;
	uint64_t tx_bytes = 0;
	std::vector<IpPrefix> allowed_ips;
};

struct DeviceState {
	std::string name;
	bool has_private_key = false;
	// Both backends report it to root; kept so a failed reconcile can put it back.
	// There is no public key here: UAPI has none, and deriving it (X25519, libcrypto
	// loaded for it) on every read would cost `wgn health` a third of its run.
	std::optional<SecretKey> private_key;
	uint16_t listen_port = 0;
	uint32_t fwmark = 0;
	std::vector<PeerState> peers;
};

// One WireGuard control channel: generic netlink for the kernel, the UAPI socket for a
// userspace daemon. Implementations live in wg_genl.cpp and uapi.cpp; tests use fakes.
class WireGuardControl {
public:
	virtual ~WireGuardControl() = default;
	virtual Status set_device(const std::string &ifname, const DeviceConfig &cfg) = 0;
	virtual Result<DeviceState> get_device(const std::string &ifname) = 0;
};

} // namespace wgn
