// A hub's sync state ($WGN_STATE_DIR/NAME.sync.json), read through load_sync_state as
// `wgn sync` reads it: the input is written to a private directory (on /dev/shm when
// there is one: the state is saved with fsync). A state that reads must be written back
// by save_sync_state and read again to the same state.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

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
		rmdir(dir.c_str());
	});
	return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	{
		std::ofstream f(dir + "/wg0.sync.json", std::ios::binary | std::ios::trunc);
		f.write(reinterpret_cast<const char *>(data), static_cast<std::streamsize>(size));
	}
	auto st = wgn::ops::load_sync_state("wg0");
	if (!st) {
		if (st.error().message.empty())
			std::abort();
		return 0;
	}
	if (!*st)
		std::abort(); // the file is there: "no state" would forget the managed peers
	if (!wgn::ops::save_sync_state("wg0", **st))
		std::abort();
	auto again = wgn::ops::load_sync_state("wg0");
	if (!again || !*again || !same(**st, **again))
		std::abort();
	return 0;
}
