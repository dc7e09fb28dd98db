// Crash consistency of the store: a workload of 15 transactions (inode writes, allocations and
// frees, chain appends and removals, descriptor updates) is cut at every persist point; after the
// simulated power loss Store::Open must succeed and show exactly the state after the
// transactions whose Commit had returned (or one more, when the cut fell after the next one's
// commit point). A second crash at every persist point of that recovery must change nothing.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>
#include <dirent.h>
#include <functional>
#include <iostream>
#include <sstream>
#include <string_view>

#include "fs/store/store.h"
#include "pmemfs/crc32c.h"
#include "store_test_support.h"

namespace pmemfs::store {
namespace {

using layout::InodeRecord;
using testing::FileRecord;
using testing::SimDevice;
using testing::SimSetup;

constexpr uint64_t kInos = 40;          // the workload uses inodes below this
constexpr uint64_t kDataWindow = 512;   // and data blocks within this many of data_start

// What a crash must preserve, captured through the store's API and as raw bytes.
struct State {
  size_t bytes_hash = 0;  // inode table, bitmap and the data window
  uint64_t free_blocks = 0;
  uint64_t free_inodes = 0;
  std::vector<std::string> inodes;                 // record bytes, "" when free
  std::vector<std::vector<uint64_t>> chains;       // per inode: map chain, 0, xattr chain
  std::vector<mapping::PageInfo> descriptors;      // pages of the data window
  std::vector<uint64_t> orphans, truncating;       // what Open reports (derived from records)
  bool operator==(const State&) const = default;
};

std::string Diff(const State& a, const State& b) {
  std::ostringstream o;
  if (a.bytes_hash != b.bytes_hash) o << "bytes ";
  if (a.free_blocks != b.free_blocks) o << "free_blocks " << a.free_blocks << "/" << b.free_blocks << " ";
  if (a.free_inodes != b.free_inodes) o << "free_inodes " << a.free_inodes << "/" << b.free_inodes << " ";
  for (size_t i = 0; i < a.inodes.size() && i < b.inodes.size(); i++)
    if (a.inodes[i] != b.inodes[i]) o << "inode " << i + 1 << " ";
  if (a.chains != b.chains) o << "chains ";
  if (a.descriptors != b.descriptors) o << "descriptors ";
  if (a.orphans != b.orphans || a.truncating != b.truncating) o << "orphans/truncating ";
  return o.str();
}

State Capture(const Store& s, const mapping::PageDescriptors* pd) {
  const layout::Superblock& sb = s.superblock();
  State st;
  const uint64_t from = Store::BlockOffset(sb.inode_start);
  const uint64_t to = Store::BlockOffset(sb.data_start + std::min(kDataWindow, sb.data_blocks));
  std::string bytes(to - from, '\0');
  s.device().Read(from, bytes.data(), bytes.size());
  st.bytes_hash = std::hash<std::string_view>()(bytes);
  st.free_blocks = s.stats().free_blocks;
  st.free_inodes = s.stats().free_inodes;
  for (uint64_t ino = 1; ino < kInos; ino++) {
    auto r = s.ReadInode(ino);
    EXPECT_TRUE(r.ok() || r.status().code() == Code::kNotFound) << r.status().message();
    st.inodes.push_back(r.ok() ? std::string(reinterpret_cast<const char*>(&*r), sizeof *r) : "");
    if (!r.ok()) continue;
    if (r->nlink == 0 && ino != layout::kRootIno) st.orphans.push_back(ino);
    if (r->flags & layout::kInodeTruncating) st.truncating.push_back(ino);
    std::vector<uint64_t> chain;
    auto walk = [&](uint64_t head, ChainKind kind) {
      Status w = s.ForEachChainBlock(head, kind, ino, [&](uint64_t b, const std::byte*) {
        chain.push_back(b);
        return Status::Ok();
      });
      EXPECT_TRUE(w.ok()) << w.message();
    };
    walk(r->map_head, S_ISDIR(r->mode) ? ChainKind::kDentries : ChainKind::kExtents);
    chain.push_back(0);
    walk(r->xattr_head, ChainKind::kXattrs);
    st.chains.push_back(chain);
  }
  if (pd)
    for (uint64_t b = sb.data_start; b < sb.data_start + kDataWindow; b++)
      st.descriptors.push_back(pd->Get(b));
  return st;
}

InodeRecord DirRecord(uint64_t parent) {
  InodeRecord r = FileRecord();
  r.mode = S_IFDIR | 0755;
  r.nlink = 2;
  r.parent = parent;
  return r;
}

// The 15 transactions. `committed` runs after each Commit returns.
void Workload(Store& s, bool descriptors, const std::function<void()>& committed) {
  auto commit = [&](Tx& tx) {
    Status st = s.Commit(tx);
    ASSERT_TRUE(st.ok()) << st.message();
    committed();
  };
  auto reserve = [&](Tx& tx, InodeRecord& rec) {
    uint64_t gen = 0;
    auto ino = s.ReserveInode(tx, &gen);
    EXPECT_TRUE(ino.ok());
    rec.generation = gen + 1;
    return ino.ok() ? *ino : 0;
  };
  auto append = [&](Tx& tx, uint64_t ino, InodeRecord& rec, ChainKind kind) {
    auto b = s.AppendChainBlock(tx, ino, rec, kind);
    EXPECT_TRUE(b.ok()) << b.status().message();
    return b.ok() ? *b : 0;
  };
  auto seal = [](auto v) {
    v.checksum = StructChecksum(v);
    return v;
  };

  // 1. A file.
  InodeRecord ra = FileRecord();
  uint64_t a;
  {
    Tx t = s.Begin();
    a = reserve(t, ra);
    s.WriteInode(t, a, ra);
    commit(t);
  }
  // 2. Two extent blocks, eight data blocks (with descriptors and some data), the extent.
  uint64_t e1, e2;
  BlockRange data;
  layout::ExtentRecord x{};
  {
    Tx t = s.Begin();
    e1 = append(t, a, ra, ChainKind::kExtents);
    e2 = append(t, a, ra, ChainKind::kExtents);
    auto r = s.AllocBlocks(t, 8);
    ASSERT_TRUE(r.ok());
    data = *r;
    x = seal(layout::ExtentRecord{.file_block = 0, .dev_block = data.start,
                                  .length = static_cast<uint32_t>(data.count)});
    t.Put(Store::SlotOffset(e1, 0), x);
    if (descriptors)
      for (uint64_t i = 0; i < data.count; i++)
        t.SetDescriptor(data.start + i, {.owner = a, .file_index = i, .refcount = 1,
                                         .flags = layout::kPageAllocated});
    const std::vector<uint8_t> bytes(2 * layout::kBlockSize, 0x5a);
    t.Write(Store::BlockOffset(data.start), bytes.data(), static_cast<uint32_t>(bytes.size()));
    ra.size = data.count * layout::kBlockSize;
    ra.blocks += data.count;
    s.WriteInode(t, a, ra);
    commit(t);
  }
  // 3. A directory, linked from the root's first dentry block.
  InodeRecord rd = DirRecord(layout::kRootIno);
  InodeRecord root = s.ReadInode(layout::kRootIno).value();
  uint64_t d, root_block;
  {
    Tx t = s.Begin();
    d = reserve(t, rd);
    append(t, d, rd, ChainKind::kDentries);
    root_block = append(t, layout::kRootIno, root, ChainKind::kDentries);
    layout::DentryHead h{.ino = d, .name_len = 3, .type = DT_DIR, .slots = 1};
    std::memcpy(h.name, "dir", 3);
    h.checksum = Crc32c(&h, sizeof h);
    t.Put(Store::SlotOffset(root_block, 0), h);
    root.nlink++;
    s.WriteInode(t, layout::kRootIno, root);
    s.WriteInode(t, d, rd);
    commit(t);
  }
  // 4. Truncate the file by three blocks.
  {
    Tx t = s.Begin();
    s.FreeBlocks(t, {data.start + 5, 3});
    x.length = 5;
    x = seal(x);
    t.Put(Store::SlotOffset(e1, 0), x);
    if (descriptors)
      for (uint64_t i = 5; i < 8; i++) t.SetDescriptor(data.start + i, {});
    ra.blocks -= 3;
    ra.size = 5 * layout::kBlockSize;
    s.WriteInode(t, a, ra);
    commit(t);
  }
  // 5. Two xattr blocks on the directory, in one Tx.
  {
    Tx t = s.Begin();
    for (int i = 0; i < 2; i++) {
      const uint64_t b = append(t, d, rd, ChainKind::kXattrs);
      layout::XattrHead h{.name_len = 4, .value_len = static_cast<uint16_t>(i)};
      h.checksum = Crc32c(&h, sizeof h);
      t.Put(Store::SlotOffset(b, 0), h);
    }
    s.WriteInode(t, d, rd);
    commit(t);
  }
  // 6. The file's extent moves to its second block; the first is removed.
  {
    Tx t = s.Begin();
    t.Put(Store::SlotOffset(e2, 0), x);
    ASSERT_TRUE(s.RemoveChainBlock(t, a, ra, ChainKind::kExtents, 0, e1).ok());
    s.WriteInode(t, a, ra);
    commit(t);
  }
  // 7. A second directory with three dentry blocks, in one Tx.
  InodeRecord rc = DirRecord(layout::kRootIno);
  uint64_t c;
  std::vector<uint64_t> cb;
  {
    Tx t = s.Begin();
    c = reserve(t, rc);
    for (int i = 0; i < 3; i++) cb.push_back(append(t, c, rc, ChainKind::kDentries));
    s.WriteInode(t, c, rc);
    commit(t);
  }
  // 8. Its tail removed.
  {
    Tx t = s.Begin();
    ASSERT_TRUE(s.RemoveChainBlock(t, c, rc, ChainKind::kDentries, cb[1], cb[2]).ok());
    s.WriteInode(t, c, rc);
    commit(t);
  }
  // 9. The file deleted: data, extent chain, inode.
  {
    Tx t = s.Begin();
    s.FreeBlocks(t, {data.start, 5});
    ASSERT_TRUE(s.ForEachChainBlock(ra.map_head, ChainKind::kExtents, a,
                                    [&](uint64_t b, const std::byte*) {
                                      s.FreeBlocks(t, {b, 1});
                                      return Status::Ok();
                                    })
                    .ok());
    if (descriptors)
      for (uint64_t i = 0; i < 5; i++) t.SetDescriptor(data.start + i, {});
    s.FreeInode(t, a);
    commit(t);
  }
  // 10. A new file takes the freed slot (next generation) and gets an extent block.
  InodeRecord re = FileRecord();
  uint64_t e;
  {
    Tx t = s.Begin();
    e = reserve(t, re);
    append(t, e, re, ChainKind::kExtents);
    s.WriteInode(t, e, re);
    commit(t);
  }
  // 11. Twenty more inodes at once.
  {
    Tx t = s.Begin();
    for (int i = 0; i < 20; i++) {
      InodeRecord r = FileRecord(static_cast<uint64_t>(i) * 100);
      const uint64_t ino = reserve(t, r);
      s.WriteInode(t, ino, r);
    }
    commit(t);
  }
  // 12. Blocks allocated and freed in the same Tx, with a record update.
  {
    Tx t = s.Begin();
    auto r = s.AllocBlocks(t, 4);
    ASSERT_TRUE(r.ok());
    s.FreeBlocks(t, *r);
    re.size = 999;
    s.WriteInode(t, e, re);
    commit(t);
  }
  // 13. The directory's first xattr block removed.
  {
    Tx t = s.Begin();
    ASSERT_TRUE(s.RemoveChainBlock(t, d, rd, ChainKind::kXattrs, 0, rd.xattr_head).ok());
    s.WriteInode(t, d, rd);
    commit(t);
  }
  // 14. An orphan and an interrupted truncate.
  {
    Tx t = s.Begin();
    rc.nlink = 0;
    s.WriteInode(t, c, rc);
    re.flags = layout::kInodeTruncating;
    re.pending_size = 10;
    s.WriteInode(t, e, re);
    commit(t);
  }
  // 15. The first directory deleted and unlinked from the root.
  {
    Tx t = s.Begin();
    for (auto [head, kind] : {std::pair{rd.map_head, ChainKind::kDentries},
                              std::pair{rd.xattr_head, ChainKind::kXattrs}}) {
      ASSERT_TRUE(s.ForEachChainBlock(head, kind, d, [&](uint64_t b, const std::byte*) {
                     s.FreeBlocks(t, {b, 1});
                     return Status::Ok();
                   }).ok());
    }
    s.FreeInode(t, d);
    const layout::DentryHead none{};
    t.Put(Store::SlotOffset(root_block, 0), none);
    root.nlink--;
    s.WriteInode(t, layout::kRootIno, root);
    commit(t);
  }
}

// One simulated machine: device, descriptors (pages mode) and store.
struct Machine {
  SimDevice d;
  std::unique_ptr<mapping::PageDescriptors> pd;
  std::unique_ptr<Store> store;

