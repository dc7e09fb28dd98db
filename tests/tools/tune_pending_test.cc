// pmemfs-tune -l over an interrupted --add-part (tools/tune/pending.h): the add of a part to a
// populated one-part device is cut at every persist point; the listing assembly of the parts
// (the old part and the new one, and the old part alone) then shows the device a mount would
// get, and the change under way with the command that ends it: before the commit point the old
// device with the add (or the superblock's store_growth mark) listed, after it the grown device
// (the old part alone refused, naming the command), once the labels settled the store growth
// left to the next read-write open. Running what the listing names leaves nothing listed.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "cut_add_part.h"
#include "fs/store/store.h"
#include "mapping/device_set.h"
#include "tools/tune/add_part.h"
#include "tools/tune/describe.h"
#include "tools/tune/pending.h"

namespace pmemfs::tune {
namespace {

using mapping::JoinState;
using mapping::Mode;
using testing::PartList;

// A populated pages-mode filesystem whose --add-part a power loss cut after `n` persist points
// (UINT64_MAX: not cut): tune::testing::CutAdd; and what -l lists of it.
struct CutAdd : testing::CutAdd {
  explicit CutAdd(uint64_t n) : testing::CutAdd(Mode::kPages, n, 0.0) {}
  // Describe() of what AssembleForListing makes of `parts` (the status when it refuses).
  Result<Description> List(const PartList& parts, const std::string& spec) {
    JoinSeen join;
    PMEMFS_ASSIGN_OR_RETURN(std::unique_ptr<mapping::Device> dev,
                            AssembleForListing(parts, &join));
    PMEMFS_ASSIGN_OR_RETURN(Description d, Describe(*dev, spec, join));
    EXPECT_EQ(d.parts, dev->info().part_count);
    return d;
  }
};

std::string Names(const PartList& parts) {
  std::string s;
  for (const auto& p : parts) {
    if (!s.empty()) s += ',';
    s += p->name();
  }
  return s;
}

TEST(PendingAddPart, ListedAtEveryPersistPointWithTheCommandThatEndsIt) {
  const uint64_t total = CutAdd(UINT64_MAX).points;
  ASSERT_GE(total, 4u);
  int seen[4] = {};  // uncommitted, committed, store growth after the labels, mark only
  for (uint64_t n = 0; n <= total; n++) {
    SCOPED_TRACE("cut after point " + std::to_string(n));
    CutAdd m(n);
    const std::string old = Names(m.old), both = Names(m.Both());
    const std::string add = "pmemfs-tune --add-part " + m.part->name() + " " + old;
    const JoinState state = mapping::InspectJoin(m.old, *m.part);
    Result<Description> d = m.List(m.Both(), both);
    Result<Description> alone = m.List(m.old, old);
    bool recover = false;  // what the listing names is the --add-part command
    if (state == JoinState::kUncommitted || state == JoinState::kCommitted) {
      ASSERT_TRUE(d.ok()) << d.status().message();
      ASSERT_EQ(d->changes.size(), 1u);
      const PendingChange& c = d->changes[0];
      EXPECT_EQ(c.change, "add_part");
      EXPECT_EQ(c.command.find(add), 0u) << c.command;
      recover = true;
      if (state == JoinState::kUncommitted) {
        seen[0]++;
        EXPECT_EQ(d->parts, 1u);  // the old device
        EXPECT_NE(c.state.find("before its commit point"), std::string::npos) << c.state;
        ASSERT_TRUE(alone.ok()) << alone.status().message();
        ASSERT_EQ(alone->changes.size(), 1u);  // the store's mark, set before the labels
        EXPECT_EQ(alone->changes[0].change, "store_growth");
      } else {
        seen[1]++;
        EXPECT_EQ(d->parts, 2u);  // the grown device
        EXPECT_NE(c.state.find("after its commit point"), std::string::npos) << c.state;
        // A part missing: the assembly names the command (or, once the old part's labels are
        // settled, the missing part).
        ASSERT_FALSE(alone.ok());
        const std::string& why = alone.status().message();
        EXPECT_TRUE(why.find("--add-part") != std::string::npos ||
                    why.find("missing part 1") != std::string::npos)
            << why;
      }
    } else {
      const bool joined = state == JoinState::kJoined;
      const Result<Description>& now = joined ? d : alone;
      ASSERT_TRUE(now.ok()) << now.status().message();
      EXPECT_EQ(now->parts, joined ? 2u : 1u);
      const std::string spec = joined ? both : old;
      if (!now->changes.empty()) {
        ASSERT_EQ(now->changes.size(), 1u);
        const PendingChange& c = now->changes[0];
        EXPECT_EQ(c.change, "store_growth");
        EXPECT_NE(c.command.find("pmemfs-fsck -y " + spec), std::string::npos) << c.command;
        EXPECT_NE(c.state.find(joined ? "has not grown" : "before its commit point"),
                  std::string::npos)
            << c.state;
        seen[joined ? 2 : 3]++;
      }
      // Its superblock's mark, as listed.
      JoinSeen join;
      auto dev = AssembleForListing(joined ? m.Both() : m.old, &join);
      ASSERT_TRUE(dev.ok());
      EXPECT_EQ(store::Store::Peek(**dev)->store_growth != 0, !now->changes.empty());
    }
    // What the listing names ends it: the same --add-part (its recovery), or a read-write open.
    PartList parts = m.old;
    if (recover) {
      Result<AddPartResult> r = RecoverAddPart(m.old, m.part, {});
      ASSERT_TRUE(r.ok()) << r.status().message();
      if (r->grown) parts = m.Both();
    } else {
      if (state == JoinState::kJoined) parts = m.Both();
      auto dev = mapping::AssembleDevice(parts, {});
      ASSERT_TRUE(dev.ok()) << dev.status().message();
      auto s = store::Store::Open(**dev, nullptr);
      ASSERT_TRUE(s.ok()) << s.status().message();
      ASSERT_TRUE((*s)->Close().ok());
    }
    Result<Description> after = m.List(parts, Names(parts));
    ASSERT_TRUE(after.ok()) << after.status().message();
    EXPECT_TRUE(after->changes.empty()) << after->changes[0].change;
  }
  for (int k = 0; k < 4; k++) EXPECT_GT(seen[k], 0) << "state " << k << " never seen";
}

// An add that finished lists nothing; a device that never saw one neither.
TEST(PendingAddPart, NothingListedWhenNothingIsUnderWay) {
  CutAdd m(UINT64_MAX);
  Result<Description> d = m.List(m.Both(), Names(m.Both()));
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->parts, 2u);
  EXPECT_TRUE(d->changes.empty());
  EXPECT_NE(DescriptionJson(*d).find("\"changes\":[]"), std::string::npos);
}

}  // namespace
}  // namespace pmemfs::tune
