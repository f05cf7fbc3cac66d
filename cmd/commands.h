// The subcommands: each file in cmd/ adds its options to the CLI and runs with them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace wgn {

// Seconds on the command line, bounded as a config's are: a finite number above zero and
// at most a year. CLI11's PositiveNumber lets nan, inf and 1e308 through, and turning
// those into milliseconds later is undefined behaviour.
CLI::Validator seconds_validator();

struct GlobalOptions {
	std::optional<std::string> config_dir;
};

struct UpOptions {
	std::string target;
	bool no_register = false;
	std::optional<double> timeout;
	std::optional<int> max_retries;
	bool dry_run = false;
	bool json = false;
};

struct DownOptions {
	std::string target;
	bool dry_run = false;
	bool json = false;
};

struct HealthOptions {
	std::string target;
	bool all = false;
	std::string format = "human";
	std::optional<std::string> textfile_dir;
	std::optional<double> stale_after;
	bool repair = false;
	bool report = false;
};

struct RegisterOptions {
	std::string target;
	bool json = false;
};

struct WatchOptions {
	std::string target;
	bool no_register = false;
	bool no_report = false;
};

struct EnrollCliOptions {
	std::string url;
	std::string name;
	std::string token_file;
	std::optional<std::string> ca_file;
	std::vector<std::string> labels;
	bool force = false;
	bool up = false;
	bool json = false;
};

struct SyncOptions {
	std::string target;
	bool watch = false;
	bool prune = false;
	bool dry_run = false;
	bool json = false;
};

struct RotateOptions {
	std::string target;
	bool json = false;
};

void setup_up(CLI::App *c, UpOptions &o);
void setup_down(CLI::App *c, DownOptions &o);
void setup_health(CLI::App *c, HealthOptions &o);
void setup_register(CLI::App *c, RegisterOptions &o);
void setup_watch(CLI::App *c, WatchOptions &o);
void setup_enroll(CLI::App *c, EnrollCliOptions &o);
void setup_sync(CLI::App *c, SyncOptions &o);
void setup_rotate(CLI::App *c, RotateOptions &o);

int run_up(const GlobalOptions &g, const UpOptions &o);
int run_down(const GlobalOptions &g, const DownOptions &o);
int run_health(const GlobalOptions &g, const HealthOptions &o);
int run_register(const GlobalOptions &g, const RegisterOptions &o);
int run_watch(const GlobalOptions &g, const WatchOptions &o);
int run_enroll(const GlobalOptions &g, const EnrollCliOptions &o);
int run_sync(const GlobalOptions &g, const SyncOptions &o);
int run_rotate(const GlobalOptions &g, const RotateOptions &o);

} // namespace wgn
