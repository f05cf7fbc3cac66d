// enroll_node: the effects of `wgn enroll` (key, pending file, token, the POST, the
// files written), around the pure parts of enroll.cpp and enroll_config.cpp.
#include "enroll.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "config.h"
#include "fsutil.h"
#include "json_text.h"
#include "keys.h"
#include "log.h"
#include "regstate.h"
#include "runstate.h"
#include "version.h"

namespace wgn {

using nlohmann::json;

namespace {

// What ties a pending key to one enrollment: its token (one control plane's, whatever
// URL reaches it), hashed with a label of ours so that the file holds neither the
// token nor the hash the control plane stores.
std::string binding_of(const std::string &token)
{
	std::string material = "wgn enroll pending key\n" + token;
	std::string h = sha256_hex(material);
	wipe(material);
	return h;
}

// The pending key of an earlier run for the same binding, if there is one to trust.
std::optional<SecretKey> pending_key(const std::filesystem::path &path, const std::string &binding)
{
	struct stat st {};
	if (lstat(path.c_str(), &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) ||
	    st.st_uid != geteuid())
		return std::nullopt;
	auto text = read_file(path);
	if (!text)
		return std::nullopt;
	std::optional<SecretKey> out;
	try {
		auto j = json::parse(*text);
		if (j.value("binding", "") == binding && j.contains("private_key") &&
		    j["private_key"].is_string()) {
			if (auto k = base64_decode(
			            j["private_key"].get_ref<const std::string &>())) {
				out = SecretKey(*k);
				wipe(k->data(), k->size());
			}
			wipe(j["private_key"].get_ref<std::string &>());
		}
	} catch (const json::exception &) {
	}
	wipe(*text);
	return out;
}

Status write_secret(const std::filesystem::path &path, std::string text)
{
	auto st = write_file_atomic(path, text, 0600);
	wipe(text);
	return st;
}

bool present(const std::filesystem::path &p)
{
	struct stat st {};
	return lstat(p.c_str(), &st) == 0;
}

// Paths and the URL go into the config as TOML strings: they must come back unchanged.
std::optional<Error> not_representable(const std::string &what, const std::string &s)
{
	if (is_clean_utf8(s))
		return std::nullopt;
	return make_error(Errc::usage, what + " is not UTF-8 text without control characters");
}

} // namespace

Result<EnrollOutcome> enroll_node(const EnrollOptions &opt, int *attempts, RegistrationIo io)
{
	if (attempts)
		*attempts = 0;
	if (!is_valid_interface_name(opt.name))
		return make_error(Errc::usage, "`" + opt.name +
		                                       "' is not an interface name (1 to 15 of "
		                                       "a-z A-Z 0-9 _ = + . -)");
	if (std::any_of(opt.url.begin(), opt.url.end(),
	                [](unsigned char c) { return c < 0x21 || c > 0x7e; }))
		return make_error(Errc::usage,
		                  "the URL has spaces, control or non-ASCII characters");
	auto url = check_control_plane_url(opt.url);
	if (!url)
		return make_error(Errc::usage, "URL " + url.error().message);

	std::error_code ec;
	auto dir = std::filesystem::absolute(opt.config_dir, ec).lexically_normal();
	if (ec)
		return make_error(Errc::cant_create, "config directory " + opt.config_dir.string() +
		                                             ": " + ec.message());
	EnrolledFiles files = enrolled_files(dir, opt.name);
	if (auto e = not_representable("the config directory " + dir.string(), dir.string()))
		return *e;
	std::optional<std::filesystem::path> ca;
	if (opt.ca_file) {
		ca = std::filesystem::absolute(*opt.ca_file, ec).lexically_normal();
		if (auto e = not_representable("--ca-file", ca->string()))
			return *e;
		if (access(ca->c_str(), R_OK) < 0)
			return make_error(Errc::config,
			                  "CA file " + ca->string() +
			                          " cannot be read: " + std::strerror(errno));
	}

	auto token = read_token_file(opt.token_file);
	if (!token)
		return token.error();
	const std::string binding = binding_of(*token);
	auto pending = pending_key(files.pending, binding);

	// A config on disk is a complete node, kept without --force; unless this enrollment
	// (its pending key, made with this token) was killed after writing it: the same
	// command finishes it.
	if (present(files.config) && !opt.force && !pending) {
		wipe(*token);
		return make_error(
		        Errc::cant_create,
		        files.config.string() +
		                " exists; wgn enroll replaces a config only with --force");
	}

	SecretKey key;
	bool reused = false;
	if (pending) {
		key = *pending;
		reused = true;
	} else {
		if (present(files.pending))
			progress(opt.name + ": " + files.pending.string() +
			         " was left by an enrollment with another token; starting afresh "
			         "with a new key");
		auto fresh = generate_private_key();
		if (!fresh) {
			wipe(*token);
			return fresh.error();
		}
		key = *fresh;
	}
	const std::string pub = base64_encode(public_key_of(key));

	// A key file that is not this enrollment's is another node's identity: keep it.
	if (present(files.key) && !opt.force) {
		auto old = read_key_file(files.key, "private key", false);
		if (!old || !(*old == key)) {
			wipe(*token);
			return make_error(Errc::cant_create,
			                  files.key.string() +
			                          " exists and holds another key; wgn enroll "
			                          "replaces it only with --force");
		}
	}

	if (!reused) {
		std::string b64 = base64_encode(key.bytes());
		json p{{"private_key", b64}, {"binding", binding}};
		wipe(b64);
		std::string text = json_text(p, 2) + "\n";
		wipe(p["private_key"].get_ref<std::string &>());
		if (auto st = write_secret(files.pending, std::move(text)); !st) {
			wipe(*token);
			return st.error();
		}
	}

	fill_io_defaults(io);
	EnrollmentRequest req{*io.hostname, pub, opt.name, opt.labels, WGN_VERSION};
	auto http = make_cp_post(*url + "/api/v1/nodes/enroll", req.body(), req.idempotency_key(),
	                         ca, opt.timeout);
	http.bearer_token = std::move(*token);
	wipe(*token);
	CurlTransport curl;
	HttpTransport &transport = io.transport ? *io.transport : curl;
	auto sent = post_with_retries(transport, http, opt.max_retries, opt.backoff, opt.name,
	                              "enrollment", io, attempts, judge_enrollment_response);
	wipe(http.bearer_token);
	if (!sent)
		return sent.error();

	auto answer = parse_enrollment_answer(sent->response.body, pub);
	wipe(sent->response.body);
	if (!answer)
		return answer.error();
	EnrolledConfigInput in{opt.name, files, *url, ca, opt.labels, iso8601_utc(io.now())};
	if (auto st = check_enrolled_config(in, *answer); !st) {
		wipe(answer->node_token);
		return st.error();
	}

	// The key and the token before the config: a config on disk means a complete node.
	std::string b64 = base64_encode(key.bytes());
	auto st = write_secret(files.key, b64 + "\n");
	wipe(b64);
	if (st)
		st = write_secret(files.token, answer->node_token + "\n");
	wipe(answer->node_token);
	if (st)
		st = write_file_atomic(files.config, render_enrolled_config(in, *answer), 0644);
	if (!st)
		return make_error(st.error().code, opt.name + ": enrolled as " + answer->node_id +
		                                           " but " + st.error().message);

	// The state as `register` leaves it, without an idempotency key: what enrollment
	// sent is not what `register` sends (no addresses, no hub endpoint), so the first
	// `up` registers the node with its own token.
	RegistrationState rs{opt.name, answer->node_id,
	                     answer->registered_at.value_or(in.generated_at), *url, ""};
	if (auto s = save_registration(rs); !s)
		return make_error(s.error().code, opt.name + ": enrolled as " + answer->node_id +
		                                          " but " + s.error().message);
	if (unlink(files.pending.c_str()) < 0 && errno != ENOENT)
		progress(opt.name + ": cannot remove " + files.pending.string() + ": " +
		         std::strerror(errno));

	EnrollOutcome out;
	out.node_id = answer->node_id;
	out.url = *url;
	out.files = files;
	out.wireguard_address = answer->wireguard_address;
	out.hubs = answer->hubs;
	out.public_key = pub;
	out.idempotency_key = req.idempotency_key();
	out.reused_pending_key = reused;
	out.attempts = sent->attempts;
	return out;
}

} // namespace wgn
