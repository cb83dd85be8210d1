// SPDX-License-Identifier: BSD-3-Clause
//
// media_test.cc - the media under the image fails (issue 11): a file system
// too small for the image, a full one, an image file shrunk under a running
// mount, and media errors injected with ZUFUSE_FAULT_PMEM. Each time the
// application gets an errno (ENOSPC, EIO) for the request that met the
// fault, the mount keeps serving every other file, and what was
// acknowledged survives.
//
// The small file systems are tmpfs mounts of our own (root); without them
// the test exits 77 (skipped).
#define CATCH_CONFIG_RUNNER
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "integration.h"

namespace {

// A tmpfs of `size` mounted on dir (detached at the end: zufuse may still
// hold the image open while the Mount goes away).
struct SmallFs {
	SmallFs(const std::string &d, const char *size) : dir(d)
	{
		mkdir(dir.c_str(), 0755);
		std::string opts = std::string("size=") + size;
		ok = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, opts.c_str()) ==
		     0;
	}
	~SmallFs()
	{
		if (ok)
			umount2(dir.c_str(), MNT_DETACH);
	}
	uint64_t free_bytes() const
	{
		struct statvfs v;
		return statvfs(dir.c_str(), &v) == 0 ?
			       uint64_t(v.f_bavail) * v.f_frsize :
			       0;
	}
	std::string dir;
	bool ok = false;
};

struct Free {
	void operator()(void *p) const { free(p); }
};
using AlignedBuf = std::unique_ptr<char, Free>;

AlignedBuf aligned(size_t n, char fill)
{
	void *p = nullptr;
	REQUIRE(posix_memalign(&p, 4096, n) == 0);
	memset(p, fill, n);
	return AlignedBuf(static_cast<char *>(p));
}

// One O_DIRECT pread/pwrite (straight to the server, no page cache): the
// byte count, or -errno.
ssize_t direct_io(const std::string &path, bool write, off_t off, char *buf,
		  size_t n)
{
	int fd = open(path.c_str(), (write ? O_WRONLY : O_RDONLY) | O_DIRECT);
	if (fd < 0)
		return -errno;
	ssize_t r = write ? pwrite(fd, buf, n, off) : pread(fd, buf, n, off);
	if (r < 0)
		r = -errno;
	close(fd);
	return r;
}

// Write 1 MiB chunks into path until an error: the errno (0: none).
int fill(const std::string &path, uint64_t *written, bool sync = false)
{
	int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return errno;
	std::string chunk = zit::pattern(7, 1 << 20);
	int err = 0;
	*written = 0;
	for (;;) {
		ssize_t n = write(fd, chunk.data(), chunk.size());
		if (n < 0) {
			err = errno;
			break;
		}
		*written += uint64_t(n);
		if (size_t(n) < chunk.size())
			continue; // the next one reports why
	}
	if (sync && fsync(fd) != 0 && !err)
		err = errno;
	close(fd);
	return err;
}

uint64_t allocated(const std::string &path)
{
	struct stat st;
	return stat(path.c_str(), &st) == 0 ? uint64_t(st.st_blocks) * 512 : 0;
}

// Where to cut the image so that a file written first (a) survives and
// what follows it goes: with one FUSE thread (-s) pmfs allocates from one
// group in order (the root's directory block, a's data, a's block map,
// then the next file's blocks). 0 if a is not found.
off_t cut_after(const std::string &image, const std::string &a)
{
	const std::string img = zit::read_file(image);
	const size_t at = img.find(a.substr(0, 4096));
	if (at == std::string::npos)
		return 0;
	return off_t(((at + a.size() + 4095) & ~size_t(4095)) + (64 << 10));
}

size_t count_lines(const std::string &s)
{
	return size_t(std::count(s.begin(), s.end(), '\n'));
}

} // namespace

