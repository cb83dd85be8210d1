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

#include <cstdint>
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

} // namespace zufs::fault

#endif // ZUFS_FAULT_RULES_H
