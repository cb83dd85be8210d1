// SPDX-License-Identifier: BSD-3-Clause
// The shim's tier 2: --t2 opened at mount (t2size told to the server),
// IOMAP_EXEC sync and async (IOM_DONE back to the server, in order, all
// before UMOUNT), T2 ops in RETRY and inline iomaps of READ and GET_MULTY.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "fixture.h"
#include "zufs/iom_enc.h"
#include "kernel_shim/mount_options.h"

namespace {

struct T2File {
	std::string path =
		"/dev/shm/zufuse-t2-shimtest-" + std::to_string(getpid());
	T2File() { unlink(path.c_str()); }
	~T2File() { unlink(path.c_str()); }
};

zuf::VfsOptions t2_opts(const T2File &t)
{
	zuf::VfsOptions o{ "pmem=/x" };
	o.t2_path = t.path;
	o.t2_size = 16 << 20;
	return o;
}

// An IOMAP_EXEC message with room for n entries.
struct ExecMsg {
	explicit ExecMsg(uint32_t n)
	    : buf((sizeof(zufs_ioc_iomap_exec) + n * 8 + 7) / 8)
	{
		ioc()->ziom.iom_max = n;
	}
	zufs_ioc_iomap_exec *ioc()
	{
		return reinterpret_cast<zufs_ioc_iomap_exec *>(buf.data());
	}
	std::vector<uint64_t> buf;
};

void fill(char *p, size_t n, unsigned seed)
{
	std::mt19937 rng(seed);
	for (size_t i = 0; i < n; ++i)
		p[i] = char(rng());
}

// The sbi cookie the fake server answered at mount: recorded by a hook on
// the first IOM_DONE, or read from an exec refused for a wrong one.
zus_sb_info *sbi_of(ShimFixture &fx)
{
	// The fake server's mount answer (fake_server.cc): zus_sbi is the
	// server object itself.
	return reinterpret_cast<zus_sb_info *>(&fx.srv);
}

} // namespace

TEST_CASE("t2: opened at mount, size told to the server", "[t2]")
{
	T2File t;
	ShimFixture fx(t2_opts(t));
	REQUIRE(fx.vfs.t2());
	CHECK(fx.vfs.t2()->size_blocks() == 4096);
	CHECK(fx.srv.last_options == "pmem=/x,t2size=16777216");
}

TEST_CASE("t2: an unusable T2 path fails the mount with one line", "[t2]")
{
	fake::FakeServer srv;
	zuf::VfsOptions o{ "pmem=/x" };
	o.t2_path = "/nonexistent-dir/t2";
	o.t2_size = 1 << 20;
	zuf::Vfs vfs(srv, o);
	std::string err;
	CHECK(vfs.mount(&err) < 0);
	CHECK(err.find("/nonexistent-dir/t2") != std::string::npos);
	CHECK(err.find('\n') == std::string::npos);
	CHECK(srv.mounts == 0);
}

