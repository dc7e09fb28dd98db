// pmemfs-direct-tool: what tests/integration/direct*.sh do through libpmemfs-client
// (include/pmemfs/client.h), one command per run. Exit 0 on success; a failed check prints one
// line on stderr and exits 1.
//
//   is-direct FILE                 the file's data goes through the device (exit 1: kernel)
//   write FILE OFF LEN SEED        pattern bytes written with pmemfs_pwrite in uneven pieces
//   append FILE COUNT LEN SEED [sync]  COUNT records appended (O_APPEND); after each returns
//                                  (with sync: and pmemfs_fsync after it), its number is printed
//                                  on stdout (line-buffered)
//   check-appends FILE LEN SEED ACKED  after appends cut short: the first ACKED records are
//                                  there (through the kernel), and every byte past them up to
//                                  the size is the pattern (a record in flight) or zero
//   check-mixed-appends FILE COUNT LEN SEED...  after `append FILE COUNT LEN SEED` by several
//                                  processes at once: the file (through the kernel) is each
//                                  one's COUNT records, whole, each once, in its order
//   overwrite FILE RECORDS LEN SEED    rewrites records of the file in place forever, pass p
//                                  with the pattern of SEED+1+p; "p i" printed after each write
//                                  of record i returned; the first failure prints "error ..."
//                                  and exits 3
//   check-overwrites FILE RECORDS LEN SEED ACKS  after overwrite was cut short (ACKS: what it
//                                  printed; the file held the pattern of SEED before): each
//                                  record holds its last acknowledged pass, the one after the
//                                  last acknowledgement may also hold (part of) the next
//   check FILE OFF LEN SEED        the pattern read back with pmemfs_pread, and through the
//                                  kernel (a descriptor of its own)
//   random FILE SIZE SEED OPS      random writes, reads, appends, truncates checked against a
//                                  model; the whole file through the kernel at the end
//   size-seen FILE                 appends, then stat(2) (the kernel) must show each new size
//   mmap-write FILE OFF LEN SEED   pattern stored through a library mapping, msync
//   hold FILE [rw|ro|none]         opens (O_RDWR), reads, maps the whole file through the
//                                  library (rw, the default: PROT_READ|PROT_WRITE; ro: PROT_READ;
//                                  none: no mapping); prints "ready"; then for each line on stdin:
//                                  "peek OFF" prints the mapping's byte there (a SIGBUS prints
//                                  "SIGBUS" and exits 7), "read OFF" the byte pmemfs_pread reads
//                                  ("eof" past the end), "pwrite OFF LEN SEED" writes the pattern
//                                  with pmemfs_pwrite (no fsync: the file stays open) and prints
//                                  "ok", "store OFF LEN SEED" stores it through the mapping (no
//                                  msync) and prints "ok", "mcheck OFF LEN SEED" prints "ok" when
//                                  the mapping holds it there, else "bad AT GOT WANT" (the first
//                                  byte that differs); "quit" ends
//   grow-map FILE                  a 4 KiB file mapped 4 MiB through the library (MAP_SHARED: the
//                                  kernel's mapping past the end) and by the kernel (MAP_PRIVATE),
//                                  grown to 3 MiB by library writes and fsynced, then to 3.5 MiB
//                                  through a second descriptor that is closed: each time both
//                                  mappings read the new bytes (a SIGBUS prints "SIGBUS ..." and
//                                  exits 7)
//   kernel-write FILE OFF LEN SEED the pattern written through the kernel (plain pwrite)
//   plain FILE OFF LEN SEED        the pattern written (fsync) and read back through the library,
//                                  direct or not; prints "direct" or "kernel", then what the
//                                  process holds: "fd TARGET" per descriptor, "map PATH" per
//                                  mapped file
//   lib-sees FILE OFF LEN SEED     after kernel-write: a library read sees it at once
//   stream FILE COUNT SEED [append]  COUNT 4 KiB blocks written in order (pmemfs_pwrite at 0,
//                                  4K, ...; append: pmemfs_write through O_APPEND), then the
//                                  file truncated to half (a revocation) and the second half
//                                  written again with SEED+1; prints "faults A B": the page
//                                  faults the writes of each pass took in the CPU (perf's
//                                  software counter: not the kernel's own faulting-in), so that
//                                  a test can see the library map a stream's pages ahead
//   dump - OFF LEN SEED            the pattern bytes on stdout
//   race DIR ITERS                 calls on a descriptor while another thread closes, dup2s and
//                                  reopens it (direct_race.cc)
#include <fcntl.h>
#include <linux/perf_event.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "pmemfs/client.h"

