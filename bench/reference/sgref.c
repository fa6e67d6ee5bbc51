// sgref: the benchmark's C reference, no JavaScript anywhere.
//
//   sgref send --method M --targets FILE --payload BYTES [--segment BYTES]
//              [--duration S] [--warmup S] [--min-calls K] [--depth D]
//     Sends the same payload to every target of FILE ("ip port" per line) in
//     a loop of calls, one call = one payload to every member, and prints
//     one JSON line: datagrams, CPU (getrusage, user+sys) and wall time of
//     the measured calls. M is one of
//       sendmmsg        sendmmsg(2) in chunks of UIO_MAXIOV messages
//       uring           io_uring IORING_OP_SENDMSG, one SQE per message
//       uring-send      io_uring IORING_OP_SEND with a destination address
//       uring-zc        io_uring zero-copy from a registered buffer
//                       (SEND_ZC fixed; SENDMSG_ZC + fixed buffer with GSO)
//     with the suffix -gso (e.g. sendmmsg-gso) each member gets one message
//     carrying UDP_SEGMENT=segment; without it, a segment size cuts the
//     payload into separate datagrams (payload/segment messages per member).
//
//   sgref sink --count N --out FILE [--rcvbuf BYTES]
//     The loopback sink: N UDP sockets on 127.0.0.1 that never read, with a
//     tiny receive buffer. Writes "127.0.0.1 port" lines to FILE, prints
//     "ready", and holds the sockets until its stdin closes.
//
// Build (the bench does it): gcc -O2 -I vendor/liburing sgref.c liburing.a
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"

#ifndef IORING_RECVSEND_FIXED_BUF
#define IORING_RECVSEND_FIXED_BUF (1U << 2)
#endif
#ifndef IORING_SETUP_SUBMIT_ALL
#define IORING_SETUP_SUBMIT_ALL (1U << 7)
#endif
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif

#define MAX_CHUNK 1024 /* UIO_MAXIOV: the most sendmmsg takes per call */

static void die(const char *what) {
  fprintf(stderr, "sgref: %s: %s\n", what, strerror(errno));
  exit(2);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Busy and total jiffies of all CPUs (first line of /proc/stat). */
static void system_jiffies(double *busy, double *total) {
  unsigned long long v[10] = {0};
  *busy = *total = 0;
  FILE *f = fopen("/proc/stat", "r");
  if (!f) return;
  if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
             &v[7], &v[8], &v[9]) >= 8) {
    /* user nice system idle iowait irq softirq steal (guest time is in user) */
    for (int i = 0; i < 8; ++i) *total += (double)v[i];
    *busy = *total - (double)v[3] - (double)v[4];
  }
  fclose(f);
}

static double cpu_us(double *user, double *sys) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  *user = ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec;
  *sys = ru.ru_stime.tv_sec * 1e6 + ru.ru_stime.tv_usec;
  return *user + *sys;
}

static const char *arg(int argc, char **argv, const char *name, const char *fallback) {
  for (int i = 2; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], name) == 0) return argv[i + 1];
  }
  return fallback;
}

/* ---------------------------------------------------------------- sink -- */

static int sink(int argc, char **argv) {
  long count = atol(arg(argc, argv, "--count", "0"));
  const char *out = arg(argc, argv, "--out", NULL);
  int rcvbuf = atoi(arg(argc, argv, "--rcvbuf", "0"));
  if (count <= 0 || !out) {
    fprintf(stderr, "sgref sink --count N --out FILE\n");
    return 2;
  }
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  FILE *f = fopen(out, "w");
  if (!f) die(out);
  for (long i = 0; i < count; ++i) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    /* The kernel raises this to its minimum (a couple of KB): one or two
       datagrams fit, everything after is dropped at the socket. */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) die("bind");
    socklen_t len = sizeof(a);
    if (getsockname(fd, (struct sockaddr *)&a, &len) < 0) die("getsockname");
    fprintf(f, "127.0.0.1 %u\n", ntohs(a.sin_port));
  }
  if (fclose(f) != 0) die(out);
  printf("ready\n");
  fflush(stdout);
  char buf[64];
  while (read(0, buf, sizeof(buf)) > 0) {
  }
  return 0;
}

/* ---------------------------------------------------------------- send -- */

