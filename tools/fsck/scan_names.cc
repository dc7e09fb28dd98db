// Scan, part 2: the namespace. Every dentry names a live inode of the dentry's type; a directory
// has exactly one name (its parent field names the directory holding it, the root's itself);
// everything is reachable from the root; nlink is the number of names (directories: 2 + their
// subdirectories, as fs/core counts "." and ".."); blocks is what the inode holds. "." and ".."
// are not stored (fs/core synthesises them).
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <deque>

#include "tools/fsck/scan.h"

namespace pmemfs::fsck {

namespace {
std::string InoName(uint64_t ino) { return "inode " + std::to_string(ino); }
}  // namespace

void Scan::DropEdge(size_t i, const std::string& why) {
  Edge& e = edges_[i];
  Problem("directory", "entry '" + e.name + "' in directory " + std::to_string(e.dir) + ": " +
                           why + " (entry dropped)");
  fixes.clear_slots.push_back({e.block, e.slot, e.slots});
  e.dropped = true;
}

void Scan::CheckNamespace() {
  const uint64_t count = sb_.inode_count;
  auto usable = [&](uint64_t ino) {
    return ino >= 1 && ino <= count && nodes_[ino].live && !fixes.free_inodes.count(ino);
  };
  // 1. Targets.
  for (size_t i = 0; i < edges_.size(); i++) {
    Edge& e = edges_[i];
    if (!usable(e.child)) {
      DropEdge(i, "names inode " + std::to_string(e.child) + ", which is not in use or damaged");
      continue;
    }
    if (e.child == layout::kRootIno) {
      DropEdge(i, "names the root directory");
      continue;
    }
    if (e.child == e.dir) {
      DropEdge(i, "names its own directory");
      continue;
    }
    const uint8_t want = DirentType(nodes_[e.child].rec.mode);
    if (e.type != want) {
      Problem("directory", "entry '" + e.name + "' in directory " + std::to_string(e.dir) +
                               ": type " + std::to_string(e.type) + " but inode " +
                               std::to_string(e.child) + " has type " + std::to_string(want) +
                               " (type corrected)");
      std::vector<std::byte> bytes(size_t{e.slots} * layout::kSlotSize);
      layout::DentryHead h{};
      h.ino = e.child;
      h.name_len = static_cast<uint8_t>(e.name.size());
      h.type = want;
      h.slots = e.slots;
      std::memcpy(bytes.data(), &h, sizeof h);
      char* name_at = reinterpret_cast<char*>(bytes.data()) + offsetof(layout::DentryHead, name);
      std::memcpy(name_at, e.name.data(), e.name.size());
      std::memcpy(&h, bytes.data(), sizeof h);
      h.checksum = DentryChecksum(h, name_at);
      std::memcpy(bytes.data(), &h, sizeof h);
      fixes.rewrite_dentries.push_back({e.block, e.slot, std::move(bytes)});
      e.type = want;
    }
    nodes_[e.child].in.push_back(i);
  }

  // 2. Unlinked inodes still allocated (nlink 0, no name). After a crash these are the
  // daemon's orphans (files unlinked while open), which the next mount frees: expected, a note.
  // A cleanly unmounted filesystem has none. Either way the later checks treat them as freed
  // (and a repair frees them).
  const bool crashed = sb_.state == static_cast<uint32_t>(layout::FsState::kDirty);
  for (uint64_t ino = 2; ino <= count; ino++) {
    Node& n = nodes_[ino];
    if (!usable(ino) || n.rec.nlink != 0 || !n.in.empty()) continue;
    if (crashed)
      report_.notes.push_back(InoName(ino) + ": an orphan (unlinked while open when the " +
                              "filesystem went down); the next mount frees it");
    else
      Problem("inode", InoName(ino) + ": unlinked but still allocated (freed)");
    fixes.free_inodes.insert(ino);
  }
  // Names held by directories being freed do not count.
  for (Edge& e : edges_)
    if (fixes.free_inodes.count(e.dir)) e.dropped = true;
  for (uint64_t ino = 1; ino <= count; ino++) {
    auto& in = nodes_[ino].in;
    in.erase(std::remove_if(in.begin(), in.end(), [&](size_t i) { return edges_[i].dropped; }),
             in.end());
  }

  // 3. One name per directory: keep the one in the directory its parent field names.
  for (uint64_t ino = 2; ino <= count; ino++) {
    Node& n = nodes_[ino];
    if (!usable(ino) || !n.is_dir || n.in.size() < 2) continue;
    size_t keep = n.in[0];
    for (size_t i : n.in)
      if (edges_[i].dir == n.rec.parent) {
        keep = i;
        break;
      }
    for (size_t i : n.in)
      if (i != keep)
        DropEdge(i, "a second name of directory " + std::to_string(ino) +
                        " (a directory has one parent)");
    n.in = {keep};
  }

  // 4. Reachability from the root; what is cut off goes to /lost+found.
  std::vector<std::vector<size_t>> out(count + 1);
  for (size_t i = 0; i < edges_.size(); i++)
    if (!edges_[i].dropped) out[edges_[i].dir].push_back(i);
  std::vector<bool> reached(count + 1, false);
  auto reach = [&](uint64_t from) {
    std::deque<uint64_t> todo{from};
    reached[from] = true;
    while (!todo.empty()) {
      const uint64_t d = todo.front();
      todo.pop_front();
      for (size_t i : out[d]) {
        const uint64_t c = edges_[i].child;
        if (reached[c]) continue;
        reached[c] = true;
        if (nodes_[c].is_dir) todo.push_back(c);
      }
    }
  };
  reach(layout::kRootIno);
  std::set<uint64_t> attached;
  auto attach = [&](uint64_t ino, const std::string& why) {
    Problem("directory", InoName(ino) + " " + why + " (moved to /lost+found)");
    fixes.to_lost_found.push_back(ino);
    attached.insert(ino);
    reach(ino);
  };
  for (uint64_t ino = 2; ino <= count; ino++)
    if (usable(ino) && !reached[ino] && nodes_[ino].in.empty())
      attach(ino, "has no name: not reachable from the root");
  // What is left unreached hangs off a loop of directories naming each other: cut each loop at
  // its lowest directory.
  for (uint64_t ino = 2; ino <= count; ino++) {
    if (!usable(ino) || reached[ino] || !nodes_[ino].is_dir) continue;
    for (size_t i : nodes_[ino].in) DropEdge(i, "part of a directory loop cut off from the root");
    nodes_[ino].in.clear();
    attach(ino, "is in a directory loop not reachable from the root");
  }

  // 5. Parent fields.
  for (uint64_t ino = 1; ino <= count; ino++) {
    Node& n = nodes_[ino];
    if (!usable(ino) || !n.is_dir || attached.count(ino)) continue;
    const uint64_t want = ino == layout::kRootIno ? layout::kRootIno
                          : n.in.empty()         ? n.rec.parent
                                                 : edges_[n.in[0]].dir;
    if (n.rec.parent != want) {
      Problem("directory", "directory " + std::to_string(ino) + ": parent field says " +
                               std::to_string(n.rec.parent) + ", it is named in " +
                               std::to_string(want) + " (corrected)");
      fixes.patches[ino].parent = want;
    }
  }
  attached_ = std::move(attached);
}

void Scan::CheckLinks() {
  const uint64_t count = sb_.inode_count;
  for (const Edge& e : edges_)
    if (!e.dropped && nodes_[e.child].is_dir && nodes_[e.child].live) nodes_[e.dir].subdirs++;
  for (uint64_t ino = 1; ino <= count; ino++) {
    Node& n = nodes_[ino];
    if (!n.live || fixes.free_inodes.count(ino)) continue;
    const uint64_t names = n.in.size() + (attached_.count(ino) ? 1 : 0);
    const uint64_t want = n.is_dir ? 2 + n.subdirs : names;
    if (n.rec.nlink != want) {
      Problem("link", InoName(ino) + ": link count " + std::to_string(n.rec.nlink) + ", should be " +
                          std::to_string(want) + " (corrected)");
      fixes.patches[ino].nlink = static_cast<uint32_t>(want);
    }
    const uint64_t blocks = n.chain_blocks + n.data_refs;
    if (n.rec.blocks != blocks) {
      Problem("inode", InoName(ino) + ": records " + std::to_string(n.rec.blocks) +
                           " blocks but holds " + std::to_string(blocks) + " (corrected)");
      fixes.patches[ino].blocks = blocks;
    }
  }
}

}  // namespace pmemfs::fsck
