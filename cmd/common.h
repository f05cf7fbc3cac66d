// What the subcommands share at the edge: finding and loading the config, and turning an
// Error into a message and an exit code.
#pragma once

#include <string>

#include "commands.h"
#include "config.h"
#include "error.h"

namespace wgn {

Result<Config> load_target(const GlobalOptions &g, const std::string &target);

// Prints "wgn: MESSAGE" on stderr and returns the error's exit code.
int report(const Error &e);

// ISO 8601 UTC, second precision: 2026-02-19T17:30:00Z.
std::string iso8601(int64_t epoch_seconds);

} // namespace wgn
