// Health reports (SPEC "Health reports"): `wgn health --report` and every loop of
// `wgn watch` post what they saw to the control plane,
//     POST {url}/api/v1/nodes/{node_id}/health    (the node's token, NAME.token)
// with the JSON of `wgn health --format json` as the body. A report is a fact about
// one moment, so it is sent once, within control_plane.timeout, never retried: the
// next check (or loop) is the retry, and a report late by minutes would be a lie.
// A report that cannot be sent changes nothing but a line on stderr.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "config.h"
#include "error.h"
#include "health.h"
#include "http.h"

namespace wgn {

// The body: format_health_json of r, one object, no newline.
std::string health_report_body(const HealthResult &r);

// The request for one report, without the token (the caller adds it).
HttpRequest make_health_report_request(const ControlPlaneConfig &cp, const std::string &node_id,
                                       std::string body);

// 2xx: sent. Anything else: an error naming the status and the server's message
// (401/403: no_perm, 404: the control plane does not know the node, 5xx/429: temp_fail).
Status judge_health_report(const HttpResponse &r);

// The node_id a report of cfg goes to: the registration state's, when it was registered
// with cfg's control plane. Errors: config (78) without [control_plane] or on a hub's own
// config (a hub is not a node); no_input (66) when the node is not registered there.
Result<std::string> health_report_node_id(const Config &cfg);

// Sends r as cfg's report: once, within control_plane.timeout, with the token of
// control_plane.token_file (read at each report, wiped after). transport: default
// CurlTransport. cancelled (may be empty) ends a request in flight within a second.
// The error is one sentence: "health report not sent: ...".
Status send_health_report(const Config &cfg, const HealthResult &r,
                          HttpTransport *transport = nullptr,
                          const std::function<bool()> &cancelled = {});

// Sends reports on a thread of its own, so that a slow or silent control plane never
// holds up the loop that posts them (watch's failover must not wait for a report).
// post() hands over the latest report; one not yet taken by the thread is replaced by
// the newer one, so at most one report waits and one is in flight. The destructor
// cancels the one in flight (within a second) and joins the thread.
class HealthReporter {
public:
	// Called on the reporter's thread with each report's outcome.
	using Sender = std::function<Status(const Config &, const HealthResult &,
	                                    const std::function<bool()> &cancelled)>;
	using Done = std::function<void(const Status &)>;
	explicit HealthReporter(Done done, Sender send = {});
	~HealthReporter();
	HealthReporter(const HealthReporter &) = delete;
	HealthReporter &operator=(const HealthReporter &) = delete;

	void post(const Config &cfg, const HealthResult &r);
	// Waits until every report posted so far was sent or failed (tests, figures).
	void drain();

private:
	void run();

	Done done_;
	Sender send_;
	std::mutex m_;
	std::condition_variable cv_;
	std::optional<std::pair<Config, HealthResult>> next_;
	bool busy_ = false;
	bool stop_ = false;
	std::thread thread_;
};

} // namespace wgn
