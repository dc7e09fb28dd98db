#include "fs/fuse/daemonize.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace pmemfs::fuse {

Status Daemonizer::Background() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Status::IoError(std::string("pipe: ") + strerror(errno));
  pid_t pid = fork();
  if (pid < 0) return Status::IoError(std::string("fork: ") + strerror(errno));
  if (pid > 0) {  // the parent: wait for Ready() or the child's end
    close(fds[1]);
    char ok;
    ssize_t n;
    do {
      n = read(fds[0], &ok, 1);
    } while (n < 0 && errno == EINTR);
    if (n == 1) _exit(0);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    _exit(WIFEXITED(status) && WEXITSTATUS(status) != 0 ? WEXITSTATUS(status) : 1);
  }
  close(fds[0]);
  notify_fd_ = fds[1];
  setsid();
  return Status::Ok();
}

void Daemonizer::Ready() {
  if (notify_fd_ < 0) return;
  char ok = 1;
  (void)!write(notify_fd_, &ok, 1);
  close(notify_fd_);
  notify_fd_ = -1;
  (void)!chdir("/");
  int null = open("/dev/null", O_RDWR);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    if (null > 2) close(null);
  }
}

}  // namespace pmemfs::fuse
