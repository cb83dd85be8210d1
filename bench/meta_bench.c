// SPDX-License-Identifier: BSD-3-Clause
//
// meta_bench - metadata operations per second from one process, the
// metadata job of bench/compare.sh:
//
//   meta_bench DIR [FILES] [DIRS]      (defaults: 10000 files, 1000 dirs)
//
// In a fresh subdirectory of DIR, one phase after another: create FILES
// empty files (open O_CREAT|O_EXCL, close), stat each, rename each to a new
// name in the same directory, unlink each; then mkdir DIRS directories and
// rmdir each. Prints one CSV line per phase: "phase,ops,seconds,ops_per_s".
// Exits 1 with a line on stderr if any call fails.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *path)
{
	fprintf(stderr, "meta_bench: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

static void report(const char *phase, long n, double t0)
{
	double s = now() - t0;
	printf("%s,%ld,%.6f,%.0f\n", phase, n, s, s > 0 ? (double)n / s : 0.0);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: meta_bench DIR [FILES] [DIRS]\n");
		return 2;
	}
	long files = argc > 2 ? atol(argv[2]) : 10000;
	long dirs = argc > 3 ? atol(argv[3]) : 1000;
	if (files <= 0 || dirs <= 0) {
		fprintf(stderr, "meta_bench: FILES and DIRS must be > 0\n");
		return 2;
	}
	char top[4096], path[4200], path2[4200];
	snprintf(top, sizeof(top), "%s/meta.%ld", argv[1], (long)getpid());
	if (mkdir(top, 0755))
		die("mkdir", top);

	double t0 = now();
	for (long i = 0; i < files; ++i) {
		snprintf(path, sizeof(path), "%s/f%ld", top, i);
		int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd < 0)
			die("create", path);
		close(fd);
	}
	report("create", files, t0);

	t0 = now();
	for (long i = 0; i < files; ++i) {
		struct stat st;
		snprintf(path, sizeof(path), "%s/f%ld", top, i);
		if (stat(path, &st))
			die("stat", path);
	}
	report("stat", files, t0);

	t0 = now();
	for (long i = 0; i < files; ++i) {
		snprintf(path, sizeof(path), "%s/f%ld", top, i);
		snprintf(path2, sizeof(path2), "%s/g%ld", top, i);
		if (rename(path, path2))
			die("rename", path);
	}
	report("rename", files, t0);

	t0 = now();
	for (long i = 0; i < files; ++i) {
		snprintf(path, sizeof(path), "%s/g%ld", top, i);
		if (unlink(path))
			die("unlink", path);
	}
	report("unlink", files, t0);

	t0 = now();
	for (long i = 0; i < dirs; ++i) {
		snprintf(path, sizeof(path), "%s/d%ld", top, i);
		if (mkdir(path, 0755))
			die("mkdir", path);
	}
	report("mkdir", dirs, t0);

	t0 = now();
	for (long i = 0; i < dirs; ++i) {
		snprintf(path, sizeof(path), "%s/d%ld", top, i);
		if (rmdir(path))
			die("rmdir", path);
	}
	report("rmdir", dirs, t0);

	if (rmdir(top))
		die("rmdir", top);
	return 0;
}
