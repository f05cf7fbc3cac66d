// wgn: join this node to a WireGuard network through a hub. main() parses the command
// line and hands over to one subcommand; every command-line error exits 64 (EX_USAGE).
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "commands.h"
#include "error.h"
#include "log.h"
#include "version.h"

using namespace wgn;

namespace {

struct Command {
	const char *name;
	const char *description;
};

// In the order of `wgn --help`.
constexpr Command kCommands[] = {
        {"up", "Bring the tunnel up, verify it and register the node"},
        {"down", "Remove the tunnel interface and its run state"},
        {"health", "Check the tunnel (monitoring-plugins exit codes)"},
        {"register", "Register this node with the control plane"},
        {"watch", "Bring the tunnel up and keep it up: check it every health.interval, mend "
                  "it, fail over between hubs and back, notify systemd (Type=notify)"},
        {"enroll", "Join this node with an enrollment token: key, config, node token"},
        {"sync", "On a hub: make the interface's peers the nodes the control plane knows"},
        {"rotate", "Replace the node's private key without an outage (control plane and hubs "
                   "in step)"},
};

// The word where the command belongs: the first argument that is neither an option nor
// --config-dir's value ("" when there is none).
std::string command_word(int argc, char **argv)
{
	for (int i = 1; i < argc; ++i) {
		std::string_view a = argv[i];
		if (a == "--config-dir")
			++i;
		else if (!a.starts_with("-"))
			return std::string(a);
	}
	return "";
}

struct AllOptions {
	UpOptions up;
	DownOptions down;
	HealthOptions health;
	RegisterOptions reg;
	WatchOptions watch;
	EnrollCliOptions enroll;
	SyncOptions sync;
	RotateOptions rotate;
};

void setup_command(const std::string &name, CLI::App *c, AllOptions &o)
{
	if (name == "up")
		setup_up(c, o.up);
	else if (name == "down")
		setup_down(c, o.down);
	else if (name == "health")
		setup_health(c, o.health);
	else if (name == "register")
		setup_register(c, o.reg);
	else if (name == "watch")
		setup_watch(c, o.watch);
	else if (name == "enroll")
		setup_enroll(c, o.enroll);
	else if (name == "sync")
		setup_sync(c, o.sync);
	else if (name == "rotate")
		setup_rotate(c, o.rotate);
}

int run_command(const std::string &name, const GlobalOptions &g, const AllOptions &o)
{
	if (name == "up")
		return run_up(g, o.up);
	if (name == "down")
		return run_down(g, o.down);
	if (name == "health")
		return run_health(g, o.health);
	if (name == "register")
		return run_register(g, o.reg);
	if (name == "watch")
		return run_watch(g, o.watch);
	if (name == "enroll")
		return run_enroll(g, o.enroll);
	if (name == "sync")
		return run_sync(g, o.sync);
	return run_rotate(g, o.rotate);
}

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
	for (auto &cmd : kCommands) {
		std::string c = cmd.name;
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

	// Only the command on the command line gets its options (the others their name,
	// for --help and the suggestions): CLI11 builds every option as it is added, and
	// building all eight commands' was a tenth of a `wgn health` run's own time.
	AllOptions o;
	const std::string word = command_word(argc, argv);
	for (auto &cmd : kCommands) {
		auto *c = app.add_subcommand(cmd.name, cmd.description);
		c->fallthrough();
		if (word == cmd.name)
			setup_command(word, c, o);
	}

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

	if (app.get_subcommands().empty())
		return usage_error("a command is required: up, down, health, register, watch, "
		                   "enroll, sync or rotate",
		                   "wgn");
	return run_command(app.get_subcommands().front()->get_name(), g, o);
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
