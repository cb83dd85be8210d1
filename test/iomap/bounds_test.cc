// SPDX-License-Identifier: BSD-3-Clause
//
// One test per bounds rule of the executor: each malformed iomap starts
// with valid ops (a T2 write, a T1 copy, an unmap) and must give -EIO with
// nothing executed: no byte of T2, pools or request pages changed, no
// unmap reported.
#include "iomap/executor.h"

#include <catch2/catch.hpp>

#include <functional>

#include "fixture.h"

using iomap_test::Env;
using iomap_test::Iomap;
using zufs::iom_t1_app_page;
using zufs::iom_t1_pool;

// Builds valid ops, then `bad`, and checks the executor refuses all of it.
using Bad = std::function<void(zufs::IomBuilder &, Env &, Iomap &)>;
using Tweak = std::function<void(iomap::ExecEnv &)>;

// `why` is a piece of the expected refusal reason: the iomap must be
// refused by the rule under test, not by something else.
static void refused(const char *why, const Bad &bad, const Tweak &tweak = {},
		    Iomap *raw = nullptr)
{
	Env t;
	Iomap own(128);
	Iomap &m = raw ? *raw : own;
	if (!raw) {
		auto b = m.b();
		REQUIRE(b.t2_write(1, iom_t1_pool(4096)) == 0);
		REQUIRE(b.t1_read(zu_enc_dpp_t_bn(3, 0)) == 0);
		REQUIRE(b.unmap(0, 1) == 0);
		bad(b, t, m);
	}
	iomap::ExecEnv env = t.env();
	if (tweak)
		tweak(env);
	std::string before = t.snapshot();
	CHECK(iomap::validate(m.e(), m.n(), env) == -EIO);
	INFO("refusal: " << iomap::last_refusal());
	CHECK(std::string(iomap::last_refusal()).find(why) !=
	      std::string::npos);
	CHECK(iomap::execute(m.e(), m.n(), env) == -EIO);
	if (env.t2) {
		bool called = false;
		CHECK(iomap::execute_async(m.e(), m.n(), env, [&](int) {
			      called = true;
		      }) == -EIO);
		t.t2.reset(); // drains the completion thread
		CHECK(!called);
	}
	CHECK((t.snapshot() == before));
	CHECK(t.unmapper.taken().empty());
}

static void put_raw(Iomap &m, std::initializer_list<uint64_t> v)
{
	for (uint64_t x : v)
		m.e()[m.ziom()->iom_n++] = x;
}

static uint64_t op(unsigned type, uint64_t val)
{
	return (uint64_t(type) << 56) | val;
}

TEST_CASE("the valid prefix alone executes (control)")
{
	Env t;
	Iomap m;
	auto b = m.b();
	REQUIRE(b.t2_write(1, iom_t1_pool(4096)) == 0);
	REQUIRE(b.t1_read(zu_enc_dpp_t_bn(3, 0)) == 0);
	REQUIRE(b.unmap(0, 1) == 0);
	REQUIRE(iomap::execute(m.e(), m.n(), t.env()) == 0);
	CHECK(t.t2_block(1) == std::string(4096, char(0x11)));
	CHECK(t.unmapper.taken().size() == 1);
}

TEST_CASE("bounds: iom_n larger than the executor's maximum")
{
	std::vector<uint64_t> big(iomap::kMaxIomEntries + 1, 0);
	Env t;
	CHECK(iomap::execute(big.data(), iomap::kMaxIomEntries + 1, t.env()) ==
	      -EIO);
	CHECK(iomap::execute(big.data(), iomap::kMaxIomEntries, t.env()) == 0);
	CHECK(iomap::execute((const uint64_t *)nullptr, 3, t.env()) == -EIO);
}

TEST_CASE("bounds: an op that runs past iom_n")
{
	Iomap m(128);
	auto b = m.b();
	REQUIRE(b.unmap(0, 1) == 0);
	REQUIRE(b.t2_write_len(1, iom_t1_pool(0), 1) == 0);
	m.ziom()->iom_n -= 1; // cut the last op in half
	refused("overruns iom_n", {}, {}, &m);
}

