// SPDX-License-Identifier: BSD-3-Clause
//
// killpriv_test.cc - suid, sgid and security.capability are dropped by
// writes, truncates and chowns exactly as tmpfs drops them. zufuse
// negotiates FUSE_HANDLE_KILLPRIV_V2 (src/kernel_shim/fuse_wire.h), which
// moves this job from the kernel to the file system.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <functional>
#include <sstream>
#include <string>

#include "fs_helpers.h"
#include "integration.h"

namespace {

// A valid VFS_CAP_REVISION_2 security.capability value (cap_net_raw+ep).
std::string cap_value()
{
	uint32_t v[5] = { 0x02000001, 1u << 13, 0, 0, 0 };
	return std::string(reinterpret_cast<char *>(v), sizeof(v));
}

bool has_cap(const std::string &p)
{
	return getxattr(p.c_str(), "security.capability", nullptr, 0) > 0;
}

// One scenario on one directory; a line per step with the outcome.
std::string scenario(const std::string &dir)
{
	std::ostringstream log;
	auto mode = [](const std::string &p) {
		struct stat st;
		return stat(p.c_str(), &st) ? -1 : int(st.st_mode & 07777);
	};
	const mode_t modes[] = { 06777, 04777, 02777, 02767, 00777 };
	int i = 0;
	for (mode_t m : modes) {
		for (int how = 0; how < 5; ++how, ++i) {
			std::string f = dir + "/f" + std::to_string(i);
			int fd = open(f.c_str(), O_CREAT | O_WRONLY, 0600);
			if (fd < 0)
				return "create failed";
			close(fd);
			chmod(f.c_str(), m);
			int err = 0;
			switch (how) {
			case 0:
				err = zit::errno_as(false, [&] {
					return zit::write_one(f);
				});
				break;
			case 1:
				err = zit::errno_as(true, [&] {
					return zit::write_one(f);
				});
				break;
			case 2:
				err = zit::errno_as(true, [&] {
					return truncate(f.c_str(), 7);
				});
				break;
			case 3:
				err = zit::errno_as(false, [&] {
					return truncate(f.c_str(), 9);
				});
				break;
			case 4:
				err = chown(f.c_str(), 1000, 1000) ? errno : 0;
				break;
			}
			log << "mode " << std::oct << m << std::dec << " how "
			    << how << ": err " << err << " -> " << std::oct
			    << mode(f) << std::dec << "\n";
		}
	}
	// security.capability goes on any write or truncate, even by root.
	for (int how = 0; how < 3; ++how) {
		std::string f = dir + "/cap" + std::to_string(how);
		int fd = open(f.c_str(), O_CREAT | O_WRONLY, 0755);
		if (fd < 0)
			return "create failed";
		close(fd);
		std::string v = cap_value();
		int set = setxattr(f.c_str(), "security.capability", v.data(),
				   v.size(), 0);
		bool before = has_cap(f);
		int err = 0;
		switch (how) {
		case 0:
			err = zit::write_one(f) ? errno : 0;
			break;
		case 1:
			err = truncate(f.c_str(), 3) ? errno : 0;
			break;
		case 2:
			err = chown(f.c_str(), 0, 0) ? errno : 0;
			break;
		}
		log << "cap how " << how << ": set " << set << " before "
		    << before << " err " << err << " after " << has_cap(f)
		    << "\n";
	}
	return log.str();
}

} // namespace

TEST_CASE("write, truncate and chown drop privileges as on tmpfs",
	  "[posix][killpriv]")
{
	zit::Mount m;
	std::string ref = m.scratch().path("ref");
	REQUIRE(mkdir(ref.c_str(), 0777) == 0);
	REQUIRE_MOUNT(m, { "-o", "allow_other" });
	REQUIRE(chmod(m.mnt().c_str(), 0777) == 0);

	std::string want = scenario(ref);
	std::string got = scenario(m.mnt());
	INFO("zufuse log:\n" << m.log() << "tmpfs:\n" << want);
	CHECK(want.find("cap how 0: set 0 before 1") != std::string::npos);
	CHECK(got == want);
}
