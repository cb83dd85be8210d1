// SPDX-License-Identifier: BSD-3-Clause
// pmfs's out-of-band iomaps: a fake zuf (ZufCalls) executes them through
// iomap::execute / execute_async against a T2Device on a /dev/shm file and
// sends IOM_DONE back through the server's channel, as the shim does.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <vector>

#include "harness.h"
#include "iomap/builder.h"
#include "iomap/executor.h"
#include "iomap/t2.h"
#include "server/pmfs/bmap.h"
#include "server/pmfs/pmfs.h"
#include "server/pmfs/tier.h"

namespace {

struct FakeZuf final : zufs::ZufCalls {
	zufs::Channel *srv = nullptr;
	std::vector<zufs_pool_info> pools;
	std::unique_ptr<iomap::T2Device> t2;
	std::atomic<int> execs{0};

	int iomap_exec(zufs_ioc_iomap_exec *ioc) override
	{
		++execs;
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
					zufs_ioc_iomap_done d = {};
					d.hdr.operation = ZUFS_OP_IOM_DONE;
					d.hdr.in_len = sizeof(d);
					d.hdr.err = result;
					d.zus_sbi = sbi;
					d.iomb = iomb;
					srv->dispatch(&d.hdr, {});
				});
			if (!err) // IOM_DONE may have freed ioc already
				return 0;
		}
		ioc->hdr.err = err;
		return err;
	}
};

struct TierFs {
	std::string t2path = "/dev/shm/zufs-tier-t2-" + std::to_string(getpid());
	std::string img = ztest::temp_image();
	FakeZuf zuf;
	std::unique_ptr<zufs::Channel> srv = zus::make_server(&zuf);
	zus_sb_info *sbi = nullptr;