namespace {

[[noreturn]] void Die(const std::string& what) {
  fprintf(stderr, "pmemfs-direct-tool: %s\n", what.c_str());
  exit(1);
}

std::string Errno(const std::string& what) { return what + ": " + strerror(errno); }

// Byte i of the pattern of `seed` (depends on the absolute offset, so any range can be checked).
unsigned char PatternByte(uint64_t seed, uint64_t i) {
  uint64_t x = (i / 8 + 1) * 0x9E3779B97F4A7C15ull ^ (seed * 0xBF58476D1CE4E5B9ull);
  x ^= x >> 31;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 29;
  return static_cast<unsigned char>(x >> (8 * (i % 8)));
}

std::vector<unsigned char> Pattern(uint64_t seed, uint64_t off, uint64_t len) {
  std::vector<unsigned char> v(len);
  for (uint64_t i = 0; i < len; i++) v[i] = PatternByte(seed, off + i);
  return v;
}

uint64_t Num(const char* s) { return std::strtoull(s, nullptr, 0); }

int OpenLib(const char* path, int flags) {
  int fd = pmemfs_open(path, flags, 0644);
  if (fd < 0) Die(Errno(std::string("open ") + path));
  return fd;
}

// A descriptor the library does not know: every call on it is the kernel's.
int OpenKernel(const char* path, int flags) {
  int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, path, flags, 0644));
  if (fd < 0) Die(Errno(std::string("open (kernel) ") + path));
  return fd;
}

void LibWriteAll(int fd, const unsigned char* p, uint64_t len, uint64_t off) {
  while (len > 0) {
    ssize_t n = pmemfs_pwrite(fd, p, len, static_cast<off_t>(off));
    if (n <= 0) Die(Errno("pmemfs_pwrite"));
    p += n;
    len -= static_cast<uint64_t>(n);
    off += static_cast<uint64_t>(n);
  }
}

void LibReadAll(int fd, unsigned char* p, uint64_t len, uint64_t off) {
  while (len > 0) {
    ssize_t n = pmemfs_pread(fd, p, len, static_cast<off_t>(off));
    if (n < 0) Die(Errno("pmemfs_pread"));
    if (n == 0) Die("pmemfs_pread: end of file at " + std::to_string(off));
    p += n;
    len -= static_cast<uint64_t>(n);
    off += static_cast<uint64_t>(n);
  }
}

void KernelReadAll(int fd, unsigned char* p, uint64_t len, uint64_t off) {
  while (len > 0) {
    ssize_t n = syscall(SYS_pread64, fd, p, len, off);
    if (n < 0) Die(Errno("pread (kernel)"));
    if (n == 0) Die("pread (kernel): end of file at " + std::to_string(off));
    p += n;
    len -= static_cast<uint64_t>(n);
    off += static_cast<uint64_t>(n);
  }
}

void Compare(const std::vector<unsigned char>& want, const std::vector<unsigned char>& got,
             uint64_t off, const char* how) {
  for (size_t i = 0; i < want.size(); i++)
    if (want[i] != got[i])
      Die(std::string(how) + ": byte " + std::to_string(off + i) + " is " +
          std::to_string(got[i]) + ", expected " + std::to_string(want[i]));
}

int IsDirect(const char* path) {
  int fd = OpenLib(path, O_RDWR);
  int d = pmemfs_is_direct(fd);
  pmemfs_close(fd);
  return d ? 0 : 1;
}

