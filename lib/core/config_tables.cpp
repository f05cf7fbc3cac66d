#include "config_parser.h"

namespace wgn::config_detail {

Parser::Opt Parser::connect()
{
	Opt err;
	auto *t = table("connect", false, &err);
	if (!t)
		return err;
	if (auto e = r.check_keys(*t, "connect.",
	                          {"max_retries", "initial_backoff", "max_backoff",
	                           "attempt_timeout", "timeout"}))
		return e;
	auto &c = cfg.connect;
	int64_t v;
	if (auto *n = t->get("max_retries")) {
		if (auto e = want_int(*n, "connect.max_retries", 0, 1000, &v))
			return e;
		c.max_retries = static_cast<int>(v);
	}
	if (auto *n = t->get("initial_backoff"))
		if (auto e = want_seconds(*n, "connect.initial_backoff", &c.initial_backoff, true))
			return e;
	if (auto *n = t->get("max_backoff"))
		if (auto e = want_seconds(*n, "connect.max_backoff", &c.max_backoff, true))
			return e;
	if (auto *n = t->get("attempt_timeout"))
		if (auto e = want_seconds(*n, "connect.attempt_timeout", &c.attempt_timeout))
			return e;
	if (auto *n = t->get("timeout"))
		if (auto e = want_seconds(*n, "connect.timeout", &c.timeout))
			return e;
	if (c.max_backoff < c.initial_backoff)
		return r.error(t->get("max_backoff") ? *t->get("max_backoff") : *t,
		               "connect.max_backoff", "is smaller than connect.initial_backoff");
	return std::nullopt;
}

Parser::Opt Parser::health()
{
	Opt err;
	auto *t = table("health", false, &err);
	if (!t)
		return err;
	if (auto e = r.check_keys(*t, "health.",
	                          {"stale_handshake", "ping_timeout", "interval", "failures",
	                           "failback_after", "textfile_dir"}))
		return e;
	auto &h = cfg.health;
	if (auto *n = t->get("stale_handshake"))
		if (auto e =
		            want_seconds(*n, "health.stale_handshake", &cfg.health.stale_handshake))
			return e;
	if (auto *n = t->get("ping_timeout"))
		if (auto e = want_seconds(*n, "health.ping_timeout", &cfg.health.ping_timeout))
			return e;
	if (auto *n = t->get("interval")) {
		if (auto e = want_seconds(*n, "health.interval", &h.interval))
			return e;
		// A shorter loop only burns CPU: a check itself can take ping_timeout.
		if (h.interval < 0.5)
			return r.error(*n, "health.interval", "must be at least 0.5 seconds");
	}
	int64_t v;
	if (auto *n = t->get("failures")) {
		if (auto e = want_int(*n, "health.failures", 1, 1000, &v))
			return e;
		h.failures = static_cast<int>(v);
	}
	if (auto *n = t->get("failback_after"))
		if (auto e = want_seconds(*n, "health.failback_after", &h.failback_after, true))
			return e;
	if (auto *n = t->get("textfile_dir")) {
		std::filesystem::path p;
		if (auto e = want_path(*n, "health.textfile_dir", &p))
			return e;
		h.textfile_dir = p;
	}
	return std::nullopt;
}

Parser::Opt Parser::control_plane()
{
	Opt err;
	auto *t = table("control_plane", false, &err);
	if (!t)
		return err;
	if (auto e = r.check_keys(
	            *t, "control_plane.",
	            {"url", "token_file", "ca_file", "timeout", "max_retries", "labels"}))
		return e;
	ControlPlaneConfig cp;
	auto *u = t->get("url");
	if (!u)
		return missing(*t, "control_plane.url");
	if (auto e = want_string(*u, "control_plane.url", &cp.url))
		return e;
	auto url = check_control_plane_url(cp.url);
	if (!url)
		return r.error(*u, "control_plane.url", url.error().message);
	cp.url = *url;
	std::filesystem::path p;
	if (auto *n = t->get("token_file")) {
		if (auto e = want_path(*n, "control_plane.token_file", &p))
			return e;
		cp.token_file = p;
	}
	if (auto *n = t->get("ca_file")) {
		if (auto e = want_path(*n, "control_plane.ca_file", &p))
			return e;
		cp.ca_file = p;
	}
	if (auto *n = t->get("timeout"))
		if (auto e = want_seconds(*n, "control_plane.timeout", &cp.timeout))
			return e;
	int64_t v;
	if (auto *n = t->get("max_retries")) {
		if (auto e = want_int(*n, "control_plane.max_retries", 0, 1000, &v))
			return e;
		cp.max_retries = static_cast<int>(v);
	}
	if (auto *n = t->get("labels")) {
		if (!n->is_table())
			return r.error(*n, "control_plane.labels",
			               std::string("expected a table, found ") + type_name(*n));
		for (auto &&[k, lv] : *n->as_table()) {
			std::string key = "control_plane.labels." + std::string(k.str());
			std::string val;
			if (auto e = want_string(lv, key, &val))
				return e;
			cp.labels[std::string(k.str())] = val;
		}
	}
	cfg.control_plane = std::move(cp);
	return std::nullopt;
}

} // namespace wgn::config_detail
