// Writes the seed corpus of the mount-time parsing target (mount_target.h): real images,
// formatted and populated through fs/core in each mode, clean, with an orphan, or with a
// committed transaction left in the journal; each as is and with every checksum resealed.
//
//   pmemfs-fuzz-seeds DIR      (creates DIR; prints how many seeds it wrote)
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "mount_target.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 1;
  }
  std::error_code ec;
  std::filesystem::create_directories(argv[1], ec);
  if (ec) {
    std::fprintf(stderr, "%s: cannot create %s: %s\n", argv[0], argv[1], ec.message().c_str());
    return 1;
  }
  std::vector<std::string> names;
  const auto made = pmemfs::fuzz::SeedInputs(&names);
  if (!made.ok()) {
    std::fprintf(stderr, "%s: %s\n", argv[0], made.status().message().c_str());
    return 1;
  }
  const auto& seeds = *made;
  for (size_t i = 0; i < seeds.size(); i++) {
    const std::filesystem::path p = std::filesystem::path(argv[1]) / names[i];
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(seeds[i].data()), static_cast<std::streamsize>(seeds[i].size()));
    if (!out) {
      std::fprintf(stderr, "%s: cannot write %s\n", argv[0], p.c_str());
      return 1;
    }
  }
  std::printf("wrote %zu seeds to %s\n", seeds.size(), argv[1]);
  return 0;
}
