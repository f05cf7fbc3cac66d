#include "error.h"

namespace wgn {

int exit_code(Errc c) { return static_cast<int>(c); }

} // namespace wgn
