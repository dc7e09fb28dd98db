// pmemfs-direct-tool race DIR ITERS: every kind of library call on one descriptor number while
// another thread closes it, dup2s other files over it and reopens it (direct_race.sh).
//
// Files f0..f3 of DIR (1 MiB each, filled with byte 0x10+k) take turns behind the descriptor
// number; v (filled with 0x20) is open on a descriptor of its own and only read. Workers write
// 512-byte records at 512-byte offsets (pwrite, pwritev, write and writev at the shared offset,
// which only ever moves in 512-byte steps), read, seek, sync, truncate to the same size, and
// map, store a record naming the file the mapping shows at its offset 0, msync and unmap.
// The checks afterwards, through the kernel: v is untouched; every 512-byte block of every f is
// its fill or one whole record; every record a mapping stored names the file it is in (a mapping
// is of one file, as the kernel's). A crash (or, under ASan, a use after free) fails the run.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "pmemfs/client.h"

namespace {

constexpr int kFiles = 4;
constexpr uint64_t kSize = 1 << 20;
constexpr size_t kRec = 512;
constexpr uint64_t kMagic = 0x7261636572656331ull;  // "1cerecar"
constexpr unsigned char kVictim = 0x20;

struct Record {
  uint64_t magic;
  uint32_t kind;  // 1: written with a write call, 2: stored through a mapping
  uint32_t file;  // kind 2: the fill byte the mapping showed at its offset 0
  uint64_t worker;
  uint64_t seq;
};

void MakeRecord(unsigned char* b, uint32_t kind, uint32_t file, uint64_t worker, uint64_t seq) {
  Record r{kMagic, kind, file, worker, seq};
  std::memcpy(b, &r, sizeof r);
  std::memset(b + sizeof r, static_cast<int>((worker * 31 + seq) & 0xff), kRec - sizeof r);
}

unsigned char Fill(int k) { return static_cast<unsigned char>(0x10 + k); }

std::string Path(const std::string& dir, int k) {
  return k < 0 ? dir + "/v" : dir + "/f" + std::to_string(k);
}

int Prepare(const std::string& path, unsigned char fill) {
  int fd = pmemfs_open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return -1;
  std::vector<unsigned char> b(kSize, fill);
  if (pmemfs_pwrite(fd, b.data(), b.size(), 0) != static_cast<ssize_t>(b.size())) return -1;
  // The kernel's view of the size, which its parts of a mapping fault by, is right once the
  // writer closed the file and someone looked through the kernel (the documented coherence).
  if (pmemfs_fsync(fd) != 0 || pmemfs_close(fd) != 0) return -1;
  struct stat st{};
  if (stat(path.c_str(), &st) != 0 || st.st_size != static_cast<off_t>(kSize)) return -1;
  return pmemfs_open(path.c_str(), O_RDWR);
}

void Worker(int slot, uint64_t id, std::atomic<bool>* stop) {
  std::mt19937_64 rng(id);
  alignas(64) unsigned char rec[kRec], buf[4 * kRec];
  const uint64_t recs = kSize / kRec;
  for (uint64_t seq = 1; !stop->load(std::memory_order_relaxed); seq++) {
    const off_t at = static_cast<off_t>((1 + rng() % (recs - 8)) * kRec);
    MakeRecord(rec, 1, 0, id, seq);
    iovec two[2] = {{rec, 200}, {rec + 200, kRec - 200}};
    switch (rng() % 14) {
      case 0: (void)!pmemfs_pwrite(slot, rec, kRec, at); break;
      case 1: (void)!pmemfs_pread(slot, buf, sizeof buf, at); break;
      case 2: (void)!pmemfs_pwritev(slot, two, 2, at); break;
      case 3: {
        iovec r[2] = {{buf, 100}, {buf + 100, sizeof buf - 100}};
        (void)!pmemfs_preadv(slot, r, 2, at);
        break;
      }
      case 4:
        if (pmemfs_lseek(slot, at, SEEK_SET) >= 0) (void)!pmemfs_write(slot, rec, kRec);
        break;
      case 5:
        if (pmemfs_lseek(slot, at, SEEK_SET) >= 0) (void)!pmemfs_writev(slot, two, 2);
        break;
      case 6: (void)!pmemfs_read(slot, buf, kRec * (1 + rng() % 4)); break;
      case 7: {
        iovec r[2] = {{buf, kRec}, {buf + kRec, kRec}};
        (void)!pmemfs_readv(slot, r, 2);
        break;
      }
      case 8: (void)!pmemfs_lseek(slot, -static_cast<off_t>(8 * kRec), SEEK_END); break;
      case 9: (void)!pmemfs_fsync(slot); break;
      case 10: (void)!pmemfs_fdatasync(slot); break;
      case 11: (void)!pmemfs_ftruncate(slot, kSize); break;
      default: {  // a mapping: store a record naming the file it shows, msync, unmap
        const size_t len = 64 * 1024;
        void* p = pmemfs_mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, slot, 0);
        if (p == MAP_FAILED) break;
        auto* m = static_cast<unsigned char*>(p);
        // The file it shows: a block that is its fill (not a record: any block may be one,
        // the one at 0 too, written at a fresh descriptor's offset).
        unsigned char f = 0;
        for (size_t b = 0; b < len && f == 0; b += kRec) {
          const unsigned char* q = m + b;
          if (q[0] >= Fill(0) && q[0] < Fill(kFiles) && q[8] == q[0] && q[100] == q[0] &&
              q[kRec - 1] == q[0] && std::memcmp(q, &kMagic, sizeof kMagic) != 0)
            f = q[0];
        }
        if (f == 0) {
          (void)pmemfs_munmap(p, len);
          break;
        }
        MakeRecord(rec, 2, f, id, seq);
        std::memcpy(m + kRec * (1 + rng() % (len / kRec - 1)), rec, kRec);
        (void)pmemfs_msync(p, len, MS_SYNC);
        (void)pmemfs_munmap(p, len);
        break;
      }
    }
  }
}

