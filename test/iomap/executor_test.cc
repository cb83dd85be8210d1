// SPDX-License-Identifier: BSD-3-Clause
#include "iomap/executor.h"

#include <catch2/catch.hpp>

#include <thread>

#include "fixture.h"

using iomap_test::Env;
using iomap_test::Iomap;
using iomap_test::Unmap;
using zufs::iom_t1_app_page;
using zufs::iom_t1_pool;

static std::string page_of(int byte) { return std::string(4096, char(byte)); }
static std::string mem(const char *p) { return std::string(p, 4096); }

static int run(Iomap &m, const iomap::ExecEnv &env)
{
	return iomap::execute(m.e(), m.n(), env);
}

TEST_CASE("T2 write then T2 read through pool 0 (IOM_T2_WRITE/READ)")
{
	Env t;
	Iomap m;
	auto b = m.b();
	REQUIRE(b.t2_write(3, iom_t1_pool(5 * 4096)) == 0);
	REQUIRE(run(m, t.env()) == 0);
	CHECK(t.t2_block(3) == page_of(0x15));

	Iomap r;
	REQUIRE(r.b().t2_read(3, iom_t1_pool(9 * 4096)) == 0);
	REQUIRE(run(r, t.env()) == 0);
	CHECK(mem(t.pmem_page(9)) == page_of(0x15));
	CHECK(t.unmapper.taken().empty());
}

TEST_CASE("T2 LEN ops move runs of pool and request pages")
{
	Env t;
	Iomap m;
	auto b = m.b();
	REQUIRE(b.t2_write_len(10, iom_t1_pool(2 * 4096), 3) == 0); // pmem 2..4
	REQUIRE(b.t2_write_len(20, iom_t1_app_page(1), 3) == 0);    // app 1..3
	REQUIRE(b.t2_write_len(30, iom_t1_pool(4096, 1), 2) == 0); // zusmem 1,2
	REQUIRE(run(m, t.env()) == 0);
	for (int k = 0; k < 3; k++) {
		CHECK(t.t2_block(10 + k) == page_of(0x12 + k));
		CHECK(t.t2_block(20 + k) == page_of(0xc1 + k));
	}
	CHECK(t.t2_block(30) == page_of(0x81));
	CHECK(t.t2_block(31) == page_of(0x82));

	// Read back: T2 10..12 into app 0..2 (an inline IOM_T2_READ answer)
	Iomap r;
	REQUIRE(r.b().t2_read_len(10, iom_t1_app_page(0), 3) == 0);
	REQUIRE(r.b().t2_read_len(20, iom_t1_pool(40 * 4096), 3) == 0);
	REQUIRE(run(r, t.env()) == 0);
	for (int k = 0; k < 3; k++) {
		CHECK(mem(t.app_page(k)) == page_of(0x12 + k));
		CHECK(mem(t.pmem_page(40 + k)) == page_of(0xc1 + k));
	}
	CHECK(mem(t.app_page(3)) == page_of(0xc3));
}

TEST_CASE("ZUSMEM ops move registered memory, pool 0 included")
{
	Env t;
	Iomap m;
	auto b = m.b();
	REQUIRE(b.t2_zusmem_write(50, t.zusmem_page(3), 2 * 4096) == 0);
	REQUIRE(b.t2_zusmem_write(60, t.pmem_page(7), 100) == 0); // 1 page
	REQUIRE(run(m, t.env()) == 0);
	CHECK(t.t2_block(50) == page_of(0x83));
	CHECK(t.t2_block(51) == page_of(0x84));
	CHECK(t.t2_block(60) == page_of(0x17));

	Iomap r;
	REQUIRE(r.b().t2_zusmem_read(50, t.zusmem_page(10), 8192) == 0);
	REQUIRE(r.b().t2_zusmem_read(60, t.pmem_page(30), 4096) == 0);
	REQUIRE(run(r, t.env()) == 0);
	CHECK(mem(t.zusmem_page(10)) == page_of(0x83));
	CHECK(mem(t.zusmem_page(11)) == page_of(0x84));
	CHECK(mem(t.pmem_page(30)) == page_of(0x17));
}

TEST_CASE("T1 ops copy between request page k and a pool block")
{
	Env t;
	Iomap m;
	auto b = m.b();
	REQUIRE(b.t1_read(zu_enc_dpp_t_bn(5, 0)) == 0);	 // app0 <- pmem5
	REQUIRE(b.t1_read(0) == 0);			 // app1 <- hole
	REQUIRE(b.t1_write(zu_enc_dpp_t_bn(9, 0)) == 0); // app2 -> pmem9
	REQUIRE(b.t1_read(zu_enc_dpp_t_bn(2, 1)) == 0);	 // app3 <- zusmem2
	REQUIRE(run(m, iomap::ExecEnv{ t.pools, t.app_ptrs, Env::kIno,
				       &t.unmapper, nullptr }) == 0);
	CHECK(mem(t.app_page(0)) == page_of(0x15));
	CHECK(mem(t.app_page(1)) == page_of(0));
	CHECK(mem(t.pmem_page(9)) == page_of(0xc2));
	CHECK(mem(t.app_page(3)) == page_of(0x82));
}

