// SPDX-License-Identifier: BSD-3-Clause
//
// rules.h - the language of fault rules, parsed once for both fault layers:
// the pmem layer (inject.h, ZUFUSE_FAULT_PMEM) and the T2 device's
// (iomap/t2_fault.h, ZUFUSE_FAULT_T2). Each layer gives WHAT and its own
// keys their meaning and counts its accesses itself.
//
//   SPEC   RULE[;RULE...]            (empty rules are skipped)
//   RULE   WHAT[:KEY[=VALUE][,KEY[=VALUE]...]]
// The keys every layer takes:
//   after=N    let the first N matching accesses pass
//   next=N     then hit the next N
//   prob=P     hit each matching access with probability P (0..1)
//   seed=S     for prob (default 1)
// N: decimal or 0x hex; a decimal may end in K, M or G (KiB, MiB, GiB).
//
// A bad rule is -EINVAL with one line: "bad fault rule 'RULE': WHY".
#ifndef ZUFS_FAULT_RULES_H
#define ZUFS_FAULT_RULES_H

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace zufs::fault {

// One rule as written; the views point into the spec.
struct RuleText {
	std::string_view text; // the whole rule, for messages
	std::string_view what; // the word before ':'
	uint64_t after = 0;
	uint64_t next = 0;
	bool has_next = false;
	double prob = -1; // < 0: not given
	uint64_t seed = 1;
	struct Key {
		std::string_view name, value;
		bool has_value; // KEY=VALUE, not KEY alone
	};
	std::vector<Key> keys; // the layer's own keys, in order
};

// Split spec into its rules and read the keys every layer takes (each
// needs a valid VALUE). 0, or -EINVAL with *err (err may be null).
int parse_rules(std::string_view spec, std::vector<RuleText> *out,
		std::string *err);

// The message of a bad rule: -EINVAL, *err (if err) as above.
int bad_rule(std::string_view rule, std::string_view why, std::string *err);

// N as above. False for anything else, or a value past 2^64 - 1.
bool parse_number(std::string_view s, uint64_t *v);

// The current rules of one layer, for lock-free readers: set() replaces
// them at once; replaced ones stay allocated until exit (a reader may still
// walk them).
template <class Rule> class RuleSet {
  public:
	using List = std::vector<std::unique_ptr<Rule>>;

	// Parse spec, make each rule with
	// make(const RuleText &, Rule *, std::string *err) (0 or -EINVAL),
	// then publish them: 0, or the error with nothing changed. "" clears.
	template <class Make>
	int set(std::string_view spec, Make make, std::string *err)
	{
		std::vector<RuleText> text;
		if (int e = parse_rules(spec, &text, err))
			return e;
		auto list = std::make_unique<List>();
		for (const RuleText &t : text) {
			auto r = std::make_unique<Rule>();
			if (int e = make(t, r.get(), err))
				return e;
			list->push_back(std::move(r));
		}
		std::lock_guard lk(mu_);
		List *now = list->empty() ? nullptr : list.get();
		if (now)
			all_.push_back(std::move(list));
		cur_.store(now, std::memory_order_release);
		return 0;
	}

	// The rules now, nullptr when there are none.
	List *current() const { return cur_.load(std::memory_order_acquire); }
	bool active() const
	{
		return cur_.load(std::memory_order_relaxed) != nullptr;
	}

  private:
	std::atomic<List *> cur_{ nullptr };
	std::mutex mu_;
	std::vector<std::unique_ptr<List>> all_; // every list set, until exit
};

} // namespace zufs::fault

#endif // ZUFS_FAULT_RULES_H
