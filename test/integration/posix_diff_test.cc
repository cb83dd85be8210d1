// SPDX-License-Identifier: BSD-3-Clause
//
// posix_diff_test.cc - a differential test: the same seeded random sequence
// of system calls runs on a tmpfs directory and on a zufuse mount, and after
// every call the results must agree: return value and errno, and for every
// name of a small namespace: lstat (type, mode, nlink, size, uid, gid, rdev,
// st_blocks of regular files, which times the call changed, explicit
// times), directory listings, file contents, symlink targets and xattrs.
// Run as root and, in a forked child that dropped its privileges, as
// nobody (the mount has allow_other).
//
// POSIX ACLs (system.posix_acl_access/_default set, removed, malformed),
// umask changes (so creates meet default ACLs under several umasks) and
// atime under relatime (an explicit old atime, then a read that reaches
// the file system: O_DIRECT, or readdir) are part of the sequences.
//
// Known differences kept out of the comparison (see the final report):
// atime after page-cache reads and reads at EOF (they do not reach
// zufuse's server, so only reads that do are compared), SEEK_DATA/SEEK_HOLE over
// fallocated but unwritten blocks (tmpfs: holes; zufuse: data),
// FALLOC_FL_ZERO_RANGE (tmpfs: EOPNOTSUPP; zufuse implements it),
// truncate(2) to the size a file already has (tmpfs: times kept; zufuse:
// mtime/ctime set).
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "fs_helpers.h"
#include "integration.h"
#include "toyfs.h"
#include "zufs/posix_acl.h"

namespace {

// The file system under test is examplefs, a zus plugin (--fs), built
// with -DPOSIX_DIFF_PLUGIN (meson: integration_plugin_posix_diff); with
// -DPOSIX_DIFF_TOYFS too, toyfs built from $TOYFS_SRC (toyfs.h; meson:
// integration_plugin_toyfs_posix_diff).
#ifdef POSIX_DIFF_PLUGIN
constexpr bool g_plugin = true;
#else
constexpr bool g_plugin = false;
#endif
#ifdef POSIX_DIFF_TOYFS
constexpr bool g_toyfs = true;
#else
constexpr bool g_toyfs = false;
#endif

const char *const kDirs[] = { "d1", "d2", "d1/d3" };
const char *const kLeaves[] = { "f1", "f2", "f3" };
const char *const kXNames[] = { "user.a", "user.b",
				"user.long_name_of_an_attribute", "trusted.t",
				"security.s" };
const uint32_t kModes[] = { 0644,  0600,  0755,	 0700,	0444,
			    04755, 02755, 01777, 02775, 0 };
constexpr int64_t kOldTime = 1577836800; // 2020-01-01: explicit times are below

std::vector<std::string> all_paths()
{
	std::vector<std::string> v;
	for (auto *d : kDirs)
		v.push_back(d);
	for (std::string d : { "", "d1/", "d2/", "d1/d3/" })
		for (auto *l : kLeaves)
			v.push_back(d + l);
	return v;
}

std::string err_of(long r)
{
	if (r >= 0)
		return std::to_string(r);
	return std::string("-") +
	       (strerrorname_np(errno) ? strerrorname_np(errno) : "E?");
}

uint64_t fnv(const char *p, size_t n, uint64_t h = 1469598103934665603ull)
{
	for (size_t i = 0; i < n; ++i)
		h = (h ^ static_cast<unsigned char>(p[i])) * 1099511628211ull;
	return h;
}

// One side of the comparison: a root directory and what was last seen.
struct Side {
	std::string root;
	std::map<std::string, struct stat> last;
	std::set<ino_t> fallocated; // seek results not comparable (see above)
	bool skipped = false;	    // the last call's result is not comparable
	std::string p(const std::string &rel) const { return root + "/" + rel; }
};

struct Op {
	int kind;
	std::string a, b;
	uint64_t x, y, z;
};

class Diff {
  public:
	Diff(std::string a, std::string b, uint64_t seed, bool priv)
	    : rng_(seed), priv_(priv)
	{
		s_[0].root = std::move(a);
		s_[1].root = std::move(b);
		paths_ = all_paths();
	}

