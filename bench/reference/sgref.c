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
//     or one of the ways to send a call from several cores (see "threads"
//     below; a trailing number is the thread or ring count, e.g.
//     uring-threads1, uring-sqpoll2):
//       uring-threads         2 threads, each its own ring and socket
//                             (SO_REUSEPORT), members split by destination
//       uring-threads-shared  the same through one shared socket
//       sendmmsg-threads      2 threads, sendmmsg each on its own socket
//       uring-sqpoll          1 SQPOLL ring: a kernel thread sends
//       uring-async           1 ring, IOSQE_ASYNC: 2 io-wq workers send
//     with the suffix -gso (e.g. sendmmsg-gso) each member gets one message
//     carrying UDP_SEGMENT=segment; without it, a segment size cuts the
//     payload into separate datagrams (payload/segment messages per member).
//     --pace poll: send with MSG_DONTWAIT and, when the send buffer is full,
//     wait in poll(POLLOUT) as a real program does (without it the socket
//     blocks in the kernel, or on a sink that drops everything never fills).
//     sendmmsg waits after a short count; io_uring sends the members that
//     got EAGAIN again after the wait, the rest of the call behind them, and
//     submits at most twice what the buffer took last time (doubling back to
//     the whole call while nothing bounces), so a full buffer does not make
//     it try every member of a large call on each wake. The JSON line also
//     gives the measured window (t0Ns, t1Ns: CLOCK_MONOTONIC), the waits and
//     how busy each CPU was in the window (cpuBusy, 0..1 each). --tick-ms P
//     (the threads methods): the waiting main thread also wakes every P ms
//     and reports how late those wake-ups were (loopDelay, as Node's
//     monitorEventLoopDelay would: the scheduler's share of the delay).
//
//   sgref recv --port FIRST --count N [--rcvbuf BYTES]
//     The link sink's receivers: N UDP sockets on 0.0.0.0, ports FIRST ..
//     FIRST+N-1, with SO_RCVBUFFORCE BYTES (default 4 MiB), all read by this
//     one process (epoll + recvmmsg). Prints "ready", then answers one JSON
//     line per command line on stdin:
//       report T0 T1  datagrams and bytes that arrived in (T0, T1]
//                     (CLOCK_MONOTONIC ns; arrival: the kernel's receive
//                     timestamp, SO_TIMESTAMPNS, so a late reader does not
//                     move datagrams between windows) and this process's
//                     CPU in it; the datagrams, bytes and per-port counts
//                     since the last report; the namespace's Udp counters
//                     (/proc/net/snmp: RcvbufErrors, InErrors are receive
//                     drops). Then forgets all but the counters.
//       close I J     closes the sockets of ports FIRST+I .. FIRST+J-1
//                     (datagrams to them draw ICMP port unreachable)
//       open I J      binds them again
//     and exits when stdin closes.
//
//   sgref sink --count N --out FILE [--rcvbuf BYTES]
//     The loopback sink: N UDP sockets on 127.0.0.1 that never read, with a
//     tiny receive buffer. Writes "127.0.0.1 port" lines to FILE, prints
//     "ready", and holds the sockets until its stdin closes.
//
// Build (the bench does it): gcc -O2 -pthread sgref.c liburing.a
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Kernel ABI values newer than the liburing 2.3 headers (the kernel's uapi
   io_uring.h; vendor/liburing/compat.h has them too, but it is C++). */
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

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

#define MAX_CPUS 64

/* Busy and total jiffies of all CPUs (the first line of /proc/stat), and of
   each CPU (cpu_busy/cpu_total, when given: MAX_CPUS at most). */
static int system_jiffies(double *busy, double *total, double *cpu_busy, double *cpu_total) {
  char line[512];
  int n = -1;
  *busy = *total = 0;
  FILE *f = fopen("/proc/stat", "r");
  if (!f) return 0;
  while (fgets(line, sizeof(line), f) && strncmp(line, "cpu", 3) == 0 && n < MAX_CPUS) {
    unsigned long long v[8] = {0};
    char *p = line + 3;
    while (*p && *p != ' ') ++p; /* past "cpu" or "cpuN" */
    if (sscanf(p, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) < 8)
      break;
    /* user nice system idle iowait irq softirq steal (guest time is in user) */
    double t = 0;
    for (int i = 0; i < 8; ++i) t += (double)v[i];
    double b = t - (double)v[3] - (double)v[4];
    if (n < 0) {
      *busy = b;
      *total = t;
    } else if (cpu_busy) {
      cpu_busy[n] = b;
      cpu_total[n] = t;
    }
    ++n;
  }
  fclose(f);
  return n < 0 ? 0 : n;
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

static void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static int sink(int argc, char **argv) {
  long count = atol(arg(argc, argv, "--count", "0"));
  const char *out = arg(argc, argv, "--out", NULL);
  int rcvbuf = atoi(arg(argc, argv, "--rcvbuf", "0"));
  if (count <= 0 || !out) {
    fprintf(stderr, "sgref sink --count N --out FILE\n");
    return 2;
  }
  raise_nofile();
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

/* ---------------------------------------------------------------- recv -- */

#define RECV_BATCH 16
#define RECV_BUF 65536
#define STDIN_TAG UINT32_MAX

struct arrival {
  double t; /* CLOCK_MONOTONIC seconds */
  uint32_t bytes;
};
struct cpu_sample {
  double t, cpu_us;
};

static struct {
  int ep, first_port, rcvbuf;
  long count;
  int *fds;
  uint64_t *port_count; /* since the last report */
  uint64_t datagrams, bytes;
  struct arrival *log;
  size_t nlog, caplog;
  struct cpu_sample *cpu;
  size_t ncpu, capcpu;
  struct mmsghdr msgs[RECV_BATCH];
  struct iovec iovs[RECV_BATCH];
  uint8_t control[RECV_BATCH][CMSG_SPACE(sizeof(struct timespec))] __attribute__((aligned(8)));
  double realtime_offset; /* CLOCK_REALTIME - CLOCK_MONOTONIC, seconds */
} R;

/* Receive timestamps are CLOCK_REALTIME; windows are CLOCK_MONOTONIC. */
static void recv_clock_offset(void) {
  struct timespec real, mono;
  clock_gettime(CLOCK_REALTIME, &real);
  clock_gettime(CLOCK_MONOTONIC, &mono);
  R.realtime_offset = (real.tv_sec - mono.tv_sec) + (real.tv_nsec - mono.tv_nsec) / 1e9;
}

/* Message k's arrival (CLOCK_MONOTONIC seconds), or now when it has no timestamp. */
static double arrival_time(int k) {
  struct msghdr *h = &R.msgs[k].msg_hdr;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
      struct timespec ts;
      memcpy(&ts, CMSG_DATA(c), sizeof(ts));
      return ts.tv_sec + ts.tv_nsec / 1e9 - R.realtime_offset;
    }
  }
  return now_s();
}

