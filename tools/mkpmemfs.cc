// mkpmemfs: create a pmemfs filesystem on a device of one or more parts.
//
//   mkpmemfs [--mode copy|direct|pages] [--layout linear|striped] [--chunk 2M]
//            [--journal-size SIZE] [--inodes N] [--label TEXT] [--ram-size SIZE]
//            [--no-descriptors] [--page-granularity] [--force] [-q] DEVICE[,PART...]
//   mkpmemfs -V|--version
//
// Installed also as mkfs.pmemfs (the name mkfs(8) looks for): `mkfs -t pmemfs [-L LABEL] [-f]
// [-q] DEVICE` passes its options through, so the short forms -L, -f and -q are those of mke2fs.
//
// Writes the part labels (mapping::CreateDevice: geometry, bad-block tables, the page-descriptor
// area unless --no-descriptors), then the filesystem (store::Store::Format: superblock and
// backup, journal, inode table, bitmap, root directory), and prints the geometry. Without
// --force it refuses a device that already holds a pmemfs or another known filesystem, naming
// what it found. Exit status: 0 done, 1 error (one line on stderr).
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli.h"
#include "fs/store/store.h"
#include "human.h"
#include "mapping/device_set.h"
#include "pmemfs/layout.h"
#include "pmemfs/size.h"
#include "mkpmemfs_progress.h"
#include "mkpmemfs_signatures.h"
#include "version.h"

