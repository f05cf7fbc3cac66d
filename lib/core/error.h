// Errors are values inside lib/: a category that decides the exit code, and one
// sentence for the user. The numbers are those of sysexits.h, as SPEC requires.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace wgn {

enum class Errc {
	usage = 64,       // EX_USAGE: bad command line
	data = 65,        // EX_DATAERR: the control plane rejected our data
	no_input = 66,    // EX_NOINPUT: config file not found
	unavailable = 69, // EX_UNAVAILABLE: hub unreachable after all retries
	software = 70,    // EX_SOFTWARE: internal error
	os = 71,          // EX_OSERR: netlink, socket, daemon failed
	cant_create = 73, // EX_CANTCREAT: cannot write state
	temp_fail = 75,   // EX_TEMPFAIL: timeout, control plane unavailable
	protocol = 76,    // EX_PROTOCOL: control plane answered outside the protocol
	no_perm = 77,     // EX_NOPERM: CAP_NET_ADMIN missing, token refused
	config = 78,      // EX_CONFIG: invalid configuration
};

// The one place where a category becomes a process exit code.
int exit_code(Errc c);

struct Error {
	Errc code;
	std::string message;
};

inline Error make_error(Errc code, std::string message) { return Error{code, std::move(message)}; }

struct Ok {};

// A value or an error. std::expected is C++23; this is the small part of it we need.
template <class T> class [[nodiscard]] Result {
public:
	Result(T value) : v_(std::move(value)) {}
	Result(Error error) : v_(std::move(error)) {}

	explicit operator bool() const { return v_.index() == 0; }
	bool ok() const { return v_.index() == 0; }
	T &operator*() { return std::get<0>(v_); }
	const T &operator*() const { return std::get<0>(v_); }
	T *operator->() { return &std::get<0>(v_); }
	const T *operator->() const { return &std::get<0>(v_); }
	T &value() { return std::get<0>(v_); }
	const T &value() const { return std::get<0>(v_); }
	const Error &error() const { return std::get<1>(v_); }

private:
	std::variant<T, Error> v_;
};

using Status = Result<Ok>;

} // namespace wgn
