// Tests of fs/core/acl.cc: the xattr format, validation and the kernel's ACL/mode rules.
#include "fs/core/acl.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>

namespace pmemfs::core::acl {
namespace {

// The xattr value setfacl(1) would write for `entries`, written out by hand.
std::vector<std::byte> Raw(uint32_t version, std::initializer_list<Entry> entries) {
  std::vector<std::byte> v(4 + 8 * entries.size());
  auto put = [&](size_t off, uint32_t x, int n) {
    for (int i = 0; i < n; i++) v[off + i] = std::byte((x >> (8 * i)) & 0xff);
  };
  put(0, version, 4);
  size_t off = 4;
  for (const Entry& e : entries) {
    put(off, e.tag, 2);
    put(off + 2, e.perm, 2);
    put(off + 4, e.id, 4);
    off += 8;
  }
  return v;
}

const Entry kUo6{kUserObj, 6};
const Entry kUo7{kUserObj, 7};
const Entry kGo4{kGroupObj, 4};
const Entry kGo5{kGroupObj, 5};
const Entry kO4{kOther, 4};
const Entry kO0{kOther, 0};

TEST(AclFormat, ParsesWhatSetfaclWrites) {
  auto raw = Raw(2, {kUo6, {kUser, 7, 1000}, kGo4, {kGroup, 5, 50}, {kMask, 7}, kO4});
  ASSERT_EQ(raw.size(), 4u + 6 * 8);
  auto acl = Parse(raw);
  ASSERT_TRUE(acl.ok()) << acl.status().message();
  ASSERT_EQ(acl->size(), 6u);
  EXPECT_EQ((*acl)[1], (Entry{kUser, 7, 1000}));
  EXPECT_EQ((*acl)[3], (Entry{kGroup, 5, 50}));
  EXPECT_EQ((*acl)[4].id, kNoId);
  EXPECT_EQ(Serialize(*acl), raw);
}

TEST(AclFormat, ByteLayoutIsLittleEndian) {
  auto v = Serialize({kUo6, {kUser, 5, 0x01020304}, kGo4, {kMask, 7}, kO0});
  ASSERT_EQ(v.size(), 44u);
  const uint8_t want_head[] = {2, 0, 0, 0, 1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff,
                               2, 0, 5, 0, 4, 3, 2, 1};
  EXPECT_EQ(std::memcmp(v.data(), want_head, sizeof want_head), 0);
}

TEST(AclFormat, UnnamedIdsAreIgnoredAndCanonicalised) {
  auto acl = Parse(Raw(2, {{kUserObj, 6, 123}, {kGroupObj, 4, 0}, {kOther, 4, 7}}));
  ASSERT_TRUE(acl.ok());
  for (const Entry& e : *acl) EXPECT_EQ(e.id, kNoId);
  EXPECT_EQ(Serialize(*acl), Raw(2, {kUo6, kGo4, kO4}));
}

TEST(AclFormat, EmptyValueOrBareHeaderIsNoAcl) {
  auto a = Parse({});
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->empty());
  auto b = Parse(Raw(2, {}));
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->empty());
}

TEST(AclFormat, BadSizesAndVersions) {
  auto raw = Raw(2, {kUo6, kGo4, kO4});
  for (size_t n : {size_t{1}, size_t{3}, size_t{5}, raw.size() - 1}) {
    auto r = Parse(std::span(raw).first(n));
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << n;
  }
  for (uint32_t version : {0u, 1u, 3u}) {
    auto r = Parse(Raw(version, {kUo6, kGo4, kO4}));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kUnsupported);
  }
}

void ExpectInvalid(std::initializer_list<Entry> entries, const char* why) {
  auto r = Parse(Raw(2, entries));
  ASSERT_FALSE(r.ok()) << why;
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << why;
  EXPECT_FALSE(Validate(Acl(entries)).ok()) << why;
}

