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
#include <utility>

#include <fcntl.h>
#include <net/if.h>
#include <nlohmann/json.hpp>
#include <random>
#include <unistd.h>

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

// The routes of the peers that stay whatever the feed says, looked up by the prefix
// lengths they use: an address is inside one of them when, cut to one of those lengths,
// it is one of their networks. A scan of every route for every node was 10^8 checks
// (seconds) when a lost state left 10,000 peers unmanaged on the hub.
class Claims {
public:
	void add(const IpPrefix &p, const Key &owner)
	{
		IpPrefix net = p.network();
		auto &lens = net.addr.family == AF_INET ? v4_ : v6_;
		if (std::find(lens.begin(), lens.end(), net.prefix_len) == lens.end()) {
			lens.push_back(net.prefix_len);
			std::sort(lens.begin(), lens.end());
		}
		at_.emplace(net, std::pair{p, owner});
	}
	// The first route (shortest prefix first) that holds a and is not owner's.
	const std::pair<IpPrefix, Key> *find(const IpAddr &a, const Key &owner) const
	{
		for (uint8_t len : a.family == AF_INET ? v4_ : v6_) {
			auto [b, e] = at_.equal_range(IpPrefix{a, len}.network());
			for (auto it = b; it != e; ++it)
				if (it->second.second != owner)
					return &it->second;
		}
		return nullptr;
	}
	bool empty() const { return at_.empty(); }

private:
	struct PrefixHash {
		size_t operator()(const IpPrefix &p) const noexcept
		{
			return std::hash<std::string_view>{}(std::string_view(
			               reinterpret_cast<const char *>(p.addr.bytes.data()),
			               p.addr.bytes.size())) ^
			       (static_cast<size_t>(p.prefix_len) << 3) ^
			       static_cast<size_t>(p.addr.family);
		}
	};
	std::vector<uint8_t> v4_, v6_;
	std::unordered_multimap<IpPrefix, std::pair<IpPrefix, Key>, PrefixHash> at_;
};

std::filesystem::path sync_state_path(const std::string &ifname)
{
	return state_dir() / (ifname + ".sync.json");
}

std::filesystem::path sync_journal_path(const std::string &ifname)
{
	return state_dir() / (ifname + ".sync.journal");
}

