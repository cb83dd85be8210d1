// SPDX-License-Identifier: BSD-3-Clause
//
// iomap_executor_fuzz.cc - libFuzzer target: arbitrary iomaps against the
// executor with a fake request (pools, request pages, a T2 file in
// /dev/shm, an Unmapper that knows two inodes).
//
// Input: byte 0 = flags (bit 0: no T2 device, 1: no Unmapper, 2: request
// ino 0, 3: execute_async, 4: no request pages); then little-endian u64s,
// the iomap (iom_n = their count). A u64 0xFEED'PP'XXXXXXXXXX is replaced by
// base of pool PP + XXXXXXXXXX before the call, so ZUSMEM pointers can be
// valid.
//
// Checked on every input, beyond ASan/UBSan:
//  - validate() and execute() agree; nothing here makes T2 I/O fail, so
//    -EIO always means "refused";
//  - a refused iomap changed no byte of the pools or request pages,
//    submitted no T2 I/O and reported no unmap;
//  - every reported unmap lies inside its file.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <string>
#include <vector>

#include "iomap/executor.h"
#include "iomap/t2.h"

namespace {

constexpr size_t kPmemPages = 16;
constexpr size_t kZusmemPages = 8;
constexpr size_t kAppPages = 4;
constexpr uint64_t kT2Blocks = 64;
constexpr uint64_t kIno = 42;

[[noreturn]] void die(const char *what)
{
	fprintf(stderr, "iomap_executor_fuzz: invariant broken: %s\n", what);
	abort();
}

struct Unmapper : iomap::Unmapper {
	std::atomic<uint64_t> calls{ 0 };
	void unmap(uint64_t ino, uint64_t index, uint64_t n) override
	{
		uint64_t size;
		if (!inode_size(ino, &size))
			die("unmap of an unknown inode");
		uint64_t eof = (size + 4095) / 4096;
		if (n ? (index > eof || n > eof - index) : index > eof)
			die("unmap past EOF");
		calls++;
	}
	bool inode_size(uint64_t ino, uint64_t *size) override
	{
		if (ino == kIno)
			*size = 10 * 4096 + 1;
		else if (ino == 7)
			*size = 0;
		else
			return false;
		return true;
	}
};

struct World {
	char *mem = nullptr; // pmem | zusmem | app pages, contiguous
	size_t mem_bytes = 0;
	std::vector<char> saved;
	zufs_pool_info pools[ZUFS_MAX_POOLS] = {};
	void *app[kAppPages] = {};
	Unmapper unmapper;
	std::unique_ptr<iomap::T2Device> t2;
	std::string t2_path;

	World()
	{
		size_t pages = kPmemPages + kZusmemPages + kAppPages;
		mem_bytes = pages * 4096;
		mem = static_cast<char *>(aligned_alloc(4096, mem_bytes));
		for (size_t i = 0; i < mem_bytes; i++)
			mem[i] = char(i * 31 + 7);
		pools[0] = { uint64_t(uintptr_t(mem)), kPmemPages * 4096 };
		pools[1] = { uint64_t(uintptr_t(mem + kPmemPages * 4096)),
			     kZusmemPages * 4096 };
		for (size_t i = 0; i < kAppPages; i++)
			app[i] = mem + (kPmemPages + kZusmemPages + i) * 4096;
		saved.assign(mem, mem + mem_bytes);

		t2_path = "/dev/shm/zufuse-iomap-fuzz-" +
			  std::to_string(getpid());
		::unlink(t2_path.c_str());
		std::string msg;
		if (iomap::T2Device::open(t2_path, kT2Blocks * 4096, &t2,
					  &msg)) {
			fprintf(stderr, "%s\n", msg.c_str());
			abort();
		}
		::unlink(t2_path.c_str()); // the device keeps it open
	}

	uint64_t relocate(uint64_t v) const
	{
		if ((v >> 48) != 0xFEED)
			return v;
		unsigned pool = unsigned(v >> 40) & 0xff;
		uint64_t off = v & ((1ULL << 40) - 1);
		uint64_t base = pool < ZUFS_MAX_POOLS ? pools[pool].base : 0;
		return base + off;
	}
};

World &world()
{
	static World w; // lives for the whole run
	return w;
}

uint64_t t2_batches(World &w) { return w.t2->stats().batches; }

// IOMAP_FUZZ_STATS=1: print how many inputs were executed vs refused.
std::atomic<uint64_t> n_executed{ 0 }, n_refused{ 0 };
struct StatsAtExit {
	~StatsAtExit()
	{
		if (getenv("IOMAP_FUZZ_STATS"))
			fprintf(stderr,
				"iomap fuzz: %llu executed, %llu refused\n",
				(unsigned long long)n_executed.load(),
				(unsigned long long)n_refused.load());
	}
} stats_at_exit;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	World &w = world();
	uint8_t flags = data[0];
	size_t n = (size - 1) / 8;
	if (n > iomap::kMaxIomEntries + 8)
		return 0;
	std::vector<uint64_t> iom(n);
	for (size_t i = 0; i < n; i++) {
		uint64_t v;
		memcpy(&v, data + 1 + i * 8, 8);
		iom[i] = w.relocate(v);
	}

	iomap::ExecEnv env;
	env.pools = w.pools;
	if (!(flags & 16))
		env.app_pages = w.app;
	env.ino = (flags & 4) ? 0 : kIno;
	env.unmapper = (flags & 2) ? nullptr : &w.unmapper;
	env.t2 = (flags & 1) ? nullptr : w.t2.get();

	uint64_t batches = t2_batches(w);
	uint64_t unmaps = w.unmapper.calls;
	int verdict = iomap::validate(iom.data(), uint32_t(n), env);
	if (verdict != 0 && verdict != -EIO)
		die("validate returned something else than 0/-EIO");

	int r;
	if ((flags & 8) && env.t2) {
		std::promise<int> done;
		r = iomap::execute_async(iom.data(), uint32_t(n), env,
					 [&](int res) { done.set_value(res); });
		if (r == 0)
			r = done.get_future().get();
	} else {
		r = iomap::execute(iom.data(), uint32_t(n), env);
	}

	if (r != verdict)
		die("execute disagrees with validate");
	(r == 0 ? n_executed : n_refused)++;
	if (r == -EIO) {
		if (memcmp(w.mem, w.saved.data(), w.mem_bytes) != 0)
			die("a refused iomap changed memory");
		if (t2_batches(w) != batches)
			die("a refused iomap did T2 I/O");
		if (w.unmapper.calls != unmaps)
			die("a refused iomap reported an unmap");
	} else if (r == 0) {
		memcpy(w.saved.data(), w.mem, w.mem_bytes);
	} else {
		die("execute returned something else than 0/-EIO");
	}
	return 0;
}
