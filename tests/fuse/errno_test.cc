// fs/fuse/errno: the one table that turns a Code into the errno a FUSE reply carries.
#include "fs/fuse/errno.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <set>

namespace pmemfs::fuse {
namespace {

constexpr Code kLastCode = Code::kLoop;

// What each code means to the caller of a system call (errno(3), the system calls' pages).
TEST(ErrnoTest, EachCodeHasItsErrno) {
  const std::pair<Code, int> table[] = {
      {Code::kInvalidArgument, EINVAL}, {Code::kNotFound, ENOENT},
      {Code::kAlreadyExists, EEXIST},   {Code::kBusy, EBUSY},
      {Code::kNoSpace, ENOSPC},         {Code::kIoError, EIO},
      {Code::kCorrupt, EIO},            {Code::kUnsupported, EOPNOTSUPP},
      {Code::kPermission, EPERM},       {Code::kAccessDenied, EACCES},
      {Code::kNotDirectory, ENOTDIR},   {Code::kIsDirectory, EISDIR},
      {Code::kNotEmpty, ENOTEMPTY},     {Code::kNameTooLong, ENAMETOOLONG},
      {Code::kNoData, ENODATA},         {Code::kRange, ERANGE},
      {Code::kTooBig, EFBIG},           {Code::kTooManyLinks, EMLINK},
      {Code::kCrossDevice, EXDEV},      {Code::kReadOnly, EROFS},
      {Code::kLoop, ELOOP},
  };
  std::set<Code> seen;
  for (auto [code, err] : table) {
    EXPECT_EQ(ToErrno(code), err) << "code " << static_cast<int>(code);
    seen.insert(code);
  }
  // The table above covers every code but kOk: a new code gets its line here too.
  EXPECT_EQ(seen.size(), static_cast<size_t>(kLastCode));
}

TEST(ErrnoTest, OnlySuccessIsZero) {
  EXPECT_EQ(ToErrno(Code::kOk), 0);
  EXPECT_EQ(ToErrno(Status::Ok()), 0);
  for (int c = 1; c <= static_cast<int>(kLastCode); c++)
    EXPECT_GT(ToErrno(static_cast<Code>(c)), 0) << "code " << c;
}

// The codes whose errno depends on the call.
TEST(ErrnoTest, TheCallChoosesBetweenErrnos) {
  EXPECT_EQ(ToErrno(Code::kTooBig, ErrnoFor::kFile), EFBIG);   // write(2) past the size limit
  EXPECT_EQ(ToErrno(Code::kTooBig, ErrnoFor::kXattr), E2BIG);  // setxattr(2): value too large
  EXPECT_EQ(ToErrno(Code::kTooBig, ErrnoFor::kSeek), EFBIG);
  EXPECT_EQ(ToErrno(Code::kRange, ErrnoFor::kFile), ERANGE);   // getxattr(2): buffer too small
  EXPECT_EQ(ToErrno(Code::kRange, ErrnoFor::kXattr), ERANGE);
  EXPECT_EQ(ToErrno(Code::kRange, ErrnoFor::kSeek), ENXIO);    // lseek(2) SEEK_DATA past EOF
  // Every other code is the same whatever the call.
  for (int c = 0; c <= static_cast<int>(kLastCode); c++) {
    const Code code = static_cast<Code>(c);
    if (code == Code::kTooBig || code == Code::kRange) continue;
    EXPECT_EQ(ToErrno(code, ErrnoFor::kXattr), ToErrno(code)) << "code " << c;
    EXPECT_EQ(ToErrno(code, ErrnoFor::kSeek), ToErrno(code)) << "code " << c;
  }
}

TEST(ErrnoTest, StatusCarriesItsCode) {
  EXPECT_EQ(ToErrno(Status::NotFound("x")), ENOENT);
  EXPECT_EQ(ToErrno(Status(Code::kTooBig, "v"), ErrnoFor::kXattr), E2BIG);
}

// A code the table does not know (a bug below fs/fuse) must never read as success.
TEST(ErrnoTest, AnUnknownCodeIsAnIoError) {
  EXPECT_EQ(ToErrno(static_cast<Code>(static_cast<int>(kLastCode) + 1)), EIO);
  EXPECT_EQ(ToErrno(static_cast<Code>(-1)), EIO);
}

}  // namespace
}  // namespace pmemfs::fuse
