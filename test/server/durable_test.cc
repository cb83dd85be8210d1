// SPDX-License-Identifier: BSD-3-Clause
// Power-loss model through the persistence hook: a shadow image receives
// only what was flushed *and* drained (or synced). Crashing at any point and
// mounting the shadow must give a consistent file system, and data that was
// made durable (DSYNC, SYNC) must be there. This catches a missing flush or
// a drain in the wrong place, which the "keep every store" crash test cannot.
#include <fcntl.h>
#include <linux/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <atomic>
#include <functional>
#include <mutex>
#include <vector>

#include "harness.h"
#include "server/persist.h"

using namespace ztest;
using zus::PersistEvent;

namespace {

struct Shadow {
	std::mutex mu;
	const char *base = nullptr;
	size_t len = 0;
	std::vector<char> img;
	std::vector<std::pair<size_t, size_t>> pending;
	bool frozen = false; // after the "power cut" nothing reaches it
	// Cut the power inside the cut_at-th drain (counting down; -1: never),
	// with `variant` choosing which of the flushed-but-not-drained ranges
	// made it anyway: 0 none, 1 all, others a pseudo-random subset (the
	// kernel may write any dirty page back at any time).
	int cut_at = -1;
	unsigned variant = 0;
} g_shadow;

void shadow_hook(PersistEvent ev, const void *addr, size_t n)
{
	Shadow &s = g_shadow;
	std::lock_guard lk(s.mu);
	if (s.frozen || !s.base)
		return;
	const char *p = static_cast<const char *>(addr);
	switch (ev) {
	case PersistEvent::FLUSH:
		if (p >= s.base && p + n <= s.base + s.len)
			s.pending.emplace_back(p - s.base, n);
		break;
	case PersistEvent::DRAIN:
		if (s.cut_at >= 0 && s.cut_at-- == 0) {
			uint32_t x = s.variant * 2654435761u;
			for (auto [off, len] : s.pending) {
				x = x * 1103515245u + 12345u;
				bool lands = s.variant == 1 ||
					     (s.variant > 1 && (x >> 16) % 2);
				if (lands)
					memcpy(s.img.data() + off, s.base + off,
					       len);
			}
			s.frozen = true;
			return;
		}
		for (auto [off, len] : s.pending)
			memcpy(s.img.data() + off, s.base + off, len);
		s.pending.clear();
		break;
	case PersistEvent::SYNC_ALL:
		if (p == s.base) {
			memcpy(s.img.data(), s.base, s.len);
			s.pending.clear();
		}
		break;
	case PersistEvent::STORE:
		break;
	}
}

// Start shadowing a mounted fs (its current state counts as durable).
void shadow_start(Fs &fs)
{
	std::lock_guard lk(g_shadow.mu);
	g_shadow.base = fs.base;
	g_shadow.len = fs.pool_size;
	// Read the file, not the mapping: reading a tmpfs mapping would
	// allocate every hole.
	g_shadow.img.assign(fs.pool_size, 0);
	int fd = open(fs.path.c_str(), O_RDONLY);
	REQUIRE(pread(fd, g_shadow.img.data(), fs.pool_size, 0) ==
		ssize_t(fs.pool_size));
	close(fd);
	g_shadow.pending.clear();
	g_shadow.frozen = false;
	g_shadow.cut_at = -1;
	zus::set_persist_hook(shadow_hook);
}

// The power cut: write what was durable into a new image.
std::string shadow_cut()
{
	std::lock_guard lk(g_shadow.mu);
	g_shadow.frozen = true;
	std::string path = temp_image();
	int fd = open(path.c_str(), O_RDWR);
	REQUIRE(ftruncate(fd, g_shadow.img.size()) == 0);
	static const char zero[4096] = {};
	bool ok = true;
	for (size_t off = 0; off < g_shadow.img.size(); off += 4096) // sparse
		if (memcmp(g_shadow.img.data() + off, zero, 4096))
			ok &= pwrite(fd, g_shadow.img.data() + off, 4096,
				     off) == 4096;
	close(fd);
	REQUIRE(ok);
	return path;
}

void shadow_stop()
{
	zus::set_persist_hook(nullptr);
	std::lock_guard lk(g_shadow.mu);
	g_shadow.base = nullptr;
	g_shadow.img.clear();
}

// Mount the cut image with a fresh server and check it.
void check_cut(const std::string &path,
	       const std::function<void(Fs &)> &more = {})
{
	Fs fs(16ULL << 20);
	::unlink(fs.path.c_str());
	fs.path = path;
	REQUIRE(fs.mount_opts("pmem=" + path) == 0);
	auto r = fs.check();
	INFO(r.report);
	CHECK(r.errors == 0);
	if (more)
		more(fs);
}

void workload(Fs &fs)
{
	Inode d, f;
	fs.create(fs.root, "d", S_IFDIR | 0755, &d);
	if (!d)
		return;
	for (int i = 0; i < 5; ++i)
		fs.create(d, "f" + std::to_string(i), S_IFREG | 0644);
	if (fs.lookup(d, "f1", &f) == 0) {
		fs.write(f, 0, pattern(1200000, 1));
		fs.write(f, 100, pattern(5000, 2)); // overwrite, lazy
		fs.write(f, 3000000, "x");
		fs.setattr(f, STATX_SIZE, 600000);
		fs.link(fs.root, f, "hard");
		fs.evict(f);
	}
	fs.rename(d, "f2", fs.root, "moved");
	fs.rename(d, "f3", fs.root, "moved");
	fs.create(d, "sub", S_IFDIR | 0755);
	fs.rename(d, "sub", fs.root, "sub");
	fs.unlink(d, "f0");
	fs.unlink(fs.root, "sub");
	fs.evict(d);
}

} // namespace

