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

// One value of the page as read: its JSON type, and the value where wgn needs it.
struct Field {
	enum Kind { absent, string, boolean, integer, array, other };
	Kind kind = absent;
	std::string text;
	bool flag = false;
	int64_t number = 0;
	std::vector<std::optional<std::string>> items; // an array's strings; nullopt: not one
};

// A node's addresses ("10.0.0.7/24", or a bare address) as host routes; empty with
// *why set when one of them is not an address.
std::optional<std::vector<IpPrefix>> host_routes(const Field &a, std::string *why)
{
	std::vector<std::optional<std::string>> one;
	const auto *items = &a.items;
	if (a.kind == Field::string) {
		one.emplace_back(a.text);
		items = &one;
	} else if (a.kind != Field::array) {
		*why = "wireguard_address is not a string or an array";
		return std::nullopt;
	}
	std::vector<IpPrefix> out;
	for (const auto &x : *items) {
		if (!x) {
			*why = "wireguard_address holds a non-string";
			return std::nullopt;
		}
		const std::string &s = *x;
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

// An entry of `nodes' as read.
struct Entry {
	bool object = true;
	Field node_id, key, deleted, revision, address;
};

// Entry i of `nodes' into page.nodes, or the reason it is skipped into page.skipped.
void judge(Entry &e, size_t i, FeedPage &page)
{
	auto skip = [&](const std::string &why, bool named = true) {
		std::string s = "nodes[" + std::to_string(i) + "]";
		if (named)
			s += " (" + printable(e.node_id.text) + ")";
		page.skipped.push_back(s + ": " + why);
	};
	if (!e.object)
		return skip("not an object", false);
	if (e.node_id.kind != Field::string || e.node_id.text.empty())
		return skip("no string node_id", false);
	if (e.key.kind != Field::string)
		return skip("no string wireguard_public_key");
	FeedNode node;
	auto key = base64_decode(e.key.text);
	if (!key)
		return skip("wireguard_public_key `" + printable(e.key.text) +
		            "' is not 32 bytes of base64");
	node.public_key = *key;
	if (e.deleted.kind != Field::absent) {
		if (e.deleted.kind != Field::boolean)
			return skip("`deleted' is not a boolean");
		node.deleted = e.deleted.flag;
	}
	if (e.revision.kind != Field::absent) {
		if (e.revision.kind != Field::integer)
			return skip("revision is not an integer");
		node.revision = e.revision.number;
	}
	if (!node.deleted) {
		if (e.address.kind == Field::absent)
			return skip("no wireguard_address");
		std::string why;
		auto routes = host_routes(e.address, &why);
		if (!routes)
			return skip(why);
		if (routes->empty())
			return skip("no address");
		node.host_routes = std::move(*routes);
	}
	node.node_id = std::move(e.node_id.text);
	page.nodes.push_back(std::move(node));
}

// The page read straight into FeedNodes through nlohmann's SAX interface: building,
// looking up and freeing a tree of 1,000 objects per page was a third of the
// instructions of a sync of 10,000 nodes. Depth 1 is the body's object, 2 the `nodes'
// array, 3 an entry, 4 an entry's array of addresses; any other object or array is
// read through and dropped (`skip`). A key given twice counts once, the last time, as
// in a JSON tree.
class PageReader {
public:
	FeedPage page;
	bool object = false; // the body is an object
	bool malformed = false;
	Field revision, more, nodes;

	bool null()
	{
		put(Field::other);
		return true;
	}
	bool boolean(bool v)
	{
		if (Field *f = put(Field::boolean))
			f->flag = v;
		return true;
	}
	bool number_integer(json::number_integer_t v)
	{
		if (Field *f = put(Field::integer))
			f->number = v;
		return true;
	}
	bool number_unsigned(json::number_unsigned_t v)
	{
		if (Field *f = put(Field::integer))
			f->number = static_cast<int64_t>(v);
		return true;
	}
	bool number_float(json::number_float_t, const json::string_t &)
	{
		put(Field::other);
		return true;
	}
	bool string(json::string_t &v)
	{
		if (Field *f = put(Field::string, &v))
			f->text = v;
		return true;
	}
	bool binary(json::binary_t &)
	{
		put(Field::other);
		return true;
	}
	bool key(json::string_t &k)
	{
		target = nullptr;
		if (skip)
			return true;
		if (depth == 1)
			target = k == "revision" ? &revision
			         : k == "more"   ? &more
			         : k == "nodes"  ? &nodes
			                         : nullptr;
		else if (depth == 3)
			target = k == "node_id"                ? &entry.node_id
			         : k == "wireguard_public_key" ? &entry.key
			         : k == "deleted"              ? &entry.deleted
			         : k == "revision"             ? &entry.revision
			         : k == "wireguard_address"    ? &entry.address
			                                       : nullptr;
		if (target)
			*target = Field{};
		return true;
	}
	bool start_object(std::size_t) { return open(true); }
	bool start_array(std::size_t) { return open(false); }
	bool end_object() { return close(); }
	bool end_array() { return close(); }
	bool parse_error(std::size_t, const std::string &, const nlohmann::detail::exception &)
	{
		malformed = true;
		return false;
	}

private:
	int depth = 0; // containers open
	int skip = 0;  // > 0: inside a dropped container opened at this depth
	Field *target = nullptr;
	Entry entry;
	size_t entries = 0;

	// A scalar: an entry of `nodes' that is not an object (judged here), an address
	// (taken here), or the value of the key just read (its field returned).
	Field *put(Field::Kind kind, const std::string *text = nullptr)
	{
		if (skip)
			return nullptr;
		if (depth == 2) {
			Entry e;
			e.object = false;
			judge(e, entries++, page);
		} else if (depth == 4) {
			entry.address.items.emplace_back(text ? std::optional(*text)
			                                      : std::nullopt);
		} else if (target) {
			target->kind = kind;
			return target;
		}
		return nullptr;
	}

	bool open(bool is_object)
	{
		++depth;
		if (skip)
			return true;
		bool keep = false;
		if (depth == 1) { // the body
			object = keep = is_object;
		} else if (depth == 2) { // the value of a key of the body
			if (target == &nodes && !is_object) {
				page.nodes.clear(); // the last `nodes' counts
				page.skipped.clear();
				entries = 0;
				keep = true;
			}
			if (target)
				target->kind = is_object ? Field::other : Field::array;
		} else if (depth == 3) { // an entry of `nodes'
			entry = Entry{};
			entry.object = is_object;
			if (is_object)
				keep = true;
			else
				judge(entry, entries++, page);
		} else if (depth == 4) { // the value of a key of an entry
			keep = target == &entry.address && !is_object;
			if (target)
				target->kind = is_object ? Field::other : Field::array;
		} else { // an address that is an object or an array
			entry.address.items.emplace_back(std::nullopt);
		}
		if (!keep)
			skip = depth;
		target = nullptr;
		return true;
	}

	bool close()
	{
		if (skip == depth)
			skip = 0;
		else if (!skip && depth == 3)
			judge(entry, entries++, page);
		--depth;
		return true;
	}
};

} // namespace

Result<FeedPage> parse_feed_page(std::string_view body, int64_t since)
{
	PageReader r;
	try {
		if (!json::sax_parse(body, &r) || r.malformed)
			return garbage("the body is not JSON");
	} catch (const json::exception &) {
		return garbage("the body is not JSON");
	}
	if (!r.object)
		return garbage("the body is not a JSON object");
	if (r.revision.kind != Field::integer)
		return garbage("no integer revision");
	FeedPage &page = r.page;
	page.revision = r.revision.number;
	if (page.revision < since)
		return garbage("revision " + std::to_string(page.revision) + " is older than " +
		               std::to_string(since) + ", which was asked for");
	if (r.more.kind != Field::absent) {
		if (r.more.kind != Field::boolean)
			return garbage("`more' is not a boolean");
		page.more = r.more.flag;
	}
	if (r.nodes.kind != Field::array)
		return garbage("no array `nodes'");
	return std::move(page);
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
