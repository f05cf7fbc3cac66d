// JSON as text, whatever bytes it holds. nlohmann::json throws (and an uncaught throw
// aborts) on a string that is not UTF-8: a config path, a hostname, a server's message
// cut inside a multi-byte character. Every writer goes through here, so such bytes
// come out as U+FFFD instead of ending the process.
#pragma once

#include <string>

namespace wgn {

template <class Json> std::string json_text(const Json &j, int indent = -1)
{
	return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

} // namespace wgn
