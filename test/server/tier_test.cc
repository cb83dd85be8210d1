// SPDX-License-Identifier: BSD-3-Clause
// pmfs's out-of-band iomaps: a fake zuf (ZufCalls) executes them through
// iomap::execute / execute_async against a T2Device on a /dev/shm file and
// sends IOM_DONE back through the server's channel, as the shim does.
#include <catch2/catch.hpp>

#include <linux/falloc.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <chrono>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "harness.h"
#include "zufs/iom_enc.h"
#include "iomap/executor.h"
#include "iomap/t2.h"
#include "iomap/t2_fault.h"
#include "server/pmfs/bmap.h"
#include "server/pmfs/journal.h"
#include "server/pmfs/pmfs.h"
#include "server/pmfs/tier.h"

namespace {

struct FakeZuf final : zufs::ZufCalls {
	zufs::Channel *srv = nullptr;
	std::vector<zufs_pool_info> pools;
	std::unique_ptr<iomap::T2Device> t2;
	std::atomic<int> execs{ 0 };

	std::shared_mutex mu; // t2 closes under it, as the shim's t2_mu_

	// The shim's t2_close(): no new iomap, the ones in flight complete.
	void close()
	{
		std::unique_ptr<iomap::T2Device> t;
		{
			std::unique_lock g(mu);
			t = std::move(t2);
		}
		t.reset();
	}

	int iomap_exec(zufs_ioc_iomap_exec *ioc) override
	{
		std::shared_lock g(mu);
		++execs;
		if (!t2) {
			ioc->hdr.err = -EINVAL;
			return -EINVAL;
		}
		iomap::ExecEnv env;
		env.pools = pools;
		env.t2 = t2.get();
		zus_sb_info *sbi = ioc->zus_sbi;
		zus_iomap_build *iomb = ioc->ziom.iomb;
		int err;
		if (ioc->wait_for_done) {
			err = iomap::execute(ioc->ziom.iom_e, ioc->ziom.iom_n,
					     env);
		} else {
			err = iomap::execute_async(
				ioc->ziom.iom_e, ioc->ziom.iom_n, env,
				[this, sbi, iomb](int result) {
				ztest::iom_done(srv, sbi, iomb, result);
				});
			if (!err) // IOM_DONE may have freed ioc already
				return 0;
		}
		ioc->hdr.err = err;
		return err;
	}
};

struct TierFs {
	std::string t2path =
		"/dev/shm/zufs-tier-t2-" + std::to_string(getpid());
	std::string img = ztest::temp_image();
	FakeZuf zuf;
	std::unique_ptr<zufs::Channel> srv = zus::make_server(&zuf);
	zus_sb_info *sbi = nullptr;

	TierFs()
	{
		REQUIRE(iomap::T2Device::open(t2path, 16 << 20, &zuf.t2) == 0);
		zuf.srv = srv.get();
		std::string opts = "pmem=" + img +
				   ",size=" + std::to_string(32 << 20) +
				   ",mkfs,t2size=" + std::to_string(16 << 20);
		std::vector<char> buf(sizeof(zufs_ioc_mount) + opts.size() + 1);
		auto *m = reinterpret_cast<zufs_ioc_mount *>(buf.data());
		m->hdr.operation = ZUFS_M_MOUNT;
		m->hdr.in_len = uint16_t(buf.size());
		m->zmi.po.mount_options_len = uint32_t(opts.size() + 1);
		std::memcpy(m->zmi.po.mount_options, opts.c_str(),
			    opts.size() + 1);
		REQUIRE(srv->mount(*m) == 0);
		sbi = m->zmi.zus_sbi;
		zuf.pools.push_back(m->pools[0]);
	}
	~TierFs()
	{
		zuf.close(); // delivers every IOM_DONE, as the shim does
		zufs_ioc_mount m{};
		m.hdr.operation = ZUFS_M_UMOUNT;
		m.hdr.in_len = sizeof(m);
		m.zmi.zus_sbi = sbi;
		srv->mount(m);
		srv.reset();
		unlink(img.c_str());
		unlink(t2path.c_str());
	}
	// A scratch pmem block: the last one of the image (free on a new fs).
	char *scratch(int k) { return sbi->blk(sbi->nblocks() - 1 - k); }
};

} // namespace

TEST_CASE("tier: t2size reaches the mount", "[tier]")
{
	TierFs fs;
	CHECK(fs.sbi->t2_blocks == 4096);
}

TEST_CASE("tier: sync IOMAP_EXEC moves pmem to T2 and back", "[tier]")
{
	TierFs fs;
	std::memset(fs.scratch(0), 0x5a, 4096);
	auto job = zus::pmfs::make_iomap_job(8);
	zufs::IomBuilder b(job->ziom());
	REQUIRE(b.t2_zusmem_write(3, fs.scratch(0), 4096) == 0);
	REQUIRE(zus::pmfs::exec_sync(*fs.sbi, *job) == 0);

	auto back = zus::pmfs::make_iomap_job(8);
	zufs::IomBuilder rb(back->ziom());
	REQUIRE(rb.t2_zusmem_read(3, fs.scratch(1), 4096) == 0);
	REQUIRE(zus::pmfs::exec_sync(*fs.sbi, *back) == 0);
	CHECK(std::memcmp(fs.scratch(0), fs.scratch(1), 4096) == 0);
}

TEST_CASE("tier: async IOMAP_EXEC completes by IOM_DONE, in order", "[tier]")
{
	TierFs fs;
	std::mutex mu;
	std::vector<int> order;
	constexpr int kN = 64;
	for (int i = 0; i < kN; ++i) {
		std::memset(fs.scratch(i), i, 4096);
		auto job = zus::pmfs::make_iomap_job(8);
		zufs::IomBuilder b(job->ziom());
		REQUIRE(b.t2_zusmem_write(100 + i, fs.scratch(i), 4096) == 0);
		REQUIRE(zus::pmfs::exec_async(*fs.sbi, std::move(job),
					      [&, i](int r) {
			std::lock_guard g(mu);
			CHECK(r == 0);
			order.push_back(i);
			}) == 0);
	}
	fs.sbi->iom_jobs->drain();
	REQUIRE(order.size() == kN);
	for (int i = 0; i < kN; ++i)
		CHECK(order[i] == i);
	// The data is on T2.
	std::vector<char> page(4096);
	for (int i = 0; i < kN; i += 9) {
		void *p = aligned_alloc(4096, 4096);
		iomap::T2Page tp{ uint64_t(100 + i), p, false };
		REQUIRE(fs.zuf.t2->rw({ &tp, 1 }) == 0);
		CHECK(std::memcmp(p, fs.scratch(i), 4096) == 0);
		free(p);
	}
}

TEST_CASE("tier: refused async iomaps never complete; stray IOM_DONE", "[tier]")
{
	TierFs fs;
	int called = 0;
	auto job = zus::pmfs::make_iomap_job(8);
	zufs::IomBuilder b(job->ziom());
	REQUIRE(b.t2_zusmem_write(1 << 20, fs.scratch(0), 4096) == 0); // > T2
	CHECK(zus::pmfs::exec_async(*fs.sbi, std::move(job),
				    [&](int) { ++called; }) == -EIO);
	CHECK(called == 0);
	CHECK(fs.sbi->iom_jobs->in_flight() == 0);

	CHECK(ztest::iom_done(fs.srv.get(), fs.sbi,
			      reinterpret_cast<zus_iomap_build *>(0x1234),
			      0) == -EINVAL);
}

TEST_CASE("tier: a T2 error comes back as IOM_DONE -EIO", "[tier]")
{
	TierFs fs;
	// Read a T2 block into a pool range past the end of pool 0: refused
	// by the bounds check at once (not a T2 error); to get a real T2
	// error, shrink the store under the device.
	REQUIRE(truncate(fs.t2path.c_str(), 4096) == 0);
	std::atomic<int> result{ 1 };
	auto job = zus::pmfs::make_iomap_job(8);
	zufs::IomBuilder b(job->ziom());
	REQUIRE(b.t2_zusmem_read(100, fs.scratch(0), 4096) == 0);
	int err = zus::pmfs::exec_async(*fs.sbi, std::move(job),
					[&](int r) { result = r; });
	REQUIRE(err == 0);
	fs.sbi->iom_jobs->drain();
	// A short read past the end of a file is an error for the batch.
	CHECK(result.load() == -EIO);
}

// ---- Blocks living on T2 ----------------------------------------------------
// A file's block is forced to T2 through the test hook (tier_evict_block);
// READ/WRITE/GET_MULTY then answer -EZUFS_RETRY with IOM_T2_ZUSMEM_READ,
// which this fake shim executes before re-dispatching (as rw.cc does).

namespace {

// Wait up to 10 s for pred.
template <typename Pred> bool eventually(Pred pred)
{
	for (int i = 0; i < 1000; ++i) {
		if (pred())
			return true;
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	}
	return pred();
}

struct TierFile {
	std::string t2path =
		"/dev/shm/zufs-tierf-t2-" + std::to_string(getpid());
	FakeZuf zuf;
	ztest::Fs fs{ 32ULL << 20 };
	ztest::Inode f;
	std::atomic<int> retries{ 0 }, inline_iomaps{ 0 };
	uint64_t flags = 0; // ZUFS_IO_* of the next READ/WRITE