int Write(const char* path, uint64_t off, uint64_t len, uint64_t seed) {
  int fd = OpenLib(path, O_RDWR | O_CREAT);
  if (!pmemfs_is_direct(fd)) Die(std::string(path) + ": not direct");
  std::vector<unsigned char> data = Pattern(seed, off, len);
  std::mt19937_64 rng(seed);
  for (uint64_t done = 0; done < len;) {
    const uint64_t n = std::min<uint64_t>(len - done, 1 + rng() % (3 * 4096 + 100));
    LibWriteAll(fd, data.data() + done, n, off + done);
    done += n;
  }
  if (pmemfs_fsync(fd) != 0) Die(Errno("pmemfs_fsync"));
  pmemfs_close(fd);
  return 0;
}

int Check(const char* path, uint64_t off, uint64_t len, uint64_t seed) {
  std::vector<unsigned char> want = Pattern(seed, off, len), got(len);
  int fd = OpenLib(path, O_RDONLY);
  if (!pmemfs_is_direct(fd)) Die(std::string(path) + ": not direct");
  LibReadAll(fd, got.data(), len, off);
  Compare(want, got, off, "library read");
  pmemfs_close(fd);
  int k = OpenKernel(path, O_RDONLY);
  std::fill(got.begin(), got.end(), 0);
  KernelReadAll(k, got.data(), len, off);
  Compare(want, got, off, "kernel read");
  close(k);
  return 0;
}

int Append(const char* path, uint64_t count, uint64_t len, uint64_t seed, bool sync) {
  int fd = OpenLib(path, O_WRONLY | O_APPEND | O_CREAT);
  if (!pmemfs_is_direct(fd)) Die(std::string(path) + ": not direct");
  setvbuf(stdout, nullptr, _IOLBF, 0);
  for (uint64_t i = 0; i < count; i++) {
    std::vector<unsigned char> rec = Pattern(seed, i * len, len);
    ssize_t n = pmemfs_write(fd, rec.data(), len);
    if (n != static_cast<ssize_t>(len)) Die(Errno("pmemfs_write (append)"));
    if (sync && pmemfs_fsync(fd) != 0) Die(Errno("pmemfs_fsync (append)"));
    printf("%llu\n", static_cast<unsigned long long>(i));
  }
  pmemfs_close(fd);
  return 0;
}

std::vector<unsigned char> KernelReadFile(const char* path) {
  int k = OpenKernel(path, O_RDONLY);
  struct stat st;
  if (fstat(k, &st) != 0) Die(Errno("fstat"));
  std::vector<unsigned char> got(static_cast<size_t>(st.st_size));
  KernelReadAll(k, got.data(), got.size(), 0);
  close(k);
  return got;
}

int CheckAppends(const char* path, uint64_t len, uint64_t seed, uint64_t acked) {
  std::vector<unsigned char> got = KernelReadFile(path);
  if (got.size() < acked * len)
    Die("size " + std::to_string(got.size()) + " is short of the " + std::to_string(acked) +
        " records acknowledged (" + std::to_string(acked * len) + " bytes)");
  std::vector<unsigned char> want = Pattern(seed, 0, got.size());
  for (uint64_t i = 0; i < got.size(); i++) {
    if (got[i] == want[i]) continue;
    if (i < acked * len)
      Die("acknowledged record " + std::to_string(i / len) + ": byte " + std::to_string(i) +
          " is " + std::to_string(got[i]) + ", expected " + std::to_string(want[i]));
    if (got[i] != 0)
      Die("byte " + std::to_string(i) + " past the acknowledged records is " +
          std::to_string(got[i]) + ": neither what was written there nor zero");
  }
  return 0;
}

int CheckMixedAppends(const char* path, uint64_t count, uint64_t len,
                      const std::vector<uint64_t>& seeds) {
  std::vector<unsigned char> got = KernelReadFile(path);
  if (got.size() != seeds.size() * count * len)
    Die("size " + std::to_string(got.size()) + ", expected " +
        std::to_string(seeds.size() * count * len));
  std::vector<uint64_t> next(seeds.size(), 0);  // each appender's next record
  for (uint64_t at = 0; at < got.size(); at += len) {
    bool found = false;
    for (size_t k = 0; k < seeds.size() && !found; k++) {
      if (next[k] == count) continue;
      std::vector<unsigned char> want = Pattern(seeds[k], next[k] * len, len);
      if (std::equal(want.begin(), want.end(), got.begin() + static_cast<ptrdiff_t>(at))) {
        next[k]++;
        found = true;
      }
    }
    if (!found)
      Die("bytes [" + std::to_string(at) + ", +" + std::to_string(len) +
          ") are not the next record of any appender (overlapping or torn appends)");
  }
  return 0;
}

