#include "tools/tune/scrub.h"

#include <vector>

#include "human.h"
#include "json.h"

namespace pmemfs::tune {

void PrintScrub(const ScrubReport& r, FILE* out) {
  using tools::Human;
  const double secs = r.elapsed_ns / 1e9;
  fprintf(out, "%s: read %s in %.2f s (%s/s)", r.device.c_str(), Human(r.bytes_read).c_str(),
          secs, Human(secs > 0 ? static_cast<uint64_t>(r.bytes_read / secs) : 0).c_str());
  if (r.bytes_skipped) fprintf(out, ", %s known bad not read", Human(r.bytes_skipped).c_str());
  uint64_t found = 0;
  for (const ScrubRange& b : r.ranges) found += b.found;
  fprintf(out, "; %zu bad range%s (%lu new)\n", r.ranges.size(), r.ranges.size() == 1 ? "" : "s",
          found);
  for (const ScrubRange& b : r.ranges) {
    fprintf(out, "bad range [%lu, %lu) %s%s:\n", b.offset, b.offset + b.length,
            Human(b.length).c_str(), b.found ? " (new)" : "");
    for (const store::OwnerPiece& p : b.owners)
      fprintf(out, "  [%lu, %lu) %s%s\n", p.offset, p.offset + p.length,
              store::IsMetadata(p.kind) ? "metadata: " : "", store::Describe(p).c_str());
  }
  if (!r.record_error.empty())
    fprintf(out, "warning: the new bad ranges could not all be recorded: %s\n",
            r.record_error.c_str());
}

std::string ScrubJson(const ScrubReport& r) {
  using tools::JsonArray;
  using tools::JsonObject;
  std::vector<std::string> ranges;
  for (const ScrubRange& b : r.ranges) {
    std::vector<std::string> owners;
    for (const store::OwnerPiece& p : b.owners) {
      JsonObject o;
      o.Num("offset", p.offset).Num("length", p.length).Str("kind", store::OwnerKindName(p.kind));
      o.Bool("metadata", store::IsMetadata(p.kind));
      if (p.ino != 0) o.Num("ino", p.ino).Str("path", p.path);
      if (p.kind == store::OwnerKind::kFileData) o.Num("file_offset", p.file_offset);
      if (p.kind == store::OwnerKind::kInodeTable)
        o.Num("first_ino", p.first_ino).Num("last_ino", p.last_ino);
      if (p.kind == store::OwnerKind::kUnreferenced) {
        std::vector<std::string> suspects;
        for (const std::string& s : p.suspects) suspects.push_back(tools::JsonQuote(s));
        o.Raw("suspects", JsonArray(suspects));
      }
      o.Str("description", store::Describe(p));
      owners.push_back(o.str());
    }
    ranges.push_back(JsonObject()
                         .Num("offset", b.offset)
                         .Num("length", b.length)
                         .Bool("new", b.found)
                         .Raw("owners", JsonArray(owners))
                         .str());
  }
  return JsonObject()
      .Str("device", r.device)
      .Num("bytes_read", r.bytes_read)
      .Num("bytes_skipped", r.bytes_skipped)
      .Num("elapsed_ns", r.elapsed_ns)
      .Num("found_bytes", r.found_bytes)
      .Str("owners_from", r.owners_from)
      .Str("record_error", r.record_error)
      .Bool("metadata_hit", r.metadata_hit())
      .Raw("bad_ranges", JsonArray(ranges))
      .str();
}

}  // namespace pmemfs::tune
