// CurlTransport against a one-connection HTTP server on loopback: the cap, redirects,
// headers and timeouts are libcurl's behaviour as configured, so they are tested for real.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <cmath>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "http.h"

using namespace wgn;

namespace {

// Accepts one connection, reads one request, answers `reply` (after `delay_ms`).
class OneShotServer {
public:
	explicit OneShotServer(std::string reply, int delay_ms = 0) : reply_(std::move(reply)) {
		fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		REQUIRE(fd_ >= 0);
		sockaddr_in a{};
		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		REQUIRE(bind(fd_, reinterpret_cast<sockaddr *>(&a), sizeof(a)) == 0);
		socklen_t len = sizeof(a);
		REQUIRE(getsockname(fd_, reinterpret_cast<sockaddr *>(&a), &len) == 0);
		port_ = ntohs(a.sin_port);
		REQUIRE(listen(fd_, 1) == 0);
		thread_ = std::thread([this, delay_ms] { serve(delay_ms); });
	}
	~OneShotServer() {
		shutdown(fd_, SHUT_RDWR);
		thread_.join();
		close(fd_);
	}
	std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/r"; }
	std::string request; // what the client sent, once the answer is written

private:
	void serve(int delay_ms) {
		int c = accept(fd_, nullptr, nullptr);
		if (c < 0) return;
		std::string in;
		char buf[4096];
		ssize_t n;
		while ((n = read(c, buf, sizeof(buf))) > 0) {
			in.append(buf, static_cast<size_t>(n));
			auto end = in.find("\r\n\r\n");
			if (end == std::string::npos) continue;
			auto cl = in.find("Content-Length: ");
			size_t want = cl == std::string::npos ? 0 : std::stoul(in.substr(cl + 16));
			if (in.size() >= end + 4 + want) break;
		}
		request = in;
		std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
		size_t off = 0;
		while (off < reply_.size() &&
		       (n = send(c, reply_.data() + off, reply_.size() - off, MSG_NOSIGNAL)) > 0)
			off += static_cast<size_t>(n);
		close(c);
	}
	std::string reply_;
	int fd_ = -1;
	uint16_t port_ = 0;
	std::thread thread_;
};

std::string reply(const std::string &status, const std::string &body,
                  const std::string &extra_headers = "") {
	return "HTTP/1.1 " + status + "\r\nContent-Type: application/json\r\nContent-Length: " +
	       std::to_string(body.size()) + "\r\nConnection: close\r\n" + extra_headers + "\r\n" +
	       body;
}

HttpRequest request_to(const std::string &url) {
	HttpRequest r;
	r.url = url;
	r.headers = {{"dbos-idempotency-key", "k1"}, {"User-Agent", "wgn/test"}};
	r.bearer_token = "tok-123";
	r.body = R"({"a":1})";
	r.connect_timeout = 2;
	r.timeout = 2;
	return r;
}

} // namespace

TEST_CASE("CurlTransport sends headers, token and body, and reads the answer", "[http]") {
	OneShotServer s(reply("201 Created", R"({"node_id":"n"})", "Retry-After: 7\r\n"));
	CurlTransport t;
	auto r = t.post(request_to(s.url()));
	REQUIRE(r);
	CHECK(r->status == 201);
	CHECK(r->body == R"({"node_id":"n"})");
	CHECK(r->headers["retry-after"] == "7");
	CHECK(s.request.starts_with("POST /r HTTP/1.1\r\n"));
	CHECK(s.request.find("\r\nAuthorization: Bearer tok-123\r\n") != std::string::npos);
	CHECK(s.request.find("\r\ndbos-idempotency-key: k1\r\n") != std::string::npos);
	CHECK(s.request.find("\r\nUser-Agent: wgn/test\r\n") != std::string::npos);
	CHECK(s.request.ends_with("\r\n\r\n{\"a\":1}"));
}

TEST_CASE("CurlTransport aborts a response over the cap", "[http]") {
	SECTION("with Content-Length") {
		OneShotServer s(reply("200 OK", std::string(64 * 1024 + 1, 'x')));
		auto r = CurlTransport().post(request_to(s.url()));
		REQUIRE_FALSE(r);
		CHECK(r.error().code == Errc::protocol);
	}
	SECTION("without Content-Length") {
		OneShotServer s("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" +
		                std::string(100 * 1024, 'x'));
		auto r = CurlTransport().post(request_to(s.url()));
		REQUIRE_FALSE(r);
		CHECK(r.error().code == Errc::protocol);
		CHECK(r.error().message.find("64 KiB") != std::string::npos);
	}
	SECTION("exactly the cap is fine") {
		OneShotServer s(reply("200 OK", std::string(64 * 1024, 'x')));
		auto r = CurlTransport().post(request_to(s.url()));
		REQUIRE(r);
		CHECK(r->body.size() == 64 * 1024);
	}
}

