#include "config.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sys/stat.h>

#include "config_parser.h"
#include "file_read.h"

namespace wgn {

const char *backend_name(Backend b)
{
	switch (b) {
	case Backend::kernel:
		return "kernel";
	case Backend::userspace:
		return "userspace";
	default:
		return "auto";
	}
}

static bool in_name_pattern(const std::string &name)
{
	if (name.empty() || name.size() > 15)
		return false;
	for (char c : name) {
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '_' || c == '=' || c == '+' || c == '.' ||
		          c == '-';
		if (!ok)
			return false;
	}
	return true;
}

std::string interface_name_problem(const std::string &name)
{
	if (!in_name_pattern(name))
		return "is not an interface name (1 to 15 of a-z A-Z 0-9 _ = + . -)";
	// SPEC's pattern allows these, Linux and the daemons do not: the kernel refuses
	// "." and "..", and wireguard-go (as any getopt-style program) reads a first
	// argument "-f" or "--foreground" as an option, not as the interface to create.
	if (name == "." || name == "..")
		return "is not an interface name (the kernel refuses . and ..)";
	if (name[0] == '-')
		return "is not an interface name: it begins with `-', which wireguard-go and "
		       "other tools read as an option";
	return "";
}

bool is_valid_interface_name(const std::string &name)
{
	return interface_name_problem(name).empty();
}

Result<std::string> check_control_plane_url(std::string url)
{
	while (url.ends_with('/'))
		url.pop_back();
	if (url.starts_with("http://")) {
		std::string rest = url.substr(7);
		std::string host = rest.substr(0, rest.find_first_of("/?#"));
		if (auto at = host.rfind('@'); at != std::string::npos)
			host = host.substr(at + 1);
		if (host.starts_with("[")) {
			host = host.substr(1, host.find(']') - 1);
		} else if (auto colon = host.rfind(':'); colon != std::string::npos) {
			host = host.substr(0, colon);
		}
		auto a = parse_ip(host);
		if (!(host == "localhost" || (a && is_loopback(*a))))
			return make_error(
			        Errc::config,
			        "`" + url +
			                "' uses plain http to a host that is not loopback; "
			                "use https");
	} else if (!url.starts_with("https://") || url.size() <= 8) {
		return make_error(Errc::config, "`" + url + "' is not an https:// URL");
	}
	return url;
}

std::filesystem::path config_dir(const std::optional<std::string> &dir)
{
	if (dir)
		return *dir;
	if (const char *env = std::getenv("WGN_CONFIG_DIR"); env && *env)
		return env;
	return "/etc/wgn";
}

Result<std::filesystem::path> resolve_config_path(const std::string &arg,
                                                  const std::optional<std::string> &dir)
{
	if (arg.find('/') != std::string::npos || arg.ends_with(".toml"))
		return std::filesystem::path(arg);
	if (!in_name_pattern(arg))
		return make_error(
		        Errc::usage,
		        "`" + arg +
		                "' is neither a config file nor an interface name (1 to 15 of "
		                "a-z A-Z 0-9 _ = + . -)");
	if (auto why = interface_name_problem(arg); !why.empty())
		return make_error(Errc::usage, "`" + arg + "' " + why);
	return config_dir(dir) / (arg + ".toml");
}

namespace config_detail {

Parser::Opt Parser::interface()
{
	Opt err;
	auto *t = table("interface", true, &err);
	if (!t)
		return err;
	if (auto e = r.check_keys(*t, "interface.",
	                          {"name", "private_key", "private_key_file", "address",
	                           "listen_port", "mtu", "fwmark", "backend"}))
		return e;
	auto &ic = cfg.interface;

	ic.name = r.path().stem().string();
	if (auto *n = t->get("name")) {
		if (auto e = want_string(*n, "interface.name", &ic.name))
			return e;
		if (auto why = interface_name_problem(ic.name); !why.empty())
			return r.error(*n, "interface.name", "`" + ic.name + "' " + why);
	} else if (auto why = interface_name_problem(ic.name); !why.empty()) {
		return r.error(*t, "interface.name",
		               "the file name `" + ic.name + "' " + why + "; set interface.name");
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
		if (auto e = want_path(*key_file, "interface.private_key_file", &p))
			return e;
		ic.private_key_file = p;
		if (opt.read_key_files) {
			auto k = read_key_file(p, "private key", true);
			if (!k)
				return r.error(*key_file, "interface.private_key_file",
				               k.error().message);
			ic.private_key = *k;
		}
	}
	if (inline_key || opt.read_key_files)
		ic.public_key = public_key_of(ic.private_key);

	auto *addr = t->get("address");
	if (!addr)
		return missing(*t, "interface.address");
	std::vector<std::pair<std::string, const toml::node *>> addrs;
	if (auto e = want_strings(*addr, "interface.address", &addrs))
		return e;
	for (auto &[s, n] : addrs) {
		auto p = parse_prefix(s);
		if (!p || s.find('/') == std::string::npos)
			return r.error(
			        *n, "interface.address",
			        "`" + s +
			                "' is not an address with a prefix length (10.0.0.2/24, "
			                "fd00::2/64)");
		ic.addresses.push_back(*p);
	}

	int64_t v;
	if (auto *n = t->get("listen_port")) {
		if (auto e = want_int(*n, "interface.listen_port", 1, 65535, &v))
			return e;
		ic.listen_port = static_cast<uint16_t>(v);
	}
	if (auto *n = t->get("mtu")) {
		// 1280 is the IPv6 minimum; 9000 is the largest jumbo frame anyone runs.
		if (auto e = want_int(*n, "interface.mtu", 576, 9000, &v))
			return e;
		ic.mtu = static_cast<uint32_t>(v);
	}
	if (auto *n = t->get("fwmark")) {
		if (auto e = want_int(*n, "interface.fwmark", 0, 0xffffffffLL, &v))
			return e;
		ic.fwmark = static_cast<uint32_t>(v);
	}
	if (auto *n = t->get("backend")) {
		std::string b;
		if (auto e = want_string(*n, "interface.backend", &b))
			return e;
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

Parser::Opt Parser::hub()
{
	if (opt.allow_hub_config && !root.get("hub")) {
		cfg.is_hub_config = true;
		return std::nullopt;
	}
	auto *n = root.get("hub");
	if (!n)
		return r.error_at(0, "[hub]", "the table is missing (or give [[hub]] tables)");
	if (n->is_table()) {
		HubConfig h;
		if (auto e = hub_table(*n->as_table(), "hub.", false, &h))
			return e;
		cfg.hubs.push_back(std::move(h));
	} else if (auto *arr = n->as_array(); arr && arr->is_array_of_tables() && !arr->empty()) {
		const bool many = arr->size() > 1;
		for (size_t i = 0; i < arr->size(); ++i) {
			HubConfig h;
			h.priority = static_cast<int64_t>(i);
			std::string prefix = "hub[" + std::to_string(i) + "].";
			if (auto e = hub_table(*arr->get(i)->as_table(), prefix, many, &h))
				return e;
			// Two peers with one key are one peer; two hubs on one tunnel address
			// could not be told apart by the probe.
			for (size_t j = 0; j < cfg.hubs.size(); ++j) {
				auto &o = cfg.hubs[j];
				auto &t = *arr->get(i)->as_table();
				const toml::node &at =
				        t.get("public_key") ? *t.get("public_key") : t;
				if (o.public_key == h.public_key)
					return r.error(at, prefix + "public_key",
					               "the same key as hub[" + std::to_string(j) +
					                       "]; every hub has its own");
				if (many && o.tunnel_address && h.tunnel_address &&
				    *o.tunnel_address == *h.tunnel_address)
					return r.error(
					        *t.get("tunnel_address"), prefix + "tunnel_address",
					        "the same address as hub[" + std::to_string(j) +
					                "]; every hub has its own");
			}
			cfg.hubs.push_back(std::move(h));
		}
		std::stable_sort(cfg.hubs.begin(), cfg.hubs.end(),
		                 [](const HubConfig &a, const HubConfig &b) {
			                 return a.priority < b.priority;
		                 });
	} else {
		return r.error(*n, "hub",
		               std::string("expected a table ([hub]) or tables ([[hub]]), found ") +
		                       type_name(*n));
	}
	cfg.hub = cfg.hubs.front();
	return std::nullopt;
}

Parser::Opt Parser::hub_table(const toml::table &t, const std::string &prefix, bool many,
                              HubConfig *hp)
{
	if (auto e = r.check_keys(t, prefix,
	                          {"public_key", "endpoint", "allowed_ips", "persistent_keepalive",
	                           "preshared_key_file", "tunnel_address", "priority"}))
		return e;
	auto &h = *hp;

	auto *pk = t.get("public_key");
	if (!pk)
		return missing(t, prefix + "public_key");
	if (auto e = want_public_key(*pk, prefix + "public_key", &h.public_key))
		return e;

	auto *ep = t.get("endpoint");
	if (!ep)
		return missing(t, prefix + "endpoint");
	std::string s, why;
	if (auto e = want_string(*ep, prefix + "endpoint", &s))
		return e;
	auto endpoint = parse_endpoint(s, &why);
	if (!endpoint)
		return r.error(*ep, prefix + "endpoint", "`" + s + "': " + why);
	h.endpoint = *endpoint;

	auto *aips = t.get("allowed_ips");
	if (!aips)
		return missing(t, prefix + "allowed_ips");
	std::vector<std::pair<std::string, const toml::node *>> list;
	if (auto e = want_strings(*aips, prefix + "allowed_ips", &list))
		return e;
	for (auto &[str, n] : list) {
		auto p = parse_prefix(str);
		if (!p)
			return r.error(*n, prefix + "allowed_ips",
			               "`" + str + "' is not a CIDR prefix");
		if (p->is_default())
			return r.error(
			        *n, prefix + "allowed_ips",
			        "`" + str +
			                "' is a default route; wgn routes only the hub's networks "
			                "and does not yet manage full-tunnel routing (policy rules "
			                "and fwmark), so list the networks behind the hub instead");
		h.allowed_ips.push_back(p->network());
	}

	int64_t v;
	if (auto *n = t.get("persistent_keepalive")) {
		if (auto e = want_int(*n, prefix + "persistent_keepalive", 0, 65535, &v))
			return e;
		if (v > 0)
			h.persistent_keepalive = static_cast<uint16_t>(v);
	}
	if (auto *n = t.get("preshared_key_file")) {
		std::filesystem::path p;
		if (auto e = want_path(*n, prefix + "preshared_key_file", &p))
			return e;
		h.preshared_key_file = p;
		if (opt.read_key_files) {
			auto k = read_key_file(p, "preshared key", true);
			if (!k)
				return r.error(*n, prefix + "preshared_key_file",
				               k.error().message);
			h.preshared_key = *k;
		}
	}
	if (auto *n = t.get("tunnel_address")) {
		if (auto e = want_string(*n, prefix + "tunnel_address", &s))
			return e;
		auto a = parse_ip(s);
		if (!a)
			return r.error(*n, prefix + "tunnel_address",
			               "`" + s + "' is not an IP address");
		h.tunnel_address = *a;
	} else if (many) {
		return r.error(t, prefix + "tunnel_address",
		               "required key is missing: with several hubs every hub is probed "
		               "through its own tunnel address");
	}
	if (auto *n = t.get("priority"))
		if (auto e = want_int(*n, prefix + "priority", -1000000, 1000000, &h.priority))
			return e;
	return std::nullopt;
}

Parser::Opt Parser::run()
{
	for (auto &&[k, v] : root) {
		static const std::set<std::string_view> known{"interface", "hub", "connect",
		                                              "health", "control_plane"};
		if (!known.contains(k.str()))
			return r.error(v, std::string(k.str()), "unknown table");
	}
	if (auto e = interface())
		return e;
	if (auto e = hub())
		return e;
	if (auto e = connect())
		return e;
	if (auto e = health())
		return e;
	return control_plane();
}

} // namespace config_detail

using config_detail::Parser;
using config_detail::Reader;

Result<Config> parse_config(const std::string &text, const std::filesystem::path &path)
{
	return parse_config(text, path, ConfigLoadOptions{});
}

Result<Config> parse_config(const std::string &text, const std::filesystem::path &path,
                            const ConfigLoadOptions &opt)
{
	toml::table root;
	try {
		root = toml::parse(text, path.string());
	} catch (const toml::parse_error &e) {
		return make_error(Errc::config, path.string() + ":" +
		                                        std::to_string(e.source().begin.line) +
		                                        ": " + std::string(e.description()));
	}
	Parser p{Reader(path), root, Config{}, opt};
	p.cfg.path = path;
	if (auto e = p.run())
		return *e;
	return std::move(p.cfg);
}

Result<Config> load_config(const std::filesystem::path &path)
{
	return load_config(path, ConfigLoadOptions{});
}

Result<Config> load_config(const std::filesystem::path &path, const ConfigLoadOptions &opt)
{
	// Missing or unreadable: 66 (EX_NOINPUT); a FIFO, a directory, too big: 78.
	auto text = read_bounded_file(path, "config file", kMaxConfigBytes, Errc::config,
	                              Errc::no_input);
	if (!text)
		return text.error();
	auto cfg = parse_config(*text, path, opt);
	wipe(*text);
	return cfg;
}

} // namespace wgn
