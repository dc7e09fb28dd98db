// compare.cc: comparing the pmemfs tree with the reference tree (see compare.h).
#include "compare.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iomanip>
#include <map>
#include <sstream>
#include <vector>

namespace fsx {
namespace {

std::string Label(const std::string& rel) { return rel.empty() ? "." : rel; }

template <typename T>
std::string Differs(const std::string& rel, const char* what, const T& a, const T& b) {
  std::ostringstream out;
  out << Label(rel) << ": " << what << " " << a << " (pmemfs) vs " << b << " (reference)";
  return out.str();
}

std::string Octal(unsigned v) {
  std::ostringstream out;
  out << "0" << std::oct << v;
  return out.str();
}

// ReadAll: the whole file through fd (pread from 0 to EOF); false with errno on failure.
bool ReadAll(int fd, std::string* out) {
  out->clear();
  char buf[1 << 16];
  off_t off = 0;
  for (;;) {
    const ssize_t n = pread(fd, buf, sizeof buf, off);
    if (n < 0) return false;
    if (n == 0) return true;
    out->append(buf, n);
    off += n;
  }
}

std::string FirstDifference(const std::string& a, const std::string& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) i++;
  size_t j = i;  // the end of the differing run
  while (j < a.size() && j < b.size() && a[j] != b[j]) j++;
  std::ostringstream out;
  out << "contents differ from byte " << i << " (run of " << (j - i) << " bytes; sizes "
      << a.size() << " and " << b.size() << ")";
  auto hex = [&](const std::string& s) {
    std::ostringstream h;
    for (size_t k = i; k < std::min(s.size(), i + 8); k++)
      h << std::hex << std::setw(2) << std::setfill('0')
        << static_cast<unsigned>(static_cast<unsigned char>(s[k])) << " ";
    return h.str();
  };
  out << ": pmemfs [" << hex(a) << "] reference [" << hex(b) << "]";
  return out.str();
}

std::string CompareContents(const std::string& rel, int fs_fd, int ref_fd) {
  std::string a, b;
  if (!ReadAll(fs_fd, &a)) return Label(rel) + ": read on pmemfs failed: " + ErrName(errno);
  if (!ReadAll(ref_fd, &b)) return Label(rel) + ": read on the reference failed: " + ErrName(errno);
  if (a != b) return Label(rel) + ": " + FirstDifference(a, b);
  return "";
}

// Xattrs: name -> value; false with errno on failure. ENOTSUP (none possible) is an empty map.
bool Xattrs(const std::string& path, std::map<std::string, std::string>* out) {
  out->clear();
  std::vector<char> names(65536);
  ssize_t n = llistxattr(path.c_str(), names.data(), names.size());
  if (n < 0) return errno == ENOTSUP;
  for (ssize_t i = 0; i < n;) {
    const std::string name(&names[i]);
    i += name.size() + 1;
    std::string value(65536, '\0');
    const ssize_t v = lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    if (v < 0) return false;
    value.resize(v);
    (*out)[name] = value;
  }
  return true;
}

std::string CompareXattrs(const Side& fs, const Side& ref, const std::string& rel) {
  std::map<std::string, std::string> a, b;
  if (!Xattrs(fs.Abs(rel), &a)) return Label(rel) + ": listing xattrs on pmemfs failed: " + ErrName(errno);
  if (!Xattrs(ref.Abs(rel), &b)) return Label(rel) + ": listing xattrs on the reference failed: " + ErrName(errno);
  if (a == b) return "";
  std::string names_a, names_b;
  for (const auto& [k, v] : a) names_a += k + "(" + std::to_string(v.size()) + ") ";
  for (const auto& [k, v] : b) names_b += k + "(" + std::to_string(v.size()) + ") ";
  if (names_a == names_b) return Label(rel) + ": xattr values differ: " + names_a;
  return Label(rel) + ": xattrs [" + names_a + "] (pmemfs) vs [" + names_b + "] (reference)";
}

bool Listing(const std::string& path, std::vector<std::string>* out) {
  out->clear();
  DIR* d = opendir(path.c_str());
  if (!d) return false;
  errno = 0;
  while (dirent* e = readdir(d)) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) out->push_back(e->d_name);
    errno = 0;
  }
  const int err = errno;
  closedir(d);
  errno = err;
  std::sort(out->begin(), out->end());
  return err == 0;
}

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : " ") + x;
  return "[" + s + "]";
}

