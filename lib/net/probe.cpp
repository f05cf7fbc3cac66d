#include "probe.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <optional>
#include <vector>

#include <netinet/icmp6.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "duration.h"
#include "fd.h"
#include "log.h"

namespace wgn {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0)
{
	return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Milliseconds for poll(): rounded up, so that a wait never ends just short of the
// deadline and spins.
int poll_ms(double seconds)
{
	return static_cast<int>(milliseconds_of(seconds, 2000000000));
}

Error sys_error(const std::string &what)
{
	int e = errno;
	Errc c = (e == EPERM || e == EACCES) ? Errc::no_perm : Errc::os;
	return make_error(c, what + ": " + std::strerror(e));
}

Error cancelled()
{
	return make_error(Errc::temp_fail, "interrupted");
}

bool cancel_pending(int cancel_fd)
{
	if (cancel_fd < 0)
		return false;
	pollfd p{cancel_fd, POLLIN, 0};
	return poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

// Waits up to `seconds` for fd (may be -1: just the wait) or the cancel fd.
// Returns 1 when fd is readable, 0 on timeout, -1 when cancelled.
int wait_readable(int fd, int cancel_fd, double seconds)
{
	pollfd p[2] = {{fd, POLLIN, 0}, {cancel_fd, POLLIN, 0}};
	int r = poll(p, 2, poll_ms(seconds));
	if (r < 0)
		return errno == EINTR ? (cancel_pending(cancel_fd) ? -1 : 0) : 0;
	if (p[1].revents & POLLIN)
		return -1;
	return r > 0 && (p[0].revents & (POLLIN | POLLERR)) ? 1 : 0;
}

SockAddr to_sockaddr(const IpAddr &a, uint16_t port)
{
	SockAddr s;
	if (a.family == AF_INET) {
		auto *sin = reinterpret_cast<sockaddr_in *>(&s.ss);
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		std::memcpy(&sin->sin_addr, a.bytes.data(), 4);
		s.len = sizeof(*sin);
	} else {
		auto *sin6 = reinterpret_cast<sockaddr_in6 *>(&s.ss);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		std::memcpy(&sin6->sin6_addr, a.bytes.data(), 16);
		s.len = sizeof(*sin6);
	}
	return s;
}

Status bind_to_device(int fd, const std::string &ifname)
{
	if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(),
	               static_cast<socklen_t>(ifname.size() + 1)) < 0)
		return sys_error("cannot bind a socket to " + ifname);
	return Ok{};
}

std::string random_payload()
{
	std::string p = "wgn-probe-";
	uint8_t r[8] = {};
	if (getrandom(r, sizeof(r), 0) != sizeof(r)) {
		auto t = Clock::now().time_since_epoch().count();
		std::memcpy(r, &t, sizeof(r));
	}
	static const char hex[] = "0123456789abcdef";
	for (uint8_t b : r) {
		p += hex[b >> 4];
		p += hex[b & 15];
	}
	return p;
}

} // namespace

