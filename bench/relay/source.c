// source: the datagram source of bench/relay.js. Sends SIZE-byte datagrams,
// each starting with its sequence number (64-bit, big-endian, from 1), to
// 127.0.0.1:PORT at RATE a second for SECONDS, evenly spaced: it sleeps until
// the next one is due (absolute deadlines, 1 us timer slack) and sends what
// is due then, in one sendmmsg when it fell behind (at most BURST).
//
//   source PORT RATE SECONDS SIZE
//
// Prints one JSON line at the end: datagrams sent, the largest burst, its
// own CPU time (getrusage) and the wall time it took.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

enum { BURST = 64, MAX_SIZE = 9000 };

static void die(const char *what) {
  fprintf(stderr, "source: %s: %s\n", what, strerror(errno));
  exit(1);
}

static long long nowNs(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void sleepUntil(long long ns) {
  struct timespec t = { (time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL) };
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR) {}
}

// Connected to 127.0.0.1:port: the only address it can send to.
static int connectLoopback(int port) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) die("socket");
  struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&to, sizeof to)) die("connect");
  return fd;
}

static void stampSequence(unsigned char *datagram, unsigned long long seq) {
  for (int b = 7; b >= 0; b--, seq >>= 8) datagram[b] = (unsigned char)seq;
}

// Sends datagrams seq+1 .. seq+count; returns how many the kernel took.
static int sendBurst(int fd, unsigned char (*buffers)[MAX_SIZE], int size, unsigned long long seq, int count) {
  struct mmsghdr msgs[BURST];
  struct iovec iov[BURST];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < count; i++) {
    stampSequence(buffers[i], seq + 1 + (unsigned long long)i);
    iov[i] = (struct iovec){ buffers[i], (size_t)size };
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  int n = sendmmsg(fd, msgs, (unsigned)count, 0);
  if (n < 0 && errno != ECONNREFUSED && errno != ENOBUFS) die("sendmmsg");
  return n < 0 ? 0 : n;
}

static long long cpuUs(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec
    + (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: source PORT RATE SECONDS SIZE\n");
    return 2;
  }
  double rate = atof(argv[2]), seconds = atof(argv[3]);
  int size = atoi(argv[4]);
  if (rate <= 0 || seconds <= 0 || size < 8 || size > MAX_SIZE) {
    fprintf(stderr, "source: bad rate, seconds or size\n");
    return 2;
  }
  static unsigned char buffers[BURST][MAX_SIZE];
  int fd = connectLoopback(atoi(argv[1]));
  prctl(PR_SET_TIMERSLACK, 1UL);
  unsigned long long total = (unsigned long long)(rate * seconds), seq = 0, refused = 0;
  int maxBurst = 0;
  long long start = nowNs();
  while (seq < total) {
    long long next = start + (long long)((double)seq * 1e9 / rate);
    sleepUntil(next);
    unsigned long long due = (unsigned long long)((double)(nowNs() - start) * rate / 1e9) + 1;
    if (due > total) due = total;
    int count = due - seq > BURST ? BURST : (int)(due - seq);
    int sent = sendBurst(fd, buffers, size, seq, count);
    refused += (unsigned long long)(count - sent);
    seq += (unsigned long long)count;
    if (count > maxBurst) maxBurst = count;
  }
  printf("{\"sent\":%llu,\"refused\":%llu,\"maxBurst\":%d,\"cpuUs\":%lld,\"seconds\":%.6f}\n",
         seq - refused, refused, maxBurst, cpuUs(), (double)(nowNs() - start) / 1e9);
  return 0;
}
