#include "health_report.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <unistd.h>

#include "keys.h"
#include "registry.h"
#include "regstate.h"
#include "version.h"

namespace wgn {

std::string health_report_body(const HealthResult &r)
{
	auto body = format_health_json({r});
	while (!body.empty() && body.back() == '\n')
		body.pop_back();
	return body;
}

HttpRequest make_health_report_request(const ControlPlaneConfig &cp, const std::string &node_id,
                                       std::string body)
{
	HttpRequest h;
	h.url = cp.url + "/api/v1/nodes/" + node_id + "/health";
	// No idempotency key: every report is new, and the last one wins.
	h.headers = {{"Content-Type", "application/json"},
	             {"Accept", "application/json"},
	             {"User-Agent", "wgn/" WGN_VERSION}};
	h.body = std::move(body);
	h.ca_file = cp.ca_file;
	h.connect_timeout = cp.timeout;
	h.timeout = cp.timeout;
	return h;
}

Status judge_health_report(const HttpResponse &r)
{
	if (r.status >= 200 && r.status < 300)
		return Ok{};
	const std::string status = "HTTP " + std::to_string(r.status);
	if (r.status == 401 || r.status == 403)
		return make_error(Errc::no_perm, "the control plane refused the token (" + status +
		                                         ")" + server_message(r));
	if (r.status == 404)
		return make_error(Errc::protocol, "the control plane does not know the node (" +
		                                          status + ")" + server_message(r));
	if (r.status == 408 || r.status == 429 || r.status >= 500)
		return make_error(Errc::temp_fail, "the control plane is unavailable (" + status +
		                                           ")" + server_message(r));
	if (r.status == 400 || r.status == 422)
		return make_error(Errc::data, "the control plane rejected the report (" + status +
		                                      ")" + server_message(r));
	return make_error(Errc::protocol,
	                  "the control plane answered " + status + server_message(r));
}

Result<std::string> health_report_node_id(const Config &cfg)
{
	if (cfg.is_hub_config)
		return make_error(Errc::config,
		                  "a hub's own config reports no health: a hub is not a node");
	if (!cfg.control_plane)
		return make_error(Errc::config, cfg.path.string() + " has no [control_plane]");
	auto st = load_registration(cfg.interface.name);
	if (!st || st->node_id.empty() || st->control_plane_url != cfg.control_plane->url)
		return make_error(
		        Errc::no_input,
		        "not registered with " + cfg.control_plane->url + " (no node_id in " +
		                registration_state_path(cfg.interface.name).string() + ")");
	return st->node_id;
}

Status send_health_report(const Config &cfg, const HealthResult &r, HttpTransport *transport,
                          const std::function<bool()> &cancelled)
{
	auto fail = [&](const Error &e) -> Status {
		return make_error(e.code,
		                  cfg.interface.name + ": health report not sent: " + e.message);
	};
	auto node_id = health_report_node_id(cfg);
	if (!node_id)
		return fail(node_id.error());
	const auto &cp = *cfg.control_plane;
	if (cp.ca_file && access(cp.ca_file->c_str(), R_OK) < 0)
		return fail(make_error(Errc::config,
		                       "ca_file " + cp.ca_file->string() +
		                               " cannot be read: " + std::strerror(errno)));
	auto req = make_health_report_request(cp, *node_id, health_report_body(r));
	req.cancelled = cancelled;
	if (cp.token_file) {
		auto token = read_token_file(*cp.token_file);
		if (!token)
			return fail(token.error());
		req.bearer_token = std::move(*token);
		wipe(*token);
	}
	CurlTransport curl;
	auto resp = (transport ? *transport : curl).post(req);
	wipe(req.bearer_token);
	if (!resp)
		return fail(resp.error());
	if (auto st = judge_health_report(*resp); !st)
		return fail(st.error());
	return Ok{};
}

HealthReporter::HealthReporter(Done done, Sender send)
    : done_(std::move(done)), send_(std::move(send))
{
	if (!send_)
		send_ = [](const Config &cfg, const HealthResult &r,
		           const std::function<bool()> &cancelled) {
			return send_health_report(cfg, r, nullptr, cancelled);
		};
	thread_ = std::thread([this] { run(); });
}

HealthReporter::~HealthReporter()
{
	{
		std::lock_guard<std::mutex> l(m_);
		stop_ = true;
		next_.reset();
	}
	cv_.notify_all();
	thread_.join();
}

void HealthReporter::post(const Config &cfg, const HealthResult &r)
{
	{
		std::lock_guard<std::mutex> l(m_);
		next_.emplace(cfg, r);
	}
	cv_.notify_all();
}

void HealthReporter::drain()
{
	std::unique_lock<std::mutex> l(m_);
	cv_.wait(l, [&] { return stop_ || (!next_ && !busy_); });
}

void HealthReporter::run()
{
	// The signals that end or reload a loop are the main thread's: delivered here, they
	// would not cut its waits short.
	sigset_t set;
	sigemptyset(&set);
	for (int s : {SIGINT, SIGTERM, SIGHUP})
		sigaddset(&set, s);
	pthread_sigmask(SIG_BLOCK, &set, nullptr);
	std::unique_lock<std::mutex> l(m_);
	for (;;) {
		cv_.wait(l, [&] { return stop_ || next_; });
		if (stop_)
			return;
		auto job = std::move(*next_);
		next_.reset();
		busy_ = true;
		l.unlock();
		auto st = send_(job.first, job.second, [this] {
			std::lock_guard<std::mutex> g(m_);
			return stop_;
		});
		bool stopping;
		{
			std::lock_guard<std::mutex> g(m_);
			stopping = stop_;
		}
		if (!stopping && done_)
			done_(st);
		l.lock();
		busy_ = false;
		cv_.notify_all();
	}
}

} // namespace wgn
