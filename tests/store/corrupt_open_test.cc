// Corrupted images: bytes flipped in each kind of structure of a formatted, populated store
// (primary and backup superblock, journal header and a committed transaction's records, inode
// records, the allocation bitmap, directory/extent/xattr chain blocks: headers and slots).
// For every corruption, Store::Open and then Filesystem::Mount (direct mode) must either refuse
// with an error that says what is wrong, or mount; a mounted filesystem must answer every object
// either exactly as before or with an error, and only the objects the damaged structure belongs
// to (and what lies below them) may answer with an error. Then a few changes (a new file, an
// append) and a remount: the objects that were intact still are, byte for byte, so the damage did
// not spread. Never a crash or a hang. Prints the corruptions injected per structure and their
// outcomes.
#include <fcntl.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "fs/core/fs.h"
#include "fs/store/store.h"
#include "pmemfs/crc32c.h"
#include "store_test_support.h"

namespace pmemfs::store {
namespace {

using core::Filesystem;
using layout::kBlockSize;

const core::Caller kRoot{0, 0, 022};

// What one object (a name in the tree) shows.
struct Object {
  uint64_t ino = 0;
  uint32_t mode = 0, nlink = 0;
  uint64_t size = 0;
  uint32_t crc = 0;  // bytes of a file, target of a symlink
  std::map<std::string, uint32_t> xattrs;
  bool operator==(const Object&) const = default;
};

// A structure that can be corrupted: where its bytes are and whose it is.
struct Target {
  std::string kind;     // "superblock", "inode", "dentry block", ...
  uint64_t offset = 0;  // device offset of its first byte
  uint64_t length = 0;  // bytes that may be flipped
  uint64_t owner = 0;   // inode it belongs to; 0: the whole filesystem
  bool committed_journal = false;  // the image with a committed transaction
  uint64_t mirror = 0;  // nonzero: the same byte is flipped at this offset too (both copies)
};

struct Outcomes {
  uint64_t injected = 0, refused = 0, mounted_errors = 0, mounted_intact = 0, dropped = 0,
           spread = 0;
};

class CorruptOpenTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kPartSize = 6ull << 20;

  void SetUp() override {
    d_ = mapping::testing::MakeSimDevice(
        {"Concat1", layout::LayoutKind::kLinear, 1, mapping::AccessPath::kLinear, kPartSize}, {});
    ASSERT_NE(d_.dev, nullptr);
    ASSERT_TRUE(Store::Format(*d_.dev, {.inode_count = 256}).ok());
    Populate();
    if (HasFatalFailure()) return;
    clean_ = Image();
    // The same filesystem with one more transaction (a rename) committed but not applied: the
    // power fails right after its commit point.
    auto fs = Filesystem::Mount(std::move(d_.dev), {.mode = mapping::Mode::kDirect});
    ASSERT_TRUE(fs.ok()) << fs.status().message();
    d_.sim->StopAfter(d_.sim->persist_points() + 2);  // record stream, then committed header
    ASSERT_TRUE((*fs)->Rename(kRoot, core::kRootIno, "small", core::kRootIno, "renamed", 0).ok());
    fs->reset();
    d_.sim->Crash();
    d_.Reopen();
    committed_ = Image();
    const auto sb = Superblock(committed_);
    layout::JournalHeader h;
    std::memcpy(&h, committed_.data() + sb.journal_start * kBlockSize, sizeof h);
    ASSERT_EQ(h.state, static_cast<uint32_t>(layout::JournalState::kCommitted));
    journal_record_bytes_ = h.record_bytes;
    Load(clean_);
    golden_ = Walk();
    ASSERT_FALSE(HasFailure());
    ASSERT_EQ(golden_.size(), 140u);  // what Populate made
  }

