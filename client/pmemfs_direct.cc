// pmemfs-direct: runs a program with libpmemfs-preload loaded (LD_PRELOAD), so that its reads,
// writes and shared mappings of files on pmemfs mounts that allow it go straight to the device
// (man pmemfs-direct).
//
//   pmemfs-direct [-v] [--] COMMAND [ARGS...]
//
// The library is, in order: $PMEMFS_PRELOAD, libpmemfs-preload.so beside this program (the
// build tree), the installed one (PMEMFS_PRELOAD_RELATIVE to this program's directory). -v: the library says on stderr why a
// mount is served by the kernel (PMEMFS_DIRECT_VERBOSE=1).
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

int Usage(FILE* out, int rc) {
  fputs("usage: pmemfs-direct [-v] [--] COMMAND [ARGS...]\n"
        "Runs COMMAND with its file data on pmemfs mounts read and written in the device\n"
        "itself (where the mount's direct_access= option allows it); see pmemfs-direct(1).\n"
        "  -v   say on stderr why a mount is left to the kernel\n"
        "  -h, --help      this help\n"
        "  -V, --version   the version\n",
        out);
  return rc;
}

std::string Library() {
  if (const char* p = getenv("PMEMFS_PRELOAD"); p != nullptr && *p != '\0') return p;
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "libpmemfs-preload.so";  // (the dynamic loader's search path)
  self[n] = '\0';
  std::string dir(self);
  dir.resize(dir.rfind('/') + 1);
  const std::string beside = dir + "libpmemfs-preload.so";
  if (access(beside.c_str(), R_OK) == 0) return beside;
  return dir + PMEMFS_PRELOAD_RELATIVE;
}

}  // namespace

int main(int argc, char** argv) {
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (std::strcmp(argv[i], "--") == 0) {
      i++;
      break;
    }
    if (std::strcmp(argv[i], "-v") == 0) {
      setenv("PMEMFS_DIRECT_VERBOSE", "1", 1);
    } else if (std::strcmp(argv[i], "-h") == 0 || std::strcmp(argv[i], "--help") == 0) {
      return Usage(stdout, 0);
    } else if (std::strcmp(argv[i], "-V") == 0 || std::strcmp(argv[i], "--version") == 0) {
      printf("pmemfs-direct (pmemfs) %s\n", PMEMFS_VERSION);
      return 0;
    } else {
      fprintf(stderr, "pmemfs-direct: unknown option '%s'\n", argv[i]);
      return Usage(stderr, 2);
    }
  }
  if (i >= argc) return Usage(stderr, 2);
  const std::string lib = Library();
  if (access(lib.c_str(), R_OK) != 0) {
    fprintf(stderr, "pmemfs-direct: %s: %s\n", lib.c_str(), strerror(errno));
    return 127;
  }
  std::string preload = lib;
  if (const char* old = getenv("LD_PRELOAD"); old != nullptr && *old != '\0')
    preload += std::string(":") + old;
  setenv("LD_PRELOAD", preload.c_str(), 1);
  execvp(argv[i], argv + i);
  fprintf(stderr, "pmemfs-direct: %s: %s\n", argv[i], strerror(errno));
  return errno == ENOENT ? 127 : 126;
}
