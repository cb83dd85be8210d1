// SPDX-License-Identifier: BSD-3-Clause
//
// tier_faults_test.cc - tier 2 failing and coming back, through a real
// mount (issue 11): 32 MiB of pmem and a 128 MiB T2 file in /dev/shm.
//  - The T2 file truncated under a running mount (a device that returns
//    short reads), data read (EIO, never wrong bytes), the T2 restored:
//    every byte reads back as written; fsck clean.
//  - Injected T2 faults (ZUFUSE_FAULT_T2): read errors, short reads, stalls,
//    write errors. Every read either fails with EIO or returns the bytes
//    written; every write that succeeded reads back after a remount
//    without faults; the mount stays alive; fsck clean.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <random>
#include <vector>

#include "integration.h"

namespace {

constexpr size_t kChunk = 1 << 20;
constexpr size_t kData = 24 << 20;   // the file under test
constexpr size_t kFiller = 40 << 20; // pushes it out of T1, then deleted

std::string chunk_of(uint64_t seed, size_t k)
{
	return zit::pattern(seed * 1000 + k, kChunk);
}

// Write size bytes of chunk_of(seed, k) in 1 MiB chunks; fsync.
bool write_chunks(const std::string &path, uint64_t seed, size_t size)
{
	int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0)
		return false;
	bool ok = true;
	for (size_t k = 0; ok && k < size / kChunk; ++k) {
		std::string c = chunk_of(seed, k);
		ok = pwrite(fd, c.data(), c.size(), off_t(k * kChunk)) ==
		     ssize_t(c.size());
	}
	ok = ok && fsync(fd) == 0;
	close(fd);
	return ok;
}

struct ReadTally {
	size_t good = 0, eio = 0, wrong = 0, other = 0;
	int other_errno = 0; // of the first "other" (0: a read of 0 bytes)
};

// Read every 4 KiB block of the file (O_DIRECT when direct, in a random
// order from seed, else sequentially by 64 KiB) and compare.
ReadTally read_check(const std::string &path, uint64_t seed, size_t size,
		     bool direct, uint64_t order_seed = 0)
{
	ReadTally t;
	int fd = open(path.c_str(), O_RDONLY | (direct ? O_DIRECT : 0));
	if (fd < 0) {
		t.other = 1;
		return t;
	}
	const size_t bs = direct ? 4096 : 65536;
	std::vector<size_t> at(size / bs);
	for (size_t i = 0; i < at.size(); ++i)
		at[i] = i * bs;
	if (order_seed)
		std::shuffle(at.begin(), at.end(), std::mt19937_64(order_seed));
	char *buf = static_cast<char *>(aligned_alloc(4096, bs));
	std::string c;
	size_t c_k = SIZE_MAX;
	for (size_t pos : at) {
		ssize_t n = pread(fd, buf, bs, off_t(pos));
		if (n < 0 && errno == EIO) {
			++t.eio;
			continue;
		}
		if (n <= 0) {
			if (!t.other++)
				t.other_errno = n < 0 ? errno : 0;
			continue;
		}
		if (pos / kChunk != c_k) {
			c_k = pos / kChunk;
			c = chunk_of(seed, c_k);
		}
		// A buffered read may stop short at the page that failed: the
		// bytes it returns must be right.
		if (std::memcmp(buf, c.data() + pos % kChunk, size_t(n)))
			++t.wrong;
		else if (n < ssize_t(bs))
			++t.eio;
		else
			++t.good;
	}
	free(buf);
	close(fd);
	return t;
}

// One line in the test log (meson keeps stdout): what the application saw.
void print_tally(const char *what, const ReadTally &t)
{
	printf("tier faults: %s: %zu good, %zu EIO, %zu wrong, %zu other\n",
	       what, t.good, t.eio, t.wrong, t.other);
}

