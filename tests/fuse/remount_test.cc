#include "fs/fuse/remount.h"

#include <gtest/gtest.h>
#include <sys/mount.h>

namespace pmemfs::fuse {
namespace {

TEST(MountFlagsTest, TheLastAtimeOptionWins) {
  // `mount -o remount,noatime` of a relatime mount: mount(8) hands over the mount's options
  // first, then the new one.
  const unsigned long f =
      MountFlags({"rw", "nosuid", "nodev", "relatime", "noatime"}, FlagBase::kNone);
  EXPECT_EQ(f & (MS_NOATIME | MS_RELATIME | MS_STRICTATIME),
            static_cast<unsigned long>(MS_NOATIME));
  EXPECT_EQ(f & (MS_NOSUID | MS_NODEV | MS_RDONLY),
            static_cast<unsigned long>(MS_NOSUID | MS_NODEV));
  EXPECT_EQ(MountFlags({"noatime", "relatime"}, FlagBase::kNone) & MS_NOATIME, 0u);
  EXPECT_EQ(MountFlags({"noatime", "strictatime"}, FlagBase::kNone),
            static_cast<unsigned long>(MS_STRICTATIME));
}

TEST(MountFlagsTest, BaseAndOpposites) {
  EXPECT_EQ(MountFlags({}, FlagBase::kLibfuse), static_cast<unsigned long>(MS_NOSUID | MS_NODEV));
  EXPECT_EQ(MountFlags({"suid", "dev"}, FlagBase::kLibfuse), 0u);
  EXPECT_EQ(MountFlags({"ro", "noexec", "rw"}, FlagBase::kNone),
            static_cast<unsigned long>(MS_NOEXEC));
  EXPECT_EQ(MountFlags({"mode=copy", "allow_other", "ro"}, FlagBase::kNone),
            static_cast<unsigned long>(MS_RDONLY));
}

}  // namespace
}  // namespace pmemfs::fuse