	explicit TierFile(bool mkfs = true)
	{
		REQUIRE(iomap::T2Device::open(t2path, 16 << 20, &zuf.t2) == 0);
		fs.srv = zus::make_server(&zuf);
		zuf.srv = fs.srv.get();
		REQUIRE(fs.mount(std::string(mkfs ? "mkfs," : "") +
				 "t2size=" + std::to_string(16 << 20)) == 0);
		set_pools();
		REQUIRE(fs.create(fs.root, "f", S_IFREG | 0644, &f) == 0);
	}
	// What the mount answered: pmem, and the evictor's bounce.
	void set_pools()
	{
		std::unique_lock g(zuf.mu);
		zuf.pools = { zufs_pool_info{ uint64_t(uintptr_t(fs.base)),
					      fs.pool_size } };
		zufs_pool_info b = zus::pmfs::tier_pool(*fs.sbi);
		if (b.size)
			zuf.pools.push_back(b);
	}
	~TierFile()
	{
		if (f)
			fs.evict(f);
		zuf.close();
		if (fs.mounted)
			fs.umount();
		unlink(t2path.c_str());
	}
	// One READ/WRITE, re-dispatched after each RETRY iomap.
	int io(int op, uint64_t pos, ztest::Buf &b, uint64_t *last)
	{
		zus_iomap_build *token = nullptr; // of the last RETRY answer
		for (int tries = 0; tries < 8; ++tries) {
			zufs_ioc_IO io{};
			io.ziom.iomb = token;
			io.hdr.operation = uint16_t(op);
			io.hdr.offset = b.offset;
			io.hdr.len = uint32_t(b.len);
			io.zus_ii = f.ii;
			io.filepos = pos;
			io.last_pos = pos;
			io.ziom.iom_max = ZUFS_WRITE_OP_SPACE;
			io.flags = flags;
			int err = fs.dispatch(&io.hdr, sizeof(io), b.list());
			*last = io.last_pos;
			if (!err && io.ziom.iom_n) { // inline (a cold read)
				++inline_iomaps;
				iomap::ExecEnv env;
				env.pools = zuf.pools;
				env.app_pages = b.list();
				env.t2 = zuf.t2.get();
				REQUIRE(iomap::execute(io.iom_e, io.ziom.iom_n,
						       env) == 0);
				return 0;
			}
			if (err != -EZUFS_RETRY)
				return err;
			++retries;
			token = io.ziom.iomb;
			REQUIRE(io.ziom.iom_n > 0);
			REQUIRE(io.ziom.iom_n <= ZUFS_WRITE_OP_SPACE);
			iomap::ExecEnv env;
			env.pools = zuf.pools;
			env.t2 = zuf.t2.get();
			REQUIRE(iomap::execute(io.iom_e, io.ziom.iom_n, env) ==
				0);
		}
		return -EIO;
	}
	std::string read(uint64_t pos, size_t len)
	{
		if (len > ZUS_API_MAP_MAX_SIZE) { // split as the shim does
			std::string all;
			for (size_t at = 0; at < len;
			     at += ZUS_API_MAP_MAX_SIZE)
				all += read(
					pos + at,
					std::min<size_t>(ZUS_API_MAP_MAX_SIZE,
							 len - at));
			return all;
		}
		ztest::Buf b(len);
		uint64_t last = 0;
		REQUIRE(io(ZUFS_OP_READ, pos, b, &last) == 0);
		return std::string(b.data(), last - pos);
	}
	void write(uint64_t pos, const std::string &s)
	{
		if (s.size() > ZUS_API_MAP_MAX_SIZE) {
			for (size_t at = 0; at < s.size();
			     at += ZUS_API_MAP_MAX_SIZE)
				write(pos + at,
				      s.substr(at, ZUS_API_MAP_MAX_SIZE));
			return;
		}
		ztest::Buf b(s.size());
		std::memcpy(b.data(), s.data(), s.size());
		uint64_t last = 0;
		REQUIRE(io(ZUFS_OP_WRITE, pos, b, &last) == 0);
		REQUIRE(last == pos + s.size());
	}
	uint64_t leaf(uint64_t idx)
	{
		return zus::pmfs::bmap_leaf(*fs.sbi, f.zi, idx);
	}
	bool on_t2(uint64_t idx)
	{
		return zus::pmfs::t2_leaf_valid(*fs.sbi, leaf(idx));
	}
	uint64_t free_t1() { return fs.sbi->balloc.free_blocks(); }
	// Stop the evictor (watermarks 0) and wait until nothing of it is
	// under way, from a pick to its commit (TierStats::in_flight): the
	// file system is idle for fsck then.
	void settle()
	{
		zus::pmfs::tier_set_watermarks(*fs.sbi, 0, 0);
		REQUIRE(eventually([&] {
			return zus::pmfs::tier_stats(*fs.sbi).in_flight == 0;
		}));
	}
};

} // namespace

TEST_CASE("tier: a block on T2 is read, partly written, truncated", "[tier]")
{
	TierFile t;
	std::string data = ztest::pattern(3 * 4096 + 100, 7);
	t.write(0, data);
	uint64_t blocks = t.f.zi->i_blocks;
	uint64_t free0 = t.free_t1();

	REQUIRE(zus::pmfs::tier_evict_block(t.f.ii, 1) == 0);
	REQUIRE(zus::pmfs::tier_evict_block(t.f.ii, 2) == 0);
	CHECK(t.on_t2(1));
	CHECK(t.on_t2(2));
	CHECK_FALSE(t.on_t2(0));
	CHECK(zus::pmfs::t2_used(*t.fs.sbi) == 2);
	CHECK(t.free_t1() == free0 + 2); // freed on T1
	CHECK(t.f.zi->i_blocks == blocks);

	SECTION("read promotes, by RETRY")
	{
		CHECK(t.read(0, data.size()) == data);
		CHECK(t.retries == 1); // both blocks in one iomap (one run)
		CHECK_FALSE(t.on_t2(1));
		CHECK_FALSE(t.on_t2(2));
		CHECK(zus::pmfs::t2_used(*t.fs.sbi) == 0);
		CHECK(t.free_t1() == free0);
		CHECK(t.read(4000, 5000) == data.substr(4000, 5000));
		CHECK(t.retries == 1);
	}
	SECTION("a partial write promotes first")
	{
		t.write(4096 + 10, "hello");
		data.replace(4096 + 10, 5, "hello");
		CHECK_FALSE(t.on_t2(1));
		CHECK(t.on_t2(2)); // untouched
		CHECK(t.read(0, data.size()) == data);
	}
	SECTION("truncate frees T2 blocks and zeroes a T2 tail")
	{
		ztest::Inode f = t.f;
		REQUIRE(t.fs.setattr(f, STATX_SIZE, 4096 + 50) == 0);
		CHECK(zus::pmfs::t2_used(*t.fs.sbi) ==
		      0); // 2 freed, 1 promoted
		CHECK(f.zi->i_blocks == 2 * 8);
		REQUIRE(t.fs.setattr(f, STATX_SIZE, 3 * 4096) == 0);
		std::string want = data.substr(0, 4096 + 50);
		want.resize(3 * 4096, '\0');
		CHECK(t.read(0, 3 * 4096) == want);
	}
	SECTION("truncate to 0 frees every T2 block")
	{
		REQUIRE(t.fs.setattr(t.f, STATX_SIZE, 0) == 0);
		CHECK(zus::pmfs::t2_used(*t.fs.sbi) == 0);
		CHECK(t.f.zi->i_blocks == 0);
		CHECK(t.free_t1() >= free0 + 3); // 3 data blocks (and the node)
	}
	SECTION("a server-internal READ (no iomap room) promotes at once")
	{
		CHECK(t.fs.read(t.f, 0, data.size()) == data);
		CHECK(t.retries == 0);
		CHECK(zus::pmfs::t2_used(*t.fs.sbi) == 0);
	}
	SECTION("truncate with only T2 blocks past the new EOF")
	{
		REQUIRE(t.fs.setattr(t.f, STATX_SIZE, 4096) == 0);
		CHECK(zus::pmfs::t2_used(*t.fs.sbi) == 0);
		CHECK(t.f.zi->i_blocks == 8);
		CHECK(t.read(0, 8192) == data.substr(0, 4096));
	}
	SECTION("GET_MULTY promotes by RETRY, then maps T1 blocks")
	{
		constexpr uint32_t kMax = 16;
		std::vector<uint64_t> msg(
			(offsetof(zufs_ioc_IO, iom_e) + kMax * 8) / 8);
		auto *io = reinterpret_cast<zufs_ioc_IO *>(msg.data());
		int err = -EZUFS_RETRY;
		zus_iomap_build *token = nullptr;
		for (int tries = 0; tries < 4 && err == -EZUFS_RETRY; ++tries) {
			std::memset(msg.data(), 0, msg.size() * 8);
			io->ziom.iomb = token;
			io->hdr.operation = ZUFS_OP_GET_MULTY;
			io->hdr.len = uint32_t(data.size());
			io->zus_ii = t.f.ii;
			io->ziom.iom_max = kMax;
			err = t.fs.dispatch(&io->hdr, msg.size() * 8);
			if (err == -EZUFS_RETRY) {
				token = io->ziom.iomb;
				iomap::ExecEnv env;
				env.pools = t.zuf.pools;
				env.t2 = t.zuf.t2.get();
				REQUIRE(iomap::execute(io->iom_e,
						       io->ziom.iom_n,
						       env) == 0);
			}
		}
		REQUIRE(err == 0);
		REQUIRE(io->ziom.iom_n == 4);
		for (uint32_t i = 0; i < 4; ++i) {
			uint64_t bn =
				zu_dpp_t_bn(_zufs_iom_first_val(&io->iom_e[i]));
			size_t n =
				std::min<size_t>(4096, data.size() - i * 4096);
			CHECK(std::memcmp(t.fs.sbi->blk(bn),
					  data.data() + i * 4096, n) == 0);
		}
		CHECK(zus::pmfs::t2_used(*t.fs.sbi) == 0);
		io->hdr.operation = ZUFS_OP_PUT_MULTY;
		CHECK(t.fs.dispatch(&io->hdr, msg.size() * 8) == 0);
	}
	SECTION("height-0 tree: block 0 alone on T2")
	{
		REQUIRE(t.fs.setattr(t.f, STATX_SIZE, 100) == 0);
		REQUIRE(zus::pmfs::tier_evict_block(t.f.ii, 0) == 0);
		CHECK(t.on_t2(0));
		CHECK(t.read(0, 100) == data.substr(0, 100));
		CHECK_FALSE(t.on_t2(0));
	}
}

