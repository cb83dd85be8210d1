// SPDX-License-Identifier: BSD-3-Clause
//
// t2_fault.h: the rule language, and each kind of injected fault as the
// T2Device's users see it (sync and async batches): an error moves
// nothing, a short transfer moves half and fails, a stall delays and
// succeeds; the device works again once the rules are cleared.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <future>
#include <memory>

#include "iomap/t2.h"
#include "iomap/t2_fault.h"

namespace {

struct FreeMem {
	void operator()(char *p) const { free(p); }
};
using Mem = std::unique_ptr<char, FreeMem>;

Mem pages(size_t n, int fill)
{
	Mem m(static_cast<char *>(aligned_alloc(4096, n * 4096)));
	std::memset(m.get(), fill, n * 4096);
	return m;
}

struct Dev {
	std::string path = "/dev/shm/zufs-t2fault-" + std::to_string(getpid());
	std::unique_ptr<iomap::T2Device> t2;
	Dev() { REQUIRE(iomap::T2Device::open(path, 1 << 20, &t2) == 0); }
	~Dev()
	{
		std::string e;
		iomap::set_t2_faults("", &e);
		t2.reset();
		unlink(path.c_str());
	}
	// n consecutive blocks from bn, one run.
	int rw(uint64_t bn, char *mem, size_t n, bool write)
	{
		std::vector<iomap::T2Page> p;
		for (size_t i = 0; i < n; ++i)
			p.push_back({ bn + i, mem + i * 4096, write });
		return t2->rw(p);
	}
	int rw_async(uint64_t bn, char *mem, size_t n, bool write)
	{
		std::vector<iomap::T2Page> p;
		for (size_t i = 0; i < n; ++i)
			p.push_back({ bn + i, mem + i * 4096, write });
		std::promise<int> done;
		REQUIRE(t2->rw_async(std::move(p),
				     [&](int r) { done.set_value(r); }) == 0);
		return done.get_future().get();
	}
};

bool filled(const char *p, size_t n, int c)
{
	for (size_t i = 0; i < n; ++i)
		if (p[i] != char(c))
			return false;
	return true;
}

} // namespace

TEST_CASE("t2 faults: the rule language", "[t2][fault]")
{
	std::string err;
	for (const char *ok :
	     { "", "read", "write:next=1", "any:short,after=2,next=3",
	       "read:stall=10", "any:prob=0.5,seed=3;write:error" }) {
		INFO(ok);
		CHECK(iomap::set_t2_faults(ok, &err) == 0);
	}
	for (const char *bad :
	     { "reed", "read:next", "read:next=x", "any:prob=2", "write:stall",
	       "any:bogus=1", "read:short=1" }) {
		INFO(bad);
		err.clear();
		CHECK(iomap::set_t2_faults(bad, &err) == -EINVAL);
		CHECK_FALSE(err.empty());
	}
	CHECK(iomap::set_t2_faults("", &err) == 0);
}

TEST_CASE("t2 faults: error, short and stall as the device's users see them",
	  "[t2][fault]")
{
	Dev d;
	std::string err;
	auto data = pages(8, 0x5a);
	REQUIRE(d.rw(16, data.get(), 8, true) == 0);
	const auto before = iomap::t2_fault_counts();

	SECTION("error: the read fails, nothing moves; then the device works")
	{
		REQUIRE(iomap::set_t2_faults("read:next=1", &err) == 0);
		auto back = pages(8, 0);
		CHECK(d.rw(16, back.get(), 8, false) == -EIO);
		CHECK(filled(back.get(), 8 * 4096, 0));
		CHECK(d.rw(16, back.get(), 8, false) == 0); // next=1: once
		CHECK(filled(back.get(), 8 * 4096, 0x5a));
		CHECK(iomap::t2_fault_counts().error == before.error + 1);
	}
	SECTION("error: async writes fail, after=N lets N pass")
	{
		REQUIRE(iomap::set_t2_faults("write:after=1,next=1", &err) ==
			0);
		auto other = pages(8, 0x33);
		CHECK(d.rw_async(100, other.get(), 8, true) == 0);
		CHECK(d.rw_async(200, other.get(), 8, true) == -EIO);
		CHECK(d.rw_async(300, other.get(), 8, true) == 0);
		CHECK(d.t2->stats().errors >= 1);
	}
	SECTION("short: half the run moves, the batch fails")
	{
		REQUIRE(iomap::set_t2_faults("read:short,next=1", &err) == 0);
		auto back = pages(8, 0);
		CHECK(d.rw(16, back.get(), 8, false) == -EIO);
		CHECK(filled(back.get(), 4 * 4096, 0x5a));
		CHECK(filled(back.get() + 4 * 4096, 4 * 4096, 0));
		CHECK(iomap::t2_fault_counts().short_ == before.short_ + 1);
		REQUIRE(iomap::set_t2_faults("read:short,next=1", &err) == 0);
		CHECK(d.rw_async(16, back.get(), 8, false) == -EIO);
	}
	SECTION("stall: late, but right")
	{
		REQUIRE(iomap::set_t2_faults("any:stall=300,next=2", &err) ==
			0);
		auto back = pages(8, 0);
		auto t0 = std::chrono::steady_clock::now();
		CHECK(d.rw(16, back.get(), 8, false) == 0);
		CHECK(d.rw_async(16, back.get(), 8, false) == 0);
		auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
				  std::chrono::steady_clock::now() - t0)
				  .count();
		CHECK(ms >= 600);
		CHECK(filled(back.get(), 8 * 4096, 0x5a));
		CHECK(iomap::t2_fault_counts().stall == before.stall + 2);
	}
	SECTION("prob with a seed hits the same transfers")
	{
		auto run = [&] {
			REQUIRE(iomap::set_t2_faults("read:prob=0.5,seed=9",
						     &err) == 0);
			std::string pattern;
			auto back = pages(1, 0);
			for (int i = 0; i < 32; ++i)
				pattern += d.rw(16, back.get(), 1, false) ?
						   'x' :
						   '.';
			return pattern;
		};
		std::string a = run(), b = run();
		CHECK(a == b);
		CHECK(a.find('x') != std::string::npos);
		CHECK(a.find('.') != std::string::npos);
	}
}

TEST_CASE("t2 faults: a bad ZUFUSE_FAULT_T2 refuses the T2 in one line",
	  "[t2][fault]")
{
	std::string path =
		"/dev/shm/zufs-t2fault-env-" + std::to_string(getpid());
	setenv(iomap::kT2FaultEnv, "read:nexxt=1", 1);
	std::unique_ptr<iomap::T2Device> t2;
	std::string msg;
	CHECK(iomap::T2Device::open(path, 1 << 20, &t2, &msg) == -EINVAL);
	CHECK(msg.find("ZUFUSE_FAULT_T2") != std::string::npos);
	CHECK(msg.find('\n') == std::string::npos);
	unsetenv(iomap::kT2FaultEnv);
	unlink(path.c_str());
}
