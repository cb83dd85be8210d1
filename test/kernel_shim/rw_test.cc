// SPDX-License-Identifier: BSD-3-Clause
// The read/write path (src/kernel_shim/rw.cc) against the fake server:
// chunking, flags, partial progress, EOF clipping, RETRY, malformed answers,
// and the zero-copy GET_MULTY read.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <linux/fs.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "fixture.h"
#include "kernel_shim/rw.h"

using fake::IoRecord;

namespace {

void fill_pattern(char *p, size_t n, unsigned seed)
{
	std::mt19937 rng(seed);
	for (size_t i = 0; i < n; ++i)
		p[i] = char(rng());
}

// An IOM_UNMAP of the request's inode.
void put_unmap(zufs_ioc_IO *io, uint64_t index, uint64_t n)
{
	_zufs_iom_enc_type_val(&io->iom_e[0], IOM_UNMAP, index);
	io->iom_e[1] = n;
	io->iom_e[2] = 0;
	io->ziom.iom_n = 3;
	io->ziom.iom_max = ZUFS_WRITE_OP_SPACE;
}

bool is_io(const zufs_ioc_hdr *hdr)
{
	return hdr->operation == ZUFS_OP_READ ||
	       hdr->operation == ZUFS_OP_WRITE;
}

} // namespace

TEST_CASE("rw: 9 MiB + 123 at offset 4095 splits at the right positions",
	  "[rw]")
{
	ShimFixture fx;
	const size_t kMax = ZUS_API_MAP_MAX_SIZE;
	const size_t total = 9 * (1 << 20) + 123;
	const uint64_t pos = 4095;
	AlignedBuf wbuf(total + PAGE_SIZE), rbuf(total + PAGE_SIZE);
	char *data = wbuf.p + 4095; // the buffer is page-unaligned too
	fill_pattern(data, total, 1);

	auto f = fx.open(fx.create("big"));
	REQUIRE(fx.write(*f, data, total, pos) == ssize_t(total));

	REQUIRE(fx.srv.ios.size() == 3);
	const IoRecord *io = fx.srv.ios.data();
	CHECK(io[0].op == ZUFS_OP_WRITE);
	CHECK(io[0].filepos == pos);
	CHECK(io[0].offset == 4095);
	CHECK(io[0].len == kMax - 4095);
	CHECK(io[0].nump == ZUS_API_MAP_MAX_PAGES);
	CHECK(io[0].first_page == wbuf.p);

	CHECK(io[1].filepos == kMax);
	CHECK(io[1].offset == 0);
	CHECK(io[1].len == kMax);
	CHECK(io[1].nump == ZUS_API_MAP_MAX_PAGES);
	CHECK(io[1].first_page == wbuf.p + kMax);

	CHECK(io[2].filepos == 2 * kMax);
	CHECK(io[2].offset == 0);
	CHECK(io[2].len == total - (2 * kMax - 4095));
	CHECK(io[2].nump == (io[2].len + PAGE_SIZE - 1) / PAGE_SIZE);

	fx.srv.ios.clear();
	char *back = rbuf.p + 4095;
	REQUIRE(fx.read(*f, back, total, pos) == ssize_t(total));
	REQUIRE(fx.srv.ios.size() == 3);
	CHECK(fx.srv.ios[0].op == ZUFS_OP_READ);
	CHECK(fx.srv.ios[0].len == kMax - 4095);
	CHECK(fx.srv.ios[2].len == io[2].len);
	CHECK(std::memcmp(data, back, total) == 0);
}