int Overwrite(const char* path, uint64_t records, uint64_t len, uint64_t seed) {
  int fd = OpenLib(path, O_RDWR);
  if (!pmemfs_is_direct(fd)) Die(std::string(path) + ": not direct");
  setvbuf(stdout, nullptr, _IOLBF, 0);
  for (uint64_t pass = 0;; pass++) {
    for (uint64_t i = 0; i < records; i++) {
      std::vector<unsigned char> rec = Pattern(seed + 1 + pass, i * len, len);
      if (pmemfs_pwrite(fd, rec.data(), len, static_cast<off_t>(i * len)) !=
          static_cast<ssize_t>(len)) {
        printf("error pass %llu record %llu: %s\n", static_cast<unsigned long long>(pass),
               static_cast<unsigned long long>(i), strerror(errno));
        exit(3);
      }
      printf("%llu %llu\n", static_cast<unsigned long long>(pass),
             static_cast<unsigned long long>(i));
    }
  }
}

int CheckOverwrites(const char* path, uint64_t records, uint64_t len, uint64_t seed,
                    const char* acks) {
  // The pass each record was last acknowledged in (-1: never, it holds the pattern of SEED).
  std::vector<int64_t> last(records, -1);
  FILE* in = fopen(acks, "r");
  if (in == nullptr) Die(Errno(std::string("open ") + acks));
  unsigned long long p, r;
  int64_t next = 0;  // the record written after the last acknowledged one (maybe in flight)
  while (fscanf(in, "%llu %llu", &p, &r) == 2) {
    if (r >= records) Die("acknowledgement of record " + std::to_string(r));
    last[r] = static_cast<int64_t>(p);
    next = static_cast<int64_t>((r + 1) % records);
  }
  fclose(in);
  std::vector<unsigned char> got = KernelReadFile(path);
  if (got.size() != records * len)
    Die("size " + std::to_string(got.size()) + ", expected " + std::to_string(records * len));
  for (uint64_t i = 0; i < records; i++) {
    std::vector<unsigned char> want = Pattern(seed + 1 + last[i], i * len, len);
    std::vector<unsigned char> then = Pattern(seed + 2 + last[i], i * len, len);
    for (uint64_t b = 0; b < len; b++) {
      const unsigned char g = got[i * len + b];
      if (g == want[b] || (static_cast<int64_t>(i) == next && g == then[b])) continue;
      Die("record " + std::to_string(i) + " (last acknowledged in pass " +
          std::to_string(last[i]) + "): byte " + std::to_string(i * len + b) + " is " +
          std::to_string(g) + ", expected " + std::to_string(want[b]));
    }
  }
  return 0;
}

int SizeSeen(const char* path) {
  int fd = OpenLib(path, O_RDWR | O_CREAT | O_TRUNC);
  if (!pmemfs_is_direct(fd)) Die(std::string(path) + ": not direct");
  std::vector<unsigned char> buf(1000, 'x');
  for (int i = 1; i <= 50; i++) {
    if (pmemfs_write(fd, buf.data(), buf.size()) != 1000) Die(Errno("pmemfs_write"));
    struct stat st;
    if (stat(path, &st) != 0) Die(Errno("stat"));
    if (st.st_size != i * 1000)
      Die("stat after write " + std::to_string(i) + ": size " + std::to_string(st.st_size) +
          ", expected " + std::to_string(i * 1000));
    if (pmemfs_lseek(fd, 0, SEEK_END) != i * 1000) Die("lseek(SEEK_END) disagrees");
  }
  pmemfs_close(fd);
  return 0;
}

