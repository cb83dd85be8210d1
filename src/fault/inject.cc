// SPDX-License-Identifier: BSD-3-Clause
#include "fault/inject.h"

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <vector>

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
	std::atomic<uint64_t> seen{0};
	std::atomic<uint64_t> failed{0};
};

struct RuleSet {
	std::vector<std::unique_ptr<Rule>> rules;
};

std::atomic<RuleSet *> g_rules{nullptr};
std::atomic<uint64_t> g_injected{0};
std::mutex g_graveyard_mu;
std::vector<std::unique_ptr<RuleSet>> g_graveyard; // replaced sets live on

uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

bool parse_u64(std::string_view s, uint64_t *v)
{
	int base = 10;
	if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s.remove_prefix(2);
		base = 16;
	}
	unsigned shift = 0;
	if (!s.empty() && base == 10) {
		switch (s.back()) {
		case 'K': case 'k': shift = 10; break;
		case 'M': case 'm': shift = 20; break;
		case 'G': case 'g': shift = 30; break;
		default: break;
		}
		if (shift)
			s.remove_suffix(1);
	}
	if (s.empty())
		return false;
	auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v, base);
	if (ec != std::errc() || p != s.data() + s.size() || *v > (UINT64_MAX >> shift))
		return false;
	*v <<= shift;
	return true;
}

int parse_rule(std::string_view text, Rule *r, std::string *err)
{
	auto bad = [&](std::string_view why) {
		*err = "bad fault rule '" + std::string(text) + "': " + std::string(why);
		return -EINVAL;
	};
	std::string_view what = text.substr(0, text.find(':'));
	if (what == "write")
		r->write = true;
	else if (what == "read")
		r->read = true;
	else if (what == "meta")
		r->meta = true;
	else if (what == "any")
		r->write = r->read = r->meta = true;
	else
		return bad("starts with write, read, meta or any");
	std::string_view rest = what.size() < text.size() ? text.substr(what.size() + 1) : "";
	while (!rest.empty()) {
		std::string_view kv = rest.substr(0, rest.find(','));
		rest.remove_prefix(std::min(rest.size(), kv.size() + 1));
		size_t eq = kv.find('=');
		if (eq == kv.npos)
			return bad("expected KEY=VALUE");
		std::string_view k = kv.substr(0, eq), v = kv.substr(eq + 1);
		if (k == "after") {
			if (!parse_u64(v, &r->after))
				return bad("after=N");
		} else if (k == "next") {
			if (!parse_u64(v, &r->next))
				return bad("next=N");
			r->has_next = true;
		} else if (k == "seed") {
			if (!parse_u64(v, &r->seed))
				return bad("seed=N");
		} else if (k == "prob") {
			std::string s(v);
			char *end = nullptr;
			r->prob = std::strtod(s.c_str(), &end);
			if (s.empty() || *end || !(r->prob >= 0 && r->prob <= 1))
				return bad("prob=P with 0 <= P <= 1");
			r->has_prob = true;
		} else if (k == "at") {
			size_t plus = v.find('+');
			uint64_t off, len = 4096;
			if (!parse_u64(v.substr(0, plus), &off) ||
			    (plus != v.npos && !parse_u64(v.substr(plus + 1), &len)) || !len ||
			    off + len < off)
				return bad("at=OFF[+LEN]");
			r->lo = off;
			r->hi = off + len;
		} else {
			return bad("unknown key '" + std::string(k) + "'");
		}
	}
	return 0;
}

bool fires(Rule &r, Access a, uint64_t off, uint64_t len)
{
	if (!(a == Access::kWrite ? r.write : a == Access::kRead ? r.read : r.meta))
		return false;
	if (off >= r.hi || off + len <= r.lo)
		return false;
	const uint64_t n = r.seen.fetch_add(1, std::memory_order_relaxed);
	if (n < r.after)
		return false;
	if (r.has_prob) {
		// Deterministic for a seed: the n-th matching access decides.
		double u = double(splitmix(r.seed * 0x100000001b3ULL + n) >> 11) * 0x1p-53;
		if (u >= r.prob)
			return false;
	}
	if (r.has_next) {
		uint64_t f = r.failed.load(std::memory_order_relaxed);
		do {
			if (f >= r.next)
				return false;
		} while (!r.failed.compare_exchange_weak(f, f + 1, std::memory_order_relaxed));
		return true;
	}
	r.failed.fetch_add(1, std::memory_order_relaxed);
	return true;
}

} // namespace

int set_rules(std::string_view spec, std::string *err)
{
	auto set = std::make_unique<RuleSet>();
	while (!spec.empty()) {
		std::string_view one = spec.substr(0, spec.find(';'));
		spec.remove_prefix(std::min(spec.size(), one.size() + 1));
		if (one.empty())
			continue;
		auto r = std::make_unique<Rule>();
		if (int e = parse_rule(one, r.get(), err))
			return e;
		set->rules.push_back(std::move(r));
	}
	std::lock_guard lk(g_graveyard_mu);
	RuleSet *p = set->rules.empty() ? nullptr : set.get();
	if (p)
		g_graveyard.push_back(std::move(set));
	g_rules.store(p, std::memory_order_release);
	return 0;
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
	RuleSet *set = g_rules.load(std::memory_order_acquire);
	if (!set) [[likely]]
		return false;
	bool fail = false;
	for (auto &r : set->rules)
		fail |= fires(*r, a, off, len);
	if (fail)
		g_injected.fetch_add(1, std::memory_order_relaxed);
	return fail;
}

bool rules_active() { return g_rules.load(std::memory_order_relaxed) != nullptr; }

uint64_t injected_count() { return g_injected.load(std::memory_order_relaxed); }

} // namespace zufs::fault