  // --- the image ------------------------------------------------------------------------------
  void Populate() {
    auto r = Filesystem::Mount(std::move(d_.dev), {.mode = mapping::Mode::kDirect});
    ASSERT_TRUE(r.ok()) << r.status().message();
    Filesystem& fs = **r;
    auto bytes = [](const std::string& s) { return std::as_bytes(std::span(s)); };
    auto must = [](const Result<core::Attr>& a) {
      EXPECT_TRUE(a.ok()) << a.status().message();
      return a.ok() ? a->ino : 0;
    };
    const uint64_t d1 = must(fs.MkDir(kRoot, core::kRootIno, "d1", 0755));
    const uint64_t d2 = must(fs.MkDir(kRoot, d1, "d2", 0700));
    const uint64_t many = must(fs.MkDir(kRoot, core::kRootIno, "many", 0755));
    for (int i = 0; i < 130; i++)  // two dentry blocks
      must(fs.MkNod(kRoot, many, "entry-" + std::to_string(i), S_IFREG | 0644, 0));
    const uint64_t small = must(fs.Create(kRoot, core::kRootIno, "small", 0644, O_RDWR));
    ASSERT_TRUE(fs.Write(kRoot, small, 0, bytes("small file contents")).ok());
    // Two files written in alternating pieces: many extents each.
    const uint64_t a = must(fs.Create(kRoot, d1, "striped-a", 0644, O_RDWR));
    const uint64_t b = must(fs.Create(kRoot, d2, "striped-b", 0644, O_RDWR));
    for (int i = 0; i < 40; i++) {
      ASSERT_TRUE(fs.Write(kRoot, a, i * 2 * kBlockSize, bytes(std::string(kBlockSize, 'a' + i % 26))).ok());
      ASSERT_TRUE(fs.Write(kRoot, b, i * kBlockSize, bytes(std::string(kBlockSize, 'A' + i % 26))).ok());
    }
    const uint64_t sparse = must(fs.Create(kRoot, d2, "sparse", 0600, O_RDWR));
    ASSERT_TRUE(fs.Write(kRoot, sparse, 1 << 20, bytes("far out")).ok());
    must(fs.Symlink(kRoot, d1, "long-link", std::string(300, 'L')));
    must(fs.Symlink(kRoot, core::kRootIno, "short-link", "d1/striped-a"));
    must(fs.Link(kRoot, small, d2, "hard-link"));
    ASSERT_TRUE(fs.SetXattr(kRoot, small, "user.small", bytes("value"), 0).ok());
    ASSERT_TRUE(fs.SetXattr(kRoot, d1, "user.big", bytes(std::string(2000, 'x')), 0).ok());
    ASSERT_TRUE(fs.SetXattr(kRoot, d1, "user.second", bytes("2"), 0).ok());
    for (uint64_t ino : {small, a, b, sparse}) ASSERT_TRUE(fs.Release(ino).ok());
    ASSERT_TRUE(fs.Unmount().ok());
    r->reset();
    d_.Reopen();
  }

  std::vector<std::byte> Image() {
    std::vector<std::byte> img(d_.dev->info().store().length);
    d_.dev->Read(0, img.data(), img.size());
    return img;
  }
  // Puts `img` in the store area (plain stores: nothing here crashes) and reassembles.
  void Load(const std::vector<std::byte>& img) {
    if (!d_.dev) d_.Reopen();
    d_.dev->Store(0, img.data(), img.size());
    d_.Reopen();
  }
  static layout::Superblock Superblock(const std::vector<std::byte>& img) {
    layout::Superblock sb;
    std::memcpy(&sb, img.data(), sizeof sb);
    return sb;
  }

