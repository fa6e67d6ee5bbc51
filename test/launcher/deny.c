// deny: runs a command with one thing the kernel offers taken away by a
// seccomp filter (inherited by every child, kept across exec):
//   deny io_uring COMMAND...  io_uring_setup, io_uring_enter and
//                             io_uring_register fail with EPERM, the way
//                             Docker's default seccomp profile blocks them;
//   deny ipv6 COMMAND...      socket(AF_INET6, ...) fails with EAFNOSUPPORT,
//                             as on a kernel without IPv6.
// Every other system call is allowed.
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define THIS_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define THIS_ARCH AUDIT_ARCH_AARCH64
#else
#error "deny: unknown architecture"
#endif

#define LOAD(field) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, field))
#define RETURN(value) BPF_STMT(BPF_RET | BPF_K, (value))
#define DENY_IF(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), RETURN(SECCOMP_RET_ERRNO | EPERM)

// A foreign-architecture call has other numbers: let it through.
#define SAME_ARCH_ONLY LOAD(arch), BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, THIS_ARCH, 1, 0), RETURN(SECCOMP_RET_ALLOW)

static struct sock_filter io_uring[] = {
    SAME_ARCH_ONLY,
    LOAD(nr),
    DENY_IF(__NR_io_uring_setup),
    DENY_IF(__NR_io_uring_enter),
    DENY_IF(__NR_io_uring_register),
    RETURN(SECCOMP_RET_ALLOW),
};

static struct sock_filter ipv6[] = {
    SAME_ARCH_ONLY,
    LOAD(nr),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 3),
    LOAD(args[0]),  // the domain (its low 32 bits)
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET6, 0, 1),
    RETURN(SECCOMP_RET_ERRNO | EAFNOSUPPORT),
    RETURN(SECCOMP_RET_ALLOW),
};

int main(int argc, char** argv) {
  struct sock_fprog program = {0};
  if (argc >= 3 && strcmp(argv[1], "io_uring") == 0) program = (struct sock_fprog){sizeof(io_uring) / sizeof(io_uring[0]), io_uring};
  if (argc >= 3 && strcmp(argv[1], "ipv6") == 0) program = (struct sock_fprog){sizeof(ipv6) / sizeof(ipv6[0]), ipv6};
  if (!program.len) {
    fprintf(stderr, "usage: %s io_uring|ipv6 COMMAND [ARG...]\n", argv[0]);
    return 2;
  }
  // Lets an unprivileged process install the filter.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
    perror("deny: seccomp");
    return 1;
  }
  execvp(argv[2], argv + 2);
  fprintf(stderr, "deny: %s: %s\n", argv[2], strerror(errno));
  return 127;
}
