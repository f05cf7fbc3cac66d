#include "connect.h"

#include <algorithm>

#include "log.h"

namespace wgn {

static Error interrupted_error()
{
	return make_error(Errc::temp_fail, "interrupted");
}

Result<Connected> connect_with_retries(ConnectEnv &env, const ConnectPolicy &p,
				       const std::string &ifname, int *attempts)
{
	const int total = p.max_retries + 1;
	int made = 0;
	auto count = [&] {
		if (attempts)
			*attempts = made;
	};
	auto timed_out = [&](const std::string &last) {
		count();
		return make_error(Errc::temp_fail,
				  ifname + ": timed out after " + format_seconds(p.timeout) +
				      "s (" + std::to_string(made) + " attempt" +
				      (made == 1 ? "" : "s") + "; last: " + last + ")");
	};

	std::string last = "no attempt was made";
	for (int i = 1; i <= total; ++i) {
		if (env.interrupted())
			return count(), interrupted_error();
		double left = p.deadline - env.now();
		if (left <= 0)
			return timed_out(last);
		++made;
		std::string why;
		auto r = env.refresh_endpoint();
		if (!r && r.error().code != Errc::unavailable)
			return count(), r.error();
		if (!r) {
			why = r.error().message;
		} else {
			auto v = env.verify(std::min(p.attempt_timeout, left));
			if (v) {
				count();
				return Connected{made, *v};
			}
			if (env.interrupted())
				return count(), interrupted_error();
			if (v.error().code != Errc::unavailable)
				return count(), v.error();
			why = v.error().message;
		}
		last = why;
		std::string line = ifname + ": attempt " + std::to_string(i) + "/" +
				   std::to_string(total) + " failed: " + why;
		if (i == total) {
			progress(line);
			if (p.deadline - env.now() <= 0)
				return timed_out(last);
			break;
		}
		double delay = p.backoff.delay(i - 1, env.jitter_unit());
		left = p.deadline - env.now();
		// Waiting only to find the deadline passed helps no one: stop now.
		if (left <= delay) {
			progress(line);
			return timed_out(last);
		}
		progress(line + "; retrying in " + format_seconds(delay) + "s");
		if (!env.sleep(delay) || env.interrupted())
			return count(), interrupted_error();
	}
	count();
	return make_error(Errc::unavailable, ifname + ": the hub did not answer in " +
						 std::to_string(total) + " attempt" +
						 (total == 1 ? "" : "s") + " (last: " + last + ")");
}

} // namespace wgn