  // --- the structures -------------------------------------------------------------------------
  std::vector<Target> Targets() {
    std::vector<Target> t;
    Load(clean_);
    const layout::Superblock sb = Superblock(clean_);
    // Of the many inodes alike (the entries of /many), three.
    std::set<uint64_t> alike;
    for (const auto& [p, o] : golden_)
      if (p.rfind("/many/entry-", 0) == 0 && std::stoi(p.substr(12)) >= 3) alike.insert(o.ino);
    t.push_back({"superblock", 0, sizeof(layout::Superblock)});
    t.push_back({"backup superblock", sb.backup_block * kBlockSize, sizeof(layout::Superblock)});
    t.push_back({"both superblocks", 0, sizeof(layout::Superblock), 0, false,
                 sb.backup_block * kBlockSize});
    t.push_back({"journal header", sb.journal_start * kBlockSize, sizeof(layout::JournalHeader)});
    t.push_back({"journal header", sb.journal_start * kBlockSize, sizeof(layout::JournalHeader), 0, true});
    t.push_back({"journal records", (sb.journal_start + 1) * kBlockSize, journal_record_bytes_, 0, true});
    // The bitmap words that mark data blocks in use (a flip frees one, or takes a free one).
    for (uint64_t w = sb.data_start / 64; w < sb.store_blocks / 64 && t.size() < 24; w++) {
      uint64_t word;
      std::memcpy(&word, clean_.data() + sb.bitmap_start * kBlockSize + w * 8, 8);
      if (word != 0) t.push_back({"bitmap", sb.bitmap_start * kBlockSize + w * 8, 8});
    }
    {
      auto st = Store::Open(*d_.dev, nullptr);
      EXPECT_TRUE(st.ok());
      for (uint64_t ino = 1; ino <= sb.inode_count; ino++) {
        auto rec = (*st)->ReadInode(ino);
        if (!rec.ok() || alike.count(ino)) continue;
        t.push_back({"inode", sb.inode_start * kBlockSize + (ino - 1) * sizeof(layout::InodeRecord),
                     sizeof(layout::InodeRecord), ino});
        auto chain = [&](uint64_t head, ChainKind kind, const std::string& name) {
          Status s = (*st)->ForEachChainBlock(head, kind, ino, [&](uint64_t b, const std::byte*) {
            t.push_back({name + " block header", b * kBlockSize, sizeof(layout::ChainHeader), ino});
            t.push_back({name + " block slots", b * kBlockSize + sizeof(layout::ChainHeader),
                         kind == ChainKind::kXattrs ? 64 : 8 * layout::kSlotSize, ino});
            return Status::Ok();
          });
          EXPECT_TRUE(s.ok()) << s.message();
        };
        if (rec->map_head)
          chain(rec->map_head, S_ISDIR(rec->mode) ? ChainKind::kDentries : ChainKind::kExtents,
                S_ISDIR(rec->mode) ? "dentry" : "extent");
        if (rec->xattr_head) chain(rec->xattr_head, ChainKind::kXattrs, "xattr");
      }
      (*st).reset();  // not closed: the image is reloaded before every use
    }
    return t;
  }

