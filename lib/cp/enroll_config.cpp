// The config an enrollment writes, and its check with wgn's own loader.
#include "enroll.h"

#include <cctype>
#include <cstdio>
#include <sstream>

#include <toml++/toml.h>

#include "config.h"

namespace wgn {

namespace {

// A TOML basic string. Inputs are checked to be clean UTF-8 before they get here; the
// escapes keep the file valid TOML whatever comes.
std::string quote(std::string_view s)
{
	std::string out = "\"";
	for (char c : s) {
		auto u = static_cast<unsigned char>(c);
		if (c == '"' || c == '\\') {
			out += '\\';
			out += c;
		} else if (u < 0x20 || u == 0x7f) {
			char buf[8];
			std::snprintf(buf, sizeof(buf), "\\u%04x", u);
			out += buf;
		} else {
			out += c;
		}
	}
	return out + "\"";
}

std::string quote_list(const std::vector<std::string> &v)
{
	std::string out = "[";
	for (size_t i = 0; i < v.size(); ++i)
		out += (i ? ", " : "") + quote(v[i]);
	return out + "]";
}

// A bare key when TOML allows one, else a quoted one.
std::string key(const std::string &k)
{
	bool bare = !k.empty();
	for (unsigned char c : k)
		bare = bare && (std::isalnum(c) || c == '_' || c == '-');
	return bare ? k : quote(k);
}

void render_hub(std::ostringstream &o, const EnrolledHub &h, bool several)
{
	o << (several ? "\n[[hub]]\n" : "\n[hub]\n");
	o << "public_key = " << quote(h.public_key) << "\n";
	o << "endpoint = " << quote(h.endpoint) << "\n";
	o << "allowed_ips = " << quote_list(h.allowed_ips) << "\n";
	if (h.persistent_keepalive)
		o << "persistent_keepalive = " << *h.persistent_keepalive << "\n";
	o << "tunnel_address = " << quote(h.tunnel_address) << "\n";
	if (several)
		o << "priority = " << h.priority << "\n";
}

std::string render(const EnrolledConfigInput &in, const EnrollmentAnswer &a,
                   const std::vector<EnrolledHub> &hubs)
{
	std::ostringstream o;
	o << "# Written by `wgn enroll' on " << in.generated_at << " from " << in.url << ":\n"
	  << "# node " << a.node_id << ". `wgn enroll --force' writes it again.\n";
	o << "\n[interface]\n";
	o << "private_key_file = " << quote(in.files.key.string()) << "\n";
	o << "address = " << quote_list(a.wireguard_address) << "\n";
	for (auto &h : hubs)
		render_hub(o, h, hubs.size() > 1);
	o << "\n[control_plane]\n";
	o << "url = " << quote(in.url) << "\n";
	o << "token_file = " << quote(in.files.token.string()) << "\n";
	if (in.ca_file)
		o << "ca_file = " << quote(in.ca_file->string()) << "\n";
	if (!in.labels.empty()) {
		o << "\n[control_plane.labels]\n";
		for (auto &[k, v] : in.labels)
			o << key(k) << " = " << quote(v) << "\n";
	}
	return o.str();
}

} // namespace

EnrolledFiles enrolled_files(const std::filesystem::path &dir, const std::string &name)
{
	return EnrolledFiles{dir / (name + ".toml"), dir / (name + ".key"), dir / (name + ".token"),
	                     dir / (name + ".enrolling")};
}

std::string render_enrolled_config(const EnrolledConfigInput &in, const EnrollmentAnswer &a)
{
	return render(in, a, a.hubs);
}

Status check_enrolled_config(const EnrolledConfigInput &in, const EnrollmentAnswer &a)
{
	auto refuse = [](const std::string &why) -> Status {
		return make_error(Errc::protocol,
		                  "the control plane's enrollment answer makes a config that wgn "
		                  "refuses: " +
		                          why);
	};
	std::string text = render_enrolled_config(in, a);
	try {
		(void)toml::parse(text, in.files.config.string());
	} catch (const toml::parse_error &e) {
		return refuse(std::string(e.description()));
	}
	ConfigLoadOptions no_keys;
	no_keys.read_key_files = false;
	for (auto &h : a.hubs) {
		auto cfg = parse_config(render(in, a, {h}), in.files.config, no_keys);
		if (!cfg)
			return refuse(cfg.error().message);
		if (cfg->interface.name != in.name)
			return refuse("the interface would be named " + cfg->interface.name);
	}
	return Ok{};
}

} // namespace wgn