uint16_t inet_checksum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += static_cast<uint32_t>(p[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return static_cast<uint16_t>(~sum);
}

std::string build_echo_request(int family, uint16_t id, uint16_t seq, const std::string &payload)
{
	std::string m(8, '\0');
	m[0] = static_cast<char>(family == AF_INET ? ICMP_ECHO : ICMP6_ECHO_REQUEST);
	m[4] = static_cast<char>(id >> 8);
	m[5] = static_cast<char>(id & 0xff);
	m[6] = static_cast<char>(seq >> 8);
	m[7] = static_cast<char>(seq & 0xff);
	m += payload;
	if (family == AF_INET) {
		uint16_t c = inet_checksum(reinterpret_cast<const uint8_t *>(m.data()), m.size());
		m[2] = static_cast<char>(c >> 8);
		m[3] = static_cast<char>(c & 0xff);
	}
	return m;
}

bool is_echo_reply(int family, const uint8_t *buf, size_t len, bool ip_header, bool check_id,
                   uint16_t id, uint16_t seq, const std::string &payload)
{
	if (ip_header) {
		if (len < 20 || (buf[0] >> 4) != 4)
			return false;
		size_t ihl = static_cast<size_t>(buf[0] & 0x0f) * 4;
		if (ihl < 20 || ihl > len)
			return false;
		buf += ihl;
		len -= ihl;
	}
	if (len < 8 + payload.size())
		return false;
	uint8_t want = family == AF_INET ? ICMP_ECHOREPLY : ICMP6_ECHO_REPLY;
	if (buf[0] != want || buf[1] != 0)
		return false;
	if (check_id && (buf[4] != (id >> 8) || buf[5] != (id & 0xff)))
		return false;
	if (buf[6] != (seq >> 8) || buf[7] != (seq & 0xff))
		return false;
	return std::memcmp(buf + 8, payload.data(), payload.size()) == 0;
}

IpAddr first_host(const IpPrefix &prefix)
{
	IpPrefix net = prefix.network();
	IpAddr a = net.addr;
	if (prefix.prefix_len >= a.size() * 8)
		return prefix.addr;
	// Add one to the network address, carrying through the bytes.
	for (size_t i = a.size(); i-- > 0;)
		if (++a.bytes[i] != 0)
			break;
	return a;
}

namespace {

// When an echo, or the datagram that starts a handshake, is sent again within one wait:
// 0.25 s after the first, then at doubling intervals of at most 1 s. A first packet can
// be lost without anything being wrong with the tunnel: wireguard-go drops what it
// reads from its TUN until it has seen its link come up, which it learns from a netlink
// event of its own, and a loaded machine may deliver that event after `up` has sent
// its echo. Without the repeat, that costs a whole attempt.
struct Resend {
	double interval = 0.25; // before next, which is initialized from it
	Clock::time_point next;
	explicit Resend(Clock::time_point t0) : next(t0 + to_duration(interval)) {}
	static Clock::duration to_duration(double s)
	{
		return std::chrono::duration_cast<Clock::duration>(
		        std::chrono::duration<double>(s));
	}
	bool due(Clock::time_point now) const { return now >= next; }
	void sent(Clock::time_point now)
	{
		interval = std::min(interval * 2, 1.0);
		next = now + to_duration(interval);
	}
	double seconds_until(Clock::time_point now) const
	{
		return std::max(0.0, std::chrono::duration<double>(next - now).count());
	}
};

// One echo in flight: its socket, what its reply must carry, and when each of its
// requests (sequence numbers 1, 2, ...) was sent.
struct Echo {
	std::optional<UniqueFd> sock;
	bool raw = false;
	int family = AF_INET;
	uint16_t id = 0;
	std::string payload;
	std::string hub;
	SockAddr to;
	std::vector<Clock::time_point> sent;
	std::optional<Result<double>> result; // set once decided
};

// Sends the next request of e; a failure decides e.result.
void send_request(Echo &e, const std::string &ifname)
{
	const auto seq = static_cast<uint16_t>(e.sent.size() + 1);
	const std::string req = build_echo_request(e.family, e.id, seq, e.payload);
	e.sent.push_back(Clock::now());
	if (sendto(e.sock->get(), req.data(), req.size(), 0,
	           reinterpret_cast<const sockaddr *>(&e.to.ss), e.to.len) < 0) {
		int err = errno;
		if (err == EPERM || err == EACCES) {
			e.result = sys_error("cannot send an ICMP echo to " + e.hub);
			return;
		}
		// WireGuard says ENOKEY or EDESTADDRREQ when it has no peer or endpoint for
		// dst; routing says unreachable. Either way the hub cannot answer.
		e.result =
		        make_error(Errc::unavailable, e.hub + " cannot be reached through " +
		                                              ifname + ": " + std::strerror(err));
	}
}

// Opens the socket of one echo and sends its first request; a failure decides e.result.
void send_echo(Echo &e, const std::string &ifname, const IpAddr &dst)
{
	e.family = dst.family;
	const int proto = e.family == AF_INET ? int{IPPROTO_ICMP} : int{IPPROTO_ICMPV6};
	e.hub = "hub " + dst.str();
	// A ping socket needs no privilege when ping_group_range admits our group; the
	// kernel refuses it with EACCES otherwise, and then only a raw socket will do.
	int s = socket(e.family, SOCK_DGRAM | SOCK_CLOEXEC, proto);
	if (s < 0 && (errno == EACCES || errno == EPERM || errno == EPROTONOSUPPORT)) {
		e.raw = true;
		s = socket(e.family, SOCK_RAW | SOCK_CLOEXEC, proto);
	}
	if (s < 0) {
		e.result = sys_error(
		        std::string("cannot open an ICMP socket to probe ") + e.hub +
		        (errno == EPERM || errno == EACCES
		                 ? " (needs CAP_NET_RAW or a group in net.ipv4.ping_group_range)"
		                 : ""));
		return;
	}
	e.sock.emplace(s);
	if (auto st = bind_to_device(s, ifname); !st) {
		e.result = st.error();
		return;
	}
	if (e.raw && e.family == AF_INET6) {
		// Only echo replies: a raw ICMPv6 socket sees every neighbour message otherwise.
		icmp6_filter f;
		ICMP6_FILTER_SETBLOCKALL(&f);
		ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f);
		setsockopt(s, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof(f));
	}
	e.id = static_cast<uint16_t>(getpid() ^ (Clock::now().time_since_epoch().count() & 0xffff));
	e.payload = random_payload();
	e.to = to_sockaddr(dst, 0);
	send_request(e, ifname);
}

} // namespace

