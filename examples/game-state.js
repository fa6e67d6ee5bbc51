// Game-state broadcast: the server sends the world state to every player 60
// times a second. Players join and leave as they please; one that vanishes
// without a word (crashed, lost its connection) is dropped when the ICMP
// "port unreachable" for its datagram comes back as an 'unreachable' event.
// The players here are local sockets standing in for remote machines; the
// game ends when the last one has gone.
//
//   node examples/game-state.js
'use strict';
const dgram = require('node:dgram');
const { Group, Sender } = require('sendgroup');

// The server.
const sender = new Sender();
const players = new Group();
const byEndpoint = new Map(); // 'address port' -> { id, name }
let tick = 0;

function join(name, address, port) {
  byEndpoint.set(`${address} ${port}`, { id: players.add(address, port), name });
  console.log(`${name} joined`);
}

function leave(address, port, why) {
  const player = byEndpoint.get(`${address} ${port}`);
  if (!player || !players.remove(player.id)) return;
  byEndpoint.delete(`${address} ${port}`);
  console.log(`${player.name} ${why}`);
}

sender.on('unreachable', ({ address, port, code }) => leave(address, port, `dropped (${code})`));

const timer = setInterval(async () => {
  if (players.size === 0) {
    if (tick === 0) return; // nobody has joined yet
    clearInterval(timer);
    console.log(`game over after ${tick} ticks`);
    await sender.close();
    return;
  }
  tick++;
  const state = JSON.stringify({ tick, positions: [...players].map(({ id }) => [id, Math.cos(tick / 30 + id), Math.sin(tick / 30 + id)]) });
  const report = await sender.sendGroup(players, state);
  for (const { address, port, code } of report.errors) leave(address, port, `failed (${code})`);
}, 1000 / 60);

// The players: each checks that it gets every tick from its first on, and
// after `ticks` states either says goodbye or just closes its socket.
function player(name, ticks, vanish, then) {
  const socket = dgram.createSocket('udp4');
  let first = 0;
  let count = 0;
  socket.on('message', (message) => {
    const state = JSON.parse(message);
    first ||= state.tick;
    if (state.tick !== first + count++) throw new Error(`${name} missed tick ${first + count - 1}`);
    if (count === 10 && then) then();
    if (count < ticks) return;
    console.log(`${name} got ticks ${first} to ${state.tick}`);
    const { address, port } = socket.address();
    socket.close();
    if (!vanish) leave(address, port, 'left');
  });
  socket.bind(0, '127.0.0.1', () => join(name, '127.0.0.1', socket.address().port));
}

player('alice', 30, false, () => player('carol', 40, true));
player('bob', 20, true);
