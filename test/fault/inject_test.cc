// SPDX-License-Identifier: BSD-3-Clause
// Fault injection (src/fault/inject.h): the rule language, and injected
// faults taking the same road as real ones (a SIGBUS caught by the guard).
#include <sys/mman.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>
#include <string>

#include "fault/guard.h"
#include "fault/inject.h"

using zufs::fault::Access;
using zufs::fault::guarded;
using zufs::fault::set_rules;
using zufs::fault::should_fail;

namespace {

struct Rules {
	explicit Rules(const char *spec)
	{
		std::string err;
		REQUIRE(set_rules(spec, &err) == 0);
	}
	~Rules()
	{
		std::string err;
		set_rules("", &err);
	}
};

int fails(Access a, int n, uint64_t off = 0, uint64_t len = 4096)
{
	int f = 0;
	for (int i = 0; i < n; ++i)
		f += should_fail(a, off, len);
	return f;
}

} // namespace

TEST_CASE("fault rules parse, and bad ones say why", "[fault][inject]")
{
	std::string err;
	CHECK(set_rules("write:next=1;read:after=3,next=2;any:prob=0.5,seed=9;"
			"meta:at=0x10000+8K;read:at=64M",
			&err) == 0);
	for (const char *bad :
	     { "bogus", "write:next", "write:next=x", "read:prob=2",
	       "any:at=5+0", "write:color=red", "read:after=-1" }) {
		INFO(bad);
		CHECK(set_rules(bad, &err) == -EINVAL);
		CHECK(err.find("bad fault rule") != std::string::npos);
	}
	CHECK(set_rules("", &err) == 0);
	CHECK(!zufs::fault::rules_active());

	setenv("ZUFUSE_FAULT_TEST", "write:nxt=1", 1);
	CHECK(zufs::fault::set_rules_from_env("ZUFUSE_FAULT_TEST", &err) ==
	      -EINVAL);
	CHECK(err.rfind("ZUFUSE_FAULT_TEST: bad fault rule 'write:nxt=1'", 0) ==
	      0);
	unsetenv("ZUFUSE_FAULT_TEST");
	CHECK(zufs::fault::set_rules_from_env("ZUFUSE_FAULT_TEST", &err) == 0);
}

TEST_CASE("after, next, prob and at select the accesses that fail",
	  "[fault][inject]")
{
	{
		Rules r("write:after=2,next=3");
		CHECK(fails(Access::kRead, 10) == 0);
		CHECK(fails(Access::kMeta, 10) == 0);
		CHECK(fails(Access::kWrite, 2) == 0);
		CHECK(fails(Access::kWrite, 10) == 3);
	}
	{
		Rules r("read:at=1M+8K"); // a bad range: every access to it fails
		CHECK(fails(Access::kRead, 5, 1 << 20, 1) == 5);
		CHECK(fails(Access::kRead, 5, (1 << 20) - 4096, 4097) == 5);
		CHECK(fails(Access::kRead, 5, (1 << 20) - 4096, 4096) == 0);
		CHECK(fails(Access::kRead, 5, (1 << 20) + 8192, 4096) == 0);
		CHECK(fails(Access::kWrite, 5, 1 << 20, 1) == 0);
	}
	int first;
	{
		Rules r("any:prob=0.25,seed=7");
		first = fails(Access::kWrite, 4000);
		CHECK(first > 800);
		CHECK(first < 1200);
	}
	{
		Rules r("any:prob=0.25,seed=7"); // the same seed, the same faults
		CHECK(fails(Access::kRead, 4000) == first);
	}
	{
		Rules r("meta:prob=1,next=2");
		CHECK(fails(Access::kMeta, 5) == 2);
	}
}

TEST_CASE("an injected fault is a SIGBUS caught by the guard",
	  "[fault][inject]")
{
	const size_t len = 4 * 4096;
	int fd = memfd_create("inject_test", MFD_CLOEXEC);
	REQUIRE(fd >= 0);
	REQUIRE(ftruncate(fd, off_t(len)) == 0);
	char *base = static_cast<char *>(
		mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
	REQUIRE(base != MAP_FAILED);
	zufs::fault::register_mapping(base, len, fd, 4096, "memfd");

	const uint64_t caught = zufs::fault::caught_count();
	const uint64_t injected = zufs::fault::injected_count();
	{
		Rules r("write:next=1;read:at=0x2000+1");
		char buf[64] = {};
		bool ran = false;
		CHECK(guarded(Access::kWrite, base + 100, 10, "w",
			      [&] { ran = true; }) == -EIO);
		CHECK(!ran); // it failed at the first byte, as a poisoned page would
		CHECK(guarded(Access::kWrite, base + 100, 10, "w",
			      [&] { memset(base + 100, 1, 10); }) == 0);
		CHECK(guarded(Access::kRead, base + 0x2000, 64, "r",
			      [&] { memcpy(buf, base + 0x2000, 64); }) == -EIO);
		CHECK(guarded(Access::kRead, base + 0x3000, 64, "r",
			      [&] { memcpy(buf, base + 0x3000, 64); }) == 0);
		// Outside a registered mapping no rule applies.
		char local[8];
		CHECK(guarded(Access::kRead, local, 8, "r",
			      [&] { memset(local, 0, 8); }) == 0);
	}
	CHECK(zufs::fault::caught_count() == caught + 2);
	CHECK(zufs::fault::injected_count() == injected + 2);
	zufs::fault::unregister_mapping(base);
	munmap(base, len);
	close(fd);
}
