#include "tools/fsck/report_json.h"

#include <vector>

#include "json.h"

namespace pmemfs::fsck {

using tools::JsonArray;
using tools::JsonObject;
using tools::JsonQuote;

std::string ReportJson(const std::string& device, const CheckReport& r, bool repair,
                       int exit_code) {
  JsonObject counts;
  counts.Num("inodes", r.inodes)
      .Num("inode_count", r.inode_count)
      .Num("directories", r.directories)
      .Num("files", r.files)
      .Num("symlinks", r.symlinks)
      .Num("others", r.others)
      .Num("dentries", r.dentries)
      .Num("extents", r.extents)
      .Num("xattrs", r.xattrs)
      .Num("chain_blocks", r.chain_blocks)
      .Num("xattr_value_blocks", r.xattr_value_blocks)
      .Num("data_blocks_used", r.data_blocks_used)
      .Num("data_blocks", r.data_blocks);
  std::vector<std::string> problems, notes;
  for (const Problem& p : r.problems)
    problems.push_back(
        JsonObject().Str("area", p.area).Str("message", p.message).Bool("fixed", p.repaired).str());
  for (const std::string& n : r.notes) notes.push_back(JsonQuote(n));
  const uint64_t left = r.unrepaired();
  return JsonObject()
      .Str("device", device)
      .Int("exit_code", exit_code)
      .Bool("clean", r.clean())
      .Bool("repair", repair)
      .Bool("journal_replayed", r.journal_replayed)
      .Bool("descriptors_checked", r.descriptors_checked)
      .Raw("counts", counts.str())
      .Num("problems_found", r.problems.size())
      .Num("problems_fixed", r.problems.size() - left)
      .Num("problems_left", left)
      .Raw("problems", JsonArray(problems))
      .Raw("notes", JsonArray(notes))
      .str();
}

std::string ErrorJson(const std::string& device, const std::string& error, int exit_code) {
  return JsonObject().Str("device", device).Int("exit_code", exit_code).Str("error", error).str();
}

}  // namespace pmemfs::fsck