TEST(AclValidate, RejectsMalformedAcls) {
  ExpectInvalid({kGo4, kO4}, "no owner");
  ExpectInvalid({kUo6, kO4}, "no group");
  ExpectInvalid({kUo6, kGo4}, "no other");
  ExpectInvalid({kUo6, kGo4, {kMask, 7}}, "mask but no other");
  ExpectInvalid({kUo6, {kUser, 7, 5}, kGo4, kO4}, "named user without a mask");
  ExpectInvalid({kUo6, kGo4, {kGroup, 7, 5}, kO4}, "named group without a mask");
  ExpectInvalid({kGo4, kUo6, kO4}, "group before owner");
  ExpectInvalid({kUo6, kGo4, {kUser, 7, 5}, {kMask, 7}, kO4}, "user after group");
  ExpectInvalid({kUo6, {kUser, 7, 9}, {kUser, 7, 5}, kGo4, {kMask, 7}, kO4}, "users unsorted");
  ExpectInvalid({kUo6, {kUser, 7, 5}, {kUser, 6, 5}, kGo4, {kMask, 7}, kO4}, "duplicate user");
  ExpectInvalid({kUo6, kGo4, {kGroup, 7, 9}, {kGroup, 7, 2}, {kMask, 7}, kO4}, "groups unsorted");
  ExpectInvalid({kUo6, {kUser, 7, kNoId}, kGo4, {kMask, 7}, kO4}, "named user without id");
  ExpectInvalid({kUo6, kUo6, kGo4, kO4}, "two owners");
  ExpectInvalid({kUo6, kGo4, kGo4, kO4}, "two groups");
  ExpectInvalid({kUo6, kGo4, {kMask, 7}, {kMask, 7}, kO4}, "two masks");
  ExpectInvalid({kUo6, kGo4, kO4, kO4}, "two others");
  ExpectInvalid({kUo6, kGo4, kO4, {kMask, 7}}, "mask after other");
  ExpectInvalid({{kUserObj, 8}, kGo4, kO4}, "bad permission bits");
  ExpectInvalid({kUo6, kGo4, {0x40, 7}, kO4}, "unknown tag");
}

TEST(AclValidate, AcceptsWellFormedAcls) {
  EXPECT_TRUE(Validate({}).ok());
  EXPECT_TRUE(Validate({kUo6, kGo4, kO4}).ok());
  EXPECT_TRUE(Validate({kUo6, kGo4, {kMask, 5}, kO4}).ok());  // a mask alone is allowed
  EXPECT_TRUE(Validate({kUo6, {kUser, 7, 1}, {kUser, 7, 2}, kGo4, {kGroup, 1, 1},
                        {kGroup, 1, 3}, {kMask, 7}, kO4})
                  .ok());
  // Users and groups are sorted separately: a group id below the last user id is fine.
  EXPECT_TRUE(Validate({kUo6, {kUser, 7, 900}, kGo4, {kGroup, 1, 3}, {kMask, 7}, kO4}).ok());
}

TEST(AclMode, FromModeAndEquivalence) {
  Acl a = FromMode(S_IFREG | 0754);
  EXPECT_EQ(a, (Acl{{kUserObj, 7}, {kGroupObj, 5}, {kOther, 4}}));
  uint32_t mode = S_IFREG | S_ISGID | 0777;
  EXPECT_TRUE(EquivMode(a, &mode));
  EXPECT_EQ(mode, uint32_t{S_IFREG | S_ISGID | 0754});
}

TEST(AclMode, MaskDecidesGroupBitsAndIsNotEquivalent) {
  // setfacl -m u:1000:rwx on a 0644 file: the kernel's result is mode 0674.
  Acl a{kUo6, {kUser, 7, 1000}, kGo4, {kMask, 7}, kO4};
  uint32_t mode = S_IFREG | 0644;
  EXPECT_FALSE(EquivMode(a, &mode));
  EXPECT_EQ(mode, uint32_t{S_IFREG | 0674});

  Acl mask_only{kUo6, kGo4, {kMask, 0}, kO4};
  mode = S_IFREG | 0644;
  EXPECT_FALSE(EquivMode(mask_only, &mode));  // as the kernel: a mask makes it an ACL
  EXPECT_EQ(mode, uint32_t{S_IFREG | 0604});
}

TEST(AclChmod, UpdatesOwnerMaskAndOther) {
  Acl a{kUo6, {kUser, 7, 1000}, kGo4, {kGroup, 6, 7}, {kMask, 7}, kO4};
  auto r = Chmod(a, S_IFREG | 0510);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (Acl{{kUserObj, 5}, {kUser, 7, 1000}, kGo4, {kGroup, 6, 7}, {kMask, 1},
                     {kOther, 0}}));
}

TEST(AclChmod, WithoutMaskUpdatesGroup) {
  auto r = Chmod({kUo6, kGo4, kO4}, 0750);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, FromMode(0750));
  EXPECT_EQ(Chmod({kUo6, kO4}, 0750).status().code(), Code::kCorrupt);
}

TEST(AclInherit, NoDefaultAppliesUmask) {
  auto r = Inherit({}, S_IFREG | 0666, 022);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->mode, uint32_t{S_IFREG | 0644});
  EXPECT_TRUE(r->access.empty());
  EXPECT_TRUE(r->default_acl.empty());
  r = Inherit({}, S_IFDIR | S_ISGID | 0777, 077);
  EXPECT_EQ(r->mode, uint32_t{S_IFDIR | S_ISGID | 0700});
}