struct job {
  int fd;
  size_t members;
  struct sockaddr_in *addrs;
  uint8_t *payload; /* page-aligned, registered for zero-copy */
  size_t payload_len;
  size_t segment;   /* 0: whole payload */
  int gso;          /* one message per member with UDP_SEGMENT */
  size_t per_member; /* messages per member */
  size_t total;      /* messages per call */
  struct mmsghdr *msgs;
  struct iovec *iovs;
  uint8_t control[CMSG_SPACE(sizeof(uint16_t))] __attribute__((aligned(8)));
  /* results */
  unsigned long long errors;
  int first_error;
  unsigned long long zc_copied, zc_sent;
};

static void note_error(struct job *j, int err) {
  if (!j->errors) j->first_error = err;
  ++j->errors;
}

static void build_messages(struct job *j) {
  j->per_member = 1;
  if (j->segment && !j->gso) j->per_member = (j->payload_len + j->segment - 1) / j->segment;
  j->total = j->members * j->per_member;
  j->msgs = calloc(j->total, sizeof(*j->msgs));
  j->iovs = calloc(j->total, sizeof(*j->iovs));
  if (!j->msgs || !j->iovs) die("calloc");
  if (j->gso) {
    struct cmsghdr *cm = (struct cmsghdr *)j->control;
    cm->cmsg_level = SOL_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    uint16_t seg = (uint16_t)j->segment;
    memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
  }
  size_t k = 0;
  for (size_t m = 0; m < j->members; ++m) {
    for (size_t s = 0; s < j->per_member; ++s, ++k) {
      size_t off = j->per_member > 1 ? s * j->segment : 0;
      size_t len = j->per_member > 1 ? j->segment : j->payload_len;
      if (off + len > j->payload_len) len = j->payload_len - off;
      j->iovs[k].iov_base = j->payload + off;
      j->iovs[k].iov_len = len;
      struct msghdr *h = &j->msgs[k].msg_hdr;
      h->msg_name = &j->addrs[m];
      h->msg_namelen = sizeof(j->addrs[m]);
      h->msg_iov = &j->iovs[k];
      h->msg_iovlen = 1;
      if (j->gso) {
        h->msg_control = j->control;
        h->msg_controllen = sizeof(j->control);
      }
    }
  }
}

static void call_sendmmsg(struct job *j) {
  size_t off = 0;
  while (off < j->total) {
    size_t n = j->total - off;
    if (n > MAX_CHUNK) n = MAX_CHUNK;
    int sent = sendmmsg(j->fd, j->msgs + off, (unsigned)n, 0);
    if (sent < 0) {
      if (errno == EINTR) continue;
      note_error(j, errno);
      ++off; /* the failing message: skip it, like a per-member error */
    } else {
      off += (size_t)sent;
    }
  }
}

enum uring_kind { U_SENDMSG, U_SEND, U_ZC };

struct uring_state {
  struct io_uring ring;
  enum uring_kind kind;
  unsigned budget; /* CQEs we may still cause without overflowing the CQ */
  int fixed_msg;   /* SENDMSG_ZC may take IORING_RECVSEND_FIXED_BUF */
};

static void uring_setup(struct uring_state *u, struct job *j, unsigned depth) {
  unsigned flag_sets[] = {
      IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
      IORING_SETUP_SUBMIT_ALL, 0};
  int ret = -EINVAL;
  for (unsigned i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); ++i) {
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    p.flags = flag_sets[i] | IORING_SETUP_CQSIZE;
    p.cq_entries = depth * 4;
    ret = io_uring_queue_init_params(depth, &u->ring, &p);
    if (ret != -EINVAL) break;
  }
  if (ret < 0) {
    errno = -ret;
    die("io_uring_queue_init_params");
  }
  u->budget = u->ring.cq.ring_entries;
  if (u->kind == U_ZC) {
    struct iovec iov = {j->payload, (j->payload_len + 4095) & ~(size_t)4095};
    ret = io_uring_register_buffers(&u->ring, &iov, 1);
    if (ret < 0) {
      errno = -ret;
      die("io_uring_register_buffers");
    }
    u->fixed_msg = 1;
  }
}

