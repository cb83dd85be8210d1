// SPDX-License-Identifier: BSD-3-Clause
//
// t2_fault.cc - the rules of t2_fault.h: parsed once, then matched with a
// lock-free read of the current rule set (a transfer costs one atomic load
// when no rule is set).
#include "iomap/t2_fault.h"

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <vector>

#include "fault/rules.h"

namespace iomap {

namespace {

using zufs::fault::bad_rule;
using zufs::fault::parse_number;
using zufs::fault::RuleText;

struct Rule {
	bool read = true, write = true;
	T2Fault fault{ T2FaultKind::kError, 0 };
	uint64_t after = 0;
	uint64_t next = 0; // 0: no limit (unless prob)
	bool has_next = false;
	double prob = -1; // < 0: not set
	std::atomic<uint64_t> seen{ 0 };
	std::atomic<uint64_t> rng{ 1 };
};

zufs::fault::RuleSet<Rule> g_rules;
std::atomic<uint64_t> g_error{ 0 }, g_short{ 0 }, g_stall{ 0 };

// A rule of the T2 layer: WHAT is read, write or any; its own keys are the
// kind of fault (error, short, stall=MS).
int make_rule(const RuleText &t, Rule *r, std::string *err)
{
	if (t.what == "read")
		r->write = false;
	else if (t.what == "write")
		r->read = false;
	else if (t.what != "any")
		return bad_rule(t.text,
				"unknown transfer '" + std::string(t.what) +
					"' (read, write or any)",
				err);
	r->after = t.after;
	r->next = t.next;
	r->has_next = t.has_next;
	r->prob = t.prob;
	r->rng = t.seed ? t.seed : 1;
	for (const RuleText::Key &k : t.keys) {
		uint64_t n = 0;
		if (k.name == "error" && !k.has_value)
			r->fault = { T2FaultKind::kError, 0 };
		else if (k.name == "short" && !k.has_value)
			r->fault = { T2FaultKind::kShort, 0 };
		else if (k.name == "stall" && k.has_value &&
			 parse_number(k.value, &n) && n <= 600000)
			r->fault = { T2FaultKind::kStall, uint32_t(n) };
		else
			return bad_rule(t.text,
					"unknown key '" + std::string(k.name) +
						"' (error, short, stall=MS)",
					err);
	}
	return 0;
}

// xorshift64: the same seed hits the same transfers.
double next_random(std::atomic<uint64_t> &state)
{
	uint64_t x = state.load(std::memory_order_relaxed), y;
	do {
		y = x;
		y ^= y << 13;
		y ^= y >> 7;
		y ^= y << 17;
	} while (!state.compare_exchange_weak(x, y, std::memory_order_relaxed));
	return double(y >> 11) / double(1ULL << 53);
}

bool rule_hits(Rule &r)
{
	uint64_t k = r.seen.fetch_add(1, std::memory_order_relaxed);
	if (k < r.after)
		return false;
	if (r.has_next && k - r.after >= r.next)
		return false;
	if (r.prob >= 0)
		return next_random(r.rng) < r.prob;
	return true;
}

} // namespace

int set_t2_faults(std::string_view spec, std::string *err)
{
	return g_rules.set(spec, make_rule, err);
}

int set_t2_faults_from_env(std::string *err)
{
	const char *v = std::getenv(kT2FaultEnv);
	if (!v || !*v)
		return 0;
	return set_t2_faults(v, err);
}

T2Fault t2_fault_hit(bool write)
{
	auto *rules = g_rules.current();
	if (!rules)
		return {};
	T2Fault hit;
	for (auto &r : *rules) {
		if (write ? !r->write : !r->read)
			continue;
		if (rule_hits(*r) && hit.kind == T2FaultKind::kNone)
			hit = r->fault;
	}
	switch (hit.kind) {
	case T2FaultKind::kError:
		g_error.fetch_add(1, std::memory_order_relaxed);
		break;
	case T2FaultKind::kShort:
		g_short.fetch_add(1, std::memory_order_relaxed);
		break;
	case T2FaultKind::kStall:
		g_stall.fetch_add(1, std::memory_order_relaxed);
		break;
	case T2FaultKind::kNone:
		break;
	}
	return hit;
}

T2FaultCounts t2_fault_counts()
{
	return { g_error.load(), g_short.load(), g_stall.load() };
}

} // namespace iomap