TEST_CASE("rw: flag mapping", "[rw]")
{
	using zuf::Readahead;
	CHECK(zuf::write_io_flags(0, false) == 0);
	CHECK(zuf::write_io_flags(O_DSYNC, false) == ZUFS_IO_DSYNC);
	// O_SYNC and a sync mount: the times too (ZUFS_IO_SYNC).
	CHECK(zuf::write_io_flags(O_SYNC, false) ==
	      (ZUFS_IO_DSYNC | ZUFS_IO_SYNC));
	CHECK(zuf::write_io_flags(0, true) == (ZUFS_IO_DSYNC | ZUFS_IO_SYNC));
	CHECK(zuf::write_io_flags(O_DIRECT, false) == ZUFS_IO_DIRECT);
	CHECK(zuf::write_io_flags(O_DIRECT | O_DSYNC, false) ==
	      (ZUFS_IO_DIRECT | ZUFS_IO_DSYNC));
	CHECK(zuf::rwf_to_oflags(RWF_DSYNC) == O_DSYNC);
	CHECK((zuf::rwf_to_oflags(RWF_SYNC) & O_SYNC) == O_SYNC);

	Readahead ra;
	CHECK(zuf::read_io_flags(0, &ra, 12345) == 0); // first read
	ra.prev_pos = 8192;
	CHECK(zuf::read_io_flags(0, &ra, 8192) == 0); // sequential
	CHECK(zuf::read_io_flags(0, &ra, 0) == ZUFS_IO_RAND);
	CHECK(zuf::read_io_flags(O_DIRECT, &ra, 8192) == ZUFS_IO_DIRECT);

	SECTION("through the Vfs: open flags, per-call flags, sync mount")
	{
		ShimFixture fx;
		char b[100] = {};
		auto f = fx.open(fx.create("a"), O_RDWR | O_DSYNC);
		REQUIRE(fx.write(*f, b, 100, 0) == 100);
		CHECK(fx.srv.ios.back().flags == ZUFS_IO_DSYNC);

		auto g = fx.open(fx.create("b"), O_RDWR);
		REQUIRE(fx.write(*g, b, 100, 0) == 100);
		CHECK(fx.srv.ios.back().flags == 0);
		REQUIRE(fx.write(*g, b, 100, 0,
				 zuf::rwf_to_oflags(RWF_DSYNC)) == 100);
		CHECK(fx.srv.ios.back().flags == ZUFS_IO_DSYNC);
	}
	SECTION("sync mount")
	{
		ShimFixture fx({ "pmem=/x", true });
		char b[10] = {};
		auto f = fx.open(fx.create("a"));
		REQUIRE(fx.write(*f, b, 10, 0) == 10);
		CHECK(fx.srv.ios.back().flags ==
		      (ZUFS_IO_DSYNC | ZUFS_IO_SYNC));
		fx.vfs.set_sync(false, false); // remount,async
		REQUIRE(fx.write(*f, b, 10, 0) == 10);
		CHECK(fx.srv.ios.back().flags == 0);
	}
}

TEST_CASE("rw: readahead state travels in io->ra and comes back", "[rw]")
{
	ShimFixture fx;
	std::vector<char> b(3 * PAGE_SIZE, 'x');
	auto f = fx.open(fx.create("ra"));
	REQUIRE(fx.write(*f, b.data(), b.size(), 0) == ssize_t(b.size()));
	fx.srv.ios.clear();

	REQUIRE(fx.read(*f, b.data(), PAGE_SIZE, 0) == PAGE_SIZE);
	CHECK(fx.srv.ios.back().ra.prev_pos == ~0ULL);
	CHECK(fx.srv.ios.back().ra.ra_pages == ZUFS_READAHEAD_PAGES);
	CHECK(fx.srv.ios.back().flags == 0);

	REQUIRE(fx.read(*f, b.data(), PAGE_SIZE, PAGE_SIZE) == PAGE_SIZE);
	CHECK(fx.srv.ios.back().ra.prev_pos == PAGE_SIZE);
	CHECK(fx.srv.ios.back().flags == 0);

	REQUIRE(fx.read(*f, b.data(), 10, 0) == 10);
	CHECK(fx.srv.ios.back().flags == ZUFS_IO_RAND);

	// A server that updates the state has it stored back.
	fx.srv.hook = [](zufs_ioc_hdr *hdr, zufs::page_list) {
		if (!is_io(hdr))
			return false;
		auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
		io->ra.start = 77;
		io->ra.ra_pages = 3;
		io->ra.prev_pos = 5;
		io->last_pos = io->filepos + io->hdr.len;
		hdr->err = 0;
		return true;
	};
	REQUIRE(fx.read(*f, b.data(), 10, 100) == 10);
	fx.srv.hook = nullptr;
	REQUIRE(fx.read(*f, b.data(), 10, 5) == 10);
	CHECK(fx.srv.ios.back().ra.start == 77);
	CHECK(fx.srv.ios.back().ra.ra_pages == 3);
	CHECK(fx.srv.ios.back().ra.prev_pos == 5);
	CHECK(fx.srv.ios.back().flags == 0);
}

