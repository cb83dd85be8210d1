// SPDX-License-Identifier: BSD-3-Clause
#include "kernel_shim/mount_options.h"

#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "kernel_shim/control.h"

namespace zuf {

const char kUsage[] =
	"usage: zufuse IMAGE MOUNTPOINT [options]\n"
	"       zufuse MOUNTPOINT --pmem=IMAGE [options]\n"
	"       mount -t fuse.zufuse IMAGE MOUNTPOINT [-o OPT,...]\n"
	"\n"
	"Mount the zufuse file system (ZUFS on FUSE) in IMAGE on MOUNTPOINT.\n"
	"Every option below is also an -o option without its dashes (-o size=1G,\n"
	"-o t2=PATH,t2_size=4G, -o mkfs, -o direct_io, -o uring), as mount(8) and\n"
	"/etc/fstab pass them (type fuse.zufuse).\n"
	"\n"
	"options:\n"
	"    --pmem=PATH        pmem image: a file or a device (or the IMAGE\n"
	"                       argument)\n"
	"    --size=SIZE        create IMAGE with SIZE bytes, or grow it and its\n"
	"                       file system (online, as resize2fs; up to 16 times\n"
	"                       its mkfs size); a smaller SIZE is refused.\n"
	"                       SIZE takes K, M, G or T suffixes (1024-based)\n"
	"    --mkfs             format IMAGE if it holds no file system (an image\n"
	"                       with any file system libblkid knows is refused)\n"
	"    --fs=NAME          mount a zus file system (a plugin written\n"
	"                       against zus.h) instead of pmfs (built in, the\n"
	"                       default: --fs=pmfs): loads\n"
	"                       /usr/lib/zufs/libNAME.so, else libNAME.so from\n"
	"                       the library path, else NAME as a path; PATH\n"
	"                       must be formatted by that file system's mkfs\n"
	"                       (not with --mkfs, --size or --t2)\n"
	"    --list-fs          list the zus file systems zufuse can find\n"
	"    --t2=PATH[,SIZE]   tier 2: a block device or a file (created or\n"
	"                       grown to SIZE): cold blocks move there when\n"
	"                       pmem runs low and come back when accessed;\n"
	"                       capacity is pmem + T2. An image with blocks on\n"
	"                       T2 mounts only with its T2 again\n"
	"    --t2-size=SIZE     the same as --t2=PATH,SIZE (-o t2_size=SIZE)\n"
	"    --direct-io        no page cache: every open is FOPEN_DIRECT_IO\n"
	"                       (shared mmap: Linux 6.6+, else ENODEV)\n"
	"    --uring            serve FUSE over io_uring (the default where\n"
	"                       the kernel has it, 6.14+): threads on each\n"
	"                       CPU serve the requests issued on that CPU.\n"
	"                       As root, sets the fuse module's enable_uring\n"
	"                       to Y; without kernel support zufuse says why\n"
	"                       in one line and uses /dev/fuse\n"
	"    --no-uring         serve FUSE over /dev/fuse only (libfuse's\n"
	"                       multi-threaded loop)\n"
	"    -f                 stay in the foreground\n"
	"    -s                 single-threaded /dev/fuse loop (no io_uring\n"
	"                       unless --uring is given too)\n"
	"    -d                 FUSE debug output (implies -f)\n"
	"    -o OPT[,OPT...]    mount options: the standard ones (defaults,\n"
	"                       ro/rw, sync/async, dirsync, noatime,\n"
	"                       relatime (default), strictatime, atime,\n"
	"                       nodiratime/diratime, lazytime, nosuid,\n"
	"                       nodev, noexec, ...), acl (default: POSIX\n"
	"                       ACLs) / noacl, commit=SECONDS (an image on a\n"
	"                       disk file: work older than this reaches the\n"
	"                       disk; default 5, 0: only at fsync/O_DSYNC/\n"
	"                       unmount); remount,OPTS changes the flags of\n"
	"                       the zufuse on MOUNTPOINT (e.g. remount,ro);\n"
	"                       mounted by root: allow_other, dev and suid\n"
	"                       unless allow_root, nodev, nosuid.\n"
	"                       fstab's own (defaults, noauto, user, users,\n"
	"                       nofail, _netdev, comment=, x-*) are ignored\n"
	"    -h, --help         print this help and exit\n"
	"    -V, --version      print the version and exit\n"
	"\n"
	"Unmount: umount MOUNTPOINT or fusermount3 -u MOUNTPOINT (or SIGINT,\n"
	"SIGTERM). A tool that finds the image still held by the zufuse that\n"
	"was just unmounted waits for it (up to 10 s).\n"
	"\n"
	"Debugging aids (environment, for tests):\n"
	"    ZUFUSE_FAULT_PMEM=RULE[;RULE...]  inject media errors into copies\n"
	"                       to and from the image, as a SIGBUS would: the\n"
	"                       request fails with EIO. RULE is\n"
	"                       write|read|meta|any[:KEY=VALUE,...], after=N\n"
	"                       (let N pass), next=N (fail N), prob=P,\n"
	"                       seed=S, at=OFF[+LEN] (image bytes); e.g.\n"
	"                       'write:after=2,next=1' or 'read:at=64M+4K'\n"
	"    ZUFUSE_FAULT_T2=RULE[;RULE...]  make tier-2 transfers fail as a\n"
	"                       failing device would; the request that needed\n"
	"                       one gets EIO. RULE is read|write|any[:KEY,...]:\n"
	"                       error (default), short (half moves, then an\n"
	"                       error), stall=MS (wait, then go on), after=N\n"
	"                       (let N pass), next=N (hit N), prob=P, seed=S;\n"
	"                       e.g. 'read:next=1' or 'any:stall=3000,next=2'\n"
	"    ZUFUSE_URING_SCHED_IDLE=0|unguarded  io_uring threads ordinary\n"
	"                       (0), or SCHED_IDLE without the guard that\n"
	"                       makes a starved one ordinary (measurements\n"
	"                       only); default: SCHED_IDLE, guarded\n";

bool parse_size(std::string_view text, uint64_t *bytes)
{
	uint64_t v = 0;
	size_t i = 0;

	for (; i < text.size() && std::isdigit((unsigned char)text[i]); ++i) {
		uint64_t d = text[i] - '0';
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (i == 0)
		return false;

	unsigned shift = 0;
	if (i < text.size()) {
		switch (std::toupper((unsigned char)text[i])) {
		case 'K':
			shift = 10;
			break;
		case 'M':
			shift = 20;
			break;
		case 'G':
			shift = 30;
			break;
		case 'T':
			shift = 40;
			break;
		default:
			return false;
		}
		++i;
	}
	if (i != text.size() || v == 0 || v > (UINT64_MAX >> shift))
		return false;
	*bytes = v << shift;
	return true;
}

namespace {

// fstab and mount(8) conventions that mean nothing to zufuse: accepted
// and dropped, silently (mount(8) drops most of them itself; zufuse run
// by hand or by mount.fuse3 may still see them). comment= and x-* too.
constexpr std::string_view kIgnoredOptions[] = {
	"defaults", "auto",  "noauto", "user",	  "nouser", "users",
	"owner",    "group", "nofail", "_netdev", "loop",
};

// What may go on to FUSE (libfuse 3.14's mount and session options, and
// the VFS flags): anything else is refused here, in zufuse's words.
constexpr std::string_view kFuseOptions[] = {
	"allow_other",	 "allow_root", "auto_unmount", "default_permissions",
	"blkdev",	 "debug",      "rw",	       "ro",
	"suid",		 "nosuid",     "dev",	       "nodev",
	"exec",		 "noexec",     "async",	       "sync",
	"dirsync",	 "atime",      "noatime",      "diratime",
	"nodiratime",	 "relatime",   "norelatime",   "strictatime",
	"nostrictatime", "lazytime",   "nolazytime",   "symfollow",
	"nosymfollow",
};
constexpr std::string_view kFuseValueOptions[] = {
	"fsname=",  "subtype=",	  "max_read=",	 "blksize=",
	"context=", "fscontext=", "defcontext=", "rootcontext=",
};

bool ignored_option(std::string_view o)
{
	for (std::string_view k : kIgnoredOptions)
		if (o == k)
			return true;
	// The kernel's own FUSE mount options, which /proc/mounts shows and
	// mount(8) hands back on "mount -o remount": libfuse sets them itself.
	return o.starts_with("comment=") || o.starts_with("x-") ||
	       o.starts_with("user_id=") || o.starts_with("group_id=") ||
	       o.starts_with("rootmode=");
}

bool fuse_option(std::string_view o)
{
	for (std::string_view k : kFuseOptions)
		if (o == k)
			return true;
	for (std::string_view k : kFuseValueOptions)
		if (o.starts_with(k) && o.size() > k.size())
			return true;
	return false;
}

// The -o options that are zufuse's own command-line options (key[=value],
// '_' or '-' alike) and the ignored ones are taken out of opts; the rest
// is returned. False (and *error) for a bad value.
bool take_zufuse_opts(std::string_view opts, CommandLine *cl, std::string *rest,
		      std::string *error)
{
	while (!opts.empty()) {
		size_t comma = opts.find(',');
		std::string_view o = opts.substr(0, comma);
		opts = comma == opts.npos ? "" : opts.substr(comma + 1);
		size_t eq = o.find('=');
		std::string key(o.substr(0, eq));
		std::string val(eq == o.npos ? "" : o.substr(eq + 1));
		for (char &c : key)
			if (c == '-')
				c = '_';
		auto need_value = [&] {
			if (eq == o.npos || val.empty())
				*error = "mount option '" + key +
					 "' needs a value (" + key + "=...)";
			return !val.empty();
		};
		auto flag = [&] {
			if (eq != o.npos)
				*error = "mount option '" + key +
					 "' takes no value";
			return eq == o.npos;
		};
		if (o.empty() || ignored_option(o))
			continue;
		if (key == "pmem") {
			if (!need_value())
				return false;
			cl->pmem = val;
		} else if (key == "size") {
			if (!need_value())
				return false;
			if (!parse_size(val, &cl->size)) {
				*error =
					"bad size '" + val +
					"' (a number with an optional K, M, G or T suffix, e.g. 1G)";
				return false;
			}
		} else if (key == "t2") {
			if (!need_value())
				return false;
			cl->t2 = val;
		} else if (key == "t2_size" || key == "t2size") {
			if (!need_value())
				return false;
			if (!parse_size(val, &cl->t2_size)) {
				*error = "bad T2 size '" + val + "' (e.g. 1G)";
				return false;
			}
		} else if (key == "mkfs") {
			if (!flag())
				return false;
			cl->mkfs = true;
		} else if (key == "fs") {
			if (!need_value())
				return false;
			cl->fs = val;
		} else if (key == "direct_io") {
			if (!flag())
				return false;
			cl->direct_io = true;
		} else if (key == "uring") {
			if (!flag())
				return false;
			cl->uring = true;
			cl->no_uring = false;
		} else if (key == "no_uring") {
			if (!flag())
				return false;
			cl->no_uring = true;
			cl->uring = false;
		} else {
			if (!rest->empty())
				*rest += ',';
			*rest += o;
		}
	}
	return true;
}

// The standard VFS mount options: the MS_* bit each sets or clears, and
// whether libfuse 3.14's mount takes it (the others zufuse honours itself
// and keeps from libfuse, which would refuse them).
struct VfsOption {
	std::string_view name;
	unsigned long flag;
	bool set;
	bool to_fuse;
};
constexpr VfsOption kVfsOptions[] = {
	{ "ro", MS_RDONLY, true, true },
	{ "rw", MS_RDONLY, false, true },
	{ "nosuid", MS_NOSUID, true, true },
	{ "suid", MS_NOSUID, false, true },
	{ "nodev", MS_NODEV, true, true },
	{ "dev", MS_NODEV, false, true },
	{ "noexec", MS_NOEXEC, true, true },
	{ "exec", MS_NOEXEC, false, true },
	{ "sync", MS_SYNCHRONOUS, true, true },
	{ "async", MS_SYNCHRONOUS, false, true },
	{ "dirsync", MS_DIRSYNC, true, true },
	{ "noatime", MS_NOATIME, true, false }, // the last atime option:
	{ "atime", MS_NOATIME, false, false },	// parse_command_line
	{ "nodiratime", MS_NODIRATIME, true, false },
	{ "diratime", MS_NODIRATIME, false, false },
	{ "strictatime", MS_STRICTATIME, true, false },
	{ "nostrictatime", MS_STRICTATIME, false, false },
	{ "relatime", MS_RELATIME, true, false },
	{ "norelatime", MS_RELATIME, false, false },
	{ "lazytime", MS_LAZYTIME, true, false },
	{ "nolazytime", MS_LAZYTIME, false, false },
	{ "defaults", 0, false, false },
};

// Apply one VFS option; false if o is not one.
bool note_vfs_opt(std::string_view o, CommandLine *cl, bool *to_fuse)
{
	for (const VfsOption &v : kVfsOptions) {
		if (v.name != o)
			continue;
		if (v.set)
			cl->ms_flags |= v.flag;
		else
			cl->ms_flags &= ~v.flag;
		*to_fuse = v.to_fuse;
		return true;
	}
	return false;
}

// -o values. The VFS options update cl (the server and the shim honour
// them); what libfuse's mount knows still goes to FUSE, the rest, and the
// ones only zufuse knows (acl, noacl, remount), are kept from it: the rest
// of opts is returned.
std::string note_fuse_opts(std::string_view opts, CommandLine *cl)
{
	std::string rest;
	while (!opts.empty()) {
		size_t comma = opts.find(',');
		std::string_view o = opts.substr(0, comma);
		opts = comma == opts.npos ? "" : opts.substr(comma + 1);
		bool to_fuse = true;
		if (o == "acl" || o == "noacl") {
			cl->acl = o == "acl";
			continue;
		}
		if (o.substr(0, 7) == "commit=") { // checked by the server
			std::string v(o.substr(7));
			char *end = nullptr;
			long s = strtol(v.c_str(), &end, 10);
			cl->commit_s =
				!v.empty() && !*end && s >= 0 && s <= 3600 ?
					int(s) :
					-2;
			continue;
		}
		if (o == "remount") {
			cl->remount = true;
			continue;
		}
		if (note_vfs_opt(o, cl, &to_fuse)) {
			const unsigned long f = cl->ms_flags;
			cl->read_only = f & MS_RDONLY;
			cl->sync = f & MS_SYNCHRONOUS;
			cl->dirsync = f & MS_DIRSYNC;
			cl->nodiratime = f & MS_NODIRATIME;
			// The last atime option wins, as in the kernel:
			// noatime, strictatime, else relatime.
			if (o == "noatime" || o == "atime" ||
			    o == "strictatime" || o == "relatime") {
				cl->noatime = o == "noatime";
				cl->strictatime = o == "strictatime";
				cl->ms_flags &= ~(MS_NOATIME | MS_STRICTATIME |
						  MS_RELATIME);
				cl->ms_flags |=
					o == "noatime"	   ? MS_NOATIME :
					o == "strictatime" ? MS_STRICTATIME :
							     MS_RELATIME;
			}
			if (!to_fuse)
				continue;
		}
		if (!rest.empty())
			rest += ',';
		rest += o;
	}
	return rest;
}

} // namespace

bool parse_command_line(int argc, const char *const *argv, CommandLine *cl,
			std::string *error)
{
	auto value = [&](int *i, std::string_view arg, std::string_view name,
			 std::string *out) {
		// "--name=VALUE" or "--name VALUE"
		if (arg.size() > name.size() && arg[name.size()] == '=') {
			*out = arg.substr(name.size() + 1);
			return true;
		}
		if (*i + 1 >= argc) {
			*error = std::string("option '") + std::string(name) +
				 "' needs a value";
			return false;
		}
		*out = argv[++*i];
		return true;
	};
	auto is = [](std::string_view arg, std::string_view name) {
		return arg == name ||
		       (arg.starts_with(name) && arg[name.size()] == '=');
	};

	std::vector<std::string> positional;
	for (int i = 1; i < argc; ++i) {
		std::string_view arg = argv[i];
		std::string v;

		if (is(arg, "--pmem")) {
			if (!value(&i, arg, "--pmem", &cl->pmem))
				return false;
			if (cl->pmem.empty()) {
				*error = "--pmem needs a path";
				return false;
			}
		} else if (is(arg, "--size")) {
			if (!value(&i, arg, "--size", &v))
				return false;
			if (!parse_size(v, &cl->size)) {
				*error = "bad size '" + v +
					 "' (a number with an optional K, M, "
					 "G or T suffix, e.g. 1G)";
				return false;
			}
		} else if (is(arg, "--t2")) {
			if (!value(&i, arg, "--t2", &cl->t2))
				return false;
			size_t comma = cl->t2.find(',');
			if (comma != std::string::npos) {
				v = cl->t2.substr(comma + 1);
				cl->t2.resize(comma);
				if (!parse_size(v, &cl->t2_size)) {
					*error = "bad T2 size '" + v +
						 "' (e.g. 1G)";
					return false;
				}
			}
			if (cl->t2.empty()) {
				*error = "--t2 needs a path";
				return false;
			}
		} else if (is(arg, "--t2-size")) {
			if (!value(&i, arg, "--t2-size", &v))
				return false;
			if (!parse_size(v, &cl->t2_size)) {
				*error = "bad T2 size '" + v + "' (e.g. 1G)";
				return false;
			}
		} else if (is(arg, "--fs")) {
			if (!value(&i, arg, "--fs", &cl->fs))
				return false;
			if (cl->fs.empty()) {
				*error =
					"--fs needs a file system name or path";
				return false;
			}
		} else if (arg == "--list-fs") {
			cl->list_fs = true;
		} else if (arg == "--mkfs") {
			cl->mkfs = true;
		} else if (arg == "--direct-io") {
			cl->direct_io = true;
		} else if (arg == "--uring") {
			cl->uring = true;
			cl->no_uring = false;
		} else if (arg == "--no-uring") {
			cl->no_uring = true;
			cl->uring = false;
		} else if (arg == "-f") {
			cl->foreground = true;
		} else if (arg == "-s") {
			cl->single_thread = true;
		} else if (arg == "-d") {
			cl->debug = cl->foreground = true;
		} else if (arg == "-h" || arg == "--help") {
			cl->help = true;
		} else if (arg == "-V" || arg == "--version") {
			cl->version = true;
		} else if (arg.starts_with("-o")) {
			if (arg.size() > 2)
				v = arg.substr(2);
			else if (i + 1 < argc)
				v = argv[++i];
			else {
				*error = "option '-o' needs a value";
				return false;
			}
			std::string rest;
			if (!take_zufuse_opts(v, cl, &rest, error))
				return false;
			v = note_fuse_opts(rest, cl);
			for (size_t at = 0; at < v.size();) {
				size_t comma =
					std::min(v.find(',', at), v.size());
				std::string_view o = std::string_view(v).substr(
					at, comma - at);
				if (!o.empty() && !fuse_option(o)) {
					*error = "unknown mount option '" +
						 std::string(o) +
						 "' (see --help)";
					return false;
				}
				at = comma + 1;
			}
			if (!v.empty())
				cl->fuse_opts.push_back(v);
		} else if (arg.starts_with("-") && arg != "-") {
			*error = "unknown option '" + std::string(arg) +
				 "' (see --help)";
			return false;
		} else if (positional.size() < 2) {
			positional.emplace_back(arg);
		} else {
			*error = "unexpected argument '" + std::string(arg) +
				 "' (IMAGE and MOUNTPOINT only; see --help)";
			return false;
		}
	}
	// zufuse IMAGE MOUNTPOINT (as mount.fuse3 runs it) or zufuse MOUNTPOINT
	// --pmem=IMAGE.
	if (positional.size() == 2) {
		if (!cl->pmem.empty() && cl->pmem != positional[0]) {
			*error = "two images: '" + positional[0] +
				 "' and --pmem=" + cl->pmem + " (see --help)";
			return false;
		}
		cl->pmem = positional[0];
		cl->mountpoint = positional[1];
	} else if (positional.size() == 1) {
		cl->mountpoint = positional[0];
	}
	// The atime mode that won goes to the kernel's mount too.
	if (cl->noatime)
		cl->fuse_opts.push_back("noatime");
	if (cl->help || cl->version || cl->list_fs)
		return true;
	// mount(8) -o remount runs the helper as "zufuse SOURCE MOUNTPOINT
	// -o remount,...": IMAGE MOUNTPOINT like a mount, above.
	if (cl->mountpoint.empty()) {
		*error = "missing MOUNTPOINT (see --help)";
		return false;
	}
	if (cl->pmem.empty() && !cl->remount) {
		*error =
			"missing IMAGE (zufuse IMAGE MOUNTPOINT, or --pmem=PATH; see --help)";
		return false;
	}
	if (cl->t2_size && cl->t2.empty()) {
		*error = "--t2-size needs --t2=PATH";
		return false;
	}
	if (!cl->fs.empty() && cl->fs != "pmfs" &&
	    (cl->mkfs || cl->size || !cl->t2.empty())) {
		*error = "--fs=" + cl->fs +
			 ": format the image with that file system's mkfs "
			 "(--mkfs, --size and --t2 are for pmfs)";
		return false;
	}
	if (cl->pmem.find(',') != std::string::npos) {
		*error = "--pmem path must not contain ','";
		return false;
	}
	return true;
}

std::string server_options(const CommandLine &cl)
{
	std::string o = "pmem=" + cl.pmem;
	if (cl.size)
		o += ",size=" + std::to_string(cl.size);
	if (cl.mkfs)
		o += ",mkfs";
	if (cl.read_only)
		o += ",ro";
	if (!cl.acl) // the server's default is acl, as ext4's
		o += ",noacl";
	if (cl.noatime)
		o += ",noatime";
	if (cl.commit_s == -2)
		o += ",commit=bad"; // the server names it
	else if (cl.commit_s >= 0)
		o += ",commit=" + std::to_string(cl.commit_s);
	if (!cl.noatime && cl.strictatime)
		o += ",strictatime";
	if (cl.nodiratime)
		o += ",nodiratime";
	return o;
}

namespace {

// What the server takes at a remount: the atime options and commit=
// (read-only comes from the kernel's state, control.h).
std::string remount_server_options(const CommandLine &cl)
{
	std::string o = cl.noatime     ? "noatime" :
			cl.strictatime ? "strictatime" :
					 "relatime";
	o += cl.nodiratime ? ",nodiratime" : ",diratime";
	if (cl.commit_s >= 0)
		o += ",commit=" + std::to_string(cl.commit_s);
	return o;
}

// Tell the zufuse serving @mountpoint (canonical) of the remount, through
// its control socket. 0, or -errno and *why.
int tell_server(const std::string &mountpoint, const CommandLine &cl,
		std::string *why)
{
	dev_t dev = control::fuse_mount_dev(mountpoint);
	if (!dev) {
		*why = "no FUSE mount on " + mountpoint;
		return -ENOENT;
	}
	std::string reply;
	const std::string path =
		control::socket_path(control::socket_dir(), dev);
	// A zufuse that has just mounted opens its socket right after: wait
	// for it (up to 5 s) rather than leave its server untold.
	for (int tries = 0;; ++tries) {
		if (control::request(path,
				     "remount " + remount_server_options(cl),
				     &reply, why))
			break;
		if ((errno != ENOENT && errno != ECONNREFUSED) || tries == 100)
			return -ENOTCONN;
		usleep(50 * 1000);
	}
	reply = reply.substr(0, reply.find('\n'));
	if (reply == "ok")
		return 0;
	if (reply.rfind("unsupported: ", 0) == 0) { // the file system has none
		*why = reply.substr(13);
		return -EOPNOTSUPP;
	}
	*why = reply.rfind("error: ", 0) == 0 ? reply.substr(7) : reply;
	return -EINVAL;
}

} // namespace

int remount(const CommandLine &cl, std::string *error)
{
	// The kernel's FUSE accepts a remount through mount(2) and applies
	// the sb flags (ro, sync, dirsync, lazytime) and the mount's flags
	// (nosuid, nodev, noexec, the atime ones); it takes no FUSE options
	// then and keeps the source.
	unsigned long flags = MS_REMOUNT | cl.ms_flags;
	if (::mount(nullptr, cl.mountpoint.c_str(), nullptr, flags, nullptr)) {
		int err = errno;
		*error = "remount " + cl.mountpoint + ": " + std::strerror(err);
		return -err;
	}
	// Then the server, as zuf tells zus (ZUFS_M_REMOUNT): read-only stops
	// its background writers; the atime options are its own.
	char *real = realpath(cl.mountpoint.c_str(), nullptr);
	const std::string mp = real ? real : cl.mountpoint;
	free(real);
	std::string why;
	int err = tell_server(mp, cl, &why);
	if (err == -EINVAL && !(flags & MS_RDONLY)) {
		// The server stays read-only (mounted so): so does the kernel.
		::mount(nullptr, cl.mountpoint.c_str(), nullptr,
			flags | MS_RDONLY, nullptr);
		*error = "remount " + cl.mountpoint + " rw: " + why;
		return err;
	}
	if (err)
		std::fprintf(
			stderr,
			"zufuse: remounted %s, but its server was not told "
			"(%s): its atime options and background writers "
			"stay as they were\n",
			cl.mountpoint.c_str(), why.c_str());
	return 0;
}

} // namespace zuf
