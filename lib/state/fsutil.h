// Files that must never be torn: state written through a temp file, fsync and rename.
#pragma once

#include <filesystem>
#include <string>

#include "error.h"

namespace wgn {

// Writes `data` to `path` atomically with `mode`, creating the parent directory (0755)
// if needed. Errors: cant_create (73). The temp beside it is PATH.tmp-PID.XXXXXX; a
// writer killed before its rename (kill -9, power loss) leaves one, which the next
// write of the same path removes (remove_dead_temps).
Status write_file_atomic(const std::filesystem::path &path, const std::string &data,
                         unsigned mode = 0644);

// fsync of the directory that holds `file`: what makes a rename or an unlink in it
// durable. Errors: cant_create (73).
Status fsync_parent_dir(const std::filesystem::path &file);

// Removes the temps of `path` (PATH.tmp-PID.*) whose writer PID no longer runs; a live
// writer's temp stays. `down` calls it when it removes the run state.
void remove_dead_temps(const std::filesystem::path &path);

// Reads a whole small file (a regular file of at most 1 MiB, file_read.h); errors:
// no_input.
Result<std::string> read_file(const std::filesystem::path &path);

// $WGN_RUN_DIR or /run/wgn; $WGN_STATE_DIR or /var/lib/wgn.
std::filesystem::path run_dir();
std::filesystem::path state_dir();

} // namespace wgn