TEST_CASE("t2: IOMAP_EXEC sync and async", "[t2][exec]")
{
	T2File t;
	ShimFixture fx(t2_opts(t));
	zus_sb_info *sbi = sbi_of(fx);

	// Two pool blocks: src (pattern) and dst.
	uint64_t ino = fx.create("f");
	auto f = fx.open(ino);
	std::vector<char> pat(2 * PAGE_SIZE);
	fill(pat.data(), pat.size(), 7);
	REQUIRE(fx.write(*f, pat.data(), pat.size(), 0) == ssize_t(pat.size()));
	char *src = fx.srv.pool() + fx.srv.block_of(ino, 0) * PAGE_SIZE;
	char *dst = fx.srv.pool() + fx.srv.block_of(ino, 1) * PAGE_SIZE;

	std::mutex mu;
	std::vector<std::pair<zus_iomap_build *, int>> done;
	fx.srv.hook = [&](zufs_ioc_hdr *hdr, zufs::page_list) {
		if (hdr->operation != ZUFS_OP_IOM_DONE)
			return false;
		auto *d = reinterpret_cast<zufs_ioc_iomap_done *>(hdr);
		std::lock_guard g(mu);
		CHECK(d->zus_sbi == sbi);
		done.push_back({ d->iomb, d->hdr.err });
		d->hdr.err = 0;
		return true;
	};

	SECTION("sync: pmem -> T2 -> pmem")
	{
		ExecMsg m(16);
		m.ioc()->zus_sbi = sbi;
		m.ioc()->wait_for_done = 1;
		zufs::IomBuilder b(m.ioc()->ziom);
		REQUIRE(b.t2_zusmem_write(10, src, PAGE_SIZE) == 0);
		REQUIRE(fx.vfs.iomap_exec(m.ioc()) == 0);
		CHECK(m.ioc()->hdr.err == 0);

		ExecMsg r(16);
		r.ioc()->zus_sbi = sbi;
		r.ioc()->wait_for_done = 1;
		zufs::IomBuilder rb(r.ioc()->ziom);
		REQUIRE(rb.t2_zusmem_read(10, dst, PAGE_SIZE) == 0);
		REQUIRE(fx.vfs.iomap_exec(r.ioc()) == 0);
		CHECK(std::memcmp(dst, src, PAGE_SIZE) == 0);
		CHECK(done.empty()); // sync: no IOM_DONE
	}
	SECTION("async: IOM_DONE per iomap, in submission order")
	{
		constexpr int kN = 32;
		for (int i = 0; i < kN; ++i) {
			ExecMsg m(16);
			m.ioc()->zus_sbi = sbi;
			m.ioc()->ziom.iomb =
				reinterpret_cast<zus_iomap_build *>(
					uintptr_t(0x1000 + i));
			zufs::IomBuilder b(m.ioc()->ziom);
			REQUIRE(b.t2_zusmem_write(100 + i, src, PAGE_SIZE) ==
				0);
			// The message may go away at once: the iomap is copied.
			REQUIRE(fx.vfs.iomap_exec(m.ioc()) == 0);
		}
		// Closing the T2 (as UMOUNT does) delivers every IOM_DONE.
		f.reset(); // the kernel releases every file before umount
		fx.vfs.umount();
		REQUIRE(done.size() == kN);
		for (int i = 0; i < kN; ++i) {
			CHECK(done[i].first ==
			      reinterpret_cast<zus_iomap_build *>(
				      uintptr_t(0x1000 + i)));
			CHECK(done[i].second == 0);
		}
		CHECK(fx.srv.umounts == 1);
	}
	SECTION("async: a bad iomap is refused at once, no IOM_DONE")
	{
		ExecMsg m(16);
		m.ioc()->zus_sbi = sbi;
		zufs::IomBuilder b(m.ioc()->ziom);
		REQUIRE(b.t2_zusmem_write(1 << 20, src, PAGE_SIZE) ==
			0); // > T2
		CHECK(fx.vfs.iomap_exec(m.ioc()) == -EIO);
		ExecMsg w(16);
		w.ioc()->zus_sbi = sbi;
		zufs::IomBuilder wb(w.ioc()->ziom);
		static char stack_page[PAGE_SIZE]; // not a registered pool
		REQUIRE(wb.t2_zusmem_write(1, stack_page, PAGE_SIZE) == 0);
		CHECK(fx.vfs.iomap_exec(w.ioc()) == -EIO);
		f.reset(); // the kernel releases every file before umount
		fx.vfs.umount();
		CHECK(done.empty());
	}
	SECTION("wrong sbi, or after umount: -EINVAL")
	{
		ExecMsg m(16);
		m.ioc()->zus_sbi = nullptr;
		m.ioc()->wait_for_done = 1;
		CHECK(fx.vfs.iomap_exec(m.ioc()) == -EINVAL);
		f.reset(); // the kernel releases every file before umount
		fx.vfs.umount();
		m.ioc()->zus_sbi = sbi;
		CHECK(fx.vfs.iomap_exec(m.ioc()) == -EINVAL);
	}
}

TEST_CASE("t2: async IOMAP_EXEC without a T2 is -EOPNOTSUPP", "[t2][exec]")
{
	ShimFixture fx;
	ExecMsg m(16);
	m.ioc()->zus_sbi = sbi_of(fx);
	CHECK(fx.vfs.iomap_exec(m.ioc()) == -EOPNOTSUPP);
	m.ioc()->wait_for_done = 1;
	CHECK(fx.vfs.iomap_exec(m.ioc()) == 0); // empty sync iomap
}