TEST_CASE("bounds: unknown op types")
{
	for (unsigned type : { 10u, 11u, 0x7fu, 0xffu }) {
		refused("unknown op type",
			[&](zufs::IomBuilder &, Env &, Iomap &m) {
			put_raw(m, { op(type, 1), 0, 0 });
		});
		Iomap raw(16);
		raw.b().unmap(0, 1);
		raw.e()[raw.ziom()->iom_n++] = op(type, 0);
		refused("unknown op type", {}, {}, &raw);
	}
}

TEST_CASE("bounds: T2 block outside the device")
{
	refused("outside the device", [](zufs::IomBuilder &b, Env &, Iomap &) {
		b.t2_read(Env::kT2Blocks, iom_t1_pool(0));
	});
	refused("outside the device", [](zufs::IomBuilder &b, Env &, Iomap &) {
		b.t2_write_len(Env::kT2Blocks - 1, iom_t1_pool(0), 2);
	});
	refused("outside the device", [](zufs::IomBuilder &b, Env &, Iomap &) {
		b.t2_read_len((1ULL << 56) - 1, iom_t1_pool(0), 2); // wraps
	});
	refused("outside the device", [](zufs::IomBuilder &b, Env &t, Iomap &) {
		b.t2_zusmem_write(Env::kT2Blocks - 1, t.zusmem_page(0), 8192);
	});
}

TEST_CASE("bounds: T2 op without a T2 device")
{
	refused(
		"no T2 device",
		[](zufs::IomBuilder &b, Env &, Iomap &) {
		b.t2_read(2, iom_t1_pool(0));
		},
		[](iomap::ExecEnv &e) { e.t2 = nullptr; });
}

TEST_CASE("bounds: zero-length and too-long ops")
{
	refused("zero-length", [](zufs::IomBuilder &b, Env &, Iomap &) {
		b.t2_read_len(2, iom_t1_pool(0), 0);
	});
	refused("zero-length", [](zufs::IomBuilder &b, Env &t, Iomap &) {
		b.t2_zusmem_read(2, t.zusmem_page(0), 0);
	});
	refused("more than", [](zufs::IomBuilder &b, Env &, Iomap &) {
		b.t2_read_len(0, iom_t1_pool(0), iomap::kMaxIomPages + 1);
	});
	refused("more than", [](zufs::IomBuilder &b, Env &, Iomap &) {
		b.t2_read_len(0, iom_t1_pool(0), ~0ULL);
	});
}

TEST_CASE("bounds: t1 (zu_dpp_t) outside its pool")
{
	// past the end of pmem
	refused("outside its pool", [](zufs::IomBuilder &b, Env &, Iomap &) {
		b.t2_read(2, iom_t1_pool(Env::kPmemPages * 4096));
	});
	refused("outside its pool", [](zufs::IomBuilder &b, Env &, Iomap &) {
		b.t2_read_len(2, iom_t1_pool((Env::kPmemPages - 1) * 4096), 2);
	});
	// not page aligned
	refused("outside its pool", [](zufs::IomBuilder &b, Env &, Iomap &) {
		b.t2_read(2, iom_t1_pool(512));
	});
	// an unregistered pool
	refused("outside its pool", [](zufs::IomBuilder &b, Env &, Iomap &) {
		b.t2_read(2, iom_t1_pool(0, 3));
	});
	// n pages run past the pool
	refused("outside its pool", [](zufs::IomBuilder &b, Env &, Iomap &) {
		b.t2_read_len(2, iom_t1_pool(4096), Env::kPmemPages);
	});
}

TEST_CASE("bounds: request page index outside the request")
{
	refused("outside the request", [](zufs::IomBuilder &b, Env &, Iomap &) {
		b.t2_read(2, iom_t1_app_page(Env::kAppPages));
	});
	refused("outside the request", [](zufs::IomBuilder &b, Env &, Iomap &) {
		b.t2_read_len(2, iom_t1_app_page(2), 3);
	});
	refused("outside the request", [](zufs::IomBuilder &b, Env &, Iomap &) {
		b.t2_read_len(2, iom_t1_app_page(~0ULL >> 3), 2);
	});
	// a request with no pages at all (no valid prefix: its T1 op needs one)
	Iomap raw;
	raw.b().t2_read(2, iom_t1_app_page(0));
	refused(
		"outside the request", {},
		[](iomap::ExecEnv &e) { e.app_pages = {}; }, &raw);
}