// A random workload checked against a model of the file.
int Random(const char* path, uint64_t size, uint64_t seed, uint64_t ops) {
  int fd = OpenLib(path, O_RDWR | O_CREAT | O_TRUNC);
  if (!pmemfs_is_direct(fd)) Die(std::string(path) + ": not direct");
  std::vector<unsigned char> model;
  std::mt19937_64 rng(seed);
  std::vector<unsigned char> buf;
  for (uint64_t op = 0; op < ops; op++) {
    const uint64_t kind = rng() % 10;
    const uint64_t off = rng() % size;
    const uint64_t len = 1 + rng() % (rng() % 4 == 0 ? 200000 : 9000);
    if (kind < 5) {  // write
      buf.resize(len);
      for (auto& b : buf) b = static_cast<unsigned char>(rng());
      LibWriteAll(fd, buf.data(), len, off);
      if (model.size() < off + len) model.resize(off + len, 0);
      std::memcpy(model.data() + off, buf.data(), len);
    } else if (kind < 8) {  // read
      buf.assign(len, 0xAA);
      ssize_t n = pmemfs_pread(fd, buf.data(), len, static_cast<off_t>(off));
      const uint64_t expect = off >= model.size() ? 0 : std::min<uint64_t>(len, model.size() - off);
      if (n != static_cast<ssize_t>(expect))
        Die("op " + std::to_string(op) + ": read of " + std::to_string(len) + " at " +
            std::to_string(off) + " returned " + std::to_string(n) + ", expected " +
            std::to_string(expect));
      for (uint64_t i = 0; i < expect; i++)
        if (buf[i] != model[off + i])
          Die("op " + std::to_string(op) + ": byte " + std::to_string(off + i) + " differs");
    } else if (kind == 8) {  // append
      buf.resize(len % 5000 + 1);
      for (auto& b : buf) b = static_cast<unsigned char>(rng());
      off_t end = pmemfs_lseek(fd, 0, SEEK_END);
      if (end != static_cast<off_t>(model.size())) Die("lseek(SEEK_END): " + std::to_string(end));
      if (pmemfs_write(fd, buf.data(), buf.size()) != static_cast<ssize_t>(buf.size()))
        Die(Errno("pmemfs_write"));
      model.insert(model.end(), buf.begin(), buf.end());
    } else {  // truncate (through the kernel: the daemon calls our leases back first)
      const uint64_t to = rng() % (size + 1);
      if (pmemfs_ftruncate(fd, static_cast<off_t>(to)) != 0) Die(Errno("pmemfs_ftruncate"));
      model.resize(to, 0);
    }
  }
  if (pmemfs_fsync(fd) != 0) Die(Errno("pmemfs_fsync"));
  struct stat st;
  if (fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) != model.size())
    Die("fstat: size " + std::to_string(st.st_size) + ", expected " + std::to_string(model.size()));
  pmemfs_close(fd);
  int k = OpenKernel(path, O_RDONLY);
  std::vector<unsigned char> got(model.size());
  KernelReadAll(k, got.data(), got.size(), 0);
  Compare(model, got, 0, "kernel read after the workload");
  close(k);
  return 0;
}

int MmapWrite(const char* path, uint64_t off, uint64_t len, uint64_t seed) {
  int fd = OpenLib(path, O_RDWR);
  const uint64_t page = 4096, base = off / page * page;
  void* p = pmemfs_mmap(nullptr, off + len - base, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                        static_cast<off_t>(base));
  if (p == MAP_FAILED) Die(Errno("pmemfs_mmap"));
  std::vector<unsigned char> data = Pattern(seed, off, len);
  std::memcpy(static_cast<unsigned char*>(p) + (off - base), data.data(), len);
  if (pmemfs_msync(p, off + len - base, MS_SYNC) != 0) Die(Errno("pmemfs_msync"));
  if (pmemfs_munmap(p, off + len - base) != 0) Die(Errno("pmemfs_munmap"));
  if (pmemfs_fsync(fd) != 0) Die(Errno("pmemfs_fsync"));
  pmemfs_close(fd);
  return 0;
}

sigjmp_buf g_jump;
void OnBus(int) { siglongjmp(g_jump, 1); }

