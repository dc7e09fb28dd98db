#include "fsck_test_support.h"

#include <sys/xattr.h>

namespace pmemfs::fsck::testing {

namespace {

std::span<const std::byte> Bytes(const std::string& s) { return std::as_bytes(std::span(s)); }

uint64_t Ino(const Result<core::Attr>& a) {
  EXPECT_TRUE(a.ok()) << a.status().message();
  return a.ok() ? a->ino : 0;
}

}  // namespace

std::string Describe(const CheckReport& r) {
  std::ostringstream os;
  for (const Problem& p : r.problems)
    os << "  " << p.area << ": " << p.message << (p.repaired ? " [fixed]" : "") << "\n";
  return os.str();
}

CheckReport MustCheck(mapping::Device& dev, bool repair) {
  Result<CheckReport> r = Check(dev, {.repair = repair});
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : CheckReport{};
}

std::vector<std::byte> Bytes(const mapping::Device& dev, uint64_t off, uint64_t len) {
  std::vector<std::byte> out(len);
  dev.Read(off, out.data(), len);
  return out;
}

std::vector<std::byte> PartImage(const mapping::Part& p) {
  return std::vector<std::byte>(p.base(), p.base() + p.size());
}

void CutAtEveryPersistPoint(uint64_t total,
                            const std::function<void(uint64_t n, double keep, int* which)>& cut,
                            CutStates* c) {
  for (double keep : {0.0, 0.5}) {
    for (uint64_t n = 0; n <= total; n++) {
      SCOPED_TRACE("keep " + std::to_string(keep) + " cut after point " + std::to_string(n));
      int which = -1;
      cut(n, keep, &which);
      if (::testing::Test::HasFatalFailure()) return;
      ASSERT_NE(which, -1);
      if (n == 0) {
        EXPECT_EQ(which, 0);
      }
      if (n == total) {
        EXPECT_EQ(which, 1);
      }
      c->states++;
      c->fresh += which == 1;
    }
  }
}

void CutInsideRecovery(uint64_t total, const std::string& what,
                       const std::function<void(uint64_t n, uint64_t* points)>& probe,
                       const std::function<void(uint64_t n, uint64_t r)>& cut, uint64_t* states) {
  for (uint64_t n = 0; n <= total; n++) {
    SCOPED_TRACE("cut after point " + std::to_string(n));
    uint64_t points = 0;
    probe(n, &points);
    if (::testing::Test::HasFatalFailure()) return;
    for (uint64_t r = 0; r < points; r++) {
      SCOPED_TRACE(what + " cut after point " + std::to_string(r));
      cut(n, r);
      if (::testing::Test::HasFatalFailure()) return;
      (*states)++;
    }
  }
}

void FsckImage::Populate() {
  core::Filesystem& f = *fs_;
  auto write = [&](uint64_t ino, uint64_t off, const std::string& data) {
    auto w = f.Write(kRoot, ino, off, Bytes(data));
    ASSERT_TRUE(w.ok()) << w.status().message();
    ASSERT_EQ(*w, data.size());
  };
  auto create = [&](uint64_t dir, const std::string& name) {
    const uint64_t ino = Ino(f.Create(kRoot, dir, name, 0644, O_RDWR));
    EXPECT_TRUE(f.Release(ino).ok());
    return ino;
  };
  Tree& t = tree_;
  t.d1 = Ino(f.MkDir(kRoot, kRootIno, "d1", 0755));
  t.sub = Ino(f.MkDir(kRoot, t.d1, "sub", 0755));
  t.f = create(t.d1, "f");
  write(t.f, 0, std::string(10000, 'f'));
  ASSERT_TRUE(f.Link(kRoot, t.f, kRootIno, "hl").ok());
  ASSERT_TRUE(f.SetXattr(kRoot, t.f, "user.a", Bytes("value-a"), 0).ok());
  ASSERT_TRUE(f.SetXattr(kRoot, t.f, "trusted.t", Bytes(std::string(1000, 't')), 0).ok());
  ASSERT_TRUE(f.SetXattr(kRoot, t.d1, "user.dir", Bytes("v"), 0).ok());

  t.sparse = create(kRootIno, "sparse");
  write(t.sparse, 0, std::string(4096, 's'));
  write(t.sparse, 5ull << 20, std::string(100, 'S'));
  ASSERT_TRUE(f.Fallocate(t.sparse, FALLOC_FL_KEEP_SIZE, 6ull << 20, 8192).ok());

  t.many = create(kRootIno, "many");
  for (uint64_t i = 0; i < 150; i++) write(t.many, 2 * i * 4096, std::string(4096, 'm'));

  t.clone = create(kRootIno, "clone");
  auto c = f.CopyFileRange(kRoot, t.f, 0, t.clone, 0, 8192);
  ASSERT_TRUE(c.ok()) << c.status().message();

  t.s = Ino(f.Symlink(kRoot, kRootIno, "s", "target"));
  t.ls = Ino(f.Symlink(kRoot, t.sub, "ls", std::string(200, 'x')));
  t.fifo = Ino(f.MkNod(kRoot, kRootIno, "fifo", S_IFIFO | 0644, 0));
  for (int i = 0; i < 150; i++) {  // two dentry blocks in d1/sub
    char name[16];
    snprintf(name, sizeof name, "e%03d", i);
    create(t.sub, name);
  }
  t.moved = Ino(f.MkDir(kRoot, kRootIno, "tmpdir", 0700));
  ASSERT_TRUE(f.Rename(kRoot, kRootIno, "tmpdir", t.d1, "moved", 0).ok());
  const uint64_t gone = create(kRootIno, "gone");
  write(gone, 0, std::string(20000, 'g'));
  ASSERT_TRUE(f.Unlink(kRoot, kRootIno, "gone").ok());
  // A RAM file: nothing of it may reach the store.
  auto ram = f.Lookup(kRoot, kRootIno, "ram");
  if (ram.ok()) {
    const uint64_t v = create(ram->ino, "volatile");
    write(v, 0, std::string(9000, 'v'));
  }
}

mapping::Device& FsckImage::Unmount() {
  if (fs_) {
    Status st = fs_->Unmount();
    EXPECT_TRUE(st.ok()) << st.message();
    fs_.reset();
    d_.Reopen();
  }
  return *d_.dev;
}

Status FsckImage::MountAndUnmount(bool read_only, bool remount_rw) {
  core::MountOptions opts = opts_;
  opts.read_only = read_only;
  auto r = core::Filesystem::Mount(std::move(d_.dev), opts);
  Status st = r.ok() && remount_rw ? (*r)->SetReadOnly(false) : Status::Ok();
  if (r.ok()) {
    Status u = (*r)->Unmount();
    if (st.ok()) st = u;
  } else {
    st = r.status();
  }
  if (r.ok()) r->reset();
  d_.Reopen();
  return st;
}

std::pair<uint64_t, uint32_t> FsckImage::FindDentry(uint64_t dir, const std::string& name) {
  for (uint64_t b : Chain(Inode(dir).map_head)) {
    for (uint32_t s = 0; s < layout::kSlotsPerBlock;) {
      DentryHead h = Dentry(b, s);
      if (h.ino == 0) {
        s++;
        continue;
      }
      std::string n(h.name_len, '\0');
      dev().Read(store::Store::SlotOffset(b, s) + offsetof(DentryHead, name), n.data(), n.size());
      if (n == name) return {b, s};
      s += std::max<uint32_t>(1, h.slots);
    }
  }
  return {0, 0};
}

std::pair<uint64_t, uint32_t> FsckImage::FreeDentrySlots(uint64_t dir, uint32_t n) {
  for (uint64_t b : Chain(Inode(dir).map_head)) {
    uint32_t run = 0;
    for (uint32_t s = 0; s < layout::kSlotsPerBlock;) {
      DentryHead h = Dentry(b, s);
      if (h.ino != 0) {
        run = 0;
        s += std::max<uint32_t>(1, h.slots);
        continue;
      }
      if (++run == n) return {b, s + 1 - n};
      s++;
    }
  }
  return {0, 0};
}

void FsckImage::PutDentry(uint64_t block, uint32_t slot, uint64_t ino, uint8_t type,
                          const std::string& name) {
  const uint32_t n = layout::DentrySlots(static_cast<uint32_t>(name.size()));
  std::vector<std::byte> buf(size_t{n} * layout::kSlotSize);
  DentryHead h{};
  h.ino = ino;
  h.name_len = static_cast<uint8_t>(name.size());
  h.type = type;
  h.slots = static_cast<uint8_t>(n);
  std::memcpy(buf.data(), &h, sizeof h);
  std::memcpy(buf.data() + offsetof(DentryHead, name), name.data(), name.size());
  std::memcpy(&h, buf.data(), sizeof h);
  uint32_t crc = Crc32c(&h, sizeof h);  // checksum field is 0 here
  if (name.size() > sizeof h.name) crc = Crc32c(name.data() + 16, name.size() - 16, crc);
  h.checksum = crc;
  std::memcpy(buf.data(), &h, sizeof h);
  dev().Write(store::Store::SlotOffset(block, slot), buf.data(), buf.size());
}

std::vector<FsckImage::ExtentAt> FsckImage::Extents(uint64_t ino) {
  std::vector<ExtentAt> out;
  for (uint64_t b : Chain(Inode(ino).map_head)) {
    for (uint32_t s = 0; s < layout::kSlotsPerBlock; s++) {
      ExtentRecord r;
      dev().Read(store::Store::SlotOffset(b, s), &r, sizeof r);
      if (r.length != 0) out.push_back({b, s, r});
    }
  }
  return out;
}

}  // namespace pmemfs::fsck::testing