static void uring_prep(struct uring_state *u, struct job *j, struct io_uring_sqe *sqe, size_t k) {
  struct msghdr *h = &j->msgs[k].msg_hdr;
  if (u->kind == U_SENDMSG) {
    io_uring_prep_sendmsg(sqe, j->fd, h, 0);
  } else if (u->kind == U_SEND && !j->gso) {
    io_uring_prep_send(sqe, j->fd, h->msg_iov->iov_base, h->msg_iov->iov_len, 0);
    io_uring_prep_send_set_addr(sqe, (const struct sockaddr *)h->msg_name, (uint16_t)h->msg_namelen);
  } else if (u->kind == U_SEND) {
    io_uring_prep_sendmsg(sqe, j->fd, h, 0); /* GSO needs the cmsg */
  } else if (!j->gso) {
    io_uring_prep_send_zc_fixed(sqe, j->fd, h->msg_iov->iov_base, h->msg_iov->iov_len, 0,
                                IORING_SEND_ZC_REPORT_USAGE, 0);
    io_uring_prep_send_set_addr(sqe, (const struct sockaddr *)h->msg_name, (uint16_t)h->msg_namelen);
  } else {
    io_uring_prep_sendmsg_zc(sqe, j->fd, h, 0);
    sqe->ioprio |= IORING_SEND_ZC_REPORT_USAGE;
    if (u->fixed_msg) {
      sqe->ioprio |= IORING_RECVSEND_FIXED_BUF;
      sqe->buf_index = 0;
    }
  }
  io_uring_sqe_set_data64(sqe, k);
}

static void call_uring(struct uring_state *u, struct job *j) {
  unsigned cost = u->kind == U_ZC ? 2 : 1;
  size_t next = 0, done = 0;
  long notifs = 0;
  while (done < j->total || notifs > 0) {
    unsigned prepared = 0;
    while (next < j->total && u->budget >= cost) {
      struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
      if (!sqe) break;
      uring_prep(u, j, sqe, next);
      ++next;
      u->budget -= cost;
      ++prepared;
    }
    int ret;
    if (prepared) {
      ret = io_uring_submit_and_get_events(&u->ring);
      if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
        errno = -ret;
        die("io_uring_submit");
      }
    }
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&u->ring, head, cqe) {
      ++seen;
      ++u->budget;
      if (cqe->flags & IORING_CQE_F_NOTIF) {
        --notifs;
        if ((uint32_t)cqe->res & IORING_NOTIF_USAGE_ZC_COPIED) ++j->zc_copied;
        else ++j->zc_sent;
        continue;
      }
      if (cqe->flags & IORING_CQE_F_MORE) ++notifs;
      else if (u->kind == U_ZC) ++u->budget;
      if (cqe->res < 0) note_error(j, -cqe->res);
      ++done;
    }
    io_uring_cq_advance(&u->ring, seen);
    if (!seen && !prepared) {
      /* Nothing ready: wait for a completion (this also runs deferred task work). */
      ret = io_uring_submit_and_wait(&u->ring, 1);
      if (ret < 0 && ret != -EINTR && ret != -ETIME && ret != -EAGAIN && ret != -EBUSY) {
        errno = -ret;
        die("io_uring_submit_and_wait");
      }
    }
  }
}

static size_t read_targets(const char *file, struct sockaddr_in **out) {
  FILE *f = fopen(file, "r");
  if (!f) die(file);
  size_t cap = 1024, n = 0;
  struct sockaddr_in *a = malloc(cap * sizeof(*a));
  char ip[64];
  unsigned port;
  while (fscanf(f, "%63s %u", ip, &port) == 2) {
    if (n == cap) {
      cap *= 2;
      a = realloc(a, cap * sizeof(*a));
      if (!a) die("realloc");
    }
    memset(&a[n], 0, sizeof(a[n]));
    a[n].sin_family = AF_INET;
    a[n].sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, ip, &a[n].sin_addr) != 1) {
      fprintf(stderr, "sgref: bad target %s\n", ip);
      exit(2);
    }
    ++n;
  }
  fclose(f);
  *out = a;
  return n;
}