TEST_CASE("power cut inside every drain of a workload, with partial writeback",
	  "[server][durable]")
{
	// How many drains the workload makes.
	int total;
	{
		Fs fs(16ULL << 20);
		REQUIRE(fs.mount() == 0);
		static std::atomic<int> count;
		count = 0;
		zus::set_persist_hook(
			[](PersistEvent ev, const void *, size_t) {
			if (ev == PersistEvent::DRAIN)
				++count;
		});
		workload(fs);
		zus::set_persist_hook(nullptr);
		total = count;
	}
	REQUIRE(total > 30);
	for (int k = 0; k < total; ++k) {
		for (unsigned variant : { 0u, 1u, 2u, 3u }) {
			INFO("power cut in drain " << k << " of " << total
						   << ", variant " << variant);
			std::string cut;
			{
				Fs fs(16ULL << 20);
				REQUIRE(fs.mount() == 0);
				shadow_start(fs);
				{
					std::lock_guard lk(g_shadow.mu);
					g_shadow.cut_at = k;
					g_shadow.variant = variant;
				}
				workload(fs);
				cut = shadow_cut();
				shadow_stop();
			}
			check_cut(cut);
		}
	}
}

TEST_CASE("what DSYNC and SYNC made durable survives a power cut",
	  "[server][durable]")
{
	std::string d1 = pattern(300000, 7), d2 = pattern(5000, 8),
		    d3 = pattern(70000, 9);
	std::string cut;
	{
		Fs fs;
		REQUIRE(fs.mount() == 0);
		Inode f, g;
		REQUIRE(fs.create(fs.root, "f", S_IFREG | 0644, &f) == 0);
		REQUIRE(fs.create(fs.root, "g", S_IFREG | 0644, &g) == 0);
		REQUIRE(fs.write(g, 0, pattern(8192, 1)) == 0);
		REQUIRE(fs.sync(g) == 0);
		shadow_start(fs);
		REQUIRE(fs.write(f, 0, d1, 0, ZUFS_IO_DSYNC) ==
			0); // allocating
		REQUIRE(fs.write(f, 1000, d2, 0, ZUFS_IO_DSYNC) ==
			0);			    // overwrite
		REQUIRE(fs.write(g, 100, d3) == 0); // lazy, then SYNC
		REQUIRE(fs.sync(g) == 0);
		REQUIRE(fs.write(g, 0, "not synced") == 0);
		cut = shadow_cut();
		shadow_stop();
		fs.evict(f);
		fs.evict(g);
	}
	check_cut(cut, [&](Fs &fs) {
		Inode f, g;
		REQUIRE(fs.lookup(fs.root, "f", &f) == 0);
		std::string want = d1;
		want.replace(1000, d2.size(), d2);
		CHECK(f.zi->i_size == d1.size());
		CHECK(same(fs.read(f, 0, d1.size()), want));
		REQUIRE(fs.lookup(fs.root, "g", &g) == 0);
		CHECK(same(fs.read(g, 100, d3.size()), d3));
		fs.evict(f);
		fs.evict(g);
	});
}