static double process_cpu_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void *grow(void *array, size_t *cap, size_t n, size_t size) {
  if (n < *cap) return array;
  *cap = *cap ? *cap * 2 : 4096;
  array = realloc(array, *cap * size);
  if (!array) die("realloc");
  return array;
}

static void recv_open(long i) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  /* FORCE: past net.core.rmem_max (we are root); the link, not this
     socket, must be what limits the rate. */
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &R.rcvbuf, sizeof(R.rcvbuf)) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &R.rcvbuf, sizeof(R.rcvbuf));
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(R.first_port + i))};
  if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) die("bind");
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
  if (epoll_ctl(R.ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
  R.fds[i] = fd;
}

static void recv_close(long i) {
  if (R.fds[i] < 0) return;
  close(R.fds[i]); /* also leaves the epoll set */
  R.fds[i] = -1;
}

/* One recvmmsg on socket i (level-triggered epoll brings back the rest); logs each arrival. */
static void recv_drain(uint32_t i) {
  if (R.fds[i] < 0) return;
  for (int k = 0; k < RECV_BATCH; ++k) R.msgs[k].msg_hdr.msg_controllen = sizeof(R.control[k]);
  int n = recvmmsg(R.fds[i], R.msgs, RECV_BATCH, MSG_DONTWAIT, NULL);
  for (int k = 0; k < n; ++k) {
    R.log = grow(R.log, &R.caplog, R.nlog, sizeof(*R.log));
    R.log[R.nlog++] = (struct arrival){arrival_time(k), R.msgs[k].msg_len};
    R.bytes += R.msgs[k].msg_len;
  }
  if (n > 0) {
    R.datagrams += (uint64_t)n;
    R.port_count[i] += (uint64_t)n;
  }
}

static void recv_sample_cpu(double t, int force) {
  if (!force && R.ncpu && t - R.cpu[R.ncpu - 1].t < 0.002) return;
  R.cpu = grow(R.cpu, &R.capcpu, R.ncpu, sizeof(*R.cpu));
  R.cpu[R.ncpu++] = (struct cpu_sample){t, process_cpu_us()};
}

/* This process's CPU time at t, interpolated between samples. */
static double cpu_at(double t) {
  if (!R.ncpu) return 0;
  if (t <= R.cpu[0].t) return R.cpu[0].cpu_us;
  for (size_t k = 1; k < R.ncpu; ++k) {
    if (t <= R.cpu[k].t) {
      struct cpu_sample a = R.cpu[k - 1], b = R.cpu[k];
      return a.cpu_us + (b.cpu_us - a.cpu_us) * (t - a.t) / (b.t - a.t);
    }
  }
  return R.cpu[R.ncpu - 1].cpu_us;
}

/* The Udp: counters of this network namespace, as a JSON object body. */
static void print_snmp(void) {
  char names[1024] = "", values[1024] = "", line[1024];
  FILE *f = fopen("/proc/net/snmp", "r");
  while (f && fgets(line, sizeof(line), f)) {
    if (strncmp(line, "Udp: ", 5) != 0) continue;
    if (!names[0]) snprintf(names, sizeof(names), "%s", line + 5);
    else snprintf(values, sizeof(values), "%s", line + 5);
  }
  if (f) fclose(f);
  char *ns = NULL, *vs = NULL;
  char *n = strtok_r(names, " \n", &ns), *v = strtok_r(values, " \n", &vs);
  for (int first = 1; n && v; first = 0) {
    printf("%s\"%s\":%s", first ? "" : ",", n, v);
    n = strtok_r(NULL, " \n", &ns);
    v = strtok_r(NULL, " \n", &vs);
  }
}

static void recv_report(double t0, double t1) {
  recv_sample_cpu(now_s(), 1);
  uint64_t datagrams = 0, bytes = 0;
  double first = 0, last = 0;
  for (size_t k = 0; k < R.nlog; ++k) {
    if (R.log[k].t <= t0 || R.log[k].t > t1) continue;
    if (!datagrams || R.log[k].t < first) first = R.log[k].t;
    if (R.log[k].t > last) last = R.log[k].t;
    ++datagrams;
    bytes += R.log[k].bytes;
  }
  uint64_t min = UINT64_MAX, max = 0;
  long open = 0, seen = 0;
  for (long i = 0; i < R.count; ++i) {
    if (R.fds[i] >= 0) ++open;
    if (!R.port_count[i]) continue;
    ++seen;
    if (R.port_count[i] < min) min = R.port_count[i];
    if (R.port_count[i] > max) max = R.port_count[i];
  }
  printf("{\"window\":{\"datagrams\":%llu,\"bytes\":%llu,\"cpuUs\":%.0f,\"firstNs\":%.0f,\"lastNs\":%.0f},"
         "\"since\":{\"datagrams\":%llu,\"bytes\":%llu,\"portsSeen\":%ld,\"portMin\":%llu,\"portMax\":%llu},"
         "\"open\":%ld,\"udp\":{",
         (unsigned long long)datagrams, (unsigned long long)bytes, cpu_at(t1) - cpu_at(t0), first * 1e9, last * 1e9,
         (unsigned long long)R.datagrams, (unsigned long long)R.bytes, seen, (unsigned long long)(seen ? min : 0),
         (unsigned long long)max, open);
  print_snmp();
  printf("}}\n");
  fflush(stdout);
  R.nlog = 0;
  R.datagrams = R.bytes = 0;
  memset(R.port_count, 0, R.count * sizeof(*R.port_count));
  R.cpu[0] = R.cpu[R.ncpu - 1];
  R.ncpu = 1;
  recv_clock_offset();
}

/* One command line from stdin (see the top of this file). */
static void recv_command(char *line) {
  double a = 0, b = 0;
  char cmd[16] = "";
  if (sscanf(line, "%15s %lf %lf", cmd, &a, &b) < 1) return;
  if (strcmp(cmd, "report") == 0) {
    recv_report(a / 1e9, b / 1e9);
    return;
  }
  long from = a < 0 ? 0 : (long)a, to = b > R.count ? R.count : (long)b;
  for (long i = from; i < to; ++i) {
    if (strcmp(cmd, "close") == 0) recv_close(i);
    else if (strcmp(cmd, "open") == 0 && R.fds[i] < 0) recv_open(i);
  }
  long open = 0;
  for (long i = 0; i < R.count; ++i) open += R.fds[i] >= 0;
  printf("{\"ok\":true,\"open\":%ld}\n", open);
  fflush(stdout);
}

/* Reads what stdin has; false at its end. */
static int recv_stdin(void) {
  static char buf[4096];
  static size_t used;
  ssize_t n = read(0, buf + used, sizeof(buf) - 1 - used);
  if (n <= 0) return n < 0 && errno == EINTR;
  used += (size_t)n;
  buf[used] = 0;
  char *start = buf, *nl;
  while ((nl = strchr(start, '\n'))) {
    *nl = 0;
    recv_command(start);
    start = nl + 1;
  }
  used = strlen(start);
  memmove(buf, start, used + 1);
  if (used == sizeof(buf) - 1) used = 0; /* a line too long: drop it */
  return 1;
}

static int recv_main(int argc, char **argv) {
  R.first_port = atoi(arg(argc, argv, "--port", "0"));
  R.count = atol(arg(argc, argv, "--count", "0"));
  R.rcvbuf = atoi(arg(argc, argv, "--rcvbuf", "4194304"));
  if (R.count <= 0 || R.first_port <= 0 || R.first_port + R.count > 65536) {
    fprintf(stderr, "sgref recv --port FIRST --count N [--rcvbuf BYTES]\n");
    return 2;
  }
  raise_nofile();
  R.ep = epoll_create1(EPOLL_CLOEXEC);
  if (R.ep < 0) die("epoll_create1");
  R.fds = calloc(R.count, sizeof(*R.fds));
  R.port_count = calloc(R.count, sizeof(*R.port_count));
  uint8_t *buffers = malloc((size_t)RECV_BATCH * RECV_BUF);
  if (!R.fds || !R.port_count || !buffers) die("calloc");
  for (int k = 0; k < RECV_BATCH; ++k) {
    R.iovs[k] = (struct iovec){buffers + (size_t)k * RECV_BUF, RECV_BUF};
    R.msgs[k].msg_hdr.msg_iov = &R.iovs[k];
    R.msgs[k].msg_hdr.msg_iovlen = 1;
    R.msgs[k].msg_hdr.msg_control = R.control[k];
  }
  recv_clock_offset();
  for (long i = 0; i < R.count; ++i) recv_open(i);
  struct epoll_event in = {.events = EPOLLIN, .data.u32 = STDIN_TAG};
  if (epoll_ctl(R.ep, EPOLL_CTL_ADD, 0, &in) < 0) die("epoll_ctl stdin");
  recv_sample_cpu(now_s(), 1);
  printf("ready\n");
  fflush(stdout);
  struct epoll_event ev[256];
  for (;;) {
    int n = epoll_wait(R.ep, ev, 256, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("epoll_wait");
    for (int k = 0; k < n; ++k) {
      if (ev[k].data.u32 != STDIN_TAG) recv_drain(ev[k].data.u32);
      else if (!recv_stdin()) return 0;
    }
    recv_sample_cpu(now_s(), 0);
  }
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
  int pace;         /* --pace poll */
  /* results */
  unsigned long long waits; /* poll(POLLOUT) calls */
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

/* --pace poll: the send buffer is full, sleep until it has room. */
static void wait_writable(struct job *j) {
  struct pollfd p = {.fd = j->fd, .events = POLLOUT};
  ++j->waits;
  while (poll(&p, 1, -1) < 0 && errno == EINTR) {
  }
}

static void call_sendmmsg(struct job *j) {
  size_t off = 0;
  while (off < j->total) {
    size_t n = j->total - off;
    if (n > MAX_CHUNK) n = MAX_CHUNK;
    int sent = sendmmsg(j->fd, j->msgs + off, (unsigned)n, j->pace ? MSG_DONTWAIT : 0);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (j->pace && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        wait_writable(j);
        continue;
      }
      note_error(j, errno);
      ++off; /* the failing message: skip it, like a per-member error */
    } else {
      off += (size_t)sent;
      /* Short: the buffer filled up (or the next message fails, and then
         poll returns at once and the next call reports it). */
      if (j->pace && (size_t)sent < n) wait_writable(j);
    }
  }
}

enum uring_kind { U_SENDMSG, U_SEND, U_ZC };

struct uring_state {
  struct io_uring ring;
  enum uring_kind kind;
  unsigned budget; /* CQEs we may still cause without overflowing the CQ */
  int fixed_msg;   /* SENDMSG_ZC may take IORING_RECVSEND_FIXED_BUF */
  int flags;       /* MSG_DONTWAIT with --pace poll */
  /* --pace poll: messages that got EAGAIN, sent again first (a ring of
     j->total), and the most SQEs per submission (0: no limit). */
  size_t *retry, retry_head, retry_tail;
  unsigned window, depth;
  int sqpoll;          /* IORING_SETUP_SQPOLL: a kernel thread submits */
  unsigned sqe_flags;  /* IOSQE_ASYNC: every send goes to an io-wq worker */
  unsigned iowq_max;   /* with IOSQE_ASYNC: at most this many io-wq workers (0: the kernel's default) */
};

static void uring_setup(struct uring_state *u, struct job *j, unsigned depth) {
  unsigned flag_sets[] = {
      IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
      IORING_SETUP_SUBMIT_ALL, 0};
  /* SQPOLL cannot have DEFER_TASKRUN: its kernel thread is the submitter. */
  if (u->sqpoll) flag_sets[0] = flag_sets[1] = IORING_SETUP_SQPOLL | IORING_SETUP_SUBMIT_ALL;
  int ret = -EINVAL;
  for (unsigned i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); ++i) {
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    p.flags = flag_sets[i] | IORING_SETUP_CQSIZE;
    p.cq_entries = depth * 4;
    p.sq_thread_idle = 50; /* ms of polling an empty SQ before the thread sleeps */
    ret = io_uring_queue_init_params(depth, &u->ring, &p);
    if (ret != -EINVAL) break;
  }
  if (ret < 0) {
    errno = -ret;
    die("io_uring_queue_init_params");
  }
  if (u->sqpoll && !(u->ring.flags & IORING_SETUP_SQPOLL)) {
    errno = EINVAL;
    die("IORING_SETUP_SQPOLL");
  }
  if (u->iowq_max) {
    unsigned values[2] = {u->iowq_max, u->iowq_max}; /* bounded, unbounded */
    ret = io_uring_register_iowq_max_workers(&u->ring, values);
    if (ret < 0) {
      errno = -ret;
      die("io_uring_register_iowq_max_workers");
    }
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
  u->depth = depth;
  if (j->pace) {
    u->flags = MSG_DONTWAIT;
    u->retry = calloc(j->total, sizeof(*u->retry));
    if (!u->retry) die("calloc");
  }
}

static void uring_prep(struct uring_state *u, struct job *j, struct io_uring_sqe *sqe, size_t k) {
  struct msghdr *h = &j->msgs[k].msg_hdr;
  if (u->kind == U_SENDMSG) {
    io_uring_prep_sendmsg(sqe, j->fd, h, u->flags);
  } else if (u->kind == U_SEND && !j->gso) {
    io_uring_prep_send(sqe, j->fd, h->msg_iov->iov_base, h->msg_iov->iov_len, u->flags);
    io_uring_prep_send_set_addr(sqe, (const struct sockaddr *)h->msg_name, (uint16_t)h->msg_namelen);
  } else if (u->kind == U_SEND) {
    io_uring_prep_sendmsg(sqe, j->fd, h, u->flags); /* GSO needs the cmsg */
  } else if (!j->gso) {
    io_uring_prep_send_zc_fixed(sqe, j->fd, h->msg_iov->iov_base, h->msg_iov->iov_len, u->flags,
                                IORING_SEND_ZC_REPORT_USAGE, 0);
    io_uring_prep_send_set_addr(sqe, (const struct sockaddr *)h->msg_name, (uint16_t)h->msg_namelen);
  } else {
    io_uring_prep_sendmsg_zc(sqe, j->fd, h, u->flags);
    sqe->ioprio |= IORING_SEND_ZC_REPORT_USAGE;
    if (u->fixed_msg) {
      sqe->ioprio |= IORING_RECVSEND_FIXED_BUF;
      sqe->buf_index = 0;
    }
  }
  sqe->flags |= u->sqe_flags;
  io_uring_sqe_set_data64(sqe, k);
}

static int uring_has_next(struct uring_state *u, struct job *j, size_t next) {
  return u->retry_head < u->retry_tail || next < j->total;
}

/* The next message to send: one that bounced off a full buffer, else the next new one. */
static size_t uring_take(struct uring_state *u, struct job *j, size_t *next) {
  if (u->retry_head < u->retry_tail) return u->retry[u->retry_head++ % j->total];
  return (*next)++;
}

/* After a submission: a full buffer (again > 0) limits the next one to
   twice what got in and waits for room; else the limit doubles, and goes
   away at the ring's depth. */
static void uring_pace(struct uring_state *u, struct job *j, unsigned accepted, unsigned again) {
  if (again) {
    u->window = accepted * 2 > 16 ? accepted * 2 : 16;
    wait_writable(j);
  } else if (u->window) {
    u->window = u->window * 2 >= u->depth ? 0 : u->window * 2;
  }
}

static void call_uring(struct uring_state *u, struct job *j) {
  unsigned cost = u->kind == U_ZC ? 2 : 1;
  size_t next = 0, done = 0;
  long notifs = 0;
  u->retry_head = u->retry_tail = 0;
  while (done < j->total || notifs > 0) {
    unsigned prepared = 0, limit = u->window ? u->window : UINT32_MAX;
    while (prepared < limit && u->budget >= cost && uring_has_next(u, j, next)) {
      struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
      if (!sqe) break;
      uring_prep(u, j, sqe, uring_take(u, j, &next));
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
    unsigned head, seen = 0, accepted = 0, again = 0;
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
      if (u->retry && cqe->res == -EAGAIN) {
        u->retry[u->retry_tail++ % j->total] = (size_t)io_uring_cqe_get_data64(cqe);
        ++again;
        continue;
      }
      if (cqe->res < 0) note_error(j, -cqe->res);
      else ++accepted;
      ++done;
    }
    io_uring_cq_advance(&u->ring, seen);
    if (u->retry) uring_pace(u, j, accepted, again);
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

/* ------------------------------------------------------------- threads -- */
/* The candidates for sending one call from several cores (--threads K):
     uring-threads         K threads, each its own ring (DEFER_TASKRUN, set up
                           on that thread) and its own socket, all bound to
                           one address and port (SO_REUSEPORT); the members
                           split by a hash of the destination, as the library
                           splits them. The main thread hands each call to
                           the threads (a futex) and waits until all are done.
     uring-threads-shared  the same, all threads sending through one socket
     sendmmsg-threads      K threads, sendmmsg(2) each on its own socket
     uring-sqpoll          K rings with IORING_SETUP_SQPOLL (a kernel thread
                           each polls its ring and sends), each its own
                           socket; the main thread fills them all
     uring-async           one ring, every SQE with IOSQE_ASYNC: io-wq
                           workers send (at most K of them) */

#define MAX_PARTS 64

struct part {
  struct job j;
  struct uring_state u;
  int use_uring;
  unsigned depth;
  pthread_t thread;
};

static struct {
  _Atomic uint32_t gen, pending, ready;
  int stop;
  int k;
  struct part *parts;
} T;

static void futex_wait(_Atomic uint32_t *addr, uint32_t val) {
  syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *addr, int n) {
  syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* FNV-1a over the destination the kernel sends to (native/threaded_engine.cc). */
static uint32_t hash_destination(const struct sockaddr_in *a) {
  const uint8_t *bytes = (const uint8_t *)a;
  uint32_t hash = 2166136261u;
  for (size_t i = 0; i < sizeof(*a); ++i) hash = (hash ^ bytes[i]) * 16777619u;
  return hash;
}

/* A UDP socket on 0.0.0.0:*port with SO_REUSEPORT (*port 0: any; set to the one bound). */
static int reuseport_socket(uint16_t *port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int on = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) < 0) die("SO_REUSEPORT");
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(*port)};
  if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) die("bind");
  socklen_t len = sizeof(a);
  if (getsockname(fd, (struct sockaddr *)&a, &len) < 0) die("getsockname");
  *port = ntohs(a.sin_port);
  return fd;
}

/* K parts of job whole, members split by destination; shared: one socket for all. */
static struct part *split_job(const struct job *whole, int k, int shared) {
  struct part *parts = calloc((size_t)k, sizeof(*parts));
  if (!parts) die("calloc");
  uint16_t port = 0;
  for (int i = 0; i < k; ++i) {
    parts[i].j = *whole;
    parts[i].j.addrs = malloc(whole->members * sizeof(*whole->addrs));
    if (!parts[i].j.addrs) die("malloc");
    parts[i].j.members = 0;
    parts[i].j.fd = shared && i ? parts[0].j.fd : reuseport_socket(&port);
  }
  for (size_t m = 0; m < whole->members; ++m) {
    struct job *j = &parts[hash_destination(&whole->addrs[m]) % (uint32_t)k].j;
    j->addrs[j->members++] = whole->addrs[m];
  }
  for (int i = 0; i < k; ++i) build_messages(&parts[i].j);
  return parts;
}

/* --worker-sched nice:N | batch | idle: how the sending threads are scheduled
   (the default: like the main thread). */
static const char *worker_sched = "";

static void sched_worker(void) {
  if (strncmp(worker_sched, "nice:", 5) == 0) {
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), atoi(worker_sched + 5)) < 0) die("setpriority");
  } else if (strcmp(worker_sched, "batch") == 0 || strcmp(worker_sched, "idle") == 0) {
    struct sched_param none = {0};
    if (sched_setscheduler(0, worker_sched[0] == 'b' ? SCHED_BATCH : SCHED_IDLE, &none) < 0) die("sched_setscheduler");
  }
}

