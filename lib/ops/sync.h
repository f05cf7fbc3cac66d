// wgn sync as an operation (SPEC "wgn sync"): on a hub, make the peers of its interface
// equal to the nodes the control plane's change feed lists. The diff is pure
// (plan_sync), tested without root; sync() reads the feed, the device and the state,
// applies the diff in one set_device request, and saves the state. Fail static: a feed
// error changes no peer.
//
// The state holds every live node known at its revision, so that a later round asks
// the feed only for what changed since (a key change names the node, not the old key:
// the state knows it) and a restart resumes without a full re-listing. A round with no
// state, another control plane URL, or `full` lists every node from revision 0.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "config.h"
#include "device.h"
#include "error.h"
#include "feed.h"

namespace wgn::ops {

using KeySet = std::unordered_set<Key, KeyHash>;

// $WGN_STATE_DIR/IFACE.sync.json: the keys sync manages and the last revision applied,
// as a snapshot, and IFACE.sync.journal: the rounds since that snapshot, one line each,
// appended with fdatasync, so that a round with one change writes one line and not
// 10,000 nodes. The journal's first line names the snapshot's generation (a random id
// each snapshot gets); a journal of another generation is stale and ignored, and a last
// line cut short (a writer killed mid-write, power lost) is ignored too: the state is
// then the one before that round, from which the feed resumes.
struct SyncState {
	std::string control_plane_url;
	int64_t revision = 0;
	KeySet managed;              // the peers sync put on the device
	std::vector<FeedNode> nodes; // every live node at revision, in revision order
	bool has_nodes = false;      // false: a state without nodes (full listing next)
	std::string generation;      // the snapshot's; empty: never written
	size_t journal_bytes = 0;    // the journal of this generation (0: none yet)
	bool journal_torn = false;   // its last line was cut short: a snapshot next
	// Managed keys whose peers the last round removed: recorded as managed still (the
	// round is written before the device changes, and the removal may not happen), they
	// leave the state with the next round's record. Not in the files: a state loaded
	// has them in managed, and the next full plan drops those the device no longer has.
	std::vector<Key> lingering;
};
Result<std::optional<SyncState>> load_sync_state(const std::string &ifname);
// The whole state as a snapshot with a new generation (the journal goes with it).
// Deleted entries of s.nodes (sync --watch's tombstones) are left out.
Status save_sync_state(const std::string &ifname, SyncState &s);

// One round's difference: the feed's entries in feed order (deleted ones included) and
// the managed keys that came and went; s is the state after the round.
struct SyncRound {
	const std::vector<FeedNode> *changes = nullptr;
	std::vector<Key> managed_added, managed_removed;
};
// Appends the round to the journal (one write and fdatasync), or writes a snapshot when
// there is no journal to append to (none of this generation yet is created atomically
// with its first line), it is torn, or it has grown past the snapshot's size
// (compaction; at least 64 KiB). Errors: cant_create (73).
Status record_sync_round(const std::string &ifname, SyncState &s, const SyncRound &round);

// Folds changes (feed order, deletions included) into nodes (revision order): a node
// seen again moves to the end with its new key and addresses, a deleted one goes.
void merge_feed(std::vector<FeedNode> &nodes, std::vector<FeedNode> changes);

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
	KeySet managed;                     // what sync manages once the plan is applied
};

// nodes: the live nodes in feed order (deleted entries are ignored). A node's host
// routes that lie inside a prefix of a peer that stays and is not that node's (a
// hand-made one, or an earlier node) make it a conflict; the first keeps the address,
// and the nodes that sync already routes on the device come first, so that a node
// moving onto a taken address never takes it from its holder.
SyncPlan plan_sync(const std::vector<FeedNode> &nodes, const Key &hub_key,
                   const std::vector<PeerState> &device_peers, const KeySet &managed, bool prune);

// The plan as one request: removals, then additions and updates (allowed IPs replaced,
// no keepalive, no endpoint).
DeviceConfig sync_request(const SyncPlan &plan);

// `wg set` lines for --dry-run; public keys only.
std::vector<std::string> describe_sync(const std::string &ifname, const SyncPlan &plan);

