// What the daemon answers on its control socket (control.h):
//
//   info                      -> ok dev=MAJ:MIN\tpid=N\tmountpoint=P\tro=0|1\tmode=M\t...
//                                (the fields DaemonDescription lists: what a second mount
//                                compares its options with, remount_client.h)
//   remount ro=0|1[ atime=A]  -> ok | error MESSAGE
//                                read-only: pending writes and times go down and the filesystem
//                                is marked clean (core::Filesystem::SetReadOnly); read-write:
//                                marked dirty, changes resume; atime: the policy from now on.
//   tune [label=HEX] [writeback_ms=N] [cache_size=BYTES] [mode=M]
//                             -> ok TEXT | error MESSAGE
//                                pmemfs-tune on a live mount (tools/tune/online.h): every value
//                                is checked before anything changes; mode and cache size
//                                first, through core::Filesystem::ChangeAccess (the quiesced
//                                switch: what it refuses leaves everything unchanged), then
//                                the label (hex of its bytes) through the journal, durable on
//                                return, and the write-back period from now on. TEXT
//                                says what changed and, for a switch, the pause:
//                                "pause_ns=N drain_ns=N".
//                                "info" reports the last switch's pause too (pause_ns=,
//                                pause_waiters=, pause_longest_wait_ns=).
//   scrub start[ poison=OFF:LEN[,OFF:LEN...]]
//                             -> ok id=N | error MESSAGE
//                                pmemfs-tune --scrub on a live mount: starts
//                                core::Filesystem::StartScrub (one at a time) and answers at
//                                once. poison= (tests only: refused unless the daemon runs with
//                                PMEMFS_TEST_POISON=1 in its environment) first makes those
//                                device ranges fault in the daemon (mapping/poison.h).
//   scrub status[ id=N]       -> ok running id=N done=BYTES total=BYTES
//                                | ok done REPORT (store::EncodeScrubReport: one line, however
//                                  many bad ranges) | error MESSAGE (the scrub failed, or N is
//                                  not the last one started)
#pragma once

#include <sys/types.h>

#include <string>

#include "fs/core/fs.h"
#include "fs/fuse/control.h"

namespace pmemfs::fuse {

// The daemon's mount, as it was made (everything but the read-only state, which the
// filesystem keeps). Tabs and newlines in the strings become spaces in the reply.
struct DaemonDescription {
  std::string device;      // as given
  std::string mountpoint;  // absolute
  std::string subtype;     // "" for plain fuse
  std::string mode;        // copy, direct, pages
  std::string ram_dir;
  uint64_t cache_size = 0;
  uint32_t writeback_ms = 0;
  std::string descriptors;  // device, dram
  bool writeback_cache = false;
  bool page_granularity = false;
};

// The handler for ControlServer::Start, made once the mount is up. `fs` must outlive the server.
// The mount's device number (dev=) comes from /proc/self/mountinfo: the daemon never opens its
// own mount point (that would make a concurrent unmount fail with EBUSY).
ControlServer::Handler DaemonControlHandler(core::Filesystem* fs, DaemonDescription d);

}  // namespace pmemfs::fuse
