#include "config.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <sys/stat.h>

#include <toml++/toml.h>

namespace wgn {

const char *backend_name(Backend b) {
	switch (b) {
	case Backend::kernel:
		return "kernel";
	case Backend::userspace:
		return "userspace";
	default:
		return "auto";
	}
}

bool is_valid_interface_name(const std::string &name) {
	if (name.empty() || name.size() > 15) return false;
	for (char c : name) {
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '_' || c == '=' || c == '+' || c == '.' ||
		          c == '-';
		if (!ok) return false;
	}
	return true;
}

std::filesystem::path config_dir(const std::optional<std::string> &dir) {
	if (dir) return *dir;
	if (const char *env = std::getenv("WGN_CONFIG_DIR"); env && *env) return env;
	return "/etc/wgn";
}

Result<std::filesystem::path> resolve_config_path(const std::string &arg,
                                                  const std::optional<std::string> &dir) {
	if (arg.find('/') != std::string::npos || arg.ends_with(".toml"))
		return std::filesystem::path(arg);
	if (!is_valid_interface_name(arg))
		return make_error(
		    Errc::usage, "`" + arg +
		                     "' is neither a config file nor an interface name (1 to 15 of "
		                     "a-z A-Z 0-9 _ = + . -)");
	return config_dir(dir) / (arg + ".toml");
}

namespace {

// Walks one parsed file, turning every problem into "FILE:LINE: KEY: sentence".
class Reader {
public:
	explicit Reader(std::filesystem::path path) : path_(std::move(path)) {}

	Error error(const toml::node &n, const std::string &key, const std::string &what) const {
		return error_at(n.source().begin.line, key, what);
	}
	Error error_at(unsigned line, const std::string &key, const std::string &what) const {
		// Line 0 means "the file as a whole" (a missing table), still in FILE:LINE form.
		std::string loc = path_.string() + ":" + std::to_string(line);
		return make_error(Errc::config, loc + ": " + key + ": " + what);
	}

	// Unknown keys are errors: a typo must not silently fall back to a default.
	std::optional<Error> check_keys(const toml::table &t, const std::string &prefix,
	                                std::initializer_list<const char *> allowed) const {
		for (auto &&[k, v] : t) {
			bool known = false;
			for (const char *a : allowed)
				known = known || k.str() == a;
			if (!known) {
				std::string hint;
				for (const char *a : allowed)
					if (close_enough(k.str(), a))
						hint = "; did you mean `" + std::string(a) + "'?";
				return error(v, prefix + std::string(k.str()),
				             "unknown key" + hint);
			}
		}
		return std::nullopt;
	}

	const std::filesystem::path &path() const { return path_; }

private:
	static bool close_enough(std::string_view a, std::string_view b) {
		// One edit apart (a typo), cheap and good enough for key names.
		if (a.size() > b.size()) std::swap(a, b);
		if (b.size() - a.size() > 1) return false;
		size_t i = 0;
		while (i < a.size() && a[i] == b[i])
			++i;
		if (a.size() == b.size()) return a.substr(i + 1) == b.substr(i + 1);
		return a.substr(i) == b.substr(i + 1);
	}

	std::filesystem::path path_;
};

const char *type_name(const toml::node &n) {
	switch (n.type()) {
	case toml::node_type::string:
		return "a string";
	case toml::node_type::integer:
		return "an integer";
	case toml::node_type::floating_point:
		return "a number";
	case toml::node_type::boolean:
		return "a boolean";
	case toml::node_type::array:
		return "an array";
	case toml::node_type::table:
		return "a table";
	default:
		return "a date or time";
	}
}

struct Parser {
	Reader r;
	const toml::table &root;
	Config cfg;
	ConfigLoadOptions opt{};

	using Opt = std::optional<Error>;

	Opt want_string(const toml::node &n, const std::string &key, std::string *out) {
		if (!n.is_string())
			return r.error(n, key,
			               std::string("expected a string, found ") + type_name(n));
		*out = **n.as_string();
		return std::nullopt;
	}

