// `rotate` on the real system: the RotateEffects of rotate.h.
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connect.h"
#include "dataplane.h"
#include "duration.h"
#include "fsutil.h"
#include "held_lock.h"
#include "log.h"
#include "observe.h"
#include "probe.h"
#include "rotate.h"
#include "runstate.h"

namespace wgn::ops {

namespace {

class SystemRotateEffects final : public RotateEffects {
public:
	bool has_cap_net_admin() override { return wgn::has_cap_net_admin(); }
	Status lock(const std::string &ifname) override { return lock_.take(ifname); }
	void unlock() override { lock_.release(); }
	Result<std::optional<SecretKey>> read_pending_key(const std::filesystem::path &p) override
	{
		// A rotation killed while it wrote the key, where the temp has a name
		// (fsutil.h), left the key there: gone once its writer is.
		remove_dead_temps(p);
		struct stat st {};
		if (lstat(p.c_str(), &st) < 0) {
			if (errno == ENOENT)
				return std::optional<SecretKey>();
			return make_error(Errc::config, "cannot look at " + p.string() + ": " +
			                                        std::strerror(errno));
		}
		if (!S_ISREG(st.st_mode))
			return make_error(Errc::config, p.string() + " is not a regular file");
		auto k = read_key_file(p, "pending private key", true);
		if (!k)
			return k.error();
		return std::optional<SecretKey>(*k);
	}
	Result<std::optional<SecretKey>> newer_key(const Config &cfg) override
	{
		if (!cfg.interface.private_key_file)
			return std::optional<SecretKey>();
		auto k = read_key_file(*cfg.interface.private_key_file, "private key", true);
		if (!k)
			return k.error();
		if (public_key_of(*k) == cfg.interface.public_key)
			return std::optional<SecretKey>();
		return std::optional<SecretKey>(*k);
	}
	Result<SecretKey> generate_key() override { return generate_private_key(); }
	Status write_pending_key(const std::filesystem::path &p, const SecretKey &k) override
	{
		std::string text = base64_encode(k.bytes()) + "\n";
		auto st = write_file_atomic(p, text, 0600);
		wipe(text);
		if (st)
			effect("write " + p.string() + " (the new private key, 0600)");
		return st;
	}
	Status remove_pending_key(const std::filesystem::path &p) override
	{
		if (unlink(p.c_str()) < 0 && errno != ENOENT)
			return make_error(Errc::cant_create, "cannot remove " + p.string() + ": " +
			                                             std::strerror(errno));
		effect("rm " + p.string());
		return fsync_parent_dir(p);
	}
	Status commit_key(const std::filesystem::path &pending,
	                  const std::filesystem::path &key) override
	{
		// The pending file was fsynced when it was written; the rename is durable
		// once the directory is.
		if (rename(pending.c_str(), key.c_str()) < 0)
			return make_error(Errc::cant_create, "cannot rename " + pending.string() +
			                                             " to " + key.string() + ": " +
			                                             std::strerror(errno));
		effect("mv " + pending.string() + " " + key.string());
		return fsync_parent_dir(key);
	}
	Result<RegistrationOutcome> register_key(const Config &with_new_key,
	                                         const Key &previous) override
	{
		RegistrationIo io;
		io.cancelled = [] { return SignalWatch::signal() != 0; };
		return register_key_change(with_new_key, previous, nullptr, io);
	}
	Result<DeviceState> get_device(const std::string &ifname) override
	{
		return wg(ifname).get_device(ifname);
	}
	Status set_device(const std::string &ifname, const DeviceConfig &dc) override
	{
		if (dc.private_key)
			effect("wg set " + ifname + " private-key (the " +
			       base64_encode(public_key_of(*dc.private_key)) + " key)" +
			       (dc.peers.empty() ? "" : ", the hubs' peers re-created"));
		else
			effect("wg set " + ifname + ": the hubs' peers re-created");
		return wg(ifname).set_device(ifname, dc);
	}
	Result<double> probe(const Config &cfg, size_t hub, double timeout,
	                     int64_t handshake_after) override
	{
		const HubConfig &h = cfg.hubs.size() > 1 ? cfg.hubs[hub] : cfg.hub;
		ProbeOptions po;
		po.cancel_fd = SignalWatch::fd();
		const auto &dev = cfg.interface.name;
		if (h.tunnel_address)
			return ping_through(dev, *h.tunnel_address, timeout, po);
		return wait_for_handshake(wg(dev), dev, h.public_key, handshake_after,
		                          first_host(h.allowed_ips.front()), timeout, po);
	}
	void record_new_key(const Config &with_new_key) override
	{
		const auto &dev = with_new_key.interface.name;
		auto rs = wgn::read_run_state(dev);
		if (!rs || !*rs)
			return;
		RunState st = **rs;
		st.config_fingerprint = config_fingerprint(with_new_key);
		if (auto w = wgn::write_run_state(st); !w)
			complain(dev + ": the key is rotated, but " + w.error().message);
	}
	void checkpoint(RotateStep) override {}
	int signal() override { return SignalWatch::signal(); }
	double now() override
	{
		using Clock = std::chrono::steady_clock;
		return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
	}
	int64_t wall_now() override { return static_cast<int64_t>(std::time(nullptr)); }
	bool sleep(double seconds) override
	{
		pollfd p{SignalWatch::fd(), POLLIN, 0};
		int ms = static_cast<int>(milliseconds_of(seconds, 2000000000));
		return poll(&p, 1, ms) == 0 && SignalWatch::signal() == 0;
	}
	double jitter_unit() override { return jitter_.next(); }

private:
	WireGuardControl &wg(const std::string &ifname)
	{
		if (!wg_)
			wg_ = control_for(ifname);
		return *wg_;
	}

	HeldLock lock_;
	std::unique_ptr<WireGuardControl> wg_;
	Jitter jitter_;
};

} // namespace

std::unique_ptr<RotateEffects> system_rotate_effects()
{
	return std::make_unique<SystemRotateEffects>();
}

RotateOutcome rotate(Config &cfg)
{
	SystemRotateEffects fx;
	return rotate(cfg, fx);
}

} // namespace wgn::ops
