#include "registry.h"

#include <algorithm>
#include <cctype>
#include <ctime>

#include <nlohmann/json.hpp>

#include "json_text.h"
#include "keys.h"
#include "log.h"
#include "version.h"

namespace wgn {

using nlohmann::json;

namespace {

json content_json(const RegistrationRequest &r)
{
	json j{{"hostname", r.hostname},
	       {"wireguard_public_key", r.wireguard_public_key},
	       {"interface_name", r.interface_name},
	       {"wireguard_address", r.wireguard_address},
	       {"hub_endpoint", r.hub_endpoint},
	       {"labels", json(r.labels)},
	       {"wgn_version", r.wgn_version}};
	if (r.previous_public_key)
		j["previous_public_key"] = *r.previous_public_key;
	return j;
}

// The node_id of a JSON object body; empty when the body is not one or has none.
std::optional<json> parse_object(const std::string &body)
{
	try {
		auto j = json::parse(body);
		if (j.is_object())
			return j;
	} catch (const json::exception &) {
	}
	return std::nullopt;
}

std::optional<std::string> string_field(const json &j, const char *key)
{
	if (j.contains(key) && j[key].is_string() && !j[key].get<std::string>().empty())
		return j[key].get<std::string>();
	return std::nullopt;
}

Verdict fail(Errc code, std::string message)
{
	Verdict v;
	v.kind = Verdict::fail;
	v.error = make_error(code, std::move(message));
	return v;
}

} // namespace

// A server's message, fit for one line of ours: short and without control characters.
std::string server_message(const HttpResponse &r)
{
	std::string msg;
	try {
		auto j = json::parse(r.body);
		for (auto *k : {"error", "message", "detail"})
			if (j.is_object() && j.contains(k) && j[k].is_string()) {
				msg = j[k].get<std::string>();
				break;
			}
	} catch (const json::exception &) {
	}
	if (msg.empty())
		return "";
	if (msg.size() > 200)
		msg = msg.substr(0, 200) + "...";
	for (auto &c : msg)
		if (std::iscntrl(static_cast<unsigned char>(c)))
			c = ' ';
	return ": " + msg;
}

// nlohmann::json keeps object keys in a std::map, so dump() sorts them and, without an
// indent, adds no whitespace: the canonical form SPEC asks for. Invalid UTF-8 (a
// strange hostname) is replaced rather than thrown on.
std::string canonical_json(const json &j)
{
	return json_text(j);
}

std::string idempotency_key_of(const json &content)
{
	return sha256_hex(canonical_json(content));
}

std::string RegistrationRequest::body() const
{
	json j = content_json(*this);
	j["node_id"] = node_id ? json(*node_id) : json(nullptr);
	j["registered_at"] = registered_at;
	return canonical_json(j);
}

std::string RegistrationRequest::canonical_content() const
{
	return canonical_json(content_json(*this));
}

std::string RegistrationRequest::idempotency_key() const
{
	return idempotency_key_of(content_json(*this));
}

RegistrationRequest make_registration_request(const Config &cfg, std::string hostname,
                                              std::optional<std::string> node_id,
                                              std::string registered_at)
{
	RegistrationRequest r;
	r.node_id = std::move(node_id);
	r.hostname = std::move(hostname);
	r.wireguard_public_key = base64_encode(cfg.interface.public_key);
	r.interface_name = cfg.interface.name;
	for (auto &a : cfg.interface.addresses)
		r.wireguard_address.push_back(a.str());
	r.hub_endpoint = cfg.hub.endpoint.str();
	r.registered_at = std::move(registered_at);
	if (cfg.control_plane)
		r.labels = cfg.control_plane->labels;
	r.wgn_version = WGN_VERSION;
	return r;
}

HttpRequest make_cp_post(const std::string &url, std::string body,
                         const std::string &idempotency_key,
                         const std::optional<std::filesystem::path> &ca_file, double timeout)
{
	HttpRequest h;
	h.url = url;
	h.headers = {{"dbos-idempotency-key", idempotency_key},
	             {"Content-Type", "application/json"},
	             {"Accept", "application/json"},
	             {"User-Agent", "wgn/" WGN_VERSION}};
	h.body = std::move(body);
	h.ca_file = ca_file;
	h.connect_timeout = timeout;
	h.timeout = timeout;
	return h;
}

HttpRequest make_http_request(const ControlPlaneConfig &cp, const RegistrationRequest &r)
{
	return make_cp_post(cp.url + "/api/v1/nodes/register", r.body(), r.idempotency_key(),
	                    cp.ca_file, cp.timeout);
}

std::optional<double> parse_retry_after(std::string_view value, int64_t now)
{
	std::string v(value);
	auto notspace = [](unsigned char c) { return !std::isspace(c); };
	v.erase(v.begin(), std::find_if(v.begin(), v.end(), notspace));
	v.erase(std::find_if(v.rbegin(), v.rend(), notspace).base(), v.end());
	if (v.empty())
		return std::nullopt;
	if (std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isdigit(c); })) {
		// A day is more than any cap; longer numbers need not be converted.
		if (v.size() > 9)
			return 86400.0 * 365;
		return static_cast<double>(std::stol(v));
	}
	// The three date formats RFC 9110 section 5.6.7 requires recipients to accept.
	for (const char *fmt :
	     {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"}) {
		struct tm tm {};
		const char *end = strptime(v.c_str(), fmt, &tm);
		if (end && *end == '\0') {
			int64_t at = timegm(&tm);
			return static_cast<double>(std::max<int64_t>(0, at - now));
		}
	}
	return std::nullopt;
}