// ---- Mount, fsck, capacity, the evictor, cold reads -------------------------

namespace {

std::string t2opt(uint64_t bytes) { return "t2size=" + std::to_string(bytes); }

// Unmount f's file system and mount it again with extra options; f is
// looked up again on success.
int remount(TierFile &t, const std::string &extra)
{
	if (t.f) {
		t.fs.evict(t.f);
		t.f = {};
	}
	if (t.fs.mounted)
		REQUIRE(t.fs.umount() == 0);
	int err = t.fs.mount(extra);
	if (err)
		return err;
	t.set_pools();
	REQUIRE(t.fs.lookup(t.fs.root, "f", &t.f) == 0);
	return 0;
}

} // namespace

TEST_CASE("tier: the T2 allocator is rebuilt at mount; the T2 an image needs",
	  "[tier]")
{
	TierFile t;
	std::string data = ztest::pattern(8 * 4096, 11);
	t.write(0, data);
	CHECK(t.fs.sbi->sb->s_t2_blocks == 0); // nothing on T2 yet
	for (uint64_t i = 1; i < 8; i += 2)
		REQUIRE(zus::pmfs::tier_evict_block(t.f.ii, i) == 0);
	CHECK(t.fs.sbi->sb->s_t2_blocks == 4096); // persisted before the leaf
	std::vector<uint64_t> leaves;
	for (uint64_t i = 0; i < 8; ++i)
		leaves.push_back(t.leaf(i));
	auto r = t.fs.check();
	CHECK(r.errors == 0);
	INFO(r.report);

	SECTION("remount with the T2: the same leaves, their blocks in use")
	{
		REQUIRE(remount(t, t2opt(16 << 20)) == 0);
		CHECK(zus::pmfs::t2_used(*t.fs.sbi) == 4);
		for (uint64_t i = 0; i < 8; ++i)
			CHECK(t.leaf(i) == leaves[i]);
		// New evictions must not reuse those T2 blocks.
		REQUIRE(zus::pmfs::tier_evict_block(t.f.ii, 0) == 0);
		REQUIRE(zus::pmfs::tier_evict_block(t.f.ii, 2) == 0);
		CHECK(zus::pmfs::t2_used(*t.fs.sbi) == 6);
		CHECK(t.read(0, data.size()) == data);
		CHECK(zus::pmfs::t2_used(*t.fs.sbi) == 0);
	}
	SECTION("no T2, or a smaller one: refused with one line")
	{
		CHECK(remount(t, "") == -EINVAL);
		CHECK(t.fs.errmsg.find("blocks on tier 2") !=
		      std::string::npos);
		CHECK(t.fs.errmsg.find('\n') == std::string::npos);
		CHECK(remount(t, t2opt(8 << 20)) == -EINVAL);
		CHECK(t.fs.errmsg.find("tier 2") != std::string::npos);
		REQUIRE(remount(t, t2opt(16 << 20)) == 0);
		CHECK(t.read(0, data.size()) == data);
	}
	SECTION("once every block is back on T1, no T2 is needed")
	{
		CHECK(t.read(0, data.size()) == data); // promotes all
		REQUIRE(remount(t, "") == 0);
		CHECK(t.fs.sbi->sb->s_t2_blocks == 0);
		CHECK(t.fs.read(t.f, 0, data.size()) == data);
	}
	SECTION("a bigger T2 is fine")
	{
		t.zuf.close();
		REQUIRE(iomap::T2Device::open(t.t2path, 32 << 20, &t.zuf.t2) ==
			0);
		REQUIRE(remount(t, t2opt(32 << 20)) == 0);
		CHECK(t.read(0, data.size()) == data);
	}
}

TEST_CASE("tier: fsck checks T2 leaves", "[tier]")
{
	TierFile t;
	std::string data = ztest::pattern(4 * 4096, 12);
	t.write(0, data);
	ztest::Inode g;
	REQUIRE(t.fs.create(t.fs.root, "g", S_IFREG | 0644, &g) == 0);
	REQUIRE(t.fs.write(g, 0, data) == 0);
	REQUIRE(zus::pmfs::tier_evict_block(t.f.ii, 1) == 0);
	REQUIRE(zus::pmfs::tier_evict_block(g.ii, 1) == 0);
	CHECK(t.fs.check().errors == 0);
	auto slot = [&](ztest::Inode &i) {
		// height 1: the root node's slot 1
		REQUIRE(i.zi->i_on_disk.a[1] == 1);
		return reinterpret_cast<uint64_t *>(
			       t.fs.sbi->blk(i.zi->i_on_disk.a[0])) +
		       1;
	};
	uint64_t *fs1 = slot(t.f), *gs1 = slot(g);
	const uint64_t saved = *gs1;
	SECTION("outside the T2")
	{
		*gs1 = zus::pmfs::kT2Leaf | 5000;
		auto r = t.fs.check();
		CHECK(r.errors >= 1);
		CHECK(r.report.find("outside the tier 2") != std::string::npos);
	}
	SECTION("owned twice")
	{
		*gs1 = *fs1;
		auto r = t.fs.check();
		CHECK(r.errors >= 1);
		CHECK(r.report.find("tier-2 block") != std::string::npos);
		CHECK(r.report.find("used by inode") != std::string::npos);
	}
	*gs1 = saved;
	CHECK(t.fs.check().errors == 0);
	t.fs.evict(g);
}

TEST_CASE("tier: an unwritten block stays unwritten on T2 and back", "[tier]")
{
	TierFile t;
	REQUIRE(t.fs.falloc(t.f, 0, 0, 4 * 4096) == 0);
	t.write(3 * 4096, "d");
	auto data_at = [&](uint64_t off) {
		return t.fs.seek(t.f, off, SEEK_DATA);
	};
	auto *sbi = t.fs.sbi;
	REQUIRE(zus::pmfs::tier_evict_block(t.f.ii, 1) == 0);
	REQUIRE(zus::pmfs::tier_evict_block(t.f.ii, 3) == 0);
	CHECK(t.on_t2(1));
	CHECK(zus::pmfs::bmap_unwritten(*sbi, t.f.zi, 1));
	CHECK_FALSE(zus::pmfs::bmap_unwritten(*sbi, t.f.zi, 3));
	CHECK(data_at(0) == 3 * 4096);
	auto r = t.fs.check();
	CHECK(r.errors == 0);
	CHECK(r.unwritten == 3);
	// Read back (promoted): zeros, still unwritten.
	std::string want(4 * 4096, '\0');
	want[3 * 4096] = 'd';
	CHECK(t.read(0, want.size()) == want);
	CHECK_FALSE(t.on_t2(1));
	CHECK(zus::pmfs::bmap_unwritten(*sbi, t.f.zi, 1));
	CHECK(data_at(0) == 3 * 4096);
	// Evicted again, then written: promoted, then written data.
	REQUIRE(zus::pmfs::tier_evict_block(t.f.ii, 1) == 0);
	t.write(4096 + 10, "w");
	want[4096 + 10] = 'w';
	CHECK(data_at(0) == 4096);
	CHECK(t.read(0, want.size()) == want);
	CHECK(t.fs.check().errors == 0);
	// An unwritten leaf whose block holds data (block 3, on T1 since the
	// read): fsck finds it.
	REQUIRE(t.f.zi->i_on_disk.a[1] == 1);
	uint64_t *slots =
		reinterpret_cast<uint64_t *>(sbi->blk(t.f.zi->i_on_disk.a[0]));
	REQUIRE_FALSE(t.on_t2(3));
	slots[3] |= zus::pmfs::kUnwrittenLeaf;
	r = t.fs.check();
	CHECK(r.errors == 1);
	CHECK(r.report.find("an unwritten block that holds data") !=
	      std::string::npos);
	slots[3] = zus::pmfs::leaf_block(slots[3]);
	CHECK(t.fs.check().errors == 0);
}

