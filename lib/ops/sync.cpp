#include "sync.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <map>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <net/if.h>
#include <nlohmann/json.hpp>

#include "backoff.h"
#include "dataplane.h"
#include "file_read.h"
#include "fsutil.h"
#include "json_text.h"
#include "lock.h"
#include "log.h"
#include "observe.h"
#include "registry.h"
#include "sdnotify.h"

namespace wgn::ops {

using nlohmann::json;

namespace {

struct AddrHash {
	size_t operator()(const IpAddr &a) const noexcept
	{
		return std::hash<std::string_view>{}(std::string_view(
		               reinterpret_cast<const char *>(a.bytes.data()), a.bytes.size())) ^
		       static_cast<size_t>(a.family);
	}
};

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

// The same set of prefixes; one or two each, mostly in the same order already.
bool same_routes(const std::vector<IpPrefix> &a, const std::vector<IpPrefix> &b)
{
	if (a == b)
		return true;
	return sorted(a) == sorted(b);
}

// A JSON string: plain printable ASCII as it is, anything else through json_text
// (escapes, and U+FFFD for bytes that are not UTF-8).
void append_json_string(std::string &out, const std::string &v)
{
	bool plain = std::all_of(v.begin(), v.end(), [](char c) {
		return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
	});
	if (plain) {
		out += '"';
		out += v;
		out += '"';
	} else {
		out += json_text(json(v));
	}
}

std::string short_key(const Key &k)
{
	return base64_encode(k);
}

double monotonic_seconds()
{
	return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
	        .count();
}

// The memo's copy of the device after the plan was applied to it.
void apply_to(DeviceState &dev, const SyncPlan &plan)
{
	std::unordered_map<Key, size_t, KeyHash> at;
	at.reserve(dev.peers.size());
	for (size_t i = 0; i < dev.peers.size(); ++i)
		at.emplace(dev.peers[i].public_key, i);
	std::vector<bool> gone(dev.peers.size(), false);
	for (auto &c : plan.changes) {
		auto it = at.find(c.public_key);
		if (c.kind == SyncPeerChange::remove) {
			if (it != at.end())
				gone[it->second] = true;
		} else if (it != at.end()) {
			dev.peers[it->second].allowed_ips = c.allowed_ips;
		} else {
			PeerState p;
			p.public_key = c.public_key;
			p.allowed_ips = c.allowed_ips;
			at.emplace(p.public_key, dev.peers.size());
			dev.peers.push_back(std::move(p));
			gone.push_back(false);
		}
	}
	size_t w = 0;
	for (size_t i = 0; i < dev.peers.size(); ++i)
		if (!gone[i]) {
			if (w != i)
				dev.peers[w] = std::move(dev.peers[i]);
			++w;
		}
	dev.peers.resize(w);
}

} // namespace

Result<std::optional<SyncState>> load_sync_state(const std::string &ifname)
{
	auto path = sync_state_path(ifname);
	auto text = read_bounded_file(path, "sync state", kMaxSyncStateBytes, Errc::no_input,
	                              Errc::no_input);
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
	if (j.contains("nodes")) {
		if (!j["nodes"].is_array())
			return bad("nodes is not an array");
		for (auto &n : j["nodes"]) {
			FeedNode node;
			auto key = n.is_object() && n.contains("public_key") &&
			                           n["public_key"].is_string()
			                   ? base64_decode(n["public_key"].get<std::string>())
			                   : std::nullopt;
			if (!key || !n.contains("node_id") || !n["node_id"].is_string() ||
			    !n.contains("allowed_ips") || !n["allowed_ips"].is_array())
				return bad("a node is not {node_id, public_key, allowed_ips}");
			node.node_id = n["node_id"].get<std::string>();
			node.public_key = *key;
			for (auto &a : n["allowed_ips"]) {
				auto p = a.is_string() ? parse_prefix(a.get<std::string>())
				                       : std::nullopt;
				if (!p)
					return bad("node " + node.node_id +
					           ": an allowed IP is not a prefix");
				node.host_routes.push_back(*p);
			}
			if (n.contains("revision") && n["revision"].is_number_integer())
				node.revision = n["revision"].get<int64_t>();
			s.nodes.push_back(std::move(node));
		}
		s.has_nodes = true;
	}
	return std::optional<SyncState>{s};
}

// Written by hand, not through a json tree: 10,000 nodes are 1.5 MB that a json tree
// takes ~100 ms to build and print, and sync --watch writes it after every change.
Status save_sync_state(const std::string &ifname, const SyncState &s)
{
	std::string out;
	out.reserve(256 + s.managed.size() * 48 + s.nodes.size() * 128);
	out += "{\"interface\":";
	append_json_string(out, ifname);
	out += ",\"control_plane_url\":";
	append_json_string(out, s.control_plane_url);
	out += ",\"revision\":";
	out += std::to_string(s.revision);
	out += ",\"managed\":[";
	const char *sep = "";
	std::vector<Key> managed(s.managed.begin(), s.managed.end());
	std::sort(managed.begin(), managed.end()); // the same state, the same file
	for (auto &k : managed) {
		out += sep;
		out += '"';
		out += base64_encode(k);
		out += '"';
		sep = ",";
	}
	out += "],\"nodes\":[";
	sep = "";
	for (auto &n : s.nodes) {
		out += sep;
		out += "{\"node_id\":";
		append_json_string(out, n.node_id);
		out += ",\"public_key\":\"";
		out += base64_encode(n.public_key);
		out += "\",\"allowed_ips\":[";
		const char *ipsep = "";
		for (auto &a : n.host_routes) {
			out += ipsep;
			out += '"';
			out += a.str();
			out += '"';
			ipsep = ",";
		}
		out += "],\"revision\":";
		out += std::to_string(n.revision);
		out += '}';
		sep = ",";
	}
	out += "]}\n";
	return write_file_atomic(sync_state_path(ifname), out, 0644);
}

void merge_feed(std::vector<FeedNode> &nodes, std::vector<FeedNode> changes)
{
	// The views point into nodes' strings: no reallocation until the map is done.
	nodes.reserve(nodes.size() + changes.size());
	std::unordered_map<std::string_view, size_t> at;
	at.reserve(nodes.size() + changes.size());
	for (size_t i = 0; i < nodes.size(); ++i)
		at[nodes[i].node_id] = i;
	std::vector<bool> gone(nodes.size(), false);
	for (auto &c : changes) {
		if (auto it = at.find(c.node_id); it != at.end()) {
			gone[it->second] = true;
			at.erase(it);
		}
		if (c.deleted)
			continue;
		gone.push_back(false);
		nodes.push_back(std::move(c));
		at[nodes.back().node_id] = nodes.size() - 1;
	}
	size_t w = 0;
	for (size_t i = 0; i < nodes.size(); ++i)
		if (!gone[i]) {
			if (w != i)
				nodes[w] = std::move(nodes[i]);
			++w;
		}
	nodes.resize(w);
}

SyncPlan plan_sync(const std::vector<FeedNode> &nodes, const Key &hub_key,
                   const std::vector<PeerState> &device_peers, const KeySet &managed, bool prune)
{
	SyncPlan plan;
	std::unordered_map<Key, const PeerState *, KeyHash> on_device;
	on_device.reserve(device_peers.size());
	for (auto &p : device_peers)
		on_device[p.public_key] = &p;

	// Who routes what, before the nodes claim their addresses: the peers that stay
	// whatever the feed says (hand-made ones, unless --prune).
	std::vector<std::pair<IpPrefix, Key>> claimed;
	for (auto &p : device_peers)
		if (!managed.contains(p.public_key) && !prune)
			for (auto &a : p.allowed_ips)
				claimed.emplace_back(a, p.public_key);

	// The holders first: a node that sync routes on the device already keeps its
	// addresses against any node that moved onto them.
	std::vector<const FeedNode *> candidates;
	candidates.reserve(nodes.size());
	std::vector<const FeedNode *> newcomers;
	for (auto &n : nodes) {
		if (n.deleted)
			continue;
		bool holds = managed.contains(n.public_key) && on_device.contains(n.public_key);
		(holds ? candidates : newcomers).push_back(&n);
	}
	candidates.insert(candidates.end(), newcomers.begin(), newcomers.end());

	std::unordered_map<Key, const FeedNode *, KeyHash> wanted;
	wanted.reserve(candidates.size());
	std::unordered_map<IpAddr, std::pair<IpPrefix, Key>, AddrHash> node_claims;
	node_claims.reserve(candidates.size() * 2);
	std::vector<const FeedNode *> order;
	order.reserve(candidates.size());
	for (const FeedNode *np : candidates) {
		const FeedNode &n = *np;
		if (n.public_key == hub_key) {
			plan.skipped.push_back("node " + n.node_id +
			                       " has the hub's own public key");
			continue;
		}
		if (auto w = wanted.find(n.public_key); w != wanted.end()) {
			plan.conflicts.push_back("node " + n.node_id + ": its public key " +
			                         short_key(n.public_key) + " is node " +
			                         w->second->node_id + "'s already");
			continue;
		}
		std::optional<std::string> conflict;
		auto routed = [&](const IpPrefix &r, const IpPrefix &prefix, const Key &owner) {
			if (!conflict)
				conflict = "node " + n.node_id + ": address " + r.str() +
				           " is routed to peer " + short_key(owner) + " already (" +
				           prefix.str() + ")";
		};
		for (auto &r : n.host_routes) {
			for (auto &[prefix, owner] : claimed)
				if (owner != n.public_key && prefix.addr.family == r.addr.family &&
				    prefix.contains(r.addr))
					routed(r, prefix, owner);
			// Nodes claim host routes only: an earlier node routes r if it has
			// the same address (a lookup, not a scan: 10,000 nodes are 10^8
			// comparisons otherwise, seconds of CPU).
			auto it = node_claims.find(r.addr);
			if (it != node_claims.end() && it->second.second != n.public_key)
				routed(r, it->second.first, it->second.second);
		}
		if (conflict) {
			plan.conflicts.push_back(*conflict);
			continue;
		}
		for (auto &r : n.host_routes)
			node_claims.emplace(r.addr, std::pair{r, n.public_key});
		wanted.emplace(n.public_key, &n);
		order.push_back(&n);
	}

	for (auto &p : device_peers)
		if (!wanted.contains(p.public_key) && (prune || managed.contains(p.public_key))) {
			SyncPeerChange c;
			c.kind = SyncPeerChange::remove;
			c.public_key = p.public_key;
			plan.changes.push_back(c);
		}
	plan.managed.reserve(order.size());
	for (auto *n : order) {
		plan.managed.insert(n->public_key);
		auto it = on_device.find(n->public_key);
		if (it != on_device.end() && same_routes(it->second->allowed_ips, n->host_routes)) {
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

	// The memo's state is taken, and given back only by a round that saved its state:
	// after any failure the next round reads the file again.
	SyncMemo *memo = opt.dry_run ? nullptr : opt.memo;
	std::optional<SyncState> known;
	if (memo && memo->state) {
		known = std::move(memo->state);
		memo->state.reset();
	} else {
		auto loaded = load_sync_state(ifname);
		if (!loaded) {
			wipe(token);
			return fail(loaded.error());
		}
		known = std::move(*loaded);
	}
	SyncState state = known ? std::move(*known) : SyncState{};
	out.full = opt.full || !known || !state.has_nodes || state.control_plane_url != cp.url;

	// The feed first: if it fails, nothing on the device changes. The long poll holds
	// no lock, so that `up` and `down` of the hub are never kept waiting by it.
	CurlTransport curl;
	HttpTransport &transport = opt.transport ? *opt.transport : curl;
	BackoffPolicy backoff{cfg.connect.initial_backoff, cfg.connect.max_backoff};
	auto feed = fetch_feed(transport, cp, token, out.full ? 0 : state.revision, backoff, opt.io,
	                       1000, opt.wait);
	wipe(token);
	if (!feed)
		return fail(feed.error());
	out.revision = feed->revision;
	out.changed = feed->nodes.size();
	out.feed_skipped = feed->skipped;
	const std::string skipped_line = ifname + ": change feed entry skipped: ";
	for (auto &s : feed->skipped)
		progress(skipped_line + s);
	std::vector<FeedNode> nodes;
	if (!out.full)
		nodes = std::move(state.nodes);
	merge_feed(nodes, std::move(feed->nodes));
	out.nodes = nodes.size();

	std::optional<InterfaceLock> lock;
	if (!opt.dry_run) {
		auto l = InterfaceLock::acquire(ifname);
		if (!l)
			return fail(l.error());
		lock.emplace(std::move(*l));
	}

	std::unique_ptr<WireGuardControl> own;
	WireGuardControl *wg = opt.wg;
	if (!wg) {
		own = control_for(ifname);
		wg = own.get();
	}
	const DeviceState *dev = nullptr;
	std::optional<DeviceState> read;
	double now = monotonic_seconds();
	unsigned ifindex = if_nametoindex(ifname.c_str());
	if (memo && memo->device && !out.full && out.changed > 0 && ifindex == memo->ifindex &&
	    now - memo->device_read_at < memo->device_max_age) {
		dev = &*memo->device;
	} else {
		if (memo)
			memo->device.reset();
		auto got = wg->get_device(ifname);
		if (!got)
			return fail(got.error());
		read = std::move(*got);
		dev = &*read;
		if (memo) {
			++memo->device_reads;
			memo->ifindex = ifindex;
			memo->device_read_at = now;
		}
	}
	Key hub_key = dev->has_private_key ? dev->public_key : cfg.interface.public_key;

	out.plan = plan_sync(nodes, hub_key, dev->peers, state.managed, opt.prune);
	const std::string left_out_line = ifname + ": left out: ";
	for (auto &c : out.plan.conflicts)
		progress(left_out_line + c);
	if (opt.dry_run)
		return out;

	if (!out.plan.changes.empty()) {
		for (auto &line : describe_sync(ifname, out.plan))
			effect(line);
		if (auto st = wg->set_device(ifname, sync_request(out.plan)); !st) {
			if (memo)
				memo->device.reset();
			return fail(st.error());
		}
		out.applied = true;
	}
	if (memo) {
		if (read)
			memo->device = std::move(read);
		if (memo->device)
			apply_to(*memo->device, out.plan);
	}
	// A round that changed nothing (a long poll that timed out) writes nothing.
	bool same = known && !out.full && out.changed == 0 && out.revision == state.revision &&
	            out.plan.managed == state.managed;
	SyncState next;
	next.control_plane_url = cp.url;
	next.revision = out.revision;
	next.managed = out.plan.managed;
	next.nodes = std::move(nodes);
	next.has_nodes = true;
	if (!same) {
		if (auto st = save_sync_state(ifname, next); !st)
			return fail(st.error());
	}
	if (memo)
		memo->state = std::move(next);
	return out;
}

std::string sync_status_line(const SyncOutcome &o)
{
	if (o.error)
		return "peers kept as they are: " + o.error->message;
	size_t added = 0, updated = 0, removed = 0;
	for (auto &c : o.plan.changes)
		(c.kind == SyncPeerChange::add      ? added
		 : c.kind == SyncPeerChange::update ? updated
		                                    : removed)++;
	std::string line = "revision " + std::to_string(o.revision) + ": " +
	                   std::to_string(o.plan.managed.size()) + " node peer" +
	                   (o.plan.managed.size() == 1 ? "" : "s");
	if (added + updated + removed)
		line += " (" + std::to_string(added) + " added, " + std::to_string(updated) +
		        " updated, " + std::to_string(removed) + " removed)";
	if (!o.plan.conflicts.empty())
		line += ", " + std::to_string(o.plan.conflicts.size()) + " left out";
	return line;
}

SyncWatchOutcome sync_watch(const Config &cfg, SyncOptions opt, SyncWatchEffects &fx, int poll)
{
	SyncWatchOutcome out;
	if (!cfg.is_hub_config || !cfg.control_plane) {
		auto first = sync(cfg, opt); // the same sentence as a one-shot sync
		out.error = first.error;
		return out;
	}
	auto wd = fx.watchdog_interval();
	if (wd && *wd / 2 - 1 < poll)
		poll = std::max(1, static_cast<int>(*wd / 2 - 1));
	opt.io.cancelled = [&fx] { return fx.signalled(); };
	SyncMemo memo;
	if (!opt.memo)
		opt.memo = &memo;
	BackoffPolicy backoff{cfg.connect.initial_backoff, cfg.connect.max_backoff};
	bool ready = false;
	int failures = 0;
	for (;;) {
		// The first round, and one after a failure or SIGHUP, answers at once; then
		// each round waits on the feed until something changes.
		opt.wait = (out.rounds == 0 || failures || opt.full) ? 0 : poll;
		auto r = sync(cfg, opt);
		++out.rounds;
		opt.full = false;
		unsigned sig = fx.wait(0);
		bool interrupted = r.error && r.error->message == "interrupted" && sig;
		std::string status = sync_status_line(r);
		if (r.error && !interrupted) {
			++out.failed_rounds;
			++failures;
		} else if (!r.error) {
			failures = 0;
		}
		if (!interrupted && (r.error || r.applied || !r.plan.conflicts.empty()))
			progress(cfg.interface.name + ": " + status);
		fx.notify(std::string(ready ? "" : "READY=1\n") + "STATUS=" + status +
		          (wd ? "\nWATCHDOG=1" : ""));
		ready = true;
		out.last = std::move(r);
		if (failures && !(sig & ((1u << SIGTERM) | (1u << SIGINT)))) {
			double delay = backoff.delay(failures - 1, fx.jitter_unit());
			double waited = 0;
			while (waited < delay && !(sig & ((1u << SIGTERM) | (1u << SIGINT)))) {
				double step =
				        wd ? std::min(delay - waited, *wd / 2) : delay - waited;
				sig |= fx.wait(step);
				waited += step;
				if (wd)
					fx.notify("WATCHDOG=1");
				if (sig & (1u << SIGHUP))
					break;
			}
		}
		if (sig & (1u << SIGHUP))
			opt.full = true;
		if (sig & ((1u << SIGTERM) | (1u << SIGINT))) {
			out.signal = (sig & (1u << SIGTERM)) ? SIGTERM : SIGINT;
			fx.notify("STOPPING=1");
			return out;
		}
	}
}

namespace {

class SystemSyncWatchEffects final : public SyncWatchEffects {
public:
	SystemSyncWatchEffects() { SignalWatch::install(); }
	void notify(const std::string &state) override { notifier_.notify(state); }
	std::optional<double> watchdog_interval() override { return notifier_.watchdog_interval(); }
	unsigned wait(double seconds) override { return SignalWatch::wait(seconds); }
	bool signalled() override { return SignalWatch::signal() != 0; }
	double jitter_unit() override { return jitter_.next(); }

private:
	ServiceNotifier notifier_;
	Jitter jitter_;
};

} // namespace

std::unique_ptr<SyncWatchEffects> system_sync_watch_effects()
{
	return std::make_unique<SystemSyncWatchEffects>();
}

} // namespace wgn::ops
