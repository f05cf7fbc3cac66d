#include "http.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <mutex>

#include <curl/curl.h>

#include "duration.h"
#include "keys.h"

namespace wgn {

namespace {

struct Transfer {
	HttpResponse response;
	size_t max_response = 0;
	bool too_large = false;
	size_t header_bytes = 0;
	bool headers_too_large = false;
};

// The headers of one response, all lines together: as the body, a server cannot make
// wgn keep more than this (libcurl's own limit is per line, or 300 KiB in newer versions).
constexpr size_t kMaxHeaderBytes = size_t{64} * 1024;

size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	auto *t = static_cast<Transfer *>(userp);
	size_t n = size * nmemb;
	if (t->response.body.size() + n > t->max_response) {
		// Returning less than given makes libcurl abort with CURLE_WRITE_ERROR.
		t->too_large = true;
		return 0;
	}
	t->response.body.append(data, n);
	return n;
}

size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
	auto *t = static_cast<Transfer *>(userp);
	size_t n = size * nmemb;
	t->header_bytes += n;
	if (t->header_bytes > kMaxHeaderBytes) {
		t->headers_too_large = true;
		return 0; // libcurl aborts the transfer
	}
	add_header_line(std::string_view(data, n), t->response);
	return n;
}

// Non-zero aborts the transfer (CURLE_ABORTED_BY_CALLBACK).
int on_progress(void *userp, curl_off_t, curl_off_t, curl_off_t, curl_off_t)
{
	const auto &cancelled = *static_cast<const std::function<bool()> *>(userp);
	return cancelled() ? 1 : 0;
}

// Frees a header list after wiping it: one of its strings holds the token.
void free_headers(curl_slist *list)
{
	for (auto *p = list; p; p = p->next)
		if (p->data)
			wipe(p->data, std::strlen(p->data));
	curl_slist_free_all(list);
}

// One request on the transport's handle: afterwards its options are reset (no pointer
// into this request's buffers, headers or token stays), its connection kept.
struct CurlHandle {
	CURL *h = nullptr;
	curl_slist *headers = nullptr;
	~CurlHandle()
	{
		if (h)
			curl_easy_reset(h);
		free_headers(headers);
	}
};

long ms(double seconds)
{
	// At least 1 ms (0 would mean "no timeout" to libcurl), at most a year.
	return static_cast<long>(
	        std::max<int64_t>(1, milliseconds_of(seconds, 365LL * 86400 * 1000)));
}

} // namespace

void add_header_line(std::string_view line, HttpResponse &r)
{
	if (line.starts_with("HTTP/")) {
		r.headers.clear();
		return;
	}
	auto colon = line.find(':');
	if (colon == std::string_view::npos)
		return;
	std::string name(line.substr(0, colon));
	std::transform(name.begin(), name.end(), name.begin(),
	               [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
	std::string value(line.substr(colon + 1));
	auto notspace = [](unsigned char c) { return !std::isspace(c); };
	value.erase(value.begin(), std::find_if(value.begin(), value.end(), notspace));
	value.erase(std::find_if(value.rbegin(), value.rend(), notspace).base(), value.end());
	r.headers[name] = value;
}

CurlTransport::~CurlTransport()
{
	if (handle_)
		curl_easy_cleanup(static_cast<CURL *>(handle_));
}

Result<HttpResponse> CurlTransport::post(const HttpRequest &req)
{
	static std::once_flag init;
	std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });

	if (!handle_)
		handle_ = curl_easy_init();
	CurlHandle c;
	c.h = static_cast<CURL *>(handle_);
	if (!c.h)
		return make_error(Errc::software, "cannot initialise libcurl");
	Transfer t;
	t.max_response = req.max_response;

	for (auto &[name, value] : req.headers) {
		std::string line = name;
		line += ": ";
		line += value;
		c.headers = curl_slist_append(c.headers, line.c_str());
	}
	// libcurl would otherwise wait for a 100 Continue on larger bodies.
	c.headers = curl_slist_append(c.headers, "Expect:");
	if (!req.bearer_token.empty()) {
		std::string auth = "Authorization: Bearer " + req.bearer_token;
		c.headers = curl_slist_append(c.headers, auth.c_str());
		wipe(auth);
	}

	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(c.h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c.h, CURLOPT_URL, req.url.c_str());
	curl_easy_setopt(c.h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c.h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c.h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c.h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (req.ca_file)
		curl_easy_setopt(c.h, CURLOPT_CAINFO, req.ca_file->c_str());
	// A proxy from the environment is fine for a remote control plane, never for a
	// loopback one: the plain-http exception in the config assumes nobody else sees it.
	curl_easy_setopt(c.h, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
	curl_easy_setopt(c.h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c.h, CURLOPT_CONNECTTIMEOUT_MS, ms(req.connect_timeout));
	curl_easy_setopt(c.h, CURLOPT_TIMEOUT_MS, ms(req.timeout));
	curl_easy_setopt(c.h, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(req.max_response));
	// Every encoding this libcurl decodes (gzip, brotli, zstd): a change feed page of
	// 1,000 nodes is ~6x smaller compressed. on_body sees the decoded bytes, so
	// max_response still caps what wgn keeps, whatever crossed the wire.
	curl_easy_setopt(c.h, CURLOPT_ACCEPT_ENCODING, "");
	if (req.method == "GET") {
		curl_easy_setopt(c.h, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(c.h, CURLOPT_POST, 1L);
		curl_easy_setopt(c.h, CURLOPT_POSTFIELDSIZE_LARGE,
		                 static_cast<curl_off_t>(req.body.size()));
		curl_easy_setopt(c.h, CURLOPT_POSTFIELDS, req.body.c_str());
	}
	curl_easy_setopt(c.h, CURLOPT_HTTPHEADER, c.headers);
	curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c.h, CURLOPT_WRITEDATA, &t);
	curl_easy_setopt(c.h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c.h, CURLOPT_HEADERDATA, &t);

	if (req.cancelled) {
		curl_easy_setopt(c.h, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(c.h, CURLOPT_XFERINFODATA, &req.cancelled);
		curl_easy_setopt(c.h, CURLOPT_NOPROGRESS, 0L);
	}

	CURLcode rc = curl_easy_perform(c.h);
	if (rc == CURLE_ABORTED_BY_CALLBACK)
		return make_error(Errc::temp_fail, "interrupted");
	std::string why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
	if (!why.empty() && why.back() == '\n')
		why.pop_back();
	std::string cap = std::to_string(req.max_response / 1024) + " KiB";
	if (t.headers_too_large)
		return make_error(Errc::protocol,
		                  "the response headers of " + req.url + " are larger than " +
		                          std::to_string(kMaxHeaderBytes / 1024) + " KiB");
	if (t.too_large || rc == CURLE_FILESIZE_EXCEEDED)
		return make_error(Errc::protocol,
		                  "the response of " + req.url + " is larger than " + cap);
	switch (rc) {
	case CURLE_OK:
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
		return make_error(Errc::protocol,
		                  "TLS certificate of " + req.url + " not trusted: " + why);
	case CURLE_SSL_CACERT_BADFILE:
		return make_error(Errc::config, "cannot use ca_file: " + why);
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return make_error(Errc::config, "bad control plane URL `" + req.url + "': " + why);
	default:
		return make_error(Errc::temp_fail, why);
	}
	curl_easy_getinfo(c.h, CURLINFO_RESPONSE_CODE, &t.response.status);
	return std::move(t.response);
}

} // namespace wgn
