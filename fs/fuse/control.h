// The control socket: how another `pmemfs` invocation reaches the daemon that serves a device,
// for what the kernel never tells a FUSE daemon: `mount -o remount,ro|rw|noatime...` and a
// second mount of a mounted device (which becomes a bind mount of the first).
//
//   daemon:  auto srv = ControlServer::Start(DeviceKey(device), handler);  // a thread of its own
//   client:  ControlRequest(ControlSocketPath(key), "info")               // one line back
//            FindDaemonByMount(mountpoint)                               // remount: by st_dev
//
// One Unix stream socket per daemon, /run/pmemfs/KEY.sock (directory and socket root's only,
// and a caller must be root or the daemon's own user), KEY naming the device's first part (its
// device number for a device node, its filesystem and inode numbers for a file, so every path
// to the same part finds it). Only the daemon holding the device's lock serves it, so a socket
// left by a daemon that died is replaced by the next one. Protocol: one request line per
// connection (at most 4 KiB), one reply line (at most 64 MiB): "ok[ TEXT]" or "error MESSAGE".
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "pmemfs/status.h"

namespace pmemfs::fuse {

inline constexpr const char* kControlDir = "/run/pmemfs";

// The key of the device "PART[,PART...]": from its first part (which must exist).
Result<std::string> DeviceKey(const std::string& spec);
std::string ControlSocketPath(const std::string& key);

class ControlServer {
 public:
  // Answers one request line (without its newline) with one reply line ("ok ..." or
  // "error ..."). Called on the server's thread, one request at a time.
  using Handler = std::function<std::string(const std::string& request)>;

  // Binds the socket of `key` and serves it on a thread until destroyed.
  static Result<std::unique_ptr<ControlServer>> Start(const std::string& key, Handler handler);
  ~ControlServer();  // stops the thread, removes the socket
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

 private:
  ControlServer() = default;
  void Serve();

  std::string path_;
  Handler handler_;
  int listen_fd_ = -1;
  int stop_fd_[2] = {-1, -1};  // a pipe: writing to [1] ends Serve
  std::thread thread_;
};

// Sends `request` to the daemon at `socket_path` and returns its reply line, waiting at most
// `timeout_s` seconds for it. NotFound when no daemon listens there; IoError for a broken
// exchange or a daemon that does not answer in time.
inline constexpr int kInfoTimeoutS = 10;      // "info": answered at once by a live daemon
inline constexpr int kRemountTimeoutS = 300;  // a remount to read-only writes back first
Result<std::string> ControlRequest(const std::string& socket_path, const std::string& request,
                                   int timeout_s = kInfoTimeoutS);

// The reply of a daemon to "info" is "ok KEY=VALUE\tKEY=VALUE...". Returns VALUE of `key`, or ""
// when absent.
std::string InfoField(const std::string& reply, const std::string& key);

// From /proc/self/mountinfo, without touching the mounts: the device number ("MAJ:MIN") of the
// last mount at `mountpoint` (absolute), and a mount point of the filesystem with device number
// `dev` that shows its root. "" when none.
std::string MountedDevice(const std::string& mountpoint);
std::string MountPointOf(const std::string& dev);

// From /proc/mounts, without touching the mounts: the mount point of a pmemfs mount (type
// fuse.pmemfs, or fuse with fstype=fuse) of `target`, a device string (its source names the
// same first part, compared by DeviceKey) or a mount point (absolute, or relative to the current
// directory); "" when none. Listed is not alive: the mount of a daemon that was killed stays
// listed (every access to it fails with ENOTCONN) until fusermount3 -u takes it down.
std::string ListedMountPoint(const std::string& target);

// The socket of the daemon whose mount `mountpoint` is (the last mount there has the device
// number a daemon reports as dev=MAJOR:MINOR), or NotFound. Asks the daemon of `device` (the
// source mount(8) passes) first, then every daemon.
Result<std::string> FindDaemonByMount(const std::string& mountpoint, const std::string& device);

}  // namespace pmemfs::fuse