// A snapshot's generation: 64 random bits in hex.
std::string new_generation()
{
	uint64_t v = 0;
	try {
		std::random_device rd;
		v = (static_cast<uint64_t>(rd()) << 32) ^ rd();
	} catch (const std::exception &) {
		v = static_cast<uint64_t>(
		            std::chrono::system_clock::now().time_since_epoch().count()) ^
		    (static_cast<uint64_t>(getpid()) << 40);
	}
	char buf[17];
	std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
	return buf;
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

// One node of the state, as the snapshot and the journal write it; a deleted entry of
// the journal is its node id alone.
void append_node(std::string &out, const FeedNode &n)
{
	out += "{\"node_id\":";
	append_json_string(out, n.node_id);
	if (n.deleted) {
		out += ",\"deleted\":true}";
		return;
	}
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
}

void append_keys(std::string &out, const std::vector<Key> &keys)
{
	const char *sep = "";
	for (auto &k : keys) {
		out += sep;
		out += '"';
		out += base64_encode(k);
		out += '"';
		sep = ",";
	}
}

// A node of the snapshot or the journal; deleted entries only where allow_deleted.
// Returns why not, or nullopt.
std::optional<std::string> parse_node(const json &n, FeedNode &node, bool allow_deleted)
{
	if (allow_deleted && n.is_object() && n.contains("deleted") && n["deleted"] == true &&
	    n.contains("node_id") && n["node_id"].is_string()) {
		node.node_id = n["node_id"].get<std::string>();
		node.deleted = true;
		return std::nullopt;
	}
	auto key = n.is_object() && n.contains("public_key") && n["public_key"].is_string()
	                   ? base64_decode(n["public_key"].get<std::string>())
	                   : std::nullopt;
	if (!key || !n.contains("node_id") || !n["node_id"].is_string() ||
	    !n.contains("allowed_ips") || !n["allowed_ips"].is_array())
		return "a node is not {node_id, public_key, allowed_ips}";
	node.node_id = n["node_id"].get<std::string>();
	node.public_key = *key;
	for (auto &a : n["allowed_ips"]) {
		auto p = a.is_string() ? parse_prefix(a.get<std::string>()) : std::nullopt;
		if (!p)
			return "node " + node.node_id + ": an allowed IP is not a prefix";
		node.host_routes.push_back(*p);
	}
	if (n.contains("revision") && n["revision"].is_number_integer())
		node.revision = n["revision"].get<int64_t>();
	return std::nullopt;
}

// A list of base64 keys, or nullopt.
std::optional<std::vector<Key>> parse_keys(const json &j)
{
	std::vector<Key> out;
	if (!j.is_array())
		return std::nullopt;
	for (auto &k : j) {
		auto key = k.is_string() ? base64_decode(k.get<std::string>()) : std::nullopt;
		if (!key)
			return std::nullopt;
		out.push_back(*key);
	}
	return out;
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
	const std::string afresh = "; remove it to let sync start afresh "
	                           "(peers it managed then stay until --prune)";
	// Only a state that is not there is none: one that is a FIFO, a directory, over the
	// cap or unreadable is refused like a damaged one (read as none, its managed peers
	// would be forgotten, and the next snapshot written over it).
	auto text = read_bounded_file(path, "sync state", kMaxSyncStateBytes, Errc::cant_create,
	                              Errc::cant_create);
	if (!text) {
		if (text.error().code == Errc::no_input)
			return std::optional<SyncState>{};
		return make_error(Errc::cant_create, text.error().message + afresh);
	}
	// A state we cannot read is refused rather than guessed at: forgetting which peers
	// are ours would leave removed nodes on the hub for good.
	auto bad = [&](const std::string &why) {
		return make_error(Errc::cant_create, path.string() + ": " + why + afresh);
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
			if (auto why = parse_node(n, node, false))
				return bad(*why);
			s.nodes.push_back(std::move(node));
		}
		s.has_nodes = true;
	}
	if (j.contains("generation") && j["generation"].is_string())
		s.generation = j["generation"].get<std::string>();
	if (s.generation.empty() || !s.has_nodes)
		return std::optional<SyncState>{std::move(s)};

	// The rounds since the snapshot.
	auto jpath = sync_journal_path(ifname);
	auto jtext = read_bounded_file(jpath, "sync journal", kMaxSyncStateBytes, Errc::cant_create,
	                               Errc::cant_create);
	const std::string journal_afresh = "; remove it and " + path.filename().string() +
	                                   " to let sync start afresh "
	                                   "(peers it managed then stay until --prune)";
	if (!jtext) {
		if (jtext.error().code == Errc::no_input)
			return std::optional<SyncState>{std::move(s)};
		return make_error(Errc::cant_create, jtext.error().message + journal_afresh);
	}
	std::string_view jt = *jtext;
	size_t nl = jt.find('\n');
	std::optional<std::string> head_generation;
	if (nl != std::string_view::npos) {
		try {
			auto h = json::parse(jt.substr(0, nl));
			if (h.is_object() && h.contains("generation") &&
			    h["generation"].is_string())
				head_generation = h["generation"].get<std::string>();
		} catch (const json::exception &) {
		}
	}
	// The header is written whole with the first round (a temp and a rename), never
	// torn by a crash: a journal without one is damaged, and its rounds (peers sync
	// added) cannot be told stale, so it is refused.
	if (!head_generation)
		return make_error(Errc::cant_create,
		                  jpath.string() + ":1: not a journal header ({\"generation\"})" +
		                          journal_afresh);
	// Another snapshot's journal (the snapshot written, the journal not yet removed):
	// stale, replaced by the next round's.
	if (*head_generation != s.generation)
		return std::optional<SyncState>{std::move(s)};
	std::vector<FeedNode> changes;
	size_t pos = nl + 1;
	int line = 1;
	while (pos < jt.size()) {
		++line;
		size_t end = jt.find('\n', pos);
		if (end == std::string_view::npos) {
			s.journal_torn = true; // a round whose write was cut short: not applied
			break;
		}
		std::optional<std::string> why;
		json l;
		try {
			l = json::parse(jt.substr(pos, end - pos));
		} catch (const json::exception &) {
			why = "not JSON";
		}
		std::vector<FeedNode> these;
		std::optional<std::vector<Key>> added, removed;
		if (!why && (!l.is_object() || !l.contains("revision") ||
		             !l["revision"].is_number_integer() || !l.contains("changes") ||
		             !l["changes"].is_array() || !l.contains("managed_added") ||
		             !l.contains("managed_removed")))
			why = "not a round (revision, changes, managed_added, managed_removed)";
		if (!why)
			for (auto &n : l["changes"]) {
				FeedNode node;
				if ((why = parse_node(n, node, true)))
					break;
				these.push_back(std::move(node));
			}
		if (!why) {
			added = parse_keys(l["managed_added"]);
			removed = parse_keys(l["managed_removed"]);
			if (!added || !removed)
				why = "a managed key is not 32 bytes of base64";
		}
		if (why) {
			if (end + 1 == jt.size()) { // the last line: torn the same way
				s.journal_torn = true;
				break;
			}
			return make_error(Errc::cant_create, jpath.string() + ":" +
			                                             std::to_string(line) + ": " +
			                                             *why + journal_afresh);
		}
		s.revision = l["revision"].get<int64_t>();
		for (auto &k : *removed)
			s.managed.erase(k);
		for (auto &k : *added)
			s.managed.insert(k);
		for (auto &n : these)
			changes.push_back(std::move(n));
		pos = end + 1;
	}
	s.journal_bytes = pos;
	merge_feed(s.nodes, std::move(changes));
	return std::optional<SyncState>{std::move(s)};
}

