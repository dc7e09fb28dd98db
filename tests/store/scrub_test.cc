// The one-line form of a scrub report (fs/store/scrub.h: how the daemon hands it to pmemfs-tune):
// every field comes back as it went, strings with any byte; lines it did not make are refused.
#include "fs/store/scrub.h"

#include <gtest/gtest.h>

namespace pmemfs::store {
namespace {

ScrubReport Sample() {
  ScrubReport r;
  r.device = "/dev/shm/a b,c\t";
  r.bytes_read = 123456789012;
  r.bytes_skipped = 4096;
  r.elapsed_ns = 77;
  r.found_bytes = 8192;
  r.owners_from = "descriptors";
  r.record_error = "";
  ScrubRange a{8192, 4096, true, {}};
  OwnerPiece p;
  p.offset = 8192;
  p.length = 100;
  p.kind = OwnerKind::kFileData;
  p.ino = 17;
  p.file_offset = 1 << 20;
  p.path = "/dir/with space/\xff\n";
  a.owners.push_back(p);
  OwnerPiece q;
  q.offset = 8292;
  q.length = 3996;
  q.kind = OwnerKind::kUnreferenced;
  q.suspects = {"/x", "inode 9", ""};
  a.owners.push_back(q);
  OwnerPiece t;
  t.kind = OwnerKind::kInodeTable;
  t.first_ino = 17;
  t.last_ino = 32;
  t.symlink = true;
  ScrubRange b{1 << 30, 4096, false, {t}};
  r.ranges = {a, b, ScrubRange{}};
  return r;
}

void ExpectSame(const ScrubReport& x, const ScrubReport& y) {
  EXPECT_EQ(x.device, y.device);
  EXPECT_EQ(x.bytes_read, y.bytes_read);
  EXPECT_EQ(x.bytes_skipped, y.bytes_skipped);
  EXPECT_EQ(x.elapsed_ns, y.elapsed_ns);
  EXPECT_EQ(x.found_bytes, y.found_bytes);
  EXPECT_EQ(x.owners_from, y.owners_from);
  EXPECT_EQ(x.record_error, y.record_error);
  ASSERT_EQ(x.ranges.size(), y.ranges.size());
  for (size_t i = 0; i < x.ranges.size(); i++) {
    EXPECT_EQ(x.ranges[i].offset, y.ranges[i].offset);
    EXPECT_EQ(x.ranges[i].length, y.ranges[i].length);
    EXPECT_EQ(x.ranges[i].found, y.ranges[i].found);
    EXPECT_EQ(x.ranges[i].owners, y.ranges[i].owners);
  }
}

TEST(ScrubReportLine, RoundTrips) {
  const ScrubReport r = Sample();
  const std::string line = EncodeScrubReport(r);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.find('\t'), std::string::npos);
  Result<ScrubReport> back = DecodeScrubReport(line);
  ASSERT_TRUE(back.ok()) << back.status().message();
  ExpectSame(r, *back);
  Result<ScrubReport> empty = DecodeScrubReport(EncodeScrubReport(ScrubReport{}));
  ASSERT_TRUE(empty.ok());
  ExpectSame(ScrubReport{}, *empty);
}

TEST(ScrubReportLine, RefusesWhatItDidNotMake) {
  const std::string line = EncodeScrubReport(Sample());
  for (const std::string& bad :
       {std::string(""), std::string("scrub1"), std::string("scrub2") + line.substr(6),
        line + " 5", line.substr(0, line.size() - 3), line.substr(0, line.size() / 2),
        std::string("scrub1 xzz 1 2 3 4 x x 0"), std::string("scrub1 x -1 2 3 4 x x 0"),
        std::string("scrub1 x 1 2 3 4 x x 1 0 0 2 0"),
        std::string("scrub1 x 1 2 3 4 x x 1 0 0 0 1 0 0 99 0 0 0 0 0 x 0"),
        std::string("scrub1 x 1 2 3 4 x x 99999999999999999999999")}) {
    EXPECT_FALSE(DecodeScrubReport(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace pmemfs::store
