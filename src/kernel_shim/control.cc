// SPDX-License-Identifier: BSD-3-Clause
#include "kernel_shim/control.h"

#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

namespace zuf::control {

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(const std::string &s)
{
	std::string out;
	for (size_t i = 0; i < s.size(); ++i) {
		if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' &&
		    s[i + 1] <= '7') {
			out += char((s[i + 1] - '0') * 64 +
				    (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
			i += 3;
		} else {
			out += s[i];
		}
	}
	return out;
}

struct Line {
	dev_t dev = 0;
	std::string mountpoint, fstype, source, super_opts;
};

std::vector<Line> mountinfo()
{
	std::vector<Line> out;
	std::ifstream in("/proc/self/mountinfo");
	std::string text;
	while (std::getline(in, text)) {
		std::istringstream ss(text);
		std::vector<std::string> f;
		for (std::string w; ss >> w;)
			f.push_back(w);
		size_t dash = 6;
		while (dash < f.size() && f[dash] != "-")
			++dash;
		if (dash + 2 >= f.size())
			continue;
		unsigned maj, min;
		if (std::sscanf(f[2].c_str(), "%u:%u", &maj, &min) != 2)
			continue;
		Line l;
		l.dev = makedev(maj, min);
		l.mountpoint = unescape(f[4]);
		l.fstype = f[dash + 1];
		l.source = unescape(f[dash + 2]);
		if (dash + 3 < f.size())
			l.super_opts = f[dash + 3];
		out.push_back(std::move(l));
	}
	return out;
}

} // namespace

std::string socket_dir()
{
	if (geteuid() == 0)
		return "/run/zufuse";
	const char *xdg = std::getenv("XDG_RUNTIME_DIR");
	return xdg && *xdg ? std::string(xdg) + "/zufuse" : std::string();
}

std::string socket_path(const std::string &dir, dev_t dev)
{
	return dir + "/" + std::to_string(major(dev)) + ":" +
	       std::to_string(minor(dev)) + ".sock";
}

dev_t fuse_mount_dev(const std::string &mountpoint)
{
	dev_t dev = 0;
	for (const Line &l : mountinfo())
		if (l.mountpoint == mountpoint &&
		    l.fstype.compare(0, 4, "fuse") == 0)
			dev = l.dev; // later lines are mounted on top
	return dev;
}

namespace {

void fill_entry(const Line &l, MountEntry *out)
{
	out->fstype = l.fstype;
	out->mountpoint = l.mountpoint;
	out->source = l.source;
	out->user_id = -1;
	size_t at = l.super_opts.find("user_id=");
	if (at != std::string::npos)
		out->user_id = std::atol(l.super_opts.c_str() + at + 8);
	out->read_only =
		l.super_opts == "ro" || l.super_opts.compare(0, 3, "ro,") == 0;
	const std::string o = "," + l.super_opts + ",";
	out->sync = o.find(",sync,") != std::string::npos;
	out->dirsync = o.find(",dirsync,") != std::string::npos;
}

} // namespace

bool mount_of_dev(dev_t dev, MountEntry *out)
{
	bool found = false;
	for (const Line &l : mountinfo()) {
		if (l.dev != dev)
			continue;
		fill_entry(l, out);
		found = true;
	}
	return found;
}

bool mount_at(const std::string &mountpoint, MountEntry *out)
{
	bool found = false;
	for (const Line &l : mountinfo()) {
		if (l.mountpoint != mountpoint)
			continue;
		fill_entry(l, out); // later lines are mounted on top
		found = true;
	}
	return found;
}

bool request(const std::string &path, const std::string &line,
	     std::string *reply, std::string *err, int timeout_s)
{
	sockaddr_un a = {};
	a.sun_family = AF_UNIX;
	if (path.size() >= sizeof(a.sun_path)) {
		*err = path + ": path too long for a unix socket";
		return false;
	}
	std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err = std::string("socket: ") + std::strerror(errno);
		return false;
	}
	auto fail = [&] { // errno kept for the caller
		const int e = errno;
		*err = path + ": " + std::strerror(e);
		close(fd);
		errno = e;
		return false;
	};
	if (connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)))
		return fail();
	timeval tv = { timeout_s, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	const std::string out = line + "\n";
	if (send(fd, out.data(), out.size(), MSG_NOSIGNAL) !=
	    ssize_t(out.size()))
		return fail();
	reply->clear();
	char buf[4096];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail();
		if (n == 0)
			break;
		reply->append(buf, size_t(n));
	}
	close(fd);
	return true;
}

} // namespace zuf::control
