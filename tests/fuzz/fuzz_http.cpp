// A control plane's answer to a registration: the status (first two bytes), header
// lines up to an empty line, then the body; judged as register_node does, and its
// verdict written as JSON the way `--json` output would.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "http.h"
#include "json_text.h"
#include "registry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	wgn::HttpResponse r;
	r.status = 100 + (data[0] | data[1] << 8) % 500;
	std::string_view rest(reinterpret_cast<const char *>(data) + 2, size - 2);
	while (!rest.empty()) {
		auto nl = rest.find('\n');
		auto line = rest.substr(0, nl == std::string_view::npos ? rest.size() : nl + 1);
		rest.remove_prefix(line.size());
		if (line == "\n" || line == "\r\n")
			break;
		wgn::add_header_line(line, r);
	}
	r.body = std::string(rest);
	const int64_t now = 1771522200; // 2026-02-19T17:30:00Z
	for (auto &[name, value] : r.headers)
		(void)wgn::parse_retry_after(value, now);
	auto v = wgn::judge_response(r, now);
	nlohmann::json j{{"node_id", v.node_id}, {"error", v.error.message}};
	if (v.registered_at)
		j["registered_at"] = *v.registered_at;
	(void)wgn::json_text(j);
	return 0;
}