  // --- what the filesystem shows --------------------------------------------------------------
  // Every name under the root (the RAM directory aside) and what it shows; errors are recorded
  // as a missing object (`errors` receives their paths).
  std::map<std::string, Object> Walk(Filesystem* fs = nullptr, std::set<std::string>* errors = nullptr) {
    std::unique_ptr<Filesystem> owned;
    if (!fs) {
      auto r = Filesystem::Mount(std::move(d_.dev), {.mode = mapping::Mode::kDirect});
      EXPECT_TRUE(r.ok()) << r.status().message();
      if (!r.ok()) return {};
      owned = std::move(r).value();
      fs = owned.get();
    }
    std::map<std::string, Object> out;
    std::function<void(uint64_t, const std::string&)> walk = [&](uint64_t dir, const std::string& prefix) {
      std::map<std::string, uint64_t> kids;
      Status st = fs->ReadDir(dir, 0, [&](const core::DirEntry& e) {
        if (e.name != "." && e.name != ".." && !(dir == core::kRootIno && e.name == "ram"))
          kids[std::string(e.name)] = e.ino;
        return kids.size() < 10000;
      });
      if (!st.ok()) {
        if (errors) errors->insert(prefix);
        return;
      }
      for (const auto& [name, ino] : kids) {
        const std::string path = prefix + "/" + name;
        Object o;
        if (!Read(*fs, ino, o)) {
          if (errors) errors->insert(path);
          continue;
        }
        out[path] = o;
        if (S_ISDIR(o.mode)) walk(ino, path);
      }
    };
    walk(core::kRootIno, "");
    if (owned) {
      EXPECT_TRUE(owned->Unmount().ok());
      owned.reset();
      d_.Reopen();
    }
    return out;
  }
  // False when the filesystem answers an error about `ino`.
  static bool Read(Filesystem& fs, uint64_t ino, Object& o) {
    auto a = fs.GetAttr(ino);
    if (!a.ok()) return false;
    o.ino = ino;
    o.mode = a->mode;
    o.nlink = a->nlink;
    o.size = a->size;
    if (S_ISREG(a->mode)) {
      mapping::ReadRef ref;
      if (!fs.Read(ino, 0, a->size, &ref).ok()) return false;
      auto b = ref.ToBytes();
      if (b.size() != a->size) return false;
      o.crc = Crc32c(b.data(), b.size());
    } else if (S_ISLNK(a->mode)) {
      auto l = fs.ReadLink(ino);
      if (!l.ok()) return false;
      o.crc = Crc32c(l->data(), l->size());
    }
    auto names = fs.ListXattr(ino);
    if (!names.ok()) return false;
    for (const std::string& n : *names) {
      auto v = fs.GetXattr(ino, n);
      if (!v.ok()) return false;
      o.xattrs[n] = Crc32c(v->data(), v->size());
    }
    return true;
  }

  // Paths an error about inode `owner` may hide or break: its names and everything below them.
  std::set<std::string> Affected(uint64_t owner) const {
    std::set<std::string> roots, out;
    if (owner == core::kRootIno) roots.insert("");  // the root: everything below it
    for (const auto& [p, o] : golden_)
      if (owner != 0 && o.ino == owner) roots.insert(p);
    for (const auto& [p, o] : golden_)
      for (const std::string& r : roots)
        if (p == r || p.compare(0, r.size() + 1, r + "/") == 0) out.insert(p);
    if (owner == core::kRootIno) out.insert("/renamed");
    return out;
  }

