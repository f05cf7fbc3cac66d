// wgn sync as an operation (SPEC "wgn sync"): on a hub, make the peers of its interface
// equal to the nodes the control plane's change feed lists. The diff is pure
// (plan_sync), tested without root; sync() reads the feed, the device and the state,
// applies the diff in one set_device request, and saves the state. Fail static: a feed
// error changes no peer.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config.h"
#include "device.h"
#include "error.h"
#include "feed.h"

namespace wgn::ops {

// $WGN_STATE_DIR/IFACE.sync.json: the keys sync manages and the last revision applied.
struct SyncState {
	std::string control_plane_url;
	int64_t revision = 0;
	std::set<Key> managed;
};
Result<std::optional<SyncState>> load_sync_state(const std::string &ifname);
Status save_sync_state(const std::string &ifname, const SyncState &s);

struct SyncPeerChange {
	enum Kind { add, update, remove } kind = add;
	Key public_key{};
	std::string node_id;               // empty for a removed peer the feed no longer lists
	std::vector<IpPrefix> allowed_ips; // add, update
};

struct SyncPlan {
	std::vector<SyncPeerChange> changes; // removals first
	int unchanged = 0;
	std::vector<std::string> conflicts; // nodes left out: their address is routed already
	std::vector<std::string> skipped;   // nodes left out for another reason (hub's own key)
	std::set<Key> managed;              // what sync manages once the plan is applied
};

// nodes: the live nodes in feed order (deleted entries are ignored). A node's host
// routes that lie inside a prefix of a peer that stays and is not that node's (a
// hand-made one, or an earlier node) make it a conflict; the first keeps the address.
SyncPlan plan_sync(const std::vector<FeedNode> &nodes, const Key &hub_key,
                   const std::vector<PeerState> &device_peers, const std::set<Key> &managed,
                   bool prune);

// The plan as one request: removals, then additions and updates (allowed IPs replaced,
// no keepalive, no endpoint).
DeviceConfig sync_request(const SyncPlan &plan);

// `wg set` lines for --dry-run; public keys only.
std::vector<std::string> describe_sync(const std::string &ifname, const SyncPlan &plan);

struct SyncOptions {
	bool prune = false;
	bool dry_run = false;
	HttpTransport *transport = nullptr; // default: CurlTransport
	WireGuardControl *wg = nullptr;     // default: control_for(interface)
	RegistrationIo io;
};

struct SyncOutcome {
	std::string interface;
	int64_t revision = 0;
	SyncPlan plan;
	std::vector<std::string> feed_skipped; // malformed feed entries
	bool applied = false;                  // a request was sent to the device
	std::optional<Error> error;
	// 65 when nodes were left out for an address conflict and nothing else failed.
	std::optional<Error> result_error() const;
};

// Needs a config without [hub] (is_hub_config) and with [control_plane]: else config
// (78). Takes the interface lock (not for dry_run).
SyncOutcome sync(const Config &cfg, SyncOptions opt = {});

} // namespace wgn::ops
