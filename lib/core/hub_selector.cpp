#include "hub_selector.h"

namespace wgn {

double HubSelector::streak(size_t i, double now) const
{
	if (i >= since_.size() || !since_[i])
		return 0;
	return now - *since_[i];
}

std::optional<HubSelector::Switch> HubSelector::look(double now, size_t active,
                                                     const std::vector<bool> &answered)
{
	since_.resize(answered.size());
	for (size_t i = 0; i < answered.size(); ++i) {
		if (!answered[i])
			since_[i].reset();
		else if (!since_[i])
			since_[i] = now;
	}
	if (answered.size() < 2 || active >= answered.size())
		return std::nullopt;
	if (answered[active]) {
		misses_ = 0;
		for (size_t i = 0; i < active; ++i)
			if (since_[i] && now - *since_[i] >= failback_after_)
				return Switch{i, true};
		return std::nullopt;
	}
	++misses_;
	if (misses_ < failures_)
		return std::nullopt;
	for (size_t i = 0; i < answered.size(); ++i)
		if (i != active && answered[i])
			return Switch{i, false};
	return std::nullopt;
}

} // namespace wgn