  // One corruption: `img` with byte `at` XORed with `mask`. Returns the outcome; test failures
  // say what went wrong.
  enum class Outcome { kRefused, kMountedErrors, kMountedIntact, kDropped, kSpread, kFailed };
  Outcome Try(const Target& t, uint64_t at, uint8_t mask) {
    std::vector<std::byte> img = t.committed_journal ? committed_ : clean_;
    img[at] ^= std::byte{mask};
    if (t.mirror) img[t.mirror + (at - t.offset)] ^= std::byte{mask};
    std::ostringstream where;
    where << t.kind << " (inode " << t.owner << ") byte " << at - t.offset << " at " << at
          << " ^ 0x" << std::hex << int{mask};
    // The store alone, then the whole mount, each on the corrupted image.
    Load(img);
    {
      auto st = Store::Open(*d_.dev, nullptr);
      if (!st.ok()) {
        EXPECT_FALSE(st.status().message().empty()) << where.str();
      }
    }
    Load(img);
    auto r = Filesystem::Mount(std::move(d_.dev), {.mode = mapping::Mode::kDirect});
    if (!r.ok()) {
      EXPECT_FALSE(r.status().message().empty()) << where.str();
      d_.Reopen();
      return Outcome::kRefused;
    }
    const std::set<std::string> affected = Affected(t.owner);
    std::set<std::string> errors;
    auto got = Walk(r->get(), &errors);
    // With the committed transaction replayed, "small" is "renamed". A journal header or record
    // stream that fails its checksum cannot be told from a torn commit: the transaction is then
    // dropped, and the filesystem is as before it.
    auto expected = golden_;
    const bool dropped = t.committed_journal && got.count("/small") &&
                         (t.kind == "journal header" || t.kind == "journal records");
    if (t.committed_journal && !dropped) {
      expected["/renamed"] = expected["/small"];
      expected.erase("/small");
    }
    // KNOWN BUG (reported): the bitmap has no checksum and nothing checks it against the
    // extents at mount, so a block in use that a flip marks free is handed out again and the
    // next write lands in another file. Those cases are counted (kSpread), not failed, until the
    // store can tell; every other check applies to them.
    const bool used_marked_free =
        t.kind == "bitmap" && (std::to_integer<uint8_t>(clean_[at]) & mask) != 0;
    bool spread = false;
    auto check = [&](const std::map<std::string, Object>& got, const std::set<std::string>& errs,
                     const char* when) {
      bool ok = true;
      for (const auto& [p, o] : expected) {
        auto it = got.find(p);
        if (it != got.end() && it->second == o) continue;
        const bool hidden = it == got.end();  // an error on it or on a directory above it
        if (hidden && affected.count(p)) continue;
        if (used_marked_free && std::string(when) != "after mount") {
          spread = true;
          break;
        }
        ADD_FAILURE() << where.str() << ", " << when << ": " << p
                      << (hidden ? " is gone" : " changed") << (errs.empty() ? "" : " (errors at ")
                      << (errs.empty() ? "" : *errs.begin()) << (errs.empty() ? "" : ")");
        ok = false;
        break;
      }
      for (const auto& [p, o] : got)
        if (!expected.count(p) && p != "/new-file") {
          ADD_FAILURE() << where.str() << ", " << when << ": unexpected " << p;
          ok = false;
          break;
        }
      return ok;
    };
    bool ok = check(got, errors, "after mount");
    // Changes after the damage: a new file and an append to an intact one.
    const std::string data(3 * kBlockSize + 100, 'N');
    auto nf = (*r)->Create(kRoot, core::kRootIno, "new-file", 0644, O_RDWR);
    bool new_file = false;
    if (nf.ok()) {
      auto w = (*r)->Write(kRoot, nf->ino, 0, std::as_bytes(std::span(data)));
      new_file = w.ok() && *w == data.size();
      (void)(*r)->Release(nf->ino);
    }
    for (const auto& [p, o] : got)
      if (S_ISREG(o.mode) && o.size > 0 && !affected.count(p) && p != "/new-file") {
        auto w = (*r)->Write(kRoot, o.ino, o.size, std::as_bytes(std::span(data)));
        if (w.ok() && *w == data.size()) {  // the crc of the old bytes, then the new ones
          for (auto& [q, e] : expected)
            if (e.ino == o.ino) {
              e.size += data.size();
              e.crc = Crc32c(data.data(), data.size(), e.crc);
            }
        }
        break;
      }
    (void)(*r)->Unmount();
    r->reset();
    d_.Reopen();
    auto again = Filesystem::Mount(std::move(d_.dev), {.mode = mapping::Mode::kDirect});
    if (!again.ok()) {
      ADD_FAILURE() << where.str() << ": mounted once, then refused: " << again.status().message();
      d_.Reopen();
      return Outcome::kFailed;
    }
    errors.clear();
    got = Walk(again->get(), &errors);
    ok = check(got, errors, "after changes and a remount") && ok;
    if (new_file) {
      auto it = got.find("/new-file");
      if (it == got.end() || it->second.size != data.size() ||
          it->second.crc != Crc32c(data.data(), data.size())) {
        ADD_FAILURE() << where.str() << ": the new file did not survive the remount";
        ok = false;
      }
    }
    (void)(*again)->Unmount();
    again->reset();
    d_.Reopen();
    if (!ok) return Outcome::kFailed;
    if (spread) return Outcome::kSpread;
    if (dropped) return Outcome::kDropped;
    bool intact = got.size() == expected.size() + (new_file ? 1 : 0);
    return intact ? Outcome::kMountedIntact : Outcome::kMountedErrors;
  }

