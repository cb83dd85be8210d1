// SPDX-License-Identifier: BSD-3-Clause
//
// t2_fault.cc - the rules of t2_fault.h: parsed once, then matched with a
// lock-free read of the current rule set (a transfer costs one atomic load
// when no rule is set).
#include "iomap/t2_fault.h"

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <vector>

namespace iomap {

namespace {

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

struct RuleSet {
	std::vector<std::unique_ptr<Rule>> rules;
};

std::atomic<RuleSet *> g_rules{ nullptr };
std::mutex g_set_mu;
std::vector<std::unique_ptr<RuleSet>> g_all; // kept until exit (g_set_mu)
std::atomic<uint64_t> g_error{ 0 }, g_short{ 0 }, g_stall{ 0 };

bool parse_u64(std::string_view v, uint64_t *out)
{
	auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), *out);
	return ec == std::errc() && p == v.data() + v.size() && !v.empty();
}

int bad(std::string *err, std::string_view why, std::string_view rule)
{
	if (err)
		*err = std::string(why) + " in rule '" + std::string(rule) + "'";
	return -EINVAL;
}

int parse_rule(std::string_view text, Rule *r, std::string *err)
{
	size_t colon = text.find(':');
	std::string_view what = text.substr(0, colon);
	if (what == "read")
		r->write = false;
	else if (what == "write")
		r->read = false;
	else if (what != "any")
		return bad(err, "unknown transfer '" + std::string(what) +
					"' (read, write or any)",
			   text);
	if (colon == std::string_view::npos)
		return 0;
	std::string_view keys = text.substr(colon + 1);
	while (!keys.empty()) {
		size_t comma = keys.find(',');
		std::string_view kv = keys.substr(0, comma);
		keys = comma == std::string_view::npos ? std::string_view() :
							 keys.substr(comma + 1);
		size_t eq = kv.find('=');
		std::string_view k = kv.substr(0, eq);
		std::string_view v = eq == std::string_view::npos ?
					     std::string_view() :
					     kv.substr(eq + 1);
		uint64_t n = 0;
		if (k == "error" && v.empty()) {
			r->fault = { T2FaultKind::kError, 0 };
		} else if (k == "short" && v.empty()) {
			r->fault = { T2FaultKind::kShort, 0 };
		} else if (k == "stall" && parse_u64(v, &n) && n <= 600000) {
			r->fault = { T2FaultKind::kStall, uint32_t(n) };
		} else if (k == "after" && parse_u64(v, &n)) {
			r->after = n;
		} else if (k == "next" && parse_u64(v, &n)) {
			r->next = n;
			r->has_next = true;
		} else if (k == "seed" && parse_u64(v, &n)) {
			r->rng = n ? n : 1;
		} else if (k == "prob") {
			char *end = nullptr;
			std::string s(v);
			double p = std::strtod(s.c_str(), &end);
			if (s.empty() || *end || p < 0 || p > 1)
				return bad(err, "prob must be 0..1", text);
			r->prob = p;
		} else {
			return bad(err, "bad key '" + std::string(kv) + "'", text);
		}
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
	auto set = std::make_unique<RuleSet>();
	while (!spec.empty()) {
		size_t semi = spec.find(';');
		std::string_view one = spec.substr(0, semi);
		spec = semi == std::string_view::npos ? std::string_view() :
							spec.substr(semi + 1);
		if (one.empty())
			continue;
		auto r = std::make_unique<Rule>();
		if (int e = parse_rule(one, r.get(), err))
			return e;
		set->rules.push_back(std::move(r));
	}
	std::lock_guard g(g_set_mu);
	RuleSet *now = set->rules.empty() ? nullptr : set.get();
	g_all.push_back(std::move(set));
	g_rules.store(now, std::memory_order_release);
	return 0;
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
	RuleSet *set = g_rules.load(std::memory_order_acquire);
	if (!set)
		return {};
	T2Fault hit;
	for (auto &r : set->rules) {
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