TEST_CASE("IOM_UNMAP reports ranges; ino 0 is the request's inode")
{
	Env t;
	Iomap m;
	auto b = m.b();
	REQUIRE(b.unmap(2, 3) == 0);	  // request inode
	REQUIRE(b.unmap(4, 0) == 0);	  // to EOF
	REQUIRE(b.unmap(0, 1, 7) == 0);	  // another inode
	REQUIRE(b.unmap(5, 9, 999) == 0); // unknown inode: no-op
	REQUIRE(b.unmap(11, 0) == 0);	  // to EOF from EOF: allowed
	REQUIRE(run(m, t.env()) == 0);
	CHECK(t.unmapper.taken() == std::vector<Unmap>{ { Env::kIno, 2, 3 },
							{ Env::kIno, 4, 0 },
							{ 7, 0, 1 },
							{ Env::kIno, 11, 0 } });
}

TEST_CASE("IOM_NONE ends the iomap; nothing after it is read")
{
	Env t;
	Iomap m;
	auto b = m.b();
	REQUIRE(b.unmap(1, 1) == 0);
	REQUIRE(b.terminate() == 0);
	m.e()[m.n()] = ~0ULL; // garbage after the terminator
	m.ziom()->iom_n++;
	REQUIRE(run(m, t.env()) == 0);
	CHECK(t.unmapper.taken() == std::vector<Unmap>{ { Env::kIno, 1, 1 } });
	CHECK(iomap::execute((const uint64_t *)nullptr, 0, t.env()) == 0);
}

TEST_CASE("all op types in one iomap: T2 first, then T1, then unmaps")
{
	Env t;
	t.write_t2_block(70, 0x5a);
	Iomap m;
	auto b = m.b();
	REQUIRE(b.unmap(0, 2) == 0);
	REQUIRE(b.t2_read(70, iom_t1_app_page(3)) == 0);
	REQUIRE(b.t1_read(zu_enc_dpp_t_bn(1, 0)) == 0); // app0 <- pmem1
	REQUIRE(b.t2_write(71, iom_t1_pool(6 * 4096)) == 0);
	REQUIRE(b.t2_write_len(72, iom_t1_pool(0, 1), 1) == 0);
	REQUIRE(b.t2_read_len(70, iom_t1_pool(20 * 4096), 1) == 0);
	REQUIRE(b.t2_zusmem_write(73, t.zusmem_page(5), 4096) == 0);
	REQUIRE(b.t2_zusmem_read(70, t.zusmem_page(6), 4096) == 0);
	REQUIRE(b.t1_write(zu_enc_dpp_t_bn(50, 0)) == 0); // app1 -> pmem50
	REQUIRE(b.terminate() == 0);
	REQUIRE(run(m, t.env()) == 0);
	CHECK(mem(t.app_page(3)) == page_of(0x5a));
	CHECK(mem(t.app_page(0)) == page_of(0x11));
	CHECK(t.t2_block(71) == page_of(0x16));
	CHECK(t.t2_block(72) == page_of(0x80));
	CHECK(mem(t.pmem_page(20)) == page_of(0x5a));
	CHECK(t.t2_block(73) == page_of(0x85));
	CHECK(mem(t.zusmem_page(6)) == page_of(0x5a));
	CHECK(mem(t.pmem_page(50)) == page_of(0xc1));
	CHECK(t.unmapper.taken() == std::vector<Unmap>{ { Env::kIno, 0, 2 } });
	auto st = t.t2->stats();
	CHECK(st.pages_read == 3);
	CHECK(st.pages_written == 3);
	CHECK(st.errors == 0);
}

TEST_CASE("many threads execute at once")
{
	Env t;
	std::vector<std::thread> th;
	std::atomic<int> bad{ 0 };
	for (int w = 0; w < 4; w++) {
		th.emplace_back([&, w] {
			for (int i = 0; i < 200; i++) {
				// Ops of one iomap run concurrently: the
				// write and the read are two iomaps.
				Iomap m, r;
				uint64_t bn = 100 + w * 10 + i % 10;
				m.b().t2_write(bn, iom_t1_pool(w * 4096));
				m.b().unmap(0, 1);
				r.b().t2_read(bn, iom_t1_pool((10 + w) * 4096));
				if (run(m, t.env()) != 0 ||
				    run(r, t.env()) != 0)
					bad++;
			}
		});
	}
	for (auto &x : th)
		x.join();
	CHECK(bad == 0);
	CHECK(t.unmapper.taken().size() == 800);
	for (int w = 0; w < 4; w++)
		CHECK(mem(t.pmem_page(10 + w)) == page_of(0x10 + w));
}
