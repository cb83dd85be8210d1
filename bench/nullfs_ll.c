// SPDX-License-Identifier: BSD-3-Clause
//
// nullfs_ll - the FUSE round-trip limit, the reference of bench/compare.sh:
// a low-level libfuse file system with one regular file, /f, that answers
// every request at once and does nothing. Reads return zeros from one
// static buffer, writes are acknowledged without a copy, truncates and
// fallocates are accepted and forgotten; the file keeps its size.
//
//   nullfs_ll MOUNTPOINT [-f] [-s] [-d] [-o OPT] [--size=BYTES] [--direct-io]
//             [--uring]
//
//   -s           libfuse's single-threaded loop (default: the multi-threaded
//                loop, fuse_session_loop_mt)
//   --size=N     the size of /f (default 1 GiB; K, M, G suffixes)
//   --direct-io  every open gets FOPEN_DIRECT_IO (so buffered I/O is direct
//                too); also NULLFS_DIRECT=1 in the environment
//   --uring      serve the requests with zufuse's FUSE-over-io_uring
//                transport (nullfs_uring.cc; the loop then serves only
//                what the kernel still sends to /dev/fuse); it fails if the
//                kernel cannot
//
// Whatever it measures is libfuse and the kernel: compare a file system
// against it in the same run, with the same loop type.
#include <fuse_lowlevel.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { ROOT_INO = 1, FILE_INO = 2 };
#define FILE_NAME "f"
#define MAX_IO (1U << 20) // FUSE moves at most this per request

static uint64_t file_size = 1ULL << 30;
static int direct_io;
static int uring;

// nullfs_uring.cc: zufuse's io_uring transport for this session.
int nullfs_uring_start(struct fuse_session *se);
void nullfs_uring_stop(void);
static const char zeros[MAX_IO];

static void fill_stat(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = getuid();
	st->st_gid = getgid();
	if (ino == ROOT_INO) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0666;
		st->st_nlink = 1;
		st->st_size = (off_t)file_size;
		st->st_blocks = (blkcnt_t)(file_size / 512);
	}
	st->st_blksize = 4096;
}

static void null_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	conn->max_write = MAX_IO;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE; // every write reaches us
}

static void null_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	memset(&e, 0, sizeof(e));
	if (parent != ROOT_INO || strcmp(name, FILE_NAME) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	e.ino = FILE_INO;
	e.attr_timeout = e.entry_timeout = 86400.0;
	fill_stat(FILE_INO, &e.attr);
	fuse_reply_entry(req, &e);
}

static void null_getattr(fuse_req_t req, fuse_ino_t ino,
			 struct fuse_file_info *fi)
{
	struct stat st;
	(void)fi;
	if (ino != ROOT_INO && ino != FILE_INO) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_stat(ino, &st);
	fuse_reply_attr(req, &st, 86400.0);
}

// Truncate, chmod, utimes: accepted, nothing changes.
static void null_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			 int to_set, struct fuse_file_info *fi)
{
	(void)attr;
	(void)to_set;
	null_getattr(req, ino, fi);
}

static void null_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino != FILE_INO) {
		fuse_reply_err(req, ino == ROOT_INO ? EISDIR : ENOENT);
		return;
	}
	if (direct_io)
		fi->direct_io = 1;
	else
		fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void null_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	if ((uint64_t)off >= file_size)
		size = 0;
	else if (size > file_size - (uint64_t)off)
		size = file_size - (uint64_t)off;
	if (size > MAX_IO)
		size = MAX_IO;
	fuse_reply_buf(req, zeros, size);
}

// write_buf: the data is not even looked at (write would copy it first).
static void null_write_buf(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_bufvec *bufv, off_t off,
			   struct fuse_file_info *fi)
{
	(void)ino;
	(void)off;
	(void)fi;
	fuse_reply_write(req, fuse_buf_size(bufv));
}

static void null_ok(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void null_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		       struct fuse_file_info *fi)
{
	(void)datasync;
	null_ok(req, ino, fi);
}

static void null_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			   off_t offset, off_t length,
			   struct fuse_file_info *fi)
{
	(void)mode;
	(void)offset;
	(void)length;
	null_ok(req, ino, fi);
}

