// Tracing without wrapping the API, the way undici does: each call is
// published on node:diagnostics_channel when it starts and when it settles.
import * as diagnosticsChannel from 'node:diagnostics_channel';
import type { SendReport } from './report';

/** A call as subscribers see it: 'sendgroup:send:start' { sender, call }, then 'sendgroup:send:finish' { sender, call, report } with the same call object. */
export interface SendCall {
  readonly recipients: number;
  readonly payloadBytes: number;
  /** Whether the call asks for zero-copy; the report's zeroCopy says what was done. */
  readonly zeroCopy: boolean;
  readonly segmentSize: number;
  readonly stream: boolean;
}

const startChannel = diagnosticsChannel.channel('sendgroup:send:start');
const finishChannel = diagnosticsChannel.channel('sendgroup:send:finish');

/** Publishes a call's start when anyone listens (the call object is built only then); returns it for the finish. */
export function publishStart(sender: object, recipients: number, payloadBytes: number, zeroCopy: boolean,
  segmentSize: number, stream: boolean): SendCall | undefined {
  if (!startChannel.hasSubscribers) return undefined;
  const call: SendCall = { recipients, payloadBytes, zeroCopy, segmentSize, stream };
  startChannel.publish({ sender, call });
  return call;
}

/** Whether anyone listens for finishes: a report built only for them is built only then. */
export function finishObserved(): boolean {
  return finishChannel.hasSubscribers;
}

/** Subscribers are user code: on the next tick, never while results are being read. */
export function publishFinish(sender: object, call: SendCall | undefined, report: SendReport): void {
  if (!finishChannel.hasSubscribers) return;
  const message = { sender, call, report };
  process.nextTick(() => finishChannel.publish(message));
}
