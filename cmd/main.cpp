// wgn: join this node to a WireGuard network through a hub. main() parses the command
// line and hands over to one subcommand; every command-line error exits 64 (EX_USAGE).
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "commands.h"
#include "error.h"
#include "log.h"
#include "version.h"

using namespace wgn;

namespace {

const std::vector<std::string> kCommands = {"up",    "down",   "health", "register",
                                            "watch", "enroll", "sync",   "rotate"};

size_t edit_distance(const std::string &a, const std::string &b)
{
	std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
	for (size_t j = 0; j <= b.size(); ++j)
		prev[j] = j;
	for (size_t i = 1; i <= a.size(); ++i) {
		cur[0] = i;
		for (size_t j = 1; j <= b.size(); ++j)
			cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1,
			                   prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
		std::swap(prev, cur);
	}
	return prev[b.size()];
}

// "did you mean 'health'?", as git and ninja say it.
std::string suggestion(const std::string &word)
{
	std::string best;
	size_t best_d = 3;
	for (auto &c : kCommands) {
		size_t d = edit_distance(word, c);
		if (d < best_d || (word.size() >= 2 && c.starts_with(word) && best.empty())) {
			best_d = std::min(d, best_d);
			best = c;
		}
	}
	return best.empty() ? "" : "; did you mean '" + best + "'?";
}

int usage_error(const std::string &sentence, const std::string &hint_for)
{
	std::fprintf(stderr, "wgn: %s\nTry '%s --help' for more information.\n", sentence.c_str(),
	             hint_for.c_str());
	return exit_code(Errc::usage);
}

int run_wgn(int argc, char **argv)
{
	CLI::App app{"wgn joins this node to a private WireGuard network through a hub, proves "
	             "that the tunnel carries traffic, checks its health and registers the node "
	             "with a control plane.",
	             "wgn"};
	app.require_subcommand(0, 1);
	app.set_version_flag("-V,--version", "wgn " WGN_VERSION);
	app.footer("See wgn(8) and wgn.toml(5) for the configuration, exit codes and files.");

	GlobalOptions g;
	bool verbose = false, quiet = false;
	app.add_flag("-v,--verbose", verbose, "Print every change made to the system ([#] lines)");
	app.add_flag("-q,--quiet", quiet, "Print nothing but results and errors");
	app.add_option("--config-dir", g.config_dir,
	               "Directory of NAME.toml files (default: $WGN_CONFIG_DIR or /etc/wgn)");

	UpOptions up;
	DownOptions down;
	HealthOptions health;
	RegisterOptions reg;
	WatchOptions watch;
	EnrollCliOptions enroll;
	SyncOptions sync;
	RotateOptions rotate;
	CLI::App *cmds[] = {setup_up(app, up),         setup_down(app, down),
	                    setup_health(app, health), setup_register(app, reg),
	                    setup_watch(app, watch),   setup_enroll(app, enroll),
	                    setup_sync(app, sync),     setup_rotate(app, rotate)};
	for (auto *c : cmds)
		c->fallthrough();

	try {
		app.parse(argc, argv);
	} catch (const CLI::CallForHelp &e) {
		return app.exit(e);
	} catch (const CLI::CallForAllHelp &e) {
		return app.exit(e);
	} catch (const CLI::CallForVersion &e) {
		std::printf("wgn %s\n", WGN_VERSION);
		return 0;
	} catch (const CLI::ExtrasError &e) {
		// An unknown word where a command belongs: suggest the nearest command.
		std::string word;
		for (int i = 1; i < argc; ++i) {
			std::string a = argv[i];
			if (a == "--config-dir") {
				++i;
				continue;
			}
			if (!a.starts_with("-")) {
				word = a;
				break;
			}
		}
		auto *sub = app.get_subcommands().empty() ? nullptr : app.get_subcommands().front();
		if (!sub && !word.empty())
			return usage_error("'" + word + "' is not a wgn command" + suggestion(word),
			                   "wgn");
		return usage_error(e.what(), sub ? "wgn " + sub->get_name() : "wgn");
	} catch (const CLI::ParseError &e) {
		auto subs = app.get_subcommands();
		std::string where = subs.empty() ? "wgn" : "wgn " + subs.front()->get_name();
		std::string what = e.what();
		if (!what.empty() && what.back() == '\n')
			what.pop_back();
		return usage_error(what, where);
	}
	if (verbose && quiet)
		return usage_error("--verbose and --quiet contradict each other", "wgn");
	set_verbosity(verbose ? Verbosity::verbose : quiet ? Verbosity::quiet : Verbosity::normal);

	if (up.target.empty() && app.got_subcommand("up") == false && !app.got_subcommand("down") &&
	    !app.got_subcommand("health") && !app.got_subcommand("register") &&
	    !app.got_subcommand("watch") && !app.got_subcommand("enroll") &&
	    !app.got_subcommand("sync") && !app.got_subcommand("rotate"))
		return usage_error("a command is required: up, down, health, register, watch, "
		                   "enroll, sync or rotate",
		                   "wgn");

	if (app.got_subcommand("up"))
		return run_up(g, up);
	if (app.got_subcommand("down"))
		return run_down(g, down);
	if (app.got_subcommand("health"))
		return run_health(g, health);
	if (app.got_subcommand("watch"))
		return run_watch(g, watch);
	if (app.got_subcommand("enroll"))
		return run_enroll(g, enroll);
	if (app.got_subcommand("sync"))
		return run_sync(g, sync);
	if (app.got_subcommand("rotate"))
		return run_rotate(g, rotate);
	return run_register(g, reg);
}

} // namespace

// An exception that no layer caught (bad_alloc, a library's surprise) ends in SPEC's
// internal error, 70, with one sentence, not in std::terminate's 134.
int main(int argc, char **argv)
{
	try {
		return run_wgn(argc, argv);
	} catch (const std::exception &e) {
		std::fprintf(stderr, "wgn: internal error: %s\n", e.what());
	} catch (...) {
		std::fprintf(stderr, "wgn: internal error: an unknown exception\n");
	}
	return exit_code(Errc::software);
}
