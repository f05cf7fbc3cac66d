// Files that must never be torn: state written through a temp file, fsync and rename.
#pragma once

#include <filesystem>
#include <string>

#include "error.h"

namespace wgn {

// Writes `data` to `path` atomically with `mode`, creating the parent directory (0755)
// if needed. Errors: cant_create (73). The data goes into a file without a name
// (O_TMPFILE, 0600 from the start), which is linked in as `path` once whole and fsynced
// when `path` does not exist yet, else linked as a temp PATH.tmp-PID.XXXXXX and renamed
// over `path` at once; a writer killed meanwhile leaves nothing. Where the filesystem
// has no O_TMPFILE (or /proc is missing), the temp is named from the start: a writer
// killed before its rename leaves it, and the next write of the same path removes it
// (remove_dead_temps).
Status write_file_atomic(const std::filesystem::path &path, const std::string &data,
                         unsigned mode = 0644);

// fsync of the directory that holds `file`: what makes a rename or an unlink in it
// durable. Errors: cant_create (73).
Status fsync_parent_dir(const std::filesystem::path &file);

// Removes the temps of `path` (regular files named exactly PATH.tmp-PID.XXXXXX, six
// letters or digits) whose writer PID no longer runs; a live writer's temp stays, and so
// does a symlink, a directory or another name. `down` calls it when it removes the run
// state, `up`, `rotate` and `down` for the pending key (rotate.h).
void remove_dead_temps(const std::filesystem::path &path);

// Reads a whole small file (a regular file of at most 1 MiB, file_read.h); errors:
// no_input.
Result<std::string> read_file(const std::filesystem::path &path);

// $WGN_RUN_DIR or /run/wgn; $WGN_STATE_DIR or /var/lib/wgn.
std::filesystem::path run_dir();
std::filesystem::path state_dir();

} // namespace wgn
