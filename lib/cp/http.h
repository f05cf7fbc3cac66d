// HTTP for registration, behind a small interface: the real one is libcurl, tests use a
// fake. Only what the registration protocol needs: one POST, a capped response.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "error.h"

namespace wgn {

struct HttpRequest {
	std::string url;
	std::vector<std::pair<std::string, std::string>> headers; // never a secret
	// The bearer token, kept apart from headers so that nothing that prints headers
	// can print it. Empty: no Authorization header.
	std::string bearer_token;
	std::string body;
	// "POST" (with body) or "GET" (no body: the change feed).
	std::string method = "POST";
	std::optional<std::filesystem::path> ca_file;
	double connect_timeout = 10.0; // seconds
	double timeout = 10.0;         // seconds, the whole request
	size_t max_response = size_t{64} * 1024;
	// Asked about once a second while the request runs (a long poll waits up to a
	// minute): true ends it as temp_fail "interrupted", so that a signal is not held
	// up by a server that has nothing to say.
	std::function<bool()> cancelled;
};

struct HttpResponse {
	long status = 0;
	std::map<std::string, std::string> headers; // names lower-cased; the last of each
	std::string body;
};

// Adds one header line as libcurl hands it over ("Name: value\r\n") to r.headers: the
// name lower-cased, the value trimmed, the last of a name kept. A status line ("HTTP/...",
// as after a 100 Continue) starts a new set of headers. The bytes come from the server.
void add_header_line(std::string_view line, HttpResponse &r);

// What went wrong below HTTP. Errors come back as values: network failures (connect,
// timeout, reset) are temp_fail (75, retried); a response over max_response or an
// untrusted TLS certificate is protocol (76); an unusable ca_file is config (78).
class HttpTransport {
public:
	virtual ~HttpTransport() = default;
	virtual Result<HttpResponse> post(const HttpRequest &req) = 0;
};

// libcurl: TLS verification always on, no redirects followed, http and https only.
// One transport keeps its connection open from one request to the next (the pages of
// the change feed, the retries of a registration): no new TCP and TLS handshake each.
class CurlTransport : public HttpTransport {
public:
	CurlTransport() = default;
	CurlTransport(const CurlTransport &) = delete;
	CurlTransport &operator=(const CurlTransport &) = delete;
	~CurlTransport() override;
	Result<HttpResponse> post(const HttpRequest &req) override;

private:
	void *handle_ = nullptr; // CURL *, made by the first request
};

} // namespace wgn