TEST(AclInherit, SymlinksGetNothing) {
  Acl def{kUo7, kGo5, kO0};
  auto r = Inherit(def, S_IFLNK | 0777, 022);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->mode, uint32_t{S_IFLNK | 0777});
  EXPECT_TRUE(r->access.empty());
  EXPECT_TRUE(r->default_acl.empty());
}

TEST(AclInherit, EquivalentDefaultGivesModeOnlyAndIgnoresUmask) {
  Acl def{kUo7, kGo5, kO0};
  auto f = Inherit(def, S_IFREG | 0666, 077);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->mode, uint32_t{S_IFREG | 0640});
  EXPECT_TRUE(f->access.empty());
  EXPECT_TRUE(f->default_acl.empty());

  auto d = Inherit(def, S_IFDIR | 0777, 077);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->mode, uint32_t{S_IFDIR | 0750});
  EXPECT_TRUE(d->access.empty());
  EXPECT_EQ(d->default_acl, def);
}

TEST(AclInherit, NamedEntriesBecomeAccessAclMaskedByCreateMode) {
  Acl def{kUo7, {kUser, 7, 1000}, kGo5, {kGroup, 7, 50}, {kMask, 7}, {kOther, 5}};
  auto f = Inherit(def, S_IFREG | 0640, 0);
  ASSERT_TRUE(f.ok());
  // Owner rwx & rw- = rw-; mask rwx & r-- = r--; other r-x & --- = ---; named entries kept.
  EXPECT_EQ(f->access, (Acl{kUo6, {kUser, 7, 1000}, kGo5, {kGroup, 7, 50}, {kMask, 4}, kO0}));
  EXPECT_EQ(f->mode, uint32_t{S_IFREG | 0640});
  EXPECT_TRUE(f->default_acl.empty());
  // The stored access ACL and the mode agree, as EquivMode would compute them.
  uint32_t mode = S_IFREG;
  EXPECT_FALSE(EquivMode(f->access, &mode));
  EXPECT_EQ(mode, f->mode);

  auto d = Inherit(def, S_IFDIR | 0777, 022);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->mode, uint32_t{S_IFDIR | 0775});
  EXPECT_EQ(d->access, def);
  EXPECT_EQ(d->default_acl, def);
}

TEST(AclInherit, ModeBitsComeFromTheAcl) {
  Acl def{{kUserObj, 5}, {kUser, 7, 1}, kGo4, {kMask, 1}, kO0};
  auto r = Inherit(def, S_IFREG | S_ISUID | 0777, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->mode, uint32_t{S_IFREG | S_ISUID | 0510});
  EXPECT_EQ(r->access, def);  // nothing to mask: the create mode allowed everything
}

TEST(AclPermits, FollowsTheKernelAlgorithm) {
  // owner 10:20; user 30 rwx; group 20 r-x; group 40 rw-; mask r--; other ---.
  Acl a{kUo6, {kUser, 7, 30}, kGo5, {kGroup, 6, 40}, {kMask, 4}, kO0};
  const uint32_t none[] = {99};
  const uint32_t g20[] = {20};
  const uint32_t g40[] = {40, 7};
  EXPECT_TRUE(Permits(a, 10, 20, 10, none, kRead | kWrite));  // owner: not masked
  EXPECT_FALSE(Permits(a, 10, 20, 10, none, kExecute));
  EXPECT_TRUE(Permits(a, 10, 20, 30, none, kRead));           // named user, masked to r--
  EXPECT_FALSE(Permits(a, 10, 20, 30, none, kWrite));
  EXPECT_TRUE(Permits(a, 10, 20, 31, g20, kRead));            // owning group, masked
  EXPECT_FALSE(Permits(a, 10, 20, 31, g20, kExecute));
  EXPECT_TRUE(Permits(a, 10, 20, 31, g40, kRead));
  EXPECT_FALSE(Permits(a, 10, 20, 31, g40, kWrite));          // masked away
  EXPECT_FALSE(Permits(a, 10, 20, 31, none, kRead));          // other: nothing
  // A matching group that does not grant denies, even when other would allow.
  Acl b{kUo6, kGo4, {kOther, 7}};
  EXPECT_FALSE(Permits(b, 10, 20, 31, g20, kWrite));
  EXPECT_TRUE(Permits(b, 10, 20, 31, none, kWrite));
  EXPECT_TRUE(Permits(b, 10, 20, 31, g20, 0));
}

}  // namespace
}  // namespace pmemfs::core::acl
