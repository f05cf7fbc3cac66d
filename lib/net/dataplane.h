// The data plane: runs a plan (plan.h) against the system, printing each effect in the
// manner of wg-quick, and keeps an undo journal so that a failure or a signal leaves the
// system as this run found it. The system sits behind three small interfaces so that the
// executor and its rollback are tested with fakes.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

#include "device.h"
#include "error.h"
#include "plan.h"
#include "rtnl.h"

namespace wgn {

// The part of rtnetlink the executor uses.
class LinkControl {
public:
	virtual ~LinkControl() = default;
	virtual Result<std::optional<LinkInfo>> get_link(const std::string &name) = 0;
	virtual Status create_wireguard_link(const std::string &name) = 0;
	virtual Status delete_link(const std::string &name) = 0;
	virtual Status set_link_up(int ifindex, bool up) = 0;
	virtual Status set_mtu(int ifindex, uint32_t mtu) = 0;
	virtual Status add_address(int ifindex, const IpPrefix &p) = 0;
	virtual Status del_address(int ifindex, const IpPrefix &p) = 0;
	virtual Status add_route(int ifindex, const IpPrefix &p) = 0;
	virtual Status del_route(int ifindex, const IpPrefix &p) = 0;
};

class RtnlLinkControl final : public LinkControl {
public:
	explicit RtnlLinkControl(Rtnl &r) : r_(r) {}
	Result<std::optional<LinkInfo>> get_link(const std::string &name) override
	{
		return r_.get_link(name);
	}
	Status create_wireguard_link(const std::string &name) override
	{
		return r_.create_wireguard_link(name);
	}
	Status delete_link(const std::string &name) override { return r_.delete_link(name); }
	Status set_link_up(int i, bool up) override { return r_.set_link_up(i, up); }
	Status set_mtu(int i, uint32_t mtu) override { return r_.set_mtu(i, mtu); }
	Status add_address(int i, const IpPrefix &p) override { return r_.add_address(i, p); }
	Status del_address(int i, const IpPrefix &p) override { return r_.del_address(i, p); }
	Status add_route(int i, const IpPrefix &p) override { return r_.add_route(i, p); }
	Status del_route(int i, const IpPrefix &p) override { return r_.del_route(i, p); }

private:
	Rtnl &r_;
};

// The userspace implementation's daemon.
class DaemonControl {
public:
	virtual ~DaemonControl() = default;
	virtual Result<pid_t> start(const std::string &program, const std::string &ifname,
	                            double timeout) = 0;
	virtual Status stop(const std::string &ifname, std::optional<pid_t> pid,
	                    double timeout) = 0;
};

// userspace.h's start_userspace_daemon / stop_userspace_daemon.
class SystemDaemonControl final : public DaemonControl {
public:
	Result<pid_t> start(const std::string &program, const std::string &ifname,
	                    double timeout) override;
	Status stop(const std::string &ifname, std::optional<pid_t> pid, double timeout) override;
};

struct Effects {
	LinkControl &link;
	DaemonControl &daemon;
	WireGuardControl &wg; // of the backend the device has, or is created with
	// Checked between steps: true once SIGINT/SIGTERM came.
	std::function<bool()> interrupted = [] { return false; };
};

struct ExecOptions {
	std::string userspace_program = "wireguard-go";
	double daemon_timeout = 10.0;    // seconds to wait for a daemon's socket
	std::optional<pid_t> daemon_pid; // `down`: the daemon the run state names
};

class Executor {
public:
	// before: the system as observed before the plan was made; a reconcile restores
	// its device, addresses, routes, MTU and link state on rollback.
	Executor(Effects fx, std::string ifname, LinkObservation before, ExecOptions opt = {});

	// Runs ops in order, stopping at the first failure (or signal) with the journal
	// intact for rollback(). verify and remove_run_state are the caller's and skipped.
	Status run(const std::vector<Operation> &ops);
	Status apply(const Operation &op);

	// Undoes what this run did, newest first: a link it created is deleted (its
	// addresses and routes go with it) and a daemon it started is stopped; on an
	// existing link every change is reverted. Best effort: it carries on past a
	// failure and returns the first. The journal is empty afterwards.
	Status rollback();
	// Keeps the changes: forgets the journal.
	void commit() { journal_.clear(); }

	bool created() const { return created_; }
	std::optional<pid_t> daemon_pid() const { return daemon_pid_; }
	size_t journal_size() const { return journal_.size(); }
	int ifindex() const { return ifindex_; }

private:
	struct Undo {
		OpKind kind; // the operation that undoes: delete_link, stop_daemon, ...
		std::optional<IpPrefix> prefix;
		uint32_t mtu = 0;
		bool restore_device = false; // set_device: back to before_.device
	};
	Result<int> resolve_ifindex();
	Status undo(const Undo &u);

	Effects fx_;
	std::string ifname_;
	LinkObservation before_;
	ExecOptions opt_;
	std::vector<Undo> journal_;
	int ifindex_ = 0;
	bool created_ = false;
	std::optional<pid_t> daemon_pid_;
};

// The device config that puts a device back as `state` describes it: listen port,
// fwmark and exactly its peers. The private key is not in DeviceState, so it is left.
DeviceConfig restore_config(const DeviceState &state);

// SIGINT, SIGTERM and SIGHUP during `up` and `down`: the handler sets a flag and writes
// to a self-pipe, so that every wait (poll) can include the pipe and end at once.
// Handlers are installed without SA_RESTART, so a blocking flock ends with EINTR.
class SignalWatch {
public:
	static void install(); // idempotent
	static int signal();   // the first signal that came, 0 for none
	static int fd();       // readable once a signal came; -1 before install()
	// Dies of the signal that came, with its default action, so that the parent sees
	// what a shell expects (128 + n), as wg-quick does after its cleanup trap.
	[[noreturn]] static void reraise();
	// For a loop that outlives one signal (watch): the signals that came since the
	// last take, as a mask of (1u << signo), and forgets them (signal() is 0 again and
	// the pipe is drained), so that the next `up` is not taken for interrupted.
	static unsigned take();
	// take(), or when nothing came yet, waits up to seconds for a signal and takes it;
	// 0 when the time ran out. wait(0) only takes.
	static unsigned wait(double seconds);
};

} // namespace wgn
