// pmemfs-direct-loop: the calls whose cost bench/README.md's callgrind note counts, for a
// before/after of the direct-access library's hot path (run it under pmemfs-direct):
//
//   pmemfs-direct-loop w|r|W|R FILE COUNT
//
// FILE (made or grown to 64 MiB) is first written (w, W) or read (r, R) whole in 1 MiB calls, so
// that the leases are granted before the count starts; then Loop makes COUNT 4 KiB pwrites (w),
// preads (r), or writes (W) or reads (R) at the offset after an lseek, at random block offsets
// (a fixed seed: the same offsets every run). Count Loop alone: valgrind --tool=callgrind
// --toggle-collect='*Loop*' pmemfs-direct-loop w FILE 20000, then the inclusive count of
// pwrite, pread, write or read in callgrind_annotate --inclusive=yes over COUNT.
// Plain libc calls only (what the preload interposes). Exit 0 when every call did the whole
// size, 1 otherwise (a line on stderr).
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr size_t kFileSize = 64u << 20;
constexpr size_t kBlock = 4096;

// COUNT calls at random blocks; the number of calls that did not move kBlock bytes.
__attribute__((noinline)) long Loop(int fd, char how, char* buf, long count) {
  uint64_t x = 0x9e3779b97f4a7c15ull;
  long bad = 0;
  for (long i = 0; i < count; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const off_t at = static_cast<off_t>((x % (kFileSize / kBlock)) * kBlock);
    ssize_t n = -1;
    if (how == 'w') n = pwrite(fd, buf, kBlock, at);
    else if (how == 'r') n = pread(fd, buf, kBlock, at);
    else if (lseek(fd, at, SEEK_SET) == at)
      n = how == 'W' ? write(fd, buf, kBlock) : read(fd, buf, kBlock);
    bad += n != static_cast<ssize_t>(kBlock);
  }
  return bad;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 || strlen(argv[1]) != 1 || strchr("wrWR", argv[1][0]) == nullptr ||
      atol(argv[3]) <= 0) {
    fprintf(stderr, "usage: pmemfs-direct-loop w|r|W|R FILE COUNT\n");
    return 2;
  }
  const char how = argv[1][0];
  const bool write = how == 'w' || how == 'W';
  const long count = atol(argv[3]);
  const int fd = open(argv[2], O_RDWR | O_CREAT, 0644);
  if (fd < 0) {
    perror(argv[2]);
    return 1;
  }
  std::vector<char> big(1u << 20, 'x');
  for (size_t off = 0; off < kFileSize; off += big.size()) {
    const ssize_t n = write ? pwrite(fd, big.data(), big.size(), static_cast<off_t>(off))
                            : pread(fd, big.data(), big.size(), static_cast<off_t>(off));
    if (n != static_cast<ssize_t>(big.size())) {
      fprintf(stderr, "%s: the first pass ended at %zu (make it 64 MiB first for r)\n", argv[2],
              off);
      return 1;
    }
  }
  const long bad = Loop(fd, how, big.data(), count);
  close(fd);
  if (bad != 0) {
    fprintf(stderr, "%s: %ld of %ld calls short\n", argv[2], bad, count);
    return 1;
  }
  return 0;
}
