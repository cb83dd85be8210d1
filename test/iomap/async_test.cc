// SPDX-License-Identifier: BSD-3-Clause
//
// execute_async and T2Device: completion order, exactly-once delivery,
// errors.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <thread>

#include "fixture.h"

using iomap_test::Env;
using iomap_test::Iomap;
using iomap_test::Unmap;
using zufs::iom_t1_pool;

namespace {

// Records the order of done() calls.
struct Log {
	std::mutex mu;
	std::condition_variable cv;
	std::vector<std::pair<int, int>> done; // (tag, result)
	std::vector<std::thread::id> threads;

	iomap::ExecDone cb(int tag)
	{
		return [this, tag](int r) {
			std::lock_guard lk(mu);
			done.emplace_back(tag, r);
			threads.push_back(std::this_thread::get_id());
			cv.notify_all();
		};
	}
	void wait(size_t n)
	{
		std::unique_lock lk(mu);
		REQUIRE(cv.wait_for(lk, std::chrono::seconds(30),
				    [&] { return done.size() >= n; }));
	}
};

} // namespace

TEST_CASE("async completions arrive in submission order (FIFO)")
{
	// A big ZUSMEM write first, then small ones that finish sooner.
	constexpr size_t kBig = 2048; // 8 MiB
	auto big = iomap_test::alloc_pages(kBig);
	Env t(true, 4096);
	std::array<zufs_pool_info, ZUFS_MAX_POOLS> pools = t.pools;
	pools[2] = { uint64_t(uintptr_t(big.get())), kBig * 4096 };
	iomap::ExecEnv env = t.env();
	env.pools = pools;

	Log log;
	for (int round = 0; round < 5; round++) {
		log.done.clear();
		Iomap a, b, c;
		REQUIRE(a.b().t2_zusmem_write(0, big.get(), kBig * 4096) == 0);
		REQUIRE(b.b().t2_write(3000, iom_t1_pool(4096)) == 0);
		REQUIRE(c.b().unmap(1, 1) == 0); // no T2 at all
		REQUIRE(iomap::execute_async(a.e(), a.n(), env, log.cb(1)) ==
			0);
		REQUIRE(iomap::execute_async(b.e(), b.n(), env, log.cb(2)) ==
			0);
		REQUIRE(iomap::execute_async(c.e(), c.n(), env, log.cb(3)) ==
			0);
		log.wait(3);
		CHECK(log.done == std::vector<std::pair<int, int>>{
					  { 1, 0 }, { 2, 0 }, { 3, 0 } });
		CHECK(t.unmapper.taken() ==
		      std::vector<Unmap>{ { Env::kIno, 1, 1 } });
	}
	for (auto id : log.threads)
		CHECK(id != std::this_thread::get_id());
	CHECK(t.t2_block(3000) == std::string(4096, char(0x11)));
}

TEST_CASE("async: unmaps are reported before done; done runs once")
{
	Env t;
	std::atomic<int> calls{ 0 };
	std::atomic<size_t> unmaps_seen{ 0 };
	std::atomic<int> result{ 1 }; // Catch is not thread-safe: check later
	Iomap m;
	m.b().t2_write(5, iom_t1_pool(0));
	m.b().unmap(0, 0);
	REQUIRE(iomap::execute_async(m.e(), m.n(), t.env(), [&](int r) {
			result = r;
			std::lock_guard lk(t.unmapper.mu);
			unmaps_seen = t.unmapper.calls.size();
			calls++;
		}) == 0);
	// The iomap was copied: scribbling on it now changes nothing.
	std::fill(m.buf.begin(), m.buf.end(), ~0ULL);
	t.t2.reset(); // waits for done
	CHECK(calls == 1);
	CHECK(result == 0);
	CHECK(unmaps_seen == 1);
	CHECK(t.t2_block(5) == std::string(4096, char(0x10)));
}

TEST_CASE("async: done may call back into the executor")
{
	Env t;
	Log log;
	Iomap first, second;
	first.b().t2_write(8, iom_t1_pool(2 * 4096));
	second.b().t2_read(8, iom_t1_pool(3 * 4096));
	iomap::ExecEnv env = t.env();
	REQUIRE(iomap::execute_async(first.e(), first.n(), env, [&](int r) {
			// synchronous execution from the completion thread
			// Catch is not thread-safe: results go through log
			int r2 = iomap::execute(second.e(), second.n(), env);
			log.cb(r2 == 0 ? 1 : -1)(r);
		}) == 0);
	log.wait(1);
	CHECK(log.done[0] == std::pair<int, int>{ 1, 0 });
	CHECK(std::string(t.pmem_page(3), 4096) ==
	      std::string(4096, char(0x12)));
}