TEST_CASE("t2: READ served from T2, by RETRY (promotion) and inline",
	  "[t2][retry]")
{
	T2File t;
	ShimFixture fx(t2_opts(t));
	uint64_t ino = fx.create("cold");
	auto f = fx.open(ino);
	std::vector<char> zero(2 * PAGE_SIZE, 0);
	REQUIRE(fx.write(*f, zero.data(), zero.size(), 0) ==
		ssize_t(zero.size()));

	// T2 block 5 holds the "cold" page.
	AlignedBuf cold(PAGE_SIZE);
	fill(cold.p, PAGE_SIZE, 9);
	iomap::T2Page tp{ 5, cold.p, true };
	REQUIRE(fx.vfs.t2()->rw({ &tp, 1 }) == 0);
	char *blk0 = fx.srv.pool() + fx.srv.block_of(ino, 0) * PAGE_SIZE;

	int reads = 0;
	SECTION("RETRY with IOM_T2_ZUSMEM_READ into the pmem block")
	{
		fx.srv.hook = [&](zufs_ioc_hdr *hdr, zufs::page_list) {
			if (hdr->operation != ZUFS_OP_READ || reads++)
				return false; // second time: the real read
			auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
			io->ziom.iom_n = 0;
			zufs::IomBuilder b(io->ziom);
			REQUIRE(b.t2_zusmem_read(5, blk0, PAGE_SIZE) == 0);
			hdr->err = -EZUFS_RETRY;
			return true;
		};
		std::vector<char> got(1000);
		CHECK(fx.read(*f, got.data(), got.size(), 100) == 1000);
		CHECK(reads == 2);
		CHECK(std::memcmp(got.data(), cold.p + 100, 1000) == 0);
	}
	SECTION("inline IOM_T2_READ into the request's page")
	{
		fx.srv.hook = [&](zufs_ioc_hdr *hdr, zufs::page_list) {
			if (hdr->operation != ZUFS_OP_READ)
				return false;
			++reads;
			auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
			io->ziom.iom_n = 0;
			zufs::IomBuilder b(io->ziom);
			REQUIRE(b.t2_read(5, zufs::iom_t1_app_page(0)) == 0);
			io->last_pos = io->filepos + io->hdr.len;
			hdr->err = 0;
			return true;
		};
		AlignedBuf got(PAGE_SIZE);
		CHECK(fx.read(*f, got.p, PAGE_SIZE, 0) == PAGE_SIZE);
		CHECK(reads == 1);
		CHECK(std::memcmp(got.p, cold.p, PAGE_SIZE) == 0);
	}
	SECTION("inline iomap that fails the bounds check: -EIO, 0 bytes")
	{
		fx.srv.hook = [&](zufs_ioc_hdr *hdr, zufs::page_list) {
			if (hdr->operation != ZUFS_OP_READ)
				return false;
			auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
			io->ziom.iom_n = 0;
			zufs::IomBuilder b(io->ziom);
			REQUIRE(b.t2_read(5, zufs::iom_t1_app_page(3)) == 0);
			io->last_pos = io->filepos + io->hdr.len;
			hdr->err = 0;
			return true;
		};
		AlignedBuf got(PAGE_SIZE);
		CHECK(fx.read(*f, got.p, PAGE_SIZE, 0) == -EIO);
	}
	SECTION("GET_MULTY answered RETRY promotes, then maps")
	{
		int gets = 0;
		fx.srv.hook = [&](zufs_ioc_hdr *hdr, zufs::page_list) {
			if (hdr->operation != ZUFS_OP_GET_MULTY || gets++)
				return false;
			auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
			io->ziom.iom_n = 0;
			zufs::IomBuilder b(io->ziom);
			REQUIRE(b.t2_zusmem_read(5, blk0, PAGE_SIZE) == 0);
			hdr->err = -EZUFS_RETRY;
			return true;
		};
		zuf::MappedRead mr;
		REQUIRE(fx.vfs.read_mapped(*f, PAGE_SIZE, 0, mr) == PAGE_SIZE);
		CHECK(gets == 2);
		REQUIRE(mr.iov().size() == 1);
		CHECK(std::memcmp(mr.iov()[0].iov_base, cold.p, PAGE_SIZE) ==
		      0);
		mr.release();
	}
}

TEST_CASE("t2: --t2=PATH[,SIZE] and --t2-size", "[t2][options]")
{
	auto parse = [](std::vector<const char *> argv, zuf::CommandLine *cl,
			std::string *err) {
		argv.insert(argv.begin(), "zufuse");
		return zuf::parse_command_line(int(argv.size()), argv.data(),
					       cl, err);
	};
	zuf::CommandLine cl;
	std::string err;
	REQUIRE(parse({ "/mnt", "--pmem=/p", "--t2=/dev/shm/t2,1G" }, &cl,
		      &err));
	CHECK(cl.t2 == "/dev/shm/t2");
	CHECK(cl.t2_size == (1ULL << 30));
	zuf::CommandLine c2;
	REQUIRE(parse({ "/mnt", "--pmem=/p", "--t2", "/x", "--t2-size=64M" },
		      &c2, &err));
	CHECK(c2.t2 == "/x");
	CHECK(c2.t2_size == (64ULL << 20));
	zuf::CommandLine c3;
	CHECK_FALSE(parse({ "/mnt", "--pmem=/p", "--t2-size=1G" }, &c3, &err));
	CHECK(err == "--t2-size needs --t2=PATH");
	zuf::CommandLine c4;
	CHECK_FALSE(parse({ "/mnt", "--pmem=/p", "--t2=/x,lots" }, &c4, &err));
	CHECK(err.find("bad T2 size") == 0);
	// The server's option text does not carry it: Vfs::mount adds t2size.
	CHECK(zuf::server_options(cl) == "pmem=/p");
}