	// "" when both sides agreed on every call, else the first mismatch.
	std::string run(int nops)
	{
		struct UmaskGuard { // kUmask changes it for the whole process
			mode_t saved = umask(022);
			~UmaskGuard() { umask(saved); }
		} guard;
		for (auto &s : s_)
			observe(s, "", nullptr);
		for (int i = 0; i < nops; ++i) {
			Op op = gen();
			// Every 16th call also checks which times it changed: after a
			// pause longer than a clock tick, so that earlier changes are
			// older than `before` on both sides (tmpfs stamps coarse time).
			timed_ = i % 16 == 0;
			if (timed_) {
				usleep(tick_us_);
				clock_gettime(CLOCK_REALTIME_COARSE, &before_);
			}
			if (trace_)
				fprintf(stderr, "op %d %s\n", i,
					describe(op).c_str());
			std::string r0 = exec(s_[0], op), r1 = exec(s_[1], op);
			if (s_[0].skipped || s_[1].skipped)
				r0 = r1 = "(skipped)";
			std::string what =
				"op " + std::to_string(i) + " " + describe(op);
			history_.push_back(what + " => " + r0);
			if (r0 != r1) {
				if (getenv("POSIX_DIFF_HOLD")) { // keep both trees to look at
					fprintf(stderr, "holding: %s %s\n",
						s_[0].root.c_str(),
						s_[1].root.c_str());
					sleep(600);
				}
				return fail(what + ": tmpfs " + r0 +
					    " zufuse " + r1);
			}
			std::string o0 = observe(s_[0], op.a, &op),
				    o1 = observe(s_[1], op.a, &op);
			if (o0 != o1)
				return fail(what +
					    ": state differs\n tmpfs:  " + o0 +
					    "\n zufuse: " + o1);
		}
		return "";
	}

  private:
	std::string fail(const std::string &msg)
	{
		std::string h;
		size_t from = history_.size() > 15 ? history_.size() - 15 : 0;
		for (size_t i = from; i < history_.size(); ++i)
			h += "  " + history_[i] + "\n";
		return msg + "\nlast calls:\n" + h;
	}

	uint64_t rnd(uint64_t n)
	{
		return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_);
	}
	std::string path() { return paths_[rnd(paths_.size())]; }

	enum Kind {
		kCreat,
		kWrite,
		kRead,
		kTrunc,
		kFtrunc,
		kMkdir,
		kRmdir,
		kUnlink,
		kRename,
		kLink,
		kSymlink,
		kReadlink,
		kChmod,
		kChown,
		kUtimens,
		kSetx,
		kGetx,
		kListx,
		kRemx,
		kFalloc,
		kSeek,
		kMkfifo,
		kCopy,
		kSetAcl,
		kRemAcl,
		kUmask,
		kAtime,
		kNKinds
	};

	Op gen()
	{
		static const int weights[kNKinds] = { 8, 10, 4, 3, 3, 5, 3,
						      4, 6,  3, 3, 2, 3, 2,
						      3, 4,  3, 2, 2, 4, 3,
						      1, 2,  4, 2, 2, 2 };
		// A zus plugin (examplefs): what the seed's API and the example
		// support; no xattrs, ACLs, fallocate, SEEK_DATA/HOLE, copy,
		// atime on reads.
		static const int plugin_weights[kNKinds] = {
			8, 10, 4, 3, 3, 5, 3, 4, 6, 3, 3, 2, 3, 2,
			3, 0,  0, 0, 0, 0, 0, 2, 0, 0, 0, 2, 0
		};
		const int *w = g_plugin ? plugin_weights : weights;
		int total = 0;
		for (int i = 0; i < kNKinds; ++i)
			total += w[i];
		int r = static_cast<int>(rnd(total)), k = 0;
		while (r >= w[k])
			r -= w[k++];
		Op op{ k,
		       path(),
		       path(),
		       rnd(1ULL << 62),
		       rnd(1ULL << 62),
		       rnd(1ULL << 62) };
		if (k ==
		    kSymlink) { // relative targets that cannot leave the root
			static const char *t[] = { "f1", "f2",	    "d3/f1",
						   "d3", "nowhere", "f3/x",
						   "." };
			op.b = t[op.x % 7];
		}
		return op;
	}

