import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../src/util/line-splitter.js';
import { readBounded } from '../../src/util/read-bounded.js';

class TooLong extends Error {}

describe('LineSplitter', () => {
  it('splits lines across chunks, drops CR and empty lines, and refuses a line over the bound', () => {
    const lines = new LineSplitter(16, (max) => new TooLong(`over ${max}`));
    expect(lines.push(Buffer.from('{"a":1}\r\n\n{"b"'))).toEqual(['{"a":1}']);
    expect(lines.push(Buffer.from(':2}\n{"c"'))).toEqual(['{"b":2}']);
    expect(lines.end()).toBe('{"c"');
    expect(() => lines.push(Buffer.from('x'.repeat(17)))).toThrow(new TooLong('over 16'));
    expect(lines.push(Buffer.from('ok\n'))).toEqual(['ok']); // the bound resets with the refused line
  });

  it('keeps a multi-byte character split across chunks whole', () => {
    const lines = new LineSplitter(64, () => new TooLong());
    const text = Buffer.from('héllo\n');
    expect(lines.push(text.subarray(0, 2))).toEqual([]);
    expect(lines.push(text.subarray(2))).toEqual(['héllo']);
  });
});

describe('readBounded', () => {
  it('reads a whole stream under the bound', async () => {
    const stream = new PassThrough();
    const read = readBounded(stream, 10, () => new TooLong());
    stream.write('abc');
    stream.end('def');
    expect((await read).toString()).toBe('abcdef');
  });

  it('destroys the stream and rejects with the caller error past the bound', async () => {
    const stream = new PassThrough();
    const read = readBounded(stream, 4, (max) => new TooLong(`over ${max}`));
    stream.write('abc');
    stream.write('def');
    await expect(read).rejects.toEqual(new TooLong('over 4'));
    expect(stream.destroyed).toBe(true);
  });
});