static int send_main(int argc, char **argv) {
  const char *method = arg(argc, argv, "--method", "sendmmsg");
  const char *targets = arg(argc, argv, "--targets", NULL);
  struct job j;
  memset(&j, 0, sizeof(j));
  j.payload_len = (size_t)atol(arg(argc, argv, "--payload", "1200"));
  j.segment = (size_t)atol(arg(argc, argv, "--segment", "0"));
  double duration = atof(arg(argc, argv, "--duration", "1"));
  double warmup = atof(arg(argc, argv, "--warmup", "0.2"));
  long min_calls = atol(arg(argc, argv, "--min-calls", "3"));
  unsigned depth = (unsigned)atoi(arg(argc, argv, "--depth", "1024"));
  if (!targets || j.payload_len == 0 || j.payload_len > 65507) {
    fprintf(stderr, "sgref send --method M --targets FILE --payload BYTES\n");
    return 2;
  }
  size_t mlen = strlen(method);
  j.gso = mlen > 4 && strcmp(method + mlen - 4, "-gso") == 0;
  if (j.gso && !j.segment) {
    fprintf(stderr, "sgref: -gso needs --segment\n");
    return 2;
  }
  char base[32];
  snprintf(base, sizeof(base), "%.*s", (int)(j.gso ? mlen - 4 : mlen), method);

  j.members = read_targets(targets, &j.addrs);
  if (!j.members) {
    fprintf(stderr, "sgref: no targets in %s\n", targets);
    return 2;
  }
  size_t map = (j.payload_len + 4095) & ~(size_t)4095;
  j.payload = mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (j.payload == MAP_FAILED) die("mmap");
  for (size_t i = 0; i < j.payload_len; ++i) j.payload[i] = (uint8_t)(i * 31 + 7);
  j.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (j.fd < 0) die("socket");
  build_messages(&j);

  struct uring_state u;
  memset(&u, 0, sizeof(u));
  int use_uring = 1;
  if (strcmp(base, "sendmmsg") == 0) use_uring = 0;
  else if (strcmp(base, "uring") == 0) u.kind = U_SENDMSG;
  else if (strcmp(base, "uring-send") == 0) u.kind = U_SEND;
  else if (strcmp(base, "uring-zc") == 0) u.kind = U_ZC;
  else {
    fprintf(stderr, "sgref: unknown method %s\n", method);
    return 2;
  }
  if (use_uring) uring_setup(&u, &j, depth);

  /* Warm-up: caches, page tables, the sink's queues already full. */
  double t0 = now_s();
  long warm_calls = 0;
  do {
    if (use_uring) call_uring(&u, &j);
    else call_sendmmsg(&j);
    ++warm_calls;
  } while (now_s() - t0 < warmup);
  j.errors = 0;
  j.first_error = 0;
  j.zc_copied = j.zc_sent = 0;

  double u0, s0, u1, s1, b0, t0j, b1, t1j;
  system_jiffies(&b0, &t0j);
  cpu_us(&u0, &s0);
  double w0 = now_s(), w1;
  long calls = 0;
  do {
    if (use_uring) call_uring(&u, &j);
    else call_sendmmsg(&j);
    ++calls;
    w1 = now_s();
  } while (w1 - w0 < duration || calls < min_calls);
  cpu_us(&u1, &s1);
  system_jiffies(&b1, &t1j);
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  double busy_cores = t1j > t0j ? (b1 - b0) / (t1j - t0j) * (double)ncpu : 0;
  double other_cores = busy_cores - ((u1 - u0) + (s1 - s0)) / ((w1 - w0) * 1e6);

  const char *zc = "off";
  if (u.kind == U_ZC && use_uring) zc = j.zc_copied ? "copied" : "zero-copied";
  unsigned long long datagrams = (unsigned long long)calls * j.members *
                                 (j.gso ? (j.payload_len + j.segment - 1) / j.segment : j.per_member);
  printf("{\"method\":\"c-%s\",\"members\":%zu,\"payload\":%zu,\"segment\":%zu,\"calls\":%ld,"
         "\"datagrams\":%llu,\"userUs\":%.0f,\"sysUs\":%.0f,\"cpuUs\":%.0f,\"wallUs\":%.0f,"
         "\"errors\":%llu,\"firstError\":\"%s\",\"zeroCopy\":\"%s\",\"warmupCalls\":%ld,\"otherCores\":%.2f}\n",
         method, j.members, j.payload_len, j.segment, calls, datagrams, u1 - u0, s1 - s0,
         (u1 - u0) + (s1 - s0), (w1 - w0) * 1e6, j.errors, j.errors ? strerror(j.first_error) : "",
         zc, warm_calls, other_cores);
  if (use_uring) io_uring_queue_exit(&u.ring);
  close(j.fd);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "sink") == 0) return sink(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "send") == 0) return send_main(argc, argv);
  fprintf(stderr, "usage: sgref send|sink ... (see bench/reference/sgref.c)\n");
  return 2;
}
