// The pure half of enrollment: the request, the strict reading of the answer, labels.
#include "enroll.h"

#include <algorithm>
#include <cctype>
#include <limits>

#include <nlohmann/json.hpp>

#include "keys.h"
#include "netaddr.h"

namespace wgn {

using nlohmann::json;

namespace {

json content_json(const EnrollmentRequest &r)
{
	return json{{"hostname", r.hostname},
	            {"wireguard_public_key", r.wireguard_public_key},
	            {"interface_name", r.interface_name},
	            {"labels", json(r.labels)},
	            {"wgn_version", r.wgn_version}};
}

// A value from the answer, fit to be quoted in one line of ours: a hostile server
// chooses these bytes.
std::string shown(const json &v)
{
	std::string s = v.is_string() ? v.get<std::string>() : canonical_json(v);
	if (s.size() > 80)
		s = s.substr(0, 80) + "...";
	for (auto &c : s)
		if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
			c = '?';
	return "`" + s + "'";
}

Error outside(const std::string &what)
{
	return make_error(Errc::protocol,
	                  "the control plane's enrollment answer is outside the protocol: " + what);
}

bool printable_token(const std::string &s, size_t max)
{
	return !s.empty() && s.size() <= max &&
	       std::all_of(s.begin(), s.end(),
	                   [](unsigned char c) { return c >= 0x21 && c <= 0x7e; });
}

// A list of strings, 1 to 64 of them, each accepted by `ok`; `what` names the field.
template <class Ok>
std::optional<Error> string_list(const json &j, const char *key, const std::string &what, Ok ok,
                                 std::vector<std::string> *out)
{
	if (!j.contains(key))
		return outside(what + " is missing");
	const json &v = j[key];
	if (!v.is_array() || v.empty() || v.size() > 64)
		return outside(what + " is not a list of 1 to 64 strings");
	for (size_t i = 0; i < v.size(); ++i) {
		std::string name = what + "[" + std::to_string(i) + "]";
		if (!v[i].is_string())
			return outside(name + " is not a string");
		if (auto why = ok(v[i].get<std::string>()))
			return outside(name + " " + shown(v[i]) + " " + *why);
		out->push_back(v[i].get<std::string>());
	}
	return std::nullopt;
}

std::optional<std::string> not_interface_address(const std::string &s)
{
	if (s.find('/') == std::string::npos || !parse_prefix(s))
		return "is not an address with a prefix length";
	return std::nullopt;
}

std::optional<std::string> not_allowed_ip(const std::string &s)
{
	auto p = parse_prefix(s);
	if (!p)
		return "is not a CIDR prefix";
	if (p->is_default())
		return "is a default route, which wgn does not route";
	return std::nullopt;
}

std::optional<Error> read_hub(const json &h, size_t i, const std::string &own_key, EnrolledHub *out)
{
	const std::string at = "hubs[" + std::to_string(i) + "]";
	if (!h.is_object())
		return outside(at + " is not an object");
	auto str = [&](const char *k, std::string *s) -> std::optional<Error> {
		if (!h.contains(k) || !h[k].is_string())
			return outside(at + "." + k + " is not a string");
		*s = h[k].get<std::string>();
		return std::nullopt;
	};
	if (auto e = str("public_key", &out->public_key))
		return e;
	if (!base64_decode(out->public_key))
		return outside(at + ".public_key " + shown(h["public_key"]) +
		               " is not 32 bytes of base64");
	if (out->public_key == own_key)
		return outside(at + ".public_key is the node's own public key");
	if (auto e = str("endpoint", &out->endpoint))
		return e;
	std::string why;
	if (!parse_endpoint(out->endpoint, &why))
		return outside(at + ".endpoint " + shown(h["endpoint"]) + ": " + why);
	if (auto e = str("tunnel_address", &out->tunnel_address))
		return e;
	if (!parse_ip(out->tunnel_address))
		return outside(at + ".tunnel_address " + shown(h["tunnel_address"]) +
		               " is not an IP address");
	if (auto e = string_list(h, "allowed_ips", at + ".allowed_ips", not_allowed_ip,
	                         &out->allowed_ips))
		return e;
	if (h.contains("persistent_keepalive") && !h["persistent_keepalive"].is_null()) {
		const json &k = h["persistent_keepalive"];
		if (!k.is_number_integer() || k.get<int64_t>() < 0 || k.get<int64_t>() > 65535)
			return outside(at + ".persistent_keepalive " + shown(k) +
			               " is not an integer from 0 to 65535");
		out->persistent_keepalive = k.get<int>();
	}
	out->priority = static_cast<int64_t>(i);
	if (h.contains("priority") && !h["priority"].is_null()) {
		const json &p = h["priority"];
		if (!p.is_number_integer() ||
		    p.get<int64_t>() < std::numeric_limits<int32_t>::min() ||
		    p.get<int64_t>() > std::numeric_limits<int32_t>::max())
			return outside(at + ".priority " + shown(p) + " is not a 32-bit integer");
		out->priority = p.get<int64_t>();
	}
	return std::nullopt;
}

} // namespace

std::string EnrollmentRequest::body() const
{
	return canonical_json(content_json(*this));
}

std::string EnrollmentRequest::idempotency_key() const
{
	return idempotency_key_of(content_json(*this));
}

Result<EnrollmentAnswer> parse_enrollment_answer(const std::string &body,
                                                 const std::string &own_public_key)
{
	json j;
	try {
		j = json::parse(body);
	} catch (const json::exception &) {
		return outside("the body is not JSON");
	}
	if (!j.is_object())
		return outside("the body is not a JSON object");
	EnrollmentAnswer a;
	if (!j.contains("node_id") || !j["node_id"].is_string() ||
	    !printable_token(j["node_id"].get<std::string>(), 255))
		return outside("node_id is not a string of 1 to 255 printable characters");
	a.node_id = j["node_id"].get<std::string>();
	if (auto e = string_list(j, "wireguard_address", "wireguard_address", not_interface_address,
	                         &a.wireguard_address))
		return *e;
	// No hub yet: the node is enrolled, but has nothing to connect to. The same command
	// later gets the same node, with the hubs known by then.
	if (j.contains("hubs") && j["hubs"].is_array() && j["hubs"].empty())
		return make_error(Errc::temp_fail,
		                  "the control plane knows no hub yet; run the same command again "
		                  "once an administrator has added one");
	if (!j.contains("hubs") || !j["hubs"].is_array() || j["hubs"].empty() ||
	    j["hubs"].size() > kMaxEnrolledHubs)
		return outside("hubs is not a list of 1 to " + std::to_string(kMaxEnrolledHubs) +
		               " hubs");
	for (size_t i = 0; i < j["hubs"].size(); ++i) {
		EnrolledHub h;
		if (auto e = read_hub(j["hubs"][i], i, own_public_key, &h))
			return *e;
		for (auto &seen : a.hubs)
			if (seen.public_key == h.public_key)
				return outside("hubs[" + std::to_string(i) +
				               "].public_key is another hub's too");
		a.hubs.push_back(std::move(h));
	}
	std::stable_sort(
	        a.hubs.begin(), a.hubs.end(),
	        [](const EnrolledHub &x, const EnrolledHub &y) { return x.priority < y.priority; });
	// Never quoted: it is the node's credential.
	if (!j.contains("node_token") || !j["node_token"].is_string() ||
	    !printable_token(j["node_token"].get_ref<const std::string &>(), 4096))
		return outside("node_token is not a string of 1 to 4096 printable characters "
		               "without spaces");
	a.node_token = j["node_token"].get<std::string>();
	wipe(j["node_token"].get_ref<std::string &>());
	if (j.contains("registered_at") && j["registered_at"].is_string())
		a.registered_at = j["registered_at"].get<std::string>();
	return a;
}

Verdict judge_enrollment_response(const HttpResponse &r, int64_t now)
{
	if (r.status >= 200 && r.status < 300) {
		Verdict v;
		v.kind = Verdict::done;
		return v;
	}
	if (r.status == 409) {
		Verdict v;
		v.kind = Verdict::fail;
		v.error = make_error(Errc::data,
		                     "the control plane refused the enrollment (HTTP 409)" +
		                             server_message(r));
		return v;
	}
	return judge_response(r, now, "enrollment");
}

Result<std::pair<std::string, std::string>> parse_label(const std::string &arg)
{
	auto eq = arg.find('=');
	auto bad = [&](const std::string &why) -> Result<std::pair<std::string, std::string>> {
		std::string a = arg.size() > 80 ? arg.substr(0, 80) + "..." : arg;
		for (auto &c : a)
			if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
				c = '?';
		return make_error(Errc::usage, "--label `" + a + "': " + why);
	};
	if (eq == std::string::npos)
		return bad("expected KEY=VALUE");
	std::string key = arg.substr(0, eq), value = arg.substr(eq + 1);
	if (key.empty() || key.size() > 63 ||
	    !std::all_of(key.begin(), key.end(), [](unsigned char c) {
		    return std::isalnum(c) || c == '_' || c == '.' || c == '/' || c == '-';
	    }))
		return bad("the key must be 1 to 63 of A-Z a-z 0-9 _ . / -");
	if (value.size() > 255)
		return bad("the value is longer than 255 bytes");
	if (!is_clean_utf8(value))
		return bad("the value is not UTF-8 text without control characters");
	return std::pair{key, value};
}

bool is_clean_utf8(std::string_view s)
{
	size_t i = 0;
	while (i < s.size()) {
		auto c = static_cast<unsigned char>(s[i]);
		if (c < 0x20 || c == 0x7f)
			return false;
		if (c < 0x80) {
			++i;
			continue;
		}
		size_t n = (c & 0xe0) == 0xc0   ? 1
		           : (c & 0xf0) == 0xe0 ? 2
		           : (c & 0xf8) == 0xf0 ? 3
		                                : 9;
		if (n == 9 || i + n >= s.size())
			return false;
		uint32_t cp = c & (0x3f >> n);
		for (size_t k = 1; k <= n; ++k) {
			auto cc = static_cast<unsigned char>(s[i + k]);
			if ((cc & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (cc & 0x3f);
		}
		// Overlong forms, surrogates, beyond U+10FFFF, C1 controls.
		static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
		if (cp < min[n] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff ||
		    (cp >= 0x80 && cp <= 0x9f))
			return false;
		i += n + 1;
	}
	return true;
}

} // namespace wgn
