#include "register.h"

#include "regstate.h"
#include "runstate.h"

namespace wgn::ops {

RegisterOutcome register_node(const Config &cfg, RegistrationIo io)
{
	RegisterOutcome out;
	out.interface = cfg.interface.name;
	auto r = wgn::register_node(cfg, &out.attempts, std::move(io));
	if (auto rs = read_run_state(out.interface); rs && *rs)
		out.connected_at = (*rs)->connected_at;
	if (!r) {
		out.error = r.error();
		if (auto known = load_registration(out.interface))
			out.known_node_id = known->node_id;
		return out;
	}
	out.registration = *r;
	out.attempts = r->attempts;
	return out;
}

} // namespace wgn::ops
