// The parser behind load_config(), shared by the files that read its tables
// (config.cpp: [interface], [hub]; config_tables.cpp: [connect], [health],
// [control_plane]). Not part of the library's interface.
#pragma once

#include <cmath>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "config.h"
#include "duration.h"

namespace wgn::config_detail {

// Walks one parsed file, turning every problem into "FILE:LINE: KEY: sentence".
class Reader {
public:
	explicit Reader(std::filesystem::path path) : path_(std::move(path)) {}

	Error error(const toml::node &n, const std::string &key, const std::string &what) const
	{
		return error_at(n.source().begin.line, key, what);
	}
	Error error_at(unsigned line, const std::string &key, const std::string &what) const
	{
		// Line 0 means "the file as a whole" (a missing table), still in FILE:LINE form.
		std::string loc = path_.string() + ":" + std::to_string(line);
		return make_error(Errc::config, loc + ": " + key + ": " + what);
	}

	// Unknown keys are errors: a typo must not silently fall back to a default.
	std::optional<Error> check_keys(const toml::table &t, const std::string &prefix,
	                                std::initializer_list<const char *> allowed) const
	{
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
	static bool close_enough(std::string_view a, std::string_view b)
	{
		// One edit apart (a typo), cheap and good enough for key names.
		if (a.size() > b.size())
			std::swap(a, b);
		if (b.size() - a.size() > 1)
			return false;
		size_t i = 0;
		while (i < a.size() && a[i] == b[i])
			++i;
		if (a.size() == b.size())
			return a.substr(i + 1) == b.substr(i + 1);
		return a.substr(i) == b.substr(i + 1);
	}

	std::filesystem::path path_;
};

inline const char *type_name(const toml::node &n)
{
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

	Opt want_string(const toml::node &n, const std::string &key, std::string *out)
	{
		if (!n.is_string())
			return r.error(n, key,
			               std::string("expected a string, found ") + type_name(n));
		*out = **n.as_string();
		return std::nullopt;
	}

	Opt want_int(const toml::node &n, const std::string &key, int64_t lo, int64_t hi,
	             int64_t *out)
	{
		if (!n.is_integer())
			return r.error(n, key,
			               std::string("expected an integer, found ") + type_name(n));
		int64_t v = **n.as_integer();
		if (v < lo || v > hi)
			return r.error(n, key,
			               std::to_string(v) + " is out of range (" +
			                       std::to_string(lo) + " to " + std::to_string(hi) +
			                       ")");
		*out = v;
		return std::nullopt;
	}

	// Seconds: an integer or a float, positive (or zero when allowed) and finite.
	Opt want_seconds(const toml::node &n, const std::string &key, double *out,
	                 bool allow_zero = false)
	{
		double v;
		if (n.is_integer())
			v = static_cast<double>(**n.as_integer());
		else if (n.is_floating_point())
			v = **n.as_floating_point();
		else
			return r.error(n, key,
			               std::string("expected seconds, found ") + type_name(n));
		if (!acceptable_seconds(v, allow_zero))
			return r.error(n, key, "expected a positive number of seconds");
		*out = v;
		return std::nullopt;
	}

	// SPEC allows "a string or an array" for address lists.
	Opt want_strings(const toml::node &n, const std::string &key,
	                 std::vector<std::pair<std::string, const toml::node *>> *out)
	{
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
		if (out->empty())
			return r.error(n, key, "the list is empty");
		return std::nullopt;
	}

	Opt want_path(const toml::node &n, const std::string &key, std::filesystem::path *out)
	{
		std::string s;
		if (auto e = want_string(n, key, &s))
			return e;
		if (s.empty())
			return r.error(n, key, "the path is empty");
		std::filesystem::path p(s);
		// A relative key file is relative to the config file, as an include would be.
		*out = p.is_absolute() ? p : r.path().parent_path() / p;
		return std::nullopt;
	}

	Opt want_public_key(const toml::node &n, const std::string &key, Key *out)
	{
		std::string s;
		if (auto e = want_string(n, key, &s))
			return e;
		auto k = base64_decode(s);
		if (!k)
			return r.error(n, key,
			               "key is not the correct length or format: `" + s +
			                       "' (expected 32 bytes of base64)");
		*out = *k;
		return std::nullopt;
	}

	const toml::table *table(const char *name, bool required, Opt *err)
	{
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

	Opt missing(const toml::table &t, const std::string &key)
	{
		return r.error(t, key, "required key is missing");
	}

	Opt interface();
	Opt hub();
	Opt hub_table(const toml::table &t, const std::string &prefix, bool many, HubConfig *h);
	Opt connect();
	Opt health();
	Opt control_plane();
	Opt run();
};

} // namespace wgn::config_detail