/* --pin: sending thread i runs on CPU i (of those this process may use). */
static int pin_workers;

static void pin_worker(int i) {
  cpu_set_t allowed, one;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0) die("sched_getaffinity");
  int n = CPU_COUNT(&allowed), seen = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &allowed) || seen++ != i % n) continue;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (sched_setaffinity(0, sizeof(one), &one) < 0) die("sched_setaffinity");
    return;
  }
}

static void *part_main(void *arg) {
  struct part *p = arg;
  if (pin_workers) pin_worker((int)(p - T.parts));
  sched_worker();
  /* A ring with SINGLE_ISSUER and DEFER_TASKRUN belongs to the task that set it up. */
  if (p->use_uring) uring_setup(&p->u, &p->j, p->depth);
  atomic_fetch_add(&T.ready, 1);
  futex_wake(&T.ready, 1);
  uint32_t seen = 0;
  for (;;) {
    uint32_t gen;
    while ((gen = atomic_load(&T.gen)) == seen) futex_wait(&T.gen, seen);
    seen = gen;
    if (T.stop) break;
    if (p->use_uring) call_uring(&p->u, &p->j);
    else call_sendmmsg(&p->j);
    if (atomic_fetch_sub(&T.pending, 1) == 1) futex_wake(&T.pending, 1);
  }
  return NULL;
}

