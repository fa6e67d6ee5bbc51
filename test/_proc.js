// What the kernel says about this namespace's sockets and ICMP traffic, for
// fixtures that check receive queues, drops and ICMP errors.
'use strict';
const fs = require('node:fs');

/**
 * This namespace's UDP sockets, /proc/net/udp6 then /proc/net/udp: the local
 * port, tx_queue and rx_queue (sk_wmem_alloc and sk_rmem_alloc, bytes) and
 * the kernel's drop counter of each.
 */
function udpSockets() {
  const sockets = [];
  for (const file of ['/proc/net/udp6', '/proc/net/udp']) {
    for (const line of fs.readFileSync(file, 'utf8').trim().split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const [tx, rx] = fields[4].split(':').map((hex) => parseInt(hex, 16));
      sockets.push({ port: parseInt(fields[1].split(':').pop(), 16), tx, rx, drops: Number(fields[fields.length - 1]) });
    }
  }
  return sockets;
}

/**
 * The ICMP counters in the text of /proc/net/snmp and snmp6: those of the
 * `Icmp:` lines (InDestUnreachs, ...) and the Icmp6 ones (Icmp6InDestUnreachs, ...).
 */
function icmpCounters(text) {
  const lines = text.split('\n');
  const header = lines.find((line) => line.startsWith('Icmp: I')).split(/\s+/);
  const values = lines.find((line) => line.startsWith('Icmp: ') && /^Icmp: \d/.test(line)).split(/\s+/);
  const counters = Object.fromEntries(header.slice(1).map((name, i) => [name, Number(values[i + 1])]));
  for (const line of lines) {
    const [name, value] = line.split(/\s+/);
    if (name?.startsWith('Icmp6')) counters[name] = Number(value);
  }
  return counters;
}

module.exports = { icmpCounters, udpSockets };
