// ops::enroll (enrollment.h): enroll_node, then (with --up) ops::up on the config it wrote.
#include "enrollment.h"

#include "connect.h"

namespace wgn::ops {

namespace {

class SystemEnrollEffects : public EnrollEffects {
public:
	bool has_cap_net_admin() override { return wgn::has_cap_net_admin(); }
	Result<EnrollOutcome> enroll(const EnrollOptions &opt, int *attempts) override
	{
		return enroll_node(opt, attempts);
	}
	Result<Config> load_config(const std::filesystem::path &path) override
	{
		return wgn::load_config(path);
	}
	UpOutcome up(const Config &cfg, const UpOptions &opt) override { return ops::up(cfg, opt); }
};

} // namespace

std::unique_ptr<EnrollEffects> system_enroll_effects()
{
	return std::make_unique<SystemEnrollEffects>();
}

EnrollUpOutcome enroll(const EnrollUpOptions &opt, EnrollEffects &fx)
{
	EnrollUpOutcome out;
	const std::string &name = opt.enroll.name;
	if (opt.up && !fx.has_cap_net_admin()) {
		out.error = make_error(Errc::no_perm,
		                       name + ": --up needs CAP_NET_ADMIN (run as root); nothing "
		                              "was enrolled and the token is not used");
		return out;
	}
	auto r = fx.enroll(opt.enroll, &out.attempts);
	if (!r) {
		out.error = r.error();
		return out;
	}
	out.enrolled = std::move(*r);
	if (opt.on_enrolled)
		opt.on_enrolled(*out.enrolled);
	if (!opt.up)
		return out;

	auto cfg = fx.load_config(out.enrolled->files.config);
	if (!cfg) {
		UpOutcome failed;
		failed.interface = name;
		failed.error = cfg.error();
		out.up = std::move(failed);
		return out;
	}
	out.up = fx.up(*cfg, opt.up_options);
	return out;
}

EnrollUpOutcome enroll(const EnrollUpOptions &opt)
{
	auto fx = system_enroll_effects();
	return enroll(opt, *fx);
}

} // namespace wgn::ops
