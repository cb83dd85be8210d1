// SPDX-License-Identifier: BSD-3-Clause
#include "kernel_shim/mount_options.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

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
	"    --t2=PATH[,SIZE]   tier 2: a block device or a file (created or\n"
	"                       grown to SIZE): cold blocks move there when\n"
	"                       pmem runs low and come back when accessed;\n"
	"                       capacity is pmem + T2. An image with blocks on\n"
	"                       T2 mounts only with its T2 again\n"
	"    --t2-size=SIZE     the same as --t2=PATH,SIZE (-o t2_size=SIZE)\n"
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
	"    -o OPT[,OPT...]    mount options: ro, sync, acl (default: POSIX\n"
	"                       ACLs) / noacl, noatime (default: relatime),\n"
	"                       commit=SECONDS (an image on a disk file: work\n"
	"                       older than this reaches the disk; default 5,\n"
	"                       0: only at fsync/O_DSYNC/unmount), and\n"
	"                       the VFS and FUSE ones (nodev, nosuid, noexec,\n"
	"                       allow_other, ...); mounted by root: allow_other,\n"
	"                       dev and suid unless allow_root, nodev, nosuid.\n"
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

// fstab and mount(8) conventions that mean nothing to zufuse: accepted
// and dropped, silently (mount(8) drops most of them itself; zufuse run
// by hand or by mount.fuse3 may still see them). comment= and x-* too.
constexpr std::string_view kIgnoredOptions[] = {
	"defaults", "auto", "noauto", "user", "nouser", "users", "owner",
	"group", "nofail", "_netdev", "loop",
};

// What may go on to FUSE (libfuse 3.14's mount and session options, and
// the VFS flags): anything else is refused here, in zufuse's words.
constexpr std::string_view kFuseOptions[] = {
	"allow_other", "allow_root", "auto_unmount", "default_permissions",
	"blkdev", "debug", "rw", "ro", "suid", "nosuid", "dev", "nodev",
	"exec", "noexec", "async", "sync", "dirsync", "atime", "noatime",
	"diratime", "nodiratime", "relatime", "norelatime", "strictatime",
	"nostrictatime", "lazytime", "nolazytime", "symfollow", "nosymfollow",
};
constexpr std::string_view kFuseValueOptions[] = {
	"fsname=", "subtype=", "max_read=", "blksize=", "context=",
	"fscontext=", "defcontext=", "rootcontext=",
};

bool ignored_option(std::string_view o)
{
	for (std::string_view k : kIgnoredOptions)
		if (o == k)
			return true;
	return o.starts_with("comment=") || o.starts_with("x-");
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
				*error = "mount option '" + key + "' needs a value (" + key +
					 "=...)";
			return !val.empty();
		};
		auto flag = [&] {
			if (eq != o.npos)
				*error = "mount option '" + key + "' takes no value";
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
				*error = "bad size '" + val +
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

// -o values we also act on. They still go to FUSE, except the ones only
// zufuse knows (acl, noacl): the rest of opts is returned.
std::string note_fuse_opts(std::string_view opts, CommandLine *cl)
{
	std::string rest;
	while (!opts.empty()) {
		size_t comma = opts.find(',');
		std::string_view o = opts.substr(0, comma);
		opts = comma == opts.npos ? "" : opts.substr(comma + 1);
		if (o == "ro")
			cl->read_only = true;
		else if (o == "rw")
			cl->read_only = false;
		else if (o == "sync")
			cl->sync = true;
		else if (o == "async")
			cl->sync = false;
		else if (o == "noatime")
			cl->noatime = true;
		else if (o == "atime" || o == "relatime")
			cl->noatime = false;
		if (o == "acl" || o == "noacl") {
			cl->acl = o == "acl";
			continue;
		}
		if (o.substr(0, 7) == "commit=") { // checked by the server
			std::string v(o.substr(7));
			char *end = nullptr;
			long s = strtol(v.c_str(), &end, 10);
			cl->commit_s = !v.empty() && !*end && s >= 0 && s <= 3600 ? int(s) : -2;
			continue;
		}
		if (o == "relatime")
			continue; // zufuse's default; FUSE does not take it
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
				size_t comma = std::min(v.find(',', at), v.size());
				std::string_view o = std::string_view(v).substr(at, comma - at);
				if (!o.empty() && !fuse_option(o)) {
					*error = "unknown mount option '" + std::string(o) +
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
			*error = "two images: '" + positional[0] + "' and --pmem=" + cl->pmem +
				 " (see --help)";
			return false;
		}
		cl->pmem = positional[0];
		cl->mountpoint = positional[1];
	} else if (positional.size() == 1) {
		cl->mountpoint = positional[0];
	}
	if (cl->help || cl->version)
		return true;
	if (cl->mountpoint.empty()) {
		*error = "missing MOUNTPOINT (see --help)";
		return false;
	}
	if (cl->pmem.empty()) {
		*error = "missing IMAGE (zufuse IMAGE MOUNTPOINT, or --pmem=PATH; see --help)";
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
	if (cl.commit_s == -2)
		o += ",commit=bad"; // the server names it
	else if (cl.commit_s >= 0)
		o += ",commit=" + std::to_string(cl.commit_s);
	return o;
}

} // namespace zuf