// CompareStat: what lstat/fstat show, less what legitimately differs.
std::string CompareStat(const std::string& rel, const struct stat& a, const struct stat& b) {
  if ((a.st_mode & S_IFMT) != (b.st_mode & S_IFMT))
    return Differs(rel, "type", Octal(a.st_mode & S_IFMT), Octal(b.st_mode & S_IFMT));
  if (a.st_mode != b.st_mode) return Differs(rel, "mode", Octal(a.st_mode), Octal(b.st_mode));
  if (a.st_nlink != b.st_nlink) return Differs(rel, "link count", a.st_nlink, b.st_nlink);
  if (a.st_uid != b.st_uid || a.st_gid != b.st_gid)
    return Differs(rel, "owner", std::to_string(a.st_uid) + ":" + std::to_string(a.st_gid),
                   std::to_string(b.st_uid) + ":" + std::to_string(b.st_gid));
  if (!S_ISDIR(a.st_mode) && a.st_size != b.st_size) return Differs(rel, "size", a.st_size, b.st_size);
  return "";
}

}  // namespace

std::string CompareObject(const Side& fs, const Side& ref, const std::string& rel) {
  const std::string pa = fs.Abs(rel), pb = ref.Abs(rel);
  struct stat a, b;
  const int ra = lstat(pa.c_str(), &a) == 0 ? 0 : errno;
  const int rb = lstat(pb.c_str(), &b) == 0 ? 0 : errno;
  if (ra != rb) return Differs(rel, "lstat", ra ? ErrName(ra) : "ok", rb ? ErrName(rb) : "ok");
  if (ra) return "";  // missing (or unreachable) on both
  if (std::string d = CompareStat(rel, a, b); !d.empty()) return d;
  if (S_ISREG(a.st_mode)) {
    const int fa = open(pa.c_str(), O_RDONLY | O_NOFOLLOW);
    const int fb = open(pb.c_str(), O_RDONLY | O_NOFOLLOW);
    std::string d;
    if (fa < 0 || fb < 0) d = Label(rel) + ": open for reading failed: " + ErrName(errno);
    else d = CompareContents(rel, fa, fb);
    if (fa >= 0) close(fa);
    if (fb >= 0) close(fb);
    if (!d.empty()) return d;
  } else if (S_ISLNK(a.st_mode)) {
    char ta[4096], tb[4096];
    const ssize_t na = readlink(pa.c_str(), ta, sizeof ta);
    const ssize_t nb = readlink(pb.c_str(), tb, sizeof tb);
    if (na < 0) return Label(rel) + ": readlink on pmemfs failed: " + ErrName(errno);
    if (nb < 0) return Label(rel) + ": readlink on the reference failed: " + ErrName(errno);
    if (std::string(ta, na) != std::string(tb, nb))
      return Differs(rel, "symlink target", std::string(ta, na), std::string(tb, nb));
  } else if (S_ISDIR(a.st_mode)) {
    std::vector<std::string> la, lb;
    if (!Listing(pa, &la)) return Label(rel) + ": readdir on pmemfs failed: " + ErrName(errno);
    if (!Listing(pb, &lb)) return Label(rel) + ": readdir on the reference failed: " + ErrName(errno);
    if (la != lb) return Differs(rel, "listing", Join(la), Join(lb));
  }
  return CompareXattrs(fs, ref, rel);
}

std::string CompareTree(const Side& fs, const Side& ref) {
  if (std::string d = CompareObject(fs, ref, ""); !d.empty()) return d;
  for (const Entry& e : ref.Entries())  // (the listings matched, so the two trees name the same)
    if (std::string d = CompareObject(fs, ref, e.path); !d.empty()) return d;
  return "";
}

std::string CompareSlot(const Side& fs, const Side& ref, int slot) {
  const int fa = fs.slot_fd(slot), fb = ref.slot_fd(slot);
  const std::string rel = "<slot " + std::to_string(slot) + ">";
  if ((fa < 0) != (fb < 0)) return Differs(rel, "open", fa >= 0, fb >= 0);
  if (fa < 0) return "";
  struct stat a, b;
  if (fstat(fa, &a) != 0) return rel + ": fstat on pmemfs failed: " + ErrName(errno);
  if (fstat(fb, &b) != 0) return rel + ": fstat on the reference failed: " + ErrName(errno);
  if (std::string d = CompareStat(rel, a, b); !d.empty()) return d;
  if (!S_ISREG(a.st_mode)) return "";
  // Through a second descriptor: the slot may be write-only. /proc/self/fd reaches unlinked files.
  const std::string pa = "/proc/self/fd/" + std::to_string(fa), pb = "/proc/self/fd/" + std::to_string(fb);
  const int ra = open(pa.c_str(), O_RDONLY), rb = open(pb.c_str(), O_RDONLY);
  std::string d;
  if (ra < 0 || rb < 0) d = rel + ": reopening for reading failed: " + ErrName(errno);
  else d = CompareContents(rel, ra, rb);
  if (ra >= 0) close(ra);
  if (rb >= 0) close(rb);
  return d;
}

}  // namespace fsx
