// SPDX-License-Identifier: BSD-3-Clause
//
// Hidden benchmark (not run by meson test; never asserted):
//   build-*/test/iomap/iomap_test "[.bench]"
// Prints what the executor and the T2 device cost on this machine: a
// 4 MiB T2 read into request pages vs the same bytes copied from T1 pages,
// a 4 KiB T2 read, and an unmap-only iomap (the WRITE hot path).
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>

#include "fixture.h"

using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0)
{
	return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Target {
	const char *name;
	std::string path;
};

void bench_t2(const Target &tg)
{
	constexpr uint64_t kPages = ZUS_API_MAP_MAX_PAGES; // 4 MiB
	constexpr uint64_t kBlocks = 16 * kPages;	   // 64 MiB
	::unlink(tg.path.c_str());
	std::unique_ptr<iomap::T2Device> t2;
	std::string msg;
	REQUIRE(iomap::T2Device::open(tg.path, kBlocks * 4096, &t2, &msg) == 0);
	::unlink(tg.path.c_str());

	auto app = iomap_test::alloc_pages(kPages);
	std::vector<void *> ptrs(kPages);
	for (uint64_t i = 0; i < kPages; i++)
		ptrs[i] = app.get() + i * 4096;
	iomap_test::FakeUnmapper um;
	iomap::ExecEnv env;
	env.app_pages = ptrs;
	env.ino = 1;
	env.unmapper = &um;
	env.t2 = t2.get();

	// Fill T2 with 4 MiB writes, then read it back in 4 MiB iomaps.
	iomap_test::Iomap m(8);
	auto t0 = Clock::now();
	for (uint64_t bn = 0; bn < kBlocks; bn += kPages) {
		m.ziom()->iom_n = 0;
		m.b().t2_write_len(bn, zufs::iom_t1_app_page(0), kPages);
		REQUIRE(iomap::execute(m.e(), m.n(), env) == 0);
	}
	double wsec = seconds_since(t0);
	int reps = 0;
	t0 = Clock::now();
	while (seconds_since(t0) < 1.0) {
		for (uint64_t bn = 0; bn < kBlocks; bn += kPages) {
			m.ziom()->iom_n = 0;
			m.b().t2_read_len(bn, zufs::iom_t1_app_page(0), kPages);
			REQUIRE(iomap::execute(m.e(), m.n(), env) == 0);
		}
		reps++;
	}
	double rsec = seconds_since(t0);
	double mib = double(kBlocks) * 4096 / (1 << 20);

	// 4 KiB reads, one iomap each: the latency of one T2 round trip.
	int n4k = 0;
	t0 = Clock::now();
	while (seconds_since(t0) < 0.5) {
		m.ziom()->iom_n = 0;
		m.b().t2_read((n4k * 7919) % kBlocks, zufs::iom_t1_app_page(0));
		REQUIRE(iomap::execute(m.e(), m.n(), env) == 0);
		n4k++;
	}
	double lat = seconds_since(t0) / n4k * 1e6;
	printf("t2 %-22s direct=%d  write %.0f MiB/s  read %.0f MiB/s  "
	       "4K read %.1f us/iomap\n",
	       tg.name, t2->direct(), mib / wsec, reps * mib / rsec, lat);
}

} // namespace

TEST_CASE("iomap bench", "[.bench]")
{
	std::string pid = std::to_string(getpid());
	bench_t2({ "tmpfs (/dev/shm)", "/dev/shm/zufuse-iomap-bench-" + pid });
	bench_t2({ "ext4 (/var/tmp)", "/var/tmp/zufuse-iomap-bench-" + pid });

	// T1 reference: the same 4 MiB copied page by page (what T1_READ
	// does), from "pmem" pages into request pages.
	constexpr size_t kPages = ZUS_API_MAP_MAX_PAGES;
	auto src = iomap_test::alloc_pages(kPages);
	auto dst = iomap_test::alloc_pages(kPages);
	std::memset(src.get(), 1, kPages * 4096);
	int reps = 0;
	auto t0 = Clock::now();
	while (seconds_since(t0) < 0.5) {
		for (size_t i = 0; i < kPages; i++)
			std::memcpy(dst.get() + i * 4096, src.get() + i * 4096,
				    4096);
		reps++;
	}
	printf("t1 page copies            %.0f MiB/s\n",
	       reps * 4.0 / seconds_since(t0));

	// The WRITE hot path: an iomap with one unmap.
	iomap_test::FakeUnmapper um;
	um.sizes[1] = 1 << 30;
	iomap::ExecEnv env;
	env.ino = 1;
	env.unmapper = &um;
	iomap_test::Iomap m(8);
	m.b().unmap(3, 1);
	constexpr int kN = 1000000;
	t0 = Clock::now();
	for (int i = 0; i < kN; i++) {
		REQUIRE(iomap::execute(m.e(), m.n(), env) == 0);
		if (um.calls.size() > 1000)
			um.calls.clear();
	}
	printf("unmap-only iomap          %.0f ns/execute\n",
	       seconds_since(t0) / kN * 1e9);
}
