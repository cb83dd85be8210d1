// SPDX-License-Identifier: BSD-3-Clause
#include "fault/rules.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>

namespace zufs::fault {

namespace {

// The next piece of *s up to sep (or the end), removed from *s.
std::string_view take(std::string_view *s, char sep)
{
	std::string_view one = s->substr(0, s->find(sep));
	s->remove_prefix(std::min(s->size(), one.size() + 1));
	return one;
}

int parse_rule(std::string_view text, RuleText *r, std::string *err)
{
	r->text = text;
	std::string_view rest = text;
	r->what = take(&rest, ':');
	while (!rest.empty()) {
		std::string_view kv = take(&rest, ',');
		const size_t eq = kv.find('=');
		RuleText::Key k{ kv.substr(0, eq), {}, eq != kv.npos };
		if (k.has_value)
			k.value = kv.substr(eq + 1);
		if (k.name == "after") {
			if (!k.has_value || !parse_number(k.value, &r->after))
				return bad_rule(text, "after=N", err);
		} else if (k.name == "next") {
			if (!k.has_value || !parse_number(k.value, &r->next))
				return bad_rule(text, "next=N", err);
			r->has_next = true;
		} else if (k.name == "seed") {
			if (!k.has_value || !parse_number(k.value, &r->seed))
				return bad_rule(text, "seed=N", err);
		} else if (k.name == "prob") {
			std::string s(k.value);
			char *end = nullptr;
			double p = std::strtod(s.c_str(), &end);
			if (s.empty() || *end || !(p >= 0 && p <= 1))
				return bad_rule(text, "prob=P with 0 <= P <= 1",
						err);
			r->prob = p;
		} else {
			r->keys.push_back(k);
		}
	}
	return 0;
}

} // namespace

int parse_rules(std::string_view spec, std::vector<RuleText> *out,
		std::string *err)
{
	out->clear();
	while (!spec.empty()) {
		std::string_view one = take(&spec, ';');
		if (one.empty())
			continue;
		RuleText r;
		if (int e = parse_rule(one, &r, err))
			return e;
		out->push_back(std::move(r));
	}
	return 0;
}

int bad_rule(std::string_view rule, std::string_view why, std::string *err)
{
	if (err)
		*err = "bad fault rule '" + std::string(rule) +
		       "': " + std::string(why);
	return -EINVAL;
}

bool parse_number(std::string_view s, uint64_t *v)
{
	int base = 10;
	if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s.remove_prefix(2);
		base = 16;
	}
	unsigned shift = 0;
	if (!s.empty() && base == 10) {
		switch (s.back()) {
		case 'K':
		case 'k':
			shift = 10;
			break;
		case 'M':
		case 'm':
			shift = 20;
			break;
		case 'G':
		case 'g':
			shift = 30;
			break;
		default:
			break;
		}
		if (shift)
			s.remove_suffix(1);
	}
	if (s.empty())
		return false;
	auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v, base);
	if (ec != std::errc() || p != s.data() + s.size() ||
	    *v > (UINT64_MAX >> shift))
		return false;
	*v <<= shift;
	return true;
}

} // namespace zufs::fault