TEST_CASE("rw: partial progress", "[rw]")
{
	ShimFixture fx;
	const size_t total = 2 * ZUS_API_MAP_MAX_SIZE;
	AlignedBuf buf(total);
	auto f = fx.open(fx.create("p"));
	int calls = 0;

	SECTION("error in the second chunk: bytes done")
	{
		fx.srv.hook = [&](zufs_ioc_hdr *hdr, zufs::page_list) {
			if (hdr->operation != ZUFS_OP_WRITE || ++calls < 2)
				return false;
			auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
			io->last_pos = io->filepos + 3 * PAGE_SIZE;
			hdr->err = -ENOSPC;
			return true;
		};
		CHECK(fx.write(*f, buf.p, total, 0) ==
		      ssize_t(ZUS_API_MAP_MAX_SIZE + 3 * PAGE_SIZE));
	}
	SECTION("a READ failing in the second chunk: the error")
	{
		REQUIRE(fx.write(*f, buf.p, total, 0) == ssize_t(total));
		fx.srv.hook = [&](zufs_ioc_hdr *hdr, zufs::page_list) {
			if (hdr->operation != ZUFS_OP_READ || ++calls < 2)
				return false;
			auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
			io->last_pos = io->filepos + 3 * PAGE_SIZE;
			hdr->err = -EIO;
			return true;
		};
		CHECK(fx.read(*f, buf.p, total, 0) == -EIO);
	}
	SECTION("error before any byte: the error")
	{
		fx.srv.hook = [&](zufs_ioc_hdr *hdr, zufs::page_list) {
			if (!is_io(hdr))
				return false;
			auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
			io->last_pos = io->filepos;
			hdr->err = -ENOSPC;
			return true;
		};
		CHECK(fx.write(*f, buf.p, total, 0) == -ENOSPC);
	}
}

TEST_CASE("rw: reads are clipped at i_size", "[rw]")
{
	ShimFixture fx;
	std::vector<char> b(1 << 20, 'a');
	auto f = fx.open(fx.create("eof"));
	REQUIRE(fx.write(*f, b.data(), 10000, 0) == 10000);
	fx.srv.ios.clear();

	CHECK(fx.read(*f, b.data(), b.size(), 0) == 10000);
	REQUIRE(fx.srv.ios.size() == 1);
	CHECK(fx.srv.ios[0].len == 10000);

	CHECK(fx.read(*f, b.data(), 500, 9900) == 100);
	CHECK(fx.srv.ios.back().len == 100);

	fx.srv.ios.clear();
	CHECK(fx.read(*f, b.data(), 500, 10000) == 0);
	CHECK(fx.read(*f, b.data(), 500, 20000) == 0);
	CHECK(fx.srv.ios.empty()); // nothing sent past EOF
}

