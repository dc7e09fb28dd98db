// pmemfs-tune --scrub: the report of a scrub (fs/store/scrub.h does the work, offline here and
// online in the daemon), printed as text or JSON.
//
//   Result<ScrubReport> r = Scrub(dev, name, {.progress = ...});   // offline
//   PrintScrub(*r, stdout);   ScrubJson(*r);
//
// Internal to tools/tune.
#pragma once

#include <cstdio>
#include <string>

#include "fs/store/scrub.h"

namespace pmemfs::tune {

using store::Scrub;
using store::ScrubOptions;
using store::ScrubRange;
using store::ScrubReport;

void PrintScrub(const ScrubReport& r, FILE* out);
std::string ScrubJson(const ScrubReport& r);

}  // namespace pmemfs::tune