	Opt want_int(const toml::node &n, const std::string &key, int64_t lo, int64_t hi,
	             int64_t *out) {
		if (!n.is_integer())
			return r.error(n, key,
			               std::string("expected an integer, found ") + type_name(n));
		int64_t v = **n.as_integer();
		if (v < lo || v > hi)
			return r.error(n, key,
			               std::to_string(v) + " is out of range (" +
			                   std::to_string(lo) + " to " + std::to_string(hi) + ")");
		*out = v;
		return std::nullopt;
	}

	// Seconds: an integer or a float, positive (or zero when allowed) and finite.
	Opt want_seconds(const toml::node &n, const std::string &key, double *out,
	                 bool allow_zero = false) {
		double v;
		if (n.is_integer())
			v = static_cast<double>(**n.as_integer());
		else if (n.is_floating_point())
			v = **n.as_floating_point();
		else
			return r.error(n, key,
			               std::string("expected seconds, found ") + type_name(n));
		if (!std::isfinite(v) || v < 0 || (!allow_zero && v == 0) || v > 86400 * 365)
			return r.error(n, key, "expected a positive number of seconds");
		*out = v;
		return std::nullopt;
	}

	// SPEC allows "a string or an array" for address lists.
	Opt want_strings(const toml::node &n, const std::string &key,
	                 std::vector<std::pair<std::string, const toml::node *>> *out) {
		if (n.is_string()) {
			out->push_back({**n.as_string(), &n});
			return std::nullopt;
		}
		if (!n.is_array())
			return r.error(
			    n, key,
			    std::string("expected a string or an array of strings, found ") +
			        type_name(n));
		for (auto &&e : *n.as_array()) {
			if (!e.is_string())
				return r.error(
				    e, key,
				    std::string("expected strings in the array, found ") +
				        type_name(e));
			out->push_back({**e.as_string(), &e});
		}
		if (out->empty()) return r.error(n, key, "the list is empty");
		return std::nullopt;
	}

	Opt want_path(const toml::node &n, const std::string &key, std::filesystem::path *out) {
		std::string s;
		if (auto e = want_string(n, key, &s)) return e;
		if (s.empty()) return r.error(n, key, "the path is empty");
		std::filesystem::path p(s);
		// A relative key file is relative to the config file, as an include would be.
		*out = p.is_absolute() ? p : r.path().parent_path() / p;
		return std::nullopt;
	}

	Opt want_public_key(const toml::node &n, const std::string &key, Key *out) {
		std::string s;
		if (auto e = want_string(n, key, &s)) return e;
		auto k = base64_decode(s);
		if (!k)
			return r.error(n, key,
			               "key is not the correct length or format: `" + s +
			                   "' (expected 32 bytes of base64)");
		*out = *k;
		return std::nullopt;
	}

	const toml::table *table(const char *name, bool required, Opt *err) {
		auto *n = root.get(name);
		if (!n) {
			if (required)
				*err = r.error_at(0, std::string("[") + name + "]",
				                  "the table is missing");
			return nullptr;
		}
		if (!n->is_table()) {
			*err = r.error(*n, name,
			               std::string("expected a table, found ") + type_name(*n));
			return nullptr;
		}
		return n->as_table();
	}

	Opt missing(const toml::table &t, const std::string &key) {
		return r.error(t, key, "required key is missing");
	}

