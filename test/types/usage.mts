// The ESM entry has the same declarations: named imports type-check.
import { Group, Sender, sendGroup } from 'sendgroup';
import type { SendReport } from 'sendgroup';

const sender = new Sender();
const report: SendReport = await sender.sendGroup(new Group(['127.0.0.1:5004']), 'hello');
const shared: Promise<SendReport> = sendGroup(['[::1]:5004'], new Uint8Array(8));
void report;
void shared;