TEST_CASE(
	"an image too big for the file system under it is refused, nothing left behind",
	"[media]")
{
	zit::Mount m("");
	SmallFs small(m.scratch().path("small"), "64m");
	REQUIRE(small.ok);
	m.set_image(small.dir + "/img.pmem");
	const uint64_t free0 = small.free_bytes();

	zit::RunResult r = zit::run_cmd(m.args({ "--size=256M" }, false),
					m.scratch().dir(), 60);
	INFO("exit " << r.status << ", stderr: " << r.err);
	CHECK(r.status != 0);
	CHECK(r.status < 128);
	CHECK(count_lines(r.err) == 1);
	CHECK(r.err.find(
		      "cannot hold the image: 256.0 MiB to allocate, 64.0 MiB free "
		      "(short by 192.0 MiB)") != std::string::npos);
	CHECK(access(m.image().c_str(), F_OK) != 0); // no file left
	CHECK(small.free_bytes() == free0);
	CHECK(!zit::is_mounted(m.mnt()));

	// An old sparse image (zufuse used to make them) is reserved at mount,
	// or refused with the shortfall, unchanged, when it cannot be.
	const std::string orig = m.scratch().path("orig.pmem");
	{
		zit::Mount maker("48M");
		maker.set_image(orig);
		REQUIRE_MOUNT(maker);
		REQUIRE(zit::write_file(maker.path("keep"), "kept"));
		REQUIRE_UNMOUNT(maker);
	}
	REQUIRE(zit::run_cmd({ "cp", "--sparse=always", orig, m.image() },
			     m.scratch().dir())
			.status == 0);
	REQUIRE(allocated(m.image()) < (8u << 20));
	uint64_t got = 0;
	REQUIRE(fill(small.dir + "/filler", &got) == ENOSPC);
	REQUIRE(truncate((small.dir + "/filler").c_str(), 40 << 20) == 0);
	const uint64_t sparse_blocks = allocated(m.image());
	r = zit::run_cmd(m.args({}, false), m.scratch().dir(), 60);
	INFO("exit " << r.status << ", stderr: " << r.err);
	CHECK(r.status != 0);
	CHECK(count_lines(r.err) == 1);
	CHECK(r.err.find("cannot hold the image") != std::string::npos);
	CHECK(allocated(m.image()) == sparse_blocks);
	CHECK(zit::run_cmd({ "cmp", orig, m.image() }, m.scratch().dir())
		      .status == 0);

	REQUIRE(unlink((small.dir + "/filler").c_str()) == 0);
	REQUIRE_MOUNT(m);
	CHECK(allocated(m.image()) >= (48u << 20));
	CHECK(zit::read_file(m.path("keep")) == "kept");
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
}

TEST_CASE(
	"a full file system under the image: ENOSPC from the mount, never a dead mount",
	"[media]")
{
	zit::Mount m("48M");
	SmallFs small(m.scratch().path("small"), "64m");
	REQUIRE(small.ok);
	m.set_image(small.dir + "/img.pmem");
	REQUIRE_MOUNT(m);
	const std::string keep = zit::pattern(1, 300000);
	REQUIRE(zit::write_file(m.path("keep"), keep));

	// Something else takes all the space left under the image.
	uint64_t got = 0;
	CHECK(fill(small.dir + "/filler", &got) == ENOSPC);
	CHECK(small.free_bytes() == 0);

	// Now the mount fills up: ENOSPC (was: SIGBUS, a dead mount).
	uint64_t wrote = 0;
	CHECK(fill(m.path("big"), &wrote) == ENOSPC);
	INFO("wrote " << wrote << " bytes before ENOSPC");
	CHECK(wrote > (30u << 20));
	CHECK(zit::is_mounted(m.mnt()));
	CHECK(zit::read_file(m.path("keep")) == keep);
	// Space comes back when a file goes.
	REQUIRE(unlink(m.path("big").c_str()) == 0);
	CHECK(zit::write_file(m.path("after"), "after"));
	CHECK(zit::read_file(m.path("after")) == "after");
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
}

