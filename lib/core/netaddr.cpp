#include "netaddr.h"

#include <arpa/inet.h>
#include <charconv>
#include <cstring>

namespace wgn {

std::string IpAddr::str() const
{
	if (family == AF_INET) { // glibc's inet_ntop takes a sprintf per byte, ~4,000 instructions
		std::string s = std::to_string(bytes[0]);
		for (size_t i = 1; i < 4; ++i)
			s.append(".").append(std::to_string(bytes[i]));
		return s;
	}
	char buf[INET6_ADDRSTRLEN] = "";
	inet_ntop(family, bytes.data(), buf, sizeof(buf));
	return buf;
}

std::optional<IpAddr> parse_ip(std::string_view s)
{
	std::string z(s);
	IpAddr a;
	if (inet_pton(AF_INET, z.c_str(), a.bytes.data()) == 1) {
		a.family = AF_INET;
		return a;
	}
	if (inet_pton(AF_INET6, z.c_str(), a.bytes.data()) == 1) {
		a.family = AF_INET6;
		return a;
	}
	return std::nullopt;
}

std::optional<IpPrefix> parse_prefix(std::string_view s)
{
	auto slash = s.find('/');
	auto addr = parse_ip(s.substr(0, slash));
	if (!addr)
		return std::nullopt;
	IpPrefix p{*addr, static_cast<uint8_t>(addr->size() * 8)};
	if (slash == std::string_view::npos)
		return p;
	auto len = s.substr(slash + 1);
	unsigned v = 0;
	auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), v);
	if (len.empty() || ec != std::errc() || end != len.data() + len.size() ||
	    v > addr->size() * 8)
		return std::nullopt;
	p.prefix_len = static_cast<uint8_t>(v);
	return p;
}

std::string IpPrefix::str() const { return addr.str() + "/" + std::to_string(prefix_len); }

IpPrefix IpPrefix::network() const
{
	IpPrefix n = *this;
	for (size_t i = 0; i < addr.size(); ++i) {
		int bits = static_cast<int>(prefix_len) - static_cast<int>(i) * 8;
		if (bits >= 8)
			continue;
		n.addr.bytes[i] &= bits <= 0 ? 0 : static_cast<uint8_t>(0xff << (8 - bits));
	}
	return n;
}

bool IpPrefix::contains(const IpAddr &a) const
{
	if (a.family != addr.family)
		return false;
	IpPrefix other{a, prefix_len};
	return other.network().addr == network().addr;
}

bool is_loopback(const IpAddr &a)
{
	if (a.family == AF_INET)
		return a.bytes[0] == 127;
	static const std::array<uint8_t, 16> v6_loopback{0, 0, 0, 0, 0, 0, 0, 0,
							 0, 0, 0, 0, 0, 0, 0, 1};
	return a.family == AF_INET6 && a.bytes == v6_loopback;
}

std::string Endpoint::str() const
{
	if (host.find(':') != std::string::npos)
		return "[" + host + "]:" + std::to_string(port);
	return host + ":" + std::to_string(port);
}

std::optional<Endpoint> parse_endpoint(std::string_view s, std::string *why)
{
	Endpoint e;
	std::string_view port;
	if (!s.empty() && s.front() == '[') {
		auto close = s.find(']');
		if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
			*why = "expected [address]:port";
			return std::nullopt;
		}
		e.host = std::string(s.substr(1, close - 1));
		auto a = parse_ip(e.host);
		if (!a || a->family != AF_INET6) {
			*why = "the part in brackets is not an IPv6 address";
			return std::nullopt;
		}
		port = s.substr(close + 2);
	} else {
		auto colon = s.rfind(':');
		if (colon == std::string_view::npos || colon == 0) {
			*why = "expected host:port";
			return std::nullopt;
		}
		e.host = std::string(s.substr(0, colon));
		if (e.host.find(':') != std::string::npos) {
			*why = "an IPv6 address needs brackets: [address]:port";
			return std::nullopt;
		}
		port = s.substr(colon + 1);
	}
	unsigned v = 0;
	auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
	if (port.empty() || ec != std::errc() || end != port.data() + port.size() || v < 1 ||
	    v > 65535) {
		*why = "the port must be a number from 1 to 65535";
		return std::nullopt;
	}
	for (char c : e.host) {
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '-' || c == '.' || c == ':' || c == '_' || c == '%';
		if (!ok) {
			*why = "the host contains a character that no name or address has";
			return std::nullopt;
		}
	}
	e.port = static_cast<uint16_t>(v);
	return e;
}

std::string SockAddr::str() const
{
	char buf[INET6_ADDRSTRLEN] = "";
	if (ss.ss_family == AF_INET) {
		auto *sin = reinterpret_cast<const sockaddr_in *>(&ss);
		inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
		return std::string(buf) + ":" + std::to_string(ntohs(sin->sin_port));
	}
	if (ss.ss_family == AF_INET6) {
		auto *sin6 = reinterpret_cast<const sockaddr_in6 *>(&ss);
		inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
		return "[" + std::string(buf) + "]:" + std::to_string(ntohs(sin6->sin6_port));
	}
	return "";
}

bool SockAddr::operator==(const SockAddr &o) const
{
	return len == o.len && std::memcmp(&ss, &o.ss, len) == 0;
}

std::optional<SockAddr> parse_sockaddr(std::string_view s)
{
	std::string why;
	auto e = parse_endpoint(s, &why);
	if (!e)
		return std::nullopt;
	auto a = parse_ip(e->host);
	if (!a)
		return std::nullopt;
	SockAddr sa;
	if (a->family == AF_INET) {
		auto *sin = reinterpret_cast<sockaddr_in *>(&sa.ss);
		sin->sin_family = AF_INET;
		sin->sin_port = htons(e->port);
		std::memcpy(&sin->sin_addr, a->bytes.data(), 4);
		sa.len = sizeof(sockaddr_in);
	} else {
		auto *sin6 = reinterpret_cast<sockaddr_in6 *>(&sa.ss);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(e->port);
		std::memcpy(&sin6->sin6_addr, a->bytes.data(), 16);
		sa.len = sizeof(sockaddr_in6);
	}
	return sa;
}

} // namespace wgn