TEST_CASE("tier: capacity is T1 + T2; a WRITE short of T1 evicts first",
	  "[tier]")
{
	TierFile t;
	struct statfs64 st = {};
	REQUIRE(t.fs.statfs(&st) == 0);
	const uint64_t t1 = t.fs.sbi->balloc.data_blocks();
	CHECK(st.f_blocks == t1 + 4096 - 1);
	CHECK(st.f_bfree == t.free_t1() + 4096 - 1);
	// 40 MiB into 32 MiB of T1: the rest must land on T2.
	constexpr size_t kChunk = 1 << 20;
	std::vector<std::string> chunks;
	for (int i = 0; i < 40; ++i) {
		chunks.push_back(ztest::pattern(kChunk, 100 + i));
		t.write(uint64_t(i) * kChunk, chunks.back());
	}
	auto s = zus::pmfs::tier_stats(*t.fs.sbi);
	CHECK(s.t2_used > 0);
	CHECK(s.evicted + s.sync_evicted > 0);
	for (int i = 0; i < 40; ++i)
		REQUIRE(ztest::same(t.read(uint64_t(i) * kChunk, kChunk),
				    chunks[i]));
	// fsck wants an idle file system: no migration under way.
	t.settle();
	auto r = t.fs.check();
	INFO(r.report);
	CHECK(r.errors == 0);
}

TEST_CASE("tier: fallocate short of T1 evicts first", "[tier]")
{
	TierFile t;
	// 24 MiB of data, then a 16 MiB preallocation: more than the 32 MiB
	// of T1 together, so the preallocation needs blocks moved to T2.
	constexpr size_t kChunk = 1 << 20;
	for (int i = 0; i < 24; ++i)
		t.write(uint64_t(i) * kChunk, ztest::pattern(kChunk, 300 + i));
	ztest::Inode g;
	REQUIRE(t.fs.create(t.fs.root, "prealloc", S_IFREG | 0644, &g) == 0);
	CHECK(t.fs.falloc(g, 0, 0, 16 * kChunk) == 0);
	CHECK(zus::pmfs::tier_stats(*t.fs.sbi).t2_used > 0);
	for (int i = 0; i < 24; i += 5)
		REQUIRE(ztest::same(t.read(uint64_t(i) * kChunk, kChunk),
				    ztest::pattern(kChunk, 300 + i)));
	t.settle();
	auto r = t.fs.check();
	INFO(r.report);
	CHECK(r.errors == 0);
	t.fs.evict(g);
}

TEST_CASE("tier: the evictor keeps free T1 between its watermarks", "[tier]")
{
	TierFile t;
	std::string data = ztest::pattern(8 << 20, 21);
	t.write(0, data);
	const uint64_t free0 = t.free_t1();
	// Make "now" look short of room: evict until free0 + 1000.
	zus::pmfs::tier_set_watermarks(*t.fs.sbi, free0 + 500, free0 + 1000);
	REQUIRE(eventually([&] { return t.free_t1() >= free0 + 1000; }));
	t.settle();
	auto s = zus::pmfs::tier_stats(*t.fs.sbi);
	CHECK(s.evicted >= 1000);
	CHECK(s.evicted < 1000 + 4 * 256 + 1); // stopped at the high watermark
	CHECK(t.fs.check().errors == 0);
	CHECK(ztest::same(t.read(0, data.size()), data));
}

// TierStats::in_flight counts a migration from the evictor's pick of its
// blocks on, so "0" means nothing of the evictor commits afterwards (fsck
// after settle() once saw a batch picked just before, committed during
// the check). Here the pick waits for the file's lock, which the test holds.
TEST_CASE("tier: a migration is in flight from its pick to its commit",
	  "[tier]")
{
	TierFile t;
	// 4 MiB: blocks outside the hot window around the last write (the
	// evictor takes those of a file written lately).
	const std::string data = ztest::pattern(4 << 20, 41);
	t.write(0, data);
	{
		std::unique_lock lk(t.f.ii->rw);
		zus::pmfs::tier_set_watermarks(*t.fs.sbi, UINT64_MAX / 2,
					       UINT64_MAX / 2);
		CHECK(eventually([&] {
			return zus::pmfs::tier_stats(*t.fs.sbi).in_flight > 0;
		}));
		zus::pmfs::tier_set_watermarks(*t.fs.sbi, 0, 0);
		// Stopped, but the pick under way goes on.
		CHECK(zus::pmfs::tier_stats(*t.fs.sbi).in_flight > 0);
		CHECK(zus::pmfs::t2_used(*t.fs.sbi) == 0);
	}
	t.settle();
	CHECK(zus::pmfs::t2_used(*t.fs.sbi) > 0); // it committed before 0
	auto r = t.fs.check();
	INFO(r.report);
	CHECK(r.errors == 0);
	CHECK(ztest::same(t.read(0, data.size()), data));
}

TEST_CASE("tier: writes racing migrations are never lost", "[tier]")
{
	TierFile t;
	constexpr uint64_t kBlocks = 2048;
	std::vector<std::string> want(kBlocks);
	for (uint64_t i = 0; i < kBlocks; ++i)
		want[i] = ztest::pattern(4096, int(i));
	std::string all;
	for (auto &w : want)
		all += w;
	t.write(0, all);
	// Always short of room: the evictor moves everything, all the time.
	zus::pmfs::tier_set_watermarks(*t.fs.sbi, UINT64_MAX / 2,
				       UINT64_MAX / 2);
	std::mt19937 rng(5);
	// 3000 writes, and on until the evictor has moved something while
	// they ran: on a busy machine its thread may not get a CPU during
	// the first 3000 (a few ms), and then nothing raced.
	auto moved = [&] {
		auto st = zus::pmfs::tier_stats(*t.fs.sbi);
		return st.evicted + st.aborted > 0;
	};
	const auto deadline =
		std::chrono::steady_clock::now() + std::chrono::seconds(20);
	for (int k = 0;
	     k < 3000 ||
	     (!moved() && std::chrono::steady_clock::now() < deadline);
	     ++k) {
		uint64_t i = rng() % kBlocks;
		want[i] = ztest::pattern(4096, 1000 + k);
		t.write(i * 4096, want[i]);
		if (k % 50 == 0) {
			uint64_t j = rng() % kBlocks;
			REQUIRE(ztest::same(t.read(j * 4096, 4096), want[j]));
		}
	}
	t.settle();
	auto s = zus::pmfs::tier_stats(*t.fs.sbi);
	INFO("evicted " << s.evicted << " aborted " << s.aborted << " promoted "
			<< s.promoted);
	CHECK(s.evicted > 0);
	for (uint64_t i = 0; i < kBlocks; ++i)
		REQUIRE(ztest::same(t.read(i * 4096, 4096), want[i]));
	CHECK(t.fs.check().errors == 0);
}

TEST_CASE("tier: blocks pinned by GET_MULTY stay on T1", "[tier]")
{
	TierFile t;
	std::string data = ztest::pattern(16 * 4096, 31);
	t.write(0, data);
	ztest::Multy m(16);
	REQUIRE(m.call(t.fs, ZUFS_OP_GET_MULTY, t.f, 0, data.size()) == 0);
	CHECK(zus::pmfs::tier_evict_block(t.f.ii, 3) == -EBUSY);
	zus::pmfs::tier_set_watermarks(*t.fs.sbi, UINT64_MAX / 2,
				       UINT64_MAX / 2);
	// A whole evictor pass began after the watermarks changed, and ended.
	const uint64_t passes = zus::pmfs::tier_stats(*t.fs.sbi).passes;
	REQUIRE(eventually([&] {
		return zus::pmfs::tier_stats(*t.fs.sbi).passes >= passes + 2;
	}));
	for (uint64_t i = 0; i < 16; ++i)
		CHECK_FALSE(t.on_t2(i));
	REQUIRE(m.call(t.fs, ZUFS_OP_PUT_MULTY, t.f, 0, 0) == 0);
	CHECK(eventually([&] { return t.on_t2(0) && t.on_t2(15); }));
	t.settle();
	CHECK(t.read(0, data.size()) == data);
}

TEST_CASE("tier: a random READ of a cold T2 block is served inline", "[tier]")
{
	TierFile t;
	std::string data = ztest::pattern(6 * 4096, 41);
	t.write(0, data);
	for (uint64_t i = 1; i <= 4; ++i)
		REQUIRE(zus::pmfs::tier_evict_block(t.f.ii, i) == 0);
	t.flags = ZUFS_IO_RAND;
	SECTION("whole blocks: IOM_T2_READ_LEN into the pages, no promotion")
	{
		CHECK(t.read(4096, 3 * 4096) == data.substr(4096, 3 * 4096));
		CHECK(t.inline_iomaps == 1);
		CHECK(t.retries == 0);
		CHECK(t.on_t2(1));
		CHECK(t.on_t2(3));
		CHECK(zus::pmfs::tier_stats(*t.fs.sbi).cold_reads == 3);
		// The same blocks again: read lately, so they come back to T1.
		CHECK(t.read(4096, 3 * 4096) == data.substr(4096, 3 * 4096));
		CHECK(t.retries == 1);
		CHECK_FALSE(t.on_t2(2));
		CHECK(t.on_t2(4));
	}
	SECTION("T1 and T2 blocks mixed, whole file")
	{
		CHECK(t.read(0, data.size()) == data);
		CHECK(t.inline_iomaps == 1);
		CHECK(t.on_t2(2));
	}
	SECTION("partial blocks promote")
	{
		CHECK(t.read(4096 + 100, 200) == data.substr(4096 + 100, 200));
		CHECK(t.retries == 1);
		CHECK_FALSE(t.on_t2(1));
	}
	SECTION("a sequential read promotes while T1 has room")
	{
		t.flags = 0;
		CHECK(t.read(4096, 4096) == data.substr(4096, 4096));
		CHECK(t.retries == 1);
		CHECK_FALSE(t.on_t2(1));
	}
}

