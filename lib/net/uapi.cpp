#include "uapi.h"

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fd.h"
#include "file_read.h"

namespace wgn {

std::filesystem::path uapi_socket_path(const std::string &ifname, const std::filesystem::path &dir)
{
	return dir / (ifname + ".sock");
}

bool uapi_socket_exists(const std::string &ifname, const std::filesystem::path &dir)
{
	struct stat st;
	return stat(uapi_socket_path(ifname, dir).c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// --- the text protocol ------------------------------------------------------------

static void append_hex(std::string &out, const Key &k)
{
	static const char digits[] = "0123456789abcdef";
	for (uint8_t b : k) {
		out += digits[b >> 4];
		out += digits[b & 15];
	}
}

std::string format_set(const DeviceConfig &cfg)
{
	// Reserved up front so the string never reallocates: a reallocation would leave a
	// copy of the key hex in freed memory that nobody wipes.
	size_t cap = 256;
	for (auto &p : cfg.peers)
		cap += 384 + 64 * p.allowed_ips.size();
	std::string out;
	out.reserve(cap);
	out += "set=1\n";
	if (cfg.private_key) {
		out += "private_key=";
		append_hex(out, cfg.private_key->bytes());
		out += '\n';
	}
	if (cfg.listen_port)
		out += "listen_port=" + std::to_string(*cfg.listen_port) + "\n";
	if (cfg.fwmark)
		out += "fwmark=" + std::to_string(*cfg.fwmark) + "\n";
	if (cfg.replace_peers)
		out += "replace_peers=true\n";
	for (auto &p : cfg.peers) {
		out += "public_key=";
		append_hex(out, p.public_key);
		out += '\n';
		if (p.remove) {
			out += "remove=true\n";
			continue;
		}
		if (p.preshared_key) {
			out += "preshared_key=";
			append_hex(out, p.preshared_key->bytes());
			out += '\n';
		}
		if (p.endpoint)
			out += "endpoint=" + p.endpoint->str() + "\n";
		if (p.persistent_keepalive)
			out += "persistent_keepalive_interval=" +
			       std::to_string(*p.persistent_keepalive) + "\n";
		if (p.replace_allowed_ips)
			out += "replace_allowed_ips=true\n";
		for (auto &ip : p.allowed_ips)
			out += "allowed_ip=" + ip.str() + "\n";
	}
	out += '\n';
	return out;
}

namespace {

Error malformed(size_t line, std::string_view why)
{
	return make_error(Errc::os, "the userspace WireGuard daemon's reply is malformed at line " +
	                                    std::to_string(line) + ": " + std::string(why));
}

template <class T> bool parse_number(std::string_view v, T *out)
{
	auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), *out);
	return !v.empty() && ec == std::errc() && end == v.data() + v.size();
}

bool is_zero(const Key &k)
{
	uint8_t acc = 0;
	for (auto b : k)
		acc |= b;
	return acc == 0;
}

// Splits the reply into key=value lines up to the blank line; f(lineno, key, value)
// returns an error or nothing.
template <class F> std::optional<Error> for_each_line(std::string_view reply, F f)
{
	size_t lineno = 0;
	while (!reply.empty()) {
		++lineno;
		size_t nl = reply.find('\n');
		if (nl == std::string_view::npos)
			return malformed(lineno, "the reply ends without a blank line");
		std::string_view line = reply.substr(0, nl);
		reply.remove_prefix(nl + 1);
		if (line.empty())
			break;
		size_t eq = line.find('=');
		if (eq == std::string_view::npos || eq == 0)
			return malformed(lineno, "a line is not key=value");
		if (auto e = f(lineno, line.substr(0, eq), line.substr(eq + 1)))
			return e;
	}
	return std::nullopt;
}

} // namespace

Result<int> parse_errno(std::string_view reply)
{
	std::optional<int> err;
	auto e = for_each_line(
	        reply,
	        [&](size_t lineno, std::string_view k, std::string_view v) -> std::optional<Error> {
		        int n = 0;
		        if (k != "errno")
			        return std::nullopt;
		        if (!parse_number(v, &n))
			        return malformed(lineno, "errno is not a number");
		        err = n;
		        return std::nullopt;
	        });
	if (e)
		return *e;
	if (!err)
		return make_error(Errc::os, "the userspace WireGuard daemon's reply has no errno");
	return *err;
}

Result<DeviceState> parse_get(std::string_view reply)
{
	DeviceState d;
	PeerState *peer = nullptr;
	std::optional<int> err;
	auto bad = for_each_line(
	        reply,
	        [&](size_t n, std::string_view k, std::string_view v) -> std::optional<Error> {
		        auto key = [&](Key *out) -> std::optional<Error> {
			        auto kk = hex_decode(v);
			        if (!kk)
				        return malformed(n,
				                         std::string(k) + " is not 64 hex digits");
			        *out = *kk;
			        wipe(kk->data(), kk->size());
			        return std::nullopt;
		        };
		        if (err)
			        return malformed(n, "a line follows errno");
		        if (k == "errno") {
			        int x = 0;
			        if (!parse_number(v, &x))
				        return malformed(n, "errno is not a number");
			        err = x;
		        } else if (k == "public_key") {
			        d.peers.emplace_back();
			        peer = &d.peers.back();
			        return key(&peer->public_key);
		        } else if (!peer && k == "private_key") {
			        Key priv{};
			        if (auto e = key(&priv))
				        return e;
			        d.has_private_key = !is_zero(priv);
			        if (d.has_private_key)
				        d.private_key = SecretKey(priv);
			        wipe(priv.data(), priv.size());
		        } else if (!peer && k == "listen_port") {
			        if (!parse_number(v, &d.listen_port))
				        return malformed(n, "listen_port is not a port");
		        } else if (!peer && k == "fwmark") {
			        if (!parse_number(v, &d.fwmark))
				        return malformed(n, "fwmark is not a number");
		        } else if (peer && k == "preshared_key") {
			        Key psk{};
			        if (auto e = key(&psk))
				        return e;
			        if (!is_zero(psk))
				        peer->preshared_key = SecretKey(psk);
			        wipe(psk.data(), psk.size());
		        } else if (peer && k == "endpoint") {
			        auto ep = parse_sockaddr(v);
			        if (!ep)
				        return malformed(n, "endpoint is not ip:port");
			        peer->endpoint = *ep;
		        } else if (peer && k == "persistent_keepalive_interval") {
			        if (!parse_number(v, &peer->persistent_keepalive))
				        return malformed(
				                n, "persistent_keepalive_interval is not a number");
		        } else if (peer && k == "last_handshake_time_sec") {
			        if (!parse_number(v, &peer->last_handshake_sec))
				        return malformed(n,
				                         "last_handshake_time_sec is not a number");
		        } else if (peer && k == "rx_bytes") {
			        if (!parse_number(v, &peer->rx_bytes))
				        return malformed(n, "rx_bytes is not a number");
		        } else if (peer && k == "tx_bytes") {
			        if (!parse_number(v, &peer->tx_bytes))
				        return malformed(n, "tx_bytes is not a number");
		        } else if (peer && k == "allowed_ip") {
			        auto p = parse_prefix(v);
			        if (!p || v.find('/') == std::string_view::npos)
				        return malformed(n, "allowed_ip is not a CIDR");
			        peer->allowed_ips.push_back(*p);
		        }
		        // Other keys (protocol_version, last_handshake_time_nsec, what a newer
		        // daemon adds) carry nothing wgn uses.
		        return std::nullopt;
	        });
	if (bad)
		return *bad;
	if (!err)
		return make_error(Errc::os, "the userspace WireGuard daemon's reply has no errno");
	if (*err != 0)
		return make_error(Errc::os, "the userspace WireGuard daemon refused to report the "
		                            "device: errno " +
		                                    std::to_string(*err) + " (" + strerror(*err) +
		                                    ")");
	return d;
}

// --- the socket -------------------------------------------------------------------

namespace {

Error socket_error(const std::string &what, const std::filesystem::path &path, int err)
{
	if (err == EACCES || err == EPERM)
		return make_error(Errc::no_perm, "cannot " + what + ": " + path.string() +
		                                         ": needs root (" + strerror(err) + ")");
	if (err == ENOENT || err == ECONNREFUSED)
		return make_error(Errc::os, "cannot " + what +
		                                    ": no userspace WireGuard daemon "
		                                    "answers on " +
		                                    path.string() + " (" + strerror(err) + ")");
	return make_error(Errc::os, "cannot " + what + ": " + path.string() + ": " + strerror(err));
}

// Appends what is read to a buffer that wipes what it leaves behind when it grows: a
// get reply holds the private key.
class SecretBuffer {
public:
	~SecretBuffer() { wipe(buf_.data(), buf_.size()); }
	void append(const char *p, size_t n)
	{
		if (len_ + n > buf_.size()) {
			std::vector<char> bigger(std::max(buf_.size() * 2, len_ + n + 4096));
			// Not memcpy(dst, nullptr, 0): the first append has nothing to copy
			// from, and a null source is undefined behaviour even for no bytes.
			if (len_ > 0)
				std::memcpy(bigger.data(), buf_.data(), len_);
			wipe(buf_.data(), buf_.size());
			buf_.swap(bigger);
		}
		std::memcpy(buf_.data() + len_, p, n);
		len_ += n;
	}
	std::string_view view() const { return {buf_.data(), len_}; }
	bool complete() const
	{
		auto v = view();
		return v == "\n" || (v.size() >= 2 && v.substr(v.size() - 2) == "\n\n");
	}

private:
	std::vector<char> buf_;
	size_t len_ = 0;
};

// One exchange: connect, send the request, read up to the blank line.
Status exchange(const std::string &what, const std::filesystem::path &path, std::string_view req,
                SecretBuffer *reply)
{
	sockaddr_un sun{};
	sun.sun_family = AF_UNIX;
	if (path.native().size() >= sizeof(sun.sun_path))
		return make_error(Errc::os,
		                  "cannot " + what + ": socket path too long: " + path.string());
	std::memcpy(sun.sun_path, path.c_str(), path.native().size());
	UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
	if (fd.get() < 0)
		return socket_error(what, path, errno);
	// A daemon that hangs must not hang `up`: give up on a silent socket.
	timeval tv{5, 0};
	setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd.get(), reinterpret_cast<sockaddr *>(&sun), sizeof(sun)) < 0)
		return socket_error(what, path, errno);
	while (!req.empty()) {
		ssize_t n = send(fd.get(), req.data(), req.size(), MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return socket_error(what, path, errno);
		req.remove_prefix(static_cast<size_t>(n));
	}
	// A daemon that never ends its reply (or trickles it) must not hold `up` or fill
	// its memory: the reply is read within kUapiReplyTimeout and up to
	// kUapiMaxReplyBytes.
	const auto deadline = std::chrono::steady_clock::now() + kUapiReplyTimeout;
	char buf[4096];
	while (!reply->complete()) {
		std::string why;
		if (reply->view().size() > kUapiMaxReplyBytes)
			why = "sent more than " + format_limit(kUapiMaxReplyBytes) +
			      " without ending its reply";
		else if (std::chrono::steady_clock::now() > deadline)
			why = "did not end its reply within " +
			      std::to_string(kUapiReplyTimeout.count()) + "s";
		if (!why.empty()) {
			wipe(buf, sizeof(buf));
			std::string msg = "cannot " + what;
			msg += ": the daemon on " + path.string();
			msg += " " + why;
			return make_error(Errc::os, msg);
		}
		ssize_t n = recv(fd.get(), buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			wipe(buf, sizeof(buf));
			return socket_error(what, path, e == EAGAIN ? ETIMEDOUT : e);
		}
		if (n == 0)
			break; // the daemon closed: whatever came is the reply
		reply->append(buf, static_cast<size_t>(n));
	}
	wipe(buf, sizeof(buf));
	return Ok{};
}

} // namespace

Status UapiWireGuard::set_device(const std::string &ifname, const DeviceConfig &cfg)
{
	const std::string what = "configure WireGuard device " + ifname;
	std::string req = format_set(cfg);
	SecretBuffer reply;
	auto st = exchange(what, uapi_socket_path(ifname, dir_), req, &reply);
	wipe(req);
	if (!st)
		return st;
	auto err = parse_errno(reply.view());
	if (!err)
		return err.error();
	if (*err != 0)
		return make_error(Errc::os,
		                  "cannot " + what +
		                          ": the userspace daemon refused the settings: errno " +
		                          std::to_string(*err) + " (" + strerror(*err) + ")");
	return Ok{};
}

Result<DeviceState> UapiWireGuard::get_device(const std::string &ifname)
{
	const std::string what = "read WireGuard device " + ifname;
	SecretBuffer reply;
	auto st = exchange(what, uapi_socket_path(ifname, dir_), "get=1\n\n", &reply);
	if (!st)
		return st.error();
	auto d = parse_get(reply.view());
	if (!d)
		return make_error(d.error().code, "cannot " + what + ": " + d.error().message);
	d->name = ifname;
	return d;
}

} // namespace wgn
