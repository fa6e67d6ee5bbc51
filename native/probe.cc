#include "probe.h"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "ring.h"

namespace sendgroup {

namespace {

// errno of setsockopt(UDP_SEGMENT) on a fresh UDP socket; 0 when GSO works.
int GsoErrno() {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int size = 1200;
  int err = setsockopt(fd, SOL_UDP, UDP_SEGMENT, &size, sizeof(size)) < 0 ? errno : 0;
  close(fd);
  return err;
}

// errno of an empty sendmmsg(2) (seccomp could refuse it too); 0 when it works.
int SendmmsgErrno() {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  mmsghdr none{};
  int err = sendmmsg(fd, &none, 0, MSG_DONTWAIT) < 0 ? errno : 0;
  close(fd);
  return err;
}

}  // namespace

Napi::Object RingFeaturesObject(Napi::Env env, const RingFeatures& f) {
  Napi::Object result = Napi::Object::New(env);
  bool up = f.setupErrno == 0;
  result.Set("deferTaskrun", up && f.deferTaskrun);
  result.Set("submitAll", up && f.submitAll);
  result.Set("sendWithAddr", up && f.sendWithAddr);
  result.Set("sendZc", up && f.sendZc);
  result.Set("sendmsgZc", up && f.sendmsgZc);
  result.Set("reportUsage", up && f.reportUsage);
  result.Set("sendmsgZcFixed", up && f.sendmsgZcFixed);
  result.Set("fixedBuffers", up && f.fixedBuffers);
  result.Set("fixedBuffersErrno", f.fixedBuffersErrno);
  return result;
}

Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SlotPool pool(kDefaultSlots);
  Ring ring(kDefaultEntries, pool, true, true);
  const RingFeatures& f = ring.Features();
  Napi::Object result = RingFeaturesObject(env, f);
  result.Set("ioUring", f.setupErrno == 0);
  result.Set("ioUringErrno", f.setupErrno);
  ring.UnregisterBuffers();  // nothing used them
  int gso = GsoErrno();
  result.Set("gso", gso == 0);
  result.Set("gsoErrno", gso);
  int mmsg = SendmmsgErrno();
  result.Set("sendmmsg", mmsg == 0);
  result.Set("sendmmsgErrno", mmsg);
  return result;
}

}  // namespace sendgroup