// Hidden: ./shim_t2_exec_test "[.bench]" -- the cost of a RETRY round trip
// and of serving a read from T2 instead of T1, in process (no FUSE).
TEST_CASE("t2: RETRY round trip and T2 read cost", "[.bench]")
{
	T2File t;
	zuf::VfsOptions o = t2_opts(t);
	o.t2_size = 64 << 20;
	ShimFixture fx(o);
	uint64_t ino = fx.create("b");
	auto f = fx.open(ino);
	AlignedBuf buf(1 << 20);
	std::memset(buf.p, 'x', 1 << 20);
	REQUIRE(fx.write(*f, buf.p, 1 << 20, 0) == (1 << 20));
	std::vector<iomap::T2Page> tp;
	for (uint64_t i = 0; i < 256; ++i)
		tp.push_back({ i, buf.p + i * PAGE_SIZE, true });
	REQUIRE(fx.vfs.t2()->rw(tp) == 0);
	char *blk0 = fx.srv.pool() + fx.srv.block_of(ino, 0) * PAGE_SIZE;

	auto time_ns = [&](int n, auto &&fn) {
		auto t0 = std::chrono::steady_clock::now();
		for (int i = 0; i < n; ++i)
			fn();
		return std::chrono::duration<double, std::nano>(
			       std::chrono::steady_clock::now() - t0)
			       .count() /
		       n;
	};
	constexpr int kN = 20000;
	double plain = time_ns(kN, [&] {
		REQUIRE(fx.read(*f, buf.p, PAGE_SIZE, 0) == PAGE_SIZE);
	});
	bool retry = false;
	bool t2 = false;
	fx.srv.hook = [&](zufs_ioc_hdr *hdr, zufs::page_list) {
		if (hdr->operation != ZUFS_OP_READ || !retry)
			return false;
		retry = false;
		auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
		io->ziom.iom_n = 0;
		zufs::IomBuilder b(io->ziom);
		if (t2)
			b.t2_zusmem_read(0, blk0, PAGE_SIZE);
		else
			b.unmap(0, 1);
		hdr->err = -EZUFS_RETRY;
		return true;
	};
	double rt = time_ns(kN, [&] {
		retry = true;
		REQUIRE(fx.read(*f, buf.p, PAGE_SIZE, 0) == PAGE_SIZE);
	});
	t2 = true;
	double promote = time_ns(kN / 4, [&] {
		retry = true;
		REQUIRE(fx.read(*f, buf.p, PAGE_SIZE, 0) == PAGE_SIZE);
	});
	// 1 MiB: T1 (server copy) vs inline IOM_T2_READ_LEN into the pages.
	fx.srv.hook = nullptr;
	double t1_1m = time_ns(500, [&] {
		REQUIRE(fx.read(*f, buf.p, 1 << 20, 0) == (1 << 20));
	});
	fx.srv.hook = [&](zufs_ioc_hdr *hdr, zufs::page_list) {
		if (hdr->operation != ZUFS_OP_READ)
			return false;
		auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
		io->ziom.iom_n = 0;
		zufs::IomBuilder b(io->ziom);
		b.t2_read_len(0, zufs::iom_t1_app_page(0), 256);
		io->last_pos = io->filepos + io->hdr.len;
		hdr->err = 0;
		return true;
	};
	double t2_1m = time_ns(500, [&] {
		REQUIRE(fx.read(*f, buf.p, 1 << 20, 0) == (1 << 20));
	});
	std::printf("4K read: %.0f ns; + RETRY round trip (IOM_UNMAP): %.0f ns "
		    "(+%.0f); + RETRY promoting 4K from T2 (ZUSMEM_READ): "
		    "%.0f ns\n",
		    plain, rt, rt - plain, promote);
	std::printf("1M read from T1: %.0f us (%.0f MB/s); inline from T2 "
		    "(%s): %.0f us (%.0f MB/s)\n",
		    t1_1m / 1000, (1 << 20) / t1_1m * 1000,
		    fx.vfs.t2()->direct() ? "O_DIRECT" : "buffered",
		    t2_1m / 1000, (1 << 20) / t2_1m * 1000);
}
