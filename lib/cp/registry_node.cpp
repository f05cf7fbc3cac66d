// register_node: the one entry point of `wgn register` and `wgn up`, with the effects
// that registry.cpp leaves out (token file, hostname, clock, state).
#include "registry.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

#include "file_read.h"
#include "keys.h"
#include "regstate.h"
#include "runstate.h"

namespace wgn {

Result<std::string> read_token_file(const std::filesystem::path &path)
{
	auto refuse = [&](const std::string &why) -> Result<std::string> {
		return make_error(Errc::config, "token file " + path.string() + " " + why);
	};
	// One open: the file whose mode is checked is the file read.
	struct stat st {};
	auto text = read_bounded_file(path, "token file", kMaxTokenFileBytes, Errc::config,
	                              Errc::config, &st);
	if (!text) {
		if (text.error().code == Errc::no_input)
			return refuse(std::string("cannot be read: ") + std::strerror(ENOENT));
		return make_error(Errc::config, text.error().message);
	}
	std::string token = std::move(*text);
	if (st.st_mode & 077) {
		wipe(token);
		char mode[8];
		std::snprintf(mode, sizeof(mode), "%04o",
		              static_cast<unsigned>(st.st_mode & 07777));
		return refuse("is readable by group or others (mode " + std::string(mode) +
		              "); chmod 600 it");
	}
	while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back())))
		token.pop_back();
	if (token.empty())
		return refuse("is empty");
	if (token.size() > 4096 || std::any_of(token.begin(), token.end(), [](unsigned char c) {
		    return c < 0x21 || c > 0x7e;
	    })) {
		wipe(token);
		return refuse("does not hold one token (printable ASCII, no spaces)");
	}
	return token;
}

std::string local_hostname()
{
	char buf[256] = "";
	if (gethostname(buf, sizeof(buf) - 1) < 0)
		return "";
	return buf;
}

void fill_io_defaults(RegistrationIo &io)
{
	if (!io.sleep)
		io.sleep = [cancelled = io.cancelled](double s) {
			struct timespec ts;
			ts.tv_sec = static_cast<time_t>(s);
			ts.tv_nsec = static_cast<long>((s - static_cast<double>(ts.tv_sec)) * 1e9);
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				if (cancelled && cancelled())
					return;
		};
	if (!io.jitter)
		io.jitter = [j = std::make_shared<Jitter>()] { return j->next(); };
	if (!io.now)
		io.now = [] { return static_cast<int64_t>(time(nullptr)); };
	if (!io.hostname)
		io.hostname = local_hostname();
}

namespace {

// register_node and register_key_change: previous set means a key change.
Result<RegistrationOutcome> register_with(const Config &cfg, const std::optional<Key> &previous,
                                          int *attempts, RegistrationIo io)
{
	if (attempts)
		*attempts = 0;
	if (!cfg.control_plane)
		return make_error(Errc::config, cfg.path.string() + ": no [control_plane] section: "
		                                                    "nothing to register with");
	const auto &cp = *cfg.control_plane;
	fill_io_defaults(io);

	// A node_id is only meaningful to the control plane that gave it.
	auto state = load_registration(cfg.interface.name);
	std::optional<std::string> known;
	if (state && state->control_plane_url == cp.url && !state->node_id.empty())
		known = state->node_id;

	if (cp.ca_file && access(cp.ca_file->c_str(), R_OK) < 0)
		return make_error(Errc::config, "ca_file " + cp.ca_file->string() +
		                                        " cannot be read: " + std::strerror(errno));

	auto req = make_registration_request(cfg, *io.hostname, known, iso8601_utc(io.now()));
	// What `up` with this key compares with: the content without the key change.
	const std::string plain_key = req.idempotency_key();
	if (previous)
		req.previous_public_key = base64_encode(*previous);
	auto http = make_http_request(cp, req);
	if (cp.token_file) {
		auto token = read_token_file(*cp.token_file);
		if (!token)
			return token.error();
		http.bearer_token = std::move(*token);
		wipe(*token);
	}
	CurlTransport curl;
	HttpTransport &transport = io.transport ? *io.transport : curl;
	BackoffPolicy backoff{cfg.connect.initial_backoff, cfg.connect.max_backoff};
	Result<SendResult> sent = make_error(Errc::software, "");
	if (previous) {
		auto a = post_with_retries(
		        transport, http, cp.max_retries, backoff, cfg.interface.name, "key change",
		        io, attempts, [](const HttpResponse &r, int64_t now) {
			        if (r.status == 409) {
				        Verdict v;
				        v.error = make_error(
				                Errc::data,
				                "the control plane refused the key change "
				                "(HTTP 409)" +
				                        server_message(r));
				        return v;
			        }
			        return judge_response(r, now, "key change");
		        });
		if (a)
			sent = SendResult{a->verdict.node_id, a->verdict.registered_at,
			                  a->attempts};
		else
			sent = a.error();
	} else {
		sent = send_registration(transport, http, cp.max_retries, backoff,
		                         cfg.interface.name, io, attempts);
	}
	wipe(http.bearer_token);
	if (!sent)
		return sent.error();

	RegistrationOutcome out;
	out.node_id = sent->node_id;
	out.registered_at = sent->registered_at.value_or(req.registered_at);
	out.idempotency_key = req.idempotency_key();
	out.url = cp.url;
	out.attempts = sent->attempts;
	RegistrationState s{cfg.interface.name, out.node_id, out.registered_at, cp.url, plain_key};
	if (auto st = save_registration(s); !st)
		return make_error(st.error().code, cfg.interface.name + ": registered as " +
		                                           out.node_id + " but " +
		                                           st.error().message);
	return out;
}

} // namespace

Result<RegistrationOutcome> register_node(const Config &cfg, int *attempts, RegistrationIo io)
{
	return register_with(cfg, std::nullopt, attempts, std::move(io));
}

Result<RegistrationOutcome> register_key_change(const Config &cfg, const Key &previous,
                                                int *attempts, RegistrationIo io)
{
	return register_with(cfg, previous, attempts, std::move(io));
}

bool registration_is_current(const Config &cfg, const std::optional<std::string> &hostname)
{
	if (!cfg.control_plane)
		return true;
	auto state = load_registration(cfg.interface.name);
	if (!state || state->control_plane_url != cfg.control_plane->url)
		return false;
	auto req = make_registration_request(cfg, hostname.value_or(local_hostname()), std::nullopt,
	                                     "");
	return state->idempotency_key == req.idempotency_key();
}

} // namespace wgn
