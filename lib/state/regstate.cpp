#include "regstate.h"

#include <nlohmann/json.hpp>

#include "file_read.h"
#include "fsutil.h"
#include "json_text.h"
#include "log.h"

namespace wgn {

using nlohmann::json;

std::filesystem::path registration_state_path(const std::string &ifname)
{
	return state_dir() / (ifname + ".json");
}

std::optional<RegistrationState> load_registration(const std::string &ifname)
{
	auto path = registration_state_path(ifname);
	auto text = read_bounded_file(path, "registration state", kMaxStateBytes, Errc::config,
	                              Errc::os);
	if (!text) {
		if (text.error().code != Errc::no_input)
			complain(text.error().message + "; ignoring it");
		return std::nullopt;
	}
	auto damaged = [&](const std::string &why) -> std::optional<RegistrationState> {
		complain("ignoring " + path.string() + ": not a wgn registration state (" + why +
		         ")");
		return std::nullopt;
	};
	json j = json::parse(*text, nullptr, false);
	if (j.is_discarded() || !j.is_object())
		return damaged("not a JSON object");
	RegistrationState s;
	s.interface = ifname;
	struct Field {
		const char *key;
		std::string *out;
	} fields[] = {{"interface", &s.interface},
	              {"node_id", &s.node_id},
	              {"registered_at", &s.registered_at},
	              {"control_plane_url", &s.control_plane_url},
	              {"idempotency_key", &s.idempotency_key}};
	for (auto &f : fields) {
		auto it = j.find(f.key);
		if (it == j.end() || it->is_null())
			continue;
		if (!it->is_string())
			return damaged(std::string(f.key) + " is not a string");
		*f.out = it->get<std::string>();
	}
	if (s.node_id.empty())
		return damaged("no node_id");
	return s;
}

Status save_registration(const RegistrationState &s)
{
	json j{{"interface", s.interface},
	       {"node_id", s.node_id},
	       {"registered_at", s.registered_at},
	       {"control_plane_url", s.control_plane_url},
	       {"idempotency_key", s.idempotency_key}};
	return write_file_atomic(registration_state_path(s.interface), json_text(j, 2) + "\n",
	                         0644);
}

} // namespace wgn