	std::string describe(const Op &op) const
	{
		static const char *n[] = {
			"creat",       "pwrite",	  "pread",
			"truncate",    "ftruncate",	  "mkdir",
			"rmdir",       "unlink",	  "renameat2",
			"link",	       "symlink",	  "readlink",
			"chmod",       "chown",		  "utimensat",
			"setxattr",    "getxattr",	  "listxattr",
			"removexattr", "fallocate",	  "lseek",
			"mknod",       "copy_file_range", "setfacl",
			"rmfacl",      "umask",		  "atime"
		};
		std::ostringstream ss;
		ss << n[op.kind] << "(" << op.a << ", " << op.b << ", "
		   << op.x % 100000 << ")";
		return ss.str();
	}

	std::string data(uint64_t seed, size_t n)
	{
		std::string d(n, '\0');
		for (size_t i = 0; i < n; ++i)
			d[i] = static_cast<char>('a' +
						 (seed + i * 7 + i / 13) % 26);
		return d;
	}

	std::string exec(Side &s, const Op &op)
	{
		std::string A = s.p(op.a), B = s.p(op.b);
		const char *a = A.c_str(), *b = B.c_str();
		errno = 0;
		s.skipped = false;
		switch (op.kind) {
		case kCreat: {
			int fl = O_CREAT | O_WRONLY | O_NONBLOCK |
				 (op.x & 1 ? O_EXCL : 0) |
				 (op.x & 2 ? O_TRUNC : 0);
			int fd = open(a, fl, kModes[op.y % 5]);
			std::string r = err_of(fd >= 0 ? 0 : -1);
			if (fd >= 0)
				close(fd);
			return r;
		}
		case kWrite: {
			int fd =
				open(a, O_WRONLY | O_NONBLOCK |
						(op.x % 5 == 0 ? O_APPEND : 0));
			if (fd < 0)
				return err_of(-1);
			size_t n = op.y % 3 == 0 ? op.y % 20000 : op.y % 300;
			uint64_t off =
				op.z % 4 == 0 ? op.z % 200000 : op.z % 9000;
			std::string d = data(op.x, n);
			long r = pwrite(fd, d.data(), n, off);
			std::string out = err_of(r);
			close(fd);
			return out;
		}
		case kRead: {
			int fd = open(a, O_RDONLY | O_NONBLOCK);
			if (fd < 0)
				return err_of(-1);
			std::string buf(op.y % 10000, '\0');
			long r =
				pread(fd, buf.data(), buf.size(), op.z % 20000);
			std::string out = err_of(r);
			if (r > 0)
				out += "#" + std::to_string(fnv(buf.data(), r));
			close(fd);
			return out;
		}
		case kTrunc: {
			// truncate(2) to the unchanged size: tmpfs keeps the times,
			// zufuse sets them (known, see the top): not made.
			off_t len = op.x % 3 == 0 ? 0 : op.y % 30000;
			struct stat st;
			if (stat(a, &st) == 0 && S_ISREG(st.st_mode) &&
			    st.st_size == len)
				return "same size";
			return err_of(truncate(a, len));
		}
		case kFtrunc: {
			int fd = open(a, O_RDWR | O_NONBLOCK);
			if (fd < 0)
				return err_of(-1);
			std::string out = err_of(ftruncate(fd, op.y % 70000));
			close(fd);
			return out;
		}
		case kMkdir:
			return err_of(mkdir(a, kModes[op.x % 10] & 07777));
		case kRmdir:
			return err_of(rmdir(a));
		case kUnlink:
			return err_of(unlink(a));
		case kRename: {
			static const unsigned fl[] = { 0, 0, RENAME_NOREPLACE,
						       RENAME_EXCHANGE };
			// the seed's plugins cannot exchange two names
			if (g_plugin && fl[op.x % 4] == RENAME_EXCHANGE)
				return err_of(syscall(SYS_renameat2, AT_FDCWD,
						      a, AT_FDCWD, b, 0));
			return err_of(syscall(SYS_renameat2, AT_FDCWD, a,
					      AT_FDCWD, b, fl[op.x % 4]));
		}
		case kLink:
			return err_of(link(a, b));
		case kSymlink:
			return err_of(symlink(op.b.c_str(), a));
		case kReadlink: {
			char buf[256];
			long r = readlink(a, buf, sizeof(buf));
			return err_of(r) +
			       (r > 0 ? ":" + std::string(buf, r) : "");
		}
		case kChmod:
			return err_of(chmod(a, kModes[op.x % 10]));
		case kChown: {
			static const uid_t ids[] = { 0, 65534, 1000,
						     uid_t(-1) };
			return err_of(chown(a, ids[op.x % 4], ids[op.y % 4]));
		}
		case kUtimens: {
			timespec ts[2];
			for (int i = 0; i < 2; ++i) {
				uint64_t v = i ? op.y : op.z;
				if (v % 4 == 0)
					ts[i] = { 0, UTIME_NOW };
				else if (v % 4 == 1)
					ts[i] = { 0, UTIME_OMIT };
				else
					ts[i] = { time_t(1000000000 +
							 v % 100000000),
						  long(v % 1000000000) };
			}
			return err_of(
				utimensat(AT_FDCWD, a, ts,
					  op.x % 3 ? 0 : AT_SYMLINK_NOFOLLOW));
		}
		case kSetx: {
			std::string v =
				data(op.y, op.y % 7 == 0 ? 5000 : op.y % 40);
			int fl = op.z % 3 == 0 ? XATTR_CREATE :
				 op.z % 3 == 1 ? XATTR_REPLACE :
						 0;
			if (op.z % 5 == 0)
				fl = 0;
			return err_of(lsetxattr(a, xname(op), v.data(),
						v.size(), fl));
		}
		case kGetx: {
			size_t room = op.y % 3 == 0 ? 0 :
				      op.y % 3 == 1 ? 3 :
						      8192;
			std::string buf(room, '\0');
			long r = lgetxattr(a, xname(op), buf.data(), room);
			std::string out = err_of(r);
			if (r > 0 && room)
				out += "#" + std::to_string(fnv(buf.data(), r));
			return out;
		}
		case kListx: {
			size_t room = op.y % 3 == 0 ? 0 :
				      op.y % 3 == 1 ? 5 :
						      8192;
			std::string buf(room, '\0');
			long r = llistxattr(a, buf.data(), room);
			std::string out = err_of(r);
			if (r > 0 && room)
				out += ":" + sorted_list(buf.data(), r);
			return out;
		}
		case kRemx:
			return err_of(lremovexattr(a, xname(op)));
		case kFalloc: {
			static const int modes[] = {
				0, FALLOC_FL_KEEP_SIZE,
				FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				FALLOC_FL_PUNCH_HOLE
			};
			int fd = open(a, O_RDWR | O_NONBLOCK);
			if (fd < 0)
				return err_of(-1);
			int mode = modes[op.x % 4];
			struct stat st;
			if (!(mode & FALLOC_FL_PUNCH_HOLE) &&
			    fstat(fd, &st) == 0)
				s.fallocated.insert(st.st_ino);
			std::string out = err_of(fallocate(
				fd, mode, op.y % 60000, 1 + op.z % 30000));
			close(fd);
			return out;
		}
		case kSeek: {
			int fd = open(a, O_RDONLY | O_NONBLOCK);
			if (fd < 0)
				return err_of(-1);
			struct stat st;
			// A directory's SEEK_DATA/HOLE is the kernel's generic code,
			// which answers from i_size (zufuse: blocks, tmpfs: entries).
			bool skip = fstat(fd, &st) == 0 &&
				    (s.fallocated.count(st.st_ino) ||
				     S_ISDIR(st.st_mode));
			long r = lseek(fd, op.y % 80000,
				       op.x % 2 ? SEEK_DATA : SEEK_HOLE);
			std::string out = err_of(r);
			s.skipped = skip;
			close(fd);
			return out;
		}
		case kMkfifo:
			return err_of(mknod(a, S_IFIFO | 0640, 0));
		case kCopy: {
			// O_NONBLOCK: a FIFO must not block the run
			int in = open(a, O_RDONLY | O_NONBLOCK),
			    out = open(b, O_WRONLY | O_NONBLOCK);
			std::string r;
			if (in < 0 || out < 0) {
				r = "open:" + std::to_string(in < 0) +
				    std::to_string(out < 0);
			} else {
				loff_t oi = op.x % 20000, oo = op.y % 20000;
				r = err_of(copy_file_range(in, &oi, out, &oo,
							   op.z % 30000, 0));
			}
			if (in >= 0)
				close(in);
			if (out >= 0)
				close(out);
			return r;
		}
		case kSetAcl: {
			std::string v = acl_value(op.x);
			return err_of(lsetxattr(a, acl_name(op), v.data(),
						v.size(), 0));
		}
		case kRemAcl:
			return err_of(lremovexattr(a, acl_name(op)));
		case kUmask: {
			static const mode_t masks[] = { 022, 077, 0, 027, 002 };
			umask(masks[op.x % 5]);
			return "0";
		}
		case kAtime:
			return atime_access(s, a, op);
		}
		return "?";
	}