	Opt interface();
	Opt hub();
	Opt connect();
	Opt health();
	Opt control_plane();
	Opt run();
};

Parser::Opt Parser::interface() {
	Opt err;
	auto *t = table("interface", true, &err);
	if (!t) return err;
	if (auto e = r.check_keys(*t, "interface.",
	                          {"name", "private_key", "private_key_file", "address",
	                           "listen_port", "mtu", "fwmark", "backend"}))
		return e;
	auto &ic = cfg.interface;

	ic.name = r.path().stem().string();
	if (auto *n = t->get("name")) {
		if (auto e = want_string(*n, "interface.name", &ic.name)) return e;
		if (!is_valid_interface_name(ic.name))
			return r.error(
			    *n, "interface.name",
			    "`" + ic.name +
			        "' is not an interface name (1 to 15 of a-z A-Z 0-9 _ = + . -)");
	} else if (!is_valid_interface_name(ic.name)) {
		return r.error(*t, "interface.name",
		               "the file name `" + ic.name +
		                   "' is not an interface name; set interface.name");
	}

	auto *inline_key = t->get("private_key");
	auto *key_file = t->get("private_key_file");
	if (inline_key && key_file)
		return r.error(*key_file, "interface.private_key_file",
		               "give private_key or private_key_file, not both");
	if (!inline_key && !key_file)
		return r.error(*t, "interface.private_key_file",
		               "required key is missing (or give private_key)");
	if (inline_key) {
		if (!inline_key->is_string())
			return r.error(*inline_key, "interface.private_key",
			               std::string("expected a string, found ") +
			                   type_name(*inline_key));
		// Never quote this one: it is a secret even when it is malformed.
		auto k = base64_decode(**inline_key->as_string());
		if (!k)
			return r.error(*inline_key, "interface.private_key",
			               "key is not the correct length or format (expected 32 bytes "
			               "of base64)");
		struct stat st {};
		if (stat(r.path().c_str(), &st) == 0 && (st.st_mode & 077)) {
			char mode[8];
			snprintf(mode, sizeof(mode), "%04o", st.st_mode & 07777);
			wipe(k->data(), k->size());
			return r.error(*inline_key, "interface.private_key",
			               std::string("the config holds a private key but has mode ") +
			                   mode + " and is readable by others; run chmod 600 " +
			                   r.path().string());
		}
		ic.private_key = SecretKey(*k);
		wipe(k->data(), k->size());
	} else {
		std::filesystem::path p;
		if (auto e = want_path(*key_file, "interface.private_key_file", &p)) return e;
		ic.private_key_file = p;
		if (opt.read_key_files) {
			auto k = read_key_file(p, "private key", true);
			if (!k)
				return r.error(*key_file, "interface.private_key_file",
				               k.error().message);
			ic.private_key = *k;
		}
	}
	if (inline_key || opt.read_key_files) ic.public_key = public_key_of(ic.private_key);

	auto *addr = t->get("address");
	if (!addr) return missing(*t, "interface.address");
	std::vector<std::pair<std::string, const toml::node *>> addrs;
	if (auto e = want_strings(*addr, "interface.address", &addrs)) return e;
	for (auto &[s, n] : addrs) {
		auto p = parse_prefix(s);
		if (!p || s.find('/') == std::string::npos)
			return r.error(*n, "interface.address",
			               "`" + s +
			                   "' is not an address with a prefix length (10.0.0.2/24, "
			                   "fd00::2/64)");
		ic.addresses.push_back(*p);
	}

	int64_t v;
	if (auto *n = t->get("listen_port")) {
		if (auto e = want_int(*n, "interface.listen_port", 1, 65535, &v)) return e;
		ic.listen_port = static_cast<uint16_t>(v);
	}
	if (auto *n = t->get("mtu")) {
		// 1280 is the IPv6 minimum; 9000 is the largest jumbo frame anyone runs.
		if (auto e = want_int(*n, "interface.mtu", 576, 9000, &v)) return e;
		ic.mtu = static_cast<uint32_t>(v);
	}
	if (auto *n = t->get("fwmark")) {
		if (auto e = want_int(*n, "interface.fwmark", 0, 0xffffffffLL, &v)) return e;
		ic.fwmark = static_cast<uint32_t>(v);
	}
	if (auto *n = t->get("backend")) {
		std::string b;
		if (auto e = want_string(*n, "interface.backend", &b)) return e;
		if (b == "auto")
			ic.backend = Backend::automatic;
		else if (b == "kernel")
			ic.backend = Backend::kernel;
		else if (b == "userspace")
			ic.backend = Backend::userspace;
		else
			return r.error(*n, "interface.backend",
			               "`" + b + "' is not one of auto, kernel, userspace");
	}
	return std::nullopt;
}

Parser::Opt Parser::hub() {
	Opt err;
	auto *t = table("hub", true, &err);
	if (!t) return err;
	if (auto e = r.check_keys(*t, "hub.",
	                          {"public_key", "endpoint", "allowed_ips", "persistent_keepalive",
	                           "preshared_key_file", "tunnel_address"}))
		return e;
	auto &h = cfg.hub;

	auto *pk = t->get("public_key");
	if (!pk) return missing(*t, "hub.public_key");
	if (auto e = want_public_key(*pk, "hub.public_key", &h.public_key)) return e;

	auto *ep = t->get("endpoint");
	if (!ep) return missing(*t, "hub.endpoint");
	std::string s, why;
	if (auto e = want_string(*ep, "hub.endpoint", &s)) return e;
	auto endpoint = parse_endpoint(s, &why);
	if (!endpoint) return r.error(*ep, "hub.endpoint", "`" + s + "': " + why);
	h.endpoint = *endpoint;

	auto *aips = t->get("allowed_ips");
	if (!aips) return missing(*t, "hub.allowed_ips");
	std::vector<std::pair<std::string, const toml::node *>> list;
	if (auto e = want_strings(*aips, "hub.allowed_ips", &list)) return e;
	for (auto &[str, n] : list) {
		auto p = parse_prefix(str);
		if (!p) return r.error(*n, "hub.allowed_ips", "`" + str + "' is not a CIDR prefix");
		if (p->is_default())
			return r.error(
			    *n, "hub.allowed_ips",
			    "`" + str +
			        "' is a default route; wgn routes only the hub's networks "
			        "and does not yet manage full-tunnel routing (policy rules "
			        "and fwmark), so list the networks behind the hub instead");
		h.allowed_ips.push_back(p->network());
	}

	int64_t v;
	if (auto *n = t->get("persistent_keepalive")) {
		if (auto e = want_int(*n, "hub.persistent_keepalive", 0, 65535, &v)) return e;
		if (v > 0) h.persistent_keepalive = static_cast<uint16_t>(v);
	}
	if (auto *n = t->get("preshared_key_file")) {
		std::filesystem::path p;
		if (auto e = want_path(*n, "hub.preshared_key_file", &p)) return e;
		h.preshared_key_file = p;
		if (opt.read_key_files) {
			auto k = read_key_file(p, "preshared key", true);
			if (!k) return r.error(*n, "hub.preshared_key_file", k.error().message);
			h.preshared_key = *k;
		}
	}
	if (auto *n = t->get("tunnel_address")) {
		if (auto e = want_string(*n, "hub.tunnel_address", &s)) return e;
		auto a = parse_ip(s);
		if (!a)
			return r.error(*n, "hub.tunnel_address",
			               "`" + s + "' is not an IP address");
		h.tunnel_address = *a;
	}
	return std::nullopt;
}

Parser::Opt Parser::connect() {
	Opt err;
	auto *t = table("connect", false, &err);
	if (!t) return err;
	if (auto e = r.check_keys(
	        *t, "connect.",
	        {"max_retries", "initial_backoff", "max_backoff", "attempt_timeout", "timeout"}))
		return e;
	auto &c = cfg.connect;
	int64_t v;
	if (auto *n = t->get("max_retries")) {
		if (auto e = want_int(*n, "connect.max_retries", 0, 1000, &v)) return e;
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
		if (auto e = want_seconds(*n, "connect.timeout", &c.timeout)) return e;
	if (c.max_backoff < c.initial_backoff)
		return r.error(t->get("max_backoff") ? *t->get("max_backoff") : *t,
		               "connect.max_backoff", "is smaller than connect.initial_backoff");
	return std::nullopt;
}

Parser::Opt Parser::health() {
	Opt err;
	auto *t = table("health", false, &err);
	if (!t) return err;
	if (auto e = r.check_keys(*t, "health.", {"stale_handshake", "ping_timeout"})) return e;
	if (auto *n = t->get("stale_handshake"))
		if (auto e =
		        want_seconds(*n, "health.stale_handshake", &cfg.health.stale_handshake))
			return e;
	if (auto *n = t->get("ping_timeout"))
		if (auto e = want_seconds(*n, "health.ping_timeout", &cfg.health.ping_timeout))
			return e;
	return std::nullopt;
}

Parser::Opt Parser::control_plane() {
	Opt err;
	auto *t = table("control_plane", false, &err);
	if (!t) return err;
	if (auto e =
	        r.check_keys(*t, "control_plane.",
	                     {"url", "token_file", "ca_file", "timeout", "max_retries", "labels"}))
		return e;
	ControlPlaneConfig cp;
	auto *u = t->get("url");
	if (!u) return missing(*t, "control_plane.url");
	if (auto e = want_string(*u, "control_plane.url", &cp.url)) return e;
	while (cp.url.ends_with('/'))
		cp.url.pop_back();
	if (cp.url.starts_with("http://")) {
		// Plain http only where nobody else can listen: the loopback address.
		std::string rest = cp.url.substr(7);
		std::string host = rest.substr(0, rest.find_first_of("/?#"));
		if (auto at = host.rfind('@'); at != std::string::npos) host = host.substr(at + 1);
		if (host.starts_with("[")) {
			host = host.substr(1, host.find(']') - 1);
		} else if (auto colon = host.rfind(':'); colon != std::string::npos) {
			host = host.substr(0, colon);
		}
		auto a = parse_ip(host);
		if (!(host == "localhost" || (a && is_loopback(*a))))
			return r.error(
			    *u, "control_plane.url",
			    "`" + cp.url +
			        "' uses plain http to a host that is not loopback; use https");
	} else if (!cp.url.starts_with("https://") || cp.url.size() <= 8) {
		return r.error(*u, "control_plane.url", "`" + cp.url + "' is not an https:// URL");
	}
	std::filesystem::path p;
	if (auto *n = t->get("token_file")) {
		if (auto e = want_path(*n, "control_plane.token_file", &p)) return e;
		cp.token_file = p;
	}
	if (auto *n = t->get("ca_file")) {
		if (auto e = want_path(*n, "control_plane.ca_file", &p)) return e;
		cp.ca_file = p;
	}
	if (auto *n = t->get("timeout"))
		if (auto e = want_seconds(*n, "control_plane.timeout", &cp.timeout)) return e;
	int64_t v;
	if (auto *n = t->get("max_retries")) {
		if (auto e = want_int(*n, "control_plane.max_retries", 0, 1000, &v)) return e;
		cp.max_retries = static_cast<int>(v);
	}
	if (auto *n = t->get("labels")) {
		if (!n->is_table())
			return r.error(*n, "control_plane.labels",
			               std::string("expected a table, found ") + type_name(*n));
		for (auto &&[k, lv] : *n->as_table()) {
			std::string key = "control_plane.labels." + std::string(k.str());
			std::string val;
			if (auto e = want_string(lv, key, &val)) return e;
			cp.labels[std::string(k.str())] = val;
		}
	}
	cfg.control_plane = std::move(cp);
	return std::nullopt;
}

Parser::Opt Parser::run() {
	for (auto &&[k, v] : root) {
		static const std::set<std::string_view> known{"interface", "hub", "connect",
		                                              "health", "control_plane"};
		if (!known.contains(k.str()))
			return r.error(v, std::string(k.str()), "unknown table");
	}
	if (auto e = interface()) return e;
	if (auto e = hub()) return e;
	if (auto e = connect()) return e;
	if (auto e = health()) return e;
	return control_plane();
}

} // namespace

Result<Config> parse_config(const std::string &text, const std::filesystem::path &path) {
	return parse_config(text, path, ConfigLoadOptions{});
}

Result<Config> parse_config(const std::string &text, const std::filesystem::path &path,
                            const ConfigLoadOptions &opt) {
	toml::table root;
	try {
		root = toml::parse(text, path.string());
	} catch (const toml::parse_error &e) {
		return make_error(Errc::config, path.string() + ":" +
		                                    std::to_string(e.source().begin.line) + ": " +
		                                    std::string(e.description()));
	}
	Parser p{Reader(path), root, Config{}, opt};
	p.cfg.path = path;
	if (auto e = p.run()) return *e;
	return std::move(p.cfg);
}

Result<Config> load_config(const std::filesystem::path &path) {
	return load_config(path, ConfigLoadOptions{});
}

Result<Config> load_config(const std::filesystem::path &path, const ConfigLoadOptions &opt) {
	std::ifstream in(path, std::ios::binary);
	if (!in) {
		int err = errno;
		if (err == ENOENT)
			return make_error(Errc::no_input,
			                  "config file " + path.string() + " not found");
		return make_error(Errc::no_input, "cannot read config file " + path.string() +
		                                      ": " + std::strerror(err));
	}
	std::stringstream ss;
	ss << in.rdbuf();
	std::string text = ss.str();
	auto cfg = parse_config(text, path, opt);
	wipe(text);
	return cfg;
}

} // namespace wgn
