// wgn: join this node to a WireGuard network through a hub. main() parses the command
// line and hands over to one subcommand; every command-line error exits 64 (EX_USAGE).
#include <cstdio>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "commands.h"
#include "error.h"
#include "log.h"
#include "version.h"

using namespace wgn;

namespace {

// One command: what `setup` adds to the CLI and the function that runs with it. Only the
// command on the command line gets its options built, and only its options exist.
struct Command {
	const char *name;
	const char *description;
	// Adds the command's options to C; returns what runs the command once C has parsed.
	std::function<int(const GlobalOptions &)> (*setup)(CLI::App *c);
};

template <class Options, void (*Setup)(CLI::App *, Options &),
          int (*Run)(const GlobalOptions &, const Options &)>
std::function<int(const GlobalOptions &)> command(CLI::App *c)
{
	auto o = std::make_shared<Options>();
	Setup(c, *o);
	return [o](const GlobalOptions &g) { return Run(g, *o); };
}

// In the order of `wgn --help`.
const Command kCommands[] = {
        {"up", "Bring the tunnel up, verify it and register the node",
         command<UpOptions, setup_up, run_up>},
        {"down", "Remove the tunnel interface and its run state",
         command<DownOptions, setup_down, run_down>},
        {"health", "Check the tunnel (monitoring-plugins exit codes)",
         command<HealthOptions, setup_health, run_health>},
        {"register", "Register this node with the control plane",
         command<RegisterOptions, setup_register, run_register>},
        {"watch",
         "Bring the tunnel up and keep it up: check it every health.interval, mend it, fail "
         "over between hubs and back, notify systemd (Type=notify)",
         command<WatchOptions, setup_watch, run_watch>},
        {"enroll", "Join this node with an enrollment token: key, config, node token",
         command<EnrollCliOptions, setup_enroll, run_enroll>},
        {"sync", "On a hub: make the interface's peers the nodes the control plane knows",
         command<SyncOptions, setup_sync, run_sync>},
        {"rotate",
         "Replace the node's private key without an outage (control plane and hubs in step)",
         command<RotateOptions, setup_rotate, run_rotate>},
};

const Command *find_command(std::string_view name)
{
	for (auto &cmd : kCommands)
		if (name == cmd.name)
			return &cmd;
	return nullptr;
}

// "up, down, ... or rotate"
std::string command_list()
{
	std::string list;
	size_t n = std::size(kCommands);
	for (size_t i = 0; i < n; ++i)
		list += std::string(i == 0 ? "" : i + 1 == n ? " or " : ", ") + kCommands[i].name;
	return list;
}

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

	// Only the command on the command line is built, with its options; without one (or
	// with a mistyped one) every command is added by name, for --help and the suggestion.
	// CLI11 builds every option as it is added: all eight commands' options cost a tenth
	// of a `wgn health` run's own time, their empty subcommands another twentieth.
	const std::string word = command_word(argc, argv);
	const Command *chosen = find_command(word);
	std::function<int(const GlobalOptions &)> run;
	for (auto &cmd : kCommands) {
		if (chosen && &cmd != chosen)
			continue;
		auto *c = app.add_subcommand(cmd.name, cmd.description);
		c->fallthrough();
		if (&cmd == chosen)
			run = cmd.setup(c);
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
		return usage_error("a command is required: " + command_list(), "wgn");
	return run(g);
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
