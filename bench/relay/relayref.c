// relayref: the C reference relay of bench/relay.js, the fastest plain C a
// relay would reasonably be written as. It receives up to BATCH datagrams
// with one recvmmsg (blocking for the first, MSG_WAITFORONE), then sends
// each allowed datagram, from the buffer it landed in, to every member with
// sendmmsg, batched across datagrams: one mmsghdr per (datagram, member),
// datagram by datagram in member order, flushed every MAX_SENDS entries (the
// kernel's UIO_MAXIOV) and at the end of each receive batch.
//
//   relayref PORT MEMBERS_FILE
//
// Binds 0.0.0.0:PORT, forwards only what comes from 127.0.0.1 (any port).
// MEMBERS_FILE: one "a.b.c.d port" per line. Prints {"ready":true} once
// bound; on SIGUSR2 one JSON line of counters and CPU time (getrusage),
// answered by a thread of its own waiting in sigwait, so the relaying thread
// never checks for it. SIGTERM ends it.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BATCH = 64, BUFFER_BYTES = 9216, MAX_SENDS = 1024 };

// Written by the relaying thread only, read by the mark thread: relaxed
// atomic loads and stores, plain moves on x86-64 and arm64.
struct counters {
  unsigned long long received, forwarded, sends, failed, notAllowed, truncated;
};
#define ADD(field, n) __atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)
#define GET(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

static void die(const char *what) {
  fprintf(stderr, "relayref: %s: %s\n", what, strerror(errno));
  exit(1);
}


static struct sockaddr_in *readMembers(const char *file, size_t *count) {
  FILE *f = fopen(file, "r");
  if (!f) die(file);
  size_t n = 0, cap = 16;
  struct sockaddr_in *members = malloc(cap * sizeof *members);
  char address[64];
  unsigned port;
  while (fscanf(f, "%63s %u", address, &port) == 2) {
    if (n == cap) members = realloc(members, (cap *= 2) * sizeof *members);
    if (!members) die("realloc");
    memset(&members[n], 0, sizeof members[n]);
    members[n].sin_family = AF_INET;
    members[n].sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, address, &members[n].sin_addr) != 1) {
      fprintf(stderr, "relayref: bad member %s\n", address);
      exit(1);
    }
    n++;
  }
  fclose(f);
  *count = n;
  return members;
}

static int bindSocket(int port) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) die("socket");
  struct sockaddr_in local = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
  if (bind(fd, (struct sockaddr *)&local, sizeof local)) die("bind");
  return fd;
}

static void printMark(struct counters *c) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  long long cpuUs = (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec
    + (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
  printf("{\"cpuUs\":%lld,\"received\":%llu,\"forwarded\":%llu,\"sends\":%llu,\"failed\":%llu,"
         "\"notAllowed\":%llu,\"truncated\":%llu}\n",
         cpuUs, GET(c->received), GET(c->forwarded), GET(c->sends), GET(c->failed), GET(c->notAllowed), GET(c->truncated));
  fflush(stdout);
}

static void *markThread(void *counters) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  for (int sig; sigwait(&set, &sig) == 0;) printMark(counters);
  return NULL;
}

// SIGUSR2 blocked in every thread, taken by the mark thread's sigwait.
static void startMarkThread(struct counters *c) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  pthread_t thread;
  if (pthread_sigmask(SIG_BLOCK, &set, NULL) || pthread_create(&thread, NULL, markThread, c)) die("mark thread");
}

// Sends msgs[0, count): goes on after a partial send; a message the kernel
// refuses is counted failed and skipped.
static void flushSends(int fd, struct mmsghdr *msgs, size_t count, struct counters *c) {
  size_t done = 0;
  while (done < count) {
    int n = sendmmsg(fd, msgs + done, (unsigned)(count - done), 0);
    if (n > 0) {
      done += (size_t)n;
      ADD(c->sends, (unsigned long long)n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      done++;
      ADD(c->failed, 1);
    }
  }
}

struct relay {
  int fd;
  const struct sockaddr_in *members;
  size_t memberCount;
  struct mmsghdr in[BATCH];
  struct iovec inIov[BATCH];
  struct iovec outIov[BATCH];
  struct sockaddr_in from[BATCH];
  struct mmsghdr out[MAX_SENDS];
  size_t outCount;
  struct counters c;
};

static void prepareReceive(struct relay *r, char *buffers) {
  for (int i = 0; i < BATCH; i++) {
    r->inIov[i] = (struct iovec){ buffers + (size_t)i * BUFFER_BYTES, BUFFER_BYTES };
    memset(&r->in[i], 0, sizeof r->in[i]);
    r->in[i].msg_hdr.msg_iov = &r->inIov[i];
    r->in[i].msg_hdr.msg_iovlen = 1;
    r->in[i].msg_hdr.msg_name = &r->from[i];
  }
}

static int allowed(struct relay *r, int i) {
  if (r->in[i].msg_hdr.msg_flags & MSG_TRUNC) {
    ADD(r->c.truncated, 1);
    return 0;
  }
  if (r->from[i].sin_addr.s_addr != htonl(INADDR_LOOPBACK)) {
    ADD(r->c.notAllowed, 1);
    return 0;
  }
  return 1;
}

// Queues datagram i to every member, flushing whenever the array is full.
static void queueDatagram(struct relay *r, int i) {
  r->outIov[i] = (struct iovec){ r->inIov[i].iov_base, r->in[i].msg_len };
  for (size_t m = 0; m < r->memberCount; m++) {
    if (r->outCount == MAX_SENDS) {
      flushSends(r->fd, r->out, r->outCount, &r->c);
      r->outCount = 0;
    }
    struct msghdr *h = &r->out[r->outCount++].msg_hdr;
    h->msg_name = (void *)&r->members[m];
    h->msg_namelen = sizeof r->members[m];
    h->msg_iov = &r->outIov[i];
    h->msg_iovlen = 1;
  }
  ADD(r->c.forwarded, 1);
}

static void receiveBatch(struct relay *r) {
  for (int i = 0; i < BATCH; i++) r->in[i].msg_hdr.msg_namelen = sizeof r->from[i];
  int n = recvmmsg(r->fd, r->in, BATCH, MSG_WAITFORONE, NULL);
  if (n < 0) {
    if (errno != EINTR) die("recvmmsg");
    return;
  }
  ADD(r->c.received, (unsigned long long)n);
  for (int i = 0; i < n; i++) {
    if (allowed(r, i)) queueDatagram(r, i);
  }
  flushSends(r->fd, r->out, r->outCount, &r->c);
  r->outCount = 0;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: relayref PORT MEMBERS_FILE\n");
    return 2;
  }
  static struct relay r;
  static char buffers[BATCH * BUFFER_BYTES];
  r.members = readMembers(argv[2], &r.memberCount);
  r.fd = bindSocket(atoi(argv[1]));
  prepareReceive(&r, buffers);
  startMarkThread(&r.c);
  printf("{\"ready\":true}\n");
  fflush(stdout);
  for (;;) receiveBatch(&r);
}
