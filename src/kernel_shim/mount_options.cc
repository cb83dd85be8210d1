// SPDX-License-Identifier: BSD-3-Clause
#include "kernel_shim/mount_options.h"

#include <sys/mount.h>

#include <cctype>
#include <cerrno>
#include <cstring>

namespace zuf {

const char kUsage[] =
	"usage: zufuse MOUNTPOINT --pmem=PATH [options]\n"
	"\n"
	"Mount the zufuse file system (ZUFS on FUSE) in PATH on MOUNTPOINT.\n"
	"\n"
	"options:\n"
	"    --pmem=PATH        pmem image: a file or a device (required)\n"
	"    --size=SIZE        create PATH with SIZE bytes (or grow it);\n"
	"                       SIZE takes K, M, G or T suffixes (1024-based)\n"
	"    --mkfs             format PATH if it is not a zufuse image\n"
	"    --t2=PATH[,SIZE]   tier 2: a block device or a file (created or\n"
	"                       grown to SIZE): cold blocks move there when\n"
	"                       pmem runs low and come back when accessed;\n"
	"                       capacity is pmem + T2. An image with blocks on\n"
	"                       T2 mounts only with its T2 again\n"
	"    --t2-size=SIZE     the same as --t2=PATH,SIZE\n"
	"    --direct-io        no page cache: every open is FOPEN_DIRECT_IO\n"
	"                       (shared mmap then fails with ENODEV)\n"
	"    --uring            serve FUSE over io_uring: threads pinned to\n"
	"                       each CPU serve the requests issued on that\n"
	"                       CPU; fastest for pinned applications (kernel\n"
	"                       6.14+; as root, sets the fuse module's\n"
	"                       enable_uring to Y; without kernel support\n"
	"                       zufuse says so and uses /dev/fuse)\n"
	"    --no-uring         serve FUSE over /dev/fuse only (the default)\n"
	"    -f                 stay in the foreground\n"
	"    -s                 single-threaded FUSE loop\n"
	"    -d                 FUSE debug output (implies -f)\n"
	"    -o OPT[,OPT...]    mount options: the standard ones (defaults,\n"
	"                       ro/rw, sync/async, dirsync, noatime,\n"
	"                       relatime (default), strictatime, atime,\n"
	"                       nodiratime/diratime, lazytime, nosuid,\n"
	"                       nodev, noexec, ...), acl (default: POSIX\n"
	"                       ACLs) / noacl; remount,OPTS changes the\n"
	"                       flags of the zufuse on MOUNTPOINT (e.g.\n"
	"                       remount,ro); mounted by root: allow_other,\n"
	"                       dev and suid unless allow_root, nodev, nosuid\n"
	"    -h, --help         print this help and exit\n"
	"    -V, --version      print the version and exit\n"
	"\n"
	"Unmount: fusermount3 -u MOUNTPOINT (or umount, SIGINT, SIGTERM).\n"
	"\n"
	"Debugging aids (environment, for tests):\n"
	"    ZUFUSE_FAULT_T2=RULE[;RULE...]  make tier-2 transfers fail as a\n"
	"                       failing device would; the request that needed\n"
	"                       one gets EIO. RULE is read|write|any[:KEY,...]:\n"
	"                       error (default), short (half moves, then an\n"
	"                       error), stall=MS (wait, then go on), after=N\n"
	"                       (let N pass), next=N (hit N), prob=P, seed=S;\n"
	"                       e.g. 'read:next=1' or 'any:stall=3000,next=2'\n";

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
				cl->ms_flags |= o == "noatime"	   ? MS_NOATIME
						: o == "strictatime" ? MS_STRICTATIME
								     : MS_RELATIME;
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
			v = note_fuse_opts(v, cl);
			if (!v.empty())
				cl->fuse_opts.push_back(v);
		} else if (arg.starts_with("-") && arg != "-") {
			*error = "unknown option '" + std::string(arg) +
				 "' (see --help)";
			return false;
		} else if (cl->mountpoint.empty()) {
			cl->mountpoint = arg;
		} else if (cl->extra_arg.empty()) {
			cl->extra_arg = arg;
		} else {
			*error = "unexpected argument '" + std::string(arg) +
				 "' (one MOUNTPOINT only; see --help)";
			return false;
		}
	}
	// The atime mode that won goes to the kernel's mount too.
	if (cl->noatime)
		cl->fuse_opts.push_back("noatime");
	if (cl->help || cl->version)
		return true;
	// mount(8) -o remount runs the helper as "zufuse SOURCE MOUNTPOINT
	// -o remount,...": the mount point is the last argument.
	if (cl->remount && !cl->extra_arg.empty())
		cl->mountpoint = cl->extra_arg;
	else if (!cl->extra_arg.empty()) {
		*error = "unexpected argument '" + cl->extra_arg +
			 "' (one MOUNTPOINT only; see --help)";
		return false;
	}
	if (cl->mountpoint.empty()) {
		*error = "missing MOUNTPOINT (see --help)";
		return false;
	}
	if (cl->pmem.empty() && !cl->remount) {
		*error = "missing --pmem=PATH (see --help)";
		return false;
	}
	if (cl->t2_size && cl->t2.empty()) {
		*error = "--t2-size needs --t2=PATH";
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
	else if (cl.strictatime)
		o += ",strictatime";
	if (cl.nodiratime)
		o += ",nodiratime";
	return o;
}

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
	return 0;
}

} // namespace zuf
