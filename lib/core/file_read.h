// Reading the small files wgn takes whole: configs, keys, tokens, run and
// registration state. Each is opened without blocking and read only if it is a
// regular file of at most `max_bytes`, so that a FIFO, a device or a directory named by
// mistake (or by malice) cannot hang a cron job or fill a root process's memory.
// Symbolic links are followed: a config linked into /etc/wgn is normal.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include <sys/stat.h>

#include "error.h"

namespace wgn {

inline constexpr size_t kMaxConfigBytes = 1 << 20; // 1 MiB (man/wgn.toml.5)
inline constexpr size_t kMaxKeyFileBytes = 4096;   // a key is 44 characters
inline constexpr size_t kMaxTokenFileBytes = 8192; // a token is at most 4096
inline constexpr size_t kMaxStateBytes = 1 << 20;  // run and registration state
// A hub's NAME.sync.json: about 150 bytes a node, so 400,000 nodes.
inline constexpr size_t kMaxSyncStateBytes = size_t{64} << 20;

// The whole content of `path`. Errors, each one sentence naming `what` and the path:
// no_input when it does not exist, `cannot_open` when it cannot be opened (EACCES...),
// `bad_file` when it is not a regular file, is larger than max_bytes or fails to read.
// The text may hold a secret: a buffer outgrown is wiped, and the caller wipes the
// result. st_out: the fstat of the file read (its mode, for files that must be private).
Result<std::string> read_bounded_file(const std::filesystem::path &path, std::string_view what,
                                      size_t max_bytes, Errc bad_file, Errc cannot_open,
                                      struct stat *st_out = nullptr);

// "1 MiB", "4 KiB", "100 bytes".
std::string format_limit(size_t n);

} // namespace wgn