int Hold(const char* path, const std::string& how) {
  if (how != "rw" && how != "ro" && how != "none") Die("hold: rw, ro or none, not " + how);
  int fd = OpenLib(path, O_RDWR);
  if (!pmemfs_is_direct(fd)) Die(std::string(path) + ": not direct");
  struct stat st;
  if (fstat(fd, &st) != 0) Die(Errno("fstat"));
  const size_t len = static_cast<size_t>(st.st_size);
  unsigned char c;
  if (pmemfs_pread(fd, &c, 1, 0) != 1) Die(Errno("pmemfs_pread"));
  volatile unsigned char* map = nullptr;
  if (how != "none") {
    const int prot = how == "rw" ? PROT_READ | PROT_WRITE : PROT_READ;
    void* p = pmemfs_mmap(nullptr, len, prot, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) Die(Errno("pmemfs_mmap"));
    map = static_cast<volatile unsigned char*>(p);
    (void)map[0];
  }
  signal(SIGBUS, OnBus);
  printf("ready\n");
  fflush(stdout);
  std::string cmd;
  uint64_t at, n = 0, seed = 0;
  while (std::cin >> cmd) {
    if (cmd == "quit") break;
    if (!(std::cin >> at)) break;
    const bool ranged = cmd == "pwrite" || cmd == "store" || cmd == "mcheck";
    if (ranged && !(std::cin >> n >> seed)) break;
    if ((cmd == "peek" || cmd == "store" || cmd == "mcheck") && map == nullptr)
      Die("hold: " + cmd + " without a mapping");
    if (ranged && at + n > len && cmd != "pwrite") Die("hold: " + cmd + " past the mapping");
    if (cmd == "peek" || cmd == "mcheck" || cmd == "store") {
      if (sigsetjmp(g_jump, 1) != 0) {
        printf("SIGBUS\n");
        fflush(stdout);
        exit(7);
      }
    }
    if (cmd == "peek") {
      printf("%u\n", static_cast<unsigned>(map[at]));
    } else if (cmd == "read") {
      ssize_t k = pmemfs_pread(fd, &c, 1, static_cast<off_t>(at));
      if (k == 1) printf("%u\n", static_cast<unsigned>(c));
      else printf("eof\n");
    } else if (cmd == "pwrite") {
      const std::vector<unsigned char> data = Pattern(seed, at, n);
      LibWriteAll(fd, data.data(), n, at);
      printf("ok\n");
    } else if (cmd == "store") {
      const std::vector<unsigned char> data = Pattern(seed, at, n);
      for (uint64_t i = 0; i < n; i++) map[at + i] = data[i];
      printf("ok\n");
    } else if (cmd == "mcheck") {
      const std::vector<unsigned char> want = Pattern(seed, at, n);
      uint64_t i = 0;
      while (i < n && map[at + i] == want[i]) i++;
      if (i == n) printf("ok\n");
      else
        printf("bad %llu %u %u\n", static_cast<unsigned long long>(at + i),
               static_cast<unsigned>(map[at + i]), static_cast<unsigned>(want[i]));
    } else {
      Die("hold: unknown command " + cmd);
    }
    fflush(stdout);
  }
  pmemfs_close(fd);
  return 0;
}

// The pattern of `seed` at [off, off + len) of both mappings (`what` names the step).
void MappedHolds(const unsigned char* shared, const unsigned char* priv, uint64_t off,
                 uint64_t len, uint64_t seed, const char* what) {
  const std::vector<unsigned char> want = Pattern(seed, off, len);
  for (const auto& [name, map] : {std::pair{"shared", shared}, std::pair{"private", priv}}) {
    if (sigsetjmp(g_jump, 1) != 0) {
      printf("SIGBUS reading the %s mapping at [%llu, %llu) %s\n", name,
             static_cast<unsigned long long>(off), static_cast<unsigned long long>(off + len),
             what);
      fflush(stdout);
      exit(7);
    }
    if (std::memcmp(map + off, want.data(), len) != 0)
      Die(std::string("the ") + name + " mapping does not show the bytes written " + what);
  }
}

