// Market data: many small messages (a 32-byte quote each, numbered so that
// subscribers can tell a gap) to many subscribers, one sendGroup() call per
// quote. The calls are not awaited one by one: each copies its quote at
// once, and every subscriber gets the quotes in call order.
//
//   node examples/market-data.mjs [subscriber ...]  (default 127.0.0.1:6000 127.0.0.1:6001 [::1]:6000)
import { Group, Sender } from 'sendgroup';

const QUOTES = 300;
const SYMBOLS = ['AAPL', 'MSFT', 'NVDA', 'AMZN', 'GOOG'];
const subscribers = new Group(process.argv.length > 2 ? process.argv.slice(2) : ['127.0.0.1:6000', '127.0.0.1:6001', '[::1]:6000']);

function quote(sequence) {
  const message = Buffer.alloc(32);
  message.writeBigUInt64BE(BigInt(sequence), 0);
  message.write(SYMBOLS[sequence % SYMBOLS.length], 8, 8, 'latin1');
  message.writeDoubleBE(100 + 5 * Math.sin(sequence / 10), 16); // price
  message.writeUInt32BE(100 * (1 + (sequence % 7)), 24);          // size
  return message;
}

const sender = new Sender();
const calls = [];
for (let sequence = 1; sequence <= QUOTES; sequence++) calls.push(sender.sendGroup(subscribers, quote(sequence)));
const reports = await Promise.all(calls);
const sent = reports.reduce((sum, report) => sum + report.sent, 0);
const failures = reports.flatMap((report) => report.errors);
for (const { address, port, code } of failures.slice(0, 10)) console.warn(`${address}:${port}: ${code}`);
console.log(`${QUOTES} quotes to ${subscribers.size} subscribers: ${sent} datagrams sent, ${failures.length} failed`);
await sender.close();
