// SPDX-License-Identifier: BSD-3-Clause
//
// fs_helpers.h - small file-system steps the integration tests share (the
// semantics, semantics_ext, posix_errors, posix_diff, acl, unwritten,
// killpriv and uring tests): they work on any mounted file system, zufuse,
// tmpfs or ext4, so that one test can compare them. Header only; nothing here asserts.
#ifndef ZUFUSE_TEST_INTEGRATION_FS_HELPERS_H
#define ZUFUSE_TEST_INTEGRATION_FS_HELPERS_H

#include <fcntl.h>
#include <grp.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include "mount_fixture.h"

// The errno of a failing call, 0 if it succeeded.
#define ERR(call) ((call) < 0 ? errno : 0)

namespace zit {

// Create (or truncate) p with data: 0, or -1.
inline int make_file(const std::string &p, const std::string &data = "")
{
	int fd = open(p.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, data.data(), data.size());
	close(fd);
	return n == ssize_t(data.size()) ? 0 : -1;
}

// Read p to its end, for its atime (nothing if it cannot be opened).
inline void read_all(const std::string &p)
{
	char buf[4096];
	int fd = open(p.c_str(), O_RDONLY);
	while (fd >= 0 && read(fd, buf, sizeof(buf)) > 0) {
	}
	if (fd >= 0)
		close(fd);
}

inline timespec atime_of(const std::string &p)
{
	struct stat st = {};
	stat(p.c_str(), &st);
	return st.st_atim;
}

inline bool same(const timespec &a, const timespec &b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

// Run fn in a child as uid and gid nobody (65534, no supplementary
// groups); what it returns comes back through a pipe ("" when the child
// died before it wrote).
inline std::string as_nobody(const std::function<std::string()> &fn)
{
	constexpr uid_t kNobody = 65534;
	int fds[2];
	if (pipe(fds))
		return "pipe failed";
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return "fork failed";
	}
	if (pid == 0) {
		close(fds[0]);
		std::string r;
		if (setgroups(0, nullptr) ||
		    setresgid(kNobody, kNobody, kNobody) ||
		    setresuid(kNobody, kNobody, kNobody))
			r = std::string("cannot drop privileges: ") +
			    strerror(errno);
		else
			r = fn();
		if (write(fds[1], r.data(), r.size()) < 0)
			_exit(2);
		_exit(0);
	}
	close(fds[1]);
	std::string r;
	char buf[4096];
	ssize_t k;
	while ((k = read(fds[0], buf, sizeof(buf))) > 0)
		r.append(buf, size_t(k));
	close(fds[0]);
	int st;
	waitpid(pid, &st, 0);
	return r;
}

// Run f in a child, as uid and gid nobody (65534) when nobody is true:
// 0 when f returns 0, else its errno (121 if errno is 0); 120: the child
// could not become nobody, 122: it died.
inline int errno_as(bool nobody, const std::function<int()> &f)
{
	constexpr uid_t kNobody = 65534;
	pid_t pid = fork();
	if (pid == 0) {
		if (nobody && (setresgid(kNobody, kNobody, kNobody) ||
			       setresuid(kNobody, kNobody, kNobody)))
			_exit(120);
		_exit(f() ? (errno ? errno : 121) : 0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 122;
}

// Write "x" at offset 0 of the existing file p: 0, or -1 with errno set.
inline int write_one(const std::string &p)
{
	int fd = open(p.c_str(), O_WRONLY);
	if (fd < 0)
		return -1;
	int r = pwrite(fd, "x", 1, 0) == 1 ? 0 : -1;
	close(fd);
	return r;
}

// An ext4 file system on a loop device under the scratch dir (made with
// mkfs.ext4 -q -F MKFS_ARGS), or nothing: mounted() false, why() says why.
class Ext4 {
  public:
	explicit Ext4(const Scratch &s, std::vector<std::string> mkfs_args = {})
	    : img_(s.path("ext4.img")), mnt_(s.path("ext4"))
	{
		mkdir(mnt_.c_str(), 0755);
		RunResult r =
			run_cmd({ "truncate", "-s", "64M", img_ }, s.dir());
		std::vector<std::string> mkfs = { "mkfs.ext4", "-q", "-F" };
		mkfs.insert(mkfs.end(), mkfs_args.begin(), mkfs_args.end());
		mkfs.push_back(img_);
		if (r.status == 0)
			r = run_cmd(mkfs, s.dir());
		if (r.status == 0)
			r = run_cmd({ "mount", "-o", "loop", img_, mnt_ },
				    s.dir());
		mounted_ = r.status == 0;
		why_ = r.err;
	}
	~Ext4()
	{
		if (mounted_)
			umount2(mnt_.c_str(), MNT_DETACH);
		unlink(img_.c_str());
	}
	Ext4(const Ext4 &) = delete;
	Ext4 &operator=(const Ext4 &) = delete;

	bool mounted() const { return mounted_; }
	const std::string &why() const { return why_; }
	const std::string &mnt() const { return mnt_; }

  private:
	std::string img_, mnt_, why_;
	bool mounted_ = false;
};

} // namespace zit

#endif // ZUFUSE_TEST_INTEGRATION_FS_HELPERS_H
