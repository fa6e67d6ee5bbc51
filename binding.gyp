{
  "targets": [
    {
      "target_name": "sendgroup",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/member_table.cc",
        "native/batch.cc",
        "native/backend.cc",
        "native/uring_submit.cc",
        "native/uring_sqe.cc",
        "native/ring.cc",
        "native/uring_backend.cc",
        "native/mmsg_backend.cc",
        "native/sender.cc",
        "native/probe.cc",
        "native/errqueue.cc",
        "native/socket.cc",
        "native/args.cc",
        "native/outbox.cc",
        "native/poller.cc",
        "native/slot_pool.cc",
        "native/inline_engine.cc",
        "native/worker.cc",
        "native/threaded_engine.cc",
        "native/make_engine.cc",
        "native/receiver.cc",
        "native/uring_receiver.cc",
        "native/mmsg_receiver.cc",
        "native/js_link.cc",
        "native/relay_members.cc",
        "native/relay.cc",
        "native/relay_thread.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "vendor/liburing"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-fexceptions"],
      "ldflags": ["-Wl,-z,nodelete"],
      "libraries": [
        "<!(node scripts/liburing-archive.js)"
      ]
    }
  ]
}
