// The control plane's change feed as `wgn sync` reads it (GET /api/v1/nodes): the first
// eight bytes are the revision asked for (`since`), the rest is the body of a 200. A page
// that parses must keep parse_feed_page's promises; its nodes then go through what sync
// does with them (merge into the known nodes, the plan against an empty device, the
// request and the dry-run lines) and its sentences are written as `sync --json` does.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string_view>

#include <nlohmann/json.hpp>

#include "feed.h"
#include "json_text.h"
#include "sync.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 8)
		return 0;
	int64_t since = 0;
	std::memcpy(&since, data, sizeof since);
	std::string_view body(reinterpret_cast<const char *>(data) + 8, size - 8);
	auto page = wgn::parse_feed_page(body, since);
	if (!page) {
		if (page.error().code != wgn::Errc::protocol)
			std::abort();
		(void)wgn::json_text(nlohmann::json{{"error", page.error().message}});
		return 0;
	}
	if (page->revision < since)
		std::abort();
	for (auto &n : page->nodes) {
		if (n.node_id.empty())
			std::abort();
		if (!n.deleted && n.host_routes.empty())
			std::abort();
		for (auto &r : n.host_routes)
			if (r.prefix_len != (r.addr.family == AF_INET ? 32 : 128))
				std::abort();
	}
	std::vector<wgn::FeedNode> known;
	wgn::ops::merge_feed(known, page->nodes);
	std::set<std::string> ids;
	for (auto &n : known)
		if (n.deleted || !ids.insert(n.node_id).second)
			std::abort(); // merged: live nodes only, each once
	wgn::Key hub{};
	hub[0] = 1;
	auto plan = wgn::ops::plan_sync(known, hub, {}, {}, false);
	(void)wgn::ops::sync_request(plan);
	(void)wgn::ops::describe_sync("wg0", plan);
	(void)wgn::json_text(nlohmann::json{{"revision", page->revision},
	                                    {"conflicts", plan.conflicts},
	                                    {"skipped", plan.skipped},
	                                    {"feed_skipped", page->skipped}});
	return 0;
}
