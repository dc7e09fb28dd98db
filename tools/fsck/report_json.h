// pmemfs-fsck --json: the run's summary as one JSON object on stdout, for scripts and
// monitoring (the manner of ndctl/daxctl). The keys:
//   device, exit_code, clean, repair (whether -y/-p/-a was given), journal_replayed,
//   descriptors_checked, counts {inodes, inode_count, directories, files, symlinks, others,
//   dentries, extents, xattrs, chain_blocks, xattr_value_blocks, data_blocks_used,
//   data_blocks},
//   problems_found, problems_fixed, problems_left, problems [{area, message, fixed}], notes [..]
// and, for an operational or usage error instead of a check: device, exit_code, error.
#pragma once

#include <string>

#include "tools/fsck/check.h"

namespace pmemfs::fsck {

std::string ReportJson(const std::string& device, const CheckReport& r, bool repair,
                       int exit_code);
std::string ErrorJson(const std::string& device, const std::string& error, int exit_code);

}  // namespace pmemfs::fsck