  mapping::testing::SimDevice d_;
  std::vector<std::byte> clean_, committed_;
  uint64_t journal_record_bytes_ = 0;
  std::map<std::string, Object> golden_;
};

// Found by the test below: a flip that zeroes the length of an extent record (or the inode of
// a directory entry) made the slot look unused, so the extent (the name) vanished without an
// error and the file read zeros there. A slot is unused only when all of it is zero.
TEST_F(CorruptOpenTest, AZeroedExtentLengthOrDentryInodeIsAnError) {
  const layout::Superblock sb = Superblock(clean_);
  Load(clean_);
  uint64_t extent_block = 0, dentry_block = 0, file_ino = 0;
  {
    auto st = Store::Open(*d_.dev, nullptr);
    ASSERT_TRUE(st.ok()) << st.status().message();
    file_ino = golden_.at("/d1/striped-a").ino;
    auto file = (*st)->ReadInode(file_ino);
    auto d1 = (*st)->ReadInode(golden_.at("/d1").ino);
    ASSERT_TRUE(file.ok() && d1.ok());
    extent_block = file->map_head;
    dentry_block = d1->map_head;
  }
  ASSERT_GE(extent_block, sb.data_start);
  ASSERT_GE(dentry_block, sb.data_start);
  for (const bool dentry : {false, true}) {
    std::vector<std::byte> img = clean_;
    const uint64_t slot0 = (dentry ? dentry_block : extent_block) * kBlockSize +
                           sizeof(layout::ChainHeader);
    if (dentry) {
      ASSERT_NE(std::to_integer<int>(img[slot0]), 0);  // the low byte of the first entry's inode
      std::memset(img.data() + slot0, 0, sizeof(uint64_t));
    } else {
      std::memset(img.data() + slot0 + offsetof(layout::ExtentRecord, length), 0, sizeof(uint32_t));
    }
    Load(img);
    auto fs = Filesystem::Mount(std::move(d_.dev), {.mode = mapping::Mode::kDirect});
    ASSERT_TRUE(fs.ok()) << fs.status().message();
    if (dentry) {
      Status st = (*fs)->ReadDir(golden_.at("/d1").ino, 0, [](const core::DirEntry&) { return true; });
      EXPECT_EQ(st.code(), Code::kCorrupt) << st.message();
    } else {
      mapping::ReadRef ref;
      Status st = (*fs)->Read(file_ino, 0, kBlockSize, &ref);
      EXPECT_EQ(st.code(), Code::kCorrupt) << st.message();
    }
    EXPECT_TRUE((*fs)->Unmount().ok());
    fs->reset();
    d_.Reopen();
  }
}

// Found by the fuzzer (tests/fuzz/corpus/symlink-size-*): ReadLink allocated the size a
// symlink's record claims and read that many bytes from its one target block, so a record with
// a valid checksum and a huge size ended the daemon (bad_alloc), and one of a few KiB read
// other blocks. A target is shorter than a block; a larger size is Corrupt.
TEST_F(CorruptOpenTest, ASymlinkSizeLargerThanABlockIsAnError) {
  const layout::Superblock sb = Superblock(clean_);
  const uint64_t ino = golden_.at("/d1/long-link").ino;
  for (uint64_t size : {uint64_t{5000}, uint64_t{1} << 44}) {
    std::vector<std::byte> img = clean_;
    const uint64_t at = sb.inode_start * kBlockSize + (ino - 1) * sizeof(layout::InodeRecord);
    layout::InodeRecord r;
    std::memcpy(&r, img.data() + at, sizeof r);
    ASSERT_TRUE(S_ISLNK(r.mode));
    r.size = size;
    r.checksum = StructChecksum(r);
    std::memcpy(img.data() + at, &r, sizeof r);
    Load(img);
    auto fs = Filesystem::Mount(std::move(d_.dev), {.mode = mapping::Mode::kDirect});
    ASSERT_TRUE(fs.ok()) << fs.status().message();
    auto target = (*fs)->ReadLink(ino);
    EXPECT_EQ(target.status().code(), Code::kCorrupt) << size;
    EXPECT_TRUE((*fs)->Unmount().ok());
    fs->reset();
    d_.Reopen();
  }
}

// Found by the fuzzer (tests/fuzz/corpus/journal-record-count-huge): recovery reserved room for
// the record count a committed journal header claims before parsing the stream, so a header
// with valid checksums and a count of billions ended the daemon (bad_alloc). A count the
// stream cannot hold is refused as Corrupt.
TEST_F(CorruptOpenTest, AJournalRecordCountTheStreamCannotHoldIsRefused) {
  const layout::Superblock sb = Superblock(committed_);
  std::vector<std::byte> img = committed_;
  const uint64_t at = sb.journal_start * kBlockSize;
  layout::JournalHeader h;
  std::memcpy(&h, img.data() + at, sizeof h);
  ASSERT_EQ(h.state, static_cast<uint32_t>(layout::JournalState::kCommitted));
  h.record_count = 0xfffffff0u;
  h.checksum = StructChecksum(h);
  std::memcpy(img.data() + at, &h, sizeof h);
  Load(img);
  auto st = Store::Open(*d_.dev, nullptr);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), Code::kCorrupt) << st.status().message();
  EXPECT_NE(st.status().message().find("records cannot fit"), std::string::npos)
      << st.status().message();
}

