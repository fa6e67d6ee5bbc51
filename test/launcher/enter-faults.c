// Runs a command with io_uring_enter(2) failing now and then, the way a
// kernel short of memory (EAGAIN) or of CQ room (EBUSY) fails it:
//
//   enter-faults <skip> <every> <EAGAIN|EBUSY> command [args...]
//
// After the first <skip> calls that submit SQEs (ring setup probes), every
// <every>-th such call fails with the errno instead of entering the kernel;
// calls that only wait for or run completions pass. A seccomp filter hands
// each submitting call to this process (SECCOMP_RET_USER_NOTIF), which lets
// it through (SECCOMP_USER_NOTIF_FLAG_CONTINUE, 5.5+) or fails it.
// Exits with the command's status.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif

static int install_filter(void) {
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      // to_submit: the low word of the second argument.
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
  };
  struct sock_fprog program = {sizeof(filter) / sizeof(filter[0]), filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return -1;
  return (int)syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &program);
}

static void send_fd(int channel, int fd) {
  char byte = 0;
  struct iovec iov = {&byte, 1};
  char control[CMSG_SPACE(sizeof(int))] = {0};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof(control)};
  struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cm), &fd, sizeof(int));
  if (sendmsg(channel, &msg, 0) < 0) _exit(126);
}

static int receive_fd(int channel) {
  char byte;
  struct iovec iov = {&byte, 1};
  char control[CMSG_SPACE(sizeof(int))];
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof(control)};
  if (recvmsg(channel, &msg, 0) <= 0) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(int));
  return fd;
}

// Answers notifications until the last filtered task is gone.
static void supervise(int listener, long skip, long every, int err) {
  struct seccomp_notif_sizes sizes;
  if (syscall(__NR_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0) return;
  struct seccomp_notif *req = calloc(1, sizes.seccomp_notif);
  struct seccomp_notif_resp *resp = calloc(1, sizes.seccomp_notif_resp);
  long seen = 0, failed = 0;
  struct pollfd pfd = {listener, POLLIN, 0};
  while (poll(&pfd, 1, -1) > 0 && !(pfd.revents & (POLLHUP | POLLERR))) {
    memset(req, 0, sizes.seccomp_notif);
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, req) < 0) continue;  // the caller died meanwhile
    memset(resp, 0, sizes.seccomp_notif_resp);
    resp->id = req->id;
    if (++seen > skip && (seen - skip) % every == 0) {
      resp->error = -err;
      ++failed;
    } else {
      resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    }
    ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp);
  }
  fprintf(stderr, "enter-faults: %ld submitting io_uring_enter calls, %ld failed with %s\n", seen, failed,
          err == EBUSY ? "EBUSY" : "EAGAIN");
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s <skip> <every> <EAGAIN|EBUSY> command [args...]\n", argv[0]);
    return 2;
  }
  long skip = atol(argv[1]), every = atol(argv[2]);
  int err = strcmp(argv[3], "EBUSY") == 0 ? EBUSY : EAGAIN;
  int channel[2];
  if (every < 1 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, channel) < 0) return 2;
  pid_t pid = fork();
  if (pid == 0) {
    close(channel[0]);
    int listener = install_filter();
    if (listener < 0) _exit(125);
    send_fd(channel[1], listener);
    close(listener);
    close(channel[1]);
    execvp(argv[4], argv + 4);
    _exit(127);
  }
  close(channel[1]);
  int listener = receive_fd(channel[0]);
  if (listener >= 0) supervise(listener, skip, every, err);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
