// pmemfs-handle: the file-handle calls the integration tests need (python3's os module has
// neither name_to_handle_at nor open_by_handle_at).
//
//   pmemfs-handle save PATH            prints PATH's handle as one line of hex (type:bytes)
//   pmemfs-handle open MOUNTPOINT HEX  opens the handle on the mount (O_RDONLY) and prints what
//                                      it opened: a regular file's bytes, or "dir" / "other"
//
// Errors: one line "pmemfs-handle: CALL: strerror" on stderr, exit 1 (so a test can grep for
// "Stale file handle"); usage errors exit 2.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

int Fail(const char* call) {
  fprintf(stderr, "pmemfs-handle: %s: %s\n", call, strerror(errno));
  return 1;
}

int Save(const char* path) {
  std::vector<char> buf(sizeof(file_handle) + MAX_HANDLE_SZ);
  auto* fh = reinterpret_cast<file_handle*>(buf.data());
  fh->handle_bytes = MAX_HANDLE_SZ;
  int mount_id = 0;
  if (name_to_handle_at(AT_FDCWD, path, fh, &mount_id, 0) != 0) return Fail("name_to_handle_at");
  printf("%d:", fh->handle_type);
  for (unsigned i = 0; i < fh->handle_bytes; i++) printf("%02x", fh->f_handle[i]);
  printf("\n");
  return 0;
}

int Open(const char* mountpoint, const std::string& hex) {
  const size_t colon = hex.find(':');
  const std::string bytes = colon == std::string::npos ? "" : hex.substr(colon + 1);
  if (colon == std::string::npos || bytes.size() % 2 != 0 || bytes.size() / 2 > MAX_HANDLE_SZ) {
    fprintf(stderr, "pmemfs-handle: '%s' is not a saved handle\n", hex.c_str());
    return 2;
  }
  std::vector<char> buf(sizeof(file_handle) + MAX_HANDLE_SZ);
  auto* fh = reinterpret_cast<file_handle*>(buf.data());
  fh->handle_type = atoi(hex.substr(0, colon).c_str());
  fh->handle_bytes = static_cast<unsigned>(bytes.size() / 2);
  for (unsigned i = 0; i < fh->handle_bytes; i++)
    fh->f_handle[i] =
        static_cast<unsigned char>(strtoul(bytes.substr(2 * i, 2).c_str(), nullptr, 16));
  const int mfd = open(mountpoint, O_RDONLY | O_DIRECTORY);
  if (mfd < 0) return Fail("open of the mount point");
  int fd = open_by_handle_at(mfd, fh, O_RDONLY);
  if (fd < 0) return Fail("open_by_handle_at");
  struct stat st;
  if (fstat(fd, &st) != 0) return Fail("fstat");
  if (!S_ISREG(st.st_mode)) {
    printf(S_ISDIR(st.st_mode) ? "dir\n" : "other\n");
    return 0;
  }
  char data[65536];
  ssize_t n;
  while ((n = read(fd, data, sizeof data)) > 0) fwrite(data, 1, static_cast<size_t>(n), stdout);
  if (n < 0) return Fail("read");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "save") == 0) return Save(argv[2]);
  if (argc == 4 && strcmp(argv[1], "open") == 0) return Open(argv[2], argv[3]);
  fprintf(stderr, "usage: pmemfs-handle save PATH | open MOUNTPOINT HEX\n");
  return 2;
}