TEST_CASE("rw: RETRY executes the iomap and re-dispatches", "[rw][retry]")
{
	ShimFixture fx;
	std::vector<char> b(2 * PAGE_SIZE, 'r');
	uint64_t ino = fx.create("t2");
	auto f = fx.open(ino);
	REQUIRE(fx.write(*f, b.data(), b.size(), 0) == ssize_t(b.size()));
	fx.srv.ios.clear();
	fx.inval.calls.clear();

	int dispatches = 0;
	std::vector<zufs_ioc_IO> seen;
	fx.srv.hook = [&](zufs_ioc_hdr *hdr, zufs::page_list) {
		if (hdr->operation != ZUFS_OP_WRITE)
			return false;
		auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
		seen.push_back(*io);
		if (++dispatches > 1)
			return false; // now the real answer
		put_unmap(io, 1, 1);
		io->last_pos = 12345; // garbage: IN fields must be restored
		hdr->err = -EZUFS_RETRY;
		return true;
	};
	CHECK(fx.write(*f, b.data(), 100, 50) == 100);
	CHECK(dispatches == 2);
	REQUIRE(seen.size() == 2);
	CHECK(seen[1].filepos == 50);
	CHECK(seen[1].last_pos == 50);
	CHECK(seen[1].hdr.len == 100);
	CHECK(seen[1].hdr.offset == seen[0].hdr.offset);
	REQUIRE(fx.inval.calls.size() == 1);
	CHECK(fx.inval.calls[0].ino == ino);
	CHECK(fx.inval.calls[0].offset == PAGE_SIZE);
	CHECK(fx.inval.calls[0].len == PAGE_SIZE);

	SECTION("RETRY forever: bounded, then -EIO")
	{
		dispatches = 0;
		fx.srv.hook = [&](zufs_ioc_hdr *hdr, zufs::page_list) {
			if (!is_io(hdr))
				return false;
			auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
			++dispatches;
			put_unmap(io, 0, 1);
			hdr->err = -EZUFS_RETRY;
			return true;
		};
		CHECK(fx.write(*f, b.data(), 100, 0) == -EIO);
		CHECK(dispatches == zuf::kMaxRetries + 1);
	}
	SECTION("RETRY without an iomap: -EIO")
	{
		fx.srv.hook = [&](zufs_ioc_hdr *hdr, zufs::page_list) {
			if (!is_io(hdr))
				return false;
			hdr->err = -EZUFS_RETRY;
			return true;
		};
		CHECK(fx.write(*f, b.data(), 100, 0) == -EIO);
		char r[10];
		CHECK(fx.read(*f, r, 10, 0) == -EIO);
	}
	SECTION("RETRY with an iomap larger than its buffer: -EIO")
	{
		fx.srv.hook = [&](zufs_ioc_hdr *hdr, zufs::page_list) {
			if (!is_io(hdr))
				return false;
			auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
			put_unmap(io, 0, 1);
			io->ziom.iom_max = 1000;
			io->ziom.iom_n = 1000;
			hdr->err = -EZUFS_RETRY;
			return true;
		};
		CHECK(fx.write(*f, b.data(), 100, 0) == -EIO);
	}
	SECTION("RETRY with a refused iomap (unmap past EOF): -EIO")
	{
		fx.inval.calls.clear();
		fx.srv.hook = [&](zufs_ioc_hdr *hdr, zufs::page_list) {
			if (!is_io(hdr))
				return false;
			auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
			put_unmap(io, 1000, 1);
			hdr->err = -EZUFS_RETRY;
			return true;
		};
		CHECK(fx.write(*f, b.data(), 100, 0) == -EIO);
		CHECK(fx.inval.calls.empty());
	}
	// Issue 11: the server's token (ziom.iomb) of a RETRY answer comes
	// back only with the re-dispatch after its iomap ran; a failed iomap
	// is reported by a re-dispatch with hdr.err < 0 and the token.
	auto *const token = reinterpret_cast<zus_iomap_build *>(0x4242);
	SECTION("RETRY token: returned after a good iomap")
	{
		seen.clear();
		dispatches = 0;
		fx.srv.hook = [&](zufs_ioc_hdr *hdr, zufs::page_list) {
			if (hdr->operation != ZUFS_OP_WRITE)
				return false;
			auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
			seen.push_back(*io);
			if (++dispatches > 1)
				return false;
			put_unmap(io, 1, 1);
			io->ziom.iomb = token;
			hdr->err = -EZUFS_RETRY;
			return true;
		};
		CHECK(fx.write(*f, b.data(), 100, 50) == 100);
		REQUIRE(seen.size() == 2);
		CHECK(seen[0].ziom.iomb == nullptr);
		CHECK(seen[1].ziom.iomb == token);
		CHECK(seen[1].hdr.err == 0);
		// The next request does not bring it.
		fx.srv.hook = [&](zufs_ioc_hdr *hdr, zufs::page_list) {
			if (is_io(hdr))
				seen.push_back(
					*reinterpret_cast<zufs_ioc_IO *>(hdr));
			return false;
		};
		CHECK(fx.write(*f, b.data(), 100, 50) == 100);
		REQUIRE(seen.size() == 3);
		CHECK(seen[2].ziom.iomb == nullptr);
	}
	SECTION("RETRY token: a failed iomap is reported, -EIO")
	{
		seen.clear();
		dispatches = 0;
		fx.srv.hook = [&](zufs_ioc_hdr *hdr, zufs::page_list) {
			if (!is_io(hdr))
				return false;
			auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
			seen.push_back(*io);
			++dispatches;
			if (hdr->err) { // the report: answer it as pmfs does
				return true;
			}
			put_unmap(io, 1000, 1); // refused by the executor
			io->ziom.iomb = token;
			hdr->err = -EZUFS_RETRY;
			return true;
		};
		CHECK(fx.write(*f, b.data(), 100, 0) == -EIO);
		REQUIRE(seen.size() == 2);
		CHECK(seen[1].ziom.iomb == token);
		CHECK(seen[1].hdr.err == -EIO);
		CHECK(seen[1].filepos == 0);
		CHECK(seen[1].hdr.len == 100);
	}
	SECTION("RETRY token: RETRY forever is reported too")
	{
		seen.clear();
		fx.srv.hook = [&](zufs_ioc_hdr *hdr, zufs::page_list) {
			if (!is_io(hdr))
				return false;
			auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
			seen.push_back(*io);
			if (hdr->err)
				return true;
			put_unmap(io, 0, 1);
			io->ziom.iomb = token;
			hdr->err = -EZUFS_RETRY;
			return true;
		};
		CHECK(fx.write(*f, b.data(), 100, 0) == -EIO);
		REQUIRE(seen.size() == size_t(zuf::kMaxRetries + 2));
		CHECK(seen.back().hdr.err == -EIO);
		CHECK(seen.back().ziom.iomb == token);
	}
}

