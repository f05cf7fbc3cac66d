// A hub's sync state as `wgn sync` reads it: the snapshot ($WGN_STATE_DIR/NAME.sync.json)
// and the journal of the rounds since (NAME.sync.journal), read through load_sync_state.
// The input is the snapshot, then, after the first NUL byte (a snapshot has none), the
// journal; without a NUL there is no journal. Both are written to a private directory
// (on /dev/shm when there is one: the state is saved with fsync). A state that reads
// must be written back as a snapshot by save_sync_state and read again to the same
// state, and then, with two rounds appended by record_sync_round (the first creates the
// journal, the second appends to it), read again to the state those rounds make.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>

#include <unistd.h>

#include "sync.h"

namespace {

std::string dir;

bool same(const wgn::ops::SyncState &a, const wgn::ops::SyncState &b)
{
	if (a.control_plane_url != b.control_plane_url || a.revision != b.revision ||
	    a.managed != b.managed || a.nodes.size() != b.nodes.size())
		return false;
	for (size_t i = 0; i < a.nodes.size(); ++i) {
		auto &x = a.nodes[i];
		auto &y = b.nodes[i];
		if (x.node_id != y.node_id || x.public_key != y.public_key ||
		    x.host_routes != y.host_routes || x.revision != y.revision)
			return false;
	}
	return true;
}

void put(const std::string &path, std::string_view data)
{
	std::ofstream f(path, std::ios::binary | std::ios::trunc);
	f.write(data.data(), static_cast<std::streamsize>(data.size()));
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
	char shm[] = "/dev/shm/wgn-fuzz-sync.XXXXXX";
	char tmp[] = "/tmp/wgn-fuzz-sync.XXXXXX";
	const char *d = mkdtemp(shm);
	if (!d)
		d = mkdtemp(tmp);
	if (!d)
		std::abort();
	dir = d;
	setenv("WGN_STATE_DIR", dir.c_str(), 1);
	std::atexit([] {
		unlink((dir + "/wg0.sync.json").c_str());
		unlink((dir + "/wg0.sync.journal").c_str());
		rmdir(dir.c_str());
	});
	return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	std::string_view in(reinterpret_cast<const char *>(data), size);
	size_t nul = in.find('\0');
	put(dir + "/wg0.sync.json", in.substr(0, nul));
	if (nul == std::string_view::npos)
		unlink((dir + "/wg0.sync.journal").c_str());
	else
		put(dir + "/wg0.sync.journal", in.substr(nul + 1));

	auto st = wgn::ops::load_sync_state("wg0");
	if (!st) {
		if (st.error().message.empty())
			std::abort();
		return 0;
	}
	if (!*st)
		std::abort(); // the file is there: "no state" would forget the managed peers
	auto &s = **st;
	if (!wgn::ops::save_sync_state("wg0", s))
		std::abort();
	auto again = wgn::ops::load_sync_state("wg0");
	if (!again || !*again || !same(s, **again))
		std::abort();

	// Two rounds: the last node sent again (it stays last), a key managed no more and
	// one managed anew; then nothing but a newer revision.
	std::vector<wgn::FeedNode> changes;
	if (!s.nodes.empty())
		changes.push_back(s.nodes.back());
	wgn::ops::SyncRound round;
	round.changes = &changes;
	wgn::Key fresh{};
	fresh[0] = 0xfe;
	if (!s.managed.empty()) {
		round.managed_removed.push_back(*s.managed.begin());
		s.managed.erase(s.managed.begin());
	}
	round.managed_added.push_back(fresh);
	s.managed.insert(fresh);
	wgn::ops::merge_feed(s.nodes, changes);
	if (!wgn::ops::record_sync_round("wg0", s, round))
		std::abort();
	wgn::ops::SyncRound idle;
	if (s.revision < INT64_MAX)
		++s.revision;
	if (!wgn::ops::record_sync_round("wg0", s, idle))
		std::abort();
	auto rounds = wgn::ops::load_sync_state("wg0");
	if (!rounds || !*rounds || !same(s, **rounds))
		std::abort();
	return 0;
}
