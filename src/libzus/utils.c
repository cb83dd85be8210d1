/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * utils.c - libzus: warnings, the debug mask, threads and CPUs, the
 * file-backed allocator (fba) and O_TMPFILE helpers.
 */
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <libpmem.h>

#include "zus.h"

unsigned long g_DBGMASK;

/* libpmem's flush (clwb, clflushopt or clflush: what the CPU has), then
 * the fence. */
static void flush_pmem(void *buf, uint32_t len)
{
	pmem_flush(buf, len);
	pmem_drain();
}
void (*cl_flush_opt)(void *buf, uint32_t len) = flush_pmem;

/* movnt.h's pmem_memmove_persist (memcpy_to_pmem): libpmem's, whose name
 * movnt.h maps to this one. */
#undef pmem_memmove_persist
void *zus_pmem_memmove_persist(void *pmemdest, const void *src, size_t len)
{
	return pmem_memmove_persist(pmemdest, src, len);
}

__attribute__((constructor)) static void zus_lib_init(void)
{
	const char *mask = getenv("ZUS_DBGMASK");

	if (mask)
		g_DBGMASK = strtoul(mask, NULL, 0);
}

void zus_dump_stack(FILE *fp, bool warn, const char *fmt, ...)
{
	void *frames[32];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vfprintf(fp, fmt, ap);
	va_end(ap);
	n = backtrace(frames, 32);
	backtrace_symbols_fd(frames, n, fileno(fp));
	(void)warn;
}

void zus_warn(const char *cond, const char *file, int line)
{
	fprintf(stderr, "<4>zus: WARNING: (%s) at %s:%d\n", cond, file, line);
}

void zus_bug(const char *cond, const char *file, int line)
{
	fprintf(stderr, "<2>zus: BUG: (%s) at %s:%d\n", cond, file, line);
	abort();
}

int zus_increase_max_files(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -errno;
	rl.rlim_cur = rl.rlim_max;
	return setrlimit(RLIMIT_NOFILE, &rl) ? -errno : 0;
}

int zus_current_cpu(void) { return sched_getcpu(); }

int zus_current_onecpu(void) { return sched_getcpu(); }

int zus_cpu_to_node(int cpu)
{
	(void)cpu;
	return 0;
}

int zus_current_nid(void) { return 0; }

static __thread void *t_private;

void *zus_private_get(void) { return t_private; }

void zus_private_set(void *p) { t_private = p; }

int zus_get_cpu(void) { return sched_getcpu(); }

void zus_put_cpu(int cpu) { (void)cpu; }

int zus_thread_create(pthread_t *new_thread, struct zus_thread_params *params,
		      __start_routine fn, void *user_arg)
{
	pthread_attr_t attr;
	int err;

	err = pthread_attr_init(&attr);
	if (err)
		return -err;
	if (params && params->one_cpu != ZUS_CPU_ALL &&
	    params->one_cpu < CPU_SETSIZE) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(params->one_cpu, &set);
		pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	}
	err = pthread_create(new_thread, &attr, fn, user_arg);
	pthread_attr_destroy(&attr);
	if (!err && params && params->name)
		pthread_setname_np(*new_thread, params->name);
	return -err;
}

int zuf_root_open_tmp(int *fd)
{
	*fd = open("/tmp", O_RDWR | O_TMPFILE | O_EXCL | O_CLOEXEC, 0600);
	return *fd < 0 ? -errno : 0;
}

void zuf_root_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int fba_alloc_align(struct fba *fba, size_t size, bool huge)
{
	int err;

	(void)huge;
	size = (size + PAGE_SIZE - 1) & ~((size_t)PAGE_SIZE - 1);
	err = zuf_root_open_tmp(&fba->fd);
	if (err)
		return err;
	if (ftruncate(fba->fd, (off_t)size)) {
		err = -errno;
		zuf_root_close(&fba->fd);
		return err;
	}
	fba->ptr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fba->fd,
			0);
	if (fba->ptr == MAP_FAILED) {
		err = -errno;
		fba->ptr = NULL;
		zuf_root_close(&fba->fd);
		return err;
	}
	fba->size = size;
	return 0;
}

int fba_alloc(struct fba *fba, size_t size)
{
	return fba_alloc_align(fba, size, false);
}

void fba_free(struct fba *fba)
{
	if (fba->ptr)
		munmap(fba->ptr, fba->size);
	fba->ptr = NULL;
	fba->size = 0;
	if (fba->fd > 0)
		zuf_root_close(&fba->fd);
}

int fba_punch_hole(struct fba *fba, unsigned long index, unsigned nump)
{
	if (fallocate(fba->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)md_p2o(index), (off_t)md_p2o(nump)))
		return -errno;
	return 0;
}
