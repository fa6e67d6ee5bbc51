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
 * Every counter in the text of /proc/net/snmp and snmp6, by name: the
 * snmp ones prefixed with their protocol (IpOutDiscards, UdpRcvbufErrors,
 * IcmpInDestUnreachs), the snmp6 ones as they are (Ip6OutDiscards, ...).
 */
function snmpCounters(text) {
  const counters = {};
  const lines = text.split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    const [proto, ...names] = lines[i].split(/\s+/);
    const [again, ...values] = lines[i + 1].split(/\s+/);
    if (!proto.endsWith(':') || again !== proto || !/^-?\d/.test(values[0] ?? '')) continue;
    names.forEach((name, j) => { counters[proto.slice(0, -1) + name] = Number(values[j]); });
  }
  for (const line of lines) {
    const [name, value] = line.split(/\s+/);
    if (/^(Ip6|Icmp6|Udp6|UdpLite6)/.test(name ?? '')) counters[name] = Number(value);
  }
  return counters;
}

/**
 * The ICMP counters in the text of /proc/net/snmp and snmp6: those of the
 * `Icmp:` lines (InDestUnreachs, ...) and the Icmp6 ones (Icmp6InDestUnreachs, ...).
 */
function icmpCounters(text) {
  const counters = {};
  for (const [name, value] of Object.entries(snmpCounters(text))) {
    if (name.startsWith('Icmp6')) counters[name] = value;
    else if (name.startsWith('Icmp') && !name.startsWith('IcmpMsg')) counters[name.slice(4)] = value;
  }
  return counters;
}

/** The counters in the text of /proc/net/snmp and snmp6 that count a loss (discards, errors, failed reassembly, ...), those not zero. */
function lossCounters(text) {
  return Object.fromEntries(Object.entries(snmpCounters(text))
    .filter(([name, value]) => value && /Discard|Error|Drop|Fail|Timeout|NoRoute|NoPort|RateLimit/.test(name)));
}

/**
 * Packets the kernel dropped because a CPU's input backlog was full
 * (netdev_max_backlog), summed over CPUs: /proc/net/softnet_stat's second
 * column. Loopback delivers through that backlog; the count is the whole
 * host's, not a namespace's.
 */
function backlogDrops() {
  return fs.readFileSync('/proc/net/softnet_stat', 'utf8').trim().split('\n')
    .reduce((sum, line) => sum + parseInt(line.trim().split(/\s+/)[1], 16), 0);
}

module.exports = { backlogDrops, icmpCounters, lossCounters, snmpCounters, udpSockets };
