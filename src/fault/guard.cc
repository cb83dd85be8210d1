// SPDX-License-Identifier: BSD-3-Clause
#include "fault/guard.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "fault/inject.h"

namespace zufs::fault {

namespace detail {
thread_local Frame *t_frame = nullptr;
thread_local Caught t_caught = {};
} // namespace detail

namespace {

thread_local bool t_injecting = false;
thread_local bool t_unguarded = false;
std::atomic<int> g_failed_slots{
	0
}; // registered mappings with a replaced page
std::atomic<uint64_t> g_replaced{ 0 };

// Registered mappings. The handler reads them, so a slot is published by
// its base (release) after the other fields are written.
struct Slot {
	std::atomic<uintptr_t> base{ 0 };
	size_t len = 0;
	int fd = -1;
	uint64_t data_off = 0;
	char name[240] = {};
	std::atomic<bool> failed{ false };
};
constexpr int kSlots = 8;
Slot g_slots[kSlots];
std::mutex g_slots_mu;

std::atomic<uint64_t> g_caught{ 0 };
std::atomic<uint64_t> g_logged{ 0 };
struct sigaction g_prev;
std::once_flag g_installed;

Slot *slot_of(const void *addr)
{
	const uintptr_t a = reinterpret_cast<uintptr_t>(addr);
	for (Slot &s : g_slots) {
		uintptr_t b = s.base.load(std::memory_order_acquire);
		if (b && a >= b && a - b < s.len)
			return &s;
	}
	return nullptr;
}

// Async-signal-safe formatting for the handler's one line.
struct Line {
	char buf[512];
	size_t n = 0;
	void str(const char *s)
	{
		while (*s && n < sizeof(buf) - 1)
			buf[n++] = *s++;
	}
	void hex(uint64_t v)
	{
		char t[19] = "0x";
		int i = 18;
		do {
			t[--i] = "0123456789abcdef"[v & 15];
			v >>= 4;
		} while (v && i > 2);
		str("0x");
		str(t + i);
	}
};

void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	if (detail::Frame *f = detail::t_frame) {
		detail::t_caught = { si->si_addr, si->si_code, t_injecting };
		t_injecting = false;
		g_caught.fetch_add(1, std::memory_order_relaxed);
		siglongjmp(f->env, 1);
	}
	// Not inside a guarded copy: a metadata access in the middle of a
	// transaction cannot be abandoned. Replace the page with zeros so it
	// can finish, and stop the file system (guard.h); else die as before.
	const int saved = errno;
	Line l;
	if (Slot *s = slot_of(si->si_addr)) {
		uint64_t off = uintptr_t(si->si_addr) -
			       s->base.load(std::memory_order_relaxed);
		const uintptr_t page =
			uintptr_t(si->si_addr) & ~uintptr_t(4095);
		long p =
			si->si_code > 0 ?
				syscall(SYS_mmap, page, 4096,
					PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
					-1, 0) :
				-1;
		const bool replaced = uintptr_t(p) == page;
		l.str("zufuse: image ");
		l.str(s->name);
		l.str(": media fault (SIGBUS) at offset ");
		l.hex(off);
		l.str(off < s->data_off ? " (metadata area)" : " (data area)");
		if (replaced) {
			t_unguarded = true;
			if (!s->failed.exchange(true))
				g_failed_slots.fetch_add(
					1, std::memory_order_release);
			l.str(" outside a guarded copy: the page reads as zeros now; the request "
			      "fails with EIO and the file system stops\n");
			if (g_replaced.fetch_add(1, std::memory_order_relaxed) <
			    100) {
				ssize_t w = write(2, l.buf, l.n);
				(void)w;
			}
			errno = saved;
			return; // the access restarts on the zero page
		}
		l.str(" outside a guarded copy: stopping; the journal recovers at the next mount\n");
	} else {
		l.str("zufuse: SIGBUS at address ");
		l.hex(uintptr_t(si->si_addr));
		l.str(" (not in the image)\n");
	}
	ssize_t w = write(2, l.buf, l.n);
	(void)w;
	errno = saved;
	if ((g_prev.sa_flags & SA_SIGINFO) && g_prev.sa_sigaction) {
		g_prev.sa_sigaction(sig, si, uc);
		return;
	}
	if (!(g_prev.sa_flags & SA_SIGINFO) && g_prev.sa_handler != SIG_DFL &&
	    g_prev.sa_handler != SIG_IGN) {
		g_prev.sa_handler(sig);
		return;
	}
	signal(SIGBUS, SIG_DFL);
	if (si->si_code <= 0) // sent, not raised by the access: send it again
		raise(SIGBUS);
	// A hardware fault repeats when the instruction restarts: now fatal.
}

const char *access_name(Access a)
{
	return a == Access::kRead ? "load" : "store";
}

} // namespace