TEST_CASE("CurlTransport does not follow a redirect", "[http]") {
	OneShotServer s(reply("307 Temporary Redirect", "", "Location: http://127.0.0.1:1/x\r\n"));
	auto r = CurlTransport().post(request_to(s.url()));
	REQUIRE(r);
	CHECK(r->status == 307);
	CHECK(r->headers["location"] == "http://127.0.0.1:1/x");
}

TEST_CASE("CurlTransport: refused and timed-out connections are temporary", "[http]") {
	SECTION("refused") {
		// Port 1 on loopback: nobody listens there in a test environment.
		auto r = CurlTransport().post(request_to("http://127.0.0.1:1/r"));
		REQUIRE_FALSE(r);
		CHECK(r.error().code == Errc::temp_fail);
	}
	SECTION("timeout") {
		OneShotServer s(reply("200 OK", "{}"), 1500);
		auto req = request_to(s.url());
		req.timeout = 0.3;
		auto r = CurlTransport().post(req);
		REQUIRE_FALSE(r);
		CHECK(r.error().code == Errc::temp_fail);
	}
}

TEST_CASE("CurlTransport refuses schemes other than http and https", "[http]") {
	auto r = CurlTransport().post(request_to("file:///etc/passwd"));
	REQUIRE_FALSE(r);
	CHECK(r.error().code == Errc::config);
}

TEST_CASE("add_header_line: names lower-cased, values trimmed, a status line starts over",
          "[http]")
{
	HttpResponse r;
	add_header_line("HTTP/1.1 100 Continue\r\n", r);
	add_header_line("X-Early: 1\r\n", r);
	add_header_line("HTTP/1.1 503 Service Unavailable\r\n", r);
	add_header_line("Retry-After:   7 \t\r\n", r);
	add_header_line("Content-Type: application/json\r\n", r);
	add_header_line("content-type: text/plain\r\n", r); // the last one counts
	add_header_line("no colon here\r\n", r);
	add_header_line("X-Empty:\r\n", r);
	add_header_line("\r\n", r);
	CHECK(r.headers == std::map<std::string, std::string>{
	                       {"retry-after", "7"}, {"content-type", "text/plain"}, {"x-empty", ""}});
	// Bytes that are not text stay as they came.
	add_header_line(std::string_view("X-Bin: a\0b\xff\r\n", 13), r);
	CHECK(r.headers["x-bin"] == std::string("a\0b\xff", 4));
}

TEST_CASE("CurlTransport aborts a response whose headers run over 64 KiB", "[http]") {
	// 2,000 distinct headers of 100 bytes: 200 KB, each line well within libcurl's own
	// per-line limit. Kept, they would all land in the response's header map.
	std::string headers;
	for (int i = 0; i < 2000; ++i)
		headers += "X-Pad-" + std::to_string(i) + ": " + std::string(88, 'h') + "\r\n";
	OneShotServer s(reply("200 OK", R"({"node_id":"n"})", headers));
	auto r = CurlTransport().post(request_to(s.url()));
	REQUIRE_FALSE(r);
	CHECK(r.error().code == Errc::protocol);
	CHECK(r.error().message.find("headers") != std::string::npos);
	CHECK(r.error().message.find("64 KiB") != std::string::npos);

	// Ordinary headers are kept.
	OneShotServer ok(reply("200 OK", R"({"node_id":"n"})", "X-One: 1\r\n"));
	auto r2 = CurlTransport().post(request_to(ok.url()));
	REQUIRE(r2);
	CHECK(r2->headers["x-one"] == "1");
}

TEST_CASE("CurlTransport takes any timeout without undefined conversions", "[http]") {
	// NaN and infinities are clamped (at least 1 ms, at most a year), never cast as
	// they are; a refused connection still answers at once.
	for (double t : {std::nan(""), 1e308, -1.0, 0.0, HUGE_VAL}) {
		auto req = request_to("http://127.0.0.1:1/r");
		req.timeout = t;
		req.connect_timeout = t;
		auto r = CurlTransport().post(req);
		REQUIRE_FALSE(r);
		CHECK((r.error().code == Errc::temp_fail));
	}
}