TEST_F(CorruptOpenTest, EveryStructureRefusesOrAnswersErrorsWithoutSpreading) {
  std::mt19937_64 rng(20261121);
  std::map<std::string, Outcomes> by_kind;
  uint64_t failures = 0;
  for (const Target& t : Targets()) {
    // Headers and records are small: some of their bytes, at random, plus the first one (a
    // magic or a key field); 12 per structure (8 per inode record).
    const uint64_t n = std::min<uint64_t>(t.kind == "inode" ? 8 : 12, t.length);
    std::set<uint64_t> bytes = {0};
    while (bytes.size() < n)
      bytes.insert(std::uniform_int_distribution<uint64_t>(0, t.length - 1)(rng));
    for (uint64_t b : bytes) {
      const uint8_t mask = static_cast<uint8_t>(1u << std::uniform_int_distribution<int>(0, 7)(rng));
      Outcomes& o = by_kind[t.kind];
      o.injected++;
      switch (Try(t, t.offset + b, mask)) {
        case Outcome::kRefused: o.refused++; break;
        case Outcome::kMountedErrors: o.mounted_errors++; break;
        case Outcome::kMountedIntact: o.mounted_intact++; break;
        case Outcome::kDropped: o.dropped++; break;
        case Outcome::kSpread: o.spread++; break;
        case Outcome::kFailed: failures++; break;
      }
      if (failures >= 5) return;  // enough to go on
    }
  }
  Outcomes total;
  std::cout << "[ corruptions injected / refused at mount / mounted, errors on the damaged objects"
               " / mounted, nothing lost / mounted, the committed transaction dropped / damage"
               " spread by a later write (known bug) ]\n";
  for (const auto& [kind, o] : by_kind) {
    std::cout << "[   " << kind << ": " << o.injected << " / " << o.refused << " / "
              << o.mounted_errors << " / " << o.mounted_intact << " / " << o.dropped << " / "
              << o.spread << " ]\n";
    total.injected += o.injected;
    total.refused += o.refused;
    total.mounted_errors += o.mounted_errors;
    total.mounted_intact += o.mounted_intact;
    total.dropped += o.dropped;
    total.spread += o.spread;
  }
  std::cout << "[ corruptions injected: " << total.injected << ", refused: " << total.refused
            << ", mounted with errors on the damaged objects: " << total.mounted_errors
            << ", mounted with nothing lost: " << total.mounted_intact
            << ", mounted without the damaged committed transaction: " << total.dropped
            << ", spread (bitmap: a block in use marked free): " << total.spread << " ]"
            << std::endl;
}

}  // namespace
}  // namespace pmemfs::store
