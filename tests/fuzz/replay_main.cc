// Runs the mount-time parsing target (mount_target.h) over files and directories of inputs, in
// any build (no libFuzzer needed): the regression corpus and the seeds are checked by ctest this
// way (files whose names start with '.' are skipped). Exits 0 when every input ran (a crash or sanitizer report ends the process), 1 on usage
// errors or an unreadable input.
//
//   pmemfs-fuzz-replay PATH...
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "mount_target.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s INPUT_FILE_OR_DIR...\n", argv[0]);
    return 1;
  }
  std::vector<std::filesystem::path> files;
  for (int i = 1; i < argc; i++) {
    std::error_code ec;
    if (std::filesystem::is_directory(argv[i], ec)) {
      for (const auto& e : std::filesystem::directory_iterator(argv[i]))
        if (e.is_regular_file() && e.path().filename().string()[0] != '.')
          files.push_back(e.path());
    } else if (std::filesystem::is_regular_file(argv[i], ec)) {
      files.push_back(argv[i]);
    } else {
      std::fprintf(stderr, "%s: no such file or directory: %s\n", argv[0], argv[i]);
      return 1;
    }
  }
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      std::fprintf(stderr, "%s: cannot read %s\n", argv[0], f.c_str());
      return 1;
    }
    pmemfs::fuzz::FuzzMount(data.data(), data.size());
  }
  std::printf("ran %zu inputs\n", files.size());
  return 0;
}
