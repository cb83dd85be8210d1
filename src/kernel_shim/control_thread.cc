// SPDX-License-Identifier: BSD-3-Clause
#include "kernel_shim/control_thread.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <vector>

#include "kernel_shim/control.h"
#include "kernel_shim/stats.h"
#include "kernel_shim/vfs.h"

namespace zuf {

namespace {

uint64_t mono_ns()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return uint64_t(ts.tv_sec) * 1000000000ULL + uint64_t(ts.tv_nsec);
}

bool fill_addr(const std::string &path, sockaddr_un *a)
{
	*a = {};
	a->sun_family = AF_UNIX;
	if (path.size() >= sizeof(a->sun_path))
		return false;
	std::memcpy(a->sun_path, path.c_str(), path.size() + 1);
	return true;
}

// Bind @fd to @path, replacing a socket nobody listens on any more (left
// by a zufuse that was killed).
int bind_replacing_stale(int fd, const std::string &path, const sockaddr_un &a)
{
	if (bind(fd, reinterpret_cast<const sockaddr *>(&a), sizeof(a)) == 0)
		return 0;
	if (errno != EADDRINUSE)
		return -errno;
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe < 0)
		return -errno;
	int r = connect(probe, reinterpret_cast<const sockaddr *>(&a),
			sizeof(a));
	int e = errno;
	close(probe);
	if (r == 0 || e != ECONNREFUSED)
		return -EADDRINUSE; // somebody answers there
	unlink(path.c_str());
	if (bind(fd, reinterpret_cast<const sockaddr *>(&a), sizeof(a)) == 0)
		return 0;
	return -errno;
}

bool write_all(int fd, const void *p, size_t n)
{
	const char *c = static_cast<const char *>(p);
	while (n) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		c += w;
		n -= size_t(w);
	}
	return true;
}

// Counters only grow: what they did since the baseline.
void subtract_counters(zufs_ioc_stats *s, const zufs_ioc_stats &base)
{
	s->evictions -= base.evictions;
	s->sync_evictions -= base.sync_evictions;
	s->promotions -= base.promotions;
	s->cold_reads -= base.cold_reads;
	s->journal_commits -= base.journal_commits;
}

} // namespace

std::unique_ptr<ControlThread>
ControlThread::start(const std::string &mountpoint, Vfs &vfs, std::string *err)
{
	std::string dir = control::socket_dir();
	if (dir.empty()) {
		*err = "XDG_RUNTIME_DIR is not set";
		return nullptr;
	}
	if (mkdir(dir.c_str(), 0755) && errno != EEXIST) {
		*err = dir + ": " + std::strerror(errno);
		return nullptr;
	}
	dev_t dev = control::fuse_mount_dev(mountpoint);
	if (!dev) {
		*err = "the mount on " + mountpoint + " is not in mountinfo";
		return nullptr;
	}
	std::string path = control::socket_path(dir, dev);
	sockaddr_un a;
	if (!fill_addr(path, &a)) {
		*err = path + ": path too long for a unix socket";
		return nullptr;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err = std::string("socket: ") + std::strerror(errno);
		return nullptr;
	}
	int e = bind_replacing_stale(fd, path, a);
	if (!e && chmod(path.c_str(), 0600))
		e = -errno;
	if (!e && listen(fd, 8))
		e = -errno;
	if (e) {
		*err = path + ": " + std::strerror(-e);
		close(fd);
		return nullptr;
	}
	auto ct = std::make_unique<ControlThread>(vfs, fd, path, dev);
	ct->thread_ = std::thread([p = ct.get()] { p->run(); });
	return ct;
}

ControlThread::ControlThread(Vfs &vfs, int fd, std::string path, dev_t dev)
    : vfs_(vfs), fd_(fd), path_(std::move(path)), dev_(dev),
      mount_ns_(mono_ns()), reset_ns_(mount_ns_)
{
}

ControlThread::~ControlThread()
{
	stop_ = true;
	shutdown(fd_, SHUT_RDWR); // wakes accept() (EINVAL)
	if (thread_.joinable())
		thread_.join();
	close(fd_);
	unlink(path_.c_str());
}