TEST_CASE("rw: malformed answers are -EIO", "[rw][malformed]")
{
	ShimFixture fx;
	std::vector<char> b(4 * PAGE_SIZE, 'm');
	uint64_t ino = fx.create("m");
	auto f = fx.open(ino);
	REQUIRE(fx.write(*f, b.data(), b.size(), 0) == ssize_t(b.size()));
	fx.inval.calls.clear();

	SECTION("last_pos past the chunk")
	{
		fx.srv.hook = [](zufs_ioc_hdr *hdr, zufs::page_list) {
			if (!is_io(hdr))
				return false;
			auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
			io->last_pos = io->filepos + io->hdr.len + 1;
			hdr->err = 0;
			return true;
		};
		CHECK(fx.write(*f, b.data(), 100, 0) == -EIO);
		CHECK(fx.read(*f, b.data(), 100, 0) == -EIO);
	}
	SECTION("last_pos before filepos")
	{
		fx.srv.hook = [](zufs_ioc_hdr *hdr, zufs::page_list) {
			if (!is_io(hdr))
				return false;
			auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
			io->last_pos = io->filepos - 1;
			hdr->err = 0;
			return true;
		};
		CHECK(fx.read(*f, b.data(), 100, 10) == -EIO);
	}
	SECTION("wr_unmap outside the written pages")
	{
		fx.srv.hook = [](zufs_ioc_hdr *hdr, zufs::page_list) {
			if (!is_io(hdr))
				return false;
			auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
			io->last_pos = io->filepos + io->hdr.len;
			io->wr_unmap.offset = 5;
			io->wr_unmap.len = 100;
			hdr->err = 0;
			return true;
		};
		CHECK(fx.write(*f, b.data(), 100, 0) == -EIO);
		CHECK(fx.inval.calls.empty());
	}
	SECTION("an absurd hdr.err")
	{
		fx.srv.hook = [](zufs_ioc_hdr *hdr, zufs::page_list) {
			if (!is_io(hdr))
				return false;
			hdr->err = 77;
			return true;
		};
		CHECK(fx.write(*f, b.data(), 100, 0) == -EIO);
	}
	SECTION("a good wr_unmap becomes an invalidation")
	{
		auto g = fx.open(fx.create("holes"));
		REQUIRE(fx.write(*g, b.data(), 10, 3 * PAGE_SIZE + 5) == 10);
		REQUIRE(fx.inval.calls.size() == 1);
		CHECK(fx.inval.calls[0].offset == 3 * PAGE_SIZE);
		CHECK(fx.inval.calls[0].len == PAGE_SIZE);
	}
}

