// SPDX-License-Identifier: BSD-3-Clause
//
// mount_fixture.h - a real zufuse mount for integration tests.
//
// Contract:
//  - Scratch is one temp dir under /dev/shm (tmpfs), removed at the end;
//    it holds the image (img.pmem), the mount point (mnt), a tmpfs reference
//    dir (ref) for comparisons, and zufuse's stderr (zufuse.log).
//  - The zufuse binary is $ZUFUSE (meson passes build/zufuse); fusermount3
//    must be on PATH. Tests run as root with /dev/fuse.
//  - mount() starts `zufuse MNT --pmem=IMG -f [args]` in the background and
//    returns once the mount shows in /proc/self/mountinfo (false if zufuse
//    exited first or 20 s passed; log() then says why). unmount() runs
//    fusermount3 -u and reaps zufuse, returning its exit status. kill9()
//    simulates a crash: SIGKILL, then clears the dead mount.
//  - run() runs zufuse to completion (for error cases and daemon mode) and
//    returns its exit status and stderr.
//  - Nothing here throws across a test boundary except Catch's own macros.
#ifndef ZUFUSE_TEST_INTEGRATION_MOUNT_FIXTURE_H
#define ZUFUSE_TEST_INTEGRATION_MOUNT_FIXTURE_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace zit {

// Result of running a command to completion.
struct RunResult {
	int status = -1; // exit status; 128+sig if killed; -1: not run
	std::string out; // stdout
	std::string err; // stderr
};

// Run argv (argv[0] is looked up in PATH when it has no '/') with a timeout.
// The child gets its own stdout/stderr captured into files under scratch.
RunResult run_cmd(const std::vector<std::string> &argv,
		  const std::string &scratch, int timeout_s = 60);

// Path of the zufuse binary ($ZUFUSE), or "" (the test then fails).
std::string zufuse_path();

// Path of fsck.zufs ($FSCK_ZUFS), or "" (checks are then skipped).
std::string fsck_path();

// True if @path is a mount point in /proc/self/mountinfo.
bool is_mounted(const std::string &path);

// Read a whole file ("" on error; @ok set false).
std::string read_file(const std::string &path, bool *ok = nullptr);
bool write_file(const std::string &path, const std::string &data);

// Deterministic bytes for file contents: pattern(seed, n).
std::string pattern(uint64_t seed, size_t n);

class Scratch {
  public:
	Scratch();
	~Scratch();
	Scratch(const Scratch &) = delete;
	Scratch &operator=(const Scratch &) = delete;

	const std::string &dir() const { return dir_; }
	std::string path(const std::string &name) const
	{
		return dir_ + "/" + name;
	}

  private:
	std::string dir_;
};

class Mount {
  public:
	// @size: passed as --size=SIZE on mount() when the image does not
	// exist yet ("" for none).
	explicit Mount(std::string size = "256M");
	// The image in a new directory under image_dir (removed at the end,
	// with the image's journal and working copy): e.g. a disk directory,
	// for the file back-end (persist_file.h).
	Mount(std::string size, const std::string &image_dir);
	~Mount(); // unmounts (if mounted) and removes the scratch dir

	Mount(const Mount &) = delete;
	Mount &operator=(const Mount &) = delete;

	const std::string &mnt() const { return mnt_; }
	const std::string &image() const { return image_; }
	// Use @path as the image instead of the scratch's img.pmem (before
	// mount(); the caller removes it).
	void set_image(std::string path) { image_ = std::move(path); }
	std::string path(const std::string &rel) const
	{
		return mnt_ + "/" + rel;
	}
	const Scratch &scratch() const { return scratch_; }

	// Start zufuse -f in the background and wait for the mount.
	bool mount(const std::vector<std::string> &extra = {});
	// fusermount3 -u, then reap zufuse: its exit status (-1 on trouble).
	// A busy mount (EBUSY) is retried for a few seconds; the log then
	// names what holds it (holders()).
	int unmount();
	// What keeps the mount busy: one "--- busy: ..." line per process
	// whose cwd, root, descriptor or mapping is inside it, and per mount
	// on top of it; "" when nothing does.
	std::string holders() const;
	// SIGKILL zufuse and clean up the dead mount. True if the mount is gone.
	bool kill9();
	// Send @sig to zufuse and reap it: its exit status (-1 on timeout).
	int signal_and_wait(int sig);

	pid_t pid() const { return pid_; }
	bool mounted() const { return pid_ > 0; }
	// zufuse's stderr so far (for failure messages).
	std::string log() const;

	// fsck.zufs -n on the (unmounted) image; status -2 when there is no
	// fsck.zufs to run.
	RunResult fsck() const;

	// Arguments of a zufuse run on this image and mount point.
	std::vector<std::string> args(const std::vector<std::string> &extra,
				      bool foreground) const;

  private:
	int reap(int timeout_ms);

	Scratch scratch_;
	std::string image_dir_; // "" when the image is in scratch_
	std::string size_;
	std::string image_;
	std::string mnt_;
	std::string log_;
	pid_t pid_ = -1;
};

// Tear down a mount that lost its daemon: fusermount3 -u, then umount -l.
bool clear_dead_mount(const std::string &mnt);

} // namespace zit

#endif // ZUFUSE_TEST_INTEGRATION_MOUNT_FIXTURE_H
