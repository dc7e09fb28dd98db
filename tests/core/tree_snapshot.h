// The whole tree of a mounted Filesystem as a comparable value, for the crash tests: every path
// with its type, mode, links, and (regular files) size and a checksum of the bytes, (symlinks)
// the target, and the xattrs' names and value checksums. Render leaves out the size and bytes of
// chosen inodes (data a crash may legitimately tear or lose).
#pragma once

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

#include "fs/core/fs.h"
#include "pmemfs/crc32c.h"

namespace pmemfs::core::testing {

struct TreeEntry {
  uint64_t ino = 0;
  uint32_t mode = 0;
  uint32_t nlink = 0;
  uint64_t size = 0;
  uint64_t hash = 0;  // regular files: of the bytes (std::hash: fast, files may be large)
  std::string target;
  std::map<std::string, uint32_t> xattrs;  // name -> crc of the value
};
using Tree = std::map<std::string, TreeEntry>;

// The inode `path` ("" is the root) names, dropping the lookup references it takes.
inline Result<uint64_t> ResolvePath(Filesystem& fs, const std::string& path) {
  static const Caller root{0, 0, 022};
  uint64_t ino = kRootIno;
  std::stringstream ss(path);
  std::string part;
  while (std::getline(ss, part, '/')) {
    if (part.empty()) continue;
    PMEMFS_ASSIGN_OR_RETURN(Attr a, fs.Lookup(root, ino, part));
    fs.Forget(a.ino, 1);  // as the kernel does, sooner or later
    ino = a.ino;
  }
  return ino;
}

namespace internal {
inline void WalkTree(Filesystem& fs, uint64_t dir, const std::string& prefix, Tree& t) {
  std::map<std::string, uint64_t> kids;
  Status st = fs.ReadDir(dir, 0, [&](const DirEntry& e) {
    if (e.name != "." && e.name != ".." && !(dir == kRootIno && e.name == "ram"))
      kids[std::string(e.name)] = e.ino;
    return true;
  });
  EXPECT_TRUE(st.ok()) << "readdir " << prefix << ": " << st.message();
  for (const auto& [name, ino] : kids) {
    const std::string path = prefix.empty() ? name : prefix + "/" + name;
    auto a = fs.GetAttr(ino);
    EXPECT_TRUE(a.ok()) << "getattr " << path << ": " << a.status().message();
    if (!a.ok()) continue;
    TreeEntry e;
    e.ino = ino;
    e.mode = a->mode;
    e.nlink = a->nlink;
    e.size = a->size;
    if (S_ISREG(a->mode)) {
      mapping::ReadRef ref;
      Status rs = fs.Read(ino, 0, a->size, &ref);
      EXPECT_TRUE(rs.ok()) << "read " << path << ": " << rs.message();
      const auto b = ref.ToBytes();
      EXPECT_EQ(b.size(), a->size) << path;
      e.hash = std::hash<std::string_view>()(
          std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
    } else if (S_ISLNK(a->mode)) {
      auto l = fs.ReadLink(ino);
      EXPECT_TRUE(l.ok()) << "readlink " << path << ": " << l.status().message();
      if (l.ok()) e.target = *l;
    }
    auto names = fs.ListXattr(ino);
    EXPECT_TRUE(names.ok()) << "listxattr " << path << ": " << names.status().message();
    if (names.ok())
      for (const std::string& n : *names) {
        auto v = fs.GetXattr(ino, n);
        EXPECT_TRUE(v.ok()) << "getxattr " << path << " " << n << ": " << v.status().message();
        if (v.ok()) e.xattrs[n] = Crc32c(v->data(), v->size());
      }
    t[path] = e;
    if (S_ISDIR(a->mode)) WalkTree(fs, ino, path, t);
  }
}
}  // namespace internal

// The whole tree under directory `dir` (without the RAM directory), paths relative to it;
// errors of the walk fail the test.
inline Tree SnapshotTree(Filesystem& fs, uint64_t dir = kRootIno) {
  Tree t;
  internal::WalkTree(fs, dir, "", t);
  return t;
}

// The tree in text, leaving out size and bytes of the inodes in `skip_data`.
inline std::string RenderTree(const Tree& t, const std::set<uint64_t>& skip_data) {
  std::ostringstream o;
  for (const auto& [path, e] : t) {
    o << path << " mode=" << std::oct << e.mode << std::dec << " nlink=" << e.nlink;
    if (S_ISREG(e.mode) && !skip_data.count(e.ino)) o << " size=" << e.size << " hash=" << e.hash;
    if (S_ISLNK(e.mode)) o << " -> crc " << Crc32c(e.target.data(), e.target.size());
    for (const auto& [n, c] : e.xattrs) o << " " << n << "=" << c;
    o << "\n";
  }
  return o.str();
}

}  // namespace pmemfs::core::testing
