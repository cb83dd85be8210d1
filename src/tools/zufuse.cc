// SPDX-License-Identifier: BSD-3-Clause
//
// zufuse - mount a zufuse image: the server (zus) and the FUSE shim (zuf)
// in one process, wired through the zufs::Channel. This file is the only
// place that sees both sides.
//
// Order matters for the user: options are checked first, then the image is
// mounted by the server (so "image ...: ..." errors come before FUSE is
// touched), then FUSE mounts; without -f the parent process exits only when
// the mount is up (0) or has failed (1), so its status says whether it
// worked. On exit (fusermount3 -u, umount, SIGINT, SIGTERM) FUSE unmounts
// first, then the server unmounts and leaves the image clean.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "fault/inject.h"
#include "kernel_shim/control.h"
#include "kernel_shim/fuse_frontend.h"
#include "kernel_shim/mount_options.h"
#include "kernel_shim/vfs.h"
#include "server/plugin/host.h"
#include "server/server.h"

namespace {

int fail(const std::string &line)
{
	std::fprintf(stderr, "zufuse: %s\n", line.c_str());
	return 1;
}

// fuse_daemonize, split in two: fork before anything starts threads or
// takes locks (the server's), report to the waiting parent once mounted.
class Daemon {
  public:
	// The parent never returns from start(): it exits with the child's
	// verdict (1 if the child died without one).
	bool start()
	{
		if (pipe(fds_))
			return false;
		pid_t pid = fork();
		if (pid < 0)
			return false;
		if (pid > 0) {
			close(fds_[1]);
			char status = 1;
			if (read(fds_[0], &status, 1) != 1)
				status = 1;
			_exit(status);
		}
		close(fds_[0]);
		setsid();
		active_ = true;
		return true;
	}

	void ready()
	{
		if (!active_)
			return;
		if (chdir("/")) {
		}
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			if (null > 2)
				close(null);
		}
		char ok = 0;
		if (write(fds_[1], &ok, 1) != 1) {
		}
		close(fds_[1]);
		active_ = false;
	}

  private:
	int fds_[2] = { -1, -1 };
	bool active_ = false;
};

// "TYPE from SOURCE" if path is a mount point (/proc/self/mountinfo), or "".
std::string mounted_on(const std::string &path)
{
	char *real = realpath(path.c_str(), nullptr);
	if (!real)
		return "";
	std::string want = real;
	free(real);
	zuf::control::MountEntry m;
	if (!zuf::control::mount_at(want, &m))
		return "";
	return m.fstype + " from " + m.source;
}

// path made absolute (its directory resolved; the file may not exist yet).
std::string absolute(const std::string &path)
{
	if (char *real = realpath(path.c_str(), nullptr)) {
		std::string r = real;
		free(real);
		return r;
	}
	size_t slash = path.rfind('/');
	std::string dir =
		slash == std::string::npos ? "." : path.substr(0, slash);
	if (dir.empty())
		dir = "/";
	char *real = realpath(dir.c_str(), nullptr);
	if (!real)
		return path;
	std::string r = real;
	free(real);
	return (r == "/" ? "" : r) + "/" + path.substr(slash + 1);
}

} // namespace

