// The kernel's WireGuard over generic netlink (the `wireguard` family), as
// wireguard-tools' ipc-linux.h speaks it. Builders and the reply parser are pure so
// they can be tested byte for byte without the module.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <linux/netlink.h>

#include "device.h"

namespace wgn {

class GenlWireGuard : public WireGuardControl {
public:
	// Each call opens its own socket and resolves the family, as `wg` does: the
	// module may be loaded between calls.
	Status set_device(const std::string &ifname, const DeviceConfig &cfg) override;
	Result<DeviceState> get_device(const std::string &ifname) override;

	// The family resolves, or /sys/module/wireguard exists. Needs no privilege.
	static bool kernel_has_wireguard();
};

// Messages that may hold key bytes: wiped when destroyed.
struct GenlMessages {
	std::vector<std::vector<uint8_t>> msgs;
	GenlMessages() = default;
	GenlMessages(GenlMessages &&) = default;
	GenlMessages &operator=(GenlMessages &&) = default;
	~GenlMessages();
};

inline constexpr size_t kGenlBufSize = 8192; // MNL_SOCKET_BUFFER_SIZE on x86-64

// build_getfamily and build_get_device write one message into buf, which holds at least
// kGenlSmallBufSize bytes, and return its length; 0 when it would not fit (a name too
// long), with nothing written past the buffer.
inline constexpr size_t kGenlSmallBufSize = 256;
size_t build_getfamily(char *buf, uint32_t seq, const char *family_name);
// CTRL_ATTR_FAMILY_ID of a CTRL_CMD_NEWFAMILY reply; 0 when absent.
uint16_t parse_family_id(const nlmsghdr *nlh);

// WG_CMD_SET_DEVICE split into messages of at most buf_size bytes the way `wg` splits
// them: a peer or its allowed IPs continue in the next message (seq, seq+1, ...).
Result<GenlMessages> build_set_device(uint16_t family, uint32_t seq, const std::string &ifname,
                                      const DeviceConfig &cfg, size_t buf_size = kGenlBufSize);
size_t build_get_device(char *buf, uint32_t seq, uint16_t family, const std::string &ifname);

// Merges one part of a WG_CMD_GET_DEVICE dump into state: a peer continued from the
// previous part (same public key) gets its allowed IPs appended.
Status parse_device_part(const nlmsghdr *nlh, DeviceState &state);

} // namespace wgn
