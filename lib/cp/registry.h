// Registration with the control plane (SPEC, "Registration protocol"): the request,
// the idempotency key, judging each answer, and retrying with the project's backoff.
// The pure parts are separate from sending so tests check them without a network.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "backoff.h"
#include "config.h"
#include "error.h"
#include "http.h"

namespace wgn {

struct RegistrationRequest {
	std::optional<std::string> node_id; // known from an earlier registration
	std::string hostname;
	std::string wireguard_public_key; // base64
	std::string interface_name;
	std::vector<std::string> wireguard_address; // "10.0.0.10/24"
	std::string hub_endpoint;
	std::string registered_at; // ISO 8601 UTC
	std::map<std::string, std::string> labels;
	std::string wgn_version;
	// A key change (`wgn rotate`): the key the control plane has now (base64). It is
	// part of the content: the change and its undo are different requests.
	std::optional<std::string> previous_public_key;

	// The JSON body as sent.
	std::string body() const;
	// What identifies the registration's content: the body without node_id and
	// registered_at, keys sorted, no whitespace.
	std::string canonical_content() const;
	// Hex SHA-256 of canonical_content(): the dbos-idempotency-key, and so the DBOS
	// workflow ID. A retry has the same key; a changed address, endpoint or label not.
	std::string idempotency_key() const;
};

// The canonical text of a body: keys sorted, no whitespace (nlohmann::json keeps keys in
// a std::map), bytes that are not UTF-8 replaced rather than thrown on.
std::string canonical_json(const nlohmann::json &j);
// Hex SHA-256 of canonical_json(content): the dbos-idempotency-key of `register` and
// `enroll` alike, and so the DBOS workflow ID.
std::string idempotency_key_of(const nlohmann::json &content);

RegistrationRequest make_registration_request(const Config &cfg, std::string hostname,
                                              std::optional<std::string> node_id,
                                              std::string registered_at);

// The HTTP request for one registration, without the token (added by the caller).
HttpRequest make_http_request(const ControlPlaneConfig &cp, const RegistrationRequest &r);
// A POST of `body` to url with the headers every control-plane request carries
// (idempotency key, JSON, User-Agent); timeout is also the connect timeout.
HttpRequest make_cp_post(const std::string &url, std::string body,
                         const std::string &idempotency_key,
                         const std::optional<std::filesystem::path> &ca_file, double timeout);

// Seconds to wait from a Retry-After value: delta-seconds or an HTTP-date (IMF-fixdate,
// RFC 850, asctime), relative to now. Empty when it is neither.
std::optional<double> parse_retry_after(std::string_view value, int64_t now);

// What one answer means.
struct Verdict {
	enum Kind { done, retry, fail } kind = fail;
	std::string node_id;                      // done
	std::optional<std::string> registered_at; // done, when the server says
	Error error{Errc::software, ""};          // retry and fail: why
	std::optional<double> retry_after;        // retry: what the server asked for
};

// 2xx with a string node_id, or 409 with one: done. 408, 429, 5xx: retry. 400, 422,
// 409 without node_id: data (65). 401, 403: no_perm (77). Anything else, and a 2xx
// whose body is not JSON with a string node_id: protocol (76). `what` names the request
// in messages ("the control plane rejected the registration").
Verdict judge_response(const HttpResponse &r, int64_t now, std::string_view what = "registration");
// ": MESSAGE" from a server's JSON error body (error, message or detail), cut to 200
// bytes and without control characters; empty when there is none.
std::string server_message(const HttpResponse &r);
// Transport errors: temp_fail is retried, anything else (too large, TLS) is final.
Verdict judge_transport_error(const Error &e);

// The effects the retry loop needs, replaceable in tests.
struct RegistrationIo {
	HttpTransport *transport = nullptr;  // default: CurlTransport
	std::function<void(double)> sleep;   // default: nanosleep
	std::function<double()> jitter;      // default: Jitter
	std::function<int64_t()> now;        // default: time()
	std::optional<std::string> hostname; // default: gethostname()
	// Checked before each attempt and when a wait is interrupted: `up` stops retrying
	// on SIGINT/SIGTERM. Default: never.
	std::function<bool()> cancelled;
};

// How one answer is judged: judge_response, or enrollment's own.
using Judge = std::function<Verdict(const HttpResponse &, int64_t now)>;

struct Answered {
	HttpResponse response; // the answer judged done
	Verdict verdict;
	int attempts = 0;
};

// The retry loop of `register` and `enroll`: sends req, at most max_retries times after
// the first, while judge says retry, waiting backoff.delay(n) or Retry-After (capped at
// backoff.max). One progress line per failed attempt ("IFNAME: WHAT attempt 2/6 failed:
// ..."). *attempts (if given) is set whether it succeeds or not.
Result<Answered> post_with_retries(HttpTransport &transport, const HttpRequest &req,
                                   int max_retries, const BackoffPolicy &backoff,
                                   const std::string &ifname, std::string_view what,
                                   RegistrationIo &io, int *attempts, const Judge &judge);

// The real effects for whatever io leaves unset.
void fill_io_defaults(RegistrationIo &io);
// gethostname(), empty when it fails.
std::string local_hostname();

struct SendResult {
	std::string node_id;
	std::optional<std::string> registered_at;
	int attempts = 0;
};

// Sends req, retrying as SPEC says: at most max_retries times after the first, waiting
// backoff.delay(n) or Retry-After (capped at backoff.max). One progress line per failed
// attempt. *attempts (if given) is set whether it succeeds or not.
Result<SendResult> send_registration(HttpTransport &transport, const HttpRequest &req,
                                     int max_retries, const BackoffPolicy &backoff,
                                     const std::string &ifname, RegistrationIo &io, int *attempts);

// The bearer token file: refused (config, 78) when missing, unreadable, empty, not a
// regular file or readable by group or others. Trailing whitespace is dropped.
Result<std::string> read_token_file(const std::filesystem::path &path);

struct RegistrationOutcome {
	std::string node_id;
	std::string registered_at;
	std::string idempotency_key;
	std::string url;
	int attempts = 0;
};

// Everything `wgn register` and `wgn up` need: builds the request (with the node_id
// known from state for the same control plane), reads the token, sends with retries,
// and saves the registration state. Errors: config (78) without [control_plane] or
// with a bad token file, and the codes of judge_response, temp_fail (75) after the
// retries, cant_create (73) when the state cannot be written.
Result<RegistrationOutcome> register_node(const Config &cfg, int *attempts = nullptr,
                                          RegistrationIo io = {});

// A key change (`wgn rotate`): registers cfg, whose interface holds the new key, with
// previous_public_key = previous, through the node's token, as register_node does
// (retries, state file). Only 200 and 201 count: a 409 means that the control plane
// holds neither key as this node's and is data (65), not "already registered". The
// state file gets the idempotency key of the content without previous_public_key, so
// that `up` with the new key does not register again.
Result<RegistrationOutcome> register_key_change(const Config &cfg, const Key &previous,
                                                int *attempts = nullptr, RegistrationIo io = {});

// True when the current content of cfg was registered successfully with its control
// plane (so `up` on an unchanged tunnel need not register again).
bool registration_is_current(const Config &cfg,
                             const std::optional<std::string> &hostname = std::nullopt);

} // namespace wgn
