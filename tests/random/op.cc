// op.cc: text form and random generation of pmemfs-fsx operations (see op.h).
#include "op.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cstring>
#include <sstream>

namespace fsx {
namespace {

// Which fields a kind uses, in the order Format() prints them.
enum Field : unsigned {
  kPath = 1, kPath2 = 2, kName = 4, kOff = 8, kLen = 16, kOff2 = 32, kSeed = 64, kFlags = 128,
  kSlot = 256,
};

struct KindInfo {
  const char* name;
  unsigned fields;
  bool octal_flags;  // flags is a mode
};

constexpr KindInfo kKinds[] = {
    {"create", kPath | kFlags, false},
    {"write", kPath | kOff | kLen | kSeed, false},
    {"read", kPath | kOff | kLen, false},
    {"truncate", kPath | kLen, false},
    {"fallocate", kPath | kFlags | kOff | kLen, false},
    {"rename", kPath | kPath2 | kFlags, false},
    {"link", kPath | kPath2, false},
    {"unlink", kPath, false},
    {"mkdir", kPath | kFlags, true},
    {"rmdir", kPath, false},
    {"symlink", kPath | kPath2, false},
    {"setxattr", kPath | kName | kLen | kSeed | kFlags, false},
    {"removexattr", kPath | kName, false},
    {"chmod", kPath | kFlags, true},
    {"mmapwrite", kPath | kOff | kLen | kSeed, false},
    {"fsync", kPath | kFlags, false},
    {"copy", kPath | kPath2 | kOff | kOff2 | kLen, false},
    {"open", kSlot | kPath | kFlags, false},
    {"close", kSlot, false},
    {"fdwrite", kSlot | kOff | kLen | kSeed, false},
    {"fdread", kSlot | kOff | kLen, false},
    {"fdtruncate", kSlot | kLen, false},
    {"fdsync", kSlot, false},
    {"chown", kPath | kOff | kOff2, false},
    {"append", kPath | kLen | kSeed, false},
};
static_assert(std::size(kKinds) == static_cast<size_t>(Kind::kCount));

const KindInfo& Info(Kind k) { return kKinds[static_cast<int>(k)]; }

// Paths come from a small pool so that operations collide: names reused across types, renames
// over existing objects, links into directories that come and go.
constexpr const char* kDirNames[] = {"d0", "d1", "d2"};
constexpr const char* kLeafNames[] = {"f0", "f1", "f2", "f3", "f4", "d0", "d1", "d2"};
constexpr const char* kXattrNames[] = {"user.a", "user.b", "user.long.name.c", "trusted.t"};

uint64_t Mix(uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

bool ParseNumber(const std::string& s, uint64_t* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  *out = strtoull(s.c_str(), &end, 0);
  return errno == 0 && *end == '\0';
}

}  // namespace

const char* KindName(Kind kind) { return Info(kind).name; }

std::string Format(const Op& op) {
  const KindInfo& info = Info(op.kind);
  std::ostringstream out;
  out << info.name;
  if (info.fields & kSlot) out << " slot=" << op.slot;
  if (info.fields & kPath) out << " path=" << op.path;
  if (info.fields & kPath2) out << " path2=" << op.path2;
  if (info.fields & kName) out << " name=" << op.name;
  if (info.fields & kOff) out << " off=" << op.off;
  if (info.fields & kOff2) out << " off2=" << op.off2;
  if (info.fields & kLen) out << " len=" << op.len;
  if (info.fields & kSeed) out << " seed=" << op.seed;
  if (info.fields & kFlags) {
    if (info.octal_flags) out << " flags=0" << std::oct << op.flags << std::dec;
    else out << " flags=" << op.flags;
  }
  return out.str();
}

std::optional<Op> Parse(const std::string& line, std::string* error) {
  std::istringstream in(line);
  std::string word;
  if (!(in >> word)) {
    *error = "empty line";
    return std::nullopt;
  }
  Op op;
  int k = 0;
  for (; k < static_cast<int>(Kind::kCount); k++)
    if (word == kKinds[k].name) break;
  if (k == static_cast<int>(Kind::kCount)) {
    *error = "unknown operation '" + word + "'";
    return std::nullopt;
  }
  op.kind = static_cast<Kind>(k);
  unsigned seen = 0;
  while (in >> word) {
    const size_t eq = word.find('=');
    if (eq == std::string::npos) {
      *error = "expected key=value, got '" + word + "'";
      return std::nullopt;
    }
    const std::string key = word.substr(0, eq), value = word.substr(eq + 1);
    unsigned field = 0;
    uint64_t* number = nullptr;
    if (key == "path") { field = kPath; op.path = value; }
    else if (key == "path2") { field = kPath2; op.path2 = value; }
    else if (key == "name") { field = kName; op.name = value; }
    else if (key == "off") { field = kOff; number = &op.off; }
    else if (key == "off2") { field = kOff2; number = &op.off2; }
    else if (key == "len") { field = kLen; number = &op.len; }
    else if (key == "seed") { field = kSeed; number = &op.seed; }
    else if (key == "flags") { field = kFlags; number = &op.flags; }
    else if (key == "slot") {
      uint64_t slot;
      if (!ParseNumber(value, &slot) || slot >= kSlots) {
        *error = "slot must be 0.." + std::to_string(kSlots - 1) + ", got '" + value + "'";
        return std::nullopt;
      }
      field = kSlot;
      op.slot = static_cast<int>(slot);
    }
    if (!(field & Info(op.kind).fields)) {
      *error = "'" + key + "' is not a field of " + KindName(op.kind);
      return std::nullopt;
    }
    if (number && !ParseNumber(value, number)) {
      *error = "'" + key + "' needs a number, got '" + value + "'";
      return std::nullopt;
    }
    if ((field & (kPath | kPath2)) && (value.empty() || value[0] == '/' ||
                                       value.find("..") != std::string::npos)) {
      *error = "paths are relative and stay in the tree, got '" + value + "'";
      return std::nullopt;
    }
    seen |= field;
  }
  const unsigned missing = Info(op.kind).fields & ~seen & (kPath | kPath2 | kName);
  if (missing) {
    *error = std::string(KindName(op.kind)) + " needs path, path2 and name where it uses them";
    return std::nullopt;
  }
  if (op.len > (64u << 20) || op.off > (1ull << 40) || op.off2 > (1ull << 40)) {
    *error = "len above 64 MiB or offset above 1 TiB";
    return std::nullopt;
  }
  return op;
}

std::string Pattern(uint64_t seed, uint64_t off, uint64_t len) {
  std::string data(len, '\0');
  for (uint64_t i = 0; i < len; i++) {
    const uint64_t pos = off + i;
    data[i] = static_cast<char>(Mix(seed * 0x100000001b3ull ^ (pos >> 3)) >> (8 * (pos & 7)));
  }
  return data;
}

Generator::Generator(uint64_t seed, GenOptions options) : rng_(seed), options_(options) {}

uint64_t Generator::Below(uint64_t n) { return n == 0 ? 0 : rng_() % n; }
bool Generator::Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }

std::string Generator::RandomPath(const std::vector<Entry>& entries) {
  std::string parent;
  if (Chance(0.8)) {  // under the root or a directory that exists (not too deep: collisions)
    std::vector<const Entry*> dirs;
    for (const Entry& e : entries)
      if (e.type == 'd' && std::count(e.path.begin(), e.path.end(), '/') < 2) dirs.push_back(&e);
    const uint64_t i = Below(dirs.size() + 1);
    if (i < dirs.size()) parent = dirs[i]->path + "/";
  } else {
    const uint64_t r = Below(10);
    const int depth = r < 6 ? 0 : r < 9 ? 1 : 2;
    for (int i = 0; i < depth; i++) parent += std::string(kDirNames[Below(std::size(kDirNames))]) + "/";
  }
  return parent + kLeafNames[Below(std::size(kLeafNames))];
}

std::string Generator::PickPath(const std::vector<Entry>& entries, char type) {
  if (Chance(0.85)) {
    std::vector<const Entry*> fit;
    for (const Entry& e : entries)
      if (type == 0 || e.type == type) fit.push_back(&e);
    if (!fit.empty()) return fit[Below(fit.size())]->path;
  }
  return RandomPath(entries);
}

uint64_t Generator::Offset() {
  const uint64_t r = Below(20);
  const uint64_t max = options_.max_len;
  if (r < 3) return 0;
  if (r < 7) return Below(max / 4096 + 1) * 4096 + Below(9) - 4;  // around a block boundary
  if (r < 8) return max + Below(8 * max);                          // far out: a sparse tail
  return Below(max);
}

uint64_t Generator::Length() {
  const uint64_t r = Below(20);
  if (r < 9) return 1 + Below(512);
  if (r < 15) return 1 + Below(16 * 1024);
  if (r < 17) return 4096 * (1 + Below(16));
  return 1 + Below(128 * 1024);
}

uint64_t Generator::Mode(bool dir) {
  constexpr uint64_t kCommon[] = {0644, 0600, 0755, 0700, 0444, 0000, 0777, 01777, 02755, 04755};
  if (Chance(0.7)) return kCommon[Below(std::size(kCommon))] | (dir ? 0700 : 0);
  return Below(07777 + 1);
}

Op Generator::Next(const std::vector<Entry>& entries, const bool (&open_slots)[kSlots]) {
  // Relative weights of the kinds, in Kind order.
  static constexpr int kWeights[] = {
      6,   // create
      14,  // write
      4,   // read
      5,   // truncate
      8,   // fallocate
      7,   // rename
      3,   // link
      4,   // unlink
      4,   // mkdir
      3,   // rmdir
      2,   // symlink
      4,   // setxattr
      2,   // removexattr
      3,   // chmod
      4,   // mmapwrite
      2,   // fsync
      4,   // copy
      4,   // open
      2,   // close
      6,   // fdwrite
      2,   // fdread
      2,   // fdtruncate
      1,   // fdsync
      2,   // chown
      4,   // append
  };
  static_assert(std::size(kWeights) == static_cast<size_t>(Kind::kCount));
  int total = 0;
  for (int w : kWeights) total += w;
  int pick = static_cast<int>(Below(total)), k = 0;
  while (pick >= kWeights[k]) pick -= kWeights[k++];

  Op op;
  op.kind = static_cast<Kind>(k);
  op.seed = 1 + Below(1u << 30);
  op.slot = static_cast<int>(Below(kSlots));
  // Keep the tree populated and the slots mostly open, or most ops would fail with ENOENT/EBADF.
  size_t files = 0;
  for (const Entry& e : entries) files += e.type == 'f';
  if (files < 4 && Chance(0.3)) op.kind = Kind::kCreate;
  const bool fd_op = op.kind == Kind::kFdWrite || op.kind == Kind::kFdRead ||
                     op.kind == Kind::kFdTruncate || op.kind == Kind::kFdSync;
  if (fd_op && !open_slots[op.slot] && Chance(0.8)) op.kind = Kind::kOpen;
  switch (op.kind) {
    case Kind::kCreate:
      op.path = Chance(0.5) ? RandomPath(entries) : PickPath(entries, 0);
      op.flags = Chance(0.3);
      break;
    case Kind::kWrite:
    case Kind::kMmapWrite:
    case Kind::kFdWrite:
      op.path = PickPath(entries, 'f');
      op.off = Offset();
      op.len = Length();
      if (op.kind == Kind::kMmapWrite && op.off > options_.max_len) op.off %= options_.max_len;
      break;
    case Kind::kRead:
    case Kind::kFdRead:
      op.path = PickPath(entries, 'f');
      op.off = Offset();
      op.len = Length();
      break;
    case Kind::kTruncate:
    case Kind::kFdTruncate:
      op.path = PickPath(entries, 'f');
      op.len = Chance(0.2) ? 0 : Offset();
      break;
    case Kind::kFallocate: {
      op.path = PickPath(entries, 'f');
      op.off = Offset();
      op.len = Length() + (Chance(0.3) ? Below(256 * 1024) : 0);
      constexpr uint64_t kModes[] = {
          0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
          FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, FALLOC_FL_ZERO_RANGE,
          FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE};
      op.flags = kModes[Below(std::size(kModes))];
      break;
    }
    case Kind::kRename: {
      op.path = PickPath(entries, 0);
      op.path2 = Chance(0.5) ? PickPath(entries, 0) : RandomPath(entries);
      const uint64_t r = Below(10);
      op.flags = r < 7 ? 0 : r < 9 ? RENAME_NOREPLACE : RENAME_EXCHANGE;
      break;
    }
    case Kind::kLink:
      op.path = PickPath(entries, 'f');
      op.path2 = Chance(0.8) ? RandomPath(entries) : PickPath(entries, 0);
      break;
    case Kind::kUnlink:
      op.path = PickPath(entries, Chance(0.8) ? 'f' : 0);
      break;
    case Kind::kMkdir:
      op.path = RandomPath(entries);
      op.flags = Mode(true);
      break;
    case Kind::kRmdir:
      op.path = PickPath(entries, 'd');
      break;
    case Kind::kSymlink:
      op.path = RandomPath(entries);
      op.path2 = Chance(0.7) ? PickPath(entries, 0) : RandomPath(entries);
      break;
    case Kind::kSetXattr: {
      op.path = PickPath(entries, 0);
      op.name = kXattrNames[Below(std::size(kXattrNames))];
      op.len = Chance(0.8) ? Below(200) : Below(3762);  // pmemfs: values up to 3761 bytes
      const uint64_t r = Below(6);
      op.flags = r < 4 ? 0 : r < 5 ? XATTR_CREATE : XATTR_REPLACE;
      break;
    }
    case Kind::kRemoveXattr:
      op.path = PickPath(entries, 0);
      op.name = kXattrNames[Below(std::size(kXattrNames))];
      break;
    case Kind::kChmod:
      op.path = PickPath(entries, 0);
      op.flags = Mode(false);
      break;
    case Kind::kFsync:
      op.path = PickPath(entries, 0);
      op.flags = Below(2);
      break;
    case Kind::kCopyRange:
      op.path = PickPath(entries, 'f');
      op.path2 = Chance(0.8) ? PickPath(entries, 'f') : RandomPath(entries);
      op.off = Chance(0.5) ? Below(options_.max_len / 4096) * 4096 : Offset();
      op.off2 = Chance(0.5) ? Below(options_.max_len / 4096) * 4096 : Offset();
      op.len = Chance(0.5) ? 4096 * (1 + Below(32)) : Length();
      break;
    case Kind::kOpen: {
      op.path = PickPath(entries, Chance(0.9) ? 'f' : 0);
      constexpr uint64_t kFlags[] = {O_RDWR, O_RDWR, O_RDWR | O_APPEND, O_RDWR | O_CREAT,
                                     O_RDWR | O_TRUNC, O_RDONLY, O_WRONLY};
      op.flags = kFlags[Below(std::size(kFlags))];
      break;
    }
    case Kind::kChown: {
      op.path = PickPath(entries, 0);
      constexpr uint64_t kIds[] = {0, 0, 1000, 65534, 4294967295u};
      op.off = kIds[Below(std::size(kIds))];
      op.off2 = kIds[Below(std::size(kIds))];
      break;
    }
    case Kind::kAppend:
      op.path = PickPath(entries, 'f');
      op.len = Length();
      break;
    case Kind::kClose:
    case Kind::kFdSync:
    case Kind::kCount:
      break;
  }
  return op;
}

}  // namespace fsx