TEST_CASE("async: refused without a T2 device")
{
	Env t(false);
	Iomap m;
	m.b().unmap(0, 1);
	bool called = false;
	CHECK(iomap::execute_async(m.e(), m.n(), t.env(),
				   [&](int) { called = true; }) == -EIO);
	CHECK(!called);
	CHECK(t.unmapper.taken().empty());
}

TEST_CASE("a T2 error is -EIO and the device stays usable")
{
	Env t;
	// Shrink the file behind the device's back: block 200 now reads EOF.
	REQUIRE(::ftruncate(t.t2_fd(), 100 * 4096) == 0);
	Iomap bad;
	bad.b().t2_read(200, iom_t1_pool(4 * 4096));
	bad.b().t1_read(zu_enc_dpp_t_bn(1, 0));
	bad.b().unmap(0, 1);
	std::string app0(t.app_page(0), 4096);
	CHECK(iomap::execute(bad.e(), bad.n(), t.env()) == -EIO);
	// T1 copies are skipped after a T2 error; unmaps still go out.
	CHECK(std::string(t.app_page(0), 4096) == app0);
	CHECK(t.unmapper.taken().size() == 1);

	Log log;
	REQUIRE(iomap::execute_async(bad.e(), bad.n(), t.env(), log.cb(1)) ==
		0);
	log.wait(1);
	CHECK(log.done[0].second == -EIO);
	CHECK(t.t2->stats().errors == 2);

	Iomap good;
	good.b().t2_write(7, iom_t1_pool(0));
	good.b().t2_read(7, iom_t1_pool(4 * 4096));
	CHECK(iomap::execute(good.e(), good.n(), t.env()) == 0);
}

TEST_CASE("T2Device: open errors and sizes")
{
	std::unique_ptr<iomap::T2Device> d;
	std::string msg;
	iomap_test::TempPath p;
	CHECK(iomap::T2Device::open(p.path, 0, &d, &msg) == -ENOENT);
	CHECK(msg.find("give a size") != std::string::npos);
	REQUIRE(iomap::T2Device::open(p.path, 1 << 20, &d, &msg) == 0);
	CHECK(d->size_blocks() == 256);
	std::unique_ptr<iomap::T2Device> d2;
	CHECK(iomap::T2Device::open(p.path, 0, &d2, &msg) == -EBUSY);
	CHECK(msg.find("locked") != std::string::npos);
	d.reset();
	REQUIRE(iomap::T2Device::open(p.path, 0, &d2, &msg) == 0);
	CHECK(d2->size_blocks() == 256);
	CHECK(iomap::T2Device::open("/dev/null", 0, &d, &msg) == -EINVAL);
}

TEST_CASE("T2Device: a batch merges runs of consecutive blocks")
{
	Env t;
	iomap::T2Stats before = t.t2->stats();
	std::vector<iomap::T2Page> pages;
	for (int i = 0; i < 8; i++)
		pages.push_back({ uint64_t(10 + i), t.pmem_page(i), true });
	pages.push_back({ 40, t.pmem_page(9), true }); // a second run
	REQUIRE(t.t2->rw(pages) == 0);
	iomap::T2Stats after = t.t2->stats();
	CHECK(after.ops - before.ops == 2);
	CHECK(after.pages_written - before.pages_written == 9);
	for (int i = 0; i < 8; i++)
		CHECK(t.t2_block(10 + i) == std::string(4096, char(0x10 + i)));
}

TEST_CASE("T2Device: O_DIRECT on a disk file, unaligned memory falls back")
{
	std::string path =
		"/var/tmp/zufuse-iomap-test-" + std::to_string(getpid());
	::unlink(path.c_str());
	std::unique_ptr<iomap::T2Device> d;
	std::string msg;
	REQUIRE(iomap::T2Device::open(path, 64 * 4096, &d, &msg) == 0);
	::unlink(path.c_str());
	INFO("direct: " << d->direct());

	auto buf = iomap_test::alloc_pages(4);
	char *odd = buf.get() + 1; // not aligned: O_DIRECT says EINVAL
	std::memset(odd, 0x3c, 4096);
	std::memset(buf.get() + 2 * 4096, 0x4d, 4096); // aligned
	std::vector<iomap::T2Page> w = { { 5, odd, true },
					 { 9, buf.get() + 2 * 4096, true } };
	REQUIRE(d->rw(w) == 0);

	auto back = iomap_test::alloc_pages(4);
	std::vector<iomap::T2Page> r = { { 5, back.get() + 4096 + 7, false },
					 { 9, back.get(), false } };
	REQUIRE(d->rw(r) == 0);
	CHECK(std::memcmp(back.get() + 4096 + 7, odd, 4096) == 0);
	CHECK(std::string(back.get(), 4096) == std::string(4096, char(0x4d)));
	CHECK(d->stats().errors == 0);
}
