import { describe, expect, it } from 'vitest';
import { TerminalSizeDecoder } from '../../../src/kube-streams/resize.ts';
import { codeOf } from '../../support/testing.ts';


describe('terminal resize messages', () => {
  it("decodes kubectl's newline-separated {Width,Height} objects", () => {
    const decoder = new TerminalSizeDecoder();
    expect(decoder.push(Buffer.from('{"Width":100,"Height":30}\n{"Width":120,"Height":40}\n'))).toEqual([
      { width: 100, height: 30 },
      { width: 120, height: 40 },
    ]);
  });

  it('accepts any key case and back-to-back objects, as Go json.Decoder does (client-node sends {"height","width"})', () => {
    const decoder = new TerminalSizeDecoder();
    expect(decoder.push(Buffer.from('{"height":24,"width":80}{"WIDTH":1}'))).toEqual([
      { width: 80, height: 24 },
      { width: 1, height: 0 },
    ]);
  });

  it('reassembles an object split across messages, including inside strings', () => {
    const decoder = new TerminalSizeDecoder();
    const text = '{"Width":90,"note":"a}\\"{b","Height":20}';
    const sizes = [];
    for (const ch of text) sizes.push(...decoder.push(Buffer.from(ch)));
    expect(sizes).toEqual([{ width: 90, height: 20 }]);
  });

  it('refuses non-objects, bad numbers and invalid JSON with SP_FRAME_INVALID', () => {
    for (const text of ['[1,2]', '{"Width":-1}', '{"Width":70000}', '{"Height":1.5}', '{"Width":"80"}', '{Width:1}', 'null']) {
      expect(codeOf(() => new TerminalSizeDecoder().push(Buffer.from(text))), text).toBe('SP_FRAME_INVALID');
    }
  });

  it('bounds an unfinished object with SP_FRAME_TOO_LARGE', () => {
    const decoder = new TerminalSizeDecoder(64);
    expect(codeOf(() => decoder.push(Buffer.from(`{"Width":${'1'.repeat(100)}`)))).toBe('SP_FRAME_TOO_LARGE');
  });
});
