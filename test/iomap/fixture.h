// SPDX-License-Identifier: BSD-3-Clause
//
// fixture.h - a fake request environment for the iomap tests: a T2 file in
// /dev/shm, a "pmem" pool, a ZUSMEM pool, request pages and an Unmapper
// that records what it is told.
#ifndef ZUFS_TEST_IOMAP_FIXTURE_H
#define ZUFS_TEST_IOMAP_FIXTURE_H

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "zufs/iom_enc.h"
#include "iomap/executor.h"
#include "iomap/t2.h"

namespace iomap_test {

struct FreeDeleter {
	void operator()(void *p) const { std::free(p); }
};
using PageBuf = std::unique_ptr<char, FreeDeleter>;

inline PageBuf alloc_pages(size_t n)
{
	auto *p = static_cast<char *>(std::aligned_alloc(4096, n * 4096));
	std::memset(p, 0, n * 4096);
	return PageBuf(p);
}

struct Unmap {
	uint64_t ino, index, n;
	bool operator==(const Unmap &) const = default;
};

class FakeUnmapper : public iomap::Unmapper {
  public:
	void unmap(uint64_t ino, uint64_t index, uint64_t n) override
	{
		std::lock_guard lk(mu);
		calls.push_back({ ino, index, n });
	}
	bool inode_size(uint64_t ino, uint64_t *size) override
	{
		std::lock_guard lk(mu);
		auto it = sizes.find(ino);
		if (it == sizes.end())
			return false;
		*size = it->second;
		return true;
	}
	std::vector<Unmap> taken()
	{
		std::lock_guard lk(mu);
		return std::move(calls);
	}

	std::mutex mu;
	std::map<uint64_t, uint64_t> sizes;
	std::vector<Unmap> calls;
};

// A unique path in /dev/shm, removed at destruction.
struct TempPath {
	TempPath()
	{
		static std::atomic<int> n{ 0 };
		path = "/dev/shm/zufuse-iomap-test-" +
		       std::to_string(getpid()) + "-" + std::to_string(n++);
		::unlink(path.c_str());
	}
	~TempPath() { ::unlink(path.c_str()); }
	std::string path;
};

struct Env {
	static constexpr size_t kPmemPages = 64;
	static constexpr size_t kZusmemPages = 16;
	static constexpr size_t kAppPages = 4;
	static constexpr uint64_t kT2Blocks = 256;
	static constexpr uint64_t kIno = 42;

	explicit Env(bool with_t2 = true, uint64_t t2_blocks = kT2Blocks)
	    : pmem(alloc_pages(kPmemPages)), zusmem(alloc_pages(kZusmemPages)),
	      app(alloc_pages(kAppPages))
	{
		pools[0] = { uint64_t(uintptr_t(pmem.get())),
			     kPmemPages * 4096 };
		pools[1] = { uint64_t(uintptr_t(zusmem.get())),
			     kZusmemPages * 4096 };
		for (size_t i = 0; i < kAppPages; i++)
			app_ptrs[i] = app.get() + i * 4096;
		unmapper.sizes[kIno] = 10 * 4096 + 1; // 11 pages
		unmapper.sizes[7] = 4096;	      // 1 page
		if (with_t2) {
			std::string msg;
			int err = iomap::T2Device::open(
				t2_path.path, t2_blocks * 4096, &t2, &msg);
			if (err)
				throw std::runtime_error(msg);
			t2_blocks_ = t2_blocks;
		}
		fill_patterns();
	}

	iomap::ExecEnv env()
	{
		iomap::ExecEnv e;
		e.pools = pools;
		e.app_pages = app_ptrs;
		e.ino = kIno;
		e.unmapper = &unmapper;
		e.t2 = t2.get();
		return e;
	}

	char *pmem_page(size_t i) { return pmem.get() + i * 4096; }
	char *zusmem_page(size_t i) { return zusmem.get() + i * 4096; }
	char *app_page(size_t i) { return app.get() + i * 4096; }

	// Every page of every memory gets a distinct byte pattern.
	void fill_patterns()
	{
		for (size_t i = 0; i < kPmemPages; i++)
			std::memset(pmem_page(i), int(0x10 + i), 4096);
		for (size_t i = 0; i < kZusmemPages; i++)
			std::memset(zusmem_page(i), int(0x80 + i), 4096);
		for (size_t i = 0; i < kAppPages; i++)
			std::memset(app_page(i), int(0xc0 + i), 4096);
	}

	std::string t2_block(uint64_t bn)
	{
		std::string s(4096, '\0');
		if (::pread(t2_fd(), s.data(), 4096, off_t(bn * 4096)) != 4096)
			s = "<short>";
		return s;
	}

	void write_t2_block(uint64_t bn, int byte)
	{
		std::string s(4096, char(byte));
		if (::pwrite(t2_fd(), s.data(), 4096, off_t(bn * 4096)) != 4096)
			throw std::runtime_error("pwrite t2");
	}

	// A fingerprint of every byte the executor could touch.
	std::string snapshot()
	{
		std::string s(pmem.get(), kPmemPages * 4096);
		s.append(zusmem.get(), kZusmemPages * 4096);
		s.append(app.get(), kAppPages * 4096);
		if (t2_blocks_) {
			std::string f(t2_blocks_ * 4096, '\0');
			if (::pread(t2_fd(), f.data(), f.size(), 0) !=
			    ssize_t(f.size()))
				f = "<short>";
			s += f;
		}
		return s;
	}

	int t2_fd()
	{
		if (fd < 0)
			fd = ::open(t2_path.path.c_str(), O_RDWR);
		return fd;
	}
	~Env()
	{
		t2.reset();
		if (fd >= 0)
			::close(fd);
	}

	TempPath t2_path;
	PageBuf pmem, zusmem, app;
	std::array<zufs_pool_info, ZUFS_MAX_POOLS> pools{};
	std::array<void *, kAppPages> app_ptrs{};
	FakeUnmapper unmapper;
	std::unique_ptr<iomap::T2Device> t2;
	int fd = -1;
	uint64_t t2_blocks_ = 0;
};

// An iomap buffer of n u64s with its IomBuilder.
struct Iomap {
	explicit Iomap(uint32_t max = 64) : buf(sizeof(zufs_iomap) / 8 + max)
	{
		ziom()->iom_max = max;
		ziom()->iom_n = 0;
	}
	zufs_iomap *ziom()
	{
		return reinterpret_cast<zufs_iomap *>(buf.data());
	}
	__u64 *e() { return ziom()->iom_e; }
	uint32_t n() { return ziom()->iom_n; }
	zufs::IomBuilder b() { return zufs::IomBuilder(*ziom()); }
	std::vector<uint64_t> buf;
};

} // namespace iomap_test

#endif
