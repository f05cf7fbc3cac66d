// Proof that a tunnel carries traffic: one ICMP echo to the hub's tunnel address sent
// through the interface, or, when the hub has no tunnel address, a completed handshake.
// `up` verifies with these and `health` looks with them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "device.h"
#include "error.h"
#include "netaddr.h"

namespace wgn {

struct ProbeOptions {
	// A descriptor that becomes readable when the wait should stop early (the
	// SIGINT/SIGTERM self-pipe of `up`); -1 for none. Stopping early is an error
	// (temp_fail) saying so.
	int cancel_fd = -1;
};

// Sends an ICMP echo request to dst bound to ifname (SO_BINDTODEVICE) and waits for
// the reply. While none has come, the request is sent again 0.25 s later, then at
// doubling intervals of at most 1 s (a first packet may be dropped by a device that is
// not ready yet); a reply to any of them answers. Uses an unprivileged ping socket when
// net.ipv4.ping_group_range admits us, else a raw socket (CAP_NET_RAW). Returns the
// round-trip time in seconds. Errors: unavailable (69) when no reply came within
// timeout ("hub 10.0.0.1 did not answer within 5.0s"); os (71) when the socket cannot
// be made; no_perm (77) when neither kind of socket is allowed.
Result<double> ping_through(const std::string &ifname, const IpAddr &dst, double timeout,
                            const ProbeOptions &opt = {});

// One echo to each of dsts at once through ifname, each with its own socket, waiting
// up to timeout for the replies: the probe of several hubs costs one timeout, not one
// per hub. Element i is what ping_through would have said for dsts[i]. With
// stop_at_best, the wait ends as soon as some dsts[k] answered and every dsts[j], j < k,
// answered or could not be sent (the first in the list that answers is all that is
// wanted); the ones still pending then say they did not answer.
std::vector<Result<double>> ping_many(const std::string &ifname, const std::vector<IpAddr> &dsts,
                                      double timeout, bool stop_at_best = false,
                                      const ProbeOptions &opt = {});

// Waits until the device reports a handshake with peer newer than after_epoch (seconds
// since the epoch), polling its state with the remaining time. It sends a datagram
// through the interface to kick_dst (any address the peer's allowed IPs cover), because
// WireGuard starts a handshake only when it has something to send, and again on
// ping_through's schedule while no handshake has come.
// Returns the seconds waited. Errors: unavailable when none came within timeout.
Result<double> wait_for_handshake(WireGuardControl &wg, const std::string &ifname, const Key &peer,
                                  int64_t after_epoch, const IpAddr &kick_dst, double timeout,
                                  const ProbeOptions &opt = {});

// The pure parts, tested without sockets.
// An echo request: type 8 (v4) or 128 (v6), the given id and seq, then payload. The
// v4 checksum is filled in (the kernel does it for v6 and for ping sockets anyway).
std::string build_echo_request(int family, uint16_t id, uint16_t seq, const std::string &payload);
// Whether buf (an ICMP message; for raw IPv4 sockets the IP header is skipped first
// when ip_header is set) is the echo reply to (id, seq, payload). check_id is false
// for ping sockets, whose id the kernel chooses.
bool is_echo_reply(int family, const uint8_t *buf, size_t len, bool ip_header, bool check_id,
                   uint16_t id, uint16_t seq, const std::string &payload);
uint16_t inet_checksum(const uint8_t *p, size_t len);
// The host address verification kicks when the hub has no tunnel address: the first
// address after the network of prefix (10.0.0.0/24 -> 10.0.0.1), or the address itself
// for a host prefix.
IpAddr first_host(const IpPrefix &prefix);

} // namespace wgn