#define INFO_TALLY(t)                                                          \
	INFO("good " << (t).good << " eio " << (t).eio << " wrong "            \
		     << (t).wrong << " other " << (t).other << " (errno "      \
		     << (t).other_errno << ")")

// The data file written, pushed to T2 by a filler that is then deleted;
// unmounted and mounted again, so no migration is in flight and free T1 is
// above the evictor's watermark: nothing writes T2 until a read promotes.
void setup_data_on_t2(zit::Mount &m, const std::string &t2_create)
{
	REQUIRE_MOUNT(m, { t2_create });
	REQUIRE(write_chunks(m.path("data"), 1, kData));
	REQUIRE(write_chunks(m.path("filler"), 2, kFiller));
	REQUIRE(unlink(m.path("filler").c_str()) == 0);
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
}

// Mount with ZUFUSE_FAULT_T2=rules (only this zufuse sees them).
bool mount_with_faults(zit::Mount &m, const std::string &t2, const char *rules)
{
	setenv("ZUFUSE_FAULT_T2", rules, 1);
	bool ok = m.mount({ t2 });
	unsetenv("ZUFUSE_FAULT_T2");
	return ok;
}

bool alive(const zit::Mount &m)
{
	struct stat st;
	return stat(m.mnt().c_str(), &st) == 0 &&
	       zit::write_file(m.path("alive"), "still here") &&
	       zit::read_file(m.path("alive")) == "still here";
}

} // namespace

TEST_CASE("tier faults: T2 truncated under the mount, then restored",
	  "[tier][fault]")
{
	zit::Mount m("32M");
	const std::string t2path = m.scratch().path("t2");
	setup_data_on_t2(m, "--t2=" + t2path + ",128M");
	REQUIRE_MOUNT(m, { "--t2=" + t2path });

	// The outage: the T2 file loses everything (reads come back short).
	const std::string saved = m.scratch().path("t2.saved");
	REQUIRE(zit::run_cmd({ "cp", "--sparse=always", t2path, saved },
			     m.scratch().dir())
			.status == 0);
	REQUIRE(truncate(t2path.c_str(), 0) == 0);

	ReadTally seq = read_check(m.path("data"), 1, kData, false);
	print_tally("T2 truncated, 64K buffered reads", seq);
	INFO_TALLY(seq);
	CHECK(seq.wrong == 0);
	CHECK(seq.other == 0);
	CHECK(seq.eio > 0); // the data was on T2
	ReadTally rnd = read_check(m.path("data"), 1, kData, true, 7);
	print_tally("T2 truncated, 4K O_DIRECT random reads", rnd);
	INFO_TALLY(rnd);
	CHECK(rnd.wrong == 0);
	CHECK(rnd.other == 0);
	CHECK(rnd.eio > 0);
	CHECK(alive(m));

	// T2 comes back: every byte as written.
	REQUIRE(zit::run_cmd({ "cp", "--sparse=always", saved, t2path },
			     m.scratch().dir())
			.status == 0);
	ReadTally after = read_check(m.path("data"), 1, kData, false);
	print_tally("T2 restored, 64K buffered reads", after);
	INFO_TALLY(after);
	CHECK(after.good == kData / 65536);
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
	REQUIRE_MOUNT(m, { "--t2=" + t2path });
	after = read_check(m.path("data"), 1, kData, true, 3);
	CHECK(after.good == kData / 4096);
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
}

