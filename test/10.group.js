'use strict';
const { test } = require('uvu');
const assert = require('uvu/assert');
const { Group } = require('..');
const { takeSnapshot } = require('../dist/group');

test('accepts host:port strings, bracketed IPv6 and { address, port } objects', () => {
  const group = new Group(['127.0.0.1:5004', '[::1]:5005', { address: '10.0.0.7', port: 9000 }]);
  assert.equal([...group].map(({ address, port, family }) => [address, port, family]), [
    ['127.0.0.1', 5004, 'IPv4'],
    ['::1', 5005, 'IPv6'],
    ['10.0.0.7', 9000, 'IPv4'],
  ]);
});

test('add() takes all three forms and returns stable, distinct ids', () => {
  const group = new Group();
  const a = group.add('192.0.2.1', 5004);
  const b = group.add('192.0.2.2:5004');
  const c = group.add({ address: 'fe80::1%2', port: 1 });
  assert.equal(new Set([a, b, c]).size, 3);
  assert.equal([...group].map((member) => member.id), [a, b, c]);
  assert.is(group.size, 3);
  assert.ok(group.remove(b));
  assert.equal([...group].map((member) => member.id), [a, c], 'order kept, ids unchanged');
  const d = group.add('192.0.2.3', 1);
  assert.not.ok([a, b, c].includes(d), 'a removed id is never reused');
});

test('has(), remove() of an unknown id, clear()', () => {
  const group = new Group(['127.0.0.1:1', '127.0.0.1:2']);
  const [first] = [...group];
  assert.ok(group.has(first.id));
  assert.not.ok(group.has(999));
  assert.not.ok(group.remove(999));
  group.clear();
  assert.is(group.size, 0);
  assert.not.ok(group.has(first.id));
  assert.equal([...group], []);
});

test('members are frozen and iteration is a snapshot', () => {
  const group = new Group(['127.0.0.1:1']);
  const [member] = group;
  assert.ok(Object.isFrozen(member));
  const iterator = group[Symbol.iterator]();
  group.add('127.0.0.1', 2);
  assert.is([...{ [Symbol.iterator]: () => iterator }].length, 1);
});

test('grows past its initial table and removes from the middle correctly', () => {
  const group = new Group();
  const ids = [];
  for (let i = 0; i < 1000; i++) ids.push(group.add('127.0.0.1', i + 1));
  for (let i = 0; i < 1000; i += 2) group.remove(ids[i]);
  const ports = [...group].map((member) => member.port);
  assert.is(ports.length, 500);
  assert.equal(ports.slice(0, 3), [2, 4, 6]);
  assert.is(ports[499], 1000);
});

test('port 0 and the broadcast address are accepted (the kernel reports them per member)', () => {
  const group = new Group(['127.0.0.1:0', '255.255.255.255:9']);
  assert.is(group.size, 2);
});

const bad = [
  ['a number', 42, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['null', null, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['a host name', 'localhost:80', TypeError, 'ERR_INVALID_ARG_VALUE'],
  ['no port', '127.0.0.1', TypeError, 'ERR_INVALID_ARG_VALUE'],
  ['unbracketed IPv6', '::1:80', TypeError, 'ERR_INVALID_ARG_VALUE'],
  ['port too large', '127.0.0.1:65536', RangeError, 'ERR_OUT_OF_RANGE'],
  ['negative port', { address: '127.0.0.1', port: -1 }, RangeError, 'ERR_OUT_OF_RANGE'],
  ['fractional port', { address: '127.0.0.1', port: 1.5 }, RangeError, 'ERR_OUT_OF_RANGE'],
  ['string port', { address: '127.0.0.1', port: '80' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['bad IPv4', { address: '256.0.0.1', port: 1 }, TypeError, 'ERR_INVALID_ARG_VALUE'],
  ['named zone', { address: 'fe80::1%eth0', port: 1 }, TypeError, 'ERR_INVALID_ARG_VALUE'],
];
for (const [what, target, ErrorClass, code] of bad) {
  test(`rejects ${what} with ${ErrorClass.name} ${code}`, () => {
    const group = new Group();
    try {
      group.add(target);
      assert.unreachable('no error');
    } catch (error) {
      assert.instance(error, ErrorClass);
      assert.is(error.code, code, error.message);
    }
    assert.is(group.size, 0, 'nothing added');
  });
}

test('the constructor names the bad entry and rejects non-iterables', () => {
  assert.throws(() => new Group(['127.0.0.1:1', 'nope']), (error) => error.code === 'ERR_INVALID_ARG_VALUE' && /targets\[1\]/.test(error.message));
  assert.throws(() => new Group('127.0.0.1:1'), (error) => error.code === 'ERR_INVALID_ARG_TYPE');
  assert.throws(() => new Group(5), (error) => error.code === 'ERR_INVALID_ARG_TYPE');
});

test('add(address, port) validates both parts', () => {
  const group = new Group();
  assert.throws(() => group.add('127.0.0.1', 70000), (error) => error.code === 'ERR_OUT_OF_RANGE');
  assert.throws(() => group.add(7, 70), (error) => error.code === 'ERR_INVALID_ARG_TYPE');
});

test('an IPv6 zone is a decimal interface index that fits 32 bits', () => {
  const group = new Group();
  for (const zone of ['4294967296', '4294967297', '1e3', '0x1', '', ' 1', '1.0', '-1']) {
    assert.throws(() => group.add(`fe80::1%${zone}`, 5), (error) => error.code === 'ERR_INVALID_ARG_VALUE', zone);
  }
  assert.is(group.size, 0);
  assert.throws(() => new Group(['[::1]:5', '[fe80::1%x]:5']), (error) => error.message.startsWith("targets[1].address's IPv6 zone must be"), 'the error names the member');
  assert.is(group.add('fe80::1%4294967295', 5), 1, 'a refused member takes no id');
  assert.is(group.add('fe80::1%0', 5), 2);
  assert.is(group.size, 2);
});


// The table a send reads (its snapshot, internal) is what the group holds;
// before, it kept the size of its largest day (4.8 MB here) for good.
test('a group that shrank gives its table back: 200,000 members, all but 10 removed', () => {
  const group = new Group();
  const ids = Array.from({ length: 200000 }, (_, i) => group.add('127.0.0.1', 1 + (i % 65535)));
  assert.ok(group[takeSnapshot]().table.byteLength >= 200000 * 24);
  for (const id of ids.slice(10)) group.remove(id);
  assert.is(group.size, 10);
  assert.ok(group[takeSnapshot]().table.byteLength <= 1024 * 24, `${group[takeSnapshot]().table.byteLength} bytes for 10 members`);
  assert.equal([...group].map((member) => member.port), ids.slice(0, 10).map((_, i) => 1 + i));
});

test('has() and remove() take a member id: anything but a number is a TypeError, and the group stays as it was', () => {
  const g = new Group(['127.0.0.1:5000']);
  for (const id of ['1', 1n, Symbol('id'), { valueOf() { g.clear(); return 1; } }]) {
    assert.throws(() => g.remove(id), (e) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_TYPE');
    assert.throws(() => g.has(id), (e) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_TYPE');
  }
  assert.is(g.size, 1);
});

test.run();