TEST_CASE("bounds: ZUSMEM outside registered memory")
{
	static char stack_page[8192] __attribute__((aligned(4096)));
	refused("outside registered memory",
		[](zufs::IomBuilder &b, Env &, Iomap &) {
		b.t2_zusmem_read(2, stack_page, 4096);
	});
	// unaligned pointer
	refused("outside registered memory",
		[](zufs::IomBuilder &b, Env &t, Iomap &) {
		b.t2_zusmem_read(2, t.zusmem_page(0) + 8, 4096);
	});
	// crosses the end of the pool
	refused("outside registered memory",
		[](zufs::IomBuilder &b, Env &t, Iomap &) {
		b.t2_zusmem_write(2, t.zusmem_page(Env::kZusmemPages - 1),
				  4097);
	});
	// a pool that is not registered (size 0)
	refused(
		"outside registered memory",
		[](zufs::IomBuilder &b, Env &t, Iomap &) {
		b.t2_zusmem_write(2, t.zusmem_page(0), 4096);
		},
		[](iomap::ExecEnv &e) { e.pools = e.pools.first(1); });
	// pointer near the top of the address space
	refused("outside registered memory",
		[](zufs::IomBuilder &b, Env &, Iomap &) {
		b.t2_zusmem_read(2, reinterpret_cast<void *>(~0xfffULL), 8192);
	});
}

TEST_CASE("bounds: T1 ops")
{
	// more T1 ops than request pages (the valid prefix has one)
	refused("has no request page", [](zufs::IomBuilder &b, Env &, Iomap &) {
		for (size_t i = 0; i < Env::kAppPages; i++)
			b.t1_read(zu_enc_dpp_t_bn(4, 0));
	});
	// block outside the pool
	refused("outside its pool", [](zufs::IomBuilder &b, Env &, Iomap &) {
		b.t1_read(zu_enc_dpp_t_bn(Env::kPmemPages, 0));
	});
	// writing to a hole (block 0 of pool 0)
	refused("T1 write to a hole",
		[](zufs::IomBuilder &b, Env &, Iomap &) { b.t1_write(0); });
	// pool 7 (request pages) is not a T1 block
	refused("outside its pool", [](zufs::IomBuilder &b, Env &, Iomap &) {
		b.t1_read(zu_enc_dpp_t_bn(0, ZUFS_APP_POOL));
	});
	refused("outside its pool", [](zufs::IomBuilder &b, Env &, Iomap &) {
		b.t1_read(zu_enc_dpp_t_bn(1, 5));
	});
}

TEST_CASE("bounds: unmap outside the file")
{
	// file of kIno has 11 pages
	refused("past EOF",
		[](zufs::IomBuilder &b, Env &, Iomap &) { b.unmap(10, 2); });
	refused("past EOF",
		[](zufs::IomBuilder &b, Env &, Iomap &) { b.unmap(12, 0); });
	refused("past EOF", [](zufs::IomBuilder &b, Env &, Iomap &) {
		b.unmap(~0ULL >> 8, ~0ULL);
	});
	refused("past EOF", [](zufs::IomBuilder &b, Env &, Iomap &) {
		b.unmap(1, 1, 7);
	}); // 1 page
}

TEST_CASE("bounds: unmap without an inode or an unmapper")
{
	refused(
		"without a request inode",
		[](zufs::IomBuilder &b, Env &, Iomap &) { b.unmap(0, 1); },
		[](iomap::ExecEnv &e) { e.ino = 0; });
	Env t;
	Iomap m;
	m.b().unmap(0, 1);
	iomap::ExecEnv env = t.env();
	env.unmapper = nullptr;
	CHECK(iomap::execute(m.e(), m.n(), env) == -EIO);
}