static void threads_start(struct part *parts, int k) {
  T.parts = parts;
  T.k = k;
  for (int i = 0; i < k; ++i) {
    if (pthread_create(&parts[i].thread, NULL, part_main, &parts[i]) != 0) die("pthread_create");
  }
  uint32_t ready;
  while ((ready = atomic_load(&T.ready)) < (uint32_t)k) futex_wait(&T.ready, ready);
}

/* --tick-ms P (threads): while the threads send, the main thread wakes every
   P ms, as an event loop's timer would, and logs how late each wake-up was:
   the least event-loop delay a program with these threads can have (what
   perf_hooks.monitorEventLoopDelay measures in Node). */
static struct {
  double period, next; /* seconds */
  double *late;
  size_t n, cap;
} TICK;

static void tick_wait(_Atomic uint32_t *addr, uint32_t val) {
  double now = now_s();
  if (now >= TICK.next) {
    TICK.late = grow(TICK.late, &TICK.cap, TICK.n, sizeof(*TICK.late));
    TICK.late[TICK.n++] = now - TICK.next;
    TICK.next = now + TICK.period;
    return;
  }
  double left = TICK.next - now;
  struct timespec ts = {(time_t)left, (long)((left - (time_t)left) * 1e9)};
  syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

static int compare_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The ticks' lateness as the JSON fields worker.js gives (ms), then forgets them. */
static void tick_print(void) {
  if (!TICK.period) return;
  qsort(TICK.late, TICK.n, sizeof(*TICK.late), compare_double);
  double p50 = TICK.n ? TICK.late[TICK.n / 2] : 0, p99 = TICK.n ? TICK.late[(size_t)(TICK.n * 0.99)] : 0;
  double max = TICK.n ? TICK.late[TICK.n - 1] : 0;
  printf(",\"loopDelay\":{\"samples\":%zu,\"p50Ms\":%.2f,\"p99Ms\":%.2f,\"maxMs\":%.2f}", TICK.n, p50 * 1e3, p99 * 1e3, max * 1e3);
}

/* One call: every thread sends its part; returns when all are done. */
static void call_threads(void) {
  atomic_store(&T.pending, (uint32_t)T.k);
  atomic_fetch_add(&T.gen, 1);
  futex_wake(&T.gen, INT32_MAX);
  uint32_t pending;
  while ((pending = atomic_load(&T.pending)) != 0) {
    if (TICK.period) tick_wait(&T.pending, pending);
    else futex_wait(&T.pending, pending);
  }
}

static void threads_stop(void) {
  T.stop = 1;
  atomic_fetch_add(&T.gen, 1);
  futex_wake(&T.gen, INT32_MAX);
  for (int i = 0; i < T.k; ++i) pthread_join(T.parts[i].thread, NULL);
}

/* One call through K SQPOLL rings filled by this thread: each ring's kernel
   thread sends; this thread refills the SQs and reaps the CQs, sleeping
   until half of a ring's sends in flight have completed. */
static void call_sqpoll(struct part *parts, int k) {
  size_t next[MAX_PARTS] = {0}, done[MAX_PARTS] = {0}, inflight[MAX_PARTS] = {0};
  int left = 0;
  for (int i = 0; i < k; ++i) left += parts[i].j.total > 0;
  while (left > 0) {
    int progressed = 0;
    for (int i = 0; i < k; ++i) {
      struct part *p = &parts[i];
      if (done[i] >= p->j.total) continue;
      unsigned prepared = 0, seen = 0, head;
      while (p->u.budget > 0 && next[i] < p->j.total) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&p->u.ring);
        if (!sqe) break;
        uring_prep(&p->u, &p->j, sqe, next[i]++);
        --p->u.budget;
        ++prepared;
      }
      if (prepared) {
        inflight[i] += prepared;
        io_uring_submit(&p->u.ring); /* a syscall only when the thread sleeps */
      }
      struct io_uring_cqe *cqe;
      io_uring_for_each_cqe(&p->u.ring, head, cqe) {
        ++seen;
        if (cqe->res < 0) note_error(&p->j, -cqe->res);
      }
      io_uring_cq_advance(&p->u.ring, seen);
      p->u.budget += seen;
      done[i] += seen;
      inflight[i] -= seen;
      if (done[i] >= p->j.total) --left;
      progressed |= prepared || seen;
    }
    if (progressed) continue;
    for (int i = 0; i < k; ++i) {
      if (!inflight[i]) continue;
      struct io_uring_cqe *cqe;
      unsigned want = inflight[i] > 1 ? (unsigned)(inflight[i] / 2) : 1;
      int ret = io_uring_wait_cqe_nr(&parts[i].u.ring, &cqe, want);
      if (ret < 0 && ret != -EINTR && ret != -ETIME && ret != -EAGAIN) {
        errno = -ret;
        die("io_uring_wait_cqe_nr");
      }
      break;
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

enum send_mode { MODE_SENDMMSG, MODE_URING, MODE_THREADS, MODE_SQPOLL };

struct sender {
  enum send_mode mode;
  struct job j; /* the whole call (MODE_THREADS, MODE_SQPOLL: split into parts) */
  struct uring_state u;
  struct part *parts;
  int k;
};

/* method (without -gso): its mode, ring kind and thread count. A trailing
   number is K (uring-threads4, uring-sqpoll2); without one, K is 2 for the
   threads and async methods and 1 for uring-sqpoll. */
static int parse_method(struct sender *s, const char *base) {
  char name[32];
  size_t len = strlen(base);
  while (len && base[len - 1] >= '0' && base[len - 1] <= '9') --len;
  snprintf(name, sizeof(name), "%.*s", (int)len, base);
  int k = base[len] ? atoi(base + len) : 0;
  s->u.kind = U_SEND;
  s->mode = MODE_URING;
  if (strcmp(name, "sendmmsg") == 0) s->mode = MODE_SENDMMSG;
  else if (strcmp(name, "uring") == 0) s->u.kind = U_SENDMSG;
  else if (strcmp(name, "uring-send") == 0) s->u.kind = U_SEND;
  else if (strcmp(name, "uring-zc") == 0) s->u.kind = U_ZC;
  else if (strcmp(name, "uring-threads") == 0 || strcmp(name, "uring-threads-shared") == 0 ||
           strcmp(name, "sendmmsg-threads") == 0) s->mode = MODE_THREADS;
  else if (strcmp(name, "uring-sqpoll") == 0) s->mode = MODE_SQPOLL;
  else if (strcmp(name, "uring-async") == 0) s->u.sqe_flags = IOSQE_ASYNC;
  else return -1;
  s->k = k ? k : s->mode == MODE_SQPOLL ? 1 : strcmp(name, "uring-async") == 0 || s->mode == MODE_THREADS ? 2 : 1;
  if (s->k > MAX_PARTS) return -1;
  if (s->u.sqe_flags) s->u.iowq_max = (unsigned)s->k;
  if (s->mode == MODE_THREADS || s->mode == MODE_SQPOLL) {
    int shared = strstr(name, "-shared") != NULL;
    s->parts = split_job(&s->j, s->k, shared);
    for (int i = 0; i < s->k; ++i) {
      s->parts[i].use_uring = strncmp(name, "sendmmsg", 8) != 0;
      s->parts[i].u.kind = U_SEND;
      s->parts[i].u.sqpoll = s->mode == MODE_SQPOLL;
    }
  }
  return 0;
}

static void sender_setup(struct sender *s, unsigned depth) {
  if (s->mode == MODE_URING) uring_setup(&s->u, &s->j, depth);
  if (s->mode == MODE_SQPOLL) {
    for (int i = 0; i < s->k; ++i) uring_setup(&s->parts[i].u, &s->parts[i].j, depth);
  }
  if (s->mode == MODE_THREADS) {
    for (int i = 0; i < s->k; ++i) s->parts[i].depth = depth;
    threads_start(s->parts, s->k);
  }
}

static void one_call(struct sender *s) {
  switch (s->mode) {
    case MODE_SENDMMSG: call_sendmmsg(&s->j); break;
    case MODE_URING: call_uring(&s->u, &s->j); break;
    case MODE_THREADS: call_threads(); break;
    case MODE_SQPOLL: call_sqpoll(s->parts, s->k); break;
  }
}

/* The parts' counters into the whole's (and the parts' back to 0). */
static void gather(struct sender *s) {
  if (!s->parts) return;
  for (int i = 0; i < s->k; ++i) {
    struct job *p = &s->parts[i].j;
    if (p->errors && !s->j.errors) s->j.first_error = p->first_error;
    s->j.errors += p->errors;
    s->j.waits += p->waits;
    p->errors = p->waits = 0;
  }
}

static void sender_close(struct sender *s) {
  if (s->mode == MODE_URING) io_uring_queue_exit(&s->u.ring);
  if (s->mode == MODE_THREADS) threads_stop();
  for (int i = 0; s->parts && i < s->k; ++i) {
    if (s->parts[i].use_uring) io_uring_queue_exit(&s->parts[i].u.ring);
    if (!i || s->parts[i].j.fd != s->parts[0].j.fd) close(s->parts[i].j.fd);
  }
  close(s->j.fd);
}

/* The payload, page-aligned (registered for zero-copy), filled with a pattern. */
static void make_payload(struct job *j) {
  size_t map = (j->payload_len + 4095) & ~(size_t)4095;
  j->payload = mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (j->payload == MAP_FAILED) die("mmap");
  for (size_t i = 0; i < j->payload_len; ++i) j->payload[i] = (uint8_t)(i * 31 + 7);
}

struct window {
  double user, sys, wall, busy, total;
  double cpu_busy[MAX_CPUS], cpu_total[MAX_CPUS];
  int ncpus;
};

static void window_mark(struct window *w) {
  w->ncpus = system_jiffies(&w->busy, &w->total, w->cpu_busy, w->cpu_total);
  cpu_us(&w->user, &w->sys);
  w->wall = now_s();
}

static void print_result(const char *method, const char *pace, struct sender *s, long calls, long warm_calls,
                         const struct window *a, const struct window *b) {
  struct job *j = &s->j;
  double cpu = (b->user - a->user) + (b->sys - a->sys), wall_us = (b->wall - a->wall) * 1e6;
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  double busy_cores = b->total > a->total ? (b->busy - a->busy) / (b->total - a->total) * (double)ncpu : 0;
  const char *zc = "off";
  if (s->mode == MODE_URING && s->u.kind == U_ZC) zc = j->zc_copied ? "copied" : "zero-copied";
  unsigned long long datagrams = (unsigned long long)calls * j->members *
                                 (j->gso ? (j->payload_len + j->segment - 1) / j->segment : j->per_member);
  printf("{\"method\":\"c-%s\",\"members\":%zu,\"payload\":%zu,\"segment\":%zu,\"calls\":%ld,"
         "\"datagrams\":%llu,\"userUs\":%.0f,\"sysUs\":%.0f,\"cpuUs\":%.0f,\"wallUs\":%.0f,"
         "\"errors\":%llu,\"firstError\":\"%s\",\"zeroCopy\":\"%s\",\"warmupCalls\":%ld,\"otherCores\":%.2f,"
         "\"t0Ns\":%.0f,\"t1Ns\":%.0f,\"pace\":\"%s\",\"waits\":%llu,\"threads\":%d,\"split\":\"",
         method, j->members, j->payload_len, j->segment, calls, datagrams, b->user - a->user, b->sys - a->sys, cpu, wall_us,
         j->errors, j->errors ? strerror(j->first_error) : "", zc, warm_calls, busy_cores - cpu / wall_us, a->wall * 1e9,
         b->wall * 1e9, pace, j->waits, s->parts ? s->k : 1);
  for (int i = 0; s->parts && i < s->k; ++i) printf("%s%zu", i ? "/" : "", s->parts[i].j.members);
  printf("\"");
  if (s->mode == MODE_THREADS) tick_print();
  /* The last field, cpuBusy: cores busy per CPU (0..1) in the window. */
  printf(",\"cpuBusy\":[");
  for (int c = 0; c < b->ncpus; ++c) {
    double total = b->cpu_total[c] - a->cpu_total[c];
    printf("%s%.2f", c ? "," : "", total > 0 ? (b->cpu_busy[c] - a->cpu_busy[c]) / total : 0);
  }
  printf("]}\n");
}

static int send_main(int argc, char **argv) {
  const char *method = arg(argc, argv, "--method", "sendmmsg");
  const char *targets = arg(argc, argv, "--targets", NULL);
  struct sender s;
  memset(&s, 0, sizeof(s));
  struct job *j = &s.j;
  j->payload_len = (size_t)atol(arg(argc, argv, "--payload", "1200"));
  j->segment = (size_t)atol(arg(argc, argv, "--segment", "0"));
  double duration = atof(arg(argc, argv, "--duration", "1"));
  double warmup = atof(arg(argc, argv, "--warmup", "0.2"));
  long min_calls = atol(arg(argc, argv, "--min-calls", "3"));
  const char *pace = arg(argc, argv, "--pace", "none");
  j->pace = strcmp(pace, "poll") == 0;
  unsigned depth = (unsigned)atoi(arg(argc, argv, "--depth", "1024"));
  TICK.period = atof(arg(argc, argv, "--tick-ms", "0")) / 1e3;
  worker_sched = arg(argc, argv, "--worker-sched", "");
  pin_workers = strcmp(arg(argc, argv, "--pin", "no"), "yes") == 0;
  size_t mlen = strlen(method);
  j->gso = mlen > 4 && strcmp(method + mlen - 4, "-gso") == 0;
  if (!targets || j->payload_len == 0 || j->payload_len > 65507 || (j->gso && !j->segment) ||
      (!j->pace && strcmp(pace, "none") != 0)) {
    fprintf(stderr, "sgref send --method M --targets FILE --payload BYTES [--pace poll|none] (-gso needs --segment)\n");
    return 2;
  }
  char base[32];
  snprintf(base, sizeof(base), "%.*s", (int)(j->gso ? mlen - 4 : mlen), method);
  j->members = read_targets(targets, &j->addrs);
  if (!j->members) {
    fprintf(stderr, "sgref: no targets in %s\n", targets);
    return 2;
  }
  make_payload(j);
  j->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (j->fd < 0) die("socket");
  build_messages(j);
  if (parse_method(&s, base) < 0 || (s.mode == MODE_SQPOLL && j->pace)) {
    fprintf(stderr, "sgref: unknown method %s (or one that cannot --pace)\n", method);
    return 2;
  }
  sender_setup(&s, depth);

  /* Warm-up: caches, page tables, the sink's queues already full. */
  double t0 = now_s();
  long warm_calls = 0;
  do {
    one_call(&s);
    ++warm_calls;
  } while (now_s() - t0 < warmup);
  gather(&s);
  TICK.n = 0;
  TICK.next = now_s() + TICK.period;
  j->errors = 0;
  j->first_error = 0;
  j->zc_copied = j->zc_sent = 0;
  j->waits = 0;

  struct window a, b;
  window_mark(&a);
  long calls = 0;
  do {
    one_call(&s);
    ++calls;
  } while (now_s() - a.wall < duration || calls < min_calls);
  window_mark(&b);
  gather(&s);
  print_result(method, pace, &s, calls, warm_calls, &a, &b);
  sender_close(&s);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "sink") == 0) return sink(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "send") == 0) return send_main(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "recv") == 0) return recv_main(argc, argv);
  fprintf(stderr, "usage: sgref send|sink|recv ... (see bench/reference/sgref.c)\n");
  return 2;
}
