// A test-only driver for the data-plane library (rtnl, genl/UAPI, the userspace daemon),
// so that tests/bats/netlink.bats can exercise it on real links in a namespace before
// and independently of `wgn up`. Not installed.
//
//   nltool link NAME                       ifindex=N kind=K up=0|1 mtu=M, or "absent"
//   nltool create-wg|delete NAME
//   nltool up|down NAME
//   nltool mtu NAME N
//   nltool addr-add|addr-del|route-add|route-del NAME CIDR
//   nltool addrs|routes NAME               one CIDR a line
//   nltool route-mtu IP:PORT | default-mtu
//   nltool start-daemon NAME [SEC]          prints the pid
//   nltool stop-daemon NAME [PID] [SEC]
//   nltool set NAME KEY=VALUE...            private_key_file= listen_port= fwmark=
//                                           replace_peers peer=B64 remove psk_file=
//                                           endpoint= keepalive= replace_allowed_ips
//                                           allowed_ip=CIDR (peer keys follow peer=)
//   nltool get NAME                         the device, wg-showconf-like, no secrets
//   nltool observe NAME                     the planner's view
//   nltool backend NAME                     uapi | genl
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "error.h"
#include "keys.h"
#include "observe.h"
#include "rtnl.h"
#include "userspace.h"
#include "wg_genl.h"

using namespace wgn;