void install_handler()
{
	std::call_once(g_installed, [] {
		struct sigaction sa = {};
		sa.sa_sigaction = on_sigbus;
		// NODEFER: siglongjmp out of the handler leaves SIGBUS unblocked
		// without the cost of saving the signal mask at every guard.
		sa.sa_flags = SA_SIGINFO | SA_NODEFER;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGBUS, &sa, &g_prev);
	});
}

void register_mapping(const void *base, size_t len, int fd, uint64_t data_off,
		      const char *name)
{
	install_handler();
	std::lock_guard lk(g_slots_mu);
	for (Slot &s : g_slots) {
		if (s.base.load(std::memory_order_relaxed))
			continue;
		s.len = len;
		s.fd = fd;
		s.data_off = data_off;
		snprintf(s.name, sizeof(s.name), "%s", name ? name : "");
		s.base.store(reinterpret_cast<uintptr_t>(base),
			     std::memory_order_release);
		return;
	}
}

void unregister_mapping(const void *base)
{
	std::lock_guard lk(g_slots_mu);
	for (Slot &s : g_slots)
		if (s.base.load(std::memory_order_relaxed) ==
		    reinterpret_cast<uintptr_t>(base)) {
			s.base.store(0, std::memory_order_release);
			if (s.failed.exchange(false))
				g_failed_slots.fetch_sub(
					1, std::memory_order_relaxed);
		}
}

uint64_t image_offset(const void *addr)
{
	const Slot *s = slot_of(addr);
	return s ? uintptr_t(addr) - s->base.load(std::memory_order_relaxed) :
		   UINT64_MAX;
}

uint64_t caught_count() { return g_caught.load(std::memory_order_relaxed); }

bool take_thread_fault()
{
	if (!t_unguarded) [[likely]]
		return false;
	t_unguarded = false;
	return true;
}

bool media_failed()
{
	return g_failed_slots.load(std::memory_order_relaxed) > 0;
}

namespace detail {

void inject_point(Access a, const void *at, size_t len)
{
	if (!rules_active()) [[likely]]
		return;
	const uint64_t off = image_offset(at);
	if (off == UINT64_MAX || !should_fail(a, off, len))
		return;
	// A real SIGBUS, raised on this thread with the address of the
	// access, so the handler and the guard do exactly what a media
	// error makes them do.
	siginfo_t si = {};
	si.si_signo = SIGBUS;
	si.si_code = BUS_MCEERR_AR;
	si.si_addr = const_cast<void *>(at);
	t_injecting = true;
	if (syscall(SYS_rt_tgsigqueueinfo, getpid(), gettid(), SIGBUS, &si) !=
	    0)
		raise(SIGBUS);
}

int fault_errno(Access a, const char *what)
{
	const Caught c = t_caught;
	int err = -EIO;
	char why[160];
	const Slot *s = slot_of(c.addr);
	uint64_t off = s ? uintptr_t(c.addr) -
				       s->base.load(std::memory_order_relaxed) :
			   0;
	struct stat st;
	struct statvfs vfs;
	if (c.injected) {
		snprintf(why, sizeof(why), "injected media error");
	} else if (!s) {
		snprintf(why, sizeof(why),
			 "not in a registered image (address %p)", c.addr);
	} else if (s->fd >= 0 && fstat(s->fd, &st) == 0 &&
		   S_ISREG(st.st_mode) && off >= uint64_t(st.st_size)) {
		snprintf(
			why, sizeof(why),
			"past the end of the image file (%lld bytes: shrunk under the mount?)",
			(long long)st.st_size);
	} else if (s->fd >= 0 && fstatvfs(s->fd, &vfs) == 0 &&
		   vfs.f_bavail == 0 && c.code != BUS_MCEERR_AR &&
		   c.code != BUS_MCEERR_AO) {
		snprintf(why, sizeof(why),
			 "the file system under the image is full");
		err = -ENOSPC;
	} else if (c.code == BUS_MCEERR_AR || c.code == BUS_MCEERR_AO) {
		snprintf(why, sizeof(why), "media error (poisoned memory)");
	} else {
		snprintf(why, sizeof(why),
			 "the page cannot be read or written (si_code %d)",
			 c.code);
	}
	// Every fault fails its request; the log says so for the first ones,
	// then for one in a thousand (a broken range can be hit in a loop).
	uint64_t n = g_logged.fetch_add(1, std::memory_order_relaxed);
	if (n < 100 || n % 1000 == 0)
		fprintf(stderr,
			"zufuse: image %s: media fault (%s) at offset 0x%llx in a %s: %s; "
			"the request fails with %s%s\n",
			s ? s->name : "?", access_name(a),
			(unsigned long long)off, what, why,
			err == -ENOSPC ? "ENOSPC" : "EIO",
			n < 100 ? "" : " (further faults logged 1 in 1000)");
	return err;
}

} // namespace detail

} // namespace zufs::fault