namespace {

using namespace pmemfs;

struct Options {
  std::string device;
  std::string mode = "direct";
  std::string layout = "linear";
  std::string chunk = "2M";
  std::string journal_size = "0";
  uint64_t inodes = 0;
  std::string label;
  std::string ram_size = "auto";
  bool no_descriptors = false;
  bool page_granularity = false;
  bool force = false;
  bool quiet = false;
};

int Fail(const std::string& message) {
  fprintf(stderr, "mkpmemfs: %s\n", message.c_str());
  return 1;
}

using tools::Human;

Result<uint64_t> Size(const std::string& option, const std::string& value) {
  Result<uint64_t> v = ParseSize(value);
  if (!v.ok()) return Status::InvalidArgument(option + ": " + v.status().message());
  return v;
}

void PrintGeometry(const Options& o, const mapping::Device& dev) {
  const mapping::DeviceInfo& i = dev.info();
  layout::Superblock sb{};
  dev.Read(0, &sb, sizeof sb);
  auto blocks = [](uint64_t n) { return std::to_string(n) + " blocks (" + Human(n * 4096) + ")"; };
  printf("pmemfs on %s\n", o.device.c_str());
  printf("  uuid            %s\n", mapping::UuidString(i.set_uuid).c_str());
  printf("  label           '%.*s'\n", static_cast<int>(strnlen(sb.label, sizeof sb.label)),
         sb.label);
  printf("  default mode    %s\n", o.mode.c_str());
  printf("  size            %s (%lu bytes)\n", Human(i.size).c_str(), i.size);
  printf("  layout          %s", mapping::LayoutName(i.layout).c_str());
  if (i.layout == layout::LayoutKind::kStriped) printf(", chunk %s", Human(i.chunk_size).c_str());
  printf(", %u part%s, %s flushes\n", i.part_count, i.part_count == 1 ? "" : "s",
         mapping::GranularityName(dev.granularity()));
  for (size_t p = 0; p < dev.part_count(); p++)
    printf("    [%zu] %s: %s, data %s\n", p, dev.part(p).name().c_str(),
           Human(dev.part(p).size()).c_str(), Human(dev.part_data_size(p)).c_str());
  mapping::Range store = i.store();
  printf("  store area      [0, %lu) %s\n", store.end(), Human(store.length).c_str());
  printf("    journal       %s\n", blocks(sb.journal_blocks).c_str());
  printf("    inode table   %lu inodes, %s\n", sb.inode_count, blocks(sb.inode_blocks).c_str());
  printf("    bitmap        %s\n", blocks(sb.bitmap_blocks).c_str());
  printf("    data          %s\n", blocks(sb.data_blocks).c_str());
  auto range = [](const char* name, mapping::Range r, const char* none) {
    if (r.empty()) printf("  %-15s %s\n", name, none);
    else printf("  %-15s [%lu, %lu) %s\n", name, r.offset, r.end(), Human(r.length).c_str());
  };
  range("RAM partition", i.ram, "none (--ram-size reserves one for volatile files)");
  range("descriptors", i.descriptors, "none (pages mode unavailable)");
}

int Run(const Options& o) {
  Result<mapping::Mode> mode = mapping::ParseMode(o.mode);
  if (!mode.ok()) return Fail("--mode: " + mode.status().message());
  if (*mode == mapping::Mode::kPages && o.no_descriptors)
    return Fail("--mode pages needs the page-descriptor area (drop --no-descriptors)");
  if (o.label.size() > 63) return Fail("--label: at most 63 bytes");
  mapping::CreateOptions copts;
  copts.layout = o.layout == "striped" ? layout::LayoutKind::kStriped : layout::LayoutKind::kLinear;
  Result<uint64_t> chunk = Size("--chunk", o.chunk);
  Result<uint64_t> ram = o.ram_size == "auto" ? Result<uint64_t>(0) : Size("--ram-size", o.ram_size);
  Result<uint64_t> journal = Size("--journal-size", o.journal_size);
  for (const Status& s : {chunk.status(), ram.status(), journal.status()})
    if (!s.ok()) return Fail(s.message());
  copts.chunk_size = *chunk;
  copts.ram_size = *ram;
  copts.reserve_descriptors = !o.no_descriptors;

  std::vector<std::string> paths = mapping::SplitPartList(o.device);
  mapping::PartOpenOptions popts{.force_cache_line = !o.page_granularity};
  Result<std::vector<std::shared_ptr<mapping::Part>>> parts = mapping::OpenFileParts(paths, popts);
  if (!parts.ok()) {
    if (parts.status().code() == Code::kBusy)
      return Fail(parts.status().message() + " (is it mounted?)");
    return Fail(parts.status().message());
  }
  if (o.ram_size == "auto") {  // 1/16 of the device, at most 256 MiB; none below 64 MiB
    uint64_t total = 0;
    for (const auto& p : *parts) total += p->size();
    copts.ram_size = total < (64ull << 20) ? 0 : std::min<uint64_t>(total / 16, 256ull << 20) >> 20 << 20;
  }
  if (!o.force) {
    std::string found = tools::FindSignature(*parts);
    if (!found.empty())
      return Fail(o.device + " " + found + "; use --force to overwrite it");
  }

  tools::Progress progress(o.quiet);
  copts.progress = [&progress](uint64_t done, uint64_t total) {
    progress.Update("clearing page descriptors", done, total);
  };
  Result<std::unique_ptr<mapping::Device>> dev =
      mapping::CreateDevice(std::move(parts).value(), copts);
  progress.Finish();
  if (!dev.ok()) return Fail(dev.status().message());

  store::FormatOptions fopts;
  fopts.label = o.label;
  fopts.inode_count = o.inodes;
  fopts.journal_bytes = *journal;
  fopts.default_mode = mapping::ToStoredMode(*mode);
  fopts.root_uid = getuid();
  fopts.root_gid = getgid();
  fopts.progress = [&progress](uint64_t done, uint64_t total) {
    progress.Update("writing the filesystem", done, total);
  };
  Status s = store::Store::Format(**dev, fopts);
  progress.Finish();
  if (!s.ok()) return Fail(o.device + ": " + s.message());
  if (!o.quiet) PrintGeometry(o, **dev);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Create a pmemfs filesystem on a device of one or more parts (DESTROYS its data)",
               "mkpmemfs"};
  Options o;
  app.add_option("device", o.device, "PART[,PART...]: files, files on fsdax, devdax devices")
      ->required();
  app.add_option("--mode", o.mode, "default access mode stored in the superblock (copy, direct, "
                                   "pages; default direct)")
      ->check(CLI::IsMember({"copy", "direct", "pages"}));
  app.add_option("--layout", o.layout, "how parts form the device: linear or striped")
      ->check(CLI::IsMember({"linear", "striped"}));
  app.add_option("--chunk", o.chunk, "stripe chunk size (power of two, >= 2M; default 2M)");
  app.add_option("--journal-size", o.journal_size,
                 "journal size (default: 1/64 of the store, 256K to 16M)");
  app.add_option("--inodes", o.inodes, "number of inodes (default: one per 16 KiB)");
  app.add_option("-L,--label", o.label, "filesystem label (at most 63 bytes)");
  app.add_option("--ram-size", o.ram_size,
                 "RAM partition for volatile files under ram/ (default: 1/16 of the device, at most "
                 "256M, none below 64M; 0: none)");
  app.add_flag("--no-descriptors", o.no_descriptors,
               "do not reserve the page-descriptor area (pages mode becomes unavailable)");
  app.add_flag("--page-granularity", o.page_granularity,
               "flush emulated pmem files with msync instead of cache-line flushes");
  app.add_flag("-f,--force", o.force, "overwrite an existing pmemfs or other filesystem");
  app.add_flag("-q,--quiet", o.quiet, "print nothing but errors");
  app.set_version_flag("-V,--version", tools::VersionString("mkpmemfs"),
                       "print the version and exit");
  if (std::optional<int> done = tools::ParseCommandLine(app, argc, argv, 1)) return *done;
  return Run(o);
}
