#include "dataplane.h"

#include <atomic>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdlib>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "log.h"
#include "userspace.h"

namespace wgn {

Result<pid_t> SystemDaemonControl::start(const std::string &program, const std::string &ifname,
                                         double timeout)
{
	return start_userspace_daemon(program, ifname, timeout);
}

Status SystemDaemonControl::stop(const std::string &ifname, std::optional<pid_t> pid,
                                 double timeout)
{
	return stop_userspace_daemon(ifname, pid, timeout);
}

DeviceConfig restore_config(const DeviceState &state)
{
	DeviceConfig d;
	d.private_key = state.private_key;
	d.listen_port = state.listen_port;
	d.fwmark = state.fwmark;
	d.replace_peers = true;
	for (auto &p : state.peers) {
		PeerConfig pc;
		pc.public_key = p.public_key;
		// All zeroes clears a preshared key the failed update may have set.
		pc.preshared_key = p.preshared_key ? *p.preshared_key : SecretKey(Key{});
		pc.endpoint = p.endpoint;
		pc.persistent_keepalive = p.persistent_keepalive;
		pc.replace_allowed_ips = true;
		pc.allowed_ips = p.allowed_ips;
		d.peers.push_back(std::move(pc));
	}
	return d;
}

Executor::Executor(Effects fx, std::string ifname, LinkObservation before, ExecOptions opt)
    : fx_(std::move(fx)), ifname_(std::move(ifname)), before_(std::move(before)),
      opt_(std::move(opt))
{}

Result<int> Executor::resolve_ifindex()
{
	if (ifindex_ > 0)
		return ifindex_;
	auto l = fx_.link.get_link(ifname_);
	if (!l)
		return l.error();
	if (!*l)
		return make_error(Errc::os, ifname_ + " disappeared while wgn was setting it up");
	ifindex_ = (*l)->ifindex;
	return ifindex_;
}

Status Executor::run(const std::vector<Operation> &ops)
{
	for (auto &op : ops) {
		if (fx_.interrupted())
			return make_error(Errc::temp_fail, "interrupted");
		if (auto st = apply(op); !st)
			return st;
	}
	return Ok{};
}

Status Executor::apply(const Operation &op)
{
	if (op.kind == OpKind::verify || op.kind == OpKind::remove_run_state)
		return Ok{};
	if (op.kind == OpKind::delete_link) {
		// Stopping a userspace daemon took its link with it: nothing to say or do.
		auto l = fx_.link.get_link(ifname_);
		if (!l)
			return l.error();
		if (!*l)
			return Ok{};
	}
	effect(op.text);

	switch (op.kind) {
	case OpKind::create_link: {
		auto st = fx_.link.create_wireguard_link(ifname_);
		if (!st)
			return st;
		created_ = true;
		journal_.push_back({OpKind::delete_link, {}, 0});
		return Ok{};
	}
	case OpKind::start_daemon: {
		auto pid = fx_.daemon.start(opt_.userspace_program, ifname_, opt_.daemon_timeout);
		if (!pid)
			return pid.error();
		created_ = true;
		daemon_pid_ = *pid;
		journal_.push_back({OpKind::stop_daemon, {}, 0});
		return Ok{};
	}
	case OpKind::set_device: {
		auto st = fx_.wg.set_device(ifname_, op.device);
		// Journal even a failed update: it may have been applied in part.
		if (!created_)
			journal_.push_back({OpKind::set_device, {}, 0, true});
		return st;
	}
	case OpKind::stop_daemon: {
		auto st = fx_.daemon.stop(ifname_, opt_.daemon_pid, opt_.daemon_timeout);
		if (st)
			ifindex_ = 0;
		return st;
	}
	case OpKind::delete_link:
		return fx_.link.delete_link(ifname_);
	default:
		break;
	}

	auto idx = resolve_ifindex();
	if (!idx)
		return idx.error();
	Status st = Ok{};
	Undo u{op.kind, op.prefix, 0};
	switch (op.kind) {
	case OpKind::add_address:
		st = fx_.link.add_address(*idx, *op.prefix);
		u.kind = OpKind::del_address;
		break;
	case OpKind::del_address:
		st = fx_.link.del_address(*idx, *op.prefix);
		u.kind = OpKind::add_address;
		break;
	case OpKind::add_route:
		st = fx_.link.add_route(*idx, *op.prefix);
		u.kind = OpKind::del_route;
		break;
	case OpKind::del_route:
		st = fx_.link.del_route(*idx, *op.prefix);
		u.kind = OpKind::add_route;
		break;
	case OpKind::set_mtu:
		st = fx_.link.set_mtu(*idx, op.mtu);
		u.kind = OpKind::set_mtu;
		u.mtu = before_.mtu;
		break;
	case OpKind::link_up:
		st = fx_.link.set_link_up(*idx, true);
		u.kind = OpKind::link_up; // undone by setting it down again
		break;
	default:
		return make_error(Errc::software, "the data plane cannot run: " + op.text);
	}
	// Changes to a link this run created go with the link; only an existing link
	// needs each one reverted.
	if (st && !created_)
		journal_.push_back(u);
	return st;
}

Status Executor::undo(const Undo &u)
{
	std::string dev = " dev " + ifname_;
	auto fam = [](const IpPrefix &p) { return p.addr.family == AF_INET6 ? "-6 " : "-4 "; };
	switch (u.kind) {
	case OpKind::delete_link:
		effect("ip link delete" + dev);
		return fx_.link.delete_link(ifname_);
	case OpKind::stop_daemon:
		effect("stop the userspace daemon of " + ifname_);
		return fx_.daemon.stop(ifname_, daemon_pid_, opt_.daemon_timeout);
	case OpKind::set_device:
		if (!before_.device)
			return make_error(Errc::os, "cannot restore the WireGuard settings of " +
			                                    ifname_ +
			                                    ": they could not be read before");
		effect("wg syncconf " + ifname_ + " (the previous settings)");
		return fx_.wg.set_device(ifname_, restore_config(*before_.device));
	default:
		break;
	}
	auto idx = resolve_ifindex();
	if (!idx)
		return idx.error();
	switch (u.kind) {
	case OpKind::add_address:
		effect(std::string("ip ") + fam(*u.prefix) + "address add " + u.prefix->str() +
		       dev);
		return fx_.link.add_address(*idx, *u.prefix);
	case OpKind::del_address:
		effect(std::string("ip ") + fam(*u.prefix) + "address del " + u.prefix->str() +
		       dev);
		return fx_.link.del_address(*idx, *u.prefix);
	case OpKind::add_route:
		effect(std::string("ip ") + fam(*u.prefix) + "route add " + u.prefix->str() + dev);
		return fx_.link.add_route(*idx, *u.prefix);
	case OpKind::del_route:
		effect(std::string("ip ") + fam(*u.prefix) + "route del " + u.prefix->str() + dev);
		return fx_.link.del_route(*idx, *u.prefix);
	case OpKind::set_mtu:
		effect("ip link set mtu " + std::to_string(u.mtu) + dev);
		return fx_.link.set_mtu(*idx, u.mtu);
	case OpKind::link_up:
		effect("ip link set down" + dev);
		return fx_.link.set_link_up(*idx, false);
	default:
		return make_error(Errc::software, "nothing undoes this step");
	}
}

Status Executor::rollback()
{
	Status first = Ok{};
	for (auto it = journal_.rbegin(); it != journal_.rend(); ++it) {
		auto st = undo(*it);
		if (!st) {
			complain(ifname_ + ": rollback: " + st.error().message);
			if (first)
				first = st;
		}
	}
	journal_.clear();
	if (created_) {
		created_ = false;
		daemon_pid_.reset();
		ifindex_ = 0;
	}
	return first;
}

// --- signals ---

namespace {
std::atomic<int> g_signal{0};
std::atomic<unsigned> g_pending{0};
int g_pipe[2] = {-1, -1};

extern "C" void on_signal(int sig)
{
	int expected = 0;
	g_signal.compare_exchange_strong(expected, sig);
	g_pending.fetch_or(1u << sig);
	int saved = errno;
	if (g_pipe[1] >= 0) {
		char c = 1;
		ssize_t n = write(g_pipe[1], &c, 1);
		(void)n; // the pipe is full only when it is readable already
	}
	errno = saved;
}
} // namespace

void SignalWatch::install()
{
	if (g_pipe[0] >= 0)
		return;
	if (pipe2(g_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		g_pipe[0] = g_pipe[1] = -1;
	struct sigaction sa {};
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; // no SA_RESTART: blocking calls end with EINTR
	for (int s : {SIGINT, SIGTERM, SIGHUP})
		sigaction(s, &sa, nullptr);
}

int SignalWatch::signal()
{
	return g_signal.load();
}

int SignalWatch::fd()
{
	return g_pipe[0];
}

unsigned SignalWatch::take()
{
	unsigned mask = g_pending.exchange(0);
	g_signal.store(0);
	char buf[64];
	while (g_pipe[0] >= 0 && read(g_pipe[0], buf, sizeof(buf)) > 0) {
	}
	// A signal during the drain may have lost its byte: take its bit too. One after
	// this writes a byte that the next wait sees.
	return mask | g_pending.exchange(0);
}

unsigned SignalWatch::wait(double seconds)
{
	if (unsigned m = take())
		return m;
	if (seconds <= 0)
		return 0;
	pollfd p{fd(), POLLIN, 0};
	int ms = static_cast<int>(std::ceil(seconds * 1000));
	if (poll(&p, 1, ms) < 0 && errno != EINTR)
		return 0;
	return take();
}

void SignalWatch::reraise()
{
	int sig = g_signal.load();
	if (sig == 0)
		sig = SIGTERM;
	struct sigaction sa {};
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, nullptr);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, nullptr);
	std::fflush(stdout);
	std::fflush(stderr);
	(void)raise(sig); // should it fail, _Exit says the same to the parent
	std::_Exit(128 + sig);
}

} // namespace wgn