	const char *acl_name(const Op &op) const
	{
		return op.y % 3 == 0 ? "system.posix_acl_default" :
				       "system.posix_acl_access";
	}

	// ACLs to set: named users and groups (nobody among them), masks,
	// ones the mode says all of, and malformed ones.
	static std::string acl_value(uint64_t x)
	{
		using namespace zufs::acl;
		const uint32_t nobody = 65534;
		switch (x % 9) {
		case 0:
			return to_xattr({ { kUserObj, 7, 0 },
					  { kUser, 6, nobody },
					  { kGroupObj, 5, 0 },
					  { kMask, 6, 0 },
					  { kOther, 0, 0 } });
		case 1:
			return to_xattr({ { kUserObj, 6, 0 },
					  { kUser, 4, 1000 },
					  { kGroupObj, 0, 0 },
					  { kGroup, 2, 100 },
					  { kMask, 7, 0 },
					  { kOther, 4, 0 } });
		case 2:
			return to_xattr({ { kUserObj, 6, 0 },
					  { kGroupObj, 4, 0 },
					  { kOther, 4, 0 } });
		case 3:
			return to_xattr({ { kUserObj, 7, 0 },
					  { kGroupObj, 5, 0 },
					  { kMask, 4, 0 },
					  { kOther, 0, 0 } });
		case 4:
			return to_xattr({ { kUserObj, 7, 0 },
					  { kUser, 0, nobody },
					  { kGroupObj, 7, 0 },
					  { kMask, 7, 0 },
					  { kOther, 7, 0 } });
		case 5: // a named entry without a mask
			return to_xattr({ { kUserObj, 7, 0 },
					  { kUser, 6, nobody },
					  { kGroupObj, 5, 0 },
					  { kOther, 0, 0 } });
		case 6: // no entries: removes
			return to_xattr({});
		case 7:
			return std::string("\1\0\0\0", 4);
		default:
			return to_xattr({ { kUserObj, 7, 0 },
					  { kGroupObj, 7, 0 },
					  { kOther, 7, 0 } });
		}
	}