static void null_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			 struct fuse_file_info *fi)
{
	static const struct {
		const char *name;
		fuse_ino_t ino;
	} ents[] = { { ".", ROOT_INO },
		     { "..", ROOT_INO },
		     { FILE_NAME, FILE_INO } };
	char buf[512];
	size_t used = 0;
	(void)fi;
	if (ino != ROOT_INO) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	if (size > sizeof(buf))
		size = sizeof(buf);
	for (size_t i = (size_t)off; i < sizeof(ents) / sizeof(ents[0]); ++i) {
		struct stat st;
		fill_stat(ents[i].ino, &st);
		size_t need =
			fuse_add_direntry(req, buf + used, size - used,
					  ents[i].name, &st, (off_t)i + 1);
		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
}

static const struct fuse_lowlevel_ops null_ops = {
	.init = null_init,
	.lookup = null_lookup,
	.getattr = null_getattr,
	.setattr = null_setattr,
	.open = null_open,
	.read = null_read,
	.write_buf = null_write_buf,
	.flush = null_ok,
	.release = null_ok,
	.fsync = null_fsync,
	.readdir = null_readdir,
	.fallocate = null_fallocate,
};

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10;
		++end;
		break;
	case 'm':
	case 'M':
		v <<= 20;
		++end;
		break;
	case 'g':
	case 'G':
		v <<= 30;
		++end;
		break;
	default:
		break;
	}
	if (end == s || *end || !v)
		return -1;
	*out = v;
	return 0;
}

static void usage(const char *prog)
{
	printf("usage: %s MOUNTPOINT [-f] [-s] [-d] [-o OPT] [--size=BYTES] "
	       "[--direct-io] [--uring]\n"
	       "A FUSE file system that does nothing: one file /f of BYTES "
	       "(default 1G)\nof zeros; writes are acknowledged and "
	       "dropped. -s: single-threaded loop.\n",
	       prog);
}

int main(int argc, char *argv[])
{
	// Our own options first; the rest is libfuse's.
	int n = 1;
	for (int i = 1; i < argc; ++i) {
		if (!strncmp(argv[i], "--size=", 7)) {
			if (parse_size(argv[i] + 7, &file_size)) {
				fprintf(stderr, "nullfs_ll: bad --size '%s'\n",
					argv[i] + 7);
				return 2;
			}
		} else if (!strcmp(argv[i], "--direct-io")) {
			direct_io = 1;
		} else if (!strcmp(argv[i], "--uring")) {
			uring = 1;
		} else {
			argv[n++] = argv[i];
		}
	}
	argc = n;
	const char *env = getenv("NULLFS_DIRECT");
	if (env && *env && strcmp(env, "0") != 0)
		direct_io = 1;

	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts;
	int ret = 1;
	if (fuse_parse_cmdline(&args, &opts) != 0)
		return 2;
	if (opts.show_help || !opts.mountpoint) {
		usage(argv[0]);
		if (!opts.show_help)
			fprintf(stderr, "nullfs_ll: no mount point\n");
		ret = opts.show_help ? 0 : 2;
		goto out_args;
	}
	if (opts.show_version) {
		printf("nullfs_ll (libfuse %s)\n", fuse_pkgversion());
		ret = 0;
		goto out_args;
	}

	struct fuse_session *se =
		fuse_session_new(&args, &null_ops, sizeof(null_ops), NULL);
	if (!se)
		goto out_args;
	if (fuse_set_signal_handlers(se))
		goto out_session;
	if (fuse_session_mount(se, opts.mountpoint))
		goto out_signals;
	fuse_daemonize(opts.foreground);
	if (uring && nullfs_uring_start(se)) { // its threads: after the fork
		fuse_session_unmount(se);
		goto out_signals;
	}
	if (opts.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(cfg, opts.clone_fd);
		fuse_loop_cfg_set_max_threads(cfg, opts.max_threads);
		ret = fuse_session_loop_mt(se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	fuse_session_unmount(se);
	if (uring)
		nullfs_uring_stop();
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_args:
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	return ret ? 1 : 0;
}