namespace {

// One GET_MULTY of len bytes at pos (RETRY iomaps executed, as rw.cc
// does); the answer stays in msg for the PUT_MULTY.
int get_multy(TierFile &t, std::vector<uint64_t> &msg, uint64_t pos,
	      uint32_t len, uint64_t flags)
{
	const uint32_t cap = std::max<uint32_t>((len + 4095) / 4096 + 1,
						ZUFS_WRITE_OP_SPACE);
	msg.assign((offsetof(zufs_ioc_IO, iom_e) + cap * 8) / 8, 0);
	auto *io = reinterpret_cast<zufs_ioc_IO *>(msg.data());
	zus_iomap_build *token = nullptr; // of the last RETRY answer
	for (int tries = 0; tries < 8; ++tries) {
		std::fill(msg.begin(), msg.end(), 0);
		io->ziom.iomb = token;
		io->hdr.operation = ZUFS_OP_GET_MULTY;
		io->hdr.len = len;
		io->zus_ii = t.f.ii;
		io->filepos = pos;
		io->flags = flags;
		io->ziom.iom_max = cap;
		int err = t.fs.dispatch(&io->hdr, msg.size() * 8);
		if (err != -EZUFS_RETRY)
			return err;
		++t.retries;
		token = io->ziom.iomb;
		iomap::ExecEnv env;
		env.pools = t.zuf.pools;
		env.t2 = t.zuf.t2.get();
		REQUIRE(iomap::execute(io->iom_e, io->ziom.iom_n, env) == 0);
	}
	return -EIO;
}

void put_multy(TierFile &t, std::vector<uint64_t> &msg)
{
	auto *io = reinterpret_cast<zufs_ioc_IO *>(msg.data());
	io->hdr.operation = ZUFS_OP_PUT_MULTY;
	REQUIRE(t.fs.dispatch(&io->hdr, msg.size() * 8) == 0);
}

} // namespace

TEST_CASE("tier: GET_MULTY maps up to a cold T2 block and asks for a READ",
	  "[tier]")
{
	TierFile t;
	std::string data = ztest::pattern(6 * 4096, 43);
	t.write(0, data);
	for (uint64_t i = 2; i <= 4; ++i)
		REQUIRE(zus::pmfs::tier_evict_block(t.f.ii, i) == 0);
	std::vector<uint64_t> msg;
	auto io = [&] { return reinterpret_cast<zufs_ioc_IO *>(msg.data()); };

	// Random, from block 0: blocks 0-1 mapped, the rest by READ.
	REQUIRE(get_multy(t, msg, 0, 6 * 4096, ZUFS_IO_RAND) == 0);
	CHECK(io()->gp_block.ret_flags == ZUFS_GBF_READ);
	CHECK(io()->last_pos == 2 * 4096);
	CHECK(io()->ziom.iom_n == 2);
	put_multy(t, msg);
	// Random, at the cold block: nothing mapped (nothing to PUT).
	REQUIRE(get_multy(t, msg, 2 * 4096, 4096, ZUFS_IO_RAND) == 0);
	CHECK(io()->gp_block.ret_flags == ZUFS_GBF_READ);
	CHECK(io()->last_pos == 2 * 4096);
	CHECK(io()->ziom.iom_n == 0);
	CHECK(t.retries == 0);
	CHECK(t.on_t2(2));
	CHECK(zus::pmfs::tier_stats(*t.fs.sbi).cold_reads == 0);
	// The READ the shim sends for it is served from T2...
	t.flags = ZUFS_IO_RAND;
	CHECK(t.read(2 * 4096, 4096) == data.substr(2 * 4096, 4096));
	CHECK(t.inline_iomaps == 1);
	CHECK(zus::pmfs::tier_stats(*t.fs.sbi).cold_reads == 1);
	// ...and, read lately, the next GET_MULTY of it promotes.
	REQUIRE(get_multy(t, msg, 2 * 4096, 4096, ZUFS_IO_RAND) == 0);
	CHECK(io()->gp_block.ret_flags == 0);
	CHECK(io()->ziom.iom_n == 1);
	CHECK(t.retries == 1);
	CHECK_FALSE(t.on_t2(2));
	put_multy(t, msg);
	// Sequential: promotes (and pre-reads block 4), maps it all.
	REQUIRE(get_multy(t, msg, 3 * 4096, 4096, 0) == 0);
	CHECK(io()->gp_block.ret_flags == 0);
	CHECK(io()->last_pos == 4 * 4096);
	CHECK(t.retries == 2);
	CHECK_FALSE(t.on_t2(3));
	CHECK_FALSE(t.on_t2(4));
	put_multy(t, msg);
	CHECK(t.read(0, data.size()) == data);
}

TEST_CASE("tier: a sequential read that promotes pre-reads the next blocks",
	  "[tier]")
{
	TierFile t;
	std::string data = ztest::pattern(64 * 4096, 47);
	t.write(0, data);
	for (uint64_t i = 0; i < 64; ++i)
		REQUIRE(zus::pmfs::tier_evict_block(t.f.ii, i) == 0);
	SECTION("READ") { CHECK(t.read(0, 4096) == data.substr(0, 4096)); }
	SECTION("GET_MULTY")
	{
		std::vector<uint64_t> msg;
		REQUIRE(get_multy(t, msg, 0, 4096, 0) == 0);
		put_multy(t, msg);
	}
	CHECK(t.retries == 1);
	// Every block came back with the first one's RETRY, and was
	// committed by its re-dispatch.
	for (uint64_t i = 0; i < 64; ++i)
		CHECK_FALSE(t.on_t2(i));
	CHECK(zus::pmfs::tier_stats(*t.fs.sbi).promoted == 64);
	CHECK(zus::pmfs::tier_stats(*t.fs.sbi).t2_used == 0);
	CHECK(t.read(0, data.size()) == data);
	CHECK(t.retries == 1);
}

TEST_CASE("tier: reads and writes of blocks an eviction races stay exact",
	  "[tier]")
{
	TierFile t;
	constexpr uint64_t kBlocks = 2048, kHalf = kBlocks / 2;
	std::vector<std::string> want(kBlocks);
	std::string all;
	for (uint64_t i = 0; i < kBlocks; ++i) {
		want[i] = ztest::pattern(4096, int(7 * i));
		all += want[i];
	}
	t.write(0, all);
	zus::pmfs::tier_set_watermarks(*t.fs.sbi, UINT64_MAX / 2,
				       UINT64_MAX / 2);
	std::atomic<bool> stop{ false };
	std::atomic<int> bad{ 0 }, reads{ 0 };
	// The upper half never changes: every read of it must give it back,
	// while the evictor moves it out and the reads bring it back.
	std::thread reader([&] {
		std::mt19937 rng(9);
		while (!stop) {
			uint64_t i = kHalf + rng() % kHalf;
			if (t.read(i * 4096, 4096) != want[i])
				++bad;
			++reads;
		}
	});
	std::mt19937 rng(10);
	for (int k = 0; k < 2000; ++k) {
		uint64_t i = rng() % kHalf;
		want[i] = ztest::pattern(4096, 5000 + k);
		t.write(i * 4096, want[i]);
	}
	stop = true;
	reader.join();
	t.settle();
	CHECK(bad == 0);
	CHECK(reads > 0);
	for (uint64_t i = 0; i < kBlocks; ++i)
		REQUIRE(ztest::same(t.read(i * 4096, 4096), want[i]));
	auto r = t.fs.check();
	INFO(r.report);
	CHECK(r.errors == 0);
}

TEST_CASE("tier: fsck -y recovers an image with T2 leaves", "[tier]")
{
	TierFile t;
	std::string data = ztest::pattern(8 * 4096, 51);
	t.write(0, data);
	REQUIRE(zus::pmfs::tier_evict_block(t.f.ii, 1) == 0);
	REQUIRE(zus::pmfs::tier_evict_block(t.f.ii, 3) == 0);
	// The next transaction "crashes" once its log is durable: a live lane.
	static std::atomic<bool> armed;
	armed = true;
	zus::pmfs::set_tx_fault_hook([](zus::pmfs::TxPoint p) {
		return p == zus::pmfs::TxPoint::kLogged &&
		       armed.exchange(false);
	});
	ztest::Buf b(4096);
	uint64_t last;
	CHECK(t.io(ZUFS_OP_WRITE, 64 * 4096, b, &last) == -EIO);
	zus::pmfs::set_tx_fault_hook(nullptr);
	t.fs.evict(t.f);
	t.f = {};
	t.zuf.close();
	REQUIRE(t.fs.umount() == 0); // leaves the media as the crash did

	std::string report;
	int rc = zus::fsck_image(t.fs.path, true, nullptr, &report);
	INFO(report);
	CHECK(rc == 1); // recovered by its mount (which needs the T2 size)
	CHECK(zus::fsck_image(t.fs.path, false, nullptr, &report) == 0);

	REQUIRE(iomap::T2Device::open(t.t2path, 0, &t.zuf.t2) == 0);
	REQUIRE(remount(t, t2opt(16 << 20)) == 0);
	CHECK(zus::pmfs::t2_used(*t.fs.sbi) == 2);
	CHECK(t.read(0, data.size()) == data);
}