	// relatime: an explicit old atime, then an access that reaches the
	// file system (O_DIRECT read, or readdir): did the access move it?
	std::string atime_access(Side &s, const char *a, const Op &op)
	{
		(void)s;
		timespec old[2] = { { time_t(1000000 + op.y % 1000), 0 },
				    { 0, UTIME_OMIT } };
		if (utimensat(AT_FDCWD, a, old, 0))
			return "utimens" + err_of(-1);
		struct stat st;
		if (stat(a, &st))
			return "stat" + err_of(-1);
		std::string r;
		if (S_ISDIR(st.st_mode)) {
			DIR *d = opendir(a);
			if (!d)
				return "opendir" + err_of(-1);
			while (readdir(d)) {
			}
			closedir(d);
			r = "readdir";
		} else if (S_ISREG(st.st_mode) && st.st_size == 0) {
			// A read at EOF never reaches zufuse's server (the shim
			// answers it from i_size): no atime there. Known.
			return "empty";
		} else if (S_ISREG(st.st_mode)) {
			int fd = open(a, O_RDONLY | O_DIRECT | O_NONBLOCK);
			if (fd < 0)
				return "open" + err_of(-1);
			void *buf = nullptr;
			if (posix_memalign(&buf, 4096, 8192)) {
				close(fd);
				return "nomem";
			}
			r = "read" + err_of(pread(fd, buf, 8192, 0));
			free(buf);
			close(fd);
		} else {
			return "other";
		}
		if (stat(a, &st))
			return "stat" + err_of(-1);
		return r +
		       (st.st_atim.tv_sec > old[0].tv_sec ? " moved" : " kept");
	}

