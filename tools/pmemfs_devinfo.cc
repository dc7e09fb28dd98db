// pmemfs-devinfo: create or inspect the part set of a pmemfs device at the mapping level.
//
//   pmemfs-devinfo PART[,PART...]                          show labels, geometry, bad ranges
//   pmemfs-devinfo --create [--layout striped] ... PARTS   write new part labels (destroys data)
//   pmemfs-devinfo --json PART[,PART...]                   the same as one JSON object
//   pmemfs-devinfo --version
//
// mkpmemfs (the filesystem formatter) builds on the same mapping calls; this tool is for looking
// at and preparing the raw device. Exit status: 0 ok, 1 error (one line on stderr).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "human.h"
#include "json.h"
#include "mapping/access.h"
#include "mapping/device_set.h"
#include "pmemfs/size.h"
#include "version.h"

namespace {

using pmemfs::Status;
using namespace pmemfs::mapping;

using pmemfs::tools::Human;

void Show(const Device& dev) {
  const DeviceInfo& i = dev.info();
  printf("device %s\n", UuidString(i.set_uuid).c_str());
  printf("  layout        %s", LayoutName(i.layout).c_str());
  if (i.layout == pmemfs::layout::LayoutKind::kStriped) printf(", chunk %s", Human(i.chunk_size).c_str());
  printf("\n  size          %s (%lu bytes)\n", Human(i.size).c_str(), i.size);
  printf("  access path   %s (%lu mappings)\n", AccessPathName(dev.access_path()), dev.mapping_count());
  printf("  granularity   %s\n", GranularityName(dev.granularity()));
  printf("  parts         %u\n", i.part_count);
  for (size_t p = 0; p < dev.part_count(); p++) {
    const PartHeaderState& h = dev.header_state(p);
    std::string backup = "no backup label";
    if (h.backup_offset != 0)
      backup = "backup label at " + std::to_string(h.backup_offset) +
               (!h.primary_ok  ? " (primary damaged: opened from the backup)"
                : !h.backup_ok ? " (damaged)"
                               : "");
    printf("    [%zu] %-40s %10s, data %s, %s, %s\n", p, dev.part(p).name().c_str(),
           Human(dev.part(p).size()).c_str(), Human(dev.part_data_size(p)).c_str(),
           GranularityName(dev.part(p).granularity()), backup.c_str());
  }
  auto range = [](const char* name, Range r) {
    if (r.empty()) printf("  %-13s none\n", name);
    else printf("  %-13s [%lu, %lu)  %s\n", name, r.offset, r.end(), Human(r.length).c_str());
  };
  range("store area", i.store());
  range("RAM partition", i.ram);
  range("descriptors", i.descriptors);
  auto bad = dev.bad_blocks().List();
  printf("  bad ranges    %zu\n", bad.size());
  for (const auto& b : bad) printf("    [%lu, %lu)\n", b.offset, b.offset + b.length);
}

// Show() as one JSON object (--json); sizes and offsets in bytes:
//   {uuid, layout, chunk_size, size, access_path, mappings, granularity, part_count,
//    parts [{index, name, size, data_size, granularity}], store {offset, length},
//    ram {offset, length}, descriptors {offset, length}, bad_ranges [{offset, length}]}
// (an absent RAM partition or descriptor area has length 0).
std::string ShowJson(const Device& dev) {
  using pmemfs::tools::JsonArray;
  using pmemfs::tools::JsonObject;
  const DeviceInfo& i = dev.info();
  auto range = [](uint64_t offset, uint64_t length) {
    return JsonObject().Num("offset", offset).Num("length", length).str();
  };
  std::vector<std::string> parts, bad;
  for (size_t p = 0; p < dev.part_count(); p++)
    parts.push_back(JsonObject()
                        .Num("index", p)
                        .Str("name", dev.part(p).name())
                        .Num("size", dev.part(p).size())
                        .Num("data_size", dev.part_data_size(p))
                        .Str("granularity", GranularityName(dev.part(p).granularity()))
                        .str());
  for (const auto& b : dev.bad_blocks().List()) bad.push_back(range(b.offset, b.length));
  return JsonObject()
      .Str("uuid", UuidString(i.set_uuid))
      .Str("layout", LayoutName(i.layout))
      .Num("chunk_size", i.layout == pmemfs::layout::LayoutKind::kStriped ? i.chunk_size : 0)
      .Num("size", i.size)
      .Str("access_path", AccessPathName(dev.access_path()))
      .Num("mappings", dev.mapping_count())
      .Str("granularity", GranularityName(dev.granularity()))
      .Num("part_count", i.part_count)
      .Raw("parts", JsonArray(parts))
      .Raw("store", range(i.store().offset, i.store().length))
      .Raw("ram", range(i.ram.offset, i.ram.length))
      .Raw("descriptors", range(i.descriptors.offset, i.descriptors.length))
      .Raw("bad_ranges", JsonArray(bad))
      .str();
}

uint64_t SizeArg(const std::string& s) {
  pmemfs::Result<uint64_t> v = pmemfs::ParseSize(s);
  if (!v.ok()) throw CLI::ValidationError("size", v.status().message());
  return *v;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Create or inspect the parts of a pmemfs device (mapping level)"};
  std::string spec, layout_name = "linear", chunk = "2M", ram = "0", path_name = "auto";
  bool create = false, no_desc = false, page_granularity = false, json = false;
  std::vector<std::string> inject;
  app.add_option("device", spec, "PART[,PART...]: files or devdax devices")->required();
  app.add_flag("--create", create, "write new part labels (destroys what the parts held)");
  app.add_option("--layout", layout_name, "linear or striped")->check(CLI::IsMember({"linear", "striped"}));
  app.add_option("--chunk", chunk, "stripe chunk size (power of two, >= 2M)");
  app.add_option("--ram", ram, "RAM partition size");
  app.add_flag("--no-descriptors", no_desc, "do not reserve the page-descriptor area");
  app.add_option("--path", path_name, "access path: auto, linear or translated")
      ->check(CLI::IsMember({"auto", "linear", "translated"}));
  app.add_flag("--page-granularity", page_granularity,
               "flush emulated pmem with msync instead of cache-line flushes");
  app.add_option("--inject-bad", inject, "OFFSET:LENGTH, mark a device range bad (testing)");
  app.add_flag("--json", json, "print the device as one JSON object (see pmemfs-devinfo(8))");
  app.set_version_flag("-V,--version", pmemfs::tools::VersionString("pmemfs-devinfo"),
                       "print the version and exit");
  CLI11_PARSE(app, argc, argv);

  try {
    // Only --create and --inject-bad write: otherwise the parts are opened read-only.
    PartOpenOptions popts{.force_cache_line = !page_granularity,
                          .read_only = !create && inject.empty()};
    AssembleOptions aopts;
    aopts.path = path_name == "linear" ? AccessPath::kLinear
                 : path_name == "translated" ? AccessPath::kTranslated : AccessPath::kAuto;
    auto parts = OpenFileParts(SplitPartList(spec), popts);
    if (!parts.ok()) {
      fprintf(stderr, "pmemfs-devinfo: %s\n", parts.status().message().c_str());
      return 1;
    }
    pmemfs::Result<std::unique_ptr<Device>> dev = Status::InvalidArgument("unset");
    if (create) {
      CreateOptions copts;
      copts.layout = layout_name == "striped" ? pmemfs::layout::LayoutKind::kStriped
                                              : pmemfs::layout::LayoutKind::kLinear;
      copts.chunk_size = SizeArg(chunk);
      copts.ram_size = SizeArg(ram);
      copts.reserve_descriptors = !no_desc;
      dev = CreateDevice(std::move(parts).value(), copts, aopts);
    } else {
      dev = AssembleDevice(std::move(parts).value(), aopts);
    }
    if (!dev.ok()) {
      fprintf(stderr, "pmemfs-devinfo: %s\n", dev.status().message().c_str());
      return 1;
    }
    for (const auto& spec_bad : inject) {
      auto colon = spec_bad.find(':');
      if (colon == std::string::npos) throw CLI::ValidationError("--inject-bad", "expected OFFSET:LENGTH");
      Status st = (*dev)->bad_blocks().Inject(SizeArg(spec_bad.substr(0, colon)),
                                              SizeArg(spec_bad.substr(colon + 1)));
      if (!st.ok()) {
        fprintf(stderr, "pmemfs-devinfo: %s\n", st.message().c_str());
        return 1;
      }
    }
    if (json) printf("%s\n", ShowJson(**dev).c_str());
    else Show(**dev);
  } catch (const std::exception& e) {
    fprintf(stderr, "pmemfs-devinfo: %s\n", e.what());
    return 1;
  }
  return 0;
}