TEST_CASE("tier: a crash anywhere in an eviction loses nothing", "[tier]")
{
	constexpr uint64_t kBlocks = 200; // 4 transactions of 64 leaf switches
	std::string data = ztest::pattern(kBlocks * 4096, 61);
	static std::atomic<int> countdown;
	static zus::pmfs::TxPoint point;
	for (auto p :
	     { zus::pmfs::TxPoint::kLogged, zus::pmfs::TxPoint::kModified }) {
		for (int k = 0; k < 5; ++k) {
			INFO("crash at transaction " << k << " point "
						     << int(p));
			TierFile t;
			t.write(0, data);
			point = p;
			countdown = k;
			zus::pmfs::set_tx_fault_hook([](zus::pmfs::TxPoint at) {
				return at == point &&
				       countdown.fetch_sub(1) == 0;
			});
			zus::pmfs::tier_make_room(*t.fs.sbi,
						  t.free_t1() + kBlocks);
			zus::pmfs::set_tx_fault_hook(nullptr);
			t.zuf.close();
			REQUIRE(iomap::T2Device::open(t.t2path, 0, &t.zuf.t2) ==
				0);
			REQUIRE(remount(t, t2opt(16 << 20)) == 0);
			uint64_t on_t2 = 0;
			for (uint64_t i = 0; i < kBlocks; ++i)
				on_t2 += t.on_t2(i);
			CHECK(zus::pmfs::t2_used(*t.fs.sbi) == on_t2);
			CHECK(on_t2 == std::min<uint64_t>(kBlocks, 64 * k));
			auto r = t.fs.check();
			INFO(r.report);
			CHECK(r.errors == 0);
			REQUIRE(ztest::same(t.read(0, data.size()), data));
		}
	}
}

TEST_CASE("tier: many small files fill T1 + T2", "[tier]")
{
	TierFile t;
	constexpr int kFiles = 600; // 600 x 64 KiB = 37.5 MiB > 32 MiB of T1
	std::vector<ztest::Inode> files(kFiles);
	for (int i = 0; i < kFiles; ++i) {
		REQUIRE(t.fs.create(t.fs.root, "s" + std::to_string(i),
				    S_IFREG | 0644, &files[i]) == 0);
		std::swap(t.f, files[i]); // TierFile::write writes t.f
		t.write(0, ztest::pattern(64 * 1024, 1000 + i));
		std::swap(t.f, files[i]);
	}
	for (int i = 0; i < kFiles; i += 7) {
		std::swap(t.f, files[i]);
		REQUIRE(ztest::same(t.read(0, 64 * 1024),
				    ztest::pattern(64 * 1024, 1000 + i)));
		std::swap(t.f, files[i]);
	}
	CHECK(zus::pmfs::t2_used(*t.fs.sbi) > 0);
	t.settle();
	auto r = t.fs.check();
	INFO(r.report);
	CHECK(r.errors == 0);
	for (auto &f : files)
		t.fs.evict(f);
}

// Freeing never needs space (issue 11): with T1 and T2 full, a punch and a
// shrinking truncate whose partial block is on T2 bring that block back
// (from the reserve for freeing operations, balloc.h) instead of ENOSPC.
TEST_CASE("tier: a shrinking truncate or a punch on a full T1 + T2 works",
	  "[tier]")
{
	TierFile t;
	const std::string data = ztest::pattern(3 * 4096 + 100, 9);
	t.write(0, data);
	REQUIRE(zus::pmfs::tier_evict_block(t.f.ii, 1) == 0);
	REQUIRE(zus::pmfs::tier_evict_block(t.f.ii, 2) == 0);
	REQUIRE(zus::pmfs::tier_evict_block(t.f.ii, 3) == 0); // partial, last
	// Fill T1 and T2 with another file until ENOSPC.
	ztest::Inode g;
	REQUIRE(t.fs.create(t.fs.root, "fill", S_IFREG | 0644, &g) == 0);
	std::swap(t.f, g);
	int err = 0;
	uint64_t at = 0;
	auto fill = [&](uint64_t piece) {
		for (err = 0; !err && at < (128ULL << 20);) {
			ztest::Buf b(piece);
			uint64_t last = 0;
			err = t.io(ZUFS_OP_WRITE, at, b, &last);
			at = last;
		}
	};
	fill(1 << 20);
	// The evictor's migrations in flight free some more T1: stop it, then
	// fill what they left.
	t.settle();
	fill(16 << 10);
	std::swap(t.f, g);
	REQUIRE(err == -ENOSPC);
	INFO("T1 available " << t.fs.sbi->balloc.available() << ", T2 free "
			     << zus::pmfs::t2_free_blocks(*t.fs.sbi));
	REQUIRE(zus::pmfs::t2_free_blocks(*t.fs.sbi) < 64);
	REQUIRE(t.fs.sbi->balloc.available() < 64);
	REQUIRE(t.on_t2(1));
	REQUIRE(t.on_t2(2));
	REQUIRE(t.on_t2(3));

	// A READ needs no space either, the partial last block included
	// (served from T2 into the request's page).
	{
		ztest::Buf b(4 * 4096);
		uint64_t last = 0;
		CHECK(t.io(ZUFS_OP_READ, 0, b, &last) == 0);
		CHECK(last == data.size());
		CHECK(std::string(b.data(), data.size()) == data);
	}

	std::string want = data;
	// A punch inside block 1 (on T2): that block comes back, zeroed there.
	CHECK(t.fs.falloc(t.f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			  4096 + 10, 20) == 0);
	want.replace(4096 + 10, 20, 20, '\0');
	// A truncate inside block 2 (on T2).
	CHECK(t.fs.setattr(t.f, STATX_SIZE, 2 * 4096 + 50) == 0);
	want.resize(2 * 4096 + 50);
	CHECK_FALSE(t.on_t2(2));

	// Room again, then every byte is checked.
	REQUIRE(t.fs.setattr(g, STATX_SIZE, 0) == 0);
	CHECK(t.read(0, 4 * 4096) == want);
	REQUIRE(t.fs.setattr(t.f, STATX_SIZE, 3 * 4096) ==
		0); // the tail reads 0
	want.resize(3 * 4096, '\0');
	CHECK(t.read(0, 4 * 4096) == want);
	auto r = t.fs.check();
	INFO(r.report);
	CHECK(r.errors == 0);
	t.fs.evict(g);
}

// Blocks shared by COPY (server/pmfs/refc.h) stay on T1: the evictor and the
// test hook skip them; once a write has unshared one, it may go.
TEST_CASE("tier: a block shared by COPY is never evicted", "[tier][refc]")
{
	TierFile t;
	std::string data = ztest::pattern(8 * 4096, 51);
	t.write(0, data);
	ztest::Inode g;
	REQUIRE(t.fs.create(t.fs.root, "g", S_IFREG | 0644, &g) == 0);
	// Block 7 goes to T2 first: COPY copies it instead of sharing it.
	REQUIRE(zus::pmfs::tier_evict_block(t.f.ii, 7) == 0);
	uint64_t copied = 0;
	REQUIRE(t.fs.copy(t.f, 0, g, 0, 8 * 4096, &copied) == 0);
	REQUIRE(copied == 8 * 4096);
	CHECK(t.fs.read(g, 0, data.size()) == data);
	CHECK(zus::pmfs::tier_evict_block(t.f.ii, 1) == -EBUSY);
	zus::pmfs::tier_make_room(*t.fs.sbi, 1 << 20); // wants everything
	for (uint64_t i = 0; i < 7; ++i)
		CHECK_FALSE(t.on_t2(i));
	// A write to g unshares its block 1: f's may go to T2 now.
	REQUIRE(t.fs.write(g, 4096 + 5, "x") == 0);
	CHECK(zus::pmfs::tier_evict_block(t.f.ii, 1) == 0);
	CHECK(t.on_t2(1));
	CHECK(t.read(0, data.size()) == data);
	std::string dg = data;
	dg[4096 + 5] = 'x';
	CHECK(t.fs.read(g, 0, data.size()) == dg);
	auto r = t.fs.check();
	INFO(r.report);
	CHECK(r.errors == 0);
	t.fs.evict(g);
}

