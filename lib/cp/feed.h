// The control plane's change feed (SPEC "Control plane roles and API"), as a hub reads
// it for `wgn sync`: GET {url}/api/v1/nodes?since=REV&limit=N[&wait=SEC] with the hub
// token. Judging a page is pure, so tests feed it hostile answers without a network.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backoff.h"
#include "config.h"
#include "error.h"
#include "http.h"
#include "keys.h"
#include "netaddr.h"
#include "registry.h"

namespace wgn {

struct FeedNode {
	std::string node_id;
	Key public_key{};
	std::vector<IpPrefix> host_routes; // its addresses as /32 and /128, in feed order
	int64_t revision = 0;
	bool deleted = false;
};

struct FeedPage {
	int64_t revision = 0;
	bool more = false;
	std::vector<FeedNode> nodes;      // the valid entries
	std::vector<std::string> skipped; // one sentence per malformed entry
};

// A 200's body. The answer as a whole must be a JSON object with an integer revision
// not below `since`, a boolean `more` (absent: false) and an array `nodes`, else
// protocol (76). An entry without a string node_id, a valid base64 key or valid
// addresses is skipped and named in `skipped`; it never stops the rest.
Result<FeedPage> parse_feed_page(std::string_view body, int64_t since);

// A page of 1000 full node records with labels fits with room to spare; a larger answer
// is protocol (76), as any over-long answer.
inline constexpr size_t kMaxFeedPageBytes = size_t{8} << 20;

// The URL of one page. wait = 0: no long poll.
std::string feed_url(const std::string &base, int64_t since, int limit, int wait);

// One page, retried as registration is (network errors, 408, 429, 5xx; Retry-After
// capped at backoff.max). 401/403: no_perm (77); a redirect, another status or a
// malformed answer: protocol (76); unavailable after the retries: temp_fail (75).
Result<FeedPage> fetch_feed_page(HttpTransport &transport, const ControlPlaneConfig &cp,
                                 const std::string &token, int64_t since, int limit, int wait,
                                 const BackoffPolicy &backoff, RegistrationIo &io);

// Every page from `since` on (following `more`), in one list; wait > 0 makes the first
// page a long poll. A page whose revision goes backwards, or that says `more` without
// moving on, is protocol (76).
Result<FeedPage> fetch_feed(HttpTransport &transport, const ControlPlaneConfig &cp,
                            const std::string &token, int64_t since, const BackoffPolicy &backoff,
                            RegistrationIo &io, int limit = 1000, int wait = 0);

} // namespace wgn