// Written by hand, not through a json tree: 10,000 nodes are 1.5 MB that a json tree
// takes ~100 ms to build and print, and sync --watch writes it after every change.
Status save_sync_state(const std::string &ifname, SyncState &s)
{
	std::string generation = new_generation();
	std::string out;
	out.reserve(256 + s.managed.size() * 48 + s.nodes.size() * 128);
	out += "{\"interface\":";
	append_json_string(out, ifname);
	out += ",\"control_plane_url\":";
	append_json_string(out, s.control_plane_url);
	out += ",\"revision\":";
	out += std::to_string(s.revision);
	out += ",\"generation\":\"";
	out += generation;
	out += "\",\"managed\":[";
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
		if (n.deleted)
			continue;
		out += sep;
		append_node(out, n);
		sep = ",";
	}
	out += "]}\n";
	if (auto st = write_file_atomic(sync_state_path(ifname), out, 0644); !st)
		return st;
	// The journal belongs to the snapshot before: stale now whether it goes or not.
	(void)unlink(sync_journal_path(ifname).c_str());
	s.generation = std::move(generation);
	s.journal_bytes = 0;
	s.journal_torn = false;
	return Ok{};
}

Status record_sync_round(const std::string &ifname, SyncState &s, const SyncRound &round)
{
	std::string line = "{\"revision\":" + std::to_string(s.revision) + ",\"changes\":[";
	const char *sep = "";
	if (round.changes)
		for (auto &c : *round.changes) {
			line += sep;
			append_node(line, c);
			sep = ",";
		}
	line += "],\"managed_added\":[";
	append_keys(line, round.managed_added);
	line += "],\"managed_removed\":[";
	append_keys(line, round.managed_removed);
	line += "]}\n";
	// Compaction: once the journal is as large as a snapshot would be.
	size_t limit = std::max<size_t>(size_t{64} << 10, s.nodes.size() * 160);
	if (s.generation.empty() || s.journal_torn || s.journal_bytes + line.size() > limit)
		return save_sync_state(ifname, s);
	auto path = sync_journal_path(ifname);
	if (s.journal_bytes == 0) {
		std::string head = "{\"generation\":\"" + s.generation + "\"}\n";
		if (auto st = write_file_atomic(path, head + line, 0644); !st)
			return st;
		s.journal_bytes = head.size() + line.size();
		return Ok{};
	}
	int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0) // removed behind our back: a snapshot says it all
		return save_sync_state(ifname, s);
	bool ok = true;
	size_t off = 0;
	while (ok && off < line.size()) {
		ssize_t n = ::write(fd, line.data() + off, line.size() - off);
		if (n < 0 && errno == EINTR)
			continue;
		ok = n > 0;
		if (ok)
			off += static_cast<size_t>(n);
	}
	ok = ok && ::fdatasync(fd) == 0;
	if (!ok) {
		// A line maybe cut short (ENOSPC, EIO): taken back, so that a later append
		// never follows a torn line; the snapshot replaces the journal, or the round
		// fails here, before the device changes.
		int e = errno;
		(void)::ftruncate(fd, static_cast<off_t>(s.journal_bytes));
		::close(fd);
		errno = e;
		s.journal_torn = true;
		return save_sync_state(ifname, s);
	}
	::close(fd);
	s.journal_bytes += line.size();
	return Ok{};
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
	for (size_t i = 0; i < nodes.size(); ++i)
		gone[i] = nodes[i].deleted; // sync --watch's tombstones
	for (auto &c : changes) {
		if (auto it = at.find(c.node_id); it != at.end() && !gone[it->second]) {
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
	Claims claimed;
	for (auto &p : device_peers)
		if (!managed.contains(p.public_key) && !prune)
			for (auto &a : p.allowed_ips)
				claimed.add(a, p.public_key);

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
			if (auto *c = claimed.find(r.addr, n.public_key))
				routed(r, c->first, c->second);
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

// What an incremental plan looks up instead of scanning: built after a round whose plan
// left nothing out, so that every live node is a peer on the device with its routes and
// managed is exactly their keys; kept up to date by the incremental rounds.
struct SyncIndex {
	std::unordered_map<std::string, size_t> node_at;      // live node id -> its entry
	std::unordered_map<Key, size_t, KeyHash> key_at;      // a live node's key -> its entry
	std::unordered_map<IpAddr, Key, AddrHash> addr_owner; // a live node's address -> key
	Claims hand;                                          // routes of unmanaged peers
	KeySet hand_keys;
	std::unordered_map<Key, size_t, KeyHash> dev_at; // device peer -> its entry in the memo
	size_t tombstones = 0;                           // deleted entries left in the nodes
};

namespace {

std::shared_ptr<SyncIndex> build_index(const std::vector<FeedNode> &nodes, const DeviceState &dev,
                                       const KeySet &managed)
{
	auto ix = std::make_shared<SyncIndex>();
	ix->node_at.reserve(nodes.size());
	ix->key_at.reserve(nodes.size());
	ix->addr_owner.reserve(nodes.size() * 2);
	ix->dev_at.reserve(dev.peers.size());
	for (size_t i = 0; i < nodes.size(); ++i) {
		auto &n = nodes[i];
		if (n.deleted) {
			++ix->tombstones;
			continue;
		}
		ix->node_at[n.node_id] = i;
		ix->key_at[n.public_key] = i;
		for (auto &r : n.host_routes)
			ix->addr_owner[r.addr] = n.public_key;
	}
	for (size_t i = 0; i < dev.peers.size(); ++i) {
		auto &p = dev.peers[i];
		ix->dev_at[p.public_key] = i;
		if (!managed.contains(p.public_key)) {
			ix->hand_keys.insert(p.public_key);
			for (auto &a : p.allowed_ips)
				ix->hand.add(a, p.public_key);
		}
	}
	return ix;
}

// The feed's entries that count: the last one of each node, in feed order (what
// merge_feed keeps of them).
std::vector<const FeedNode *> last_of_each(const std::vector<FeedNode> &changes)
{
	std::unordered_map<std::string_view, size_t> last;
	last.reserve(changes.size());
	for (size_t i = 0; i < changes.size(); ++i)
		last[changes[i].node_id] = i;
	std::vector<const FeedNode *> out;
	out.reserve(last.size());
	for (size_t i = 0; i < changes.size(); ++i)
		if (last[changes[i].node_id] == i)
			out.push_back(&changes[i]);
	return out;
}

// The plan of a round from the index, over the changed entries only; nullopt when a
// change could leave something out (the full plan decides then, and says why). Fills
// the round's managed keys that came and went.
std::optional<SyncPlan> plan_incremental(const SyncIndex &ix, const std::vector<FeedNode> &nodes,
                                         const std::vector<FeedNode> &changes, const Key &hub_key,
                                         const DeviceState &dev, size_t live, SyncRound &round,
                                         size_t &live_after)
{
	auto touched = last_of_each(changes);
	KeySet old_keys; // of the changed nodes as they were
	for (auto *c : touched)
		if (auto it = ix.node_at.find(c->node_id); it != ix.node_at.end())
			old_keys.insert(nodes[it->second].public_key);
	KeySet new_keys;
	std::unordered_map<IpAddr, Key, AddrHash> new_addrs;
	size_t gone = 0, came = 0;
	for (auto *c : touched) {
		if (ix.node_at.contains(c->node_id))
			++gone;
		if (c->deleted)
			continue;
		++came;
		const Key &k = c->public_key;
		if (k == hub_key || ix.hand_keys.contains(k) || !new_keys.insert(k).second)
			return std::nullopt;
		if (auto it = ix.key_at.find(k); it != ix.key_at.end() && !old_keys.contains(k))
			return std::nullopt;
		for (auto &r : c->host_routes) {
			if (auto o = ix.addr_owner.find(r.addr);
			    o != ix.addr_owner.end() && !old_keys.contains(o->second))
				return std::nullopt;
			if (auto o = new_addrs.find(r.addr); o != new_addrs.end() && o->second != k)
				return std::nullopt;
			new_addrs.emplace(r.addr, k);
			if (ix.hand.find(r.addr, k))
				return std::nullopt;
		}
	}
	SyncPlan plan;
	for (auto &k : old_keys)
		if (!new_keys.contains(k)) {
			round.managed_removed.push_back(k);
			if (ix.dev_at.contains(k)) {
				SyncPeerChange c;
				c.kind = SyncPeerChange::remove;
				c.public_key = k;
				plan.changes.push_back(c);
			}
		}
	size_t set = 0;
	for (auto *n : touched) {
		if (n->deleted)
			continue;
		if (!ix.key_at.contains(n->public_key))
			round.managed_added.push_back(n->public_key);
		auto it = ix.dev_at.find(n->public_key);
		if (it != ix.dev_at.end() &&
		    same_routes(dev.peers[it->second].allowed_ips, n->host_routes))
			continue;
		SyncPeerChange c;
		c.kind = it == ix.dev_at.end() ? SyncPeerChange::add : SyncPeerChange::update;
		c.public_key = n->public_key;
		c.node_id = n->node_id;
		c.allowed_ips = n->host_routes;
		plan.changes.push_back(c);
		++set;
	}
	live_after = live - gone + came;
	plan.unchanged = static_cast<int>(live_after - set);
	return plan;
}

// The planned round into the state, the index and the memo's device: changed entries
// become tombstones and their new versions go to the end (as merge_feed does), and the
// tombstones are swept once they are a quarter of the nodes.
void apply_incremental(SyncIndex &ix, std::vector<FeedNode> &nodes, KeySet &managed,
                       const std::vector<FeedNode> &changes, const SyncRound &round,
                       const SyncPlan &plan, DeviceState &dev)
{
	auto touched = last_of_each(changes);
	for (auto *c : touched) {
		auto it = ix.node_at.find(c->node_id);
		if (it == ix.node_at.end())
			continue;
		FeedNode &o = nodes[it->second];
		for (auto &r : o.host_routes)
			if (auto a = ix.addr_owner.find(r.addr);
			    a != ix.addr_owner.end() && a->second == o.public_key)
				ix.addr_owner.erase(a);
		if (auto k = ix.key_at.find(o.public_key);
		    k != ix.key_at.end() && k->second == it->second)
			ix.key_at.erase(k);
		o.deleted = true;
		++ix.tombstones;
		ix.node_at.erase(it);
	}
	for (auto *c : touched) {
		if (c->deleted)
			continue;
		nodes.push_back(*c);
		ix.node_at[c->node_id] = nodes.size() - 1;
		ix.key_at[c->public_key] = nodes.size() - 1;
		for (auto &r : c->host_routes)
			ix.addr_owner[r.addr] = c->public_key;
	}
	for (auto &k : round.managed_removed)
		managed.erase(k);
	for (auto &k : round.managed_added)
		managed.insert(k);
	for (auto &c : plan.changes) {
		auto it = ix.dev_at.find(c.public_key);
		if (c.kind == SyncPeerChange::remove) {
			if (it == ix.dev_at.end())
				continue;
			size_t i = it->second, last = dev.peers.size() - 1;
			ix.dev_at.erase(it);
			if (i != last) {
				dev.peers[i] = std::move(dev.peers[last]);
				ix.dev_at[dev.peers[i].public_key] = i;
			}
			dev.peers.pop_back();
		} else if (it != ix.dev_at.end()) {
			dev.peers[it->second].allowed_ips = c.allowed_ips;
		} else {
			PeerState p;
			p.public_key = c.public_key;
			p.allowed_ips = c.allowed_ips;
			ix.dev_at[p.public_key] = dev.peers.size();
			dev.peers.push_back(std::move(p));
		}
	}
	if (ix.tombstones > 64 && ix.tombstones * 4 > nodes.size()) {
		size_t w = 0;
		for (size_t i = 0; i < nodes.size(); ++i)
			if (!nodes[i].deleted) {
				if (w != i)
					nodes[w] = std::move(nodes[i]);
				ix.node_at[nodes[w].node_id] = w;
				ix.key_at[nodes[w].public_key] = w;
				++w;
			}
		nodes.resize(w);
		ix.tombstones = 0;
	}
}

} // namespace

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
	// The index goes with the memo's state: taken with it, given back with it.
	std::shared_ptr<SyncIndex> index;
	if (memo) {
		if (memo->state)
			index = std::move(memo->index);
		memo->index.reset();
	}
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
	std::vector<FeedNode> changes = std::move(feed->nodes);
	std::vector<FeedNode> nodes;
	if (!out.full)
		nodes = std::move(state.nodes);

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
	bool dev_from_memo = false;
	std::optional<DeviceState> read;
	double now = monotonic_seconds();
	unsigned ifindex = if_nametoindex(ifname.c_str());
	if (memo && memo->device && !out.full && out.changed > 0 && ifindex == memo->ifindex &&
	    now - memo->device_read_at < memo->device_max_age) {
		dev = &*memo->device;
		dev_from_memo = true;
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
	Key hub_key =
	        dev->private_key ? public_key_of(*dev->private_key) : cfg.interface.public_key;

	// A round with a few changes on a hub of many nodes: planned from the index over
	// the changed entries alone, when it can vouch for them; else over every node.
	SyncRound round;
	round.changes = &changes;
	std::optional<SyncPlan> quick;
	size_t live_after = 0;
	if (index && dev_from_memo && !opt.prune && !out.full)
		quick = plan_incremental(*index, nodes, changes, hub_key, *dev,
		                         nodes.size() - index->tombstones, round, live_after);
	if (quick) {
		out.plan = std::move(*quick);
		out.nodes = live_after;
	} else {
		index.reset();
		round.managed_added.clear();
		round.managed_removed.clear();
		if (out.full)
			merge_feed(nodes, std::exchange(changes, {})); // no copy of a full listing
		else
			merge_feed(nodes, changes); // kept for the journal
		out.nodes = nodes.size();
		out.plan = plan_sync(nodes, hub_key, dev->peers, state.managed, opt.prune);
	}
	const std::string left_out_line = ifname + ": left out: ";
	for (auto &c : out.plan.conflicts)
		progress(left_out_line + c);
	if (opt.dry_run)
		return out;

	// Write ahead: the round is recorded before the device changes, so that every peer
	// sync puts on the device is one the state already names. A state directory that
	// cannot be written (read-only, full) stops the round here, with no peer changed;
	// a crash between the record and the apply leaves a state that names peers the
	// device may not have yet, which the next run (planned against the device) adds.
	// The keys of managed peers this round removes stay managed in the record until the
	// next round's (`lingering`): their removal may not happen.
	std::vector<Key> removing;
	for (auto &c : out.plan.changes)
		if (c.kind == SyncPeerChange::remove && state.managed.contains(c.public_key))
			removing.push_back(c.public_key);
	KeySet next_managed;
	if (quick) {
		KeySet keep(removing.begin(), removing.end()), dropped;
		std::vector<Key> drop;
		auto drop_key = [&](const Key &k) {
			if (!keep.contains(k) && dropped.insert(k).second)
				drop.push_back(k);
		};
		for (auto &k : round.managed_removed)
			drop_key(k);
		for (auto &k : state.lingering)
			if (state.managed.contains(k))
				drop_key(k);
		round.managed_removed = std::move(drop);
		apply_incremental(*index, nodes, state.managed, changes, round, out.plan,
		                  *memo->device);
		out.plan.managed = state.managed;
		for (auto &k : removing)
			out.plan.managed.erase(k);
	} else {
		next_managed = out.plan.managed;
		next_managed.insert(removing.begin(), removing.end());
	}
	// A round that changed nothing (a long poll that timed out) writes nothing.
	bool same = !quick && known && !out.full && out.changed == 0 &&
	            out.revision == state.revision && next_managed == state.managed;
	if (!quick && known && !out.full && !same) { // the journal's managed keys, by difference
		for (auto &k : next_managed)
			if (!state.managed.contains(k))
				round.managed_added.push_back(k);
		for (auto &k : state.managed)
			if (!next_managed.contains(k))
				round.managed_removed.push_back(k);
	}
	SyncState next;
	next.control_plane_url = cp.url;
	next.revision = out.revision;
	next.managed = quick ? std::move(state.managed) : std::move(next_managed);
	next.nodes = std::move(nodes);
	next.has_nodes = true;
	next.generation = state.generation;
	next.journal_bytes = state.journal_bytes;
	next.journal_torn = state.journal_torn;
	next.lingering = std::move(removing);
	if (!same) {
		// A full listing writes a snapshot; a round of changes one line of the journal.
		auto st = (out.full || !known) ? save_sync_state(ifname, next)
		                               : record_sync_round(ifname, next, round);
		if (!st) {
			if (memo)
				memo->device.reset();
			return fail(st.error());
		}
	}

	if (!out.plan.changes.empty()) {
		if (verbosity() == Verbosity::verbose) // 10,000 lines otherwise built for nothing
			for (auto &line : describe_sync(ifname, out.plan))
				effect(line);
		if (auto st = wg->set_device(ifname, sync_request(out.plan)); !st) {
			if (memo)
				memo->device.reset();
			return fail(st.error());
		}
		out.applied = true;
	}
	if (!quick && memo) {
		if (read)
			memo->device = std::move(read);
		if (memo->device)
			apply_to(*memo->device, out.plan);
	}
	if (memo) {
		if (quick)
			++memo->incremental_rounds;
		else if (memo->device && !opt.prune && out.plan.conflicts.empty() &&
		         out.plan.skipped.empty())
			index = build_index(next.nodes, *memo->device, next.managed);
		memo->index = std::move(index);
		memo->state = std::move(next);
	}
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
