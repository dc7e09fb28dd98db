// The mode argument of a variadic open (pmemfs_open/pmemfs_openat in api.cc, the open and openat
// interposers in preload.cc): read with va_arg only when the flags say there is one (O_CREAT, or
// the whole of O_TMPFILE: O_DIRECTORY alone has none), as libc's open does; 0 otherwise. A
// macro, since va_start belongs in the variadic function itself, whose last named parameter
// `flags` must be:
//
//   int open(const char* path, int flags, ...) { return Open(path, flags, OPEN_MODE(flags)); }
#pragma once

#include <fcntl.h>
#include <stdarg.h>

#define OPEN_MODE(flags)                                             \
  __extension__({                                                    \
    mode_t open_mode_ = 0;                                           \
    if (((flags) & O_CREAT) || ((flags) & O_TMPFILE) == O_TMPFILE) { \
      va_list open_ap_;                                              \
      va_start(open_ap_, flags);                                     \
      open_mode_ = static_cast<mode_t>(va_arg(open_ap_, int));       \
      va_end(open_ap_);                                              \
    }                                                                \
    open_mode_;                                                      \
  })
