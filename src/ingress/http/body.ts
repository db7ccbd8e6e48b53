/**
 * Reading a request body of a known length straight from node's IncomingMessage. node's parser
 * never hands over more than the Content-Length, so the bytes are collected into one buffer of
 * that size; a body that ends short (the client went away) is an error, never a truncated body.
 */
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import { OperationOutcomeError, badRequest } from '../../fhir/index.js';

/** The Content-Length when the body is sent with one (not chunked), else undefined. */
export function knownLength(c: Context): number | undefined {
  const length = c.req.header('content-length');
  if (length === undefined || !/^\d{1,15}$/.test(length) || c.req.header('transfer-encoding') !== undefined) return undefined;
  return Number(length);
}

export function readExactly(incoming: IncomingMessage, length: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    // Its own buffer (not a slice of node's shared pool): callers may hand `.buffer` on.
    const body = new Uint8Array(length);
    let at = 0;
    const short = () => new OperationOutcomeError(badRequest(`The body ended after ${at} of its ${length} bytes`));
    const onData = (chunk: Buffer) => {
      if (at + chunk.length > length) {
        done(short());
        return;
      }
      body.set(chunk, at);
      at += chunk.length;
    };
    const onEnd = () => done(at === length ? undefined : short());
    const onError = () => done(short());
    // Closed before its end (the client went away without an error event): never wait forever.
    const onClose = () => done(short());
    const done = (err: Error | undefined) => {
      incoming.off('data', onData).off('end', onEnd).off('error', onError).off('aborted', onError).off('close', onClose);
      if (err) reject(err);
      else resolve(body);
    };
    incoming.on('data', onData).on('end', onEnd).on('error', onError).on('aborted', onError).on('close', onClose);
  });
}