TEST_CASE("rw: zero-copy read through GET_MULTY / PUT_MULTY", "[rw][multy]")
{
	ShimFixture fx;
	std::vector<char> page0(PAGE_SIZE), page2(PAGE_SIZE);
	fill_pattern(page0.data(), PAGE_SIZE, 2);
	fill_pattern(page2.data(), PAGE_SIZE, 3);
	auto f = fx.open(fx.create("z"));
	REQUIRE(fx.write(*f, page0.data(), PAGE_SIZE, 0) == PAGE_SIZE);
	REQUIRE(fx.write(*f, page2.data(), 1000, 2 * PAGE_SIZE) == 1000);

	zuf::MappedRead mr;
	auto gather = [&] {
		std::string s;
		for (const iovec &v : mr.iov())
			s.append(static_cast<char *>(v.iov_base), v.iov_len);
		return s;
	};

	SECTION("data, a hole, and EOF")
	{
		REQUIRE(fx.vfs.read_mapped(*f, 1 << 20, 100, mr) ==
			2 * PAGE_SIZE + 1000 - 100);
		CHECK(fx.srv.pinned == 3);
		std::string got = gather();
		CHECK(got.substr(0, PAGE_SIZE - 100) ==
		      std::string(page0.data() + 100, PAGE_SIZE - 100));
		CHECK(got.substr(PAGE_SIZE - 100, PAGE_SIZE) ==
		      std::string(PAGE_SIZE, '\0'));
		CHECK(got.substr(2 * PAGE_SIZE - 100) ==
		      std::string(page2.data(), 1000));
		mr.release();
		CHECK(fx.srv.pinned == 0);
		mr.release(); // idempotent
		CHECK(fx.srv.pinned == 0);
	}
	SECTION("at or past EOF: nothing pinned")
	{
		CHECK(fx.vfs.read_mapped(*f, 100, 2 * PAGE_SIZE + 1000, mr) ==
		      0);
		CHECK(fx.srv.pinned == 0);
	}
	SECTION("bad block number: -EIO and the blocks go back")
	{
		fx.srv.hook = [&](zufs_ioc_hdr *hdr, zufs::page_list) {
			if (hdr->operation != ZUFS_OP_GET_MULTY)
				return false;
			auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
			io->last_pos = io->filepos + io->hdr.len;
			io->ziom.iom_n = 1;
			_zufs_iom_enc_type_val(
				&io->ziom.iom_e[0], IOM_T1_READ,
				zu_enc_dpp_t_bn(fx.srv.pool_size() / PAGE_SIZE,
						0));
			hdr->err = 0;
			return true;
		};
		int puts = 0;
		auto inner = fx.srv.hook;
		fx.srv.hook = [&](zufs_ioc_hdr *hdr, zufs::page_list p) {
			if (hdr->operation == ZUFS_OP_PUT_MULTY) {
				++puts;
				hdr->err = 0;
				return true;
			}
			return inner(hdr, p);
		};
		CHECK(fx.vfs.read_mapped(*f, 100, 0, mr) == -EIO);
		CHECK(puts == 1);
		CHECK(mr.iov().empty());
	}
	SECTION("wrong iom_n, wrong type, bad last_pos: -EIO")
	{
		int mode = GENERATE(0, 1, 2);
		fx.srv.hook = [&](zufs_ioc_hdr *hdr, zufs::page_list) {
			if (hdr->operation != ZUFS_OP_GET_MULTY)
				return false;
			auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
			io->last_pos = io->filepos + io->hdr.len;
			io->ziom.iom_n = 1;
			_zufs_iom_enc_type_val(&io->ziom.iom_e[0], IOM_T1_READ,
					       0);
			if (mode == 0)
				io->ziom.iom_n = 2;
			if (mode == 1)
				_zufs_iom_enc_type_val(&io->ziom.iom_e[0],
						       IOM_T1_WRITE, 0);
			if (mode == 2)
				io->last_pos += PAGE_SIZE;
			hdr->err = 0;
			return true;
		};
		CHECK(fx.vfs.read_mapped(*f, 100, 0, mr) == -EIO);
	}
}