	const char *xname(const Op &op) const
	{
		size_t n = priv_ ? 5 : 3; // trusted/security need privileges
		return kXNames[op.x % n];
	}

	static std::string sorted_list(const char *p, size_t n)
	{
		std::vector<std::string> v;
		for (size_t off = 0; off < n;) {
			size_t k = strnlen(p + off, n - off);
			v.emplace_back(p + off, k);
			off += k + 1;
		}
		std::sort(v.begin(), v.end());
		std::string s;
		for (auto &x : v)
			s += x + ",";
		return s;
	}

	// The observable state of every name; times as "changed by this call".
	std::string observe(Side &s, const std::string &target, const Op *op)
	{
		std::ostringstream out;
		// lstat everything first: reading contents below changes atimes
		// on tmpfs, and several names may lead to one inode.
		std::map<std::string, struct stat> sts;
		for (const std::string &rel : paths_) {
			struct stat st;
			if (lstat(s.p(rel).c_str(), &st) == 0)
				sts[rel] = st;
		}
		for (const std::string &rel : paths_) {
			std::string P = s.p(rel);
			if (!sts.count(rel)) {
				struct stat dummy;
				(void)!lstat(P.c_str(), &dummy);
				out << rel << ":" << err_of(-1) << " ";
				s.last.erase(rel);
				continue;
			}
			struct stat st = sts[rel];
			out << rel << ":" << std::oct << st.st_mode << std::dec
			    << "/" << st.st_nlink << "/" << st.st_uid << "."
			    << st.st_gid;
			if (!S_ISDIR(st.st_mode))
				out << "/s" << st.st_size;
			// POSIX_DIFF_NO_BLOCKS: for a plugin that counts
			// i_blocks in its own units (toyfs: 1 per page)
			if (S_ISREG(st.st_mode) && !g_toyfs &&
			    !getenv("POSIX_DIFF_NO_BLOCKS"))
				out << "/b" << st.st_blocks;
			if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
				out << "/r" << major(st.st_rdev) << ":"
				    << minor(st.st_rdev);
			// truncate(2) to the unchanged size: tmpfs keeps the times,
			// zufuse sets them (it cannot tell it from open(O_TRUNC)).
			bool same_trunc =
				op && op->kind == kTrunc && rel == target;
			if (timed_ && op && op->kind != kRead &&
			    op->kind != kSeek && !same_trunc) {
				// Which times this call changed (not atime: see the top).
				auto ch = [&](const timespec &t) {
					return t.tv_sec > before_.tv_sec ||
					       (t.tv_sec == before_.tv_sec &&
						t.tv_nsec >= before_.tv_nsec);
				};
				out << "/m" << ch(st.st_mtim) << "c"
				    << ch(st.st_ctim);
			}
			if (st.st_mtim.tv_sec < kOldTime)
				out << "/M" << st.st_mtim.tv_sec << "."
				    << st.st_mtim.tv_nsec;
			// (plugin runs: not for symlinks, whose atime tmpfs
			// moves on readlink and zufuse's shim does not: the
			// same is latent in the pmfs runs)
			if (rel == target && op && op->kind == kUtimens &&
			    op->z % 4 >= 2 &&
			    !(g_plugin && S_ISLNK(st.st_mode)) &&
			    st.st_atim.tv_sec <
				    kOldTime) // set explicitly by this call
				out << "/A" << st.st_atim.tv_sec << "."
				    << st.st_atim.tv_nsec;
			s.last[rel] = st;
			if (S_ISREG(st.st_mode)) {
				int fd = open(P.c_str(), O_RDONLY | O_NOATIME);
				if (fd < 0)
					fd = open(P.c_str(), O_RDONLY);
				if (fd >= 0) {
					std::string buf(st.st_size, '\0');
					long r = pread(fd, buf.data(),
						       buf.size(), 0);
					out << "/#" << r << ":"
					    << fnv(buf.data(), r > 0 ? r : 0);
					close(fd);
				} else {
					out << "/open" << err_of(-1);
				}
			} else if (S_ISLNK(st.st_mode)) {
				char buf[256];
				long r = readlink(P.c_str(), buf, sizeof(buf));
				out << "/->"
				    << (r > 0 ? std::string(buf, r) :
						err_of(r));
			} else if (S_ISDIR(st.st_mode)) {
				out << "/[";
				std::vector<std::string> names;
				if (DIR *d = opendir(P.c_str())) {
					while (dirent *e = readdir(d))
						names.push_back(e->d_name);
					closedir(d);
				}
				std::sort(names.begin(), names.end());
				for (auto &n : names)
					out << n << ",";
				out << "]";
			}
			char lb[4096];
			long n = llistxattr(P.c_str(), lb, sizeof(lb));
			if (n > 0) {
				std::vector<std::string> names;
				for (size_t off = 0; off < size_t(n);
				     off += names.back().size() + 1)
					names.emplace_back(lb + off);
				std::sort(names.begin(), names.end());
				for (const std::string &x : names) {
					char vb[8192];
					long v = lgetxattr(P.c_str(), x.c_str(),
							   vb, sizeof(vb));
					out << "/x" << x << "="
					    << (v >= 0 ? std::to_string(
								 fnv(vb, v)) :
							 err_of(v));
				}
			}
			out << " ";
		}
		return out.str();
	}