	TierFs()
	{
		REQUIRE(iomap::T2Device::open(t2path, 16 << 20, &zuf.t2) == 0);
		zuf.srv = srv.get();
		std::string opts = "pmem=" + img + ",size=" +
				   std::to_string(32 << 20) +
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
		zuf.t2.reset(); // delivers every IOM_DONE, as the shim does
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
	iomap::Builder b(job->ziom());
	REQUIRE(b.t2_zusmem_write(3, fs.scratch(0), 4096) == 0);
	REQUIRE(zus::pmfs::exec_sync(*fs.sbi, *job) == 0);

	auto back = zus::pmfs::make_iomap_job(8);
	iomap::Builder rb(back->ziom());
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
		iomap::Builder b(job->ziom());
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

TEST_CASE("tier: refused async iomaps never complete; stray IOM_DONE",
	  "[tier]")
{
	TierFs fs;
	int called = 0;
	auto job = zus::pmfs::make_iomap_job(8);
	iomap::Builder b(job->ziom());
	REQUIRE(b.t2_zusmem_write(1 << 20, fs.scratch(0), 4096) == 0); // > T2
	CHECK(zus::pmfs::exec_async(*fs.sbi, std::move(job),
				    [&](int) { ++called; }) == -EIO);
	CHECK(called == 0);
	CHECK(fs.sbi->iom_jobs->in_flight() == 0);

	zufs_ioc_iomap_done d = {};
	d.hdr.operation = ZUFS_OP_IOM_DONE;
	d.hdr.in_len = sizeof(d);
	d.zus_sbi = fs.sbi;
	d.iomb = reinterpret_cast<zus_iomap_build *>(0x1234);
	CHECK(fs.srv->dispatch(&d.hdr, {}) == -EINVAL);
}

TEST_CASE("tier: a T2 error comes back as IOM_DONE -EIO", "[tier]")
{
	TierFs fs;
	// Read a T2 block into a pool range past the end of pool 0: refused
	// by the bounds check at once (not a T2 error); to get a real T2
	// error, shrink the store under the device.
	REQUIRE(truncate(fs.t2path.c_str(), 4096) == 0);
	std::atomic<int> result{1};
	auto job = zus::pmfs::make_iomap_job(8);
	iomap::Builder b(job->ziom());
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

struct TierFile {
	std::string t2path = "/dev/shm/zufs-tierf-t2-" + std::to_string(getpid());
	FakeZuf zuf;
	ztest::Fs fs{32ULL << 20};
	ztest::Inode f;
	int retries = 0;

	explicit TierFile(bool mkfs = true)
	{
		REQUIRE(iomap::T2Device::open(t2path, 16 << 20, &zuf.t2) == 0);
		fs.srv = zus::make_server(&zuf);
		zuf.srv = fs.srv.get();
		REQUIRE(fs.mount(std::string(mkfs ? "mkfs," : "") + "t2size=" +
				 std::to_string(16 << 20)) == 0);
		zuf.pools = {zufs_pool_info{uint64_t(uintptr_t(fs.base)), fs.pool_size}};
		REQUIRE(fs.create(fs.root, "f", S_IFREG | 0644, &f) == 0);
	}
	~TierFile()
	{
		fs.evict(f);
		zuf.t2.reset();
		fs.umount();
		unlink(t2path.c_str());
	}
	// One READ/WRITE, re-dispatched after each RETRY iomap.
	int io(int op, uint64_t pos, ztest::Buf &b, uint64_t *last)
	{
		for (int tries = 0; tries < 8; ++tries) {
			zufs_ioc_IO io{};
			io.hdr.operation = uint16_t(op);
			io.hdr.offset = b.offset;
			io.hdr.len = uint32_t(b.len);
			io.zus_ii = f.ii;
			io.filepos = pos;
			io.last_pos = pos;
			io.ziom.iom_max = ZUFS_WRITE_OP_SPACE;
			int err = fs.dispatch(&io.hdr, sizeof(io), b.list());
			*last = io.last_pos;
			if (err != -EZUFS_RETRY)
				return err;
			++retries;
			REQUIRE(io.ziom.iom_n > 0);
			REQUIRE(io.ziom.iom_n <= ZUFS_WRITE_OP_SPACE);
			iomap::ExecEnv env;
			env.pools = zuf.pools;
			env.t2 = zuf.t2.get();
			REQUIRE(iomap::execute(io.iom_e, io.ziom.iom_n, env) == 0);
		}
		return -EIO;
	}
	std::string read(uint64_t pos, size_t len)
	{
		ztest::Buf b(len);
		uint64_t last = 0;
		REQUIRE(io(ZUFS_OP_READ, pos, b, &last) == 0);
		return std::string(b.data(), last - pos);
	}
	void write(uint64_t pos, const std::string &s)
	{
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
	uint64_t free_t1()
	{
		struct statfs64 st = {};
		REQUIRE(fs.statfs(&st) == 0);
		return st.f_bfree;
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
		CHECK(zus::pmfs::t2_used(*t.fs.sbi) == 0); // 2 freed, 1 promoted
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
		std::vector<uint64_t> msg((offsetof(zufs_ioc_IO, iom_e) + kMax * 8) / 8);
		auto *io = reinterpret_cast<zufs_ioc_IO *>(msg.data());
		int err = -EZUFS_RETRY;
		for (int tries = 0; tries < 4 && err == -EZUFS_RETRY; ++tries) {
			std::memset(msg.data(), 0, msg.size() * 8);
			io->hdr.operation = ZUFS_OP_GET_MULTY;
			io->hdr.len = uint32_t(data.size());
			io->zus_ii = t.f.ii;
			io->ziom.iom_max = kMax;
			err = t.fs.dispatch(&io->hdr, msg.size() * 8);
			if (err == -EZUFS_RETRY) {
				iomap::ExecEnv env;
				env.pools = t.zuf.pools;
				env.t2 = t.zuf.t2.get();
				REQUIRE(iomap::execute(io->iom_e, io->ziom.iom_n, env) == 0);
			}
		}
		REQUIRE(err == 0);
		REQUIRE(io->ziom.iom_n == 4);
		for (uint32_t i = 0; i < 4; ++i) {
			uint64_t bn = zu_dpp_t_bn(_zufs_iom_first_val(&io->iom_e[i]));
			size_t n = std::min<size_t>(4096, data.size() - i * 4096);
			CHECK(std::memcmp(t.fs.sbi->blk(bn), data.data() + i * 4096, n) == 0);
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
