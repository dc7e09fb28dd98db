// op.h: the operations pmemfs-fsx applies, their one-line text form and their random generation.
//
// An Op is self-contained: its data comes from its own seed, its paths are relative to the tree
// root, and open files are named by slot. So any subsequence of a log can be replayed on a fresh
// tree (what shrinking does), and a log written by Format() reads back with Parse():
//
//   write path=d0/f1 off=4090 len=17 seed=12
//   rename path=f0 path2=d1/f2 flags=1
//   fdwrite slot=1 off=0 len=5000 seed=9
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace fsx {

enum class Kind {
  kCreate,       // open(path, O_CREAT|O_WRONLY [|O_EXCL if flags]) and close
  kWrite,        // pwrite through a fresh O_WRONLY open of path
  kRead,         // pread through a fresh O_RDONLY open of path (compares the bytes)
  kTruncate,     // truncate(path, len)
  kFallocate,    // fallocate(flags = FALLOC_FL_* mode, off, len)
  kRename,       // renameat2(path, path2, flags = RENAME_*)
  kLink,         // link(path, path2)
  kUnlink,       // unlink(path)
  kMkdir,        // mkdir(path, flags = mode)
  kRmdir,        // rmdir(path)
  kSymlink,      // symlink(target = path2, path)
  kSetXattr,     // lsetxattr(path, name, value of len bytes from seed, flags = XATTR_*)
  kRemoveXattr,  // lremovexattr(path, name)
  kChmod,        // chmod(path, flags = mode)
  kMmapWrite,    // MAP_SHARED write of len bytes at off (extends the file first), msync, munmap
  kFsync,        // open(path, O_RDONLY), fsync (flags = 1: fdatasync), close
  kCopyRange,    // copy_file_range(path@off -> path2@off2, len), path2 created if missing
  kOpen,         // slot = open(path, flags = O_*), closing what the slot held
  kClose,        // close(slot)
  kFdWrite,      // pwrite(slot, off, len bytes from seed): reaches unlinked and renamed files
  kFdRead,       // pread(slot, off, len)
  kFdTruncate,   // ftruncate(slot, len)
  kFdSync,       // fsync(slot)
  kChown,        // lchown(path, uid = off, gid = off2); 4294967295 leaves one unchanged
  kAppend,       // write of len bytes from seed through a fresh O_WRONLY|O_APPEND open of path
  kCount,
};

constexpr int kSlots = 3;

struct Op {
  Kind kind = Kind::kCreate;
  std::string path;
  std::string path2;
  std::string name;  // xattr name
  uint64_t off = 0;
  uint64_t len = 0;
  uint64_t off2 = 0;
  uint64_t seed = 0;
  uint64_t flags = 0;
  int slot = 0;
};

const char* KindName(Kind kind);

// Format: the one-line text form. Parse: its inverse; an error message on bad input.
std::string Format(const Op& op);
std::optional<Op> Parse(const std::string& line, std::string* error);

// Pattern: len bytes determined by (seed, position), so overlapping writes stay distinguishable.
std::string Pattern(uint64_t seed, uint64_t off, uint64_t len);

// An entry of the reference tree, for the generator to pick existing objects.
struct Entry {
  std::string path;
  char type;  // 'f' file, 'd' directory, 'l' symlink, '?' other
};

struct GenOptions {
  uint64_t max_len = 256 * 1024;  // most offsets and sizes stay below this
};

// Generator: a seeded stream of random ops, biased toward objects that exist (given as the
// reference tree's entries before each step).
class Generator {
 public:
  Generator(uint64_t seed, GenOptions options);
  // Next: entries are the reference tree's, open_slots which slots hold an open file there.
  Op Next(const std::vector<Entry>& entries, const bool (&open_slots)[kSlots]);

 private:
  uint64_t Below(uint64_t n);  // uniform in [0, n)
  bool Chance(double p);
  std::string RandomPath(const std::vector<Entry>& entries);
  std::string PickPath(const std::vector<Entry>& entries, char type);  // type 0: any
  uint64_t Offset();
  uint64_t Length();
  uint64_t Mode(bool dir);

  std::mt19937_64 rng_;
  GenOptions options_;
};

}  // namespace fsx
