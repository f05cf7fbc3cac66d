// Addresses, prefixes and endpoints as the config and the kernel both see them.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <netinet/in.h>
#include <sys/socket.h>

namespace wgn {

struct IpAddr {
	int family = AF_UNSPEC; // AF_INET or AF_INET6
	std::array<uint8_t, 16> bytes{}; // network order; the first 4 for AF_INET

	size_t size() const { return family == AF_INET ? 4 : 16; }
	std::string str() const;
	bool operator==(const IpAddr &) const = default;
	auto operator<=>(const IpAddr &) const = default;
};

// An address with a prefix length: "10.0.0.10/24" on an interface, "10.0.0.0/24" in
// allowed_ips. A bare address means a host prefix (/32 or /128).
struct IpPrefix {
	IpAddr addr;
	uint8_t prefix_len = 0;

	std::string str() const;
	bool is_default() const { return prefix_len == 0; }
	// The same prefix with host bits cleared, as a route or an allowed IP is stored.
	IpPrefix network() const;
	bool contains(const IpAddr &a) const;
	bool operator==(const IpPrefix &) const = default;
	auto operator<=>(const IpPrefix &) const = default;
};

std::optional<IpAddr> parse_ip(std::string_view s);
std::optional<IpPrefix> parse_prefix(std::string_view s);
bool is_loopback(const IpAddr &a);

// "host:port" or "[v6]:port". The host may be a name, resolved when used.
struct Endpoint {
	std::string host;
	uint16_t port = 0;

	std::string str() const;
	bool operator==(const Endpoint &) const = default;
};

// Returns an empty optional and sets *why to a short reason on a malformed endpoint.
std::optional<Endpoint> parse_endpoint(std::string_view s, std::string *why);

// A resolved socket address (what the kernel or the UAPI wants).
struct SockAddr {
	sockaddr_storage ss{};
	socklen_t len = 0;

	int family() const { return ss.ss_family; }
	std::string str() const; // "1.2.3.4:51820" or "[::1]:51820"
	bool operator==(const SockAddr &o) const;
};

std::optional<SockAddr> parse_sockaddr(std::string_view s); // numeric "ip:port" or "[ip]:port"

} // namespace wgn
