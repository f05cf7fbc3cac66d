#include "regstate.h"

#include <nlohmann/json.hpp>

#include "fsutil.h"
#include "json_text.h"

namespace wgn {

using nlohmann::json;

std::filesystem::path registration_state_path(const std::string &ifname)
{
	return state_dir() / (ifname + ".json");
}

std::optional<RegistrationState> load_registration(const std::string &ifname)
{
	auto text = read_file(registration_state_path(ifname));
	if (!text)
		return std::nullopt;
	try {
		auto j = json::parse(*text);
		RegistrationState s;
		s.interface = j.value("interface", ifname);
		s.node_id = j.at("node_id").get<std::string>();
		s.registered_at = j.value("registered_at", "");
		s.control_plane_url = j.value("control_plane_url", "");
		s.idempotency_key = j.value("idempotency_key", "");
		if (s.node_id.empty())
			return std::nullopt;
		return s;
	} catch (const json::exception &) {
		return std::nullopt;
	}
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