int GrowMap(const char* path) {
  constexpr uint64_t kLen = 4 << 20, kSmall = 4096, kGrown = 3 << 20, kMore = kGrown + (512 << 10);
  int fd = OpenLib(path, O_RDWR | O_CREAT | O_TRUNC);
  if (!pmemfs_is_direct(fd)) Die(std::string(path) + ": not direct");
  const std::vector<unsigned char> head = Pattern(41, 0, kSmall);
  LibWriteAll(fd, head.data(), kSmall, 0);
  auto* shared = static_cast<unsigned char*>(
      pmemfs_mmap(nullptr, kLen, PROT_READ, MAP_SHARED, fd, 0));
  auto* priv = static_cast<unsigned char*>(
      pmemfs_mmap(nullptr, kLen, PROT_READ, MAP_PRIVATE, fd, 0));
  if (shared == MAP_FAILED || priv == MAP_FAILED) Die(Errno("pmemfs_mmap"));
  signal(SIGBUS, OnBus);
  MappedHolds(shared, priv, 0, kSmall, 41, "before the file grew");
  const std::vector<unsigned char> grown = Pattern(41, kSmall, kGrown - kSmall);
  LibWriteAll(fd, grown.data(), kGrown - kSmall, kSmall);
  if (pmemfs_fsync(fd) != 0) Die(Errno("pmemfs_fsync"));
  MappedHolds(shared, priv, kSmall, kGrown - kSmall, 41, "and fsynced");
  int fd2 = OpenLib(path, O_RDWR);
  const std::vector<unsigned char> more = Pattern(41, kGrown, kMore - kGrown);
  LibWriteAll(fd2, more.data(), kMore - kGrown, kGrown);
  if (pmemfs_close(fd2) != 0) Die(Errno("pmemfs_close"));
  MappedHolds(shared, priv, kGrown, kMore - kGrown, 41, "through a descriptor closed since");
  pmemfs_munmap(shared, kLen);
  pmemfs_munmap(priv, kLen);
  pmemfs_close(fd);
  return 0;
}

int KernelWrite(const char* path, uint64_t off, uint64_t len, uint64_t seed) {
  int k = OpenKernel(path, O_RDWR | O_CREAT);
  std::vector<unsigned char> data = Pattern(seed, off, len);
  if (syscall(SYS_pwrite64, k, data.data(), len, off) != static_cast<long>(len))
    Die(Errno("pwrite (kernel)"));
  close(k);
  return 0;
}

int Plain(const char* path, uint64_t off, uint64_t len, uint64_t seed) {
  int fd = OpenLib(path, O_RDWR | O_CREAT);
  const bool direct = pmemfs_is_direct(fd);
  std::vector<unsigned char> want = Pattern(seed, off, len), got(len);
  LibWriteAll(fd, want.data(), len, off);
  if (pmemfs_fsync(fd) != 0) Die(Errno("pmemfs_fsync"));
  LibReadAll(fd, got.data(), len, off);
  Compare(want, got, off, direct ? "direct read" : "read through the kernel");
  printf("%s\n", direct ? "direct" : "kernel");
  for (int i = 0; i < 1024; i++) {
    char link[4096];
    const std::string name = "/proc/self/fd/" + std::to_string(i);
    const ssize_t n = readlink(name.c_str(), link, sizeof link - 1);
    if (n < 0) continue;
    link[n] = '\0';
    printf("fd %s\n", link);
  }
  FILE* maps = fopen("/proc/self/maps", "r");
  if (maps == nullptr) Die(Errno("/proc/self/maps"));
  char line[8192];
  while (fgets(line, sizeof line, maps) != nullptr) {
    const char* slash = strchr(line, '/');
    if (slash != nullptr) printf("map %s", slash);
  }
  fclose(maps);
  pmemfs_close(fd);
  return 0;
}

// The page faults this thread takes in the CPU from now on (perf's software counter, user and
// kernel mode: a kernel copy from a user buffer counts too; a kernel's get_user_pages does not).
class FaultCounter {
 public:
  FaultCounter() {
    perf_event_attr a{};
    a.type = PERF_TYPE_SOFTWARE;
    a.size = sizeof a;
    a.config = PERF_COUNT_SW_PAGE_FAULTS;
    fd_ = static_cast<int>(syscall(SYS_perf_event_open, &a, 0, -1, -1, 0));
    if (fd_ < 0) Die(Errno("perf_event_open (page faults)"));
  }
  ~FaultCounter() { close(fd_); }
  uint64_t Count() const {
    uint64_t v = 0;
    if (read(fd_, &v, sizeof v) != sizeof v) Die(Errno("read (perf counter)"));
    return v;
  }

