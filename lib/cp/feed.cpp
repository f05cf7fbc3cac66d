#include "feed.h"

#include <nlohmann/json.hpp>

#include "log.h"
#include "version.h"

namespace wgn {

using nlohmann::json;

namespace {

Error garbage(const std::string &why)
{
	return make_error(Errc::protocol, "the control plane's change feed is malformed: " + why);
}

// A node's addresses ("10.0.0.7/24", or a bare address) as host routes; empty with
// *why set when one of them is not an address.
std::optional<std::vector<IpPrefix>> host_routes(const json &a, std::string *why)
{
	std::vector<const json *> items;
	if (a.is_string())
		items.push_back(&a);
	else if (a.is_array())
		for (auto &x : a)
			items.push_back(&x);
	else {
		*why = "wireguard_address is not a string or an array";
		return std::nullopt;
	}
	std::vector<IpPrefix> out;
	for (auto *x : items) {
		if (!x->is_string()) {
			*why = "wireguard_address holds a non-string";
			return std::nullopt;
		}
		auto s = x->get<std::string>();
		std::optional<IpAddr> addr;
		if (auto p = parse_prefix(s))
			addr = p->addr;
		else
			addr = parse_ip(s);
		if (!addr) {
			*why = "wireguard_address `" + s.substr(0, 60) + "' is not an address";
			return std::nullopt;
		}
		IpPrefix host{*addr, static_cast<uint8_t>(addr->family == AF_INET ? 32 : 128)};
		bool dup = false;
		for (auto &o : out)
			dup = dup || o == host;
		if (!dup)
			out.push_back(host);
	}
	return out;
}

std::string printable(std::string s)
{
	if (s.size() > 60)
		s = s.substr(0, 60) + "...";
	for (auto &c : s)
		if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
			c = '?';
	return s;
}

} // namespace

Result<FeedPage> parse_feed_page(std::string_view body, int64_t since)
{
	json j;
	try {
		j = json::parse(body);
	} catch (const json::exception &) {
		return garbage("the body is not JSON");
	}
	if (!j.is_object())
		return garbage("the body is not a JSON object");
	FeedPage page;
	if (!j.contains("revision") || !j["revision"].is_number_integer())
		return garbage("no integer revision");
	page.revision = j["revision"].get<int64_t>();
	if (page.revision < since)
		return garbage("revision " + std::to_string(page.revision) + " is older than " +
		               std::to_string(since) + ", which was asked for");
	if (j.contains("more")) {
		if (!j["more"].is_boolean())
			return garbage("`more' is not a boolean");
		page.more = j["more"].get<bool>();
	}
	if (!j.contains("nodes") || !j["nodes"].is_array())
		return garbage("no array `nodes'");
	size_t i = 0;
	for (auto &n : j["nodes"]) {
		++i;
		std::string where = "nodes[" + std::to_string(i - 1) + "]";
		auto skip = [&](const std::string &why) {
			page.skipped.push_back(where);
			page.skipped.back().append(": ").append(why);
		};
		if (!n.is_object()) {
			skip("not an object");
			continue;
		}
		FeedNode node;
		if (!n.contains("node_id") || !n["node_id"].is_string() ||
		    n["node_id"].get<std::string>().empty()) {
			skip("no string node_id");
			continue;
		}
		node.node_id = n["node_id"].get<std::string>();
		where += " (" + printable(node.node_id) + ")";
		if (!n.contains("wireguard_public_key") || !n["wireguard_public_key"].is_string()) {
			skip("no string wireguard_public_key");
			continue;
		}
		auto key = base64_decode(n["wireguard_public_key"].get<std::string>());
		if (!key) {
			skip("wireguard_public_key `" +
			     printable(n["wireguard_public_key"].get<std::string>()) +
			     "' is not 32 bytes of base64");
			continue;
		}
		node.public_key = *key;
		if (n.contains("deleted")) {
			if (!n["deleted"].is_boolean()) {
				skip("`deleted' is not a boolean");
				continue;
			}
			node.deleted = n["deleted"].get<bool>();
		}
		if (n.contains("revision")) {
			if (!n["revision"].is_number_integer()) {
				skip("revision is not an integer");
				continue;
			}
			node.revision = n["revision"].get<int64_t>();
		}
		if (!node.deleted) {
			std::string why;
			auto routes = n.contains("wireguard_address")
			                      ? host_routes(n["wireguard_address"], &why)
			                      : (why = "no wireguard_address", std::nullopt);
			if (!routes) {
				skip(why);
				continue;
			}
			if (routes->empty()) {
				skip("no address");
				continue;
			}
			node.host_routes = std::move(*routes);
		}
		page.nodes.push_back(std::move(node));
	}
	return page;
}

std::string feed_url(const std::string &base, int64_t since, int limit, int wait)
{
	std::string u = base + "/api/v1/nodes?since=" + std::to_string(since) +
	                "&limit=" + std::to_string(limit);
	if (wait > 0)
		u += "&wait=" + std::to_string(wait);
	return u;
}

Result<FeedPage> fetch_feed_page(HttpTransport &transport, const ControlPlaneConfig &cp,
                                 const std::string &token, int64_t since, int limit, int wait,
                                 const BackoffPolicy &backoff, RegistrationIo &io)
{
	fill_io_defaults(io);
	HttpRequest req;
	req.method = "GET";
	req.url = feed_url(cp.url, since, limit, wait);
	req.headers = {{"Accept", "application/json"}, {"User-Agent", "wgn/" WGN_VERSION}};
	req.bearer_token = token;
	req.ca_file = cp.ca_file;
	req.connect_timeout = cp.timeout;
	req.timeout = cp.timeout + wait;
	req.cancelled = io.cancelled;
	req.max_response = kMaxFeedPageBytes;
	const int total = cp.max_retries + 1;
	Error last{Errc::temp_fail, ""};
	for (int n = 1; n <= total; ++n) {
		if (io.cancelled && io.cancelled())
			return make_error(Errc::temp_fail, "interrupted");
		effect("GET " + req.url + " (attempt " + std::to_string(n) + "/" +
		       std::to_string(total) + ")");
		auto resp = transport.post(req);
		std::optional<double> retry_after;
		if (!resp) {
			if (resp.error().code != Errc::temp_fail)
				return resp.error();
			last = resp.error();
		} else if (resp->status == 200) {
			return parse_feed_page(resp->body, since);
		} else {
			// The registration judge knows the statuses; a 2xx other than 200 has no
			// node_id and so comes back as protocol, as it should here.
			Verdict v = judge_response(*resp, io.now());
			if (v.kind != Verdict::retry) {
				Error e = v.error;
				if (v.kind == Verdict::done || e.code == Errc::data)
					e = make_error(Errc::protocol,
					               "the control plane answered HTTP " +
					                       std::to_string(resp->status) +
					                       " to the change feed request");
				return e;
			}
			last = v.error;
			retry_after = v.retry_after;
		}
		if (n == total)
			break;
		double delay = retry_after ? std::min(*retry_after, backoff.max)
		                           : backoff.delay(n - 1, io.jitter());
		progress("change feed attempt " + std::to_string(n) + "/" + std::to_string(total) +
		         " failed: " + last.message + "; retrying in " + format_seconds(delay) +
		         "s");
		io.sleep(delay);
	}
	return make_error(Errc::temp_fail, "control plane " + cp.url + " unavailable after " +
	                                           std::to_string(total) + " attempt" +
	                                           (total == 1 ? "" : "s") + ": " + last.message);
}

Result<FeedPage> fetch_feed(HttpTransport &transport, const ControlPlaneConfig &cp,
                            const std::string &token, int64_t since, const BackoffPolicy &backoff,
                            RegistrationIo &io, int limit, int wait)
{
	FeedPage all;
	all.revision = since;
	for (int pages = 0;; ++pages) {
		auto page = fetch_feed_page(transport, cp, token, all.revision, limit,
		                            pages == 0 ? wait : 0, backoff, io);
		if (!page)
			return page.error();
		if (page->more && (page->revision <= all.revision || pages > 100000))
			return garbage("it says `more' without moving on from revision " +
			               std::to_string(all.revision));
		all.revision = page->revision;
		for (auto &n : page->nodes)
			all.nodes.push_back(std::move(n));
		for (auto &s : page->skipped)
			all.skipped.push_back(std::move(s));
		if (!page->more)
			return all;
	}
}

} // namespace wgn