TEST_CASE("tier: a promotion is committed only by the request it was handed "
	  "to",
	  "[tier]")
{
	TierFile t;
	std::string data = ztest::pattern(4 * 4096, 77);
	t.write(0, data);
	REQUIRE(zus::pmfs::tier_evict_block(t.f.ii, 1) == 0);

	// A: a GET_MULTY of block 1 is answered RETRY (ZUSMEM_READ into a
	// fresh T1 block); its shim has not run the iomap yet.
	std::vector<uint64_t> a((offsetof(zufs_ioc_IO, iom_e) + 64 * 8) / 8, 0);
	auto *io = reinterpret_cast<zufs_ioc_IO *>(a.data());
	auto fill = [&] {
		std::fill(a.begin(), a.end(), 0);
		io->hdr.operation = ZUFS_OP_GET_MULTY;
		io->hdr.len = 4096;
		io->zus_ii = t.f.ii;
		io->filepos = 4096;
		io->ziom.iom_max = 64;
	};
	fill();
	REQUIRE(t.fs.dispatch(&io->hdr, a.size() * 8) == -EZUFS_RETRY);
	std::vector<uint64_t> iom(io->iom_e, io->iom_e + io->ziom.iom_n);

	// B, another request for the same block, must neither commit A's
	// promotion (its T1 block holds nothing yet) nor free it: it waits.
	std::vector<uint64_t> b;
	std::atomic<bool> b_done{ false };
	int b_err = 1;
	const uint64_t waits = zus::pmfs::tier_stats(*t.fs.sbi).promo_waits;
	std::thread tb([&] {
		b_err = get_multy(t, b, 4096, 4096, 0);
		b_done = true;
	});
	REQUIRE(eventually([&] {
		return zus::pmfs::tier_stats(*t.fs.sbi).promo_waits > waits;
	}));
	CHECK_FALSE(b_done.load());

	// A's shim runs the iomap and sends A again: A commits.
	iomap::ExecEnv env;
	env.pools = t.zuf.pools;
	env.t2 = t.zuf.t2.get();
	REQUIRE(iomap::execute(iom.data(), uint32_t(iom.size()), env) == 0);
	std::memcpy(io->iom_e, iom.data(),
		    iom.size() * 8); // as rw.cc leaves it
	io->hdr.err = 0;
	REQUIRE(t.fs.dispatch(&io->hdr, a.size() * 8) == 0);
	tb.join();
	REQUIRE(b_err == 0);

	// Both map the block's real bytes.
	for (auto *m : { io, reinterpret_cast<zufs_ioc_IO *>(b.data()) }) {
		REQUIRE(m->ziom.iom_n == 1);
		uint64_t bn = zu_dpp_t_bn(_zufs_iom_first_val(&m->iom_e[0]));
		REQUIRE(bn);
		CHECK(std::string(t.fs.base + bn * 4096, 4096) ==
		      data.substr(4096, 4096));
	}
	put_multy(t, a);
	put_multy(t, b);
	CHECK(t.read(0, 4 * 4096) == data);
	auto r = t.fs.check();
	INFO(r.report);
	CHECK(r.errors == 0);
}

// Issue 11: the shim failed a promotion's IOM_T2_ZUSMEM_READ (T2 down) and
// said nothing; the same thread's next request reuses the same message
// address. It must not be taken for the promotion's owner: that would
// commit a T1 block never filled and free the T2 copy.
TEST_CASE("tier: a promotion whose iomap failed is never committed", "[tier]")
{
	TierFile t;
	std::string data = ztest::pattern(4 * 4096, 91);
	t.write(0, data);
	REQUIRE(zus::pmfs::tier_evict_block(t.f.ii, 1) == 0);
	const uint64_t t2_before = zus::pmfs::t2_used(*t.fs.sbi);
	const uint64_t free_before = t.free_t1();

	zufs_ioc_IO io; // one message slot, reused as rw.cc's stack slot is
	ztest::Buf b(4096);
	auto send = [&](zus_iomap_build *token, int in_err) {
		std::memset(&io, 0, sizeof(io));
		io.hdr.operation = ZUFS_OP_READ;
		io.hdr.len = 4096;
		io.hdr.err = in_err;
		io.zus_ii = t.f.ii;
		io.filepos = 4096;
		io.last_pos = 4096;
		io.ziom.iom_max = ZUFS_WRITE_OP_SPACE;
		io.ziom.iomb = token;
		return t.fs.dispatch(&io.hdr, sizeof(io), b.list());
	};
	// The first request: RETRY, with a ZUSMEM_READ the shim then fails.
	REQUIRE(send(nullptr, 0) == -EZUFS_RETRY);
	REQUIRE(io.ziom.iom_n > 0);
	zus_iomap_build *token = io.ziom.iomb;
	CHECK(token != nullptr);

	SECTION("the next request in the same slot reads the real bytes")
	{
		std::memset(b.data(), 0x77, 4096);
		int err = send(nullptr, 0);
		if (err == 0 && io.ziom.iom_n) { // a cold read: run it
			iomap::ExecEnv env;
			env.pools = t.zuf.pools;
			env.app_pages = b.list();
			env.t2 = t.zuf.t2.get();
			REQUIRE(iomap::execute(io.iom_e, io.ziom.iom_n, env) ==
				0);
		}
		REQUIRE(err == 0);
		CHECK(ztest::same(b.str(), data.substr(4096, 4096)));
		CHECK(t.on_t2(1)); // not promoted by someone else's iomap
		// The failure reported late still drops the promotion.
		CHECK(send(token, -EIO) == -EIO);
	}
	SECTION("the shim reports the failure: nothing moves")
	{
		CHECK(send(token, -EIO) == -EIO);
		CHECK(t.on_t2(1));
		CHECK(zus::pmfs::t2_used(*t.fs.sbi) == t2_before);
		CHECK(t.free_t1() == free_before); // the T1 block went back
		// A stale or forged token later commits nothing either.
		CHECK(send(token, 0) == -EZUFS_RETRY);
		CHECK(io.ziom.iomb != token);
		CHECK(send(io.ziom.iomb, -EIO) == -EIO);
	}
	CHECK(t.on_t2(1));
	CHECK(zus::pmfs::t2_used(*t.fs.sbi) == t2_before);
	CHECK(ztest::same(t.read(0, data.size()), data));
	auto r = t.fs.check();
	INFO(r.report);
	CHECK(r.errors == 0);
}

// Issue 11 (T1 + T2 filling up under concurrency corrupted the image): a
// transaction that drops T2 leaves (truncate, punch, unlink) and then
// aborts (ENOSPC for a node, a full lane) must leave their T2 blocks
// allocated: freed at once, another file's eviction took them while the
// leaves still named them (fsck: T2 blocks owned by two inodes).
TEST_CASE("tier: T2 blocks dropped by a transaction are free only at commit",
	  "[tier]")
{
	TierFile t;
	std::string data = ztest::pattern(4 * 4096, 17);
	t.write(0, data);
	REQUIRE(zus::pmfs::tier_evict_block(t.f.ii, 1) == 0);
	REQUIRE(zus::pmfs::tier_evict_block(t.f.ii, 2) == 0);
	REQUIRE(zus::pmfs::t2_used(*t.fs.sbi) == 2);
	{
		std::unique_lock lk(t.f.ii->rw);
		zus::pmfs::Tx tx(*t.fs.sbi);
		zus::pmfs::BmapTx bt(*t.fs.sbi, tx, t.f.zi);
		bool done = false;
		REQUIRE(bt.truncate(0, 256, &done) == 0);
		CHECK(done);
		CHECK(zus::pmfs::t2_used(*t.fs.sbi) == 2); // not before commit
	} // aborted: the leaves stay
	CHECK(zus::pmfs::t2_used(*t.fs.sbi) == 2);
	CHECK(t.on_t2(1));
	CHECK(t.on_t2(2));
	CHECK(ztest::same(t.read(0, data.size()), data));
	REQUIRE(t.fs.setattr(t.f, STATX_SIZE, 0) == 0);
	CHECK(zus::pmfs::t2_used(*t.fs.sbi) == 0);
	auto r = t.fs.check();
	INFO(r.report);
	CHECK(r.errors == 0);
}

// A promotion whose request has not come back (a T2 that stalls) is taken
// over by a waiting request after a while; the T1 block it was reading
// into is not reused until its token comes back.
TEST_CASE("tier: a stalled promotion's T1 block is not reused when taken over",
	  "[tier]")
{
	TierFile t;
	std::string data = ztest::pattern(4 * 4096, 23);
	t.write(0, data);
	REQUIRE(zus::pmfs::tier_evict_block(t.f.ii, 1) == 0);
	// A: RETRY with a ZUSMEM_READ into t1; its shim is "stalled".
	zufs_ioc_IO a{};
	ztest::Buf ab(4096);
	a.hdr.operation = ZUFS_OP_READ;
	a.hdr.len = 4096;
	a.zus_ii = t.f.ii;
	a.filepos = 4096;
	a.last_pos = 4096;
	a.ziom.iom_max = ZUFS_WRITE_OP_SPACE;
	REQUIRE(t.fs.dispatch(&a.hdr, sizeof(a), ab.list()) == -EZUFS_RETRY);
	REQUIRE(_zufs_iom_opt_type(&a.iom_e[0]) == IOM_T2_ZUSMEM_READ);
	const char *a_t1 =
		reinterpret_cast<const char *>(uintptr_t(a.iom_e[1]));
	zus_iomap_build *a_token = a.ziom.iomb;
	const uint64_t free_before = t.free_t1();

	// B writes part of that block: it waits, takes over, promotes it
	// itself into another T1 block.
	t.write(4096 + 8, "takeover");
	CHECK_FALSE(t.on_t2(1));
	CHECK(t.fs.sbi->blk(zus::pmfs::bmap_leaf(*t.fs.sbi, t.f.zi, 1)) !=
	      a_t1);
	// A's block is still out of the allocator (the stalled read may land).
	CHECK(t.free_t1() < free_before);
	// A comes back (its iomap failed): now its block goes back.
	const uint64_t free_mid = t.free_t1();
	a.hdr.err = -EIO;
	a.ziom.iomb = a_token;
	CHECK(t.fs.dispatch(&a.hdr, sizeof(a), ab.list()) == -EIO);
	CHECK(t.free_t1() == free_mid + 1);
	std::string want = data;
	want.replace(4096 + 8, 8, "takeover");
	CHECK(ztest::same(t.read(0, want.size()), want));
	auto r = t.fs.check();
	INFO(r.report);
	CHECK(r.errors == 0);
}

