// SPDX-License-Identifier: BSD-3-Clause
#include "kernel_shim/mount_options.h"

#include <cctype>
#include <cstdlib>
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
	"    -o OPT[,OPT...]    mount options: ro, sync, acl (default: POSIX\n"
	"                       ACLs) / noacl, noatime (default: relatime),\n"
	"                       commit=SECONDS (an image on a disk file: work\n"
	"                       older than this reaches the disk; default 5,\n"
	"                       0: only at fsync/O_DSYNC/unmount);\n"
	"                       mounted by root: allow_other, dev and suid\n"
	"                       unless allow_root, nodev, nosuid\n"
	"    -h, --help         print this help and exit\n"
	"    -V, --version      print the version and exit\n"
	"\n"
	"Unmount: fusermount3 -u MOUNTPOINT (or umount, SIGINT, SIGTERM).\n"
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
		} else {
			*error = "unexpected argument '" + std::string(arg) +
				 "' (one MOUNTPOINT only; see --help)";
			return false;
		}
	}
	if (cl->help || cl->version)
		return true;
	if (cl->mountpoint.empty()) {
		*error = "missing MOUNTPOINT (see --help)";
		return false;
	}
	if (cl->pmem.empty()) {
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
	if (cl.commit_s == -2)
		o += ",commit=bad"; // the server names it
	else if (cl.commit_s >= 0)
		o += ",commit=" + std::to_string(cl.commit_s);
	return o;
}

} // namespace zuf
