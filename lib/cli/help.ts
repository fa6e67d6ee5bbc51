// The command's help texts: `sendgroup --help` and `sendgroup relay --help`
// (test/92.cli checks that the relay's lists every option parseArgs takes).
import { addon } from '../native';
import { AUTO_ZERO_COPY_MIN_BYTES, SENDER_DEFAULTS } from '../options';
import { RELAY_DEFAULTS } from '../relay';

export const PROGRAM = 'sendgroup';

export const MAIN_HELP = `Usage: ${PROGRAM} <command> [options]

Commands:
  relay        receive UDP datagrams on one port and forward each one, byte
               for byte, to every member of a group (${PROGRAM} relay --help)

Options:
  -h, --help   this text
  --version    the version of sendgroup
`;

export const RELAY_HELP = `Usage: ${PROGRAM} relay --listen HOST:PORT --allow SOURCES
                      (--to HOST:PORT ... | --to-file FILE) [options]

Receives UDP datagrams on one socket and sends every datagram from an
allowed source, byte for byte, to every member (io_uring, or sendmmsg where
io_uring is blocked). Addresses are IP literals: no DNS lookup is done.

Where and from whom:
  --listen HOST:PORT       where to receive (and send from), e.g. 0.0.0.0:5000,
                           [::]:5000 (IPv4 and IPv6), 127.0.0.1:0 (a free port:
                           the first line printed says which). Required.
  --allow SOURCES          whose datagrams are forwarded; the rest are dropped
                           and counted. ADDRESS (any port), ADDRESS:PORT or
                           [V6]:PORT, comma-separated or repeated (a bare IPv6
                           address is one, any port: ::1:5000 is not [::1]:5000).
                           Required.
                           --allow any forwards whatever arrives: anyone who
                           can reach the port can then make the relay send to
                           every member (an amplifier).

Members (one or both; duplicates collapse to one member):
  --to HOST:PORT           a member; repeat it (or comma-separate) for more
  --to-file FILE           members, one HOST:PORT per line, '#' starts a
                           comment. Re-read when the file changes (written in
                           place or replaced by rename) and on SIGHUP: members
                           in both stay, removed ones go, new ones are added
                           at the end, from the next datagram on. A malformed
                           line is reported with its line number and the
                           previous members stay in force. It must be a
                           regular file (a FIFO could block the relay).
  --no-watch               with --to-file: re-read it only on SIGHUP (for
                           filesystems without change events, such as NFS)
  --drop-unreachable       remove a member when an ICMP port unreachable names
                           it; a re-read of --to-file (or SIGHUP, for --to
                           members) brings it back

Sending:
  --zero-copy              zero-copy sends for every datagram (default: only
                           from ${AUTO_ZERO_COPY_MIN_BYTES} bytes up, where they pay)
  --threads N              send on N native threads, 0 to ${addon.limits.maxThreads} (default: 0, or
                           $SENDGROUP_THREADS); a datagram for fewer than
                           ${SENDER_DEFAULTS.inlineBelow} members ($SENDGROUP_INLINE_BELOW) is still sent
                           from the main thread while the threads are idle
  --backend NAME           auto, io_uring or sendmmsg (default: auto, io_uring
                           where a ring can be set up)
  --buffers N              receive buffers, 1 to ${addon.limits.maxRelayBuffers} (default: ${RELAY_DEFAULTS.buffers})
  --max-datagram BYTES     the longest datagram forwarded, 1 to 65507 (default:
                           ${RELAY_DEFAULTS.maxDatagram}); longer ones are dropped and counted
  --send-buffer-size BYTES SO_SNDBUF of the socket (default: the kernel's)
  --ttl N                  TTL / hop limit of what is sent, 1 to 255
  --tos N                  TOS / traffic class byte, 0 to 255 (DSCP EF: 184)

Output:
  --stats-interval SECONDS a status line every SECONDS (default: 10; 0: none;
                           fractions allowed, at least 0.1)
  -h, --help               this text

Status line, per interval: datagrams/s received and sent on (out), Mbit/s of
payload sent, datagrams pending (received, not yet sent to every member: the
backlog behind slow links, up to --buffers), members now, datagrams dropped in the interval by kind
(not-allowed: from a source --allow does not name; no-buffer: the socket's
receive queue overflowed; truncated: longer than --max-datagram; no-members:
arrived while the group was empty; looped: the relay's own, come back from a
broadcast or multicast member on its port), member sends that failed, and how
many members an ICMP error called unreachable.

Signals: SIGHUP re-reads --to-file (and restores members --drop-unreachable
removed). SIGINT or SIGTERM stops receiving, lets the sends in flight finish
(on a slow link, up to every buffer's datagram to every member), prints the
totals and exits 0; a second one exits at once with status 1, and a SIGHUP
meanwhile is ignored (a line says so).

Exit status: 0 stopped by SIGINT/SIGTERM; 1 the relay could not run (its port
in use, ...); 2 bad usage (the message names the argument).
`;
