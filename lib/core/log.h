// Progress and effects on stderr. stdout is for results only.
#pragma once

#include <string>

namespace wgn {

enum class Verbosity { quiet = -1, normal = 0, verbose = 1 };

void set_verbosity(Verbosity v);
Verbosity verbosity();

// "wgn: MESSAGE" unless -q: one line per step a person waits for.
void progress(const std::string &message);
// "[#] EFFECT" with -v, in the manner of wg-quick: every change made to the system.
void effect(const std::string &description);
// "wgn: MESSAGE", always (errors and notices).
void complain(const std::string &message);

} // namespace wgn

namespace wgn {
// Seconds as people read them in messages: "5.0s" without the s: "5.0".
std::string format_seconds(double s);
} // namespace wgn
