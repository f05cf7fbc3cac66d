// libcurl, loaded when it is first used instead of when wgn starts. Linking it pulls in
// some thirty libraries (GnuTLS, Kerberos, LDAP, p11-kit, ...) whose loading and
// constructors cost every run of wgn about 10 ms, three times what `wgn health` needs for
// its whole look; only `up` and `register` talk HTTP. These definitions stand in for the
// few entry points http.cpp calls and forward to the real ones, found with dlsym.
// wgn itself does not export them (no -rdynamic), so libcurl never calls back into us.
#include <cstdarg>
#include <mutex>

// Plain declarations, not the type-checking macros, so that they can be defined here.
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <dlfcn.h>

namespace {

void *libcurl()
{
	static void *handle;
	static std::once_flag once;
	std::call_once(once, [] { handle = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL); });
	return handle;
}

template <class F> F real(const char *name)
{
	void *h = libcurl();
	return h ? reinterpret_cast<F>(dlsym(h, name)) : nullptr;
}

#define REAL(name) static const auto fn = real<decltype(&::name)>(#name)

} // namespace

// curl.h fixes these signatures: the last named parameter of curl_easy_setopt and
// curl_easy_getinfo is an enum, for which ISO C++ leaves va_start undefined (clang
// -Wvarargs). libcurl's own definitions do the same; on the ABIs wgn is built for, an
// enum of int range is passed exactly as an int.
#ifdef __clang__
#pragma clang diagnostic ignored "-Wvarargs"
#endif

extern "C" {

CURLcode curl_global_init(long flags)
{
	REAL(curl_global_init);
	return fn ? fn(flags) : CURLE_FAILED_INIT;
}

void curl_global_cleanup(void)
{
	REAL(curl_global_cleanup);
	if (fn)
		fn();
}

CURL *curl_easy_init(void)
{
	REAL(curl_easy_init);
	return fn ? fn() : nullptr;
}

// The one argument's type follows from the option's number range (curl.h's
// CURLOPTTYPE_*); it must be passed on as that type through the variadic call.
CURLcode curl_easy_setopt(CURL *curl, CURLoption option, ...)
{
	REAL(curl_easy_setopt);
	if (!fn)
		return CURLE_FAILED_INIT;
	va_list ap;
	va_start(ap, option);
	CURLcode rc;
	// Object pointers below CURLOPTTYPE_FUNCTIONPOINT, blobs from CURLOPTTYPE_BLOB on.
	// The branches differ in va_arg's type only, which bugprone-branch-clone does not see.
	// NOLINTBEGIN(bugprone-branch-clone)
	if (option < CURLOPTTYPE_OBJECTPOINT)
		rc = fn(curl, option, va_arg(ap, long));
	else if (option >= CURLOPTTYPE_FUNCTIONPOINT && option < CURLOPTTYPE_OFF_T)
		rc = fn(curl, option, va_arg(ap, void (*)(void)));
	else if (option >= CURLOPTTYPE_OFF_T && option < CURLOPTTYPE_BLOB)
		rc = fn(curl, option, va_arg(ap, curl_off_t));
	else
		rc = fn(curl, option, va_arg(ap, void *));
	// NOLINTEND(bugprone-branch-clone)
	va_end(ap);
	return rc;
}

// Every CURLINFO_* takes a pointer.
CURLcode curl_easy_getinfo(CURL *curl, CURLINFO info, ...)
{
	REAL(curl_easy_getinfo);
	if (!fn)
		return CURLE_FAILED_INIT;
	va_list ap;
	va_start(ap, info);
	CURLcode rc = fn(curl, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLcode curl_easy_perform(CURL *curl)
{
	REAL(curl_easy_perform);
	return fn ? fn(curl) : CURLE_FAILED_INIT;
}

void curl_easy_reset(CURL *curl)
{
	REAL(curl_easy_reset);
	if (fn)
		fn(curl);
}

void curl_easy_cleanup(CURL *curl)
{
	REAL(curl_easy_cleanup);
	if (fn)
		fn(curl);
}

const char *curl_easy_strerror(CURLcode code)
{
	REAL(curl_easy_strerror);
	return fn ? fn(code) : "libcurl.so.4 cannot be loaded";
}

struct curl_slist *curl_slist_append(struct curl_slist *list, const char *s)
{
	REAL(curl_slist_append);
	return fn ? fn(list, s) : nullptr;
}

void curl_slist_free_all(struct curl_slist *list)
{
	REAL(curl_slist_free_all);
	if (fn)
		fn(list);
}

char *curl_version(void)
{
	REAL(curl_version);
	static char none[] = "libcurl (not loaded)";
	return fn ? fn() : none;
}

} // extern "C"