namespace {

int fail(const Error &e)
{
	std::cerr << "nltool: " << e.message << "\n";
	return exit_code(e.code);
}

int usage()
{
	std::cerr << "nltool: bad usage (see the comment at the top of nltool.cpp)\n";
	return 64;
}

std::string link_line(const std::optional<LinkInfo> &l)
{
	if (!l)
		return "absent";
	return "ifindex=" + std::to_string(l->ifindex) +
	       " kind=" + (l->kind.empty() ? "-" : l->kind) + " up=" + (l->up ? "1" : "0") +
	       " mtu=" + std::to_string(l->mtu);
}

Result<int> ifindex_of(Rtnl &rtnl, const std::string &name)
{
	auto l = rtnl.get_link(name);
	if (!l)
		return l.error();
	if (!*l)
		return make_error(Errc::os, "no link " + name);
	return (*l)->ifindex;
}

Result<DeviceConfig> parse_set(const std::vector<std::string> &args)
{
	DeviceConfig d;
	PeerConfig *peer = nullptr;
	for (auto &a : args) {
		auto eq = a.find('=');
		std::string k = a.substr(0, eq),
			    v = eq == std::string::npos ? "" : a.substr(eq + 1);
		auto bad = [&] { return make_error(Errc::usage, "bad argument: " + a); };
		if (k == "private_key_file" || k == "psk_file") {
			auto key = read_key_file(v, k, false);
			if (!key)
				return key.error();
			if (k == "private_key_file")
				d.private_key = *key;
			else if (peer)
				peer->preshared_key = *key;
			else
				return bad();
		} else if (k == "listen_port") {
			d.listen_port = static_cast<uint16_t>(std::stoul(v));
		} else if (k == "fwmark") {
			d.fwmark = static_cast<uint32_t>(std::stoul(v, nullptr, 0));
		} else if (k == "replace_peers") {
			d.replace_peers = true;
		} else if (k == "peer") {
			auto key = base64_decode(v);
			if (!key)
				return bad();
			d.peers.emplace_back();
			peer = &d.peers.back();
			peer->public_key = *key;
		} else if (!peer) {
			return bad();
		} else if (k == "remove") {
			peer->remove = true;
		} else if (k == "endpoint") {
			peer->endpoint = parse_sockaddr(v);
			if (!peer->endpoint)
				return bad();
		} else if (k == "keepalive") {
			peer->persistent_keepalive = static_cast<uint16_t>(std::stoul(v));
		} else if (k == "replace_allowed_ips") {
			peer->replace_allowed_ips = true;
		} else if (k == "allowed_ip") {
			auto p = parse_prefix(v);
			if (!p)
				return bad();
			peer->allowed_ips.push_back(*p);
		} else {
			return bad();
		}
	}
	return d;
}

void print_device(const DeviceState &d)
{
	std::cout << "name=" << d.name << "\n";
	std::cout << "has_private_key=" << (d.has_private_key ? 1 : 0) << "\n";
	if (d.private_key) // the key read back, as `wg pubkey` would show it
		std::cout << "public_key=" << base64_encode(public_key_of(*d.private_key)) << "\n";
	std::cout << "listen_port=" << d.listen_port << "\n";
	std::cout << "fwmark=" << d.fwmark << "\n";
	for (auto &p : d.peers) {
		std::cout << "peer=" << base64_encode(p.public_key) << "\n";
		std::cout << "  preshared_key=" << (p.preshared_key ? "(set)" : "(none)") << "\n";
		std::cout << "  endpoint=" << (p.endpoint ? p.endpoint->str() : "(none)") << "\n";
		std::cout << "  keepalive=" << p.persistent_keepalive << "\n";
		std::cout << "  last_handshake=" << p.last_handshake_sec << "\n";
		std::cout << "  rx_bytes=" << p.rx_bytes << " tx_bytes=" << p.tx_bytes << "\n";
		for (auto &ip : p.allowed_ips)
			std::cout << "  allowed_ip=" << ip.str() << "\n";
	}
}

int run(const std::vector<std::string> &a)
{
	if (a.empty())
		return usage();
	const std::string &cmd = a[0];
	auto need = [&](size_t n) { return a.size() >= n + 1; };

	if (cmd == "start-daemon" && need(1)) {
		const char *impl = getenv("WG_QUICK_USERSPACE_IMPLEMENTATION");
		auto pid = start_userspace_daemon(impl ? impl : "wireguard-go", a[1],
						  a.size() > 2 ? std::stod(a[2]) : 5.0);
		if (!pid)
			return fail(pid.error());
		std::cout << *pid << "\n";
		return 0;
	}
	if (cmd == "stop-daemon" && need(1)) {
		std::optional<pid_t> pid;
		if (a.size() > 2 && a[2] != "-")
			pid = static_cast<pid_t>(std::stol(a[2]));
		auto st = stop_userspace_daemon(a[1], pid, a.size() > 3 ? std::stod(a[3]) : 5.0);
		return st ? 0 : fail(st.error());
	}
	if (cmd == "set" && need(1)) {
		auto d = parse_set({a.begin() + 2, a.end()});
		if (!d)
			return fail(d.error());
		auto st = control_for(a[1])->set_device(a[1], *d);
		return st ? 0 : fail(st.error());
	}
	if (cmd == "get" && need(1)) {
		auto d = control_for(a[1])->get_device(a[1]);
		if (!d)
			return fail(d.error());
		print_device(*d);
		return 0;
	}
	if (cmd == "backend" && need(1)) {
		bool uapi = dynamic_cast<UapiWireGuard *>(control_for(a[1]).get());
		std::cout << (uapi ? "uapi" : "genl") << "\n";
		return 0;
	}

	auto rtnl = Rtnl::open();
	if (!rtnl)
		return fail(rtnl.error());
	if (cmd == "link" && need(1)) {
		auto l = rtnl->get_link(a[1]);
		if (!l)
			return fail(l.error());
		std::cout << link_line(*l) << "\n";
		return 0;
	}
	if (cmd == "create-wg" && need(1)) {
		auto st = rtnl->create_wireguard_link(a[1]);
		return st ? 0 : fail(st.error());
	}
	if (cmd == "delete" && need(1)) {
		auto st = rtnl->delete_link(a[1]);
		return st ? 0 : fail(st.error());
	}
	if (cmd == "default-mtu") {
		auto m = rtnl->default_route_mtu();
		if (!m)
			return fail(m.error());
		std::cout << *m << "\n";
		return 0;
	}
	if (cmd == "route-mtu" && need(1)) {
		auto dst = parse_sockaddr(a[1]);
		if (!dst)
			return usage();
		auto m = rtnl->route_mtu_to(*dst);
		if (!m)
			return fail(m.error());
		std::cout << *m << "\n";
		return 0;
	}
	if (cmd == "observe" && need(1)) {
		bool unreadable = false;
		ObserveOptions opt;
		opt.device_unreadable = &unreadable;
		auto o = observe_link(*rtnl, a[1], opt);
		if (!o)
			return fail(o.error());
		std::cout << "exists=" << o->exists << " wireguard=" << o->is_wireguard
			  << " userspace=" << o->userspace << " up=" << o->up << " mtu=" << o->mtu
			  << " device="
			  << (o->device    ? "read"
			      : unreadable ? "unreadable"
					   : "none")
			  << "\n";
		for (auto &p : o->addresses)
			std::cout << "address=" << p.str() << "\n";
		for (auto &p : o->routes)
			std::cout << "route=" << p.str() << "\n";
		if (o->device)
			print_device(*o->device);
		return 0;
	}

	if (!need(1))
		return usage();
	auto idx = ifindex_of(*rtnl, a[1]);
	if (!idx)
		return fail(idx.error());
	Status st = Ok{};
	if (cmd == "up" || cmd == "down") {
		st = rtnl->set_link_up(*idx, cmd == "up");
	} else if (cmd == "mtu" && need(2)) {
		st = rtnl->set_mtu(*idx, static_cast<uint32_t>(std::stoul(a[2])));
	} else if (cmd == "addrs" || cmd == "routes") {
		auto list = cmd == "addrs" ? rtnl->list_addresses(*idx) : rtnl->list_routes(*idx);
		if (!list)
			return fail(list.error());
		for (auto &p : *list)
			std::cout << p.str() << "\n";
		return 0;
	} else if (need(2)) {
		auto p = parse_prefix(a[2]);
		if (!p)
			return usage();
		if (cmd == "addr-add")
			st = rtnl->add_address(*idx, *p);
		else if (cmd == "addr-del")
			st = rtnl->del_address(*idx, *p);
		else if (cmd == "route-add")
			st = rtnl->add_route(*idx, *p);
		else if (cmd == "route-del")
			st = rtnl->del_route(*idx, *p);
		else
			return usage();
	} else {
		return usage();
	}
	return st ? 0 : fail(st.error());
}

} // namespace

int main(int argc, char **argv)
{
	try {
		return run({argv + 1, argv + argc});
	} catch (const std::exception &e) { // std::stoul on a bad number
		std::cerr << "nltool: " << e.what() << "\n";
		return 64;
	}
}