Verdict judge_response(const HttpResponse &r, int64_t now, std::string_view what)
{
	const std::string status = "HTTP " + std::to_string(r.status);
	if (r.status >= 200 && r.status < 300) {
		auto j = parse_object(r.body);
		if (!j)
			return fail(Errc::protocol,
			            "the control plane answered " + status +
			                    " with a body that is not a JSON object");
		auto id = string_field(*j, "node_id");
		if (!id)
			return fail(Errc::protocol, "the control plane answered " + status +
			                                    " without a string node_id");
		Verdict v;
		v.kind = Verdict::done;
		v.node_id = *id;
		v.registered_at = string_field(*j, "registered_at");
		return v;
	}
	if (r.status == 409) {
		auto j = parse_object(r.body);
		auto id = j ? string_field(*j, "node_id") : std::nullopt;
		if (!id)
			return fail(Errc::data, "the control plane answered HTTP 409 (conflict) "
			                        "without a node_id" +
			                                server_message(r));
		Verdict v;
		v.kind = Verdict::done;
		v.node_id = *id;
		v.registered_at = string_field(*j, "registered_at");
		return v;
	}
	if (r.status == 408 || r.status == 429 || (r.status >= 500 && r.status < 600)) {
		Verdict v;
		v.kind = Verdict::retry;
		v.error = make_error(Errc::temp_fail, status + server_message(r));
		if (auto it = r.headers.find("retry-after"); it != r.headers.end())
			v.retry_after = parse_retry_after(it->second, now);
		return v;
	}
	if (r.status == 400 || r.status == 422)
		return fail(Errc::data, "the control plane rejected the " + std::string(what) +
		                                " (" + status + ")" + server_message(r));
	if (r.status == 401 || r.status == 403)
		return fail(Errc::no_perm, "the control plane refused the token (" + status + ")" +
		                                   server_message(r));
	if (r.status >= 300 && r.status < 400) {
		auto it = r.headers.find("location");
		return fail(Errc::protocol,
		            "the control plane answered " + status + " (a redirect" +
		                    (it != r.headers.end() ? " to " + it->second : "") +
		                    "); redirects are not followed: fix control_plane.url");
	}
	return fail(Errc::protocol, "the control plane answered " + status + server_message(r));
}

Verdict judge_transport_error(const Error &e)
{
	Verdict v;
	v.kind = e.code == Errc::temp_fail ? Verdict::retry : Verdict::fail;
	v.error = e;
	return v;
}

Result<Answered> post_with_retries(HttpTransport &transport, const HttpRequest &req,
                                   int max_retries, const BackoffPolicy &backoff,
                                   const std::string &ifname, std::string_view what,
                                   RegistrationIo &io, int *attempts, const Judge &judge)
{
	const int total = max_retries + 1;
	std::string key;
	for (auto &[name, value] : req.headers)
		if (name == "dbos-idempotency-key")
			key = value;
	Error last{Errc::temp_fail, ""};
	for (int n = 1; n <= total; ++n) {
		if (io.cancelled && io.cancelled())
			return make_error(Errc::temp_fail, std::string(what) + " interrupted");
		if (attempts)
			*attempts = n;
		effect("POST " + req.url + " (attempt " + std::to_string(n) + "/" +
		       std::to_string(total) + ", idempotency key " + key + ")");
		auto resp = transport.post(req);
		Verdict v = resp ? judge(*resp, io.now()) : judge_transport_error(resp.error());
		if (v.kind == Verdict::done)
			return Answered{std::move(*resp), std::move(v), n};
		if (v.kind == Verdict::fail)
			return v.error;
		last = v.error;
		if (n == total)
			break;
		double wait = v.retry_after ? std::min(*v.retry_after, backoff.max)
		                            : backoff.delay(n - 1, io.jitter());
		progress(ifname + ": " + std::string(what) + " attempt " + std::to_string(n) + "/" +
		         std::to_string(total) + " failed: " + last.message + "; retrying in " +
		         format_seconds(wait) + "s");
		io.sleep(wait);
	}
	return make_error(Errc::temp_fail, "control plane " + req.url + " unavailable after " +
	                                           std::to_string(total) + " attempt" +
	                                           (total == 1 ? "" : "s") + ": " + last.message);
}

Result<SendResult> send_registration(HttpTransport &transport, const HttpRequest &req,
                                     int max_retries, const BackoffPolicy &backoff,
                                     const std::string &ifname, RegistrationIo &io, int *attempts)
{
	auto a = post_with_retries(
	        transport, req, max_retries, backoff, ifname, "registration", io, attempts,
	        [](const HttpResponse &r, int64_t now) { return judge_response(r, now); });
	if (!a)
		return a.error();
	return SendResult{a->verdict.node_id, a->verdict.registered_at, a->attempts};
}

} // namespace wgn