// ZUFS_GBF_READ: the server maps a prefix and asks for the rest by READ
// (a cold T2 block, zus_api.h). The fake server answers GET_MULTY
// normally for [filepos, cut) and sets the flag.
TEST_CASE("rw: GET_MULTY with ZUFS_GBF_READ reads the rest by READ",
	  "[rw][multy]")
{
	ShimFixture fx;
	// Page-aligned (the fake server's WRITE wants buffer pages that line
	// up with file pages).
	AlignedBuf buf(3 * PAGE_SIZE);
	std::span<char> data(buf.p, 3 * PAGE_SIZE);
	fill_pattern(data.data(), data.size(), 5);
	auto f = fx.open(fx.create("c"));
	REQUIRE(fx.write(*f, data.data(), data.size(), 0) ==
		ssize_t(data.size()));
	fx.srv.ios.clear();

	uint64_t cut = 0, multy_flags = ~0ULL;
	uint32_t extra_flags = 0;
	int gets = 0, puts = 0;
	bool pass = false; // the fake answers this one itself
	fx.srv.hook = [&](zufs_ioc_hdr *hdr, zufs::page_list p) {
		if (pass)
			return false;
		if (hdr->operation == ZUFS_OP_PUT_MULTY)
			++puts;
		if (hdr->operation != ZUFS_OP_GET_MULTY)
			return false;
		++gets;
		auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
		multy_flags = io->flags;
		if (cut > io->filepos) { // the fake's own answer for the prefix
			uint32_t len = io->hdr.len;
			io->hdr.len = uint32_t(cut - io->filepos);
			pass = true;
			fx.srv.dispatch(hdr, p);
			pass = false;
			io->hdr.len = len;
		} else {
			io->last_pos = io->filepos;
			io->ziom.iom_n = 0;
			hdr->err = 0;
		}
		io->gp_block.ret_flags = ZUFS_GBF_READ | extra_flags;
		return true;
	};
	zuf::MappedRead mr;
	auto gather = [&] {
		std::string s;
		for (const iovec &v : mr.iov())
			s.append(static_cast<char *>(v.iov_base), v.iov_len);
		return s;
	};
	const size_t size = data.size() - 100;

	SECTION("a mapped prefix, then a READ into page-aligned pages")
	{
		cut = PAGE_SIZE;
		REQUIRE(fx.vfs.read_mapped(*f, size, 100, mr) == ssize_t(size));
		CHECK(gather() == std::string(data.data() + 100, size));
		CHECK(fx.srv.pinned == 1);
		CHECK(mr.copied() == 2 * PAGE_SIZE);
		REQUIRE(fx.srv.ios.size() == 1);
		const IoRecord r = fx.srv.ios[0]; // a copy: ios grows below
		CHECK(r.op == ZUFS_OP_READ);
		CHECK(r.filepos == PAGE_SIZE);
		CHECK(r.len == 2 * PAGE_SIZE);
		CHECK(r.offset == 0);
		CHECK(uintptr_t(r.first_page) % PAGE_SIZE == 0);
		CHECK(r.flags == multy_flags);
		mr.release();
		CHECK(fx.srv.pinned == 0);
		CHECK(puts == 1);
		// The buffer is kept: the next one lands in the same pages.
		REQUIRE(fx.vfs.read_mapped(*f, size, 100, mr) == ssize_t(size));
		REQUIRE(fx.srv.ios.size() == 2);
		CHECK(fx.srv.ios[1].first_page == r.first_page);
	}
	SECTION("nothing mapped: all by READ, no PUT_MULTY; random flag kept")
	{
		cut = 0;
		REQUIRE(fx.vfs.read_mapped(*f, 10, 2 * PAGE_SIZE, mr) == 10);
		// A random read now: not where the last one ended.
		REQUIRE(fx.vfs.read_mapped(*f, size, 100, mr) == ssize_t(size));
		CHECK(gather() == std::string(data.data() + 100, size));
		CHECK(mr.copied() == size);
		REQUIRE(fx.srv.ios.size() == 2);
		const IoRecord &r = fx.srv.ios[1];
		CHECK(r.filepos == 100);
		CHECK(r.offset == 100); // file offset % page = buffer offset
		CHECK((r.flags & ZUFS_IO_RAND));
		CHECK(r.flags == multy_flags);
		mr.release();
		CHECK(puts == 0);
		CHECK(fx.srv.pinned == 0);
	}
	SECTION("an unknown ret_flags bit is -EIO, the blocks go back")
	{
		cut = PAGE_SIZE;
		extra_flags = 0x100;
		CHECK(fx.vfs.read_mapped(*f, size, 100, mr) == -EIO);
		CHECK(fx.srv.pinned == 0);
		CHECK(mr.iov().empty());
		CHECK(fx.srv.ios.empty());
	}
	SECTION("the READ failing after a prefix: the error (a short read "
		"would read as EOF over FUSE)")
	{
		cut = PAGE_SIZE;
		auto inner = fx.srv.hook;
		fx.srv.hook = [&, inner](zufs_ioc_hdr *hdr, zufs::page_list p) {
			if (hdr->operation == ZUFS_OP_READ) {
				hdr->err = -EIO;
				return true;
			}
			return inner(hdr, p);
		};
		CHECK(fx.vfs.read_mapped(*f, size, 100, mr) == -EIO);
		CHECK(mr.iov().empty());
		mr.release();
		CHECK(fx.srv.pinned == 0);
	}
	mr.release();
	fx.srv.hook = nullptr; // it refers to this scope
}
