// Enrollment (SPEC, "Enrollment"): a node joins with a one-time token. The request, the
// strict reading of the answer and the config it becomes are pure and tested without a
// network; enroll_node() adds the effects: the key generated here, the POST with
// register's retries, and the files written atomically.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "error.h"
#include "http.h"
#include "registry.h"

namespace wgn {

struct EnrollmentRequest {
	std::string hostname;
	std::string wireguard_public_key; // base64
	std::string interface_name;
	std::map<std::string, std::string> labels;
	std::string wgn_version;

	// The JSON body as sent: keys sorted, no whitespace.
	std::string body() const;
	// As register computes it (idempotency_key_of), over the whole body.
	std::string idempotency_key() const;
};

// One hub of the answer, checked: a key, an endpoint, addresses wgn can use.
struct EnrolledHub {
	std::string public_key; // base64, 32 bytes
	std::string endpoint;   // host:port or [v6]:port
	std::string tunnel_address;
	std::vector<std::string> allowed_ips;
	std::optional<int> persistent_keepalive;
	int64_t priority = 0; // lower first; absent: the position in the answer
};

// The answer of a successful enrollment. node_token is the node's own credential: the
// holder wipes it.
struct EnrollmentAnswer {
	std::string node_id;
	std::vector<std::string> wireguard_address; // "10.0.0.7/24"
	std::vector<EnrolledHub> hubs;              // sorted by priority, stable
	std::string node_token;
	std::optional<std::string> registered_at;
};

// At most this many hubs in one answer; more is outside the protocol.
inline constexpr size_t kMaxEnrolledHubs = 64;

// Reads a 2xx body strictly: a JSON object with a non-empty printable node_id, a
// non-empty list of interface addresses with prefix lengths, a non-empty list of hubs
// (each: a 32-byte base64 public_key that is not own_public_key nor another hub's,
// host:port endpoint, tunnel_address an IP, allowed_ips a non-empty list of prefixes
// without a default route, optional persistent_keepalive 0-65535, optional integer
// priority), and a node_token that a token file can hold (printable ASCII, no spaces,
// at most 4096 bytes). Anything else: protocol (76), naming the field; the message
// never quotes node_token. An empty list of hubs (none made yet) is temp_fail (75):
// the same request later answers with the hubs of then.
Result<EnrollmentAnswer> parse_enrollment_answer(const std::string &body,
                                                 const std::string &own_public_key);

// How an answer to the enrollment POST is judged: a 2xx is done (its body is read by
// parse_enrollment_answer); 409 (e.g. the pool is exhausted) is data (65); the rest as
// judge_response says for register (408/429/5xx retried, 400/422 data, 401/403
// no_perm, redirects and other codes protocol).
Verdict judge_enrollment_response(const HttpResponse &r, int64_t now);

// A --label argument: KEY=VALUE, KEY 1-63 of [A-Za-z0-9_./-] (as the control plane
// accepts), VALUE at most 255 bytes of UTF-8 without control characters.
// Errors: usage (64), quoting the argument.
Result<std::pair<std::string, std::string>> parse_label(const std::string &arg);

// Valid UTF-8 without control characters (C0, DEL, C1): what a label value, a path or
// a URL must be to go into the config as a TOML string and back unchanged.
bool is_clean_utf8(std::string_view s);

// Where the enrolled node's files go.
struct EnrolledFiles {
	std::filesystem::path config;  // DIR/NAME.toml
	std::filesystem::path key;     // DIR/NAME.key
	std::filesystem::path token;   // DIR/NAME.token
	std::filesystem::path pending; // DIR/NAME.enrolling: the key until the answer is in
};
EnrolledFiles enrolled_files(const std::filesystem::path &dir, const std::string &name);

struct EnrolledConfigInput {
	std::string name; // the interface name, the config's stem
	EnrolledFiles files;
	std::string url; // the control plane, checked
	std::optional<std::filesystem::path> ca_file;
	std::map<std::string, std::string> labels;
	std::string generated_at; // ISO 8601, for the header comment
};

// The TOML text of the node's config: [interface] private_key_file and address; one hub
// as [hub], several as [[hub]] with priority, in priority order; [control_plane] url,
// token_file, ca_file; [control_plane.labels]. Every string TOML-escaped.
std::string render_enrolled_config(const EnrolledConfigInput &in, const EnrollmentAnswer &a);

// Checks what render_enrolled_config wrote with wgn's own loader (key files not read),
// each hub of a [[hub]] list as the one [hub] of a config of its own. Errors: protocol
// (76) naming what the loader refused: the control plane's answer is what can be wrong.
Status check_enrolled_config(const EnrolledConfigInput &in, const EnrollmentAnswer &a);

struct EnrollOptions {
	std::string url;
	std::string name;
	std::filesystem::path token_file;
	std::optional<std::filesystem::path> ca_file;
	std::map<std::string, std::string> labels;
	bool force = false;
	std::filesystem::path config_dir;
	double timeout = 10.0;            // per request, as control_plane.timeout
	int max_retries = 5;              // as control_plane.max_retries
	BackoffPolicy backoff{2.0, 60.0}; // as [connect]'s defaults
};

struct EnrollOutcome {
	std::string node_id;
	std::string url;
	EnrolledFiles files;
	std::vector<std::string> wireguard_address;
	std::vector<EnrolledHub> hubs;
	std::string public_key; // base64
	std::string idempotency_key;
	bool reused_pending_key = false;
	int attempts = 0;
};

// `wgn enroll`. Refuses (cant_create, 73) an existing NAME.toml without force, and an
// existing NAME.key that is not this enrollment's key, before any request and without
// writing anything. Keeps the private key in NAME.enrolling (0600) from before the
// first request until the config is written, so that a re-run after a lost answer with
// the same token sends the same key and so the same idempotency key; a pending key made
// with another token is replaced. On success writes NAME.key and
// NAME.token (0600), then NAME.toml (0644), then the registration state, each
// atomically, and removes NAME.enrolling. Errors: usage (64) for a bad URL or name,
// config (78) for a bad token or CA file, the codes of judge_enrollment_response,
// protocol (76) for an answer parse_enrollment_answer or check_enrolled_config
// refuses, temp_fail (75) after the retries, cant_create (73) for files.
Result<EnrollOutcome> enroll_node(const EnrollOptions &opt, int *attempts = nullptr,
                                  RegistrationIo io = {});

} // namespace wgn