	std::mt19937_64 rng_;
	bool priv_;
	bool timed_ = false;
	bool trace_ = getenv("POSIX_DIFF_TRACE") != nullptr;
	long tick_us_ = [] {
		timespec r{};
		clock_getres(CLOCK_REALTIME_COARSE, &r);
		return 2 * (r.tv_nsec / 1000) +
		       2000; // the coarse clock lags up to a tick
	}();
	timespec before_{};
	Side s_[2];
	std::vector<std::string> paths_;
	std::vector<std::string> history_;
};

// Fresh, empty dirs for one run on both sides, owned by uid/gid.
bool fresh_dirs(const std::string &a, const std::string &b, uid_t uid,
		gid_t gid)
{
	for (const std::string &d : { a, b }) {
		if (mkdir(d.c_str(), 0755) || chown(d.c_str(), uid, gid))
			return false;
		for (auto *sub : { "d1", "d2", "d1/d3" }) {
			std::string p = d + "/" + sub;
			if (mkdir(p.c_str(), 0755) ||
			    chown(p.c_str(), uid, gid))
				return false;
		}
	}
	return true;
}

// Run in a child as uid/gid 65534 (no supplementary groups); its verdict
// comes back through a pipe: "" when the two sides agreed.
std::string run_unprivileged(const std::string &a, const std::string &b,
			     uint64_t seed, int n)
{
	std::string r = zit::as_nobody([&] {
		std::string v = Diff(a, b, seed, false).run(n);
		return v.empty() ? std::string("OK") : v;
	});
	return r == "OK" ? "" : (r.empty() ? "child died" : r);
}

} // namespace

