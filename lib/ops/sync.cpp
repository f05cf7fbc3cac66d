#include "sync.h"

#include <algorithm>
#include <map>
#include <memory>

#include <nlohmann/json.hpp>

#include "fsutil.h"
#include "json_text.h"
#include "lock.h"
#include "log.h"
#include "observe.h"
#include "registry.h"

namespace wgn::ops {

using nlohmann::json;

namespace {

std::filesystem::path sync_state_path(const std::string &ifname)
{
	return state_dir() / (ifname + ".sync.json");
}

std::vector<IpPrefix> sorted(std::vector<IpPrefix> v)
{
	std::sort(v.begin(), v.end());
	v.erase(std::unique(v.begin(), v.end()), v.end());
	return v;
}

std::string short_key(const Key &k)
{
	return base64_encode(k);
}

} // namespace

Result<std::optional<SyncState>> load_sync_state(const std::string &ifname)
{
	auto path = sync_state_path(ifname);
	auto text = read_file(path);
	if (!text) {
		if (text.error().code == Errc::no_input)
			return std::optional<SyncState>{};
		return make_error(Errc::cant_create, text.error().message);
	}
	// A state we cannot read is refused rather than guessed at: forgetting which peers
	// are ours would leave removed nodes on the hub for good.
	auto bad = [&](const std::string &why) {
		return make_error(Errc::cant_create,
		                  path.string() + ": " + why +
		                          "; remove it to let sync start afresh "
		                          "(peers it managed then stay until --prune)");
	};
	json j;
	try {
		j = json::parse(*text);
	} catch (const json::exception &) {
		return bad("not JSON");
	}
	if (!j.is_object() || !j.contains("revision") || !j["revision"].is_number_integer() ||
	    !j.contains("managed") || !j["managed"].is_array())
		return bad("not a sync state (revision, managed)");
	SyncState s;
	s.revision = j["revision"].get<int64_t>();
	if (j.contains("control_plane_url") && j["control_plane_url"].is_string())
		s.control_plane_url = j["control_plane_url"].get<std::string>();
	for (auto &k : j["managed"]) {
		auto key = k.is_string() ? base64_decode(k.get<std::string>()) : std::nullopt;
		if (!key)
			return bad("a managed key is not 32 bytes of base64");
		s.managed.insert(*key);
	}
	return std::optional<SyncState>{s};
}

Status save_sync_state(const std::string &ifname, const SyncState &s)
{
	json keys = json::array();
	for (auto &k : s.managed)
		keys.push_back(base64_encode(k));
	json j{{"interface", ifname},
	       {"control_plane_url", s.control_plane_url},
	       {"revision", s.revision},
	       {"managed", keys}};
	return write_file_atomic(sync_state_path(ifname), json_text(j) + "\n", 0644);
}

SyncPlan plan_sync(const std::vector<FeedNode> &nodes, const Key &hub_key,
                   const std::vector<PeerState> &device_peers, const std::set<Key> &managed,
                   bool prune)
{
	SyncPlan plan;
	std::map<Key, const PeerState *> on_device;
	for (auto &p : device_peers)
		on_device[p.public_key] = &p;

	// Who routes what, before the nodes claim their addresses: the peers that stay
	// whatever the feed says (hand-made ones, unless --prune).
	std::vector<std::pair<IpPrefix, Key>> claimed;
	for (auto &p : device_peers)
		if (!managed.contains(p.public_key) && !prune)
			for (auto &a : p.allowed_ips)
				claimed.emplace_back(a, p.public_key);

	std::map<Key, const FeedNode *> wanted;
	std::vector<const FeedNode *> order;
	for (auto &n : nodes) {
		if (n.deleted)
			continue;
		if (n.public_key == hub_key) {
			plan.skipped.push_back("node " + n.node_id +
			                       " has the hub's own public key");
			continue;
		}
		if (wanted.contains(n.public_key)) {
			plan.conflicts.push_back("node " + n.node_id + ": its public key " +
			                         short_key(n.public_key) + " is node " +
			                         wanted[n.public_key]->node_id + "'s already");
			continue;
		}
		std::optional<std::string> conflict;
		for (auto &r : n.host_routes)
			for (auto &[prefix, owner] : claimed)
				if (owner != n.public_key && prefix.addr.family == r.addr.family &&
				    prefix.contains(r.addr) && !conflict)
					conflict = "node " + n.node_id + ": address " + r.str() +
					           " is routed to peer " + short_key(owner) +
					           " already (" + prefix.str() + ")";
		if (conflict) {
			plan.conflicts.push_back(*conflict);
			continue;
		}
		for (auto &r : n.host_routes)
			claimed.emplace_back(r, n.public_key);
		wanted[n.public_key] = &n;
		order.push_back(&n);
	}

	for (auto &p : device_peers)
		if (!wanted.contains(p.public_key) && (prune || managed.contains(p.public_key))) {
			SyncPeerChange c;
			c.kind = SyncPeerChange::remove;
			c.public_key = p.public_key;
			plan.changes.push_back(c);
		}
	for (auto *n : order) {
		auto want = sorted(n->host_routes);
		plan.managed.insert(n->public_key);
		auto it = on_device.find(n->public_key);
		if (it != on_device.end() && sorted(it->second->allowed_ips) == want) {
			++plan.unchanged;
			continue;
		}
		SyncPeerChange c;
		c.kind = it == on_device.end() ? SyncPeerChange::add : SyncPeerChange::update;
		c.public_key = n->public_key;
		c.node_id = n->node_id;
		c.allowed_ips = n->host_routes;
		plan.changes.push_back(c);
	}
	return plan;
}

DeviceConfig sync_request(const SyncPlan &plan)
{
	DeviceConfig d;
	for (auto &c : plan.changes) {
		PeerConfig p;
		p.public_key = c.public_key;
		if (c.kind == SyncPeerChange::remove) {
			p.remove = true;
		} else {
			p.replace_allowed_ips = true;
			p.allowed_ips = c.allowed_ips;
		}
		d.peers.push_back(std::move(p));
	}
	return d;
}

std::vector<std::string> describe_sync(const std::string &ifname, const SyncPlan &plan)
{
	std::vector<std::string> out;
	for (auto &c : plan.changes) {
		std::string line = "wg set " + ifname + " peer " + base64_encode(c.public_key);
		if (c.kind == SyncPeerChange::remove) {
			line += " remove";
		} else {
			line += " allowed-ips ";
			for (size_t i = 0; i < c.allowed_ips.size(); ++i)
				line += (i ? "," : "") + c.allowed_ips[i].str();
			line += "   # " +
			        std::string(c.kind == SyncPeerChange::add ? "add" : "update") +
			        " node " + c.node_id;
		}
		out.push_back(line);
	}
	return out;
}

std::optional<Error> SyncOutcome::result_error() const
{
	if (error)
		return error;
	if (!plan.conflicts.empty())
		return make_error(Errc::data, std::to_string(plan.conflicts.size()) + " node" +
		                                      (plan.conflicts.size() == 1 ? "" : "s") +
		                                      " left out for an address conflict: " +
		                                      plan.conflicts.front());
	return std::nullopt;
}

SyncOutcome sync(const Config &cfg, SyncOptions opt)
{
	SyncOutcome out;
	const std::string &ifname = cfg.interface.name;
	out.interface = ifname;
	auto fail = [&](Error e) {
		out.error = std::move(e);
		return out;
	};
	if (!cfg.is_hub_config)
		return fail(make_error(Errc::config,
		                       cfg.path.string() +
		                               ": [hub]: sync runs on a hub, whose own config has "
		                               "no [hub] table"));
	if (!cfg.control_plane)
		return fail(make_error(Errc::config, cfg.path.string() +
		                                             ": [control_plane]: sync needs the "
		                                             "control plane's url and token_file"));
	const auto &cp = *cfg.control_plane;
	std::string token;
	if (cp.token_file) {
		auto t = read_token_file(*cp.token_file);
		if (!t)
			return fail(t.error());
		token = std::move(*t);
	}

	std::optional<InterfaceLock> lock;
	if (!opt.dry_run) {
		auto l = InterfaceLock::acquire(ifname);
		if (!l)
			return fail(l.error());
		lock.emplace(std::move(*l));
	}

	auto state = load_sync_state(ifname);
	if (!state)
		return fail(state.error());
	std::set<Key> managed;
	if (*state)
		managed = (*state)->managed;

	// The feed first: if it fails, nothing on the device changes.
	CurlTransport curl;
	HttpTransport &transport = opt.transport ? *opt.transport : curl;
	BackoffPolicy backoff{cfg.connect.initial_backoff, cfg.connect.max_backoff};
	auto feed = fetch_feed(transport, cp, token, 0, backoff, opt.io);
	wipe(token);
	if (!feed)
		return fail(feed.error());
	out.revision = feed->revision;
	out.feed_skipped = feed->skipped;
	for (auto &s : feed->skipped)
		progress(ifname + ": change feed entry skipped: " + s);

	std::unique_ptr<WireGuardControl> own;
	WireGuardControl *wg = opt.wg;
	if (!wg) {
		own = control_for(ifname);
		wg = own.get();
	}
	auto dev = wg->get_device(ifname);
	if (!dev)
		return fail(dev.error());
	Key hub_key = dev->has_private_key ? dev->public_key : cfg.interface.public_key;

	out.plan = plan_sync(feed->nodes, hub_key, dev->peers, managed, opt.prune);
	for (auto &c : out.plan.conflicts)
		progress(ifname + ": left out: " + c);
	if (opt.dry_run)
		return out;

	if (!out.plan.changes.empty()) {
		for (auto &line : describe_sync(ifname, out.plan))
			effect(line);
		if (auto st = wg->set_device(ifname, sync_request(out.plan)); !st)
			return fail(st.error());
		out.applied = true;
	}
	SyncState next;
	next.control_plane_url = cp.url;
	next.revision = out.revision;
	next.managed = out.plan.managed;
	if (auto st = save_sync_state(ifname, next); !st)
		return fail(st.error());
	return out;
}

} // namespace wgn::ops
