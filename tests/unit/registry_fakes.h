// Fakes shared by the registration tests: a scripted transport, a recording clock,
// and a scratch directory with a config and WGN_STATE_DIR pointing into it.
#pragma once

#include <catch2/catch.hpp>

#include <cstdlib>
#include <deque>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "registry.h"
#include "test_util.h"

namespace wgn::test {

inline RegistrationRequest sample()
{
	RegistrationRequest r;
	r.hostname = "node1";
	r.wireguard_public_key = kPub;
	r.interface_name = "wg0";
	r.wireguard_address = {"10.0.0.10/24", "fd00::10/64"};
	r.hub_endpoint = "hub.example.com:51820";
	r.registered_at = "2026-02-19T17:30:00Z";
	r.labels = {{"zone", "a"}, {"role", "worker"}};
	r.wgn_version = "1.2.3";
	return r;
}

inline HttpResponse response(long status, std::string body,
                             std::map<std::string, std::string> h = {})
{
	HttpResponse r;
	r.status = status;
	r.body = std::move(body);
	r.headers = std::move(h);
	return r;
}

// Answers from a script, and remembers what it was asked.
class FakeTransport : public HttpTransport {
public:
	std::deque<Result<HttpResponse>> script;
	std::vector<HttpRequest> seen;
	Result<HttpResponse> post(const HttpRequest &req) override
	{
		seen.push_back(req);
		REQUIRE(!script.empty());
		auto r = script.front();
		script.pop_front();
		return r;
	}
};

struct FakeClock {
	std::vector<double> sleeps;
	RegistrationIo io(FakeTransport *t)
	{
		RegistrationIo io;
		io.transport = t;
		io.sleep = [this](double s) { sleeps.push_back(s); };
		io.jitter = [] { return 0.5; }; // factor 1.0: the nominal delay
		io.now = [] { return int64_t{1771522200}; };
		io.hostname = "node1";
		return io;
	}
};

inline const BackoffPolicy kBackoff{2.0, 60.0};

// A config directory and a state directory, removed at the end.
struct Scratch {
	std::filesystem::path dir;
	std::string old_state;
	Scratch()
	{
		char tmpl[] = "/tmp/wgn-registry-test.XXXXXX";
		dir = mkdtemp(tmpl);
		write("wg0.key", std::string(kPriv) + "\n", 0600);
		if (const char *e = std::getenv("WGN_STATE_DIR"))
			old_state = e;
		setenv("WGN_STATE_DIR", (dir / "state").c_str(), 1);
	}
	~Scratch()
	{
		if (old_state.empty())
			unsetenv("WGN_STATE_DIR");
		else
			setenv("WGN_STATE_DIR", old_state.c_str(), 1);
		std::filesystem::remove_all(dir);
	}
	std::filesystem::path write(const std::string &name, const std::string &text,
	                            unsigned mode = 0600)
	{
		auto p = dir / name;
		std::ofstream(p) << text;
		chmod(p.c_str(), mode);
		return p;
	}
	Config config(const std::string &address = "10.0.0.10/24", const std::string &cp_extra = "")
	{
		std::string text = "[interface]\nprivate_key_file = \"wg0.key\"\naddress = \"" +
		                   address + "\"\n[hub]\npublic_key = \"" + kHub +
		                   "\"\nendpoint = \"hub.example.com:51820\"\n"
		                   "allowed_ips = \"10.0.0.0/24\"\n"
		                   "[control_plane]\nurl = \"http://127.0.0.1:9\"\n" +
		                   cp_extra;
		auto cfg = parse_config(text, dir / "wg0.toml");
		REQUIRE(cfg);
		return *cfg;
	}
};

} // namespace wgn::test