std::vector<Result<double>> ping_many(const std::string &ifname, const std::vector<IpAddr> &dsts,
                                      double timeout, bool stop_at_best, const ProbeOptions &opt)
{
	std::vector<Echo> echoes(dsts.size());
	auto t0 = Clock::now();
	for (size_t i = 0; i < dsts.size(); ++i)
		send_echo(echoes[i], ifname, dsts[i]);
	Resend resend(t0);

	auto finished = [&] {
		for (auto &e : echoes) {
			if (!e.result)
				return false;
			if (stop_at_best && *e.result)
				return true; // every one before it is decided
		}
		return true;
	};
	uint8_t buf[1500];
	bool cancelled_early = false;
	while (!finished()) {
		double left = timeout - seconds_since(t0);
		if (left <= 0)
			break;
		auto now = Clock::now();
		if (resend.due(now)) {
			for (auto &e : echoes)
				if (!e.result)
					send_request(e, ifname);
			resend.sent(now);
			continue; // a send may have decided the last pending echo
		}
		left = std::min(left, resend.seconds_until(now));
		std::vector<pollfd> p;
		std::vector<size_t> which;
		for (size_t i = 0; i < echoes.size(); ++i)
			if (!echoes[i].result) {
				p.push_back({echoes[i].sock->get(), POLLIN, 0});
				which.push_back(i);
			}
		p.push_back({opt.cancel_fd, POLLIN, 0});
		int r = poll(p.data(), p.size(), poll_ms(left));
		if (r < 0) {
			if (errno == EINTR && cancel_pending(opt.cancel_fd)) {
				cancelled_early = true;
				break;
			}
			continue;
		}
		if (p.back().revents & POLLIN) {
			cancelled_early = true;
			break;
		}
		for (size_t k = 0; k < which.size(); ++k) {
			if (!(p[k].revents & (POLLIN | POLLERR)))
				continue;
			Echo &e = echoes[which[k]];
			ssize_t n = recv(e.sock->get(), buf, sizeof(buf), MSG_DONTWAIT);
			if (n < 0)
				continue; // an ICMP error or a spurious wakeup: the answer may
				          // still come
			// The reply to any of its requests will do; the round trip is that
			// request's.
			for (size_t q = 0; q < e.sent.size(); ++q)
				if (is_echo_reply(e.family, buf, static_cast<size_t>(n),
				                  e.raw && e.family == AF_INET, e.raw, e.id,
				                  static_cast<uint16_t>(q + 1), e.payload)) {
					e.result = seconds_since(e.sent[q]);
					break;
				}
		}
	}
	std::vector<Result<double>> out;
	for (auto &e : echoes) {
		if (e.result)
			out.push_back(std::move(*e.result));
		else if (cancelled_early)
			out.push_back(cancelled());
		else
			out.push_back(make_error(Errc::unavailable,
			                         e.hub + " did not answer within " +
			                                 format_seconds(timeout) + "s"));
	}
	return out;
}

Result<double> ping_through(const std::string &ifname, const IpAddr &dst, double timeout,
                            const ProbeOptions &opt)
{
	auto r = ping_many(ifname, {dst}, timeout, false, opt);
	return std::move(r.front());
}

Result<double> wait_for_handshake(WireGuardControl &wg, const std::string &ifname, const Key &peer,
                                  int64_t after_epoch, const IpAddr &kick_dst, double timeout,
                                  const ProbeOptions &opt)
{
	const std::string hub = "hub " + base64_encode(peer);
	auto t0 = Clock::now();
	int s = socket(kick_dst.family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
	if (s < 0)
		return sys_error("cannot open a UDP socket");
	UniqueFd sock(s);
	if (auto st = bind_to_device(s, ifname); !st)
		return st.error();
	const SockAddr to = to_sockaddr(kick_dst, 9); // discard: nobody needs to answer
	// Errors do not matter here: the handshake (or its absence) is the answer.
	auto kick = [&] {
		(void)sendto(s, "", 0, 0, reinterpret_cast<const sockaddr *>(&to.ss), to.len);
	};
	kick();
	Resend resend(t0);
	// Reading the device is cheap, but not free for a userspace daemon: look often at
	// first, when the handshake is most likely, then less often.
	double interval = 0.01;
	for (;;) {
		if (auto now = Clock::now(); resend.due(now)) {
			kick();
			resend.sent(now);
		}
		auto st = wg.get_device(ifname);
		if (!st)
			return st.error();
		for (auto &p : st->peers)
			if (p.public_key == peer && p.last_handshake_sec > 0 &&
			    p.last_handshake_sec >= after_epoch)
				return seconds_since(t0);
		double left = timeout - seconds_since(t0);
		if (left <= 0)
			break;
		if (wait_readable(-1, opt.cancel_fd, std::min(interval, left)) < 0)
			return cancelled();
		interval = std::min(interval * 2, 0.25);
	}
	return make_error(Errc::unavailable, hub + " did not complete a handshake within " +
	                                             format_seconds(timeout) + "s");
}

} // namespace wgn
