// SPDX-License-Identifier: BSD-3-Clause
//
// loader.cc - find and load a zus file system library as zus's
// fs-loader.c did: ZUS_LIBFS_DIR/libNAME.so, then libNAME.so on the
// library path (dlopen's search), then NAME itself as a path. pmfs is
// built in: registered with libzus as any zus file system is, with its
// door (runtime.h) as its zufuse extension.
#include <dirent.h>
#include <dlfcn.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "server/plugin/host.h"
#include "server/runtime.h"
#include "zufs/zus_api.h"
#define ZUS_SEED_TAG(name) zus_seed_##name
#include "zus/zus.h"
#include "libzus/zus_host.h"

namespace zus::plugin {

namespace {

bool is_file(const std::string &p)
{
	struct stat st;
	return !stat(p.c_str(), &st) && S_ISREG(st.st_mode);
}

// pmfs: its zus_fs_info (a name, no seed vectors) and its extension.
zus_fs_info *builtin_pmfs()
{
	static const zus_zfi_operations no_zfi_op = {};
	static const zus_sbi_operations no_sbi_op = {};
	static zus_fs_info zfi = [] {
		zus_fs_info z = {};
		std::strcpy(z.rfi.fsname, "pmfs");
		z.rfi.FS_magic =
			0x55465a5aU; // its superblock magic's low half (no md table)
		z.rfi.FS_ver_major = 1;
		z.op = &no_zfi_op;
		z.sbi_op = &no_sbi_op;
		return z;
	}();
	static std::once_flag once;
	std::call_once(once, [] {
		if (!zus_register_one(-1, &zfi))
			zus_host_set_ext(&zfi, &pmfs_door());
	});
	return zus_host_ext(&zfi) ? &zfi : nullptr;
}

// What each library registered: a second load gives the same file system
// (its register_fs() would answer -EEXIST).
std::mutex g_loaded_mu;
std::map<void *, zus_fs_info *> g_loaded;

// dlopen + register_fs; the file system registered by this library.
int open_lib(const std::string &path, Plugin *out, std::string *err)
{
	dlerror();
	void *h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *e = dlerror();
		*err = std::string("cannot load ") + path + ": " +
		       (e ? e : "unknown error");
		return -ENOENT;
	}
	std::lock_guard lk(g_loaded_mu);
	if (auto it = g_loaded.find(h); it != g_loaded.end()) {
		dlclose(h); // the first load's reference stays
		*out = { h, it->second, path };
		return 0;
	}
	auto reg = reinterpret_cast<int (*)(int)>(dlsym(h, REGISTER_FS_NAME));
	if (!reg) {
		*err = path + ": no " REGISTER_FS_NAME
			      "() (not a zus file system library)";
		dlclose(h);
		return -ENOEXEC;
	}
	int before = zus_host_fs_count();
	int e = reg(-1);
	if (e > 0 || e < -4095)
		e = -EIO;
	if (e) {
		*err = path +
		       ": " REGISTER_FS_NAME "() failed: " + std::strerror(-e);
		return e;
	}
	zus_fs_info *zfi = zus_host_fs_at(before);
	if (!zfi) {
		*err = path + ": " REGISTER_FS_NAME
			      "() registered no file system (zus_register_one)";
		return -ENOEXEC;
	}
	if (!zfi->op->sbi_alloc || !zfi->op->sbi_free || !zfi->op->sbi_init ||
	    !zfi->sbi_op->lookup || !zfi->sbi_op->iget ||
	    !zfi->sbi_op->new_inode || !zfi->sbi_op->add_dentry ||
	    !zfi->sbi_op->remove_dentry || !zfi->sbi_op->free_inode) {
		*err = path + ": file system " + zfi->rfi.fsname +
		       " lacks a required operation (sbi_alloc/free/init, "
		       "lookup, iget, new_inode, add/remove_dentry, "
		       "free_inode)";
		return -ENOEXEC;
	}
	g_loaded[h] = zfi;
	*out = { h, zfi, path };
	return 0;
}

} // namespace

int load_plugin(const std::string &name, Plugin *out, std::string *err)
{
	if (name.empty()) {
		*err = "--fs needs a file system name or a library path";
		return -EINVAL;
	}
	if (name == "pmfs") {
		*out = { nullptr, builtin_pmfs(), "built in" };
		if (!out->zfi) {
			*err = "pmfs: cannot register it (the name is taken)";
			return -EEXIST;
		}
		return 0;
	}
	if (name.find('/') == std::string::npos) {
		std::string lib = "lib" + name + ".so";
		std::string installed = std::string(ZUS_LIBFS_DIR) + "/" + lib;
		if (is_file(installed))
			return open_lib(installed, out, err);
		std::string why;
		int e = open_lib(lib, out, &why);
		if (!e || e != -ENOENT)
			return e ? (*err = why, e) : 0;
		if (is_file(name))
			return open_lib("./" + name, out, err);
		*err = "no zus file system '" + name + "' (looked for " +
		       installed + ", " + lib + " on the library path, and ./" +
		       name + "; see --list-fs)";
		return -ENOENT;
	}
	if (!is_file(name)) {
		*err = "no zus file system library " + name + ": " +
		       std::strerror(errno ? errno : ENOENT);
		return -ENOENT;
	}
	return open_lib(name, out, err);
}

std::vector<std::string> list_plugins()
{
	std::vector<std::string> out = { "pmfs (built in)" };
	std::vector<std::string> dirs = { ZUS_LIBFS_DIR };
	if (const char *lp = getenv("LD_LIBRARY_PATH")) {
		std::string s = lp;
		for (size_t at = 0; at <= s.size();) {
			size_t c = std::min(s.find(':', at), s.size());
			if (c > at)
				dirs.push_back(s.substr(at, c - at));
			at = c + 1;
		}
	}
	for (const std::string &d : dirs) {
		DIR *dir = opendir(d.c_str());
		if (!dir)
			continue;
		while (dirent *de = readdir(dir)) {
			std::string n = de->d_name;
			if (!n.starts_with("lib") || !n.ends_with(".so") ||
			    n == "libzus.so")
				continue;
			std::string path = d + "/" + n;
			void *h = dlopen(path.c_str(), RTLD_LAZY | RTLD_LOCAL);
			if (!h)
				continue;
			bool fs = dlsym(h, REGISTER_FS_NAME) != nullptr;
			dlclose(h);
			if (fs)
				out.push_back(n.substr(3, n.size() - 6) + " " +
					      path);
		}
		closedir(dir);
	}
	return out;
}

} // namespace zus::plugin