  // Opens the descriptors and the store (recovering both).
  void Open() {
    auto p = mapping::PageDescriptors::Open(*d.dev, mapping::DescriptorPlacement::kDevice);
    ASSERT_TRUE(p.ok()) << p.status().message();
    pd = std::move(p).value();
    auto s = Store::Open(*d.dev, pd.get());
    ASSERT_TRUE(s.ok()) << s.status().message();
    store = std::move(s).value();
    // The bitmap's checksums change in the same transactions as the bitmap: right at every cut.
    EXPECT_TRUE(store->superblock().ro_compat & layout::kRoCompatBitmapChecksums);
    EXPECT_EQ(store->bad_bitmap_blocks(), std::vector<uint64_t>{});
  }
  void Crash(double keep) {
    store.reset();
    pd.reset();
    d.CrashAndReopen(keep);
  }
  uint64_t points() const { return d.sim->persist_points(); }
};

// A device setup and the format options of a crash test.
struct CrashSetup {
  SimSetup sim;
  FormatOptions format;
};
void PrintTo(const CrashSetup& s, std::ostream* os) { *os << s.sim.name; }

std::vector<CrashSetup> CrashSetups() {
  using layout::LayoutKind;
  using mapping::AccessPath;
  return {
      {{"Concat1Linear", LayoutKind::kLinear, 1, AccessPath::kLinear, 8ull << 20}, {}},
      {{"Striped2Translated", LayoutKind::kStriped, 2, AccessPath::kTranslated,
        (4ull << 20) + 4096},
       {}},
      // Two 1 MiB parts (plus a label page at each end) and an inode table that pushes the data
      // area up to the part boundary: commits write both parts, so a drain is two persist points and can be cut in between.
      {{"Concat2Split", LayoutKind::kLinear, 2, AccessPath::kTranslated, (1ull << 20) + 8192},
       {.inode_count = 16 * 180}},
  };
}

// A freshly formatted and opened machine.
Machine Fresh(const CrashSetup& setup) {
  Machine m;
  m.d = testing::MakeFormatted(setup.sim, setup.format);
  m.Open();
  return m;
}

// Runs the workload on `m` with the persisted image frozen `n` persist points after it starts;
// returns the states after 0..15 commits and sets `done` to the commits that returned before the
// image froze.
std::vector<State> RunCut(Machine& m, uint64_t n, size_t* done) {
  std::vector<State> models{Capture(*m.store, m.pd.get())};
  m.d.sim->StopAfter(m.points() + n);
  *done = 0;
  Workload(*m.store, true, [&] {
    models.push_back(Capture(*m.store, m.pd.get()));
    if (!m.d.sim->stopped()) *done = models.size() - 1;
  });
  return models;
}

// Which of models[k], models[k+1] `got` equals (-1: neither).
int Match(const State& got, const std::vector<State>& models, size_t k) {
  if (got == models[k]) return static_cast<int>(k);
  if (k + 1 < models.size() && got == models[k + 1]) return static_cast<int>(k + 1);
  return -1;
}

class StoreCrashTest : public ::testing::TestWithParam<CrashSetup> {
 protected:
  // Persist points of the whole workload.
  uint64_t CountPoints() {
    Machine m = Fresh(GetParam());
    const uint64_t base = m.points();
    size_t commits = 0;
    Workload(*m.store, true, [&] { commits++; });
    EXPECT_EQ(commits, 15u);
    return m.points() - base;
  }
};

TEST_P(StoreCrashTest, EveryPersistPointRecoversToACommittedPrefix) {
  const uint64_t total = CountPoints();
  // Four per commit (stream, commit point, apply, retire; descriptor changes add none), more
  // where a drain persists lines in several parts.
  ASSERT_GE(total, 15u * 4);
  uint64_t states = 0, advanced = 0;
  for (double keep : {0.0, 0.5}) {
    for (uint64_t n = 0; n <= total; n++) {
      SCOPED_TRACE("keep " + std::to_string(keep) + " cut after point " + std::to_string(n));
      Machine m = Fresh(GetParam());
      size_t k = 0;
      std::vector<State> models = RunCut(m, n, &k);
      ASSERT_EQ(models.size(), 16u);
      m.Crash(keep);
      ASSERT_NO_FATAL_FAILURE(m.Open());
      const State got = Capture(*m.store, m.pd.get());
      const int which = Match(got, models, k);
      ASSERT_NE(which, -1) << "after " << k << " commits: " << Diff(got, models[k]);
      if (n == 0) {
        EXPECT_EQ(which, 0);
      }
      if (n == total) {
        EXPECT_EQ(which, 15);
      }
      EXPECT_EQ(m.store->orphans(), got.orphans);
      EXPECT_EQ(m.store->truncating(), got.truncating);
      states++;
      if (which == static_cast<int>(k) + 1) advanced++;
    }
  }
  // Some cuts fall between a commit point and Commit's return.
  EXPECT_GT(advanced, 0u);
  RecordProperty("crash_states", static_cast<int>(states));
  std::cout << "[ crash    ] " << GetParam().sim.name << ": " << states << " crash states ("
            << total << " persist points x 2), " << advanced << " recovered one commit ahead\n";
}

TEST_P(StoreCrashTest, CrashDuringRecoveryRecoversTheSameState) {
  const uint64_t total = CountPoints();
  uint64_t states = 0;
  for (uint64_t n = 0; n <= total; n++) {
    SCOPED_TRACE("cut after point " + std::to_string(n));
    // First the undisturbed recovery: its result and its persist points.
    Machine m = Fresh(GetParam());
    size_t k = 0;
    std::vector<State> models = RunCut(m, n, &k);
    m.Crash(0);
    const uint64_t before = m.points();
    ASSERT_NO_FATAL_FAILURE(m.Open());
    const uint64_t recovery_points = m.points() - before;
    const int expect = Match(Capture(*m.store, m.pd.get()), models, k);
    ASSERT_NE(expect, -1);
    // Then a crash at every persist point of that recovery, and a second recovery.
    for (uint64_t r = 0; r < recovery_points; r++) {
      SCOPED_TRACE("recovery cut after point " + std::to_string(r));
      Machine m2 = Fresh(GetParam());
      size_t k2 = 0;
      std::vector<State> models2 = RunCut(m2, n, &k2);
      ASSERT_EQ(k2, k);
      m2.Crash(0);
      m2.d.sim->StopAfter(m2.points() + r);
      ASSERT_NO_FATAL_FAILURE(m2.Open());
      m2.Crash(0.5);
      ASSERT_NO_FATAL_FAILURE(m2.Open());
      const State got = Capture(*m2.store, m2.pd.get());
      ASSERT_EQ(got, models2[expect]) << Diff(got, models2[expect]);
      states++;
    }
  }
  std::cout << "[ crash    ] " << GetParam().sim.name << ": " << states
            << " crash states inside recovery\n";
}

// A superblock update (label, features, clean/dirty) cut at any persist point, keeping any share
// of the lines it had flushed: mount must find a valid superblock and show the label before or
// after (after, once SetLabel returned). Both copies change in one update; were they written by
// one transaction, a cut while it is applied could tear both, and mount (which reads the
// superblock before it can find and replay the journal) would refuse the device.
TEST_P(StoreCrashTest, SuperblockUpdateCutAnywhereMounts) {
  uint64_t total;
  {
    Machine m = Fresh(GetParam());
    const uint64_t base = m.points();
    ASSERT_TRUE(m.store->SetLabel("after").ok());
    total = m.points() - base;
  }
  uint64_t states = 0;
  for (double keep : {0.0, 0.3, 0.5, 0.7, 1.0}) {
    for (uint64_t n = 0; n <= total; n++) {
      SCOPED_TRACE("keep " + std::to_string(keep) + " cut after point " + std::to_string(n));
      Machine m = Fresh(GetParam());
      ASSERT_TRUE(m.store->SetLabel("before").ok());
      m.d.sim->StopAfter(m.points() + n);
      ASSERT_TRUE(m.store->SetLabel("after").ok());
      const bool acknowledged = n == total;
      m.Crash(keep);
      ASSERT_NO_FATAL_FAILURE(m.Open());
      const std::string label = m.store->label();
      EXPECT_TRUE(label == "after" || (!acknowledged && label == "before")) << label;
      states++;
    }
  }
  std::cout << "[ crash    ] " << GetParam().sim.name << ": " << states
            << " crash states of a superblock update\n";
}

// Page descriptors have no log of their own: the journal carries a transaction's descriptor
// changes and applies them in place under the same drain as its other records. Wherever a crash
// cuts that, replay makes them whole: after the commit point every page reads its new value and
// is valid, also when the in-place writes were torn (real pmem persists 8 bytes at a time, the
// simulator whole lines: the test tears them itself); before it, every page its old value.
TEST_P(StoreCrashTest, DescriptorChangesAreWholeAfterACrash) {
  // 100 pages over the whole table, its last pages included.
  auto changes = [](const Machine& m) {
    std::vector<std::pair<uint64_t, mapping::PageInfo>> out;
    const uint64_t pages = m.pd->page_count();
    for (uint64_t i = 0; i < 100; i++)
      out.push_back({i < 50 ? i * (pages - 50) / 50 : pages - 100 + i,
                     {.owner = 100 + i, .file_index = i, .refcount = 1,
                      .flags = layout::kPageAllocated}});
    return out;
  };
  auto commit = [&](Machine& m) {
    Tx tx = m.store->Begin();
    m.store->WriteInode(tx, 5, FileRecord());  // applied under the same drain
    for (const auto& [page, info] : changes(m)) tx.SetDescriptor(page, info);
    ASSERT_TRUE(m.store->Commit(tx).ok());
  };
  uint64_t total = 0;
  {
    Machine m = Fresh(GetParam());
    const uint64_t base = m.points();
    commit(m);
    total = m.points() - base;
  }
  uint64_t states = 0, torn_states = 0;
  for (double keep : {0.0, 0.5}) {
    for (uint64_t n = 0; n <= total; n++) {
      SCOPED_TRACE("keep " + std::to_string(keep) + " cut after point " + std::to_string(n));
      Machine m = Fresh(GetParam());
      const auto want = changes(m);
      const uint64_t header = Store::BlockOffset(m.store->superblock().journal_start);
      m.d.sim->StopAfter(m.points() + n);
      commit(m);
      m.Crash(keep);
      layout::JournalHeader h;
      m.d.dev->Read(header, &h, sizeof h);
      const bool committed = h.checksum == StructChecksum(h) &&
                             h.state == static_cast<uint32_t>(layout::JournalState::kCommitted);
      bool torn = false;
      if (committed) {
        // Tear every descriptor not yet in place: its new fields over the old checksum.
        for (const auto& [page, info] : want) {
          const uint64_t at = m.d.dev->info().descriptors.offset +
                              layout::kDescriptorTableOffset + page * sizeof(layout::PageDescriptor);
          layout::PageDescriptor raw;
          m.d.dev->Read(at, &raw, sizeof raw);
          if (mapping::PageInfo{raw.owner, raw.file_index, raw.refcount, raw.flags} == info)
            continue;
          raw.owner = info.owner;
          raw.file_index = info.file_index;
          raw.refcount = info.refcount;
          raw.flags = info.flags;
          raw.generation++;
          m.d.dev->Write(at, &raw, sizeof raw);
          ASSERT_FALSE(mapping::DescriptorValid(raw));
          torn = true;
        }
      }
      ASSERT_NO_FATAL_FAILURE(m.Open());
      size_t news = 0;
      for (const auto& [page, info] : want) {
        EXPECT_TRUE(m.pd->valid(page)) << page;
        const mapping::PageInfo got = m.pd->Get(page);
        EXPECT_TRUE(got == info || got == mapping::PageInfo{}) << page;
        news += got == info;
      }
      EXPECT_TRUE(news == 0 || news == want.size()) << news << " of " << want.size();
      if (committed || n == total) {
        EXPECT_EQ(news, want.size());
      }
      if (n == 0) {
        EXPECT_EQ(news, 0u);
      }
      states++;
      torn_states += torn;
    }
  }
  EXPECT_GT(torn_states, 0u);
  std::cout << "[ crash    ] " << GetParam().sim.name << ": " << states
            << " crash states of a 100-descriptor commit (" << total << " persist points x 2), "
            << torn_states << " with torn descriptors\n";
}

INSTANTIATE_TEST_SUITE_P(Setups, StoreCrashTest, ::testing::ValuesIn(CrashSetups()),
                         [](const ::testing::TestParamInfo<CrashSetup>& p) {
                           return p.param.sim.name;
                         });

}  // namespace
}  // namespace pmemfs::store