// A WRITE into a block on T2 with T1 full needs room first, made by moving
// cold blocks to T2; a T2 that fails those writes is that request's error
// (EIO, issue 11), not ENOSPC: T2 has room. The block stays on T2 with its
// bytes, and once T2 works again the same write goes in.
TEST_CASE("tier: a promotion a failing T2 cannot make room for is EIO",
	  "[tier][fault]")
{
	TierFile t;
	const std::string data = ztest::pattern(4 * 4096, 61);
	t.write(0, data);
	REQUIRE(zus::pmfs::tier_evict_block(t.f.ii, 1) == 0);
	// No async evictor below.
	t.settle();
	struct NoFaults { // whatever happens below
		~NoFaults()
		{
			std::string why;
			iomap::set_t2_faults("", &why);
		}
	} no_faults_after;
	std::string why;
	REQUIRE(iomap::set_t2_faults("write", &why) == 0);
	// T1 filled by another file: with every T2 write failing nothing
	// moves, so the fill stops when T1 has no block left.
	ztest::Inode g;
	REQUIRE(t.fs.create(t.fs.root, "fill", S_IFREG | 0644, &g) == 0);
	std::swap(t.f, g);
	uint64_t at = 0;
	for (uint64_t piece : { uint64_t(1) << 20, uint64_t(16) << 10 }) {
		for (int err = 0; !err;) {
			ztest::Buf b(piece);
			uint64_t last = at;
			err = t.io(ZUFS_OP_WRITE, at, b, &last);
			at = last;
		}
	}
	std::swap(t.f, g);
	INFO("T1 available " << t.fs.sbi->balloc.available() << ", T2 free "
			     << zus::pmfs::t2_free_blocks(*t.fs.sbi));
	REQUIRE(t.fs.sbi->balloc.available() < 17);
	REQUIRE(zus::pmfs::t2_free_blocks(*t.fs.sbi) > 1000);

	ztest::Buf b(10);
	std::memcpy(b.data(), "XXXXXXXXXX", 10);
	uint64_t last = 0;
	CHECK(t.io(ZUFS_OP_WRITE, 4096 + 100, b, &last) == -EIO);
	CHECK(t.on_t2(1));

	REQUIRE(iomap::set_t2_faults("", &why) == 0);
	CHECK(ztest::same(t.read(0, data.size()), data));
	t.write(4096 + 100, "XXXXXXXXXX");
	std::string want = data;
	want.replace(4096 + 100, 10, "XXXXXXXXXX");
	CHECK(ztest::same(t.read(0, data.size()), want));
	auto r = t.fs.check();
	INFO(r.report);
	CHECK(r.errors == 0);
	t.fs.evict(g);
}

namespace {

// One READ or WRITE of file f, re-dispatched after each RETRY, as
// TierFile::io but without Catch assertions (it runs on a thread of its
// own). The error; *last set.
int mt_io(TierFile &t, ztest::Inode f, int op, uint64_t pos, ztest::Buf &b,
	  uint64_t *last)
{
	zus_iomap_build *token = nullptr;
	for (int tries = 0; tries < 64; ++tries) {
		zufs_ioc_IO io{};
		io.ziom.iomb = token;
		io.hdr.operation = uint16_t(op);
		io.hdr.offset = b.offset;
		io.hdr.len = uint32_t(b.len);
		io.zus_ii = f.ii;
		io.filepos = pos;
		io.last_pos = pos;
		io.ziom.iom_max = ZUFS_WRITE_OP_SPACE;
		int err = t.fs.dispatch(&io.hdr, sizeof(io), b.list());
		*last = io.last_pos;
		iomap::ExecEnv env;
		env.pools = t.zuf.pools;
		env.app_pages = b.list();
		env.t2 = t.zuf.t2.get();
		if (!err && io.ziom.iom_n)
			return iomap::execute(io.iom_e, io.ziom.iom_n, env);
		if (err != -EZUFS_RETRY)
			return err;
		token = io.ziom.iomb;
		if (int e = iomap::execute(io.iom_e, io.ziom.iom_n, env))
			return e;
	}
	return -ELOOP;
}

} // namespace

// A WRITE short of T1 whose evictions could only move blocks of files with
// GET_MULTY pins out: their T1 copies wait for the last PUT_MULTY
// (zus_sb_info::release_blocks), so the request held nothing new and the
// part written came back as a short write, with T2 room left (soak, issue
// 11). With T2 room a WRITE waits for those blocks and completes.
TEST_CASE("tier: a WRITE whose room waits for a PUT_MULTY is not short",
	  "[tier]")
{
	TierFile t;
	t.settle(); // synchronous evictions only
	ztest::Inode g, h, w;
	REQUIRE(t.fs.create(t.fs.root, "g", S_IFREG | 0644, &g) == 0);
	REQUIRE(t.fs.create(t.fs.root, "h", S_IFREG | 0644, &h) == 0);
	REQUIRE(t.fs.create(t.fs.root, "w", S_IFREG | 0644, &w) == 0);
	// Half of T1 in blocks COPY shares (never evicted: refc.h).
	constexpr uint64_t kShared = 16 << 20;
	std::swap(t.f, g);
	t.write(0, ztest::pattern(kShared, 71));
	std::swap(t.f, g);
	for (uint64_t at = 0; at < kShared;) {
		zufs_ioc_clone c{};
		c.hdr.operation = ZUFS_OP_COPY;
		c.src_zus_ii = g.ii;
		c.dst_zus_ii = h.ii;
		c.pos_in = c.pos_out = at;
		c.len = kShared - at;
		REQUIRE(t.fs.dispatch(&c.hdr, sizeof(c)) == 0);
		REQUIRE(c.copied > 0);
		at += c.copied;
	}
	REQUIRE(t.fs.write(w, 0, ztest::pattern(4 * 4096, 72)) == 0);
	// f takes the rest of T1 but about 64 blocks.
	const uint64_t fill = t.fs.sbi->balloc.available() - 80;
	const std::string fdata = ztest::pattern(fill * 4096, 73);
	t.write(0, fdata);
	// Pins out on f and w (GET_MULTY of their first blocks): what the
	// WRITE can move is f's blocks outside its hot window (w's are all
	// inside), whose T1 copies wait for the PUT_MULTY.
	auto pin = [&](ztest::Inode i, std::vector<uint64_t> &msg) {
		msg.assign((offsetof(zufs_ioc_IO, iom_e) + 4 * 8) / 8, 0);
		auto *io = reinterpret_cast<zufs_ioc_IO *>(msg.data());
		io->hdr.operation = ZUFS_OP_GET_MULTY;
		io->hdr.len = 4 * 4096;
		io->zus_ii = i.ii;
		io->ziom.iom_max = 4;
		REQUIRE(t.fs.dispatch(&io->hdr, msg.size() * 8) == 0);
		REQUIRE(io->ziom.iom_n == 4);
	};
	auto unpin = [&](std::vector<uint64_t> &msg) {
		auto *io = reinterpret_cast<zufs_ioc_IO *>(msg.data());
		io->hdr.operation = ZUFS_OP_PUT_MULTY;
		return t.fs.dispatch(&io->hdr, msg.size() * 8);
	};
	std::vector<uint64_t> fpin, wpin;
	pin(t.f, fpin);
	pin(w, wpin);
	const uint64_t avail = t.fs.sbi->balloc.available();
	INFO("T1 available " << avail << ", T2 free "
			     << zus::pmfs::t2_free_blocks(*t.fs.sbi));
	REQUIRE(avail < 256);
	// More than T1 has: the room comes from f's blocks going to T2.
	const std::string wdata = ztest::pattern((avail + 64) * 4096, 74);
	int err = 1;
	uint64_t last = 0;
	std::thread writer([&] {
		ztest::Buf b(wdata.size());
		std::memcpy(b.data(), wdata.data(), wdata.size());
		err = mt_io(t, w, ZUFS_OP_WRITE, 0, b, &last);
	});
	// The WRITE waits for the pinned blocks; then the PUT_MULTYs come.
	const bool waited = eventually([&] {
		return zus::pmfs::tier_stats(*t.fs.sbi).room_waits > 0;
	});
	CHECK(unpin(fpin) == 0);
	CHECK(unpin(wpin) == 0);
	writer.join();
	CHECK(waited);
	CHECK(err == 0);
	CHECK(last == wdata.size());
	CHECK(ztest::same(t.fs.read(w, 0, wdata.size()), wdata));
	CHECK(ztest::same(t.read(0, fdata.size()), fdata));
	auto r = t.fs.check();
	INFO(r.report);
	CHECK(r.errors == 0);
	for (auto *i : { &g, &h, &w })
		t.fs.evict(*i);
}