void ControlThread::run()
{
	while (!stop_) {
		int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break; // shut down (or the socket is gone)
		}
		serve(c);
		close(c);
	}
}

void ControlThread::serve(int c)
{
	ucred cred = {};
	socklen_t len = sizeof(cred);
	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		const char msg[] = "error: permission denied\n";
		write_all(c, msg, sizeof(msg) - 1);
		return;
	}
	// A client that stalls does not hold the mount's control for long.
	timeval tv = { 2, 0 };
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

	std::string line;
	char buf[256];
	while (line.find('\n') == std::string::npos && line.size() < 1024) {
		ssize_t n = recv(c, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		line.append(buf, size_t(n));
	}
	line = line.substr(0, line.find('\n'));

	std::string reply;
	if (line == "stats" || line == "stats reset")
		reply = stats_reply(line == "stats reset");
	else if (line == "debug" || line.rfind("debug ", 0) == 0)
		reply = debug_reply(line.size() > 6 ? line.substr(6) : "");
	else if (line == "remount" || line.rfind("remount ", 0) == 0)
		reply = remount_reply(line.size() > 8 ? line.substr(8) : "");
	else
		reply = "error: unknown request '" + line + "'\n";
	write_all(c, reply.data(), reply.size());
}

std::string ControlThread::stats_reply(bool reset)
{
	auto snap = std::make_unique<stats::Snapshot>();
	zufs_ioc_stats server = {};
	int server_err = vfs_.server_stats(&server);
	const uint64_t now = mono_ns();
	control::StatsHeader h = {};
	h.magic = control::kMagic;
	h.version = control::kVersion;
	h.buckets = stats::kBuckets;
	h.ns_since_reset = now - reset_ns_;
	h.ns_since_mount = now - mount_ns_;
	h.server_err = server_err;

	if (reset)
		stats::snapshot_and_reset(snap.get());
	else
		stats::snapshot(snap.get());
	if (!server_err) {
		zufs_ioc_stats raw = server;
		subtract_counters(&server, server_base_);
		if (reset)
			server_base_ = raw;
	}
	if (reset)
		reset_ns_ = now;
	server.hdr = {};
	server.zus_sbi = nullptr;
	h.server = server;

	std::vector<control::OpRecord> recs;
	for (unsigned i = 0; i < stats::kOpSlots; ++i)
		if (snap->op[i].count)
			recs.push_back({ i, 0, snap->op[i] });
	h.n_ops = uint32_t(recs.size());
	std::string out(reinterpret_cast<const char *>(&h), sizeof(h));
	out.append(reinterpret_cast<const char *>(recs.data()),
		   recs.size() * sizeof(control::OpRecord));
	return out;
}

// The read-only, sync and dirsync states are the kernel's, as mountinfo
// shows them now (not the client's word); the options are the server's.
std::string ControlThread::remount_reply(const std::string &options)
{
	control::MountEntry me;
	if (!control::mount_of_dev(dev_, &me))
		return "error: the mount is not in mountinfo\n";
	std::string o = me.read_only ? "ro" : "rw";
	if (!options.empty())
		o += "," + options;
	// The shim makes writes and inode changes durable for a sync mount
	// (the kernel's FUSE tells the server nothing of it): from now on.
	vfs_.set_sync(me.sync, me.dirsync);
	std::string why;
	int err = vfs_.remount(o, me.read_only, &why);
	if (err == -EOPNOTSUPP) // a zus plugin without remount: not an error
		return "unsupported: " + why + "\n";
	if (err)
		return "error: " + why + "\n";
	return "ok\n";
}

std::string ControlThread::debug_reply(const std::string &words)
{
	uint32_t mask = stats::debug_mask();
	std::string err;
	if (!stats::parse_mask(words, &mask, &err))
		return "error: " + err + "\n";
	stats::set_debug_mask(mask);
	return "debug: " + stats::mask_text(mask) + " (lines to " +
	       stats::debug_sink() + " of zufuse pid " +
	       std::to_string(getpid()) + ")\n";
}

} // namespace zuf
