// SPDX-License-Identifier: BSD-3-Clause
// The fault-rule language both fault layers parse (src/fault/rules.h): rules
// and keys split as written, the keys every layer takes read once, numbers,
// and one error line for a bad rule.
#include <catch2/catch.hpp>

#include <cerrno>
#include <string>
#include <vector>

#include "fault/rules.h"

using zufs::fault::parse_number;
using zufs::fault::parse_rules;
using zufs::fault::RuleSet;
using zufs::fault::RuleText;

TEST_CASE("fault rules: rules, common keys and a layer's own keys",
	  "[fault][rules]")
{
	std::vector<RuleText> rs;
	std::string err;
	REQUIRE(parse_rules(";write:after=2,next=3,at=64M+8K;;read;"
			    "any:short,stall=0x10,prob=0.5,seed=9",
			    &rs, &err) == 0);
	REQUIRE(rs.size() == 3);

	CHECK(rs[0].text == "write:after=2,next=3,at=64M+8K");
	CHECK(rs[0].what == "write");
	CHECK(rs[0].after == 2);
	CHECK(rs[0].has_next);
	CHECK(rs[0].next == 3);
	CHECK(rs[0].prob < 0);
	CHECK(rs[0].seed == 1);
	REQUIRE(rs[0].keys.size() == 1);
	CHECK(rs[0].keys[0].name == "at");
	CHECK(rs[0].keys[0].value == "64M+8K");
	CHECK(rs[0].keys[0].has_value);

	CHECK(rs[1].what == "read");
	CHECK_FALSE(rs[1].has_next);
	CHECK(rs[1].keys.empty());

	CHECK(rs[2].prob == 0.5);
	CHECK(rs[2].seed == 9);
	REQUIRE(rs[2].keys.size() == 2);
	CHECK(rs[2].keys[0].name == "short");
	CHECK_FALSE(rs[2].keys[0].has_value);
	CHECK(rs[2].keys[1].name == "stall");
	CHECK(rs[2].keys[1].value == "0x10");

	REQUIRE(parse_rules("", &rs, &err) == 0);
	CHECK(rs.empty());
}

TEST_CASE("fault rules: a bad common key is one line naming the rule",
	  "[fault][rules]")
{
	std::vector<RuleText> rs;
	for (const char *bad : { "write:next", "write:next=x", "read:after=-1",
				 "any:prob=2", "any:prob=", "x:seed=1K5" }) {
		INFO(bad);
		std::string err;
		CHECK(parse_rules(std::string("read;") + bad, &rs, &err) ==
		      -EINVAL);
		CHECK(err.rfind(std::string("bad fault rule '") + bad + "': ",
				0) == 0);
		CHECK(err.find('\n') == std::string::npos);
	}
	CHECK(parse_rules("write:next", &rs, nullptr) == -EINVAL);
}

TEST_CASE("fault rules: numbers", "[fault][rules]")
{
	uint64_t v = 0;
	CHECK((parse_number("0", &v) && v == 0));
	CHECK((parse_number("4096", &v) && v == 4096));
	CHECK((parse_number("8K", &v) && v == 8192));
	CHECK((parse_number("64m", &v) && v == 64ULL << 20));
	CHECK((parse_number("2G", &v) && v == 2ULL << 30));
	CHECK((parse_number("0x10000", &v) && v == 0x10000));
	CHECK((parse_number("18446744073709551615", &v) && v == UINT64_MAX));
	for (const char *bad : { "", "K", "-1", "1.5", "0x", "0x1K", "1KK",
				 "18446744073709551616", "17179869184G" }) {
		INFO(bad);
		CHECK_FALSE(parse_number(bad, &v));
	}
}

TEST_CASE("fault rules: a rule set replaces the rules at once, or not at all",
	  "[fault][rules]")
{
	struct Rule {
		std::string what;
	};
	RuleSet<Rule> set;
	auto make = [](const RuleText &t, Rule *r, std::string *err) {
		if (t.what == "bad")
			return zufs::fault::bad_rule(t.text, "no", err);
		r->what = std::string(t.what);
		return 0;
	};
	std::string err;
	CHECK_FALSE(set.active());
	REQUIRE(set.set("a;b", make, &err) == 0);
	REQUIRE(set.current());
	CHECK(set.current()->size() == 2);
	CHECK((*set.current())[1]->what == "b");
	auto *before = set.current();
	CHECK(set.set("c;bad", make, &err) == -EINVAL);
	CHECK(err == "bad fault rule 'bad': no");
	CHECK(set.current() == before); // unchanged
	REQUIRE(set.set("", make, &err) == 0);
	CHECK_FALSE(set.active());
	CHECK(set.current() == nullptr);
}