TEST_CASE(
	"an image file shrunk under a running mount: EIO there, every other file served",
	"[media]")
{
	zit::Mount m("32M");
	REQUIRE_MOUNT(m, { "-s" }); // one allocation order (cut_after)
	const std::string a = zit::pattern(2, 100000);
	REQUIRE(zit::write_file(m.path("a"), a));
	uint64_t wrote = 0;
	REQUIRE(fill(m.path("b"), &wrote, true) == ENOSPC);
	REQUIRE(wrote > (20u << 20));
	const off_t cut = cut_after(m.image(), a);
	INFO("image cut to " << cut);
	REQUIRE(cut > 0);
	REQUIRE(cut + (1 << 20) < (32 << 20));

	REQUIRE(truncate(m.image().c_str(), cut) == 0);
	// b read in 1 MiB pieces (zero-copy replies): each is EIO or right,
	// never other bytes (its block map may be past the cut too: then all
	// of it is EIO).
	AlignedBuf buf = aligned(1 << 20, 0);
	const std::string chunk = zit::pattern(7, 1 << 20);
	off_t lost = -1;
	int eio = 0, right = 0;
	for (off_t at = 0; at + (1 << 20) <= off_t(wrote); at += 1 << 20) {
		ssize_t n =
			direct_io(m.path("b"), false, at, buf.get(), 1 << 20);
		if (n == -EIO) {
			++eio;
			if (lost < 0)
				lost = at;
		} else if (n == (1 << 20) &&
			   std::string(buf.get(), n) == chunk) {
			++right;
		} else {
			FAIL_CHECK("b at " << at << ": " << n
					   << " bytes, not EIO nor its data");
		}
	}
	INFO(eio << " MiB of b EIO, " << right << " MiB right");
	CHECK(eio > 0);
	REQUIRE(lost >= 0);
	CHECK(direct_io(m.path("b"), true, lost, buf.get(), 1 << 20) ==
	      -EIO); // write copy
	CHECK(zit::is_mounted(m.mnt()));
	CHECK(direct_io(m.path("a"), false, 0, buf.get(), 1 << 20) ==
	      ssize_t(a.size()));
	CHECK(std::string(buf.get(), a.size()) == a);
	struct stat st;
	CHECK(stat(m.path("a").c_str(), &st) == 0);
	CHECK(m.log().find("past the end of the image file") !=
	      std::string::npos);

	// Size restored (the lost bytes read as zeros), unmounted cleanly.
	REQUIRE(truncate(m.image().c_str(), 32 << 20) == 0);
	REQUIRE_UNMOUNT(m);
	// What lived in the lost range is gone: b's data there and the
	// block-map blocks b had there, so fsck finds blocks only they pointed
	// to leaked, and b's block count wrong; nothing about any other file.
	zit::RunResult f = m.fsck();
	INFO("fsck -n: " << f.status << "\n" << f.out << f.err);
	CHECK(f.status == 4);
	CHECK((f.out + f.err).find("leaked") != std::string::npos);
	f = zit::run_cmd({ zit::fsck_path(), m.image(), "-y" },
			 m.scratch().dir(), 300);
	CHECK(f.status == 1);
	CHECK_FSCK_CLEAN(m);
	REQUIRE_MOUNT(m);
	CHECK(zit::read_file(m.path("a")) == a);
	REQUIRE_UNMOUNT(m);
}

