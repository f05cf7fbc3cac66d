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

} // namespace wgn