TEST_CASE("tier faults: injected T2 read errors, short reads, stalls",
	  "[tier][fault]")
{
	zit::Mount m("32M");
	const std::string t2path = m.scratch().path("t2");
	setup_data_on_t2(m, "--t2=" + t2path + ",128M");
	const std::string t2 = "--t2=" + t2path;

	struct Kind {
		const char *rules;
		bool fails;
	};
	for (Kind k : { Kind{ "read:prob=0.3,seed=11", true },
			Kind{ "read:short,prob=0.3,seed=12", true },
			Kind{ "read:stall=1500,next=3", false } }) {
		INFO("ZUFUSE_FAULT_T2=" << k.rules);
		REQUIRE(mount_with_faults(m, t2, k.rules));
		auto t0 = std::chrono::steady_clock::now();
		ReadTally rnd = read_check(m.path("data"), 1, 4 << 20, true, 5);
		ReadTally seq = read_check(m.path("data"), 1, kData, false);
		double s = std::chrono::duration<double>(
				   std::chrono::steady_clock::now() - t0)
				   .count();
		printf("tier faults: ZUFUSE_FAULT_T2=%s (%.1f s):\n", k.rules,
		       s);
		print_tally("  4K O_DIRECT random reads", rnd);
		print_tally("  64K buffered reads", seq);
		INFO_TALLY(rnd);
		INFO_TALLY(seq);
		CHECK(rnd.wrong + seq.wrong == 0);
		CHECK(rnd.other + seq.other == 0);
		if (k.fails) {
			CHECK(rnd.eio + seq.eio > 0);
		} else {
			CHECK(rnd.eio + seq.eio == 0);
			CHECK(s >= 1.5); // the stalls (they may overlap)
		}
		CHECK(alive(m));
		REQUIRE_UNMOUNT(m);
		CHECK_FSCK_CLEAN(m);
	}
	// Without faults every byte is there.
	REQUIRE_MOUNT(m, { t2 });
	ReadTally all = read_check(m.path("data"), 1, kData, false);
	INFO_TALLY(all);
	CHECK(all.good == kData / 65536);
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
}

TEST_CASE("tier faults: injected T2 write errors lose nothing written",
	  "[tier][fault]")
{
	zit::Mount m("32M");
	const std::string t2path = m.scratch().path("t2");
	const std::string t2 = "--t2=" + t2path;
	REQUIRE(mount_with_faults(m, t2 + ",128M", "write:prob=0.3,seed=21"));
	// 48 MiB through 32 MiB of T1: evictions (async and sync) fail often.
	// A write may fail (EIO, or ENOSPC when nothing could move): only
	// the chunks whose write and fsync succeeded count.
	int fd = open(m.path("w").c_str(), O_CREAT | O_WRONLY, 0644);
	REQUIRE(fd >= 0);
	std::vector<bool> ok(48);
	size_t failed = 0, eio = 0, enospc = 0;
	for (size_t k = 0; k < ok.size(); ++k) {
		std::string c = chunk_of(3, k);
		// A short write (the server failed part way) sets no errno:
		// the rest, written again, says why (or goes in).
		size_t done = 0;
		ssize_t n = 0;
		for (int tries = 0; tries < 2 && done < c.size(); ++tries) {
			n = pwrite(fd, c.data() + done, c.size() - done,
				   off_t(k * kChunk + done));
			if (n < 0)
				break;
			done += size_t(n);
		}
		if (n >= 0 && done < c.size())
			errno = 0; // short twice, no error said: fails the check below
		ok[k] = done == c.size() && fdatasync(fd) == 0;
		if (!ok[k]) {
			INFO("chunk " << k << ": " << strerror(errno));
			CHECK((errno == EIO || errno == ENOSPC));
			++failed;
			eio += errno == EIO;
			enospc += errno == ENOSPC;
		}
	}
	close(fd);
	printf("tier faults: ZUFUSE_FAULT_T2=write:prob=0.3: %zu of %zu 1 MiB writes+fdatasync "
	       "failed (%zu EIO, %zu ENOSPC)\n",
	       failed, ok.size(), eio, enospc);
	CHECK(failed < ok.size() / 2);
	CHECK(alive(m));
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
	REQUIRE_MOUNT(m, { t2 });
	fd = open(m.path("w").c_str(), O_RDONLY);
	REQUIRE(fd >= 0);
	std::string buf(kChunk, '\0');
	size_t wrong = 0;
	for (size_t k = 0; k < ok.size(); ++k)
		if (ok[k] && (pread(fd, buf.data(), kChunk,
				    off_t(k * kChunk)) != ssize_t(kChunk) ||
			      buf != chunk_of(3, k)))
			++wrong;
	close(fd);
	printf("tier faults: after a remount without faults: %zu of %zu acknowledged chunks "
	       "wrong\n",
	       wrong, size_t(std::count(ok.begin(), ok.end(), true)));
	CHECK(wrong == 0);
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
}