TEST_CASE("a lost metadata page stops the file system, not zufuse", "[media]")
{
	zit::Mount m("32M");
	REQUIRE_MOUNT(m, { "-s" }); // one allocation order (cut_after)
	const std::string a = zit::pattern(3, 50000);
	REQUIRE(zit::write_file(m.path("a"), a));
	uint64_t wrote = 0;
	REQUIRE(fill(m.path("b"), &wrote, true) == ENOSPC);
	const off_t cut = cut_after(m.image(), a);
	REQUIRE(cut > 0);
	REQUIRE(truncate(m.image().c_str(), cut) == 0);
	// Truncating b reads its block map (in the lost range) inside a
	// transaction.
	errno = 0;
	CHECK(truncate(m.path("b").c_str(), 0) == -1);
	CHECK(errno == EIO);
	CHECK(zit::is_mounted(m.mnt()));
	AlignedBuf buf = aligned(65536, 0);
	CHECK(direct_io(m.path("a"), false, 0, buf.get(), 65536) ==
	      -EIO); // stopped
	CHECK(m.log().find("the mount now answers every request with EIO") !=
	      std::string::npos);
	REQUIRE(truncate(m.image().c_str(), 32 << 20) == 0);
	REQUIRE_UNMOUNT(m); // zufuse is alive and exits 0
	zit::RunResult f = zit::run_cmd({ zit::fsck_path(), m.image(), "-y" },
					m.scratch().dir(), 300);
	INFO("fsck -y: " << f.status << "\n" << f.out << f.err);
	CHECK((f.status == 0 || f.status == 1));
	CHECK_FSCK_CLEAN(m);
	REQUIRE_MOUNT(m);
	CHECK(zit::read_file(m.path("a")) == a);
	REQUIRE_UNMOUNT(m);
}

TEST_CASE("injected media errors (ZUFUSE_FAULT_PMEM) fail one request each",
	  "[media]")
{
	zit::Mount m("64M");
	// The 2nd data write and the 1st data read fail, as a poisoned page.
	setenv("ZUFUSE_FAULT_PMEM", "write:after=1,next=1;read:next=1", 1);
	bool mounted = m.mount();
	unsetenv("ZUFUSE_FAULT_PMEM");
	INFO("zufuse log:\n" << m.log());
	REQUIRE(mounted);

	// One 4 KiB block per request: one data copy each.
	AlignedBuf one = aligned(4096, 'a'), two = aligned(4096, 'b'),
		   buf = aligned(8192, 0);
	int fd = open(m.path("a").c_str(), O_RDWR | O_CREAT | O_DIRECT, 0644);
	REQUIRE(fd >= 0);
	CHECK(pwrite(fd, one.get(), 4096, 0) == 4096);
	CHECK(fsync(fd) == 0); // acknowledged
	errno = 0;
	CHECK(pwrite(fd, two.get(), 4096, 4096) == -1);
	CHECK(errno == EIO);
	CHECK(pwrite(fd, two.get(), 4096, 4096) == 4096); // the next one works
	CHECK(fsync(fd) == 0);
	errno = 0;
	CHECK(pread(fd, buf.get(), 8192, 0) == -1);
	CHECK(errno == EIO);
	CHECK(pread(fd, buf.get(), 8192, 0) == 8192);
	CHECK(memcmp(buf.get(), one.get(), 4096) == 0);
	CHECK(memcmp(buf.get() + 4096, two.get(), 4096) == 0);
	close(fd);
	CHECK(m.log().find("injected media error") != std::string::npos);
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);

	REQUIRE_MOUNT(m); // no injection now
	std::string all = zit::read_file(m.path("a"));
	CHECK(all == std::string(4096, 'a') + std::string(4096, 'b'));
	REQUIRE_UNMOUNT(m);
}

int main(int argc, char **argv)
{
	if (geteuid() != 0) {
		std::puts(
			"media test: needs root (tmpfs mounts, FUSE): skipped");
		return 77;
	}
	char probe[] = "/dev/shm/zufuse-media-probe.XXXXXX";
	if (!mkdtemp(probe)) {
		std::puts("media test: no /dev/shm: skipped");
		return 77;
	}
	bool can_mount = ::mount("tmpfs", probe, "tmpfs", 0, "size=1m") == 0;
	if (can_mount)
		umount(probe);
	rmdir(probe);
	if (!can_mount) {
		std::printf("media test: cannot mount a tmpfs (%s): skipped\n",
			    strerror(errno));
		return 77;
	}
	return Catch::Session().run(argc, argv);
}
