// SPDX-License-Identifier: BSD-3-Clause
#include "fault/inject.h"

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fault/rules.h"

namespace zufs::fault {

namespace {

struct Rule {
	bool write = false, read = false, meta = false;
	uint64_t after = 0;
	uint64_t next = 0;
	bool has_next = false;
	double prob = 0;
	bool has_prob = false;
	uint64_t seed = 1;
	uint64_t lo = 0, hi = UINT64_MAX;
	std::atomic<uint64_t> seen{ 0 };
	std::atomic<uint64_t> failed{ 0 };
};

RuleSet<Rule> g_rules;
std::atomic<uint64_t> g_injected{ 0 };

uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

// A rule of the pmem layer: WHAT is write, read, meta or any; its own key
// is at=OFF[+LEN].
int make_rule(const RuleText &t, Rule *r, std::string *err)
{
	if (t.what == "write")
		r->write = true;
	else if (t.what == "read")
		r->read = true;
	else if (t.what == "meta")
		r->meta = true;
	else if (t.what == "any")
		r->write = r->read = r->meta = true;
	else
		return bad_rule(t.text, "starts with write, read, meta or any",
				err);
	r->after = t.after;
	r->next = t.next;
	r->has_next = t.has_next;
	r->has_prob = t.prob >= 0;
	r->prob = r->has_prob ? t.prob : 0;
	r->seed = t.seed;
	for (const RuleText::Key &k : t.keys) {
		if (k.name != "at")
			return bad_rule(t.text,
					"unknown key '" + std::string(k.name) +
						"'",
					err);
		std::string_view v = k.value;
		size_t plus = v.find('+');
		uint64_t off, len = 4096;
		if (!k.has_value || !parse_number(v.substr(0, plus), &off) ||
		    (plus != v.npos &&
		     !parse_number(v.substr(plus + 1), &len)) ||
		    !len || off + len < off)
			return bad_rule(t.text, "at=OFF[+LEN]", err);
		r->lo = off;
		r->hi = off + len;
	}
	return 0;
}

bool fires(Rule &r, Access a, uint64_t off, uint64_t len)
{
	if (!(a == Access::kWrite ? r.write :
	      a == Access::kRead  ? r.read :
				    r.meta))
		return false;
	if (off >= r.hi || off + len <= r.lo)
		return false;
	const uint64_t n = r.seen.fetch_add(1, std::memory_order_relaxed);
	if (n < r.after)
		return false;
	if (r.has_prob) {
		// Deterministic for a seed: the n-th matching access decides.
		double u =
			double(splitmix(r.seed * 0x100000001b3ULL + n) >> 11) *
			0x1p-53;
		if (u >= r.prob)
			return false;
	}
	if (r.has_next) {
		uint64_t f = r.failed.load(std::memory_order_relaxed);
		do {
			if (f >= r.next)
				return false;
		} while (!r.failed.compare_exchange_weak(
			f, f + 1, std::memory_order_relaxed));
		return true;
	}
	r.failed.fetch_add(1, std::memory_order_relaxed);
	return true;
}

} // namespace

int set_rules(std::string_view spec, std::string *err)
{
	return g_rules.set(spec, make_rule, err);
}

int set_rules_from_env(const char *var, std::string *err)
{
	const char *v = std::getenv(var);
	if (!v || !*v)
		return 0;
	int e = set_rules(v, err);
	if (e)
		*err = std::string(var) + ": " + *err;
	return e;
}

bool should_fail(Access a, uint64_t off, uint64_t len)
{
	auto *rules = g_rules.current();
	if (!rules) [[likely]]
		return false;
	bool fail = false;
	for (auto &r : *rules)
		fail |= fires(*r, a, off, len);
	if (fail)
		g_injected.fetch_add(1, std::memory_order_relaxed);
	return fail;
}

bool rules_active() { return g_rules.active(); }

uint64_t injected_count() { return g_injected.load(std::memory_order_relaxed); }

} // namespace zufs::fault
