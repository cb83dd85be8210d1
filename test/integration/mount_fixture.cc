// SPDX-License-Identifier: BSD-3-Clause
//
// mount_fixture.cc - start, watch and stop a real zufuse for the
// integration tests (see mount_fixture.h).
#include "mount_fixture.h"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;

namespace zit {

namespace {

using clock = std::chrono::steady_clock;

void sleep_ms(int ms)
{
	std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

int status_of(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return -1;
}

// fork + exec with stdout/stderr redirected to files; stdin from /dev/null.
pid_t spawn(const std::vector<std::string> &argv, const std::string &out,
	    const std::string &err)
{
	std::vector<char *> cargv;
	for (const auto &a : argv)
		cargv.push_back(const_cast<char *>(a.c_str()));
	cargv.push_back(nullptr);

	pid_t pid = fork();
	if (pid != 0)
		return pid; // parent (or -1)

	int in = open("/dev/null", O_RDONLY);
	int o = open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
	int e = open(err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (in < 0 || o < 0 || e < 0)
		_exit(126);
	dup2(in, 0);
	dup2(o, 1);
	dup2(e, 2);
	execvp(cargv[0], cargv.data());
	dprintf(2, "exec %s: %s\n", cargv[0], strerror(errno));
	_exit(127);
}

// Wait for @pid up to @timeout_ms; returns the exit status or -1 on timeout.
int wait_for(pid_t pid, int timeout_ms)
{
	auto end = clock::now() + std::chrono::milliseconds(timeout_ms);
	for (;;) {
		int ws = 0;
		pid_t r = waitpid(pid, &ws, WNOHANG);
		if (r == pid)
			return status_of(ws);
		if (r < 0 && errno != EINTR)
			return -1;
		if (clock::now() > end)
			return -1;
		sleep_ms(5);
	}
}

// zufuse processes started by Mount, so that a test killed by meson's
// timeout (SIGTERM) or by Ctrl-C does not leave mounts behind: the handler
// forwards the signal, on which zufuse unmounts itself.
constexpr int k_max_live = 64;
volatile sig_atomic_t g_live[k_max_live];

void forward_and_die(int sig)
{
	for (int i = 0; i < k_max_live; i++)
		if (g_live[i] > 0)
			kill(pid_t(g_live[i]), SIGTERM);
	signal(sig, SIG_DFL);
	raise(sig);
}

void track(pid_t pid, bool live)
{
	for (int i = 0; i < k_max_live; i++) {
		if (live && g_live[i] == 0) {
			g_live[i] = pid;
			return;
		}
		if (!live && g_live[i] == pid) {
			g_live[i] = 0;
			return;
		}
	}
}

// Installed before Catch2's own handlers, which report the signal, restore
// the previous handler (this one) and raise again.
struct InstallHandlers {
	InstallHandlers()
	{
		signal(SIGTERM, forward_and_die);
		signal(SIGINT, forward_and_die);
	}
} g_install_handlers;

// Who keeps mnt busy (umount: EBUSY): every process whose cwd, root or an
// open descriptor or mapping is inside it, and mounts on top of it. One
// line each, for the log: a busy unmount then names its cause.
std::string holders_of(const std::string &mnt)
{
	std::string out;
	auto inside = [&](const std::string &p) {
		return p == mnt || p.rfind(mnt + "/", 0) == 0;
	};
	std::error_code ec;
	for (const auto &proc : fs::directory_iterator("/proc", ec)) {
		const std::string pid = proc.path().filename().string();
		if (pid.find_first_not_of("0123456789") != std::string::npos)
			continue;
		std::string comm = read_file(proc.path() / "comm");
		if (!comm.empty() && comm.back() == '\n')
			comm.pop_back();
		auto note = [&](const std::string &what,
				const std::string &target) {
			out += "--- busy: pid " + pid + " (" + comm + ") " +
			       what + " -> " + target + "\n";
		};
		for (const char *link : { "cwd", "root" }) {
			std::string t = fs::read_symlink(proc.path() / link, ec)
						.string();
			if (!ec && inside(t))
				note(link, t);
		}
		std::error_code fec;
		for (const auto &fd :
		     fs::directory_iterator(proc.path() / "fd", fec)) {
			std::string t =
				fs::read_symlink(fd.path(), ec).string();
			if (!ec && inside(t))
				note("fd " + fd.path().filename().string(), t);
		}
		std::istringstream maps(read_file(proc.path() / "maps"));
		std::string line;
		while (std::getline(maps, line)) {
			size_t at = line.find(mnt);
			if (at != std::string::npos &&
			    inside(line.substr(at))) {
				note("mapping", line.substr(at));
				break;
			}
		}
	}
	std::ifstream mi("/proc/self/mountinfo");
	std::string line;
	while (std::getline(mi, line)) {
		std::istringstream ls(line);
		std::string id, parent, dev, root, mp;
		ls >> id >> parent >> dev >> root >> mp;
		if (mp != mnt && inside(mp))
			out += "--- busy: a mount on " + mp + "\n";
	}
	return out;
}

} // namespace

std::string zufuse_path()
{
	const char *p = getenv("ZUFUSE");
	return p ? p : "";
}

std::string fsck_path()
{
	const char *p = getenv("FSCK_ZUFS");
	return p ? p : "";
}

std::string read_file(const std::string &path, bool *ok)
{
	std::ifstream f(path, std::ios::binary);
	if (ok)
		*ok = bool(f);
	if (!f)
		return {};
	std::ostringstream ss;
	ss << f.rdbuf();
	return ss.str();
}

bool write_file(const std::string &path, const std::string &data)
{
	std::ofstream f(path, std::ios::binary | std::ios::trunc);
	f.write(data.data(), std::streamsize(data.size()));
	return bool(f);
}

std::string pattern(uint64_t seed, size_t n)
{
	std::string s(n, '\0');
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		s[i] = char(x);
	}
	return s;
}

RunResult run_cmd(const std::vector<std::string> &argv,
		  const std::string &scratch, int timeout_s)
{
	static int seq;
	RunResult rr;
	std::string base = scratch + "/run." + std::to_string(++seq);
	std::string out = base + ".out", err = base + ".err";
	pid_t pid = spawn(argv, out, err);
	if (pid < 0)
		return rr;
	rr.status = wait_for(pid, timeout_s * 1000);
	if (rr.status < 0) {
		kill(pid, SIGKILL);
		wait_for(pid, 5000);
		rr.err = "(timed out after " + std::to_string(timeout_s) +
			 " s)\n";
	}
	rr.out = read_file(out);
	rr.err = read_file(err) + rr.err;
	unlink(out.c_str());
	unlink(err.c_str());
	return rr;
}

bool is_mounted(const std::string &path)
{
	std::ifstream f("/proc/self/mountinfo");
	std::string line;
	while (std::getline(f, line)) {
		// id parent major:minor root MOUNTPOINT ...
		std::istringstream ls(line);
		std::string id, parent, dev, root, mp;
		ls >> id >> parent >> dev >> root >> mp;
		if (mp == path)
			return true;
	}
	return false;
}

bool clear_dead_mount(const std::string &mnt)
{
	const std::string scratch = "/tmp";
	for (int i = 0; i < 50 && is_mounted(mnt); i++) {
		run_cmd({ "fusermount3", "-u", "-q", mnt }, scratch, 10);
		if (!is_mounted(mnt))
			break;
		sleep_ms(20);
	}
	if (is_mounted(mnt))
		run_cmd({ "umount", "-l", mnt }, scratch, 10);
	return !is_mounted(mnt);
}

Scratch::Scratch()
{
	char tmpl[] = "/dev/shm/zufuse-it.XXXXXX";
	if (mkdtemp(tmpl))
		dir_ = tmpl;
}

Scratch::~Scratch()
{
	if (dir_.empty())
		return;
	std::error_code ec;
	// Never descend into a mount that is still up.
	for (const auto &e : fs::directory_iterator(dir_, ec))
		if (is_mounted(e.path().string()))
			clear_dead_mount(e.path().string());
	fs::remove_all(dir_, ec);
}

Mount::Mount(std::string size) : size_(std::move(size))
{
	image_ = scratch_.path("img.pmem");
	mnt_ = scratch_.path("mnt");
	log_ = scratch_.path("zufuse.log");
	mkdir(mnt_.c_str(), 0755);
}

Mount::Mount(std::string size, const std::string &image_dir)
    : Mount(std::move(size))
{
	std::string tmpl = image_dir + "/zufuse-it.XXXXXX";
	if (mkdtemp(tmpl.data())) {
		image_dir_ = tmpl;
		image_ = image_dir_ + "/img.pmem";
	}
}

Mount::~Mount()
{
	if (pid_ > 0)
		unmount();
	if (is_mounted(mnt_))
		clear_dead_mount(mnt_);
	if (image_dir_.empty())
		return;
	struct stat st;
	if (stat(image_.c_str(), &st) == 0) { // a working copy left by a kill
		char shadow[96];
		snprintf(shadow, sizeof(shadow),
			 "/dev/shm/zufuse-shadow.%llx.%llx",
			 static_cast<unsigned long long>(st.st_dev),
			 static_cast<unsigned long long>(st.st_ino));
		unlink(shadow);
	}
	std::error_code ec;
	fs::remove_all(image_dir_, ec);
}

std::vector<std::string> Mount::args(const std::vector<std::string> &extra,
				     bool foreground) const
{
	std::vector<std::string> a = { zufuse_path(), mnt_,
				       "--pmem=" + image_ };
	bool has_size = false;
	for (const auto &e : extra)
		has_size |= e.rfind("--size", 0) == 0;
	if (!has_size && !size_.empty() && access(image_.c_str(), F_OK) != 0)
		a.push_back("--size=" + size_);
	if (foreground)
		a.push_back("-f");
	a.insert(a.end(), extra.begin(), extra.end());
	return a;
}

std::string Mount::log() const { return read_file(log_); }

bool Mount::mount(const std::vector<std::string> &extra)
{
	if (pid_ > 0 || zufuse_path().empty())
		return false;
	{
		std::ofstream f(log_, std::ios::app);
		f << "--- mount " << clock::now().time_since_epoch().count()
		  << "\n";
	}
	pid_ = spawn(args(extra, true), log_, log_);
	if (pid_ < 0)
		return false;
	track(pid_, true);
	auto end = clock::now() + std::chrono::seconds(20);
	while (clock::now() < end) {
		if (is_mounted(mnt_))
			return true;
		int ws = 0;
		if (waitpid(pid_, &ws, WNOHANG) == pid_) {
			std::ofstream f(log_, std::ios::app);
			f << "--- zufuse exited with status " << status_of(ws)
			  << " before the mount was up\n";
			track(pid_, false);
			pid_ = -1;
			return false;
		}
		sleep_ms(5);
	}
	std::ofstream(log_, std::ios::app) << "--- mount timed out\n";
	kill(pid_, SIGKILL);
	wait_for(pid_, 5000);
	track(pid_, false);
	pid_ = -1;
	clear_dead_mount(mnt_);
	return false;
}

RunResult Mount::fsck() const
{
	if (fsck_path().empty()) {
		RunResult r;
		r.status = -2;
		return r;
	}
	return run_cmd({ fsck_path(), image_, "-n" }, scratch_.dir(), 300);
}

int Mount::reap(int timeout_ms)
{
	int st = wait_for(pid_, timeout_ms);
	if (st < 0) {
		std::ofstream(log_, std::ios::app)
			<< "--- zufuse did not exit in time; killing it\n";
		kill(pid_, SIGKILL);
		wait_for(pid_, 5000);
	}
	track(pid_, false);
	pid_ = -1;
	if (is_mounted(mnt_))
		clear_dead_mount(mnt_);
	return st;
}

std::string Mount::holders() const { return holders_of(mnt_); }

int Mount::unmount()
{
	if (pid_ <= 0)
		return -1;
	// A just-closed file can keep the mount busy for a moment.
	for (int i = 0; i < 100 && is_mounted(mnt_); i++) {
		RunResult r = run_cmd({ "fusermount3", "-u", mnt_ },
				      scratch_.dir(), 30);
		if (r.status == 0 || !is_mounted(mnt_))
			break;
		std::ofstream(log_, std::ios::app)
			<< "--- fusermount3 -u: " << r.err
			<< (i == 0 || i == 99 ? holders_of(mnt_) : "");
		if (i == 0 && holders_of(mnt_).empty())
			std::ofstream(log_, std::ios::app)
				<< "--- busy: no process or mount found holding it\n";
		sleep_ms(50);
	}
	return reap(30000);
}

bool Mount::kill9()
{
	if (pid_ <= 0)
		return false;
	kill(pid_, SIGKILL);
	wait_for(pid_, 10000);
	track(pid_, false);
	pid_ = -1;
	return clear_dead_mount(mnt_);
}

int Mount::signal_and_wait(int sig)
{
	if (pid_ <= 0)
		return -1;
	kill(pid_, sig);
	return reap(30000);
}

} // namespace zit