 private:
  int fd_;
};

int Stream(const char* path, uint64_t count, uint64_t seed, bool append) {
  constexpr uint64_t kBlock = 4096;
  int fd = OpenLib(path, O_RDWR | O_CREAT | O_TRUNC | (append ? O_APPEND : 0));
  if (!pmemfs_is_direct(fd)) Die(std::string(path) + ": not direct");
  std::vector<unsigned char> data = Pattern(seed, 0, count * kBlock);
  std::vector<unsigned char> again = Pattern(seed + 1, 0, count * kBlock);
  const uint64_t half = count / 2;
  uint64_t faults[2];
  for (int pass = 0; pass < 2; pass++) {
    const std::vector<unsigned char>& src = pass == 0 ? data : again;
    const uint64_t from = pass == 0 ? 0 : half;
    FaultCounter c;
    const uint64_t before = c.Count();
    for (uint64_t i = from; i < count; i++) {
      const ssize_t n = append ? pmemfs_write(fd, src.data() + i * kBlock, kBlock)
                               : pmemfs_pwrite(fd, src.data() + i * kBlock, kBlock,
                                               static_cast<off_t>(i * kBlock));
      if (n != static_cast<ssize_t>(kBlock)) Die(Errno("stream write"));
    }
    faults[pass] = c.Count() - before;
    if (pass == 0 && pmemfs_ftruncate(fd, static_cast<off_t>(half * kBlock)) != 0)
      Die(Errno("pmemfs_ftruncate"));
  }
  pmemfs_close(fd);
  printf("faults %llu %llu\n", static_cast<unsigned long long>(faults[0]),
         static_cast<unsigned long long>(faults[1]));
  return 0;
}

}  // namespace

int Race(const char* dir, uint64_t iters);  // direct_race.cc

int main(int argc, char** argv) {
  if (argc < 3) Die("usage: see the top of tests/integration/direct_tool.cc");
  const std::string cmd = argv[1];
  const char* path = argv[2];
  auto n = [&](int i) { return i < argc ? Num(argv[i]) : 0; };
  if (cmd == "is-direct") return IsDirect(path);
  if (cmd == "write") return Write(path, n(3), n(4), n(5));
  if (cmd == "append")
    return Append(path, n(3), n(4), n(5), argc > 6 && std::string(argv[6]) == "sync");
  if (cmd == "check-appends") return CheckAppends(path, n(3), n(4), n(5));
  if (cmd == "check-mixed-appends") {
    std::vector<uint64_t> seeds;
    for (int i = 5; i < argc; i++) seeds.push_back(Num(argv[i]));
    return CheckMixedAppends(path, n(3), n(4), seeds);
  }
  if (cmd == "overwrite") return Overwrite(path, n(3), n(4), n(5));
  if (cmd == "check-overwrites") {
    if (argc < 7) Die("usage: check-overwrites FILE RECORDS LEN SEED ACKS");
    return CheckOverwrites(path, n(3), n(4), n(5), argv[6]);
  }
  if (cmd == "check" || cmd == "lib-sees") return Check(path, n(3), n(4), n(5));
  if (cmd == "race") return Race(path, n(3));
  if (cmd == "random") return Random(path, n(3), n(4), n(5));
  if (cmd == "size-seen") return SizeSeen(path);
  if (cmd == "mmap-write") return MmapWrite(path, n(3), n(4), n(5));
  if (cmd == "hold") return Hold(path, argc > 3 ? argv[3] : "rw");
  if (cmd == "kernel-write") return KernelWrite(path, n(3), n(4), n(5));
  if (cmd == "grow-map") return GrowMap(path);
  if (cmd == "plain") return Plain(path, n(3), n(4), n(5));
  if (cmd == "stream")
    return Stream(path, n(3), n(4), argc > 5 && std::string(argv[5]) == "append");
  if (cmd == "dump") {
    std::vector<unsigned char> d = Pattern(n(5), n(3), n(4));
    return fwrite(d.data(), 1, d.size(), stdout) == d.size() ? 0 : 1;
  }
  Die("unknown command " + cmd);
}
