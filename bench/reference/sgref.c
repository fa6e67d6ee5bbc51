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
//     --pace poll: send with MSG_DONTWAIT and, when the send buffer is full,
//     wait in poll(POLLOUT) as a real program does (without it the socket
//     blocks in the kernel, or on a sink that drops everything never fills).
//     sendmmsg waits after a short count; io_uring sends the members that
//     got EAGAIN again after the wait, the rest of the call behind them, and
//     submits at most twice what the buffer took last time (doubling back to
//     the whole call while nothing bounces), so a full buffer does not make
//     it try every member of a large call on each wake. The JSON line also
//     gives the measured window (t0Ns, t1Ns: CLOCK_MONOTONIC), the waits and
//     how busy each CPU was in the window (cpuBusy, 0..1 each).
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
// Build (the bench does it): gcc -O2 -I vendor/liburing sgref.c liburing.a
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
  const char *pace = arg(argc, argv, "--pace", "none");
  j.pace = strcmp(pace, "poll") == 0;
  if (!j.pace && strcmp(pace, "none") != 0) {
    fprintf(stderr, "sgref: --pace poll|none\n");
    return 2;
  }
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
  j.waits = 0;

  double u0, s0, u1, s1, b0, t0j, b1, t1j;
  double cb0[MAX_CPUS], ct0[MAX_CPUS], cb1[MAX_CPUS], ct1[MAX_CPUS];
  int ncpus = system_jiffies(&b0, &t0j, cb0, ct0);
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
  system_jiffies(&b1, &t1j, cb1, ct1);
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  double busy_cores = t1j > t0j ? (b1 - b0) / (t1j - t0j) * (double)ncpu : 0;
  double other_cores = busy_cores - ((u1 - u0) + (s1 - s0)) / ((w1 - w0) * 1e6);

  const char *zc = "off";
  if (u.kind == U_ZC && use_uring) zc = j.zc_copied ? "copied" : "zero-copied";
  unsigned long long datagrams = (unsigned long long)calls * j.members *
                                 (j.gso ? (j.payload_len + j.segment - 1) / j.segment : j.per_member);
  printf("{\"method\":\"c-%s\",\"members\":%zu,\"payload\":%zu,\"segment\":%zu,\"calls\":%ld,"
         "\"datagrams\":%llu,\"userUs\":%.0f,\"sysUs\":%.0f,\"cpuUs\":%.0f,\"wallUs\":%.0f,"
         "\"errors\":%llu,\"firstError\":\"%s\",\"zeroCopy\":\"%s\",\"warmupCalls\":%ld,\"otherCores\":%.2f,"
         "\"t0Ns\":%.0f,\"t1Ns\":%.0f,\"pace\":\"%s\",\"waits\":%llu",
         method, j.members, j.payload_len, j.segment, calls, datagrams, u1 - u0, s1 - s0,
         (u1 - u0) + (s1 - s0), (w1 - w0) * 1e6, j.errors, j.errors ? strerror(j.first_error) : "",
         zc, warm_calls, other_cores, w0 * 1e9, w1 * 1e9, pace, j.waits);
  /* The last field, cpuBusy: cores busy per CPU (0..1) in the window. */
  printf(",\"cpuBusy\":[");
  for (int c = 0; c < ncpus; ++c) printf("%s%.2f", c ? "," : "", ct1[c] > ct0[c] ? (cb1[c] - cb0[c]) / (ct1[c] - ct0[c]) : 0);
  printf("]}\n");
  if (use_uring) io_uring_queue_exit(&u.ring);
  close(j.fd);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "sink") == 0) return sink(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "send") == 0) return send_main(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "recv") == 0) return recv_main(argc, argv);
  fprintf(stderr, "usage: sgref send|sink|recv ... (see bench/reference/sgref.c)\n");
  return 2;
}
