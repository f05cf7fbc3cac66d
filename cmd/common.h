// What the subcommands share at the edge: finding and loading the config, and turning an
// Error into a message and an exit code.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "config.h"
#include "error.h"
#include "up.h"

namespace wgn {

// hub_config: a hub's own config (no [hub] table) is accepted too (up, down, sync).
// read_keys false: the key files are not read, nor the public key derived (down).
Result<Config> load_target(const GlobalOptions &g, const std::string &target,
                           bool hub_config = false, bool read_keys = true);

// Prints "wgn: MESSAGE" on stderr and returns the error's exit code.
int report(const Error &e);

// What `up` says on stderr when it did not succeed, and its exit code (0 on success):
// the error, or that the tunnel is up but registration failed. After SIGINT/SIGTERM it
// says what was undone and dies of the signal (128 + n), as wg-quick does after its
// cleanup. `wgn up` and `health --repair` both report the up they ran with it.
int report_up_failure(const ops::UpOutcome &o);

// The object `up --json` prints for an outcome; err is the failure that decides the exit
// code (null on success). `enroll --up --json` nests the same object.
nlohmann::json up_outcome_json(const ops::UpOutcome &o, const Error *err);

// Prints J on stdout as one line of JSON (invalid UTF-8 replaced, never an abort).
void print_json(const nlohmann::json &j);

} // namespace wgn