TEST_CASE("differential: random syscalls on tmpfs and zufuse agree",
	  "[integration][posix][diff]")
{
#if defined(POSIX_DIFF_TOYFS)
	// toyfs from its unmodified sources: SKIP without them, before the
	// scratch directory exists (exit(77) runs no destructor).
	const std::string src = zit::toyfs_src_or_skip();
#endif
	zit::Mount m;
#if defined(POSIX_DIFF_TOYFS)
	zit::RunResult b = zit::build_toyfs(src, m.scratch().dir());
	INFO(b.err);
	REQUIRE(b.status == 0);
	b = zit::mkfs_toyfs(m.scratch().dir(), m.image(), 256 << 20);
	INFO(b.out << b.err);
	REQUIRE(b.status == 0);
	REQUIRE_MOUNT(m, { "-o", "allow_other",
			   "--fs=" + m.scratch().path("libtoyfs.so") });
#elif defined(POSIX_DIFF_PLUGIN)
	// examplefs (examples/): formatted by its mkfs, mounted with --fs
	const char *mkfs = getenv("EXAMPLEFS_MKFS"),
		   *lib = getenv("EXAMPLEFS_LIB");
	REQUIRE((mkfs && lib));
	zit::RunResult f =
		zit::run_cmd({ mkfs, m.image(), "256" }, m.scratch().dir());
	INFO(f.out << f.err);
	REQUIRE(f.status == 0);
	REQUIRE_MOUNT(m, { "-o", "allow_other", std::string("--fs=") + lib });
#else
	REQUIRE_MOUNT(m, { "-o", "allow_other" });
#endif
	const std::string ref = m.scratch().path("ref");
	REQUIRE(mkdir(ref.c_str(), 0755) == 0);
	// mkdtemp made the scratch dir 0700: without this, every call of the
	// unprivileged runs failed with EACCES on both sides.
	REQUIRE(chmod(m.scratch().dir().c_str(), 0755) == 0);
	auto t0 = std::chrono::steady_clock::now();

	const int kOps = 2500;
	for (uint64_t seed : { 1, 2, 3 }) {
		std::string a = ref + "/root" + std::to_string(seed);
		std::string b = m.path("root" + std::to_string(seed));
		REQUIRE(fresh_dirs(a, b, 0, 0));
		fprintf(stderr, "posix_diff: seed %lu as root\n",
			(unsigned long)seed);
		std::string r = Diff(a, b, seed, true).run(kOps);
		INFO("seed " << seed << " as root\n" << r);
		CHECK(r.empty());
	}
	for (uint64_t seed : { 11, 12 }) {
		std::string a = ref + "/user" + std::to_string(seed);
		std::string b = m.path("user" + std::to_string(seed));
		REQUIRE(fresh_dirs(a, b, 65534, 65534));
		fprintf(stderr, "posix_diff: seed %lu as nobody\n",
			(unsigned long)seed);
		std::string r = run_unprivileged(a, b, seed, kOps);
		INFO("seed " << seed << " as nobody\n" << r);
		CHECK(r.empty());
	}
	auto secs = std::chrono::duration<double>(
			    std::chrono::steady_clock::now() - t0)
			    .count();
	WARN("differential: " << 5 * kOps << " calls in " << secs << " s");
	auto r = m.unmount();
	CHECK(r == 0);
}