// What `sync --watch` keeps between rounds, so that a round with one change costs what
// the change costs, not what 10,000 peers cost: the state as saved (not read back from
// disk), and the device's peers as last read with the round's own changes applied. The
// device is read again on the first round, on a full listing, on a round that brought
// no change (a long poll that timed out: the time to notice hand-made changes), after
// a failed set, when the interface's index changed (recreated by `down`/`up` or a new
// daemon), and once the copy is older than device_max_age seconds.
struct SyncIndex; // sync.cpp: the state's and the device's lookups, for an incremental plan
struct SyncMemo {
	std::optional<SyncState> state;
	// Kept with state and device after a round whose plan left nothing out (no conflict,
	// nothing skipped, no --prune): the next round with changes plans over the changed
	// entries only. A change it cannot vouch for (an address or a key taken already, the
	// hub's own key, a hand-made peer with a node's key) takes the full plan instead.
	std::shared_ptr<SyncIndex> index;
	int incremental_rounds = 0; // for tests: rounds planned through the index
	std::optional<DeviceState> device;
	unsigned ifindex = 0;
	double device_read_at = 0; // monotonic seconds
	double device_max_age = 60;
	int device_reads = 0; // for tests: how many rounds read the device
};

struct SyncOptions {
	bool prune = false;
	bool dry_run = false;
	bool full = false; // list every node from revision 0, whatever the state says
	int wait = 0;      // > 0: long-poll the feed up to that many seconds first
	HttpTransport *transport = nullptr; // default: CurlTransport
	WireGuardControl *wg = nullptr;     // default: control_for(interface)
	RegistrationIo io;
	SyncMemo *memo = nullptr; // sync --watch: carried from one round to the next
};

struct SyncOutcome {
	std::string interface;
	int64_t revision = 0;
	bool full = false;  // this round listed every node
	size_t nodes = 0;   // live nodes known after it
	size_t changed = 0; // feed entries this round read
	SyncPlan plan;
	std::vector<std::string> feed_skipped; // malformed feed entries
	bool applied = false;                  // a request was sent to the device
	std::optional<Error> error;
	// 65 when nodes were left out for an address conflict and nothing else failed.
	std::optional<Error> result_error() const;
};

// Needs a config without [hub] (is_hub_config) and with [control_plane]: else config
// (78). Takes the interface lock while it changes the device (not for dry_run).
SyncOutcome sync(const Config &cfg, SyncOptions opt = {});

// What `sync --watch` touches besides the feed and the device (those are in
// SyncOptions), so that the loop is tested with a fake clock.
class SyncWatchEffects {
public:
	virtual ~SyncWatchEffects() = default;
	virtual void notify(const std::string &state) = 0;     // one sd_notify datagram
	virtual std::optional<double> watchdog_interval() = 0; // seconds, when asked for
	// Waits up to seconds, less when a signal comes; the signals since the last call
	// as a mask of (1u << signo). wait(0) only collects.
	virtual unsigned wait(double seconds) = 0;
	virtual bool signalled() = 0; // a signal came and was not collected yet
	virtual double jitter_unit() = 0;
};

struct SyncWatchOutcome {
	std::optional<Error> error; // before the loop: the config cannot be synced (78)
	int signal = 0;             // the SIGTERM/SIGINT that ended it
	int rounds = 0;
	int failed_rounds = 0;
	std::optional<SyncOutcome> last;
};

// Rounds of sync, each a long poll of up to `poll` seconds (cut to less than half the
// watchdog interval), until SIGTERM/SIGINT. READY=1 after the first round whatever it
// gave (the peers stay as they are while the control plane is away: fail static); a
// failed round waits [connect]'s backoff, jittered and growing, before the next;
// SIGHUP makes the next round a full listing. STATUS= says where it stands.
SyncWatchOutcome sync_watch(const Config &cfg, SyncOptions opt, SyncWatchEffects &fx,
                            int poll = 30);
std::unique_ptr<SyncWatchEffects> system_sync_watch_effects();

// STATUS= of a round.
std::string sync_status_line(const SyncOutcome &o);

} // namespace wgn::ops