// A media error in the evictor's copy of a block (its bounce copy, taken
// under the guard: ZUFUSE_FAULT_PMEM poisons that block of the image) fails
// that block's eviction only: it stays on T1, the mount keeps serving
// (not stopped), the file's other blocks move to T2 and read back, and
// after a remount without the fault every byte is there; fsck clean.
TEST_CASE(
	"tier faults: a media error in the evictor's copy keeps that block on T1",
	"[tier][fault]")
{
	zit::Mount m("32M");
	const std::string t2path = m.scratch().path("t2");
	const std::string t2 = "--t2=" + t2path;
	constexpr size_t kCold = 4 << 20, kBad = 100; // block 100 of "cold"
	constexpr uint64_t kT2Blocks = (128 << 20) / 4096;
	REQUIRE_MOUNT(m, { t2 + ",128M" });
	REQUIRE(write_chunks(m.path("cold"), 4, kCold));
	REQUIRE_UNMOUNT(m);
	const std::string bad = chunk_of(4, 0).substr(kBad * 4096, 4096);
	const size_t off = zit::read_file(m.image()).find(bad);
	REQUIRE(off != std::string::npos);
	REQUIRE(off % 4096 == 0);

	const std::string rule = "read:at=" + std::to_string(off) + "+4K";
	setenv("ZUFUSE_FAULT_PMEM", rule.c_str(), 1);
	bool mounted = m.mount({ t2 });
	unsetenv("ZUFUSE_FAULT_PMEM");
	REQUIRE(mounted);
	// Fill T1 to a little below the evictor's low watermark (10% of it
	// free, tier.h), not so far that writes evict synchronously: the
	// evictor then migrates the coldest file, "cold", through its bounce.
	struct statvfs sv;
	REQUIRE(statvfs(m.mnt().c_str(), &sv) == 0);
	const uint64_t t1_blocks = sv.f_blocks - (kT2Blocks - 1);
	const uint64_t t1_free = sv.f_bfree - (kT2Blocks - 1);
	const uint64_t low = std::max<uint64_t>(t1_blocks / 10, 256);
	REQUIRE(t1_free > low + 256);
	REQUIRE(zit::write_file(m.path("filler"),
				zit::pattern(5, (t1_free - low + 128) * 4096)));
	const auto deadline =
		std::chrono::steady_clock::now() + std::chrono::seconds(30);
	while (m.log().find("copy for eviction") == std::string::npos &&
	       std::chrono::steady_clock::now() < deadline)
		usleep(20 *
		       1000); // waits for the event: the evictor's log line
	INFO("zufuse log:\n" << m.log());
	REQUIRE(m.log().find("copy for eviction") != std::string::npos);
	CHECK(m.log().find("injected media error") != std::string::npos);
	CHECK(alive(m)); // the file system did not stop

	// Block by block: the poisoned one still fails (it stayed where the
	// fault is), every other one is right.
	ReadTally t = read_check(m.path("cold"), 4, kCold, true);
	print_tally("media error in the evictor's copy, 4K O_DIRECT reads", t);
	INFO_TALLY(t);
	CHECK(t.eio == 1);
	CHECK(t.good == kCold / 4096 - 1);
	CHECK(t.wrong + t.other == 0);
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
	REQUIRE_MOUNT(m, { t2 });
	t = read_check(m.path("cold"), 4, kCold, true);
	INFO_TALLY(t);
	CHECK(t.good == kCold / 4096);
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
}