// Every block of file k (read through the kernel) is its fill or one whole record.
bool CheckFile(const std::string& path, int k) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return false;
  struct stat st{};
  fstat(fd, &st);
  std::vector<unsigned char> d(static_cast<size_t>(st.st_size));
  const bool ok = pread(fd, d.data(), d.size(), 0) == static_cast<ssize_t>(d.size());
  close(fd);
  if (!ok || d.size() % kRec != 0 || d.size() < kSize) {
    fprintf(stderr, "%s: size %zu (not %llu plus whole records)\n", path.c_str(), d.size(),
            static_cast<unsigned long long>(kSize));
    return false;
  }
  uint64_t records = 0;
  for (size_t at = 0; at < d.size(); at += kRec) {
    const unsigned char* b = d.data() + at;
    bool fill = true;
    for (size_t i = 0; i < kRec && fill; i++) fill = b[i] == Fill(k);
    if (fill) continue;
    Record r;
    std::memcpy(&r, b, sizeof r);
    unsigned char want[kRec];
    MakeRecord(want, r.kind, r.file, r.worker, r.seq);
    if (r.magic != kMagic || std::memcmp(want, b, kRec) != 0 || (r.kind != 1 && r.kind != 2)) {
      fprintf(stderr, "%s: block at %zu is neither the fill nor a whole record\n", path.c_str(), at);
      return false;
    }
    if (r.kind == 2 && r.file != Fill(k)) {
      fprintf(stderr, "%s: a mapping of file 0x%x stored into it at %zu\n", path.c_str(), r.file,
              at);
      return false;
    }
    records++;
  }
  printf("%s: %llu records\n", path.c_str(), static_cast<unsigned long long>(records));
  return true;
}

}  // namespace

int Race(const char* dirp, uint64_t iters) {
  const std::string dir = dirp;
  int base[kFiles];
  for (int k = 0; k < kFiles; k++)
    if ((base[k] = Prepare(Path(dir, k), Fill(k))) < 0) return perror("prepare"), 1;
  const int victim = Prepare(Path(dir, -1), kVictim);
  if (victim < 0) return perror("prepare v"), 1;
  const int slot = pmemfs_dup(base[0]);
  if (slot < 0) return perror("dup"), 1;
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (uint64_t w = 0; w < 4; w++) workers.emplace_back(Worker, slot, w + 1, &stop);
  std::thread reader([&] {  // the victim's leases stay in use all along
    unsigned char b[kRec];
    while (!stop.load()) (void)!pmemfs_pread(victim, b, sizeof b, 4096);
  });
  std::mt19937_64 rng(99);
  for (uint64_t i = 0; i < iters; i++) {
    const int k = static_cast<int>(rng() % kFiles);
    switch (rng() % 4) {
      case 0: (void)pmemfs_dup2(base[k], slot); break;
      case 1: (void)pmemfs_dup3(base[k], slot, O_CLOEXEC); break;
      case 2: {  // closed, then reopened: the lowest free number, which is the slot again
        pmemfs_close(slot);
        const int fd = pmemfs_open(Path(dir, k).c_str(), O_RDWR);
        if (fd != slot) {
          fprintf(stderr, "reopen got %d, not %d\n", fd, slot);
          if (fd >= 0) (void)pmemfs_dup2(fd, slot), pmemfs_close(fd);
        }
        break;
      }
      default:  // closed for a while: the calls see EBADF
        pmemfs_close(slot);
        std::this_thread::yield();
        (void)pmemfs_dup2(base[k], slot);
        break;
    }
    std::this_thread::yield();
  }
  stop = true;
  for (auto& t : workers) t.join();
  reader.join();
  pmemfs_close(slot);
  for (int k = 0; k < kFiles; k++) pmemfs_close(base[k]);
  pmemfs_close(victim);
  bool ok = true;
  for (int k = 0; k < kFiles; k++) ok = CheckFile(Path(dir, k), k) && ok;
  // The victim: its own fill, all of it, and nothing more.
  int fd = open(Path(dir, -1).c_str(), O_RDONLY);
  std::vector<unsigned char> d(kSize + 1);
  const ssize_t n = fd < 0 ? -1 : pread(fd, d.data(), d.size(), 0);
  if (fd >= 0) close(fd);
  if (n != static_cast<ssize_t>(kSize)) ok = false, fprintf(stderr, "v: size %zd\n", n);
  for (uint64_t i = 0; ok && i < kSize; i++)
    if (d[i] != kVictim) ok = false, fprintf(stderr, "v: byte %llu written\n", (unsigned long long)i);
  return ok ? 0 : 1;
}