int main(int argc, char **argv)
{
	zuf::CommandLine cl;
	std::string error;

	if (!zuf::parse_command_line(argc, argv, &cl, &error))
		return fail(error);
	if (cl.help) {
		std::fputs(zuf::kUsage, stdout);
		return 0;
	}
	if (cl.version) {
		std::printf("zufuse %s (ZUFS ABI %d.%d, libfuse %s)\n",
			    ZUFUSE_VERSION, ZUFS_MAJOR_VERSION,
			    ZUFS_MINOR_VERSION, fuse_pkgversion());
		return 0;
	}

	if (cl.list_fs) {
		for (const std::string &line : zus::plugin::list_plugins())
			std::printf("%s\n", line.c_str());
		return 0;
	}
	if (cl.remount) // -o remount,...: the mounted zufuse's flags
		return zuf::remount(cl, &error) ? fail(error) : 0;

	// The file system (--fs; pmfs, built in, without it) is loaded (and
	// its register_fs run) before FUSE or a fork, so a missing or broken
	// library is one line and exit 1.
	zus::plugin::Plugin fs;
	if (zus::plugin::load_plugin(cl.fs.empty() ? "pmfs" : cl.fs, &fs,
				     &error))
		return fail(error);

	// Debugging aid (--help): media faults injected for tests.
	if (zufs::fault::set_rules_from_env(zufs::fault::kPmemFaultEnv, &error))
		return fail(error);

	// Everything that would stop the mount is checked before the image is
	// created, formatted or grown.
	struct stat st;
	if (stat(cl.mountpoint.c_str(), &st))
		return fail("mountpoint " + cl.mountpoint + ": " +
			    std::strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return fail("mountpoint " + cl.mountpoint + ": " +
			    std::strerror(ENOTDIR));
	std::string busy = mounted_on(cl.mountpoint);
	if (!busy.empty())
		return fail("mountpoint " + cl.mountpoint +
			    ": already mounted (" + busy +
			    "); unmount it first");
	// fusermount3 mounts for a user only on a mount point it may write.
	if (geteuid() != 0 && access(cl.mountpoint.c_str(), W_OK))
		return fail("mountpoint " + cl.mountpoint + ": " +
			    std::strerror(errno) +
			    " (a user mounts only where it may write)");
	int devfuse = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (devfuse < 0)
		return fail(std::string("/dev/fuse: ") + std::strerror(errno) +
			    (errno == ENOENT ? " (modprobe fuse)" : ""));
	close(devfuse);
	// The mount's source names the image by its absolute path: tools that
	// find the image locked look for it in /proc/self/mountinfo.
	cl.pmem = absolute(cl.pmem);

	// FUSE's own arguments: the user's -o first, then ours.
	std::vector<std::string> fargs = { argv[0] };
	for (const std::string &o : cl.fuse_opts)
		fargs.insert(fargs.end(), { "-o", o });
	fargs.insert(fargs.end(), { "-o", "default_permissions,subtype=zufuse,"
					  "fsname=" +
						  cl.pmem });
	// A mount made by root is for every user, as a native file system is
	// (tmpfs, ext4): the kernel checks each access (default_permissions).
	// -o allow_root keeps it to root.
	auto given = [&](std::string_view opt) {
		for (const std::string &o : cl.fuse_opts)
			for (size_t at = 0; at <= o.size();) {
				size_t comma =
					std::min(o.find(',', at), o.size());
				if (std::string_view(o).substr(
					    at, comma - at) == opt)
					return true;
				at = comma + 1;
			}
		return false;
	};
	if (geteuid() == 0 && !given("allow_other") && !given("allow_root"))
		fargs.insert(fargs.end(), { "-o", "allow_other" });
	// Likewise device nodes and set-id programs work as on ext4 unless
	// -o nodev / -o nosuid (libfuse's own default is both off).
	if (geteuid() == 0 && !given("nodev"))
		fargs.insert(fargs.end(), { "-o", "dev" });
	if (geteuid() == 0 && !given("nosuid"))
		fargs.insert(fargs.end(), { "-o", "suid" });
	if (cl.debug)
		fargs.push_back("-d");
	std::vector<char *> fargv;
	for (std::string &a : fargs)
		fargv.push_back(a.data());
	fuse_args args = FUSE_ARGS_INIT(int(fargv.size()), fargv.data());

	Daemon daemon;
	if (!cl.foreground && !daemon.start())
		return fail(std::string("cannot daemonize: ") +
			    std::strerror(errno));

	zuf::ZufCallsProxy calls;
	std::unique_ptr<zufs::Channel> server =
		zus::plugin::make_server(fs, &calls);
	zuf::FuseNotifier notifier;
	zuf::Vfs vfs(*server,
		     { zuf::server_options(cl), cl.sync, cl.read_only, cl.t2,
		       cl.t2_size, cl.dirsync || cl.sync },
		     &notifier);
	calls.attach(&vfs);

	int ret = 1;
	{
		zuf::FrontendOptions fopts;
		fopts.direct_io = cl.direct_io;
		fopts.strictatime = cl.strictatime;
		// FUSE over io_uring wherever the kernel has it (fuse_uring.h;
		// README, "FUSE transports"); /dev/fuse with --no-uring, and
		// with -s unless --uring says otherwise.
		fopts.uring = cl.uring || (!cl.no_uring && !cl.single_thread);
		zuf::FuseFrontend frontend(vfs, notifier, fopts);
		if (!frontend.create(&args)) { // libfuse said why
			calls.attach(nullptr);
			return 1;
		}

		std::string errmsg;
		if (vfs.mount(&errmsg)) {
			calls.attach(nullptr);
			return fail(errmsg);
		}
		if (frontend.mount(cl.mountpoint.c_str()) == 0) {
			daemon.ready();
			// > 0: the signal that ended the loop, a clean exit.
			ret = frontend.loop(cl.single_thread) < 0 ? 1 : 0;
			frontend.unmount();
		}
	}
	vfs.umount();
	calls.attach(nullptr);
	fuse_opt_free_args(&args);
	return ret;
}
